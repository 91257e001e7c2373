//! The `alerts` table: what the host must know about, kept across restarts. An alert is
//! raised when a condition starts (at most one open per kind and show: the partial
//! unique index and the check below), cleared when it ends, and acknowledged by the
//! host (once: a second acknowledgement keeps the first time).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, Store, ms, new_id, time};
use crate::show::{AlertKind, Refusal};

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: String,
    pub kind: AlertKind,
    /// The show it is about, for the kinds that have one.
    pub show_id: Option<String>,
    /// A plain sentence for the host; never a guest's name or email.
    pub message: String,
    pub raised_at: DateTime<Utc>,
    /// When the condition ended; `None` while it goes on.
    pub cleared_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

const ALERT_COLUMNS: &str = "id, kind, show_id, message, raised_at, cleared_at, acknowledged_at";

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: r.get(0)?,
        kind: r.get(1)?,
        show_id: r.get(2)?,
        message: r.get(3)?,
        raised_at: time(r.get(4)?),
        cleared_at: r.get::<_, Option<i64>>(5)?.map(time),
        acknowledged_at: r.get::<_, Option<i64>>(6)?.map(time),
    })
}

fn alert_in(c: &Connection, id: &str) -> Result<Alert> {
    c.prepare_cached(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"))?
        .query_row([id], alert_row)
        .optional()?
        .ok_or_else(|| Refusal::not_found("alert").into())
}

/// The open alert of `kind` (and `show_id`), if any.
fn open_in(c: &Connection, kind: AlertKind, show_id: Option<&str>) -> Result<Option<Alert>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
             WHERE kind = ?1 AND coalesce(show_id, '') = coalesce(?2, '') AND cleared_at IS NULL"
    ))?
    .query_row(params![kind, show_id], alert_row)
    .optional()?)
}

impl Store {
    /// Raises an alert unless one of the same kind (and show) is open; returns the new
    /// one, or `None` when the condition was already known. Reads first, so a condition
    /// that goes on costs no write.
    pub fn raise_alert(
        &self,
        kind: AlertKind,
        show_id: Option<&str>,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        if self.read(|c| open_in(c, kind, show_id))?.is_some() {
            return Ok(None);
        }
        self.write(|tx| {
            if open_in(tx, kind, show_id)?.is_some() {
                return Ok(None);
            }
            let id = new_id("alr");
            tx.execute(
                "INSERT INTO alerts (id, kind, show_id, message, raised_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, kind, show_id, message, ms(now)],
            )?;
            alert_in(tx, &id).map(Some)
        })
    }

    /// The condition ended: clears the open alert of `kind` (and `show_id`); returns it,
    /// or `None` when none was open.
    pub fn clear_alert(
        &self,
        kind: AlertKind,
        show_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        if self.read(|c| open_in(c, kind, show_id))?.is_none() {
            return Ok(None);
        }
        self.write(|tx| {
            let Some(a) = open_in(tx, kind, show_id)? else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE alerts SET cleared_at = ?2 WHERE id = ?1",
                params![a.id, ms(now)],
            )?;
            alert_in(tx, &a.id).map(Some)
        })
    }

    pub fn alert(&self, id: &str) -> Result<Alert> {
        self.read(|c| alert_in(c, id))
    }

    /// The host has seen alert `id`. Idempotent: the first acknowledgement's time stays.
    pub fn ack_alert(&self, id: &str, now: DateTime<Utc>) -> Result<Alert> {
        self.write(|tx| {
            alert_in(tx, id)?;
            tx.execute(
                "UPDATE alerts SET acknowledged_at = coalesce(acknowledged_at, ?2) WHERE id = ?1",
                params![id, ms(now)],
            )?;
            alert_in(tx, id)
        })
    }

    /// Alerts, newest first: all of them (up to `limit`), or only the open ones.
    pub fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<Alert>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE (?1 = 0 OR cleared_at IS NULL)
                     ORDER BY raised_at DESC, rowid DESC LIMIT ?2"
            ))?
            .query_map(params![open_only, limit], alert_row)?
            .collect::<rusqlite::Result<_>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_raised_once_cleared_acknowledged_and_raised_again_after_clearing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        let t = time(ms(Utc::now()));
        let a = s
            .raise_alert(AlertKind::CameraOffline, None, "camera", t)
            .unwrap()
            .unwrap();
        assert!(
            s.raise_alert(AlertKind::CameraOffline, None, "again", t)
                .unwrap()
                .is_none(),
            "deduplicated while open"
        );
        // Another show's failure is its own alert.
        let f1 = s
            .raise_alert(AlertKind::CaptureFailed, Some("shw_1"), "x", t)
            .unwrap();
        let f2 = s
            .raise_alert(AlertKind::CaptureFailed, Some("shw_2"), "x", t)
            .unwrap();
        assert!(f1.is_some() && f2.is_some());
        assert_eq!(s.alerts(true, 10).unwrap().len(), 3);

        let acked = s.ack_alert(&a.id, t).unwrap();
        assert_eq!(acked.acknowledged_at, Some(t));
        let later = t + chrono::Duration::seconds(5);
        assert_eq!(
            s.ack_alert(&a.id, later).unwrap().acknowledged_at,
            Some(t),
            "idempotent"
        );
        let cleared = s
            .clear_alert(AlertKind::CameraOffline, None, later)
            .unwrap()
            .unwrap();
        assert_eq!(cleared.cleared_at, Some(later));
        assert!(
            s.clear_alert(AlertKind::CameraOffline, None, later)
                .unwrap()
                .is_none()
        );
        let again = s
            .raise_alert(AlertKind::CameraOffline, None, "camera", later)
            .unwrap()
            .unwrap();
        assert_ne!(again.id, a.id, "a new occurrence is a new alert");
        assert_eq!(s.alerts(false, 10).unwrap().len(), 4);
        assert!(matches!(
            s.ack_alert("alr_nope", t),
            Err(crate::store::Error::Refused(_))
        ));
    }
}
