//! The health report: one call that says whether the box can run a show, for
//! `GET /api/health` and the journal.
//!
//! What this build checks for real: the database answers and the data disk has more
//! free space than `storage.min_free_mb`. Camera, lights and mail report their
//! configured backend with state `not_built`: their drivers come with their own
//! issues, and until then they do not count towards `status`.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::config::{CameraBackend, Config, LightsBackend, MailTransport};
use crate::store::Store;

/// Free and total bytes of the filesystem holding `path`.
pub fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(path)?;
    Ok((s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize))
}

pub fn report(config: &Config, store: &Store, started: Instant) -> Value {
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
    let camera = match config.camera.backend {
        CameraBackend::Gphoto2 => "gphoto2",
        CameraBackend::Simulated => "simulated",
    };
    let lights = match config.lights.backend {
        LightsBackend::Rppal => "rppal",
        LightsBackend::Simulated => "simulated",
    };
    let mail = match config.mail.transport {
        MailTransport::Smtp => "smtp",
        MailTransport::File => "file",
    };
    json!({
        "status": if db_ok && disk_ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": started.elapsed().as_secs(),
        "database": db,
        "disk": disk,
        "camera": {"backend": camera, "state": "not_built"},
        "lights": {"backend": lights, "state": "not_built", "markers": config.lights.pins.len()},
        "mail": {"transport": mail, "state": "not_built"},
    })
}
