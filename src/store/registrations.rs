//! The `registration_keys` table: the kiosk's `Idempotency-Key`s for `POST /api/guests`,
//! so a registration retried after a Wi-Fi blip answers with the guest it already made
//! instead of a duplicate (or a 409 for the email now waiting).
//!
//! Invariants: a key is honoured for [`KEY_LIFETIME`] after its first use, then forgotten
//! (expired keys are deleted in every registering transaction and by the daily purge); a
//! key goes with its guest (`ON DELETE CASCADE`), so erasure and the retention purge leave
//! nothing of the guest here. Only a SHA-256 of the request is kept, never its fields.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::guests::{email_waiting, guest_in, insert_guest};
use super::{Guest, Result, Store, ms, new_id};
use crate::show::{self, NewGuest};

/// How long a key answers for its first request.
pub const KEY_LIFETIME: Duration = Duration::hours(24);

/// What a registration with a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// A new guest joined the waitlist.
    New(Guest),
    /// The key was seen with the same questionnaire: the guest it made, as it is now.
    Repeat(Guest),
    /// The key was seen with a different questionnaire; nothing was written.
    KeyReused,
}

/// The fingerprint of a validated questionnaire: what "the same body" means.
fn fingerprint(g: &NewGuest) -> String {
    let mut h = Sha256::new();
    for part in [
        g.name.as_str(),
        g.email.as_str(),
        g.energy.as_str(),
        g.element.as_str(),
        g.essence.as_str(),
        g.language.as_str(),
    ] {
        // Length-prefixed, so no two different questionnaires share a byte string.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Store {
    /// Adds a questionnaire to the waitlist once per `key` (see [`Registration`]).
    pub fn add_guest_once(
        &self,
        key: &str,
        g: &NewGuest,
        now: DateTime<Utc>,
    ) -> Result<Registration> {
        let print = fingerprint(g);
        self.write(|tx| {
            let seen: Option<(String, String)> = tx
                .prepare_cached(
                    "SELECT request_sha256, guest_id FROM registration_keys
                     WHERE key = ?1 AND created_at >= ?2",
                )?
                .query_row(params![key, ms(now - KEY_LIFETIME)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            match seen {
                Some((p, guest_id)) if p == print => {
                    return Ok(Registration::Repeat(guest_in(tx, &guest_id)?));
                }
                Some(_) => return Ok(Registration::KeyReused),
                None => {}
            }
            // The checks come first: a refused registration leaves no key behind.
            show::check_email_free(email_waiting(tx, &g.email, None)?)?;
            let id = new_id("gst");
            insert_guest(tx, &id, g, now)?;
            tx.execute(
                "DELETE FROM registration_keys WHERE created_at < ?1 OR key = ?2",
                params![ms(now - KEY_LIFETIME), key],
            )?;
            tx.execute(
                "INSERT INTO registration_keys (key, request_sha256, guest_id, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![key, print, id, ms(now)],
            )?;
            Ok(Registration::New(guest_in(tx, &id)?))
        })
    }

    /// Forgets the keys older than [`KEY_LIFETIME`]; returns how many went.
    pub fn purge_registration_keys(&self, now: DateTime<Utc>) -> Result<u64> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM registration_keys WHERE created_at < ?1",
                params![ms(now - KEY_LIFETIME)],
            )? as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::{Element, Energy, Language};

    fn guest(email: &str) -> NewGuest {
        NewGuest {
            name: "Lucía Pérez".into(),
            email: email.into(),
            energy: Energy::Lunar,
            element: Element::Agua,
            essence: "colibrí".into(),
            language: Language::Es,
        }
    }

    fn keys(store: &Store) -> i64 {
        store
            .lock()
            .query_row("SELECT count(*) FROM registration_keys", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_key_makes_one_guest_and_forgets_after_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cosmos.db")).unwrap();
        let t0 = Utc::now();
        let Registration::New(g) = store
            .add_guest_once("k1", &guest("a@example.org"), t0)
            .unwrap()
        else {
            panic!("first use is new")
        };
        assert_eq!(
            store
                .add_guest_once("k1", &guest("a@example.org"), t0 + Duration::hours(23))
                .unwrap(),
            Registration::Repeat(g.clone())
        );
        assert_eq!(
            store
                .add_guest_once("k1", &guest("b@example.org"), t0 + Duration::hours(1))
                .unwrap(),
            Registration::KeyReused
        );
        assert_eq!(store.guests(None).unwrap().len(), 1);

        // A refused registration (the email is waiting) leaves no key behind.
        assert!(
            store
                .add_guest_once("k2", &guest("a@example.org"), t0)
                .is_err()
        );
        assert_eq!(keys(&store), 1);

        assert_eq!(
            store
                .purge_registration_keys(t0 + Duration::hours(23))
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .purge_registration_keys(t0 + Duration::hours(25))
                .unwrap(),
            1
        );
        // Forgotten: the same key now registers anew (here refused: the email still waits).
        assert!(
            store
                .add_guest_once("k1", &guest("a@example.org"), t0 + Duration::hours(25))
                .is_err()
        );
    }

    #[test]
    fn an_erased_guest_takes_their_key_along() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cosmos.db")).unwrap();
        let now = Utc::now();
        let Registration::New(g) = store
            .add_guest_once("k", &guest("c@example.org"), now)
            .unwrap()
        else {
            panic!("first use is new")
        };
        store.erase_guest(&g.id, now).unwrap();
        assert_eq!(keys(&store), 0);
    }
}
