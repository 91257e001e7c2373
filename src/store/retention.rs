//! The retention purge: guest data untouched for `privacy.retention_days` leaves the
//! database for good.
//!
//! What goes, in one transaction:
//! - finished shows (completed or cancelled) last changed before the cut-off, with their
//!   timeline, their photos' rows and their messages — unless a message of the show is
//!   still queued (a guest's mail is never dropped by the purge; the queue lifetime ends
//!   it first);
//! - guests last changed before the cut-off that no remaining show or message holds
//!   (a waiting guest who never came, a cancelled one, or one whose show just went);
//! - login sessions that expired before the cut-off;
//! - alerts cleared before the cut-off (open ones stay, however old).
//!
//! "For good": the connection runs with `secure_delete = ON`, so freed cells and pages are
//! overwritten with zeros, and after the purge the WAL is checkpointed and truncated, so
//! no copy of a purged row stays in `cosmos.db` or `cosmos.db-wal`. The photo files are
//! the caller's to delete (it gets their names).

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, Store, ms};
use crate::show::{GuestStatus, MailStatus, ShowStatus};

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub guests: u64,
    pub shows: u64,
    pub photos: u64,
    pub messages: u64,
    pub sessions: u64,
    /// `(show_id, name)` of each removed photo row: the files to delete.
    #[serde(skip)]
    pub photo_files: Vec<(String, String)>,
    /// Ids of the removed messages (their `.eml` copies, with the file transport).
    #[serde(skip)]
    pub message_ids: Vec<String>,
    /// False when the WAL could not be truncated (a reader held it); the next purge
    /// tries again. The purged rows are gone from the tables either way.
    pub wal_truncated: bool,
}

impl Store {
    /// Removes what was last changed before `cutoff` (see the module docs).
    pub fn purge(&self, cutoff: DateTime<Utc>) -> Result<Purged> {
        let cut = ms(cutoff);
        let mut out = self.write(|tx| {
            let mut out = Purged::default();
            // Shows: finished, old, and no message of theirs still waiting.
            tx.execute(
                "CREATE TEMP TABLE purge_shows AS
                 SELECT id FROM shows s
                 WHERE s.status IN (?2, ?3) AND s.updated_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox o
                                   WHERE o.show_id = s.id AND o.status = ?4)",
                params![cut, ShowStatus::Completed, ShowStatus::Cancelled, MailStatus::Queued],
            )?;
            {
                let mut q = tx.prepare(
                    "SELECT show_id, name FROM photos WHERE show_id IN (SELECT id FROM purge_shows)",
                )?;
                out.photo_files = q
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut q =
                    tx.prepare("SELECT id FROM outbox WHERE show_id IN (SELECT id FROM purge_shows)")?;
                out.message_ids = q
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            const IN_SHOWS: &str = "show_id IN (SELECT id FROM purge_shows)";
            // outbox_attachments go with their message (ON DELETE CASCADE).
            out.messages = tx.execute(&format!("DELETE FROM outbox WHERE {IN_SHOWS}"), [])? as u64;
            out.photos = tx.execute(&format!("DELETE FROM photos WHERE {IN_SHOWS}"), [])? as u64;
            tx.execute(&format!("DELETE FROM show_events WHERE {IN_SHOWS}"), [])?;
            tx.execute(&format!("DELETE FROM show_guests WHERE {IN_SHOWS}"), [])?;
            out.shows = tx.execute("DELETE FROM shows WHERE id IN (SELECT id FROM purge_shows)", [])?
                as u64;
            tx.execute("DROP TABLE purge_shows", [])?;
            // Guests: old, and held by nothing left.
            out.guests = tx.execute(
                "DELETE FROM guests
                 WHERE updated_at < ?1 AND status <> ?2
                   AND NOT EXISTS (SELECT 1 FROM show_guests sg WHERE sg.guest_id = guests.id)
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.guest_id = guests.id)",
                params![cut, GuestStatus::Assigned],
            )? as u64;
            out.sessions =
                tx.execute("DELETE FROM sessions WHERE expires_at < ?1", params![cut])? as u64;
            // Alerts hold no guest data; only the history of ended ones is trimmed.
            tx.execute("DELETE FROM alerts WHERE cleared_at < ?1", params![cut])?;
            Ok(out)
        })?;
        // Copy the zeroed pages into the database file and empty the WAL, so the old
        // frames that still hold the purged rows are gone too.
        out.wal_truncated = self.truncate_wal()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::{Element, Energy, Language, NewGuest};
    use chrono::Duration;

    fn guest(name: &str, email: &str) -> NewGuest {
        NewGuest {
            name: name.into(),
            email: email.into(),
            energy: Energy::Solar,
            element: Element::Fuego,
            essence: "jaguar".into(),
            language: Language::Es,
        }
    }

    fn bytes_of(path: &std::path::Path) -> Vec<u8> {
        std::fs::read(path).unwrap_or_default()
    }

    fn contains(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn old_waiting_guests_go_and_leave_no_bytes_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cosmos.db");
        let store = Store::open(&db).unwrap();
        let t0 = Utc::now() - Duration::days(40);
        let old = store
            .add_guest(
                &guest("Zacarías Purgable", "zacarias.purgable@example.org"),
                t0,
            )
            .unwrap();
        let new = store
            .add_guest(
                &guest("Nueva Reciente", "nueva.reciente@example.org"),
                Utc::now(),
            )
            .unwrap();
        // Checkpoint as the daemon would have over 40 days, so the old row is in the
        // main file too, not only in the WAL.
        store
            .lock()
            .execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
            .unwrap();

        let p = store.purge(Utc::now() - Duration::days(30)).unwrap();
        assert_eq!(p.guests, 1);
        assert!(p.wal_truncated);
        assert!(matches!(
            store.guest(&old.id),
            Err(crate::store::Error::Refused(_))
        ));
        assert_eq!(store.guest(&new.id).unwrap().name, "Nueva Reciente");
        let mut files = bytes_of(&db);
        files.extend(bytes_of(&dir.path().join("cosmos.db-wal")));
        assert!(
            !contains(&files, "zacarias.purgable"),
            "the purged email is still in the files"
        );
        assert!(
            !contains(&files, "Zacarías"),
            "the purged name is still in the files"
        );
        assert!(
            contains(&files, "nueva.reciente"),
            "the search would find a kept guest"
        );
    }
}
