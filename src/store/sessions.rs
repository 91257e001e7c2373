//! The `sessions` table: logins by token hash, with their role and expiry.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, ms, time};
use crate::access::Role;

/// A live login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Records a login: the token's hash, never the token.
    pub fn add_session(
        &self,
        token_hash: &str,
        role: Role,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.write(|tx| {
            // Housekeeping on the rare write path keeps the table small without a timer.
            tx.execute(
                "DELETE FROM sessions WHERE expires_at <= ?1 OR revoked_at IS NOT NULL",
                [ms(now)],
            )?;
            tx.execute(
                "INSERT INTO sessions (token_hash, role, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, role, ms(now), ms(expires_at)],
            )?;
            Ok(())
        })
    }

    /// The live (unexpired, unrevoked) session with this token hash.
    pub fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT role, expires_at FROM sessions
                 WHERE token_hash = ?1 AND expires_at > ?2 AND revoked_at IS NULL",
            )?
            .query_row(params![token_hash, ms(now)], |r| {
                Ok(Session {
                    role: r.get(0)?,
                    expires_at: time(r.get(1)?),
                })
            })
            .optional()?)
        })
    }

    pub fn revoke_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
                params![token_hash, ms(now)],
            )? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_are_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        let now = Utc::now();
        s.add_session("h1", Role::Host, now, now + chrono::Duration::hours(1))
            .unwrap();
        s.add_session("h2", Role::Kiosk, now, now + chrono::Duration::seconds(1))
            .unwrap();
        assert_eq!(s.session("h1", now).unwrap().unwrap().role, Role::Host);
        assert!(
            s.session("h2", now + chrono::Duration::seconds(2))
                .unwrap()
                .is_none(),
            "expired"
        );
        assert!(s.revoke_session("h1", now).unwrap());
        assert!(s.session("h1", now).unwrap().is_none(), "revoked");
        assert!(s.session("nope", now).unwrap().is_none());
    }

    #[test]
    fn every_role_round_trips_through_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        let now = Utc::now();
        for (i, role) in Role::ALL.into_iter().enumerate() {
            let h = format!("h{i}");
            s.add_session(&h, role, now, now + chrono::Duration::hours(1))
                .unwrap();
            assert_eq!(s.session(&h, now).unwrap().unwrap().role, role);
        }
    }
}
