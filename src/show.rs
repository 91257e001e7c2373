//! The domain: guests and their questionnaire, the waitlist, shows and their schedule,
//! and the show's status machine. Pure: no IO, no clock (callers pass `now`), no SQL.
//!
//! Invariants owned here:
//! - a guest that passed [`validate_guest`] has every field of SPEC.md valid and consented;
//! - [`ShowStatus::apply`] is the only way a show's status changes, and refuses illegal moves;
//! - [`check_slot`] admits a show only if it keeps the changeover gap to every other show.
//!
//! Every refusal is a [`Refusal`]: what kind of 4xx it is, a stable code, a sentence, the field.

use chrono::{DateTime, Duration, Utc};

/// One choice of the venue's essence list, with its display names. The list itself is
/// configured (`[questionnaire] essences`); the domain owns the type, the config fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Essence {
    pub id: String,
    pub es: String,
    pub en: String,
}

/// The default essence list: the three of the brief plus a few of the same spirit.
pub fn default_essences() -> Vec<Essence> {
    [
        ("guerrero", "Guerrero", "Warrior"),
        ("flor", "Flor", "Flower"),
        ("colibrí", "Colibrí", "Hummingbird"),
        ("jaguar", "Jaguar", "Jaguar"),
        ("águila", "Águila", "Eagle"),
        ("montaña", "Montaña", "Mountain"),
        ("estrella", "Estrella", "Star"),
    ]
    .into_iter()
    .map(|(id, es, en)| Essence {
        id: id.into(),
        es: es.into(),
        en: en.into(),
    })
    .collect()
}

/// Why a request was refused. The caller answers with the status of `kind` and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// A value is not acceptable (422).
    Invalid,
    /// The request clashes with the current state: overlap, wrong status, duplicate (409).
    Conflict,
    /// The thing named does not exist (404).
    NotFound,
}

impl Refusal {
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Invalid,
            code,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Conflict,
            code,
            message: message.into(),
            field: None,
        }
    }
    pub fn not_found(what: &str) -> Self {
        Refusal {
            kind: RefusalKind::NotFound,
            code: "not_found",
            message: format!("no such {what}"),
            field: None,
        }
    }
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }
}

macro_rules! choice_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The canonical (Spanish) identifier, as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses the identifier or one of its aliases, ignoring case and surrounding space.
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim().to_lowercase();
                match s.as_str() {
                    $($text $(| $alias)* => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

choice_enum!(
    /// The guest's energy.
    Energy { Lunar = "lunar", Solar = "solar" }
);
choice_enum!(
    /// The guest's element; the English names are accepted as aliases.
    Element { Agua = "agua" | "water", Fuego = "fuego" | "fire", Tierra = "tierra" | "earth", Aire = "aire" | "air" }
);
choice_enum!(
    /// The language of the guest's mail and pages.
    Language { Es = "es", En = "en" }
);
choice_enum!(
    /// waiting → assigned (in a show) → done; or cancelled.
    GuestStatus { Waiting = "waiting", Assigned = "assigned", Done = "done", Cancelled = "cancelled" }
);
choice_enum!(
    /// scheduled → running → posing → review → completed; or cancelled.
    ShowStatus { Scheduled = "scheduled", Running = "running", Posing = "posing", Review = "review", Completed = "completed", Cancelled = "cancelled" }
);

choice_enum!(
    /// Taken at a moment of the show without anyone posing, or posed at the end.
    PhotoKind { Spontaneous = "spontaneous", Posed = "posed" }
);
choice_enum!(
    /// pending → approved (or deleted: a retake).
    PhotoState { Pending = "pending", Approved = "approved" }
);
choice_enum!(
    /// A queued message is sent (accepted by the relay) or failed (refused for good, or
    /// its queue lifetime ended); a failed one may be queued again by the host.
    MailStatus { Queued = "queued", Sent = "sent", Failed = "failed" }
);
choice_enum!(
    /// The spontaneous photo of a show: pending → taking → taken, or failed.
    Spontaneous { Pending = "pending", Taking = "taking", Taken = "taken", Failed = "failed" }
);

impl Element {
    /// Display names (es, en).
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Element::Agua => ("Agua", "Water"),
            Element::Fuego => ("Fuego", "Fire"),
            Element::Tierra => ("Tierra", "Earth"),
            Element::Aire => ("Aire", "Air"),
        }
    }
}

impl Energy {
    /// Display names (es, en).
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Energy::Lunar => ("Lunar", "Lunar"),
            Energy::Solar => ("Solar", "Solar"),
        }
    }
}

impl Language {
    /// Display names (es, en).
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Language::Es => ("Español", "Spanish"),
            Language::En => ("Inglés", "English"),
        }
    }
}

// ---- guests ------------------------------------------------------------------------

pub const NAME_MAX_CHARS: usize = 100;
pub const EMAIL_MAX_CHARS: usize = 254;

/// The questionnaire as the kiosk sent it: every field may be missing.
#[derive(Debug, Clone, Default)]
pub struct GuestDraft {
    pub name: Option<String>,
    pub email: Option<String>,
    pub energy: Option<String>,
    pub element: Option<String>,
    pub essence: Option<String>,
    pub language: Option<String>,
    pub consent: Option<bool>,
}

/// A questionnaire that passed every rule of SPEC.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGuest {
    pub name: String,
    pub email: String,
    pub energy: Energy,
    pub element: Element,
    pub essence: String,
    pub language: Language,
}

/// The key under which "the same email may not be waiting twice" is checked.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A mail-deliverable address: RFC syntax and a dotted domain (no `user@localhost`).
pub fn is_valid_email(s: &str) -> bool {
    s.len() <= EMAIL_MAX_CHARS
        && email_address::EmailAddress::parse_with_options(
            s,
            email_address::Options::default().without_display_text(),
        )
        .is_ok_and(|a| {
            let d = a.domain();
            d.contains('.') && !d.starts_with('[') && !d.ends_with('.')
        })
}

pub fn validate_name(raw: Option<&str>) -> Result<String, Refusal> {
    let name = raw
        .ok_or_else(|| Refusal::invalid("name", "missing_field", "name is required"))?
        .trim();
    let n = name.chars().count();
    if n == 0 {
        return Err(Refusal::invalid(
            "name",
            "invalid_value",
            "name must not be empty",
        ));
    }
    if n > NAME_MAX_CHARS {
        return Err(Refusal::invalid(
            "name",
            "invalid_value",
            format!("name must be at most {NAME_MAX_CHARS} characters, got {n}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            "name",
            "invalid_value",
            "name must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

pub fn validate_email(raw: Option<&str>) -> Result<String, Refusal> {
    let email = raw
        .ok_or_else(|| Refusal::invalid("email", "missing_field", "email is required"))?
        .trim();
    if !is_valid_email(email) {
        return Err(Refusal::invalid(
            "email",
            "invalid_value",
            "email is not a valid address",
        ));
    }
    Ok(email.to_string())
}

fn choice<T>(
    field: &str,
    raw: Option<&str>,
    parse: fn(&str) -> Option<T>,
    allowed: &[&str],
) -> Result<T, Refusal> {
    let v = raw
        .ok_or_else(|| Refusal::invalid(field, "missing_field", format!("{field} is required")))?;
    parse(v).ok_or_else(|| {
        Refusal::invalid(
            field,
            "invalid_value",
            format!("{field} must be one of: {}", allowed.join(", ")),
        )
    })
}

/// Checks every field of the questionnaire; the first failing field is named.
pub fn validate_guest(d: &GuestDraft, essences: &[Essence]) -> Result<NewGuest, Refusal> {
    let name = validate_name(d.name.as_deref())?;
    let email = validate_email(d.email.as_deref())?;
    let energy = choice(
        "energy",
        d.energy.as_deref(),
        Energy::parse,
        &["lunar", "solar"],
    )?;
    let element = choice(
        "element",
        d.element.as_deref(),
        Element::parse,
        &["agua", "fuego", "tierra", "aire"],
    )?;
    let essence_ids: Vec<&str> = essences.iter().map(|e| e.id.as_str()).collect();
    let essence = d
        .essence
        .as_deref()
        .ok_or_else(|| Refusal::invalid("essence", "missing_field", "essence is required"))?
        .trim()
        .to_lowercase();
    if !essence_ids.contains(&essence.as_str()) {
        return Err(Refusal::invalid(
            "essence",
            "invalid_value",
            format!("essence must be one of: {}", essence_ids.join(", ")),
        ));
    }
    let language = match d.language.as_deref() {
        None => Language::Es,
        Some(l) => choice("language", Some(l), Language::parse, &["es", "en"])?,
    };
    if d.consent != Some(true) {
        return Err(Refusal::invalid(
            "consent",
            "consent_required",
            "the guest must consent to be photographed and emailed",
        ));
    }
    Ok(NewGuest {
        name,
        email,
        energy,
        element,
        essence,
        language,
    })
}

/// A guest may be cancelled unless a show holds them.
pub fn check_guest_cancellable(status: GuestStatus) -> Result<(), Refusal> {
    match status {
        GuestStatus::Waiting => Ok(()),
        GuestStatus::Assigned => Err(Refusal::conflict(
            "guest_in_show",
            "the guest is in an active show; take them out of the show or cancel the show first",
        )),
        GuestStatus::Done => Err(Refusal::conflict(
            "guest_done",
            "the guest's show is already completed",
        )),
        GuestStatus::Cancelled => Err(Refusal::conflict(
            "guest_cancelled",
            "the guest is already cancelled",
        )),
    }
}

// ---- shows ---------------------------------------------------------------------------

/// What the host asks of a show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowAction {
    Start,
    Pose,
    Capture,
    Finish,
    Cancel,
}

impl ShowAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ShowAction::Start => "start",
            ShowAction::Pose => "pose",
            ShowAction::Capture => "capture",
            ShowAction::Finish => "finish",
            ShowAction::Cancel => "cancel",
        }
    }
}

impl ShowStatus {
    /// A show in one of these states holds its guests and the room.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ShowStatus::Scheduled | ShowStatus::Running | ShowStatus::Posing | ShowStatus::Review
        )
    }

    /// A show in one of these states is using the room right now.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ShowStatus::Running | ShowStatus::Posing | ShowStatus::Review
        )
    }

    /// The status machine of SPEC.md. Capture from review is a retake.
    pub fn apply(self, action: ShowAction) -> Result<ShowStatus, Refusal> {
        use ShowAction as A;
        use ShowStatus as S;
        let next = match (self, action) {
            (S::Scheduled, A::Start) => S::Running,
            (S::Running, A::Pose) => S::Posing,
            (S::Posing | S::Review, A::Capture) => S::Review,
            (S::Review, A::Finish) => S::Completed,
            (s, A::Cancel) if s.is_active() => S::Cancelled,
            (s, a) => {
                return Err(Refusal::conflict(
                    "illegal_transition",
                    format!("a {} show cannot {}", s.as_str(), a.as_str()),
                ));
            }
        };
        Ok(next)
    }
}

/// Whether the spontaneous photo may be taken now (by the timer or a trigger).
pub fn check_spontaneous(status: ShowStatus, sp: Spontaneous) -> Result<(), Refusal> {
    if !matches!(status, ShowStatus::Running | ShowStatus::Posing) {
        return Err(Refusal::conflict(
            "show_not_running",
            format!(
                "the spontaneous photo is taken while the show runs; this show is {}",
                status.as_str()
            ),
        ));
    }
    match sp {
        Spontaneous::Pending | Spontaneous::Failed => Ok(()),
        Spontaneous::Taking => Err(Refusal::conflict(
            "spontaneous_in_progress",
            "the spontaneous photo is being taken",
        )),
        Spontaneous::Taken => Err(Refusal::conflict(
            "spontaneous_taken",
            "the spontaneous photo of this show was already taken; it cannot be repeated",
        )),
    }
}

/// Whether a posed photo may be taken now.
pub fn check_posed(status: ShowStatus) -> Result<(), Refusal> {
    status.apply(ShowAction::Capture).map(|_| ())
}

/// Photos are approved or discarded while the show is still open.
pub fn check_photo_editable(status: ShowStatus) -> Result<(), Refusal> {
    if status.is_live() {
        Ok(())
    } else {
        Err(Refusal::conflict(
            "show_closed",
            format!(
                "the photos of a {} show can no longer change",
                status.as_str()
            ),
        ))
    }
}

/// A show is finished once every photo has been approved or discarded, so no photo the
/// guests saw is silently left out of their mail.
pub fn check_finishable(status: ShowStatus, pending_photos: usize) -> Result<(), Refusal> {
    status.apply(ShowAction::Finish)?;
    if pending_photos > 0 {
        return Err(Refusal::conflict(
            "photos_pending_review",
            format!("{pending_photos} photo(s) still wait for approve or delete"),
        ));
    }
    Ok(())
}

/// Only a failed message can be retried by hand; a queued one is already waiting and a
/// sent one is gone.
pub fn check_mail_retry(status: MailStatus) -> Result<(), Refusal> {
    match status {
        MailStatus::Failed => Ok(()),
        other => Err(Refusal::conflict(
            "mail_not_failed",
            format!(
                "the message is {}; only a failed message can be retried",
                other.as_str()
            ),
        )),
    }
}

/// The half-open time a show occupies: [start, end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Slot {
    pub fn new(start: DateTime<Utc>, minutes: u32) -> Slot {
        Slot {
            start,
            end: start + Duration::minutes(i64::from(minutes)),
        }
    }

    /// True when the two slots are closer than `gap` (or overlap).
    pub fn clashes(&self, other: &Slot, gap: Duration) -> bool {
        self.start < other.end + gap && other.start < self.end + gap
    }
}

/// The schedule's rules, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleRules {
    pub changeover: Duration,
    pub max_guests: usize,
    pub default_minutes: u32,
}

pub const MAX_SHOW_MINUTES: u32 = 240;

/// Admits `candidate` only if it keeps the changeover gap to every show in `others`
/// (the caller passes the non-cancelled shows, without the one being changed).
pub fn check_slot<'a, I>(candidate: &Slot, others: I, rules: &ScheduleRules) -> Result<(), Refusal>
where
    I: IntoIterator<Item = (&'a str, Slot)>,
{
    let others: Vec<(&str, Slot)> = others.into_iter().collect();
    if let Some((id, s)) = others
        .iter()
        .find(|(_, s)| candidate.clashes(s, rules.changeover))
    {
        let next = next_free_start(
            candidate.start,
            candidate.end - candidate.start,
            others.iter().map(|(_, s)| *s),
            rules.changeover,
        );
        return Err(Refusal::conflict(
            "show_overlap",
            format!(
                "the show would overlap show {id} ({} to {}, plus {} min changeover); the next free start is {}",
                s.start.to_rfc3339(),
                s.end.to_rfc3339(),
                rules.changeover.num_minutes(),
                next.to_rfc3339()
            ),
        )
        .with_field("start_time"));
    }
    Ok(())
}

/// The earliest start at or after `from` for a show of `length` that clashes with none of `others`.
pub fn next_free_start(
    from: DateTime<Utc>,
    length: Duration,
    others: impl IntoIterator<Item = Slot>,
    gap: Duration,
) -> DateTime<Utc> {
    let mut others: Vec<Slot> = others.into_iter().collect();
    others.sort_by_key(|s| s.start);
    let mut start = from;
    // Each pass either finds a free start or moves past one show; at most len+1 passes.
    loop {
        let cand = Slot {
            start,
            end: start + length,
        };
        match others
            .iter()
            .filter(|s| cand.clashes(s, gap))
            .map(|s| s.end + gap)
            .max()
        {
            None => return start,
            Some(after) => start = after,
        }
    }
}

/// 1..=max distinct guests; the order gives the floor marker of each.
pub fn validate_roster(guest_ids: &[String], rules: &ScheduleRules) -> Result<(), Refusal> {
    if guest_ids.is_empty() {
        return Err(Refusal::invalid(
            "guest_ids",
            "invalid_value",
            "a show needs at least one guest",
        ));
    }
    if guest_ids.len() > rules.max_guests {
        return Err(Refusal::invalid(
            "guest_ids",
            "too_many_guests",
            format!(
                "a show takes at most {} guests (one per floor marker), got {}",
                rules.max_guests,
                guest_ids.len()
            ),
        ));
    }
    for (i, id) in guest_ids.iter().enumerate() {
        if guest_ids[..i].contains(id) {
            return Err(Refusal::invalid(
                "guest_ids",
                "duplicate_guest",
                format!("guest {id} is listed twice"),
            ));
        }
    }
    Ok(())
}

pub fn validate_duration(minutes: Option<i64>, rules: &ScheduleRules) -> Result<u32, Refusal> {
    match minutes {
        None => Ok(rules.default_minutes),
        Some(m) if (1..=i64::from(MAX_SHOW_MINUTES)).contains(&m) => Ok(m as u32),
        Some(m) => Err(Refusal::invalid(
            "duration_minutes",
            "invalid_value",
            format!("duration_minutes must be between 1 and {MAX_SHOW_MINUTES}, got {m}"),
        )),
    }
}

/// How far in the past a show may be scheduled (a host setting up "now" is a little late).
pub const START_GRACE: Duration = Duration::minutes(10);

pub fn validate_start(start: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    if start < now - START_GRACE {
        return Err(Refusal::invalid(
            "start_time",
            "start_in_past",
            "start_time is in the past",
        ));
    }
    if start > now + Duration::days(366) {
        return Err(Refusal::invalid(
            "start_time",
            "invalid_value",
            "start_time is more than a year ahead",
        ));
    }
    Ok(())
}

/// A guest can join a show only from the waitlist.
pub fn check_guest_assignable(id: &str, status: GuestStatus) -> Result<(), Refusal> {
    if status == GuestStatus::Waiting {
        Ok(())
    } else {
        Err(Refusal::conflict(
            "guest_not_waiting",
            format!("guest {id} is {}, not waiting", status.as_str()),
        )
        .with_field("guest_ids"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn essences() -> Vec<Essence> {
        default_essences()
    }

    fn draft() -> GuestDraft {
        GuestDraft {
            name: Some("  Ana María  ".into()),
            email: Some(" Ana@Example.org ".into()),
            energy: Some("Lunar".into()),
            element: Some("water".into()),
            essence: Some("colibrí".into()),
            language: None,
            consent: Some(true),
        }
    }

    #[test]
    fn a_good_questionnaire_is_normalised() {
        let g = validate_guest(&draft(), &essences()).unwrap();
        assert_eq!(g.name, "Ana María");
        assert_eq!(g.email, "Ana@Example.org");
        assert_eq!(email_key(&g.email), "ana@example.org");
        assert_eq!(g.energy, Energy::Lunar);
        assert_eq!(g.element, Element::Agua);
        assert_eq!(g.language, Language::Es);
    }

    #[test]
    fn each_bad_field_is_named() {
        type Mutation = Box<dyn Fn(&mut GuestDraft)>;
        let cases: Vec<(Mutation, &str, &str)> = vec![
            (Box::new(|d| d.name = None), "name", "missing_field"),
            (
                Box::new(|d| d.name = Some("   ".into())),
                "name",
                "invalid_value",
            ),
            (
                Box::new(|d| d.name = Some("x".repeat(101))),
                "name",
                "invalid_value",
            ),
            (
                Box::new(|d| d.name = Some("a\u{7}b".into())),
                "name",
                "invalid_value",
            ),
            (
                Box::new(|d| d.email = Some("not-an-email".into())),
                "email",
                "invalid_value",
            ),
            (
                Box::new(|d| d.email = Some("a@localhost".into())),
                "email",
                "invalid_value",
            ),
            (Box::new(|d| d.email = None), "email", "missing_field"),
            (
                Box::new(|d| d.energy = Some("stellar".into())),
                "energy",
                "invalid_value",
            ),
            (
                Box::new(|d| d.element = Some("metal".into())),
                "element",
                "invalid_value",
            ),
            (
                Box::new(|d| d.essence = Some("dragón".into())),
                "essence",
                "invalid_value",
            ),
            (
                Box::new(|d| d.language = Some("fr".into())),
                "language",
                "invalid_value",
            ),
            (
                Box::new(|d| d.consent = None),
                "consent",
                "consent_required",
            ),
            (
                Box::new(|d| d.consent = Some(false)),
                "consent",
                "consent_required",
            ),
        ];
        for (mutate, field, code) in cases {
            let mut d = draft();
            mutate(&mut d);
            let r = validate_guest(&d, &essences()).unwrap_err();
            assert_eq!((r.field.as_deref(), r.code), (Some(field), code), "{r:?}");
            assert_eq!(r.kind, RefusalKind::Invalid);
        }
    }

    #[test]
    fn a_name_of_exactly_100_characters_is_accepted() {
        let mut d = draft();
        d.name = Some("ñ".repeat(100));
        assert!(validate_guest(&d, &essences()).is_ok());
    }

    #[test]
    fn status_machine_allows_exactly_the_spec_transitions() {
        use ShowAction as A;
        use ShowStatus as S;
        let allowed = [
            (S::Scheduled, A::Start, S::Running),
            (S::Running, A::Pose, S::Posing),
            (S::Posing, A::Capture, S::Review),
            (S::Review, A::Capture, S::Review),
            (S::Review, A::Finish, S::Completed),
            (S::Scheduled, A::Cancel, S::Cancelled),
            (S::Running, A::Cancel, S::Cancelled),
            (S::Posing, A::Cancel, S::Cancelled),
            (S::Review, A::Cancel, S::Cancelled),
        ];
        for &s in S::ALL {
            for a in [A::Start, A::Pose, A::Capture, A::Finish, A::Cancel] {
                let expected = allowed
                    .iter()
                    .find(|(f, x, _)| *f == s && *x == a)
                    .map(|t| t.2);
                match (s.apply(a), expected) {
                    (Ok(n), Some(e)) => assert_eq!(n, e),
                    (Err(r), None) => {
                        assert_eq!(r.kind, RefusalKind::Conflict);
                        assert_eq!(r.code, "illegal_transition");
                    }
                    (got, want) => panic!("{s:?} {a:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(min)
    }

    fn rules(gap: i64) -> ScheduleRules {
        ScheduleRules {
            changeover: Duration::minutes(gap),
            max_guests: 4,
            default_minutes: 15,
        }
    }

    #[test]
    fn changeover_gap_is_respected_at_the_edges() {
        let a = Slot::new(at(0), 15);
        let r = rules(5);
        assert!(check_slot(&Slot::new(at(20), 15), [("a", a)], &r).is_ok());
        assert!(check_slot(&Slot::new(at(-20), 15), [("a", a)], &r).is_ok());
        let e = check_slot(&Slot::new(at(19), 15), [("a", a)], &r).unwrap_err();
        assert_eq!(e.code, "show_overlap");
        assert!(e.message.contains("next free start"), "{}", e.message);
        assert!(check_slot(&Slot::new(at(-19), 15), [("a", a)], &r).is_err());
        assert!(check_slot(&Slot::new(at(5), 2), [("a", a)], &r).is_err());
    }

    #[test]
    fn roster_rules() {
        let r = rules(5);
        let ids = |n: usize| (0..n).map(|i| format!("g{i}")).collect::<Vec<_>>();
        assert!(validate_roster(&ids(1), &r).is_ok());
        assert!(validate_roster(&ids(4), &r).is_ok());
        assert_eq!(
            validate_roster(&ids(0), &r).unwrap_err().field.as_deref(),
            Some("guest_ids")
        );
        assert_eq!(
            validate_roster(&ids(5), &r).unwrap_err().code,
            "too_many_guests"
        );
        assert_eq!(
            validate_roster(&["a".into(), "a".into()], &r)
                .unwrap_err()
                .code,
            "duplicate_guest"
        );
    }

    proptest! {
        /// Whatever order shows are proposed in, the admitted ones never clash, and every
        /// refused one really clashes with an admitted one.
        #[test]
        fn admitted_shows_never_overlap(
            proposals in proptest::collection::vec((0i64..600, 1u32..60), 1..40),
            gap in 0i64..20,
        ) {
            let r = rules(gap);
            let mut admitted: Vec<(String, Slot)> = Vec::new();
            for (i, (start, len)) in proposals.into_iter().enumerate() {
                let cand = Slot::new(at(start), len);
                let others = admitted.iter().map(|(id, s)| (id.as_str(), *s));
                match check_slot(&cand, others, &r) {
                    Ok(()) => admitted.push((format!("s{i}"), cand)),
                    Err(_) => prop_assert!(admitted.iter().any(|(_, s)| cand.clashes(s, r.changeover))),
                }
            }
            for (i, (_, a)) in admitted.iter().enumerate() {
                for (_, b) in &admitted[i + 1..] {
                    prop_assert!(!a.clashes(b, r.changeover), "{a:?} clashes with {b:?}");
                    // clashing is symmetric, so order of the check does not matter
                    prop_assert_eq!(a.clashes(b, r.changeover), b.clashes(a, r.changeover));
                }
            }
        }

        /// The proposed next free start is free, and nothing earlier (on the minute grid) after `from` is.
        #[test]
        fn next_free_start_is_free_and_earliest(
            shows in proptest::collection::vec((0i64..300, 1u32..30), 0..12),
            from in 0i64..300,
            len in 1i64..30,
            gap in 0i64..10,
        ) {
            let slots: Vec<Slot> = shows.iter().map(|(s, l)| Slot::new(at(*s), *l)).collect();
            let g = Duration::minutes(gap);
            let start = next_free_start(at(from), Duration::minutes(len), slots.clone(), g);
            let cand = Slot { start, end: start + Duration::minutes(len) };
            prop_assert!(slots.iter().all(|s| !cand.clashes(s, g)));
            let mut t = at(from);
            while t < start {
                let c = Slot { start: t, end: t + Duration::minutes(len) };
                prop_assert!(slots.iter().any(|s| c.clashes(s, g)), "{t} was free before {start}");
                t += Duration::minutes(1);
            }
        }
    }
}
