//! The schedule: the time a show occupies, the changeover gap between shows, the next
//! free start, and the rules for a show's roster, length and start. Pure.

use chrono::{DateTime, Duration, Utc};

use super::{Refusal, RefusalCode};

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
            RefusalCode::ShowOverlap,
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
            RefusalCode::InvalidValue,
            "a show needs at least one guest",
        ));
    }
    if guest_ids.len() > rules.max_guests {
        return Err(Refusal::invalid(
            "guest_ids",
            RefusalCode::TooManyGuests,
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
                RefusalCode::DuplicateGuest,
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
            RefusalCode::InvalidValue,
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
            RefusalCode::StartInPast,
            "start_time is in the past",
        ));
    }
    if start > now + Duration::days(366) {
        return Err(Refusal::invalid(
            "start_time",
            RefusalCode::InvalidValue,
            "start_time is more than a year ahead",
        ));
    }
    Ok(())
}
