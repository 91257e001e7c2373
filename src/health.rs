//! The health report: one call that says whether the box can run a show, for
//! `GET /api/health` and the journal.
//!
//! Checked for real: the database answers, the data disk has more free space than
//! `storage.min_free_mb`, the camera is connected (with model, since when, last error),
//! photo rows whose files went missing, and the host's alerts (a failed spontaneous
//! photo), what the floor lights show, and the mail: the uplink's state and the queue's
//! depth. An uplink that is down does not make the box "degraded": queueing until it is
//! back is the outbox's job, and the host sees the mail block.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::config::{Config, MailTransport};
use crate::outbox::Outbox;
use crate::retention::Retention;
use crate::store::Store;
use crate::studio::Studio;

/// Free and total bytes of the filesystem holding `path`.
pub fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(path)?;
    Ok((s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize))
}

pub fn report(
    config: &Config,
    store: &Store,
    studio: &Studio,
    outbox: &Outbox,
    retention: &Retention,
    started: Instant,
) -> Value {
    let db = match store.check() {
        Ok(()) => json!({"state": "ok"}),
        Err(e) => {
            log::error!("health: database check failed: {e}");
            json!({"state": "error", "detail": e.to_string()})
        }
    };
    let db_ok = db["state"] == "ok";
    let (disk, disk_ok) = match disk_space(&config.storage.data_dir) {
        Ok((free, total)) => {
            let ok = free >= config.storage.min_free_bytes;
            (
                json!({
                    "state": if ok { "ok" } else { "low" },
                    "free_bytes": free,
                    "total_bytes": total,
                    "min_free_bytes": config.storage.min_free_bytes,
                }),
                ok,
            )
        }
        Err(e) => (json!({"state": "error", "detail": e.to_string()}), false),
    };
    let cam = studio.camera().state();
    let camera = json!({
        "backend": cam.backend,
        "state": if cam.connected { "connected" } else { "disconnected" },
        "busy": cam.busy,
        "model": cam.info.as_ref().map(|i| i.model.as_str()),
        "port": cam.info.as_ref().map(|i| i.port.as_str()),
        "settings": cam.info.as_ref().map(|i| i.settings.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()),
        "since": cam.since.to_rfc3339(),
        "last_error": cam.last_error,
        "captures": cam.captures,
        "failures": cam.failures,
    });
    let alerts: Vec<Value> = studio
        .alerts()
        .iter()
        .rev()
        .map(|a| json!({"at": a.at.to_rfc3339(), "show_id": a.show_id, "message": a.message}))
        .collect();
    let missing = studio.missing_files();
    let lights = studio.lights().state();
    let mail = {
        let u = outbox.uplink();
        let mut m = json!({
            "transport": match config.mail.transport {
                MailTransport::Smtp => "smtp",
                MailTransport::File => "file",
            },
            // The uplink: up, down (with why and the next try) or unknown (nothing sent yet).
            "state": u.state.as_str(),
            "since": u.since.to_rfc3339(),
            "last_error": u.last_error,
            "next_try_at": u.next_try.map(|t| t.to_rfc3339()),
        });
        match outbox.counts() {
            Ok(c) => {
                m["queued"] = json!(c.queued);
                m["failed"] = json!(c.failed);
                m["sent"] = json!(c.sent);
                m["oldest_queued_at"] = json!(c.oldest_queued.map(|t| t.to_rfc3339()));
            }
            Err(e) => log::error!("health: counting the outbox failed: {e}"),
        }
        m
    };
    json!({
        "status": if db_ok && disk_ok && cam.connected { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": started.elapsed().as_secs(),
        "database": db,
        "disk": disk,
        "camera": camera,
        "alerts": alerts,
        "photos": {"missing_files": missing},
        "lights": {
            "backend": lights.backend,
            "state": "ok",
            "program": lights.program,
            "on": lights.on,
            "pins": config.lights.pins,
        },
        "mail": mail,
        "privacy": {
            "retention_days": config.privacy.retention.as_secs() / 86_400,
            "last_purge": retention.last().map(|r| match r.outcome {
                Ok(p) => json!({"at": r.at.to_rfc3339(), "state": "ok", "removed": p}),
                Err(e) => json!({"at": r.at.to_rfc3339(), "state": "error", "detail": e}),
            }),
        },
    })
}
