//! The `photos` table and the show's spontaneous-photo claim: a photo's row is written
//! after its files exist, and the domain decides what each photo does to its show.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::shows::{event, show_in};
use super::{Result, Show, Store, ms, time};
use crate::show::{self, PhotoKind, PhotoState, Refusal, ShowStatus, Spontaneous, TimelineEvent};

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

pub(super) const PHOTO_COLUMNS: &str =
    "id, show_id, kind, state, name, captured_at, width, height, bytes";

pub(super) fn photo_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Photo> {
    Ok(Photo {
        id: r.get(0)?,
        show_id: r.get(1)?,
        kind: r.get(2)?,
        state: r.get(3)?,
        name: r.get(4)?,
        captured_at: time(r.get(5)?),
        width: r.get(6)?,
        height: r.get(7)?,
        bytes: r.get::<_, i64>(8)? as u64,
    })
}

pub(super) fn photo_in(c: &Connection, id: &str) -> Result<Photo> {
    c.prepare_cached(&format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE id = ?1"))?
        .query_row([id], photo_row)
        .optional()?
        .ok_or_else(|| Refusal::not_found("photo").into())
}

impl Store {
    /// Claims the show's spontaneous photo (pending/failed → taking), so that the timer and
    /// a trigger never both shoot it.
    pub fn claim_spontaneous(&self, show_id: &str, now: DateTime<Utc>) -> Result<Show> {
        self.write(|tx| {
            let cur = show_in(tx, show_id)?;
            show::check_spontaneous(cur.status, cur.spontaneous)?;
            tx.execute(
                "UPDATE shows SET spontaneous = ?3, updated_at = ?2 WHERE id = ?1",
                params![show_id, ms(now), Spontaneous::Taking],
            )?;
            show_in(tx, show_id)
        })
    }

    /// The claimed spontaneous photo could not be taken.
    pub fn spontaneous_failed(&self, show_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE shows SET spontaneous = ?3, updated_at = ?2 WHERE id = ?1 AND spontaneous = ?4",
                params![show_id, ms(now), Spontaneous::Failed, Spontaneous::Taking],
            )?;
            event(tx, show_id, now, TimelineEvent::SpontaneousFailed)
        })
    }

    /// A posed capture failed (the camera, or an unreadable photo): on the show's
    /// timeline, for the night's numbers.
    pub fn capture_failed(&self, show_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| event(tx, show_id, now, TimelineEvent::CaptureFailed))
    }

    /// Records a photo whose files exist; [`show::record_photo`] says what it does to the
    /// show. A posed one replaces the show's *pending* posed photos (a retake), which are
    /// returned so their files can be removed.
    pub fn add_photo(&self, p: &NewPhoto, now: DateTime<Utc>) -> Result<(Photo, Vec<Photo>)> {
        self.write(|tx| {
            let cur = show_in(tx, &p.show_id)?;
            let pending_posed: Vec<Photo> = cur
                .photos
                .iter()
                .filter(|ph| ph.kind == PhotoKind::Posed && ph.state == PhotoState::Pending)
                .cloned()
                .collect();
            let effect =
                show::record_photo(p.kind, cur.status, cur.spontaneous, pending_posed.len())?;
            let replaced = if effect.replaces_pending_posed {
                pending_posed
            } else {
                Vec::new()
            };
            for r in &replaced {
                tx.execute("DELETE FROM photos WHERE id = ?1", [&r.id])?;
            }
            tx.execute(
                "UPDATE shows SET status = ?2, spontaneous = ?3, updated_at = ?4 WHERE id = ?1",
                params![p.show_id, effect.status, effect.spontaneous, ms(now)],
            )?;
            tx.execute(
                "INSERT INTO photos (id, show_id, kind, state, name, captured_at, width, height, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    p.id,
                    p.show_id,
                    p.kind,
                    PhotoState::Pending,
                    p.name,
                    ms(p.captured_at),
                    p.width,
                    p.height,
                    p.bytes as i64
                ],
            )?;
            event(tx, &p.show_id, now, effect.event)?;
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
            tx.execute(
                "UPDATE photos SET state = ?2 WHERE id = ?1",
                params![id, PhotoState::Approved],
            )?;
            event(tx, &p.show_id, now, TimelineEvent::PhotoApproved)?;
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
            event(tx, &p.show_id, now, TimelineEvent::PhotoDeleted)?;
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
                "UPDATE shows SET spontaneous = ?1 WHERE spontaneous = ?2",
                params![Spontaneous::Pending, Spontaneous::Taking],
            )?;
            // The shows in which the domain lets the spontaneous photo be taken.
            let mut st = tx.prepare_cached(
                "SELECT id, status, started_at FROM shows
                 WHERE spontaneous = ?1 AND started_at IS NOT NULL",
            )?;
            let rows = st.query_map([Spontaneous::Pending], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, ShowStatus>(1)?,
                    time(r.get(2)?),
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, status, started) = row?;
                if show::check_spontaneous(status, Spontaneous::Pending).is_ok() {
                    out.push((id, started));
                }
            }
            Ok(out)
        })
    }
}
