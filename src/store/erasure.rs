//! A guest's erasure on request (the right to be forgotten): their row, their place in
//! any show, and their messages leave the database for good, in one transaction.
//!
//! A guest in a show that is using the room (running, posing, review) is refused: the
//! show would lose a marker mid-way. From a scheduled show they are taken out (a show
//! left with nobody is cancelled). Login sessions belong to roles, not guests, so there
//! are none to end. "For good" as in the retention purge: `secure_delete` zeroes the
//! freed cells, and the WAL is checkpointed and truncated afterwards.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};

use super::guests::guest_in;
use super::shows::event;
use super::{Result, Store, ms};
use crate::show::{self, ShowStatus, TimelineEvent};

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// Ids of the removed messages (their `.eml` copies, with the file transport).
    pub message_ids: Vec<String>,
    /// The scheduled show the guest was taken out of, if any.
    pub left_show: Option<String>,
    /// False when the WAL could not be truncated (a reader held it).
    pub wal_truncated: bool,
}

impl Store {
    /// Erases guest `id` (see the module docs): 404 if unknown, 409 while their show is live.
    pub fn erase_guest(&self, id: &str, now: DateTime<Utc>) -> Result<Erased> {
        let mut out = self.write(|tx| {
            guest_in(tx, id)?;
            let active: Option<(String, ShowStatus)> = tx
                .query_row(
                    "SELECT s.id, s.status FROM show_guests sg JOIN shows s ON s.id = sg.show_id
                     WHERE sg.guest_id = ?1
                       AND s.status IN ('scheduled', 'running', 'posing', 'review')
                     LIMIT 1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            show::check_guest_erasable(active.as_ref().map(|(_, s)| *s))?;
            let mut out = Erased::default();
            {
                let mut q = tx.prepare("SELECT id FROM outbox WHERE guest_id = ?1")?;
                out.message_ids = q
                    .query_map([id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            // outbox_attachments go with their message (ON DELETE CASCADE).
            tx.execute("DELETE FROM outbox WHERE guest_id = ?1", [id])?;
            tx.execute("DELETE FROM show_guests WHERE guest_id = ?1", [id])?;
            if let Some((show_id, _)) = active {
                let left: i64 = tx.query_row(
                    "SELECT count(*) FROM show_guests WHERE show_id = ?1",
                    [&show_id],
                    |r| r.get(0),
                )?;
                if left == 0 {
                    tx.execute(
                        "UPDATE shows SET status = 'cancelled', updated_at = ?2 WHERE id = ?1",
                        params![show_id, ms(now)],
                    )?;
                    event(
                        tx,
                        &show_id,
                        now,
                        TimelineEvent::Status(ShowStatus::Cancelled),
                    )?;
                } else {
                    tx.execute(
                        "UPDATE shows SET updated_at = ?2 WHERE id = ?1",
                        params![show_id, ms(now)],
                    )?;
                }
                out.left_show = Some(show_id);
            }
            tx.execute("DELETE FROM guests WHERE id = ?1", [id])?;
            Ok(out)
        })?;
        out.wal_truncated = self.truncate_wal()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::{Element, Energy, Language, NewGuest, ScheduleRules, ShowAction};
    use crate::store::ShowDraft;

    fn guest(name: &str, email: &str) -> NewGuest {
        NewGuest {
            name: name.into(),
            email: email.into(),
            energy: Energy::Solar,
            element: Element::Agua,
            essence: "nebula".into(),
            language: Language::Es,
        }
    }

    fn rules() -> ScheduleRules {
        ScheduleRules {
            changeover: chrono::Duration::minutes(5),
            max_guests: 4,
            default_minutes: 15,
        }
    }

    fn contains(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn an_erased_guest_is_gone_with_their_bytes_and_a_live_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosmos.db");
        let store = Store::open(&path).unwrap();
        let now = Utc::now();
        let a = store
            .add_guest(&guest("Zephyrina Quux", "zephyrina@example.com"), now)
            .unwrap();
        let b = store
            .add_guest(&guest("Bo", "bo@example.com"), now)
            .unwrap();
        let show = store
            .create_show(
                &ShowDraft {
                    start: now + chrono::Duration::minutes(30),
                    duration_minutes: 15,
                    guest_ids: vec![a.id.clone(), b.id.clone()],
                },
                &rules(),
                now,
            )
            .unwrap();

        // From a scheduled show: taken out; the show goes on with the other guest.
        let e = store.erase_guest(&a.id, now).unwrap();
        assert_eq!(e.left_show.as_deref(), Some(show.id.as_str()));
        assert!(e.wal_truncated);
        assert!(matches!(
            store.guest(&a.id),
            Err(crate::store::Error::Refused(ref r)) if r.code == show::RefusalCode::NotFound
        ));
        let s = store.show(&show.id).unwrap();
        assert_eq!(s.status, ShowStatus::Scheduled);
        assert_eq!(s.guests.len(), 1);
        drop(store);
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !contains(&bytes, "Zephyrina"),
            "the name is still in the file"
        );
        assert!(!contains(&bytes, "zephyrina@example.com"));

        // While the show is live: refused, nothing changes.
        let store = Store::open(&path).unwrap();
        store.apply(&show.id, ShowAction::Start, now).unwrap();
        let r = store.erase_guest(&b.id, now).unwrap_err();
        assert!(
            matches!(r, crate::store::Error::Refused(ref r) if r.code == show::RefusalCode::GuestInRunningShow)
        );
        assert!(store.guest(&b.id).is_ok());
        assert!(matches!(
            store.erase_guest("gst_nobody", now),
            Err(crate::store::Error::Refused(ref r)) if r.code == show::RefusalCode::NotFound
        ));
    }

    #[test]
    fn the_last_guest_erased_from_a_scheduled_show_cancels_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cosmos.db")).unwrap();
        let now = Utc::now();
        let a = store.add_guest(&guest("A", "a@example.com"), now).unwrap();
        let show = store
            .create_show(
                &ShowDraft {
                    start: now + chrono::Duration::minutes(30),
                    duration_minutes: 15,
                    guest_ids: vec![a.id.clone()],
                },
                &rules(),
                now,
            )
            .unwrap();
        store.erase_guest(&a.id, now).unwrap();
        let s = store.show(&show.id).unwrap();
        assert_eq!(s.status, ShowStatus::Cancelled);
        assert!(s.guests.is_empty());
    }
}
