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
                MailTransport::Smtp(_) => "smtp",
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

/// What in a report needs the technician, one short phrase each (no guest data): the
/// health watcher logs these when they change, so the journal tells the same story as
/// `GET /api/health`.
pub fn problems(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if report["database"]["state"] != "ok" {
        out.push(format!(
            "database {}",
            report["database"]["detail"].as_str().unwrap_or("error")
        ));
    }
    match report["disk"]["state"].as_str() {
        Some("ok") => {}
        Some("low") => out.push(format!(
            "disk low: {} MB free",
            report["disk"]["free_bytes"].as_u64().unwrap_or(0) / 1_000_000
        )),
        _ => out.push("disk unreadable".into()),
    }
    if report["camera"]["state"] != "connected" {
        out.push(match report["camera"]["last_error"].as_str() {
            Some(e) => format!("camera disconnected: {e}"),
            None => "camera disconnected".into(),
        });
    }
    if report["mail"]["state"] == "down" {
        out.push(match report["mail"]["last_error"].as_str() {
            Some(e) => format!("mail uplink down: {e}"),
            None => "mail uplink down".into(),
        });
    }
    if let Some(n) = report["mail"]["failed"].as_u64().filter(|n| *n > 0) {
        out.push(format!("{n} messages failed"));
    }
    if let Some(n) = report["photos"]["missing_files"]
        .as_array()
        .map(Vec::len)
        .filter(|n| *n > 0)
    {
        out.push(format!("{n} photo files missing"));
    }
    if let Some(n) = report["alerts"].as_array().map(Vec::len).filter(|n| *n > 0) {
        out.push(format!("{n} alerts for the host"));
    }
    if report["privacy"]["last_purge"]["state"] == "error" {
        out.push("retention purge failed".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_what_is_not_ok_and_nothing_else() {
        let ok = json!({
            "database": {"state": "ok"}, "disk": {"state": "ok"},
            "camera": {"state": "connected"}, "mail": {"state": "up", "failed": 0},
            "photos": {"missing_files": []}, "alerts": [], "privacy": {"last_purge": null},
        });
        assert!(problems(&ok).is_empty());
        let mut bad = ok.clone();
        bad["disk"] = json!({"state": "low", "free_bytes": 12_000_000u64});
        bad["camera"] = json!({"state": "disconnected", "last_error": "USB unplugged"});
        bad["mail"] = json!({"state": "down", "last_error": "connection refused", "failed": 2});
        assert_eq!(
            problems(&bad),
            [
                "disk low: 12 MB free",
                "camera disconnected: USB unplugged",
                "mail uplink down: connection refused",
                "2 messages failed"
            ]
        );
    }
}
