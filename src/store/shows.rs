//! The `shows`, `show_guests` and `show_events` tables: a show, its roster (guest →
//! floor marker) and its timeline. Every change re-checks the domain's rules (roster,
//! slot, status machine, one show in the room) inside its transaction.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::Guest;
use super::guests::{GUEST_COLUMNS, guest_row_at};
use super::photos::{PHOTO_COLUMNS, photo_row};
use super::{Photo, Result, Store, ms, new_id, time};
use crate::show::{
    self, GuestStatus, Refusal, ScheduleRules, ShowAction, ShowStatus, Slot, Spontaneous,
    TimelineEvent,
};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowGuest {
    /// 0-based floor marker.
    pub marker: u32,
    pub guest: Guest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// [`TimelineEvent::as_str`] of what happened.
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

impl Store {
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
                 VALUES (?1, ?2, ?3, ?4, ?6, ?5, ?5)",
                params![id, ms(slot.start), ms(slot.end), d.duration_minutes, ms(now), ShowStatus::Scheduled],
            )?;
            assign_guests(tx, &id, &d.guest_ids, now)?;
            event(tx, &id, now, TimelineEvent::Status(ShowStatus::Scheduled))?;
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
            show::check_show_editable(cur.status)?;
            let minutes = p.duration_minutes.unwrap_or(cur.duration_minutes);
            let slot = Slot::new(p.start.unwrap_or(cur.slot.start), minutes);
            if slot != cur.slot {
                check_slot_free(tx, &slot, Some(id), rules)?;
                tx.execute(
                    "UPDATE shows SET start_at = ?2, end_at = ?3, duration_minutes = ?4, updated_at = ?5 WHERE id = ?1",
                    params![id, ms(slot.start), ms(slot.end), minutes, ms(now)],
                )?;
                event(tx, id, now, TimelineEvent::Rescheduled)?;
            }
            if let Some(ids) = &p.guest_ids {
                check_guests_assignable(tx, ids, Some(id))?;
                release_guests(tx, id, GuestStatus::Waiting, now)?;
                tx.execute("DELETE FROM show_guests WHERE show_id = ?1", [id])?;
                assign_guests(tx, id, ids, now)?;
                tx.execute("UPDATE shows SET updated_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
                event(tx, id, now, TimelineEvent::GuestsChanged)?;
            }
            show_in(tx, id)
        })
    }

    /// Moves a show through its status machine and its guests with it.
    pub fn apply(&self, id: &str, action: ShowAction, now: DateTime<Utc>) -> Result<Show> {
        self.write(|tx| {
            let cur = show_in(tx, id)?;
            let live: Option<String> = tx
                .prepare_cached(
                    "SELECT id FROM shows WHERE status IN (?2, ?3, ?4) AND id <> ?1 LIMIT 1",
                )?
                .query_row(
                    params![
                        id,
                        ShowStatus::Running,
                        ShowStatus::Posing,
                        ShowStatus::Review
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            let next = show::transition(cur.status, action, live.as_deref())?;
            let started_at = match next {
                ShowStatus::Running => Some(ms(now)),
                _ => cur.started_at.map(ms),
            };
            tx.execute(
                "UPDATE shows SET status = ?2, updated_at = ?3, started_at = ?4 WHERE id = ?1",
                params![id, next, ms(now), started_at],
            )?;
            if let Some(to) = next.releases_guests_to() {
                release_guests(tx, id, to, now)?;
            }
            event(tx, id, now, TimelineEvent::Status(next))?;
            show_in(tx, id)
        })
    }
}

/// Every id must name a guest who is waiting (or already in `show`, for a patch).
fn check_guests_assignable(c: &Connection, ids: &[String], show: Option<&str>) -> Result<()> {
    for id in ids {
        let row: Option<(GuestStatus, bool)> = c
            .prepare_cached(
                "SELECT status, EXISTS (SELECT 1 FROM show_guests WHERE guest_id = ?1 AND show_id = ?2)
                 FROM guests WHERE id = ?1",
            )?
            .query_row(params![id, show], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        show::check_guest_assignable(id, row.map(|(s, _)| s), row.is_some_and(|(_, here)| here))?;
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
         WHERE status <> ?4 AND (?1 IS NULL OR id <> ?1)
           AND start_at < ?3 AND end_at > ?2",
    )?;
    // Load every show that could clash (the window widened by the gap); the rule itself is the domain's.
    let near: Vec<(String, Slot)> = st
        .query_map(
            params![
                except,
                ms(slot.start - gap),
                ms(slot.end + gap),
                ShowStatus::Cancelled
            ],
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
             WHERE status <> ?3 AND (?1 IS NULL OR id <> ?1) AND end_at > ?2",
        )?;
        let later: Vec<(String, Slot)> = st
            .query_map(
                params![except, ms(slot.start - gap), ShowStatus::Cancelled],
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
            "UPDATE guests SET status = ?3, updated_at = ?2 WHERE id = ?1",
            params![gid, ms(now), GuestStatus::Assigned],
        )?;
    }
    Ok(())
}

/// Moves the show's assigned guests to `to` (waiting when a show is cancelled or its
/// roster changes, done when it completes); the domain decides where each one lands
/// ([`show::released_status`]).
pub(super) fn release_guests(
    tx: &Transaction<'_>,
    show_id: &str,
    to: GuestStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    let ids: Vec<String> = tx
        .prepare_cached(
            "SELECT g.id FROM show_guests sg JOIN guests g ON g.id = sg.guest_id
             WHERE sg.show_id = ?1 AND g.status = ?2 ORDER BY g.created_at DESC, g.rowid DESC",
        )?
        .query_map(params![show_id, GuestStatus::Assigned], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        let waiting_again: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM guests w JOIN guests g ON g.email_key = w.email_key
                                WHERE g.id = ?1 AND w.status = ?2)",
            )?
            .query_row(params![id, GuestStatus::Waiting], |r| r.get(0))?;
        tx.execute(
            "UPDATE guests SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, show::released_status(to, waiting_again), ms(now)],
        )?;
    }
    Ok(())
}

pub(super) fn event(
    tx: &Transaction<'_>,
    show_id: &str,
    now: DateTime<Utc>,
    what: TimelineEvent,
) -> Result<()> {
    tx.execute(
        "INSERT INTO show_events (show_id, at, kind) VALUES (?1, ?2, ?3)",
        params![show_id, ms(now), what],
    )?;
    Ok(())
}

pub(super) fn show_in(c: &Connection, id: &str) -> Result<Show> {
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
                r.get(4)?,
                time(r.get(5)?),
                time(r.get(6)?),
                r.get::<_, Option<i64>>(7)?.map(time),
                r.get(8)?,
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
