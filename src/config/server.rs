//! `[server]`, `[storage]` and `[privacy]`: where the API listens and how hard it may be
//! pushed, where the data lives, and how long guest data is kept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, bad, days, in_range, required, resolve, secs};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the tablets reach the API.
    pub listen: SocketAddr,
    /// Threads answering requests; bounds how many slow clients can be served at once.
    pub workers: usize,
    /// Larger request bodies get 413 before they are read.
    pub max_body_bytes: usize,
    /// Socket read/write timeout, so a stalled tablet cannot hold a worker forever.
    pub io_timeout: Duration,
    /// A quiet event stream gets a comment this often (and a dead tablet is noticed).
    pub events_keepalive: Duration,
    /// Requests a minute from one client address without a confirmed token (logins,
    /// page assets); half of it may come at once. 0: not limited.
    pub anonymous_requests_per_minute: u32,
    /// Requests a minute with one token, whatever the address; half at once. 0: not limited.
    pub token_requests_per_minute: u32,
    /// `tls`, `cert_file`, `key_file`, `tls_listen`: HTTPS at the front door.
    pub tls: super::tls::TlsConfig,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// SQLite file and photo folder live here.
    pub data_dir: PathBuf,
    /// Below this much free space the box reports itself degraded (and refuses captures).
    pub min_free_bytes: u64,
}

/// `[privacy]`: how long guest data is kept.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Guests, shows, photos and messages untouched this long are purged (daily).
    /// `retention_days`, 1–3650, default 30.
    pub retention: Duration,
}

/// `[server]` as written; every key may be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    /// Parsed by the check, so a bad address is reported with the text given.
    listen: String,
    workers: u32,
    max_body_bytes: u64,
    io_timeout_seconds: u32,
    events_keepalive_seconds: u32,
    anonymous_requests_per_minute: u32,
    token_requests_per_minute: u32,
    tls: String,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    tls_listen: String,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "0.0.0.0:8080".into(),
            workers: 4,
            max_body_bytes: 64 * 1024,
            io_timeout_seconds: 30,
            events_keepalive_seconds: 15,
            anonymous_requests_per_minute: 240,
            token_requests_per_minute: 3000,
            tls: "off".into(),
            cert_file: None,
            key_file: None,
            tls_listen: super::tls::DEFAULT_TLS_LISTEN.into(),
        }
    }
}

/// `[storage]` as written; the section and `data_dir` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStorage {
    data_dir: Option<PathBuf>,
    min_free_mb: u64,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            data_dir: None,
            min_free_mb: 500,
        }
    }
}

/// `[privacy]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPrivacy {
    retention_days: u32,
}

impl Default for RawPrivacy {
    fn default() -> Self {
        RawPrivacy { retention_days: 30 }
    }
}

pub(super) fn server(r: RawServer, base: &Path) -> Result<ServerConfig, ConfigError> {
    let tls = super::tls::tls(&r.tls, r.cert_file, r.key_file, &r.tls_listen, base)?;
    let listen: SocketAddr = r.listen.parse().map_err(|_| {
        bad(
            "server.listen",
            format!("`{}` is not an IP:port address", r.listen),
        )
    })?;
    Ok(ServerConfig {
        listen,
        workers: in_range(r.workers, "server.workers", 1..=64)? as usize,
        max_body_bytes: in_range(
            r.max_body_bytes,
            "server.max_body_bytes",
            1024..=16 * 1024 * 1024,
        )? as usize,
        io_timeout: secs(r.io_timeout_seconds, "server.io_timeout_seconds", 1..=600)?,
        events_keepalive: secs(
            r.events_keepalive_seconds,
            "server.events_keepalive_seconds",
            1..=300,
        )?,
        anonymous_requests_per_minute: in_range(
            r.anonymous_requests_per_minute,
            "server.anonymous_requests_per_minute",
            0..=1_000_000,
        )?,
        token_requests_per_minute: in_range(
            r.token_requests_per_minute,
            "server.token_requests_per_minute",
            0..=1_000_000,
        )?,
        tls,
    })
}

pub(super) fn storage(r: RawStorage, base: &Path) -> Result<StorageConfig, ConfigError> {
    let dir = required(r.data_dir, "storage.data_dir")?;
    if dir.as_os_str().is_empty() {
        return Err(bad("storage.data_dir", "must not be empty"));
    }
    let min_free_bytes = r
        .min_free_mb
        .checked_mul(1024 * 1024)
        .ok_or_else(|| bad("storage.min_free_mb", "is too large"))?;
    Ok(StorageConfig {
        data_dir: resolve(base, dir),
        min_free_bytes,
    })
}

pub(super) fn privacy(r: RawPrivacy) -> Result<PrivacyConfig, ConfigError> {
    Ok(PrivacyConfig {
        retention: days(r.retention_days, "privacy.retention_days", 1..=3650)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{MINIMAL, assert_refused, parse};

    #[test]
    fn server_keys_take_defaults_and_are_checked() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.server.workers, 4);
        assert_eq!(c.server.max_body_bytes, 64 * 1024);
        assert_eq!(c.server.io_timeout.as_secs(), 30);
        assert_eq!(c.server.events_keepalive.as_secs(), 15);
        for (line, key) in [
            ("listen = \"localhost\"", "server.listen"),
            ("listen = \"1.2.3.4\"", "server.listen"),
            ("workers = 0", "server.workers"),
            ("workers = 65", "server.workers"),
            ("max_body_bytes = 1023", "server.max_body_bytes"),
            ("max_body_bytes = 16777217", "server.max_body_bytes"),
            ("io_timeout_seconds = 0", "server.io_timeout_seconds"),
            ("io_timeout_seconds = 601", "server.io_timeout_seconds"),
            (
                "events_keepalive_seconds = 301",
                "server.events_keepalive_seconds",
            ),
            ("workers = -1", "server.workers"),
        ] {
            assert_refused(&format!("{MINIMAL}[server]\n{line}\n"), key);
        }
    }

    #[test]
    fn storage_needs_a_data_dir() {
        assert_refused(
            &MINIMAL.replace("data_dir = \"data\"", "data_dir = \"\""),
            "storage.data_dir",
        );
        assert_refused(
            &MINIMAL.replace("data_dir = \"data\"", "min_free_mb = 10"),
            "storage.data_dir",
        );
        assert_refused(
            &MINIMAL.replace(
                "data_dir = \"data\"",
                "data_dir = \"data\"\nmin_free_mb = 9223372036854775807",
            ),
            "storage.min_free_mb",
        );
        let c = parse(&MINIMAL.replace("data_dir = \"data\"", "data_dir = \"/srv/c\"")).unwrap();
        assert_eq!(c.storage.data_dir, std::path::Path::new("/srv/c"));
        assert_eq!(c.storage.min_free_bytes, 500 * 1024 * 1024);
    }

    #[test]
    fn privacy_retention_is_checked() {
        assert_eq!(
            parse(MINIMAL).unwrap().privacy.retention.as_secs(),
            30 * 86_400
        );
        for v in ["0", "3651"] {
            assert_refused(
                &format!("{MINIMAL}[privacy]\nretention_days = {v}\n"),
                "privacy.retention_days",
            );
        }
    }
}
