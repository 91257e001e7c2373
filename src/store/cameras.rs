//! The `camera_bodies` table: every camera body the box has connected to, keyed by its
//! serial number (or by its model when it reports none), with lifetime counters.
//!
//! Invariants:
//! - counters only grow: a [`BodyDelta`] adds to them, it never sets them;
//! - `first_seen` is written once, when the body is first recorded;
//! - a batch of deltas is one transaction: all of it is counted, or none.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, ms, time};

/// A body as the database remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraBody {
    pub serial: Option<String>,
    pub model: String,
    pub first_seen: DateTime<Utc>,
    /// Last connected or counted.
    pub last_seen: DateTime<Utc>,
    /// The port it was last connected on.
    pub last_port: Option<String>,
    pub captures: u64,
    pub failures: u64,
    pub recoveries: BodyRecoveries,
    /// The body's own shutter counter as last read; `None` when it reports none.
    pub shutter_count: Option<u64>,
}

/// The recovery ladder's rungs climbed for one body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyRecoveries {
    pub retry: u64,
    pub reopen: u64,
    pub usb_reset: u64,
    pub power_cycle: u64,
}

impl BodyRecoveries {
    pub fn total(&self) -> u64 {
        self.retry + self.reopen + self.usb_reset + self.power_cycle
    }
}

/// What happened to one body since the last write: added to its row (created if new).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyDelta {
    pub serial: Option<String>,
    pub model: String,
    /// When it was seen (the row's `last_seen`; `first_seen` too if the row is new).
    pub at: DateTime<Utc>,
    /// The port, when this delta is a (re)connect.
    pub port: Option<String>,
    pub captures: u64,
    pub failures: u64,
    pub recoveries: BodyRecoveries,
    /// A new reading of the shutter counter.
    pub shutter_count: Option<u64>,
}

/// The row key of a body: its serial, or its model when it has none.
fn key(serial: Option<&str>, model: &str) -> String {
    match serial {
        Some(s) => format!("serial:{s}"),
        None => format!("model:{model}"),
    }
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const COLUMNS: &str = "serial, model, first_seen, last_seen, last_port, captures, failures, \
                       retries, reopens, usb_resets, power_cycles, shutter_count";

fn body(r: &rusqlite::Row<'_>) -> rusqlite::Result<CameraBody> {
    let u = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(CameraBody {
        serial: r.get(0)?,
        model: r.get(1)?,
        first_seen: time(r.get(2)?),
        last_seen: time(r.get(3)?),
        last_port: r.get(4)?,
        captures: u(5)?,
        failures: u(6)?,
        recoveries: BodyRecoveries {
            retry: u(7)?,
            reopen: u(8)?,
            usb_reset: u(9)?,
            power_cycle: u(10)?,
        },
        shutter_count: r.get::<_, Option<i64>>(11)?.map(|v| v.max(0) as u64),
    })
}

impl Store {
    /// Adds every delta to its body's row, creating rows for new bodies; one transaction.
    pub fn record_bodies(&self, deltas: &[BodyDelta]) -> Result<()> {
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO camera_bodies (key, serial, model, first_seen, last_seen, last_port,
                     captures, failures, retries, reopens, usb_resets, power_cycles, shutter_count)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (key) DO UPDATE SET
                     model = excluded.model,
                     last_seen = max(last_seen, excluded.last_seen),
                     last_port = coalesce(excluded.last_port, last_port),
                     captures = captures + excluded.captures,
                     failures = failures + excluded.failures,
                     retries = retries + excluded.retries,
                     reopens = reopens + excluded.reopens,
                     usb_resets = usb_resets + excluded.usb_resets,
                     power_cycles = power_cycles + excluded.power_cycles,
                     shutter_count = coalesce(excluded.shutter_count, shutter_count)",
            )?;
            for d in deltas {
                let r = &d.recoveries;
                st.execute(params![
                    key(d.serial.as_deref(), &d.model),
                    d.serial,
                    d.model,
                    ms(d.at),
                    d.port,
                    n(d.captures),
                    n(d.failures),
                    n(r.retry),
                    n(r.reopen),
                    n(r.usb_reset),
                    n(r.power_cycle),
                    d.shutter_count.map(n),
                ])?;
            }
            Ok(())
        })
    }

    /// The body with this serial (or, without one, this model).
    pub fn camera_body(&self, serial: Option<&str>, model: &str) -> Result<Option<CameraBody>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM camera_bodies WHERE key = ?1"),
                [key(serial, model)],
                body,
            )
            .optional()?)
        })
    }

    /// Every body the box has seen, the most recently seen first.
    pub fn camera_bodies(&self) -> Result<Vec<CameraBody>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM camera_bodies ORDER BY last_seen DESC, rowid DESC"
            ))?;
            let rows = st.query_map([], body)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The serial of the body seen last that reports one: the camera owner looks for it
    /// on every port when the configured one does not answer.
    pub fn remembered_serial(&self) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT serial FROM camera_bodies WHERE serial IS NOT NULL
                  ORDER BY last_seen DESC, rowid DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        (dir, s)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn connect(serial: Option<&str>, model: &str, port: &str, t: i64) -> BodyDelta {
        BodyDelta {
            serial: serial.map(Into::into),
            model: model.into(),
            at: at(t),
            port: Some(port.into()),
            ..BodyDelta::default()
        }
    }

    #[test]
    fn counts_add_up_and_first_seen_stays() {
        let (_d, s) = open();
        assert_eq!(s.camera_bodies().unwrap(), []);
        assert_eq!(s.remembered_serial().unwrap(), None);
        s.record_bodies(&[connect(Some("A1"), "EOS", "usb:001,004", 0)])
            .unwrap();
        let counted = BodyDelta {
            captures: 3,
            failures: 1,
            recoveries: BodyRecoveries {
                retry: 2,
                reopen: 1,
                usb_reset: 0,
                power_cycle: 0,
            },
            shutter_count: Some(1200),
            ..connect(Some("A1"), "EOS", "", 10)
        };
        s.record_bodies(&[
            BodyDelta {
                port: None,
                ..counted.clone()
            },
            BodyDelta {
                port: Some("usb:001,009".into()),
                captures: 1,
                shutter_count: None,
                recoveries: BodyRecoveries::default(),
                failures: 0,
                ..counted
            },
        ])
        .unwrap();
        let b = s.camera_body(Some("A1"), "EOS").unwrap().unwrap();
        assert_eq!(b.first_seen, at(0));
        assert_eq!(b.last_seen, at(10));
        assert_eq!(b.last_port.as_deref(), Some("usb:001,009"));
        assert_eq!((b.captures, b.failures), (4, 1));
        assert_eq!(b.recoveries.total(), 3);
        assert_eq!(
            b.shutter_count,
            Some(1200),
            "a missing reading keeps the last"
        );
        assert_eq!(s.remembered_serial().unwrap().as_deref(), Some("A1"));
    }

    #[test]
    fn a_body_without_a_serial_is_kept_by_model_and_the_latest_serial_is_remembered() {
        let (_d, s) = open();
        s.record_bodies(&[
            connect(Some("OLD"), "EOS", "usb:001,002", 0),
            connect(None, "PowerShot", "usb:001,003", 5),
            connect(Some("NEW"), "EOS", "usb:001,004", 7),
        ])
        .unwrap();
        assert_eq!(s.remembered_serial().unwrap().as_deref(), Some("NEW"));
        let b = s.camera_body(None, "PowerShot").unwrap().unwrap();
        assert_eq!((b.serial, b.shutter_count), (None, None));
        assert!(s.camera_body(Some("PowerShot"), "x").unwrap().is_none());
        let all = s.camera_bodies().unwrap();
        assert_eq!(
            all.iter().map(|b| b.model.as_str()).collect::<Vec<_>>(),
            ["EOS", "PowerShot", "EOS"],
            "most recently seen first"
        );
        // The old body comes back: it is remembered again.
        s.record_bodies(&[connect(Some("OLD"), "EOS", "usb:001,005", 9)])
            .unwrap();
        assert_eq!(s.remembered_serial().unwrap().as_deref(), Some("OLD"));
        assert_eq!(s.camera_bodies().unwrap().len(), 3);
    }
}
