//! `GET /api/health` on the wire: the typed report of `crate::health` as the tablets and
//! the technician's scripts have always read it, plus its `problems`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::wire::{self, UplinkState};
use super::{ApiError, Call, Context, Reply};
use crate::health::{self, Database, Disk, Report};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    Ok,
    Degraded,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Ok,
    Error,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseOut {
    pub state: CheckState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiskState {
    Ok,
    /// Below `storage.min_free_mb`: captures are refused.
    Low,
    Error,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiskOut {
    pub state: DiskState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_free_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraConnection {
    Connected,
    Disconnected,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CameraOut {
    /// `gphoto2` or `simulated`.
    pub backend: String,
    pub state: CameraConnection,
    /// A capture is in progress.
    pub busy: bool,
    pub model: Option<String>,
    pub port: Option<String>,
    /// The body's serial number, when it reports one.
    pub serial: Option<String>,
    /// Settings worth showing, as the camera names them.
    pub settings: Option<BTreeMap<String, String>>,
    /// When `state` last changed.
    #[serde(serialize_with = "wire::precise")]
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
    pub captures: u64,
    pub failures: u64,
    /// Profile values (`[camera.settings]`) the body refused at the last connect, each
    /// naming `camera.settings.<key>` and the choices the body offers.
    pub settings_errors: Vec<String>,
    /// Profile keys whose value on the body differs (someone turned a dial); re-applied
    /// when the next show starts.
    pub drift: Vec<CameraDriftOut>,
    /// The recovery ladder's rung being climbed now (the host sees "reconnecting").
    pub recovering: Option<RungOut>,
    /// Rungs of the recovery ladder climbed since start-up, and how often it ran out.
    pub recoveries: RecoveriesOut,
    /// How the current (or last) connection found the body: by the configured port, or
    /// by its remembered serial on another port; `null` before the first connect.
    pub found_by: Option<super::bodies::FoundByOut>,
    /// The connected (or last connected) body and its counters in the database, kept
    /// across restarts; `null` before the first connect.
    pub body: Option<super::bodies::CameraBodyOut>,
}

/// One drifted setting.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraDriftOut {
    /// The gphoto2 config name.
    pub key: String,
    /// The profile's value.
    pub expected: String,
    /// The body's value.
    pub actual: String,
}

/// A rung of the camera's recovery ladder.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RungOut {
    Retry,
    Reopen,
    UsbReset,
    PowerCycle,
}

impl From<crate::camera::Rung> for RungOut {
    fn from(r: crate::camera::Rung) -> Self {
        use crate::camera::Rung as R;
        match r {
            R::Retry => RungOut::Retry,
            R::Reopen => RungOut::Reopen,
            R::UsbReset => RungOut::UsbReset,
            R::PowerCycle => RungOut::PowerCycle,
        }
    }
}

/// How often each rung of the recovery ladder was climbed since start-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveriesOut {
    /// Busy answers retried at once.
    pub retry: u64,
    /// Sessions closed and reopened after an I/O error or a stuck call.
    pub reopen: u64,
    /// USB device resets.
    pub usb_reset: u64,
    /// Power cuts through the relay (`camera.power_pin`).
    pub power_cycle: u64,
    /// Times every rung failed (`camera_offline` says so).
    pub exhausted: u64,
}

/// Scheduled backups (`[backup]`).
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupOut {
    /// `backup.destination` (a folder or `usb:LABEL`); null: no scheduled backups.
    pub destination: Option<String>,
    /// When the last good scheduled backup finished.
    #[serde(serialize_with = "wire::precise_opt")]
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Why the last scheduled backup failed (null after a good one).
    pub last_error: Option<String>,
}

/// A technician condition that is on (see `[alerts]`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConditionOut {
    /// `camera_lost`, `disk_low`, `mail_failed`, `uplink_down`, `backup_stale`,
    /// `backup_failed`, `purge_failed`, `unclean_restart`, `undervoltage`, `too_hot`.
    pub condition: String,
    #[serde(serialize_with = "wire::precise")]
    pub since: DateTime<Utc>,
    /// A plain sentence (no guest data).
    pub detail: String,
    /// Reminders sent so far.
    pub reminders: u32,
}

/// The technician's alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct TechnicianOut {
    /// `[alerts]` names an address or a webhook.
    pub enabled: bool,
    pub conditions: Vec<ConditionOut>,
    /// Alert mail and webhook calls not yet delivered.
    pub queued: u64,
}

/// The board's own health, where it tells (a Raspberry Pi); null fields elsewhere.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardOut {
    /// SoC temperature, °C.
    pub temperature_c: Option<f64>,
    /// The firmware's throttling flags by name (`under_voltage`, `freq_capped`,
    /// `throttled`, `soft_temp_limit`, each also `…_occurred` since boot). A mainline
    /// kernel (Debian's, the image's) tells only its under-voltage alarm: then only
    /// `under_voltage` is listed.
    pub throttled: Option<BTreeMap<String, bool>>,
}

/// An open alert (see `GET /api/alerts`), as health has always listed them.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAlertOut {
    pub id: String,
    pub kind: wire::AlertKind,
    /// When it was raised.
    #[serde(serialize_with = "wire::precise")]
    pub at: DateTime<Utc>,
    pub show_id: Option<String>,
    pub message: String,
    /// The host has seen it (it no longer shows in `problems`).
    pub acknowledged: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhotosOut {
    /// Photo ids whose files were missing at start-up.
    pub missing_files: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LightsHealth {
    Ok,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LightsOut {
    /// `rppal` or `simulated`.
    pub backend: String,
    pub state: LightsHealth,
    /// The light program running (off, posing, countdown, …).
    pub program: String,
    /// Which markers are lit, in pin order.
    pub on: Vec<bool>,
    /// The BCM pins, one per floor marker.
    pub pins: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Smtp,
    File,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailOut {
    pub transport: Transport,
    /// The uplink: up, down (with why and the next try) or unknown (nothing sent yet).
    pub state: UplinkState,
    #[serde(serialize_with = "wire::precise")]
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "wire::precise_opt")]
    pub next_try_at: Option<DateTime<Utc>>,
    /// The queue's counts (absent when it could not be counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
    #[serde(
        serialize_with = "wire::precise_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

/// What the last retention purge removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    pub guests: u64,
    pub shows: u64,
    pub photos: u64,
    pub messages: u64,
    pub sessions: u64,
    pub wal_truncated: bool,
}

/// The last retention purge.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PurgeOut {
    Ok {
        #[serde(serialize_with = "wire::precise")]
        at: DateTime<Utc>,
        removed: Removed,
    },
    Error {
        #[serde(serialize_with = "wire::precise")]
        at: DateTime<Utc>,
        detail: String,
    },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrivacyOut {
    pub retention_days: u64,
    pub last_purge: Option<PurgeOut>,
}

/// The box's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    /// `degraded`: the database, the disk or the camera stands in the way of a show.
    pub status: Overall,
    pub version: String,
    pub uptime_seconds: u64,
    pub database: DatabaseOut,
    pub disk: DiskOut,
    pub camera: CameraOut,
    /// The open alerts, newest first.
    pub alerts: Vec<OpenAlertOut>,
    pub photos: PhotosOut,
    pub lights: LightsOut,
    pub mail: MailOut,
    pub privacy: PrivacyOut,
    /// Temperature and throttling, where the board reports them.
    pub board: BoardOut,
    pub backup: BackupOut,
    /// The technician's alerts: the conditions on now.
    pub technician: TechnicianOut,
    /// What needs someone, one plain sentence each; empty when all is well.
    pub problems: Vec<String>,
}

impl From<Report> for HealthOut {
    fn from(r: Report) -> Self {
        let disk = match r.disk {
            Disk::Ok {
                free_bytes,
                total_bytes,
                min_free_bytes,
            }
            | Disk::Low {
                free_bytes,
                total_bytes,
                min_free_bytes,
            } => DiskOut {
                state: if matches!(r.disk, Disk::Ok { .. }) {
                    DiskState::Ok
                } else {
                    DiskState::Low
                },
                free_bytes: Some(free_bytes),
                total_bytes: Some(total_bytes),
                min_free_bytes: Some(min_free_bytes),
                detail: None,
            },
            Disk::Error(ref e) => DiskOut {
                state: DiskState::Error,
                free_bytes: None,
                total_bytes: None,
                min_free_bytes: None,
                detail: Some(e.clone()),
            },
        };
        let cam = r.camera;
        let info = cam.info.as_ref();
        HealthOut {
            status: match r.status {
                health::Status::Ok => Overall::Ok,
                health::Status::Degraded => Overall::Degraded,
            },
            version: r.version.to_string(),
            uptime_seconds: r.uptime_seconds,
            database: match r.database {
                Database::Ok => DatabaseOut {
                    state: CheckState::Ok,
                    detail: None,
                },
                Database::Error(e) => DatabaseOut {
                    state: CheckState::Error,
                    detail: Some(e),
                },
            },
            disk,
            camera: CameraOut {
                backend: cam.backend.to_string(),
                state: if cam.connected {
                    CameraConnection::Connected
                } else {
                    CameraConnection::Disconnected
                },
                busy: cam.busy,
                model: info.map(|i| i.model.clone()),
                port: info.map(|i| i.port.clone()),
                serial: info.and_then(|i| i.serial.clone()),
                settings: info.map(|i| i.settings.iter().cloned().collect()),
                since: cam.since,
                last_error: cam.last_error.clone(),
                captures: cam.captures,
                failures: cam.failures,
                recovering: cam.recovering.map(RungOut::from),
                recoveries: RecoveriesOut {
                    retry: cam.recoveries.retry,
                    reopen: cam.recoveries.reopen,
                    usb_reset: cam.recoveries.usb_reset,
                    power_cycle: cam.recoveries.power_cycle,
                    exhausted: cam.recoveries.exhausted,
                },
                found_by: info.and_then(|i| i.body.found_by).map(Into::into),
                body: r.camera_body.as_ref().map(Into::into),
                settings_errors: cam.settings_errors.clone(),
                drift: cam
                    .drift
                    .iter()
                    .map(|d| CameraDriftOut {
                        key: d.key.clone(),
                        expected: d.expected.clone(),
                        actual: d.actual.clone(),
                    })
                    .collect(),
            },
            alerts: r
                .alerts
                .into_iter()
                .map(|a| OpenAlertOut {
                    id: a.id,
                    kind: a.kind.into(),
                    at: a.raised_at,
                    show_id: a.show_id,
                    message: a.message,
                    acknowledged: a.acknowledged_at.is_some(),
                })
                .collect(),
            photos: PhotosOut {
                missing_files: r.missing_files,
            },
            lights: LightsOut {
                backend: r.lights.state.backend.to_string(),
                state: LightsHealth::Ok,
                program: r.lights.state.program.to_string(),
                on: r.lights.state.on,
                pins: r.lights.pins,
            },
            mail: MailOut {
                transport: match r.mail.transport {
                    health::Transport::Smtp => Transport::Smtp,
                    health::Transport::File => Transport::File,
                },
                state: r.mail.uplink.state.into(),
                since: r.mail.uplink.since,
                last_error: r.mail.uplink.last_error,
                next_try_at: r.mail.uplink.next_try,
                oldest_queued_at: r.mail.counts.as_ref().and_then(|c| c.oldest_queued),
                queued: r.mail.counts.as_ref().map(|c| c.queued),
                sent: r.mail.counts.as_ref().map(|c| c.sent),
                failed: r.mail.counts.as_ref().map(|c| c.failed),
            },
            privacy: PrivacyOut {
                retention_days: r.privacy.retention_days,
                last_purge: r.privacy.last_purge.map(|run| match run.outcome {
                    Ok(p) => PurgeOut::Ok {
                        at: run.at,
                        removed: Removed {
                            guests: p.guests,
                            shows: p.shows,
                            photos: p.photos,
                            messages: p.messages,
                            sessions: p.sessions,
                            wal_truncated: p.wal_truncated,
                        },
                    },
                    Err(detail) => PurgeOut::Error { at: run.at, detail },
                }),
            },
            board: BoardOut {
                temperature_c: r.board.temperature_c,
                throttled: r
                    .board
                    .throttled
                    .map(|t| t.flags().iter().map(|(k, v)| (k.to_string(), *v)).collect()),
            },
            backup: BackupOut {
                destination: r.backup.destination,
                last_ok_at: r.backup.status.last_ok_at,
                last_error: r.backup.status.last_error,
            },
            technician: TechnicianOut {
                enabled: r.technician.enabled,
                conditions: r
                    .technician
                    .conditions
                    .into_iter()
                    .map(|c| ConditionOut {
                        condition: c.condition,
                        since: c.started_at,
                        detail: c.detail,
                        reminders: c.reminders,
                    })
                    .collect(),
                queued: r.technician.queued,
            },
            problems: r.problems,
        }
    }
}

#[utoipa::path(get, path = "/api/health", tag = "health",
    summary = "Whether the box can run a show: database, disk, camera, lights, mail, privacy, and the problems",
    responses((status = 200, description = "the report", body = HealthOut)))]
pub fn get_health(ctx: &Context, _: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(200, &HealthOut::from(report(ctx))))
}

/// The health report, now (also what `/metrics` reads), with what only the API knows:
/// a login flood (the throttle lives with the API).
pub fn report(ctx: &Context) -> health::Report {
    let mut r = health::report(
        &ctx.config,
        &ctx.store,
        &ctx.studio,
        &ctx.outbox,
        &ctx.retention,
        ctx.started,
    );
    let flooded = ctx
        .throttle
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .flooded(std::time::Instant::now());
    r.login_flood = flooded;
    if flooded {
        r.problems.push(
            "Many wrong PINs from several tablets or devices in the last minute: someone may \
             be guessing. Every login waits a minute; check who is on the venue Wi-Fi."
                .into(),
        );
    }
    r
}

/// Reads a `GET /api/health` answer's body as the watchdog does: fine when the database
/// check says `ok`, else what it says.
pub fn database_ok(body: &str) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        database: Check,
    }
    #[derive(serde::Deserialize)]
    struct Check {
        state: String,
    }
    let a: Answer = serde_json::from_str(body).map_err(|e| format!("not a health answer: {e}"))?;
    match a.database.state.as_str() {
        "ok" => Ok(()),
        other => Err(format!("database {other}")),
    }
}
