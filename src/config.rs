//! Configuration: one TOML file (API.md) parsed into a validated [`Config`].
//!
//! Invariants: unknown keys and bad values are hard errors that name the key
//! (`show.duration_minutes: …`); secrets may be given inline or as `*_file` paths
//! (exactly one of the two); nothing here falls back silently to a default for a
//! key that was given. Only keys that are *absent* take the documented defaults.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// The validated configuration. Built only by [`Config::from_toml_str`] / [`Config::load`].
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub camera: CameraConfig,
    pub lights: LightsConfig,
    pub show: ShowConfig,
    pub mail: MailConfig,
    pub auth: AuthConfig,
    pub questionnaire: QuestionnaireConfig,
    pub privacy: PrivacyConfig,
}

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
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// SQLite file and photo folder live here.
    pub data_dir: PathBuf,
    /// Below this much free space the box reports itself degraded (and refuses captures).
    pub min_free_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraBackend {
    Gphoto2,
    Simulated,
}

#[derive(Debug, Clone)]
pub struct CameraConfig {
    pub backend: CameraBackend,
    /// Skip autodetection and open this model.
    pub model: Option<String>,
    /// Skip autodetection and open this port (`usb:001,004`).
    pub port: Option<String>,
    /// Longest any one camera call may take before it counts as a disconnect.
    pub call_timeout: Duration,
    /// How often a connected camera is polled to notice an unplug.
    pub poll_interval: Duration,
    /// "Busy" answers retried at once within one capture.
    pub busy_retries: u32,
    /// The JPEG the simulated camera shoots (default: a generated test pattern).
    pub simulated_photo: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LightsBackend {
    Rppal,
    Simulated,
}

#[derive(Debug, Clone)]
pub struct LightsConfig {
    pub backend: LightsBackend,
    /// BCM pin per floor marker; their count caps the number of guests in a show.
    pub pins: Vec<u8>,
    /// Relay boards are often active-low: a low pin lights the marker.
    pub active_low: bool,
    /// Posing markers steady, or in a slow pulse.
    pub posing: crate::lights::PosingStyle,
}

#[derive(Debug, Clone)]
pub struct ShowConfig {
    pub duration_minutes: u32,
    pub changeover_minutes: u32,
    pub spontaneous_offset_seconds: u32,
    /// Length of the light countdown before the posed photo.
    pub countdown_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTransport {
    Smtp,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTls {
    StartTls,
    Tls,
    None,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// `Name <address>` the guests see as the sender.
    pub from: String,
    pub smtp: Option<SmtpConfig>,
    /// The venue's edited templates; `None` = the defaults built into the binary.
    pub templates_dir: Option<PathBuf>,
    /// First wait after a temporary failure; doubles per attempt (with jitter).
    pub retry_initial: Duration,
    /// Cap of that wait, so a message is retried at least this often.
    pub retry_max: Duration,
    /// After this long in the queue a message stops being retried and is marked failed.
    pub queue_lifetime: Duration,
    /// Messages sent over one SMTP connection before it is closed.
    pub batch_size: u32,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: MailTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Bound on every SMTP stage (connect, TLS, each command, the data transfer).
    pub timeout: Duration,
    /// An extra trusted root (PEM) for a relay with a private CA; the system's roots
    /// are trusted as well.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub host_pin: Secret,
    pub kiosk_pin: Secret,
    pub technician_password: Secret,
    /// The room's show-control system; absent = the spontaneous trigger is host-only.
    pub show_control_token: Option<Secret>,
    /// Lifetime of host, technician and show-control sessions.
    pub session_ttl: Duration,
    /// Kiosk tablets are paired once by staff and keep their token for a long time.
    pub kiosk_session_ttl: Duration,
    /// Failed logins from one address before it is locked out.
    pub max_failed_logins: u32,
    /// First lockout; each further lockout doubles it (capped at 15 minutes).
    pub lockout: Duration,
}

/// `[privacy]`: how long guest data is kept.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Guests, shows, photos and messages untouched this long are purged (daily).
    /// `retention_days`, 1–3650, default 30.
    pub retention: Duration,
}

#[derive(Debug, Clone)]
pub struct QuestionnaireConfig {
    pub essences: Vec<Essence>,
}

/// One choice of the venue's essence list, with its display names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Essence {
    pub id: String,
    pub es: String,
    pub en: String,
}

/// A secret value; never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A configuration error naming the offending key.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        message: message.into(),
    }
}

// ---- raw, as written in the file -------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    server: RawServer,
    storage: Option<RawStorage>,
    camera: Option<RawCamera>,
    lights: Option<RawLights>,
    #[serde(default)]
    show: RawShow,
    mail: Option<RawMail>,
    auth: Option<RawAuth>,
    #[serde(default)]
    questionnaire: RawQuestionnaire,
    #[serde(default)]
    privacy: RawPrivacy,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    retention_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    workers: Option<u32>,
    max_body_bytes: Option<u64>,
    io_timeout_seconds: Option<u32>,
    events_keepalive_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    data_dir: Option<PathBuf>,
    min_free_mb: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    backend: Option<String>,
    model: Option<String>,
    port: Option<String>,
    call_timeout_seconds: Option<u32>,
    poll_seconds: Option<u32>,
    busy_retries: Option<u32>,
    simulated_photo: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLights {
    backend: Option<String>,
    pins: Option<Vec<i64>>,
    active_low: Option<bool>,
    posing: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawShow {
    duration_minutes: Option<u32>,
    changeover_minutes: Option<u32>,
    spontaneous_offset_seconds: Option<u32>,
    countdown_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMail {
    transport: Option<String>,
    from: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    timeout_seconds: Option<u32>,
    templates_dir: Option<PathBuf>,
    retry_initial_seconds: Option<u32>,
    retry_max_seconds: Option<u32>,
    queue_lifetime_hours: Option<u32>,
    batch_size: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    host_pin: Option<String>,
    host_pin_file: Option<PathBuf>,
    kiosk_pin: Option<String>,
    kiosk_pin_file: Option<PathBuf>,
    technician_password: Option<String>,
    technician_password_file: Option<PathBuf>,
    show_control_token: Option<String>,
    show_control_token_file: Option<PathBuf>,
    session_ttl_hours: Option<u32>,
    kiosk_session_ttl_days: Option<u32>,
    max_failed_logins: Option<u32>,
    lockout_seconds: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQuestionnaire {
    essences: Option<Vec<RawEssence>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEssence {
    id: String,
    es: String,
    en: String,
}

/// The default essence list: the three of the brief plus a few of the same spirit.
pub fn default_essences() -> Vec<Essence> {
    [
        ("guerrero", "Guerrero", "Warrior"),
        ("flor", "Flor", "Flower"),
        ("colibrí", "Colibrí", "Hummingbird"),
        ("jaguar", "Jaguar", "Jaguar"),
        ("águila", "Águila", "Eagle"),
        ("montaña", "Montaña", "Mountain"),
        ("estrella", "Estrella", "Star"),
    ]
    .into_iter()
    .map(|(id, es, en)| Essence {
        id: id.into(),
        es: es.into(),
        en: en.into(),
    })
    .collect()
}

/// BCM GPIO numbers that exist on the Pi's 40-pin header.
pub const BCM_PINS: std::ops::RangeInclusive<i64> = 0..=27;

impl Config {
    /// Reads and validates the file at `path`; relative paths in it are taken from its folder.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml_str(&text, base)
            .with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses and validates TOML text; `base` resolves relative paths (data_dir, secret files).
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| bad("(file)", e.to_string()))?;
        let raw: Raw = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.message().to_string();
            // The path already ends in the offending key (`server.listn`), unknown ones included.
            let key = if path == "." {
                "(file)".to_string()
            } else {
                path
            };
            bad(&key, msg)
        })?;
        validate(raw, base)
    }
}

fn resolve(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() { p } else { base.join(p) }
}

/// Exactly one of `value` and `file`; a file's trailing newline is not part of the secret.
fn secret(
    base: &Path,
    key: &str,
    value: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(bad(
            key,
            format!("give either `{key}` or `{key}_file`, not both"),
        )),
        (Some(v), None) => Ok(Some(Secret(v))),
        (None, Some(f)) => {
            let path = resolve(base, f);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                bad(
                    &format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let v = text.trim_end_matches(['\n', '\r']).to_string();
            if v.is_empty() {
                return Err(bad(
                    &format!("{key}_file"),
                    format!("{} is empty", path.display()),
                ));
            }
            Ok(Some(Secret(v)))
        }
        (None, None) => Ok(None),
    }
}

fn required<T>(v: Option<T>, key: &str) -> Result<T, ConfigError> {
    v.ok_or_else(|| bad(key, "is required"))
}

fn in_range(v: u32, key: &str, lo: u32, hi: u32) -> Result<u32, ConfigError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(bad(key, format!("must be between {lo} and {hi}, got {v}")))
    }
}

fn validate(raw: Raw, base: &Path) -> Result<Config, ConfigError> {
    let server = {
        let r = raw.server;
        let listen = r.listen.unwrap_or_else(|| "0.0.0.0:8080".into());
        let listen: SocketAddr = listen.parse().map_err(|_| {
            bad(
                "server.listen",
                format!("`{listen}` is not an IP:port address"),
            )
        })?;
        ServerConfig {
            listen,
            workers: in_range(r.workers.unwrap_or(4), "server.workers", 1, 64)? as usize,
            max_body_bytes: {
                let v = r.max_body_bytes.unwrap_or(64 * 1024);
                if !(1024..=16 * 1024 * 1024).contains(&v) {
                    return Err(bad(
                        "server.max_body_bytes",
                        "must be between 1024 and 16777216",
                    ));
                }
                v as usize
            },
            io_timeout: Duration::from_secs(
                in_range(
                    r.io_timeout_seconds.unwrap_or(30),
                    "server.io_timeout_seconds",
                    1,
                    600,
                )?
                .into(),
            ),
            events_keepalive: Duration::from_secs(
                in_range(
                    r.events_keepalive_seconds.unwrap_or(15),
                    "server.events_keepalive_seconds",
                    1,
                    300,
                )?
                .into(),
            ),
        }
    };

    let storage = {
        let r = required(raw.storage, "storage")?;
        let dir = required(r.data_dir, "storage.data_dir")?;
        if dir.as_os_str().is_empty() {
            return Err(bad("storage.data_dir", "must not be empty"));
        }
        StorageConfig {
            data_dir: resolve(base, dir),
            min_free_bytes: r.min_free_mb.unwrap_or(500).saturating_mul(1024 * 1024),
        }
    };

    let camera = {
        let r = required(raw.camera, "camera")?;
        let backend = match required(r.backend, "camera.backend")?.as_str() {
            "gphoto2" => CameraBackend::Gphoto2,
            "simulated" => CameraBackend::Simulated,
            other => {
                return Err(bad(
                    "camera.backend",
                    format!("`{other}` is not one of \"gphoto2\", \"simulated\""),
                ));
            }
        };
        if r.port.is_some() && r.model.is_none() {
            return Err(bad(
                "camera.port",
                "give camera.model too (libgphoto2 opens a model on a port)",
            ));
        }
        for (key, v) in [("camera.model", &r.model), ("camera.port", &r.port)] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(bad(key, "must not be empty (leave it out to autodetect)"));
            }
        }
        let simulated_photo = match r.simulated_photo {
            None => None,
            Some(_) if backend != CameraBackend::Simulated => {
                return Err(bad(
                    "camera.simulated_photo",
                    "only applies to `backend = \"simulated\"`",
                ));
            }
            Some(p) => {
                let path = resolve(base, p);
                if !path.is_file() {
                    return Err(bad(
                        "camera.simulated_photo",
                        format!("{} is not a readable file", path.display()),
                    ));
                }
                Some(path)
            }
        };
        CameraConfig {
            backend,
            simulated_photo,
            model: r.model,
            port: r.port,
            call_timeout: Duration::from_secs(
                in_range(
                    r.call_timeout_seconds.unwrap_or(20),
                    "camera.call_timeout_seconds",
                    1,
                    300,
                )?
                .into(),
            ),
            poll_interval: Duration::from_secs(
                in_range(r.poll_seconds.unwrap_or(5), "camera.poll_seconds", 1, 600)?.into(),
            ),
            busy_retries: in_range(r.busy_retries.unwrap_or(3), "camera.busy_retries", 0, 20)?,
        }
    };

    let lights = {
        let r = required(raw.lights, "lights")?;
        let backend = match required(r.backend, "lights.backend")?.as_str() {
            "rppal" => LightsBackend::Rppal,
            "simulated" => LightsBackend::Simulated,
            other => {
                return Err(bad(
                    "lights.backend",
                    format!("`{other}` is not one of \"rppal\", \"simulated\""),
                ));
            }
        };
        let pins = r.pins.unwrap_or_else(|| vec![17, 27, 22, 23]);
        validate_pins(&pins)?;
        LightsConfig {
            backend,
            pins: pins.into_iter().map(|p| p as u8).collect(),
            active_low: r.active_low.unwrap_or(false),
            posing: match r.posing.as_deref().unwrap_or("steady") {
                "steady" => crate::lights::PosingStyle::Steady,
                "pulse" => crate::lights::PosingStyle::Pulse,
                other => {
                    return Err(bad(
                        "lights.posing",
                        format!("`{other}` is not one of \"steady\", \"pulse\""),
                    ));
                }
            },
        }
    };

    let show = {
        let r = raw.show;
        let duration = in_range(
            r.duration_minutes.unwrap_or(15),
            "show.duration_minutes",
            1,
            240,
        )?;
        let changeover = in_range(
            r.changeover_minutes.unwrap_or(5),
            "show.changeover_minutes",
            0,
            240,
        )?;
        let offset = r.spontaneous_offset_seconds.unwrap_or(540);
        if offset >= duration * 60 {
            return Err(bad(
                "show.spontaneous_offset_seconds",
                format!(
                    "must be less than the show's length ({} s), got {offset}",
                    duration * 60
                ),
            ));
        }
        ShowConfig {
            duration_minutes: duration,
            changeover_minutes: changeover,
            spontaneous_offset_seconds: offset,
            countdown_seconds: in_range(
                r.countdown_seconds.unwrap_or(5),
                "show.countdown_seconds",
                0,
                30,
            )?,
        }
    };

    let mail = {
        let r = required(raw.mail, "mail")?;
        let transport = match required(r.transport, "mail.transport")?.as_str() {
            "smtp" => MailTransport::Smtp,
            "file" => MailTransport::File,
            other => {
                return Err(bad(
                    "mail.transport",
                    format!("`{other}` is not one of \"smtp\", \"file\""),
                ));
            }
        };
        let from = required(r.from, "mail.from")?;
        if from_address(&from).is_none() {
            return Err(bad(
                "mail.from",
                format!("`{from}` is not an address like `COSMOS <cosmos@example.com>`"),
            ));
        }
        let password = secret(base, "mail.password", r.password, r.password_file)?;
        let smtp = match transport {
            MailTransport::File => None,
            MailTransport::Smtp => {
                let host = required(r.smtp_host.clone(), "mail.smtp_host")?;
                if host.trim().is_empty() {
                    return Err(bad("mail.smtp_host", "must not be empty"));
                }
                let tls = match r.tls.as_deref().unwrap_or("starttls") {
                    "starttls" => MailTls::StartTls,
                    "tls" => MailTls::Tls,
                    "none" => MailTls::None,
                    other => {
                        return Err(bad(
                            "mail.tls",
                            format!("`{other}` is not one of \"starttls\", \"tls\", \"none\""),
                        ));
                    }
                };
                let port = r.smtp_port.unwrap_or(match tls {
                    MailTls::Tls => 465,
                    _ => 587,
                });
                if port == 0 {
                    return Err(bad("mail.smtp_port", "must not be 0"));
                }
                if r.username.is_some() != password.is_some() {
                    return Err(bad(
                        "mail.username",
                        "give both `username` and `password_file`, or neither",
                    ));
                }
                let ca_file = match r.ca_file.clone() {
                    None => None,
                    Some(f) => {
                        let path = resolve(base, f);
                        if !path.is_file() {
                            return Err(bad(
                                "mail.ca_file",
                                format!("{} is not a readable file", path.display()),
                            ));
                        }
                        Some(path)
                    }
                };
                Some(SmtpConfig {
                    host,
                    port,
                    tls,
                    username: r.username,
                    password,
                    timeout: Duration::from_secs(
                        in_range(
                            r.timeout_seconds.unwrap_or(30),
                            "mail.timeout_seconds",
                            1,
                            600,
                        )?
                        .into(),
                    ),
                    ca_file,
                })
            }
        };
        if transport == MailTransport::File {
            for (set, key) in [
                (r.smtp_host.is_some(), "mail.smtp_host"),
                (r.ca_file.is_some(), "mail.ca_file"),
                (r.timeout_seconds.is_some(), "mail.timeout_seconds"),
            ] {
                if set {
                    return Err(bad(key, "only applies to `transport = \"smtp\"`"));
                }
            }
        }
        let templates_dir = match r.templates_dir {
            None => None,
            Some(d) => {
                let path = resolve(base, d);
                if !path.is_dir() {
                    return Err(bad(
                        "mail.templates_dir",
                        format!("{} is not a folder", path.display()),
                    ));
                }
                Some(path)
            }
        };
        let retry_initial = in_range(
            r.retry_initial_seconds.unwrap_or(30),
            "mail.retry_initial_seconds",
            1,
            86_400,
        )?;
        let retry_max = in_range(
            r.retry_max_seconds.unwrap_or(1800),
            "mail.retry_max_seconds",
            1,
            86_400,
        )?;
        if retry_max < retry_initial {
            return Err(bad(
                "mail.retry_max_seconds",
                format!("must not be less than mail.retry_initial_seconds ({retry_initial})"),
            ));
        }
        MailConfig {
            transport,
            from,
            smtp,
            templates_dir,
            retry_initial: Duration::from_secs(retry_initial.into()),
            retry_max: Duration::from_secs(retry_max.into()),
            queue_lifetime: Duration::from_secs(
                u64::from(in_range(
                    r.queue_lifetime_hours.unwrap_or(168),
                    "mail.queue_lifetime_hours",
                    1,
                    24 * 90,
                )?) * 3600,
            ),
            batch_size: in_range(r.batch_size.unwrap_or(50), "mail.batch_size", 1, 1000)?,
        }
    };

    let auth = {
        let r = required(raw.auth, "auth")?;
        let host_pin = required(
            secret(base, "auth.host_pin", r.host_pin, r.host_pin_file)?,
            "auth.host_pin",
        )?;
        let kiosk_pin = required(
            secret(base, "auth.kiosk_pin", r.kiosk_pin, r.kiosk_pin_file)?,
            "auth.kiosk_pin",
        )?;
        let technician_password = required(
            secret(
                base,
                "auth.technician_password",
                r.technician_password,
                r.technician_password_file,
            )?,
            "auth.technician_password",
        )?;
        let show_control_token = secret(
            base,
            "auth.show_control_token",
            r.show_control_token,
            r.show_control_token_file,
        )?;
        for (key, s, min) in [
            ("auth.host_pin", &host_pin, 4),
            ("auth.kiosk_pin", &kiosk_pin, 4),
            ("auth.technician_password", &technician_password, 8),
        ] {
            if s.0.chars().count() < min {
                return Err(bad(key, format!("must be at least {min} characters")));
            }
        }
        if host_pin == kiosk_pin {
            return Err(bad("auth.kiosk_pin", "must differ from auth.host_pin"));
        }
        if let Some(t) = &show_control_token
            && t.0.len() < 16
        {
            return Err(bad(
                "auth.show_control_token",
                "must be at least 16 characters",
            ));
        }
        AuthConfig {
            host_pin,
            kiosk_pin,
            technician_password,
            show_control_token,
            session_ttl: Duration::from_secs(
                u64::from(in_range(
                    r.session_ttl_hours.unwrap_or(12),
                    "auth.session_ttl_hours",
                    1,
                    24 * 7,
                )?) * 3600,
            ),
            kiosk_session_ttl: Duration::from_secs(
                u64::from(in_range(
                    r.kiosk_session_ttl_days.unwrap_or(90),
                    "auth.kiosk_session_ttl_days",
                    1,
                    366,
                )?) * 86_400,
            ),
            max_failed_logins: in_range(
                r.max_failed_logins.unwrap_or(5),
                "auth.max_failed_logins",
                1,
                100,
            )?,
            lockout: Duration::from_secs(
                in_range(
                    r.lockout_seconds.unwrap_or(30),
                    "auth.lockout_seconds",
                    1,
                    3600,
                )?
                .into(),
            ),
        }
    };

    let questionnaire = {
        let essences = match raw.questionnaire.essences {
            None => default_essences(),
            Some(list) => {
                if list.is_empty() {
                    return Err(bad(
                        "questionnaire.essences",
                        "must list at least one essence",
                    ));
                }
                let mut out: Vec<Essence> = Vec::with_capacity(list.len());
                for (i, e) in list.into_iter().enumerate() {
                    let id = e.id.trim().to_lowercase();
                    if id.is_empty() || e.es.trim().is_empty() || e.en.trim().is_empty() {
                        return Err(bad(
                            &format!("questionnaire.essences[{i}]"),
                            "id, es and en must not be empty",
                        ));
                    }
                    if out.iter().any(|o| o.id == id) {
                        return Err(bad(
                            &format!("questionnaire.essences[{i}].id"),
                            format!("`{id}` is listed twice"),
                        ));
                    }
                    out.push(Essence {
                        id,
                        es: e.es.trim().into(),
                        en: e.en.trim().into(),
                    });
                }
                out
            }
        };
        QuestionnaireConfig { essences }
    };
    let privacy = PrivacyConfig {
        retention: Duration::from_secs(
            u64::from(in_range(
                raw.privacy.retention_days.unwrap_or(30),
                "privacy.retention_days",
                1,
                3650,
            )?) * 86_400,
        ),
    };

    Ok(Config {
        server,
        storage,
        camera,
        lights,
        show,
        mail,
        auth,
        questionnaire,
        privacy,
    })
}

fn validate_pins(pins: &[i64]) -> Result<(), ConfigError> {
    if pins.is_empty() {
        return Err(bad(
            "lights.pins",
            "must list at least one pin (one per floor marker)",
        ));
    }
    if pins.len() > 8 {
        return Err(bad("lights.pins", "at most 8 floor markers are supported"));
    }
    for (i, p) in pins.iter().enumerate() {
        if !BCM_PINS.contains(p) {
            return Err(bad(
                "lights.pins",
                format!("pin {p} is not a BCM GPIO of the Pi's header (0–27)"),
            ));
        }
        if pins[..i].contains(p) {
            return Err(bad("lights.pins", format!("pin {p} is listed twice")));
        }
    }
    Ok(())
}

/// The address part of `Name <addr>` or a bare `addr`, if it is a valid address.
pub fn from_address(from: &str) -> Option<&str> {
    let addr = match (from.rfind('<'), from.rfind('>')) {
        (Some(l), Some(r)) if l < r && r == from.trim_end().len() - 1 => &from[l + 1..r],
        (None, None) => from.trim(),
        _ => return None,
    };
    crate::show::is_valid_email(addr).then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[storage]
data_dir = "data"
[camera]
backend = "simulated"
[lights]
backend = "simulated"
[mail]
transport = "file"
from = "COSMOS <cosmos@example.com>"
[auth]
host_pin = "1234"
kiosk_pin = "5678"
technician_password = "long-enough"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("/etc/cosmos"))
    }

    #[test]
    fn minimal_config_takes_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.storage.data_dir, PathBuf::from("/etc/cosmos/data"));
        assert_eq!(c.lights.pins, vec![17, 27, 22, 23]);
        assert_eq!(c.show.duration_minutes, 15);
        assert_eq!(c.show.changeover_minutes, 5);
        assert_eq!(c.show.spontaneous_offset_seconds, 540);
        assert!(c.questionnaire.essences.iter().any(|e| e.id == "colibrí"));
    }

    #[test]
    fn unknown_keys_are_named_in_full() {
        let e = parse(&format!("{MINIMAL}\n[server]\nlistn = \"x\"\n")).unwrap_err();
        assert_eq!(e.key, "server.listn", "{e}");
        let e = parse(&format!("colour = 1\n{MINIMAL}")).unwrap_err();
        assert_eq!(e.key, "colour", "{e}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = parse(&MINIMAL.replace("[camera]", "[show]\nduration_minutes = \"ten\"\n[camera]"))
            .unwrap_err();
        assert_eq!(e.key, "show.duration_minutes", "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (
                format!("{MINIMAL}\n[privacy]\nretention_days = 0\n"),
                "privacy.retention_days",
            ),
            (
                format!("{MINIMAL}\n[privacy]\nretention_dayz = 30\n"),
                "privacy.retention_dayz",
            ),
            (
                MINIMAL.replace(
                    "backend = \"simulated\"\n[lights]",
                    "backend = \"canon\"\n[lights]",
                ),
                "camera.backend",
            ),
            (
                MINIMAL.replace(
                    "[lights]\nbackend = \"simulated\"",
                    "[lights]\nbackend = \"simulated\"\npins = [17, 17]",
                ),
                "lights.pins",
            ),
            (
                MINIMAL.replace(
                    "[lights]\nbackend = \"simulated\"",
                    "[lights]\nbackend = \"simulated\"\npins = [40]",
                ),
                "lights.pins",
            ),
            (
                MINIMAL.replace("kiosk_pin = \"5678\"", "kiosk_pin = \"1234\""),
                "auth.kiosk_pin",
            ),
            (
                MINIMAL.replace("host_pin = \"1234\"", "host_pin = \"12\""),
                "auth.host_pin",
            ),
            (
                MINIMAL.replace(
                    "from = \"COSMOS <cosmos@example.com>\"",
                    "from = \"nobody\"",
                ),
                "mail.from",
            ),
            (
                MINIMAL.replace("transport = \"file\"", "transport = \"smtp\""),
                "mail.smtp_host",
            ),
            (
                format!("{MINIMAL}[show]\nspontaneous_offset_seconds = 900\n"),
                "show.spontaneous_offset_seconds",
            ),
            (
                format!("{MINIMAL}[server]\nlisten = \"localhost\"\n"),
                "server.listen",
            ),
            (
                MINIMAL.replace("[storage]\ndata_dir = \"data\"", "[storage]"),
                "storage.data_dir",
            ),
        ];
        for (text, key) in cases {
            let e = parse(&text).expect_err(key);
            assert_eq!(e.key, key, "{e}");
        }
    }

    #[test]
    fn secrets_come_from_files_and_are_not_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pin"), "9876\n").unwrap();
        let text = MINIMAL.replace("host_pin = \"1234\"", "host_pin_file = \"pin\"");
        let c = Config::from_toml_str(&text, dir.path()).unwrap();
        assert_eq!(c.auth.host_pin.expose(), "9876");
        assert!(!format!("{c:?}").contains("9876"));
        let both = MINIMAL.replace(
            "host_pin = \"1234\"",
            "host_pin = \"1234\"\nhost_pin_file = \"pin\"",
        );
        assert_eq!(
            Config::from_toml_str(&both, dir.path()).unwrap_err().key,
            "auth.host_pin"
        );
        let missing = MINIMAL.replace("host_pin = \"1234\"", "host_pin_file = \"nope\"");
        assert_eq!(
            Config::from_toml_str(&missing, dir.path()).unwrap_err().key,
            "auth.host_pin_file"
        );
    }

    #[test]
    fn from_address_accepts_named_and_bare_forms() {
        assert_eq!(
            from_address("COSMOS <cosmos@example.com>"),
            Some("cosmos@example.com")
        );
        assert_eq!(
            from_address("cosmos@example.com"),
            Some("cosmos@example.com")
        );
        assert_eq!(from_address("COSMOS <cosmos@example.com"), None);
        assert_eq!(from_address("COSMOS"), None);
    }
}
