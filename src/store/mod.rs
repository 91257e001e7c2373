//! The store: the only place that knows SQL. One SQLite file in WAL mode with
//! `synchronous=FULL` and foreign keys on, owned by one [`Store`] whose connection sits
//! behind one mutex, so every call is serialised.
//!
//! Invariants:
//! - every change that touches more than one row runs in one `BEGIN IMMEDIATE`
//!   transaction, and every rule is checked inside it before the first write, so a
//!   refused request leaves the database byte-for-byte unchanged;
//! - the domain rules come from [`crate::show`]: the store loads what a rule needs, asks
//!   it inside the transaction, and writes what it decided;
//! - statuses, kinds and roles cross into SQL as their enums and become text only in the
//!   `ToSql`/`FromSql` impls below;
//! - times are stored as UTC milliseconds since the epoch.
//!
//! Callers must not hold a `Store` call across an `.await`: it blocks on SQLite.
//!
//! One file per table family: [`guests`], [`shows`], [`photos`], [`sessions`], [`alerts`],
//! [`outbox`], [`cameras`] (the camera bodies and their counters), [`technician`] (the technician's conditions and alert mail), [`registrations`] (the kiosk's idempotency keys), [`retention`] (the purge), [`backup`] (the online snapshot and the checks
//! of a copy), [`migrations`] (the schema).

mod alerts;
mod backup;
mod cameras;
mod erasure;
mod guests;
mod migrations;
mod outbox;
mod photos;
mod registrations;
mod retention;
mod sessions;
mod shows;
mod stats;
mod technician;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::access::Role;
use crate::show::{
    AlertKind, Element, Energy, GuestStatus, Language, MailStatus, PhotoKind, PhotoState, Refusal,
    ShowStatus, Spontaneous, TimelineEvent,
};

pub use alerts::Alert;
pub use backup::{Contents, inspect_copy, snapshot};
pub use cameras::{BodyDelta, BodyRecoveries, CameraBody};
pub use erasure::Erased;
pub use guests::Guest;
pub use migrations::{MIGRATIONS, NewerSchema, schema_of_file};
pub use outbox::{Mail, MailCounts, MailDraft};
pub use photos::{NewPhoto, Photo};
pub use registrations::{KEY_LIFETIME, Registration};
pub use retention::Purged;
pub use sessions::Session;
pub use shows::{Show, ShowDraft, ShowGuest, ShowPatch, TimelineEntry};
pub use stats::{Counts, Stats};
pub use technician::{Channel, Notice, OpenCondition, TechDraft, TechMail};

/// The database file's name inside `storage.data_dir` (the daemon opens it; backup and
/// restore copy it).
pub const DB_FILE: &str = "cosmos.db";

/// The oldest SQLite this program runs on: 3.51.3 fixes a WAL corruption bug.
pub const MIN_SQLITE: i32 = 3_051_003;

/// What went wrong in a store call, by what the caller must do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A domain rule refused the change; nothing was written. Tell the client (4xx).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The disk is full; nothing was written. Tell the client (507) and the technician.
    #[error("the data disk is full")]
    Full,
    /// SQLite failed for a reason that is the box's fault, not the client's. Log it; 500.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Error::Full,
            _ => Error::Sqlite(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A fresh opaque id: a kind prefix and 96 random bits.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).expect("the OS random source failed");
    format!("{prefix}_{}", hex::encode(b))
}

/// The closed choices are stored as their canonical text; this is the only place that
/// turns them into text for SQL or back.
macro_rules! sql_text {
    ($($t:ty),+) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.as_str().as_bytes())))
            }
        }
        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                let s = v.as_str()?;
                <$t>::parse(s).ok_or_else(|| {
                    FromSqlError::Other(format!("unexpected {} {s:?}", stringify!($t)).into())
                })
            }
        }
    )+};
}

sql_text!(
    AlertKind,
    Energy,
    Element,
    Language,
    GuestStatus,
    ShowStatus,
    PhotoKind,
    PhotoState,
    MailStatus,
    Spontaneous,
    Role
);

impl ToSql for TimelineEvent {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(
            self.as_str().as_bytes(),
        )))
    }
}

/// Owner of the one SQLite connection.
pub struct Store {
    /// The connection; the mutex serialises every call (SQLite allows one writer anyway).
    conn: Mutex<Connection>,
    /// Where the database file lives, for health and backups.
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        if rusqlite::version_number() < MIN_SQLITE {
            bail!(
                "SQLite {} is too old: 3.51.3 or newer is required (it fixes a WAL corruption bug)",
                rusqlite::version()
            );
        }
        let mut conn = Connection::open(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .context("switching the database to WAL")?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("database {} refused WAL mode (got {mode})", path.display());
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             -- deleted rows are overwritten with zeros: the retention purge leaves no copy
             PRAGMA secure_delete = ON;",
        )
        .context("setting database pragmas")?;
        migrations::migrate(&mut conn)
            .with_context(|| format!("migrating database {}", path.display()))?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (Transaction
        // rolls back on drop), so the connection is still good.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Copies the WAL into the database file and empties it, so old frames that still
    /// hold deleted rows (with `secure_delete` zeroing the pages) are gone too. False when
    /// a reader kept it from finishing.
    fn truncate_wal(&self) -> Result<bool> {
        let (busy, _, _): (i64, i64, i64) =
            self.lock()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        Ok(busy == 0)
    }

    /// Runs `f` in one IMMEDIATE transaction: all of it is committed, or none.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.lock();
        f(&conn)
    }

    /// A cheap end-to-end check that the database answers.
    pub fn check(&self) -> Result<()> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::{Element, Energy, Language, NewGuest, ScheduleRules};

    fn guest(i: usize) -> NewGuest {
        NewGuest {
            name: format!("Guest {i}"),
            email: format!("g{i}@example.org"),
            energy: Energy::Solar,
            element: Element::Aire,
            essence: "flor".into(),
            language: Language::Es,
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn all_migrations_apply_to_a_fresh_database_with_production_settings() {
        let (dir, s) = open();
        let c = s.lock();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 2, "FULL");
        let fk: i64 = c
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        drop(c);
        drop(s);
        // reopening is a no-op
        Store::open(&dir.path().join("t.db")).unwrap();
    }

    #[test]
    fn the_bundled_sqlite_has_the_wal_fix() {
        assert!(
            rusqlite::version_number() >= MIN_SQLITE,
            "{}",
            rusqlite::version()
        );
    }

    #[test]
    fn a_database_from_a_newer_cosmosd_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(Store::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 999).unwrap();
        drop(c);
        let e = Store::open(&path).err().unwrap();
        assert!(format!("{e:#}").contains("newer"), "{e:#}");
    }

    #[test]
    fn the_database_refuses_a_guest_in_two_active_shows() {
        let (_d, s) = open();
        let now = Utc::now();
        let g = s.add_guest(&guest(0), now).unwrap();
        let rules = ScheduleRules {
            changeover: chrono::Duration::minutes(5),
            max_guests: 4,
            default_minutes: 15,
        };
        let a = s
            .create_show(
                &ShowDraft {
                    start: now + chrono::Duration::hours(1),
                    duration_minutes: 15,
                    guest_ids: vec![g.id.clone()],
                },
                &rules,
                now,
            )
            .unwrap();
        // Bypass the domain check: the trigger is the last line of defence.
        let c = s.lock();
        c.execute(
            "INSERT INTO shows (id, start_at, end_at, duration_minutes, status, created_at, updated_at)
             VALUES ('shw_b', 0, 1, 1, 'scheduled', 0, 0)",
            [],
        )
        .unwrap();
        let e = c
            .execute(
                "INSERT INTO show_guests (show_id, guest_id, marker) VALUES ('shw_b', ?1, 0)",
                [&g.id],
            )
            .unwrap_err();
        assert!(e.to_string().contains("already in an active show"), "{e}");
        drop(c);
        assert_eq!(s.show(&a.id).unwrap().guests.len(), 1);
    }

    #[test]
    fn a_full_disk_refuses_the_write_and_keeps_what_was_there() {
        let (_d, s) = open();
        let now = Utc::now();
        let first = s.add_guest(&guest(0), now).unwrap();
        // Fault injection: cap the file at its current size, as a full disk would.
        {
            let c = s.lock();
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
            c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .unwrap();
        }
        let mut full = None;
        for i in 1..2000 {
            match s.add_guest(&guest(i), now) {
                Ok(_) => {}
                Err(e) => {
                    full = Some(e);
                    break;
                }
            }
        }
        assert!(matches!(full, Some(Error::Full)), "{full:?}");
        assert_eq!(s.guest(&first.id).unwrap(), first, "earlier data is intact");
        let ok: String = s
            .lock()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
}
