//! Why the domain refused a request: [`Refusal`], with its kind (which 4xx) and a typed
//! [`RefusalCode`]. The code's wire string comes only from [`RefusalCode::as_str`], so a
//! caller that branches on a refusal matches a variant, never a string.

/// Why a request was refused. The caller answers with the status of `kind` and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub code: RefusalCode,
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

macro_rules! codes {
    ($($(#[$m:meta])* $variant:ident = $text:literal,)+) => {
        /// The stable, machine-readable reason of a refusal (the `code` of the error body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RefusalCode { $($(#[$m])* $variant),+ }
        impl RefusalCode {
            pub const ALL: &'static [RefusalCode] = &[$(RefusalCode::$variant),+];
            /// The code as the API sends it.
            pub fn as_str(self) -> &'static str {
                match self { $(RefusalCode::$variant => $text),+ }
            }
        }
    };
}

codes! {
    /// A required field is absent.
    MissingField = "missing_field",
    /// A field's value is not acceptable.
    InvalidValue = "invalid_value",
    ConsentRequired = "consent_required",
    NotFound = "not_found",
    DuplicateWaitingEmail = "duplicate_waiting_email",
    GuestInShow = "guest_in_show",
    GuestDone = "guest_done",
    GuestCancelled = "guest_cancelled",
    GuestNotWaiting = "guest_not_waiting",
    /// A guest cannot be erased while their show is using the room.
    GuestInRunningShow = "guest_in_running_show",
    UnknownGuest = "unknown_guest",
    TooManyGuests = "too_many_guests",
    DuplicateGuest = "duplicate_guest",
    StartInPast = "start_in_past",
    ShowOverlap = "show_overlap",
    ShowNotScheduled = "show_not_scheduled",
    IllegalTransition = "illegal_transition",
    AnotherShowLive = "another_show_live",
    ShowNotRunning = "show_not_running",
    SpontaneousInProgress = "spontaneous_in_progress",
    SpontaneousTaken = "spontaneous_taken",
    SpontaneousNotClaimed = "spontaneous_not_claimed",
    ShowClosed = "show_closed",
    PhotosPendingReview = "photos_pending_review",
    /// The show changed between rendering its mail and queueing it: render again.
    ShowChanged = "show_changed",
    /// The posed countdown ended early because the show changed meanwhile.
    CountdownInterrupted = "countdown_interrupted",
    MailNotFailed = "mail_not_failed",
    /// A message still in the queue is not sent again: it is on its way.
    MailQueued = "mail_queued",
    /// The guest changed while their message was being written: render again.
    GuestChanged = "guest_changed",
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Refusal {
    pub fn invalid(field: &str, code: RefusalCode, message: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Invalid,
            code,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }
    pub fn conflict(code: RefusalCode, message: impl Into<String>) -> Self {
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
            code: RefusalCode::NotFound,
            message: format!("no such {what}"),
            field: None,
        }
    }
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_are_distinct_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in RefusalCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{s}"
            );
        }
    }
}
