//! The `guests` table: the waitlist and everyone who ever filled in the questionnaire.
//! The rules (who may be edited or cancelled, one waiting entry per email) are the
//! domain's; this file loads what they need and writes what they allow.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, Store, ms, new_id, time};
use crate::show::{self, Element, Energy, GuestStatus, Language, MailStatus, NewGuest, Refusal};

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

/// The columns [`guest_row_at`] reads, for a query over `guests g`.
pub(super) const GUEST_COLUMNS: &str = "g.id, g.name, g.email, g.energy, g.element, g.essence, g.language, g.status, \
     g.created_at, g.updated_at, \
     (SELECT sg.show_id FROM show_guests sg JOIN shows s ON s.id = sg.show_id \
      WHERE sg.guest_id = g.id AND s.status <> 'cancelled' ORDER BY s.start_at DESC LIMIT 1)";

fn guest_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Guest> {
    guest_row_at(r, 0)
}

/// Reads the `GUEST_COLUMNS` starting at column `at`.
pub(super) fn guest_row_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Guest> {
    Ok(Guest {
        id: r.get(at)?,
        name: r.get(at + 1)?,
        email: r.get(at + 2)?,
        energy: r.get(at + 3)?,
        element: r.get(at + 4)?,
        essence: r.get(at + 5)?,
        language: r.get(at + 6)?,
        status: r.get(at + 7)?,
        created_at: time(r.get(at + 8)?),
        updated_at: time(r.get(at + 9)?),
        show_id: r.get(at + 10)?,
    })
}

pub(super) fn guest_in(c: &Connection, id: &str) -> Result<Guest> {
    c.prepare_cached(&format!(
        "SELECT {GUEST_COLUMNS} FROM guests g WHERE g.id = ?1"
    ))?
    .query_row([id], guest_row)
    .optional()?
    .ok_or_else(|| Refusal::not_found("guest").into())
}

/// Whether a guest other than `except` holding `email` is waiting (see
/// [`GuestStatus::holds_email`]).
pub(super) fn email_waiting(c: &Connection, email: &str, except: Option<&str>) -> Result<bool> {
    Ok(c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM guests WHERE email_key = ?1 AND status = ?3
                        AND (?2 IS NULL OR id <> ?2))",
    )?
    .query_row(
        params![show::email_key(email), except, GuestStatus::Waiting],
        |r| r.get(0),
    )?)
}

/// Writes a new waiting guest (the caller has checked the email is free).
pub(super) fn insert_guest(
    c: &Connection,
    id: &str,
    g: &NewGuest,
    now: DateTime<Utc>,
) -> Result<()> {
    c.execute(
        "INSERT INTO guests (id, name, email, email_key, energy, element, essence, language,
                             consent_at, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9, ?9)",
        params![
            id,
            g.name,
            g.email,
            show::email_key(&g.email),
            g.energy,
            g.element,
            g.essence,
            g.language,
            ms(now),
            GuestStatus::Waiting,
        ],
    )?;
    Ok(())
}

/// The guest's messages the relay does not have yet take the corrected address (which
/// ones is the domain's rule); sent ones stay as they went out.
fn readdress_mail(c: &Connection, guest_id: &str, email: &str) -> Result<()> {
    let mails: Vec<(String, MailStatus)> = c
        .prepare_cached("SELECT id, status FROM outbox WHERE guest_id = ?1")?
        .query_map([guest_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, status) in mails {
        if show::mail_follows_new_address(status) {
            c.execute(
                "UPDATE outbox SET recipient = ?2 WHERE id = ?1",
                params![id, email],
            )?;
        }
    }
    Ok(())
}

impl Store {
    /// Adds a questionnaire to the waitlist.
    pub fn add_guest(&self, g: &NewGuest, now: DateTime<Utc>) -> Result<Guest> {
        let id = new_id("gst");
        self.write(|tx| {
            show::check_email_free(email_waiting(tx, &g.email, None)?)?;
            insert_guest(tx, &id, g, now)?;
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
            let rows = st.query_map([status], guest_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn guest(&self, id: &str) -> Result<Guest> {
        self.read(|c| guest_in(c, id))
    }

    /// Corrects a guest's name and/or email (both already validated); their unsent
    /// messages follow a new email in the same transaction.
    pub fn update_guest(
        &self,
        id: &str,
        name: Option<&str>,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Guest> {
        self.write(|tx| {
            let g = guest_in(tx, id)?;
            show::check_guest_editable(g.status)?;
            if let Some(email) = email
                && g.status.holds_email()
            {
                show::check_email_free(email_waiting(tx, email, Some(id))?)?;
            }
            tx.execute(
                "UPDATE guests SET name = coalesce(?2, name), email = coalesce(?3, email),
                        email_key = coalesce(?4, email_key), updated_at = ?5 WHERE id = ?1",
                params![id, name, email, email.map(show::email_key), ms(now)],
            )?;
            if let Some(email) = email {
                readdress_mail(tx, id, email)?;
            }
            guest_in(tx, id)
        })
    }

    /// Takes a waiting guest off the waitlist.
    pub fn cancel_guest(&self, id: &str, now: DateTime<Utc>) -> Result<Guest> {
        self.write(|tx| {
            let g = guest_in(tx, id)?;
            show::check_guest_cancellable(g.status)?;
            tx.execute(
                "UPDATE guests SET status = ?3, updated_at = ?2 WHERE id = ?1",
                params![id, ms(now), GuestStatus::Cancelled],
            )?;
            guest_in(tx, id)
        })
    }
}
