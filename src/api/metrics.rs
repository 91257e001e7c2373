//! `GET /metrics`: the Prometheus exposition, for the technician's token or any caller
//! on the box itself (a local Prometheus or node exporter scraping over loopback).

use std::net::IpAddr;

use super::{ApiError, Call, Context, ErrorBody, Reply};
use crate::health::{self, Disk};
use crate::metrics::Snapshot;

pub const PATH: &str = "/metrics";

/// Whether `path` is served to `remote` without a token: `/metrics` from loopback, when
/// the caller sent no `Authorization` (a token sent is checked as usual).
pub fn open_to(path: &str, remote: IpAddr, rq: &tiny_http::Request) -> bool {
    path == PATH && loopback(remote) && !rq.headers().iter().any(|h| h.field.equiv("Authorization"))
}

fn loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The scrape-time figures, from the health report, the board and the process.
fn snapshot(r: &health::Report, board: crate::pi::Board) -> Snapshot {
    let cam = &r.camera;
    let rec = &cam.recoveries;
    let (free, total) = match r.disk {
        Disk::Ok {
            free_bytes,
            total_bytes,
            ..
        }
        | Disk::Low {
            free_bytes,
            total_bytes,
            ..
        } => (Some(free_bytes), Some(total_bytes)),
        Disk::Error(_) => (None, None),
    };
    let counts = r.mail.counts.clone().unwrap_or_default();
    let oldest = counts
        .oldest_queued
        .map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Snapshot {
        uptime_seconds: r.uptime_seconds,
        camera_connected: cam.connected,
        captures: cam.captures,
        capture_failures: cam.failures,
        recoveries: vec![
            ("retry", rec.retry),
            ("reopen", rec.reopen),
            ("usb_reset", rec.usb_reset),
            ("power_cycle", rec.power_cycle),
            ("exhausted", rec.exhausted),
        ],
        mail: vec![
            ("queued", counts.queued),
            ("sent", counts.sent),
            ("failed", counts.failed),
        ],
        mail_oldest_queued_seconds: oldest,
        disk_free_bytes: free,
        disk_total_bytes: total,
        temperature_c: board.temperature_c,
        throttled: board.throttled.map(|t| t.flags().to_vec()),
        resident_memory_bytes: crate::metrics::resident_memory_bytes(),
        open_alerts: r.alerts.len() as u64,
        last_backup_unix: r.backup.status.last_ok_at.map(|t| t.timestamp()),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    summary = "Prometheus metrics (text format 0.0.4)",
    description = "For the technician's token, or without a token from the box itself \
        (loopback). Requests by route pattern, method and status with a latency histogram; \
        capture latency by photo kind; captures, capture failures and recovery rungs; the \
        outbox by status and its oldest queued message's age; disk; open alerts; process \
        memory; uptime; SoC temperature and throttling flags where the board has them.",
    responses(
        (status = 200, description = "the exposition", content_type = "text/plain", body = String),
        (status = 401, description = "no token (from another address)", body = ErrorBody),
        (status = 403, description = "not the technician", body = ErrorBody),
    ))]
pub fn get_metrics(ctx: &Context, _call: &Call) -> Result<Reply, ApiError> {
    let report = super::health::report(ctx);
    let board = crate::pi::read(std::path::Path::new("/"));
    let text = ctx.studio.metrics().encode(snapshot(&report, board));
    Ok(Reply::raw(
        200,
        crate::metrics::CONTENT_TYPE,
        text.into_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::loopback;

    #[test]
    fn only_the_box_itself_is_loopback() {
        for ip in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "192.168.1.20",
            "10.0.0.1",
            "::ffff:192.168.1.20",
            "fe80::1",
            "::",
        ] {
            assert!(!loopback(ip.parse().unwrap()), "{ip}");
        }
    }
}
