//! The domain: guests and their questionnaire, the waitlist, shows and their schedule,
//! and the show's status machine. Pure: no IO, no clock (callers pass `now`), no SQL.
//!
//! Invariants owned here:
//! - a guest that passed [`validate_guest`] has every field of SPEC.md valid and consented;
//! - [`ShowStatus::apply`] is the only way a show's status changes, and refuses illegal moves;
//! - [`check_slot`] admits a show only if it keeps the changeover gap to every other show.
//!
//! Every refusal is a [`Refusal`]: what kind of 4xx it is, a stable code, a sentence, the field.

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

mod photos;
mod refusal;
mod schedule;
mod stats;

pub use photos::{
    PhotoRecorded, check_finishable, check_mail_drafts, check_mail_resend, check_mail_retry,
    check_photo_editable, check_posed, check_resend_draft, check_spontaneous, record_photo,
};
pub use refusal::{Refusal, RefusalCode, RefusalKind};
pub use schedule::{
    MAX_SHOW_MINUTES, START_GRACE, ScheduleRules, Slot, check_slot, next_free_start,
    validate_duration, validate_roster, validate_start,
};
pub use stats::{MAX_STATS_DAYS, check_stats_window};

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
    /// What an alert to the host is about: a closed set, so the console can word and
    /// group them. `spontaneous_failed` and `capture_failed` belong to a show; the others
    /// are the box's.
    AlertKind { CameraOffline = "camera_offline", SpontaneousFailed = "spontaneous_failed", CaptureFailed = "capture_failed", DiskLow = "disk_low", MailFailing = "mail_failing", PhotoFilesMissing = "photo_files_missing", CameraDrift = "camera_drift" }
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
        .ok_or_else(|| Refusal::invalid("name", RefusalCode::MissingField, "name is required"))?
        .trim();
    let n = name.chars().count();
    if n == 0 {
        return Err(Refusal::invalid(
            "name",
            RefusalCode::InvalidValue,
            "name must not be empty",
        ));
    }
    if n > NAME_MAX_CHARS {
        return Err(Refusal::invalid(
            "name",
            RefusalCode::InvalidValue,
            format!("name must be at most {NAME_MAX_CHARS} characters, got {n}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            "name",
            RefusalCode::InvalidValue,
            "name must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

pub fn validate_email(raw: Option<&str>) -> Result<String, Refusal> {
    let email = raw
        .ok_or_else(|| Refusal::invalid("email", RefusalCode::MissingField, "email is required"))?
        .trim();
    if !is_valid_email(email) {
        return Err(Refusal::invalid(
            "email",
            RefusalCode::InvalidValue,
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
    let v = raw.ok_or_else(|| {
        Refusal::invalid(
            field,
            RefusalCode::MissingField,
            format!("{field} is required"),
        )
    })?;
    parse(v).ok_or_else(|| {
        Refusal::invalid(
            field,
            RefusalCode::InvalidValue,
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
        .ok_or_else(|| {
            Refusal::invalid("essence", RefusalCode::MissingField, "essence is required")
        })?
        .trim()
        .to_lowercase();
    if !essence_ids.contains(&essence.as_str()) {
        return Err(Refusal::invalid(
            "essence",
            RefusalCode::InvalidValue,
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
            RefusalCode::ConsentRequired,
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

/// A guest may be erased unless the show holding them is using the room (`active`: the
/// status of their active show, if any).
pub fn check_guest_erasable(active: Option<ShowStatus>) -> Result<(), Refusal> {
    match active {
        Some(s) if s.is_live() => Err(Refusal::conflict(
            RefusalCode::GuestInRunningShow,
            "the guest is in the show in the room now; erase them once it is finished or cancelled",
        )),
        _ => Ok(()),
    }
}

/// A guest may be cancelled unless a show holds them.
pub fn check_guest_cancellable(status: GuestStatus) -> Result<(), Refusal> {
    match status {
        GuestStatus::Waiting => Ok(()),
        GuestStatus::Assigned => Err(Refusal::conflict(
            RefusalCode::GuestInShow,
            "the guest is in an active show; take them out of the show or cancel the show first",
        )),
        GuestStatus::Done => Err(Refusal::conflict(
            RefusalCode::GuestDone,
            "the guest's show is already completed",
        )),
        GuestStatus::Cancelled => Err(Refusal::conflict(
            RefusalCode::GuestCancelled,
            "the guest is already cancelled",
        )),
    }
}

/// A guest's name and email may be corrected in any status but cancelled: after the
/// show too, so a mistyped address can still get the photos (see
/// [`mail_follows_new_address`]).
pub fn check_guest_editable(status: GuestStatus) -> Result<(), Refusal> {
    if status == GuestStatus::Cancelled {
        Err(Refusal::conflict(
            RefusalCode::GuestCancelled,
            "a cancelled guest can no longer be changed",
        ))
    } else {
        Ok(())
    }
}

/// Whether a guest's message takes their corrected address: every one the relay does
/// not have yet (queued or failed); a sent one stays as history, as it was sent.
pub fn mail_follows_new_address(status: MailStatus) -> bool {
    status != MailStatus::Sent
}

impl GuestStatus {
    /// A guest in this status holds their email: the same email is never waiting twice.
    pub fn holds_email(self) -> bool {
        self == GuestStatus::Waiting
    }
}

/// The one-waiting-per-email rule; `taken` says whether another waiting guest has the
/// same [`email_key`].
pub fn check_email_free(taken: bool) -> Result<(), Refusal> {
    if taken {
        return Err(Refusal::conflict(
            RefusalCode::DuplicateWaitingEmail,
            "a guest with this email is already waiting",
        )
        .with_field("email"));
    }
    Ok(())
}

/// Where a guest goes when their show releases them to `to` (see
/// [`ShowStatus::releases_guests_to`]). One returning to the waitlist whose email is
/// waiting again (they re-registered meanwhile) is superseded by that entry and
/// cancelled instead, so the one-waiting-per-email rule holds.
pub fn released_status(to: GuestStatus, email_waiting_again: bool) -> GuestStatus {
    if to == GuestStatus::Waiting && email_waiting_again {
        GuestStatus::Cancelled
    } else {
        to
    }
}

/// A guest can join a show only from the waitlist; one already in the show being changed
/// stays. `status` is `None` when no guest has this id.
pub fn check_guest_assignable(
    id: &str,
    status: Option<GuestStatus>,
    in_this_show: bool,
) -> Result<(), Refusal> {
    match status {
        None => Err(Refusal::invalid(
            "guest_ids",
            RefusalCode::UnknownGuest,
            format!("no guest {id}"),
        )),
        Some(_) if in_this_show => Ok(()),
        Some(GuestStatus::Waiting) => Ok(()),
        Some(s) => Err(Refusal::conflict(
            RefusalCode::GuestNotWaiting,
            format!("guest {id} is {}, not waiting", s.as_str()),
        )
        .with_field("guest_ids")),
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

    /// Where a show's guests go when it reaches this status: back to the waitlist when
    /// it is cancelled, done when it completes; `None` while they stay in it.
    pub fn releases_guests_to(self) -> Option<GuestStatus> {
        match self {
            ShowStatus::Cancelled => Some(GuestStatus::Waiting),
            ShowStatus::Completed => Some(GuestStatus::Done),
            _ => None,
        }
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
                    RefusalCode::IllegalTransition,
                    format!("a {} show cannot {}", s.as_str(), a.as_str()),
                ));
            }
        };
        Ok(next)
    }
}

/// A show's time, length and guests may change only while it is scheduled.
pub fn check_show_editable(status: ShowStatus) -> Result<(), Refusal> {
    if status == ShowStatus::Scheduled {
        Ok(())
    } else {
        Err(Refusal::conflict(
            RefusalCode::ShowNotScheduled,
            format!("a {} show can no longer be changed", status.as_str()),
        ))
    }
}

/// The host's `action` on a show in `status`: the status machine, and one show in the
/// room at a time (`live_elsewhere` is another show that is running, posing or in review).
pub fn transition(
    status: ShowStatus,
    action: ShowAction,
    live_elsewhere: Option<&str>,
) -> Result<ShowStatus, Refusal> {
    let next = status.apply(action)?;
    if action == ShowAction::Start
        && let Some(other) = live_elsewhere
    {
        return Err(Refusal::conflict(
            RefusalCode::AnotherShowLive,
            format!("show {other} is still in the room; finish or cancel it first"),
        ));
    }
    Ok(next)
}

/// What a show's timeline records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineEvent {
    /// The show reached this status (`scheduled` when it is created).
    Status(ShowStatus),
    Rescheduled,
    GuestsChanged,
    SpontaneousTaken,
    SpontaneousFailed,
    /// A posed photo's shutter or processing failed (the camera, an unreadable file).
    CaptureFailed,
    /// The first posed photo.
    Captured,
    /// A posed photo that replaced (or followed) another.
    Retaken,
    PhotoApproved,
    PhotoDeleted,
}

impl TimelineEvent {
    /// The event as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineEvent::Status(s) => s.as_str(),
            TimelineEvent::Rescheduled => "rescheduled",
            TimelineEvent::GuestsChanged => "guests_changed",
            TimelineEvent::SpontaneousTaken => "spontaneous_taken",
            TimelineEvent::SpontaneousFailed => "spontaneous_failed",
            TimelineEvent::CaptureFailed => "capture_failed",
            TimelineEvent::Captured => "captured",
            TimelineEvent::Retaken => "retaken",
            TimelineEvent::PhotoApproved => "photo_approved",
            TimelineEvent::PhotoDeleted => "photo_deleted",
        }
    }
}

#[cfg(test)]
mod tests;
