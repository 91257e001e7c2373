//! A show's photos and its finish: the spontaneous photo's claim, posed captures and
//! retakes, review, and finishing with one message per guest. Pure.

use super::{
    MailStatus, PhotoKind, Refusal, RefusalCode, ShowAction, ShowStatus, Spontaneous, TimelineEvent,
};

/// Whether the spontaneous photo may be taken now (by the timer or a trigger).
pub fn check_spontaneous(status: ShowStatus, sp: Spontaneous) -> Result<(), Refusal> {
    if !matches!(status, ShowStatus::Running | ShowStatus::Posing) {
        return Err(Refusal::conflict(
            RefusalCode::ShowNotRunning,
            format!(
                "the spontaneous photo is taken while the show runs; this show is {}",
                status.as_str()
            ),
        ));
    }
    match sp {
        Spontaneous::Pending | Spontaneous::Failed => Ok(()),
        Spontaneous::Taking => Err(Refusal::conflict(
            RefusalCode::SpontaneousInProgress,
            "the spontaneous photo is being taken",
        )),
        Spontaneous::Taken => Err(Refusal::conflict(
            RefusalCode::SpontaneousTaken,
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
            RefusalCode::ShowClosed,
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
            RefusalCode::PhotosPendingReview,
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
            RefusalCode::MailNotFailed,
            format!(
                "the message is {}; only a failed message can be retried",
                other.as_str()
            ),
        )),
    }
}

/// A message can be sent again (a new message, to the guest's current address) once the
/// relay has it or has refused it; a queued one is still on its way.
pub fn check_mail_resend(status: MailStatus) -> Result<(), Refusal> {
    match status {
        MailStatus::Sent | MailStatus::Failed => Ok(()),
        MailStatus::Queued => Err(Refusal::conflict(
            RefusalCode::MailQueued,
            "the message is still queued; it can be sent again once it is sent or failed",
        )),
    }
}

/// A message sent again is written from the guest as they are when it is queued:
/// `unchanged` says the guest still equals the one it was rendered from.
pub fn check_resend_draft(unchanged: bool) -> Result<(), Refusal> {
    if unchanged {
        Ok(())
    } else {
        Err(Refusal::conflict(
            RefusalCode::GuestChanged,
            "the guest changed while the message was being written; try again",
        ))
    }
}

/// What recording a new photo does to its show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoRecorded {
    pub status: ShowStatus,
    pub spontaneous: Spontaneous,
    /// The show's pending posed photos go: a new posed photo is a retake.
    pub replaces_pending_posed: bool,
    pub event: TimelineEvent,
}

/// Recording a photo of `kind` on a show in `status`: a spontaneous one completes the
/// claim (see [`check_spontaneous`]); a posed one moves the show to review and replaces
/// the `pending_posed` photos not yet approved.
pub fn record_photo(
    kind: PhotoKind,
    status: ShowStatus,
    spontaneous: Spontaneous,
    pending_posed: usize,
) -> Result<PhotoRecorded, Refusal> {
    match kind {
        PhotoKind::Spontaneous => {
            if spontaneous != Spontaneous::Taking {
                return Err(Refusal::conflict(
                    RefusalCode::SpontaneousNotClaimed,
                    "the spontaneous photo was not claimed",
                ));
            }
            Ok(PhotoRecorded {
                status,
                spontaneous: Spontaneous::Taken,
                replaces_pending_posed: false,
                event: TimelineEvent::SpontaneousTaken,
            })
        }
        PhotoKind::Posed => Ok(PhotoRecorded {
            status: status.apply(ShowAction::Capture)?,
            spontaneous,
            replaces_pending_posed: true,
            event: if pending_posed == 0 && status == ShowStatus::Posing {
                TimelineEvent::Captured
            } else {
                TimelineEvent::Retaken
            },
        }),
    }
}

/// The messages written for a show being finished must be the ones for the show as it
/// is now: `unchanged` says the show still equals the one they were rendered from, and
/// there must be exactly one per guest. Otherwise the caller renders again.
pub fn check_mail_drafts<'a>(
    unchanged: bool,
    guests: impl IntoIterator<Item = &'a str>,
    drafted: impl IntoIterator<Item = &'a str>,
) -> Result<(), Refusal> {
    if !unchanged {
        return Err(Refusal::conflict(
            RefusalCode::ShowChanged,
            "the show changed while its mail was being written; try again",
        ));
    }
    let mut guests: Vec<&str> = guests.into_iter().collect();
    let mut drafted: Vec<&str> = drafted.into_iter().collect();
    guests.sort_unstable();
    drafted.sort_unstable();
    if guests != drafted {
        return Err(Refusal::conflict(
            RefusalCode::ShowChanged,
            "the drafts do not match the show's guests; try again",
        ));
    }
    Ok(())
}
