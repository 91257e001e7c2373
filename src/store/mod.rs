//! The store: the only place that knows SQL. One SQLite file in WAL mode with
//! `synchronous=FULL` and foreign keys on, owned by one [`Store`] whose connection sits
//! behind one mutex, so every call is serialised.
//!
//! Invariants:
//! - every change that touches more than one row runs in one `BEGIN IMMEDIATE`
//!   transaction, and every rule is checked inside it before the first write, so a
//!   refused request leaves the database byte-for-byte unchanged;
//! - the domain rules come from [`crate::show`]; this module only loads what they need;
//! - times are stored as UTC milliseconds since the epoch.
//!
//! Callers must not hold a `Store` call across an `.await`: it blocks on SQLite.

mod migrations;
mod outbox;
mod retention;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::show::{
    self, Element, Energy, GuestStatus, Language, NewGuest, PhotoKind, PhotoState, Refusal,
    ScheduleRules, ShowAction, ShowStatus, Slot, Spontaneous,
};

pub use migrations::MIGRATIONS;
pub use outbox::{Mail, MailCounts, MailDraft};
pub use retention::Purged;

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

/// A guest as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    pub id: String,
    pub name: String,
    pub email: String,
    pub energy: Energy,
    pub element: Element,
    pub essence: String,
    pub language: Language,
    pub status: GuestStatus,
    /// The active (or completed) show holding the guest, if any.
    pub show_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A show with its guests (in marker order) and its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Show {
    pub id: String,
    pub slot: Slot,
    pub duration_minutes: u32,
    pub status: ShowStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub guests: Vec<ShowGuest>,
    pub timeline: Vec<TimelineEntry>,
    /// When the show went running; the spontaneous timer counts from here.
    pub started_at: Option<DateTime<Utc>>,
    pub spontaneous: Spontaneous,
    pub photos: Vec<Photo>,
}

/// A photo as stored (its files live under `photos/<show_id>/<name>…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub id: String,
    pub show_id: String,
    pub kind: PhotoKind,
    pub state: PhotoState,
    /// File stem: unique, says show and kind.
    pub name: String,
    pub captured_at: DateTime<Utc>,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// A photo whose files are already on disk, to be recorded.
#[derive(Debug, Clone)]
pub struct NewPhoto {
    pub id: String,
    pub show_id: String,
    pub kind: PhotoKind,
    pub name: String,
    pub captured_at: DateTime<Utc>,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowGuest {
    /// 0-based floor marker.
    pub marker: u32,
    pub guest: Guest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub event: String,
}

/// A new show as the host asked for it (already parsed; the rules are checked here).
#[derive(Debug, Clone)]
pub struct ShowDraft {
    pub start: DateTime<Utc>,
    pub duration_minutes: u32,
    pub guest_ids: Vec<String>,
}

/// A change to a scheduled show; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ShowPatch {
    pub start: Option<DateTime<Utc>>,
    pub duration_minutes: Option<u32>,
    pub guest_ids: Option<Vec<String>>,
}

/// A live login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub role: String,
    pub expires_at: DateTime<Utc>,
}

/// Owner of the one SQLite connection.
pub struct Store {
    /// The connection; the mutex serialises every call (SQLite allows one writer anyway).
    conn: Mutex<Connection>,
    /// Where the database file lives, for health and backups.
    path: PathBuf,
}

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

fn parse_enum<T>(s: String, parse: fn(&str) -> Option<T>, col: usize) -> rusqlite::Result<T> {
    parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Text,
            format!("unexpected value {s:?}").into(),
        )
    })
}

const GUEST_COLUMNS: &str = "g.id, g.name, g.email, g.energy, g.element, g.essence, g.language, g.status, \
     g.created_at, g.updated_at, \
     (SELECT sg.show_id FROM show_guests sg JOIN shows s ON s.id = sg.show_id \
      WHERE sg.guest_id = g.id AND s.status <> 'cancelled' ORDER BY s.start_at DESC LIMIT 1)";

fn guest_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Guest> {
    guest_row_at(r, 0)
}

/// Reads the `GUEST_COLUMNS` starting at column `at`.
fn guest_row_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Guest> {
    Ok(Guest {
        id: r.get(at)?,
        name: r.get(at + 1)?,
        email: r.get(at + 2)?,
        energy: parse_enum(r.get(at + 3)?, Energy::parse, at + 3)?,
        element: parse_enum(r.get(at + 4)?, Element::parse, at + 4)?,
        essence: r.get(at + 5)?,
        language: parse_enum(r.get(at + 6)?, Language::parse, at + 6)?,
        status: parse_enum(r.get(at + 7)?, GuestStatus::parse, at + 7)?,
        created_at: time(r.get(at + 8)?),
        updated_at: time(r.get(at + 9)?),
        show_id: r.get(at + 10)?,
    })
}

const PHOTO_COLUMNS: &str = "id, show_id, kind, state, name, captured_at, width, height, bytes";

fn photo_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Photo> {
    Ok(Photo {
        id: r.get(0)?,
        show_id: r.get(1)?,
        kind: parse_enum(r.get(2)?, PhotoKind::parse, 2)?,
        state: parse_enum(r.get(3)?, PhotoState::parse, 3)?,
        name: r.get(4)?,
        captured_at: time(r.get(5)?),
        width: r.get(6)?,
        height: r.get(7)?,
        bytes: r.get::<_, i64>(8)? as u64,
    })
}

fn photo_in(c: &Connection, id: &str) -> Result<Photo> {
    c.prepare_cached(&format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE id = ?1"))?
        .query_row([id], photo_row)
        .optional()?
        .ok_or_else(|| Refusal::not_found("photo").into())
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
        migrate(&mut conn).with_context(|| format!("migrating database {}", path.display()))?;
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

    // ---- guests ------------------------------------------------------------------

    /// Adds a questionnaire to the waitlist.
    pub fn add_guest(&self, g: &NewGuest, now: DateTime<Utc>) -> Result<Guest> {
        let id = new_id("gst");
        self.write(|tx| {
            check_email_free(tx, &g.email, None)?;
            tx.execute(
                "INSERT INTO guests (id, name, email, email_key, energy, element, essence, language,
                                     consent_at, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'waiting', ?9, ?9)",
                params![
                    id,
                    g.name,
                    g.email,
                    show::email_key(&g.email),
                    g.energy.as_str(),
                    g.element.as_str(),
                    g.essence,
                    g.language.as_str(),
                    ms(now)
                ],
            )?;
            guest_in(tx, &id)
        })
    }

    /// Guests, oldest first; with `status`, only those.
    pub fn guests(&self, status: Option<GuestStatus>) -> Result<Vec<Guest>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {GUEST_COLUMNS} FROM guests g WHERE (?1 IS NULL OR g.status = ?1)
                 ORDER BY g.created_at, g.rowid"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([status.map(|s| s.as_str())], guest_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn guest(&self, id: &str) -> Result<Guest> {
        self.read(|c| guest_in(c, id))
    }

    /// Corrects a guest's name and/or email (both already validated).
    pub fn update_guest(
        &self,
        id: &str,
        name: Option<&str>,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Guest> {
        self.write(|tx| {
            let g = guest_in(tx, id)?;
            if !matches!(g.status, GuestStatus::Waiting | GuestStatus::Assigned) {
                return Err(Refusal::conflict(
                    "guest_not_editable",
                    format!("a {} guest can no longer be changed", g.status.as_str()),
                )
                .into());
            }
            if let Some(email) = email
                && g.status == GuestStatus::Waiting
            {
                check_email_free(tx, email, Some(id))?;
            }
            tx.execute(
                "UPDATE guests SET name = coalesce(?2, name), email = coalesce(?3, email),
                        email_key = coalesce(?4, email_key), updated_at = ?5 WHERE id = ?1",
                params![id, name, email, email.map(show::email_key), ms(now)],
            )?;
            guest_in(tx, id)
        })
    }

    /// Takes a waiting guest off the waitlist.
    pub fn cancel_guest(&self, id: &str, now: DateTime<Utc>) -> Result<Guest> {
        self.write(|tx| {
            let g = guest_in(tx, id)?;
            show::check_guest_cancellable(g.status)?;
            tx.execute(
                "UPDATE guests SET status = 'cancelled', updated_at = ?2 WHERE id = ?1",
                params![id, ms(now)],
            )?;
            guest_in(tx, id)
        })
    }

    // ---- shows -------------------------------------------------------------------

    /// Schedules a show: roster, slot and every guest's status are checked in one transaction.
    pub fn create_show(
        &self,
        d: &ShowDraft,
        rules: &ScheduleRules,
        now: DateTime<Utc>,
    ) -> Result<Show> {
        show::validate_roster(&d.guest_ids, rules)?;
        let id = new_id("shw");
        let slot = Slot::new(d.start, d.duration_minutes);
        self.write(|tx| {
            check_guests_assignable(tx, &d.guest_ids, None)?;
            check_slot_free(tx, &slot, None, rules)?;
            tx.execute(
                "INSERT INTO shows (id, start_at, end_at, duration_minutes, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'scheduled', ?5, ?5)",
                params![id, ms(slot.start), ms(slot.end), d.duration_minutes, ms(now)],
            )?;
            assign_guests(tx, &id, &d.guest_ids, now)?;
            event(tx, &id, now, "scheduled")?;
            show_in(tx, &id)
        })
    }

    /// Shows whose slot meets [from, to), by start time; open ends are unbounded.
    pub fn shows(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<Show>> {
        self.read(|c| {
            let ids: Vec<String> = {
                let mut st = c.prepare_cached(
                    "SELECT id FROM shows WHERE (?1 IS NULL OR end_at > ?1) AND (?2 IS NULL OR start_at < ?2)
                     ORDER BY start_at, rowid",
                )?;
                st.query_map([from.map(ms), to.map(ms)], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            ids.iter().map(|id| show_in(c, id)).collect()
        })
    }

    pub fn show(&self, id: &str) -> Result<Show> {
        self.read(|c| show_in(c, id))
    }

    /// Changes a scheduled show's time, length or guests; everything is re-checked.
    pub fn patch_show(
        &self,
        id: &str,
        p: &ShowPatch,
        rules: &ScheduleRules,
        now: DateTime<Utc>,
    ) -> Result<Show> {
        if let Some(ids) = &p.guest_ids {
            show::validate_roster(ids, rules)?;
        }
        self.write(|tx| {
            let cur = show_in(tx, id)?;
            if cur.status != ShowStatus::Scheduled {
                return Err(Refusal::conflict(
                    "show_not_scheduled",
                    format!("a {} show can no longer be changed", cur.status.as_str()),
                )
                .into());
            }
            let minutes = p.duration_minutes.unwrap_or(cur.duration_minutes);
            let slot = Slot::new(p.start.unwrap_or(cur.slot.start), minutes);
            if slot != cur.slot {
                check_slot_free(tx, &slot, Some(id), rules)?;
                tx.execute(
                    "UPDATE shows SET start_at = ?2, end_at = ?3, duration_minutes = ?4, updated_at = ?5 WHERE id = ?1",
                    params![id, ms(slot.start), ms(slot.end), minutes, ms(now)],
                )?;
                event(tx, id, now, "rescheduled")?;
            }
            if let Some(ids) = &p.guest_ids {
                check_guests_assignable(tx, ids, Some(id))?;
                release_guests(tx, id, "waiting", now)?;
                tx.execute("DELETE FROM show_guests WHERE show_id = ?1", [id])?;
                assign_guests(tx, id, ids, now)?;
                tx.execute("UPDATE shows SET updated_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
                event(tx, id, now, "guests_changed")?;
            }
            show_in(tx, id)
        })
    }

    /// Moves a show through its status machine and its guests with it.
    pub fn apply(&self, id: &str, action: ShowAction, now: DateTime<Utc>) -> Result<Show> {
        self.write(|tx| {
            let cur = show_in(tx, id)?;
            let next = cur.status.apply(action)?;
            if action == ShowAction::Start {
                let live: Option<String> = tx
                    .query_row(
                        "SELECT id FROM shows WHERE status IN ('running', 'posing', 'review') AND id <> ?1 LIMIT 1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(other) = live {
                    return Err(Refusal::conflict(
                        "another_show_live",
                        format!("show {other} is still in the room; finish or cancel it first"),
                    )
                    .into());
                }
            }
            tx.execute(
                "UPDATE shows SET status = ?2, updated_at = ?3,
                        started_at = CASE WHEN ?2 = 'running' THEN ?3 ELSE started_at END
                 WHERE id = ?1",
                params![id, next.as_str(), ms(now)],
            )?;
            match next {
                ShowStatus::Cancelled => release_guests(tx, id, "waiting", now)?,
                ShowStatus::Completed => release_guests(tx, id, "done", now)?,
                _ => {}
            }
            event(tx, id, now, next.as_str())?;
            show_in(tx, id)
        })
    }

    // ---- photos ------------------------------------------------------------------

    /// Claims the show's spontaneous photo (pending/failed → taking), so that the timer and
    /// a trigger never both shoot it.
    pub fn claim_spontaneous(&self, show_id: &str, now: DateTime<Utc>) -> Result<Show> {
        self.write(|tx| {
            let cur = show_in(tx, show_id)?;
            show::check_spontaneous(cur.status, cur.spontaneous)?;
            tx.execute(
                "UPDATE shows SET spontaneous = 'taking', updated_at = ?2 WHERE id = ?1",
                params![show_id, ms(now)],
            )?;
            show_in(tx, show_id)
        })
    }

    /// The claimed spontaneous photo could not be taken.
    pub fn spontaneous_failed(&self, show_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE shows SET spontaneous = 'failed', updated_at = ?2 WHERE id = ?1 AND spontaneous = 'taking'",
                params![show_id, ms(now)],
            )?;
            event(tx, show_id, now, "spontaneous_failed")
        })
    }

    /// Records a photo whose files exist. A spontaneous one completes the claim; a posed
    /// one moves the show to review and replaces the show's *pending* posed photos (a
    /// retake), which are returned so their files can be removed.
    pub fn add_photo(&self, p: &NewPhoto, now: DateTime<Utc>) -> Result<(Photo, Vec<Photo>)> {
        self.write(|tx| {
            let cur = show_in(tx, &p.show_id)?;
            let mut replaced = Vec::new();
            match p.kind {
                PhotoKind::Spontaneous => {
                    if cur.spontaneous != Spontaneous::Taking {
                        return Err(Refusal::conflict("spontaneous_not_claimed", "the spontaneous photo was not claimed").into());
                    }
                    tx.execute(
                        "UPDATE shows SET spontaneous = 'taken', updated_at = ?2 WHERE id = ?1",
                        params![p.show_id, ms(now)],
                    )?;
                }
                PhotoKind::Posed => {
                    let next = cur.status.apply(ShowAction::Capture)?;
                    replaced = cur
                        .photos
                        .iter()
                        .filter(|ph| ph.kind == PhotoKind::Posed && ph.state == PhotoState::Pending)
                        .cloned()
                        .collect();
                    for r in &replaced {
                        tx.execute("DELETE FROM photos WHERE id = ?1", [&r.id])?;
                    }
                    tx.execute(
                        "UPDATE shows SET status = ?2, updated_at = ?3 WHERE id = ?1",
                        params![p.show_id, next.as_str(), ms(now)],
                    )?;
                }
            }
            tx.execute(
                "INSERT INTO photos (id, show_id, kind, state, name, captured_at, width, height, bytes)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8)",
                params![p.id, p.show_id, p.kind.as_str(), p.name, ms(p.captured_at), p.width, p.height, p.bytes as i64],
            )?;
            let what = match p.kind {
                PhotoKind::Spontaneous => "spontaneous_taken",
                PhotoKind::Posed if replaced.is_empty() && cur.status == ShowStatus::Posing => "captured",
                PhotoKind::Posed => "retaken",
            };
            event(tx, &p.show_id, now, what)?;
            Ok((photo_in(tx, &p.id)?, replaced))
        })
    }

    pub fn photo(&self, id: &str) -> Result<Photo> {
        self.read(|c| photo_in(c, id))
    }

    pub fn approve_photo(&self, id: &str, now: DateTime<Utc>) -> Result<Photo> {
        self.write(|tx| {
            let p = photo_in(tx, id)?;
            let s = show_in(tx, &p.show_id)?;
            show::check_photo_editable(s.status)?;
            tx.execute("UPDATE photos SET state = 'approved' WHERE id = ?1", [id])?;
            event(tx, &p.show_id, now, "photo_approved")?;
            photo_in(tx, id)
        })
    }

    /// Deletes a photo's row; the caller removes its files afterwards.
    pub fn delete_photo(&self, id: &str, now: DateTime<Utc>) -> Result<Photo> {
        self.write(|tx| {
            let p = photo_in(tx, id)?;
            let s = show_in(tx, &p.show_id)?;
            show::check_photo_editable(s.status)?;
            tx.execute("DELETE FROM photos WHERE id = ?1", [id])?;
            event(tx, &p.show_id, now, "photo_deleted")?;
            Ok(p)
        })
    }

    /// Every photo row, for the start-up file check.
    pub fn all_photos(&self) -> Result<Vec<Photo>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {PHOTO_COLUMNS} FROM photos ORDER BY captured_at"
            ))?;
            let rows = st.query_map([], photo_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Shows in the room still waiting for their spontaneous photo, with their start
    /// time, for the timeline after a restart. A claim that a crash interrupted
    /// (`taking`) is released again.
    pub fn awaiting_spontaneous(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        self.write(|tx| {
            tx.execute(
                "UPDATE shows SET spontaneous = 'pending' WHERE spontaneous = 'taking'",
                [],
            )?;
            let mut st = tx.prepare_cached(
                "SELECT id, started_at FROM shows
                 WHERE status IN ('running', 'posing') AND spontaneous = 'pending' AND started_at IS NOT NULL",
            )?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, time(r.get(1)?))))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    // ---- sessions ----------------------------------------------------------------

    pub fn add_session(
        &self,
        token_hash: &str,
        role: &str,
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

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        bail!(
            "the database has schema version {current}, newer than this cosmosd knows ({}); \
             run the newer cosmosd or restore a backup",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        log::info!(migration = i + 1; "database migrated to schema version {}", i + 1);
    }
    Ok(())
}

fn guest_in(c: &Connection, id: &str) -> Result<Guest> {
    c.prepare_cached(&format!(
        "SELECT {GUEST_COLUMNS} FROM guests g WHERE g.id = ?1"
    ))?
    .query_row([id], guest_row)
    .optional()?
    .ok_or_else(|| Refusal::not_found("guest").into())
}

fn check_email_free(c: &Connection, email: &str, except: Option<&str>) -> Result<()> {
    let taken: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM guests WHERE email_key = ?1 AND status = 'waiting'
                            AND (?2 IS NULL OR id <> ?2))",
        )?
        .query_row(params![show::email_key(email), except], |r| r.get(0))?;
    if taken {
        return Err(Refusal::conflict(
            "duplicate_waiting_email",
            "a guest with this email is already waiting",
        )
        .with_field("email")
        .into());
    }
    Ok(())
}

/// Every id must name a guest who is waiting (or already in `show`, for a patch).
fn check_guests_assignable(c: &Connection, ids: &[String], show: Option<&str>) -> Result<()> {
    for id in ids {
        let row: Option<(String, bool)> = c
            .prepare_cached(
                "SELECT status, EXISTS (SELECT 1 FROM show_guests WHERE guest_id = ?1 AND show_id = ?2)
                 FROM guests WHERE id = ?1",
            )?
            .query_row(params![id, show], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((status, in_this_show)) = row else {
            return Err(
                Refusal::invalid("guest_ids", "unknown_guest", format!("no guest {id}")).into(),
            );
        };
        if in_this_show {
            continue;
        }
        let status = parse_enum(status, GuestStatus::parse, 0)?;
        show::check_guest_assignable(id, status)?;
    }
    Ok(())
}

fn check_slot_free(
    c: &Connection,
    slot: &Slot,
    except: Option<&str>,
    rules: &ScheduleRules,
) -> Result<()> {
    let gap = rules.changeover;
    let mut st = c.prepare_cached(
        "SELECT id, start_at, end_at FROM shows
         WHERE status <> 'cancelled' AND (?1 IS NULL OR id <> ?1)
           AND start_at < ?3 AND end_at > ?2",
    )?;
    // Load every show that could clash (the window widened by the gap); the rule itself is the domain's.
    let near: Vec<(String, Slot)> = st
        .query_map(
            params![except, ms(slot.start - gap), ms(slot.end + gap)],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Slot {
                        start: time(r.get(1)?),
                        end: time(r.get(2)?),
                    },
                ))
            },
        )?
        .collect::<rusqlite::Result<_>>()?;
    // With a clash, the domain proposes the next free start, which needs every later show.
    if near.iter().any(|(_, s)| slot.clashes(s, gap)) {
        let mut st = c.prepare_cached(
            "SELECT id, start_at, end_at FROM shows
             WHERE status <> 'cancelled' AND (?1 IS NULL OR id <> ?1) AND end_at > ?2",
        )?;
        let later: Vec<(String, Slot)> = st
            .query_map(params![except, ms(slot.start - gap)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Slot {
                        start: time(r.get(1)?),
                        end: time(r.get(2)?),
                    },
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        show::check_slot(slot, later.iter().map(|(id, s)| (id.as_str(), *s)), rules)?;
    }
    Ok(())
}

fn assign_guests(
    tx: &Transaction<'_>,
    show_id: &str,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    for (marker, gid) in ids.iter().enumerate() {
        tx.execute(
            "INSERT INTO show_guests (show_id, guest_id, marker) VALUES (?1, ?2, ?3)",
            params![show_id, gid, marker as i64],
        )?;
        tx.execute(
            "UPDATE guests SET status = 'assigned', updated_at = ?2 WHERE id = ?1",
            params![gid, ms(now)],
        )?;
    }
    Ok(())
}

/// Moves the show's guests to `status` ("waiting" when a show is cancelled or changed,
/// "done" when it completes). A guest returning to the waitlist whose email is already
/// waiting again (they re-registered meanwhile) is superseded by that entry and marked
/// cancelled instead, so the one-waiting-per-email rule holds.
fn release_guests(
    tx: &Transaction<'_>,
    show_id: &str,
    status: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let ids: Vec<String> = tx
        .prepare_cached(
            "SELECT g.id FROM show_guests sg JOIN guests g ON g.id = sg.guest_id
             WHERE sg.show_id = ?1 AND g.status = 'assigned' ORDER BY g.created_at DESC, g.rowid DESC",
        )?
        .query_map([show_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        let to = if status == "waiting" {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM guests w JOIN guests g ON g.email_key = w.email_key
                                WHERE g.id = ?1 AND w.status = 'waiting')",
                [&id],
                |r| r.get(0),
            )?;
            if taken { "cancelled" } else { "waiting" }
        } else {
            status
        };
        tx.execute(
            "UPDATE guests SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, to, ms(now)],
        )?;
    }
    Ok(())
}

fn event(tx: &Transaction<'_>, show_id: &str, now: DateTime<Utc>, kind: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO show_events (show_id, at, kind) VALUES (?1, ?2, ?3)",
        params![show_id, ms(now), kind],
    )?;
    Ok(())
}

fn show_in(c: &Connection, id: &str) -> Result<Show> {
    let head = c
        .prepare_cached(
            "SELECT id, start_at, end_at, duration_minutes, status, created_at, updated_at, started_at, spontaneous
             FROM shows WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Slot {
                    start: time(r.get(1)?),
                    end: time(r.get(2)?),
                },
                r.get::<_, u32>(3)?,
                parse_enum(r.get(4)?, ShowStatus::parse, 4)?,
                time(r.get(5)?),
                time(r.get(6)?),
                r.get::<_, Option<i64>>(7)?.map(time),
                parse_enum(r.get(8)?, Spontaneous::parse, 8)?,
            ))
        })
        .optional()?
        .ok_or_else(|| Refusal::not_found("show"))?;
    let photos = c
        .prepare_cached(&format!(
            "SELECT {PHOTO_COLUMNS} FROM photos WHERE show_id = ?1 ORDER BY captured_at, rowid"
        ))?
        .query_map([id], photo_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let guests = c
        .prepare_cached(&format!(
            "SELECT sg.marker, {GUEST_COLUMNS} FROM show_guests sg JOIN guests g ON g.id = sg.guest_id
             WHERE sg.show_id = ?1 ORDER BY sg.marker"
        ))?
        .query_map([id], |r| {
            Ok(ShowGuest {
                marker: r.get(0)?,
                guest: guest_row_at(r, 1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let timeline = c
        .prepare_cached("SELECT at, kind FROM show_events WHERE show_id = ?1 ORDER BY id")?
        .query_map([id], |r| {
            Ok(TimelineEntry {
                at: time(r.get(0)?),
                event: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Show {
        id: head.0,
        slot: head.1,
        duration_minutes: head.2,
        status: head.3,
        created_at: head.4,
        updated_at: head.5,
        guests,
        timeline,
        started_at: head.6,
        spontaneous: head.7,
        photos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::{Element, Energy, Language, NewGuest};

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
    fn sessions_expire_and_are_revoked() {
        let (_d, s) = open();
        let now = Utc::now();
        s.add_session("h1", "host", now, now + chrono::Duration::hours(1))
            .unwrap();
        s.add_session("h2", "kiosk", now, now + chrono::Duration::seconds(1))
            .unwrap();
        assert_eq!(s.session("h1", now).unwrap().unwrap().role, "host");
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
