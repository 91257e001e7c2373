//! The health report: one call that says whether the box can run a show, for
//! `GET /api/health` and the journal.
//!
//! Checked for real: the database answers, the data disk has more free space than
//! `storage.min_free_mb`, the camera is connected (with model, since when, last error),
//! photo rows whose files went missing, the host's open alerts (persisted: see
//! `crate::alerts`; the disk's is raised or cleared here too), what the floor lights show, and the mail: the uplink's state and the queue's
//! depth. An uplink that is down does not make the box "degraded": queueing until it is
//! back is the outbox's job, and the host sees the mail block.
//!
//! The report is typed Rust; `api` decides how it looks on the wire. What needs someone's
//! attention is worked out once, here, as [`Report::problems`]: plain sentences (no guest
//! data) that the host's page shows and the journal logs as they are: what has no alert
//! (the database, failed messages, the purge) and every open alert the host has not
//! acknowledged (camera, disk, mail, photos).

use std::time::Instant;

use crate::camera::CameraState;
use crate::config::{Config, MailTransport};
use crate::lights::LightsState;
use crate::outbox::{Outbox, Uplink};
use crate::retention::{LastRun, Retention};
use crate::show::AlertKind;
use crate::store::{Alert, CameraBody, MailCounts, Store};
use crate::studio::{Studio, disk_low_sentence, disk_space};

/// Whether the box can run a show now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Something in [`Report::problems`] stands in the way of a show.
    Degraded,
}

/// The database: it answers, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Ok,
    Error(String),
}

/// The data disk's free space against `storage.min_free_mb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disk {
    Ok {
        free_bytes: u64,
        total_bytes: u64,
        min_free_bytes: u64,
    },
    /// Below the floor: captures are refused.
    Low {
        free_bytes: u64,
        total_bytes: u64,
        min_free_bytes: u64,
    },
    /// statvfs failed.
    Error(String),
}

/// How mail leaves the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Smtp,
    /// `.eml` files under the data folder.
    File,
}

/// The mail: how it leaves the box, the uplink and the queue.
#[derive(Debug, Clone)]
pub struct Mail {
    pub transport: Transport,
    pub uplink: Uplink,
    /// `None` when counting the queue failed (logged).
    pub counts: Option<MailCounts>,
}

/// The floor lights and their configured pins.
#[derive(Debug, Clone)]
pub struct Lights {
    pub state: LightsState,
    pub pins: Vec<u8>,
}

/// The retention purge.
#[derive(Debug, Clone)]
pub struct Privacy {
    pub retention_days: u64,
    pub last_purge: Option<LastRun>,
}

/// Everything `GET /api/health` tells.
/// Scheduled backups: where they go and how the last ones went.
#[derive(Debug, Clone, Default)]
pub struct Backup {
    /// `backup.destination`, or None when no scheduled backups are configured.
    pub destination: Option<String>,
    pub status: crate::backup::BackupStatus,
    /// Backups are configured and none succeeded for [`BACKUP_STALE_HOURS`].
    pub stale: bool,
}

/// No good backup for this long is a problem.
pub const BACKUP_STALE_HOURS: i64 = 48;

#[derive(Debug, Clone)]
pub struct Report {
    pub status: Status,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub database: Database,
    pub disk: Disk,
    pub camera: CameraState,
    /// The connected (or last connected) body as the database counts it (issue 14).
    pub camera_body: Option<CameraBody>,
    /// The open alerts (acknowledged or not), newest first.
    pub alerts: Vec<Alert>,
    /// Photo ids whose files were missing at start-up.
    pub missing_files: Vec<String>,
    pub lights: Lights,
    pub mail: Mail,
    pub privacy: Privacy,
    /// The board's temperature and throttling, where it tells (a Raspberry Pi).
    pub board: crate::pi::Board,
    pub backup: Backup,
    /// The technician's alerts (`crate::oncall`).
    pub technician: Technician,
    /// Wrong PINs from many addresses spent the global budget (the API's throttle knows).
    pub login_flood: bool,
    /// What needs someone, one plain sentence each; empty when all is well.
    pub problems: Vec<String>,
}

/// The technician's alerts: whom they reach, the conditions on, the notices waiting.
#[derive(Debug, Clone, Default)]
pub struct Technician {
    /// `[alerts]` names an address or a webhook.
    pub enabled: bool,
    pub conditions: Vec<crate::store::OpenCondition>,
    /// Technician messages not yet delivered (mail and webhook).
    pub queued: u64,
}

pub fn report(
    config: &Config,
    store: &Store,
    studio: &Studio,
    outbox: &Outbox,
    retention: &Retention,
    started: Instant,
) -> Report {
    let database = match store.check() {
        Ok(()) => Database::Ok,
        Err(e) => {
            log::error!("health: database check failed: {e}");
            Database::Error(e.to_string())
        }
    };
    let min_free_bytes = config.storage.min_free_bytes;
    let disk = match disk_space(&config.storage.data_dir) {
        Ok((free_bytes, total_bytes)) if free_bytes >= min_free_bytes => Disk::Ok {
            free_bytes,
            total_bytes,
            min_free_bytes,
        },
        Ok((free_bytes, total_bytes)) => Disk::Low {
            free_bytes,
            total_bytes,
            min_free_bytes,
        },
        Err(e) => Disk::Error(e.to_string()),
    };
    let counts = outbox
        .counts()
        .inspect_err(|e| log::error!("health: counting the outbox failed: {e}"))
        .ok();
    let low = match &disk {
        Disk::Low { free_bytes, .. } => Some(Some(disk_low_sentence(&format!(
            "{} MB free",
            free_bytes / 1_000_000
        )))),
        Disk::Ok { .. } => Some(None),
        Disk::Error(_) => None,
    };
    if let Some(low) = low {
        studio
            .alerts()
            .set(AlertKind::DiskLow, None, low.as_deref());
    }
    let alerts = studio
        .alerts()
        .list(true, 100)
        .inspect_err(|e| log::error!("health: reading the alerts failed: {e}"))
        .unwrap_or_default();
    let mut r = Report {
        status: Status::Ok,
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: started.elapsed().as_secs(),
        database,
        disk,
        camera: studio.camera().state(),
        camera_body: camera_body(store, &studio.camera().state()),
        alerts,
        missing_files: studio.missing_files(),
        lights: Lights {
            state: studio.lights().state(),
            pins: config.lights.pins.clone(),
        },
        mail: Mail {
            transport: match config.mail.transport {
                MailTransport::Smtp(_) => Transport::Smtp,
                MailTransport::File => Transport::File,
            },
            uplink: outbox.uplink(),
            counts,
        },
        privacy: Privacy {
            retention_days: config.privacy.retention.as_secs() / 86_400,
            last_purge: retention.last(),
        },
        board: crate::pi::read(std::path::Path::new("/")),
        backup: backup_of(config, started),
        technician: Technician {
            enabled: config.alerts.enabled(),
            conditions: store
                .technician_conditions()
                .inspect_err(|e| log::error!("health: reading the technician alerts failed: {e}"))
                .unwrap_or_default(),
            queued: store.technician_queued().map(|q| q.0).unwrap_or_default(),
        },
        login_flood: false,
        problems: Vec::new(),
    };
    r.status =
        if r.database == Database::Ok && matches!(r.disk, Disk::Ok { .. }) && r.camera.connected {
            Status::Ok
        } else {
            Status::Degraded
        };
    r.problems = problems(&r);
    r
}

fn backup_of(config: &Config, started: Instant) -> Backup {
    let Some(dest) = &config.backup.destination else {
        return Backup::default();
    };
    let status = crate::backup::read_status(&config.storage.data_dir);
    let limit = chrono::Duration::hours(BACKUP_STALE_HOURS);
    let stale = match status.last_ok_at {
        Some(t) => chrono::Utc::now() - t > limit,
        // Never backed up: a box that has been up that long without one.
        None => started.elapsed().as_secs() as i64 > limit.num_seconds(),
    };
    Backup {
        destination: Some(dest.to_string()),
        status,
        stale,
    }
}

/// The body in `camera`'s info, from the database (`None` before any connect).
fn camera_body(store: &Store, camera: &CameraState) -> Option<CameraBody> {
    let info = camera.info.as_ref()?;
    store
        .camera_body(info.serial.as_deref(), &info.model)
        .inspect_err(|e| log::error!("health: reading the camera body failed: {e}"))
        .ok()
        .flatten()
}

/// What in a report needs the host or the technician, one plain sentence each.
fn problems(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Database::Error(e) = &r.database {
        out.push(format!("The database does not answer: {e}."));
    }
    if let Disk::Error(e) = &r.disk {
        out.push(format!("The data disk cannot be read: {e}."));
    }
    if let Some(n) = r.mail.counts.as_ref().map(|c| c.failed).filter(|n| *n > 0) {
        out.push(format!("{n} messages failed: see the outbox."));
    }
    // The camera, a low disk, mail not going out and missing photo files come as
    // alerts: shown until the condition ends or the host acknowledges them.
    for a in r.alerts.iter().filter(|a| a.acknowledged_at.is_none()) {
        out.push(a.message.clone());
    }
    if let Some(LastRun {
        outcome: Err(e), ..
    }) = &r.privacy.last_purge
    {
        out.push(format!("The retention purge failed: {e}."));
    }
    if r.backup.stale {
        let why = r
            .backup
            .status
            .last_error
            .as_deref()
            .map(|e| format!(" The last try failed: {e}."))
            .unwrap_or_default();
        out.push(format!(
            "No good backup for {BACKUP_STALE_HOURS} hours: check the backup drive or destination.{why}"
        ));
    }
    if r.board.throttled.is_some_and(|t| t.now()) {
        out.push(
            "The box is slowing itself down (under-voltage or heat): use its own power supply \
             and give it air."
                .into(),
        );
    }
    out
}

/// A report where all is well at `t`, for the tests of what reads reports.
#[cfg(test)]
pub(crate) fn all_well_at(t: chrono::DateTime<chrono::Utc>) -> Report {
    use crate::outbox::UplinkState;
    Report {
        status: Status::Ok,
        version: "0",
        uptime_seconds: 1,
        database: Database::Ok,
        disk: Disk::Ok {
            free_bytes: 9_000_000_000,
            total_bytes: 10_000_000_000,
            min_free_bytes: 1,
        },
        camera: CameraState {
            connected: true,
            since: t,
            ..CameraState::before_connect("simulated")
        },
        camera_body: None,
        alerts: Vec::new(),
        missing_files: Vec::new(),
        lights: Lights {
            state: LightsState {
                backend: "simulated",
                program: "off",
                on: vec![false],
            },
            pins: vec![17],
        },
        mail: Mail {
            transport: Transport::File,
            uplink: Uplink {
                state: UplinkState::Up,
                since: t,
                last_error: None,
                next_try: None,
            },
            counts: Some(MailCounts {
                queued: 0,
                sent: 3,
                failed: 0,
                oldest_queued: None,
            }),
        },
        privacy: Privacy {
            retention_days: 30,
            last_purge: None,
        },
        board: crate::pi::Board::default(),
        backup: Backup::default(),
        technician: Technician::default(),
        login_flood: false,
        problems: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn all_well() -> Report {
        let t = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        all_well_at(t)
    }

    #[test]
    fn problems_name_what_is_not_ok_and_nothing_else() {
        assert!(problems(&all_well()).is_empty());
        let mut bad = all_well();
        bad.disk = Disk::Error("permission denied".into());
        bad.mail.counts.as_mut().unwrap().failed = 2;
        let alert = |id: &str, kind, message: &str, acked: bool| Alert {
            id: id.into(),
            kind,
            show_id: None,
            message: message.into(),
            raised_at: bad.camera.since,
            cleared_at: None,
            acknowledged_at: acked.then_some(bad.camera.since),
        };
        bad.alerts = vec![
            alert(
                "a1",
                AlertKind::CameraOffline,
                "The camera is not connected.",
                false,
            ),
            alert(
                "a2",
                AlertKind::DiskLow,
                "The data disk is almost full.",
                true,
            ),
        ];
        assert_eq!(
            problems(&bad),
            [
                "The data disk cannot be read: permission denied.",
                "2 messages failed: see the outbox.",
                "The camera is not connected.",
            ],
            "an acknowledged alert leaves the banner"
        );
    }
}
