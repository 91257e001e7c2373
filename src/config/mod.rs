//! Configuration: one TOML file (API.md) parsed into a validated [`Config`].
//!
//! Each section lives in its own file as a raw serde type (exactly what may be written,
//! `deny_unknown_fields`, closed choices as serde enums, documented defaults as serde
//! defaults) and one check function turning it into the validated type the rest of the
//! crate uses: [`server`] (`[server]`, `[storage]`, `[privacy]`), [`devices`] (`[camera]`,
//! `[lights]`), [`venue`] (`[show]`, `[questionnaire]`), [`mail`], [`auth`].
//!
//! Invariants: unknown keys and bad values are hard errors that name the key
//! (`show.duration_minutes: …`); secrets may be given inline or as `*_file` paths
//! (exactly one of the two); nothing here falls back silently to a default for a
//! key that was given. Only keys that are *absent* take the documented defaults.
//! This module depends on the domain (`show` owns the essence list), never the reverse.

pub mod alerts;
pub mod auth;
pub mod backup;
pub mod devices;
pub mod mail;
pub mod server;
pub mod tls;
pub mod venue;

use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

pub use alerts::AlertsConfig;
pub use auth::AuthConfig;
pub use backup::{BackupConfig, Destination, SshTarget};
pub use devices::{
    BCM_PINS, CameraBackend, CameraConfig, CheckThresholds, FocusPolicy, LightsBackend,
    LightsConfig, PosingStyle,
};
pub use mail::{MailConfig, MailTls, MailTransport, SmtpConfig};
pub use server::{PrivacyConfig, ServerConfig, StorageConfig};
pub use tls::{TlsConfig, TlsMode};
pub use venue::{QuestionnaireConfig, ShowConfig};

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
    pub backup: BackupConfig,
    pub alerts: AlertsConfig,
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

/// The whole file as written. Sections without a required key may be left out.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    server: server::RawServer,
    storage: Option<server::RawStorage>,
    camera: Option<devices::RawCamera>,
    lights: Option<devices::RawLights>,
    #[serde(default)]
    show: venue::RawShow,
    mail: Option<mail::RawMail>,
    auth: Option<auth::RawAuth>,
    #[serde(default)]
    questionnaire: venue::RawQuestionnaire,
    #[serde(default)]
    privacy: server::RawPrivacy,
    #[serde(default)]
    backup: backup::RawBackup,
    #[serde(default)]
    alerts: alerts::RawAlerts,
}

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

/// The files and folders the config file at `path` names (secret files, CA and key files,
/// templates, ssh keys: every `*_file`, `*_dir`, `ssh_key` and `known_hosts` value, resolved
/// like the config resolves them), without the data folder. Backups keep them, since a
/// venue may keep a secret outside the configuration folder.
pub fn named_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("invalid config file {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    fn walk(t: &toml::Table, section: &str, base: &Path, out: &mut Vec<PathBuf>) {
        for (k, v) in t {
            match v {
                toml::Value::Table(inner) => walk(inner, k, base, out),
                toml::Value::String(s)
                    if !(section == "storage" && k == "data_dir")
                        && (k.ends_with("_file")
                            || k.ends_with("_dir")
                            || k == "ssh_key"
                            || k == "known_hosts") =>
                {
                    let p = resolve(base, PathBuf::from(s));
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
                _ => {}
            }
        }
    }
    walk(&table, "", base, &mut out);
    Ok(out)
}

/// Runs every section's check; the first bad key wins.
fn validate(raw: Raw, base: &Path) -> Result<Config, ConfigError> {
    let server = server::server(raw.server, base)?;
    let storage = server::storage(required(raw.storage, "storage")?, base)?;
    let camera = devices::camera(required(raw.camera, "camera")?, base)?;
    let lights = devices::lights(required(raw.lights, "lights")?)?;
    devices::power_pin_apart(&camera, &lights)?;
    Ok(Config {
        server,
        storage,
        camera,
        lights,
        show: venue::show(raw.show)?,
        mail: mail::mail(required(raw.mail, "mail")?, base)?,
        auth: auth::auth(required(raw.auth, "auth")?, base)?,
        questionnaire: venue::questionnaire(raw.questionnaire)?,
        privacy: server::privacy(raw.privacy)?,
        backup: backup::backup(raw.backup, base)?,
        alerts: alerts::alerts(raw.alerts)?,
    })
}

// ---- helpers shared by the section checks ---------------------------------------

fn resolve(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() { p } else { base.join(p) }
}

/// A path given for a file the daemon reads later (a CA, a photo): resolved, and it must
/// exist now, so a typo fails at start-up and not mid-show.
fn existing_file(base: &Path, key: &str, p: PathBuf) -> Result<PathBuf, ConfigError> {
    let path = resolve(base, p);
    if path.is_file() {
        Ok(path)
    } else {
        Err(bad(
            key,
            format!("{} is not a readable file", path.display()),
        ))
    }
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

fn in_range<T>(v: T, key: &str, range: RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: PartialOrd + fmt::Display,
{
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(bad(
            key,
            format!(
                "must be between {} and {}, got {v}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// A count of `unit`s written under `key`, checked against `range`, as a duration.
fn span(v: u32, key: &str, range: RangeInclusive<u32>, unit: u64) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(
        u64::from(in_range(v, key, range)?) * unit,
    ))
}

/// `*_seconds` keys: the value must lie in `range`.
fn secs(v: u32, key: &str, range: RangeInclusive<u32>) -> Result<Duration, ConfigError> {
    span(v, key, range, 1)
}

/// `*_hours` keys: the value must lie in `range`.
fn hours(v: u32, key: &str, range: RangeInclusive<u32>) -> Result<Duration, ConfigError> {
    span(v, key, range, 3600)
}

/// `*_days` keys: the value must lie in `range`.
fn days(v: u32, key: &str, range: RangeInclusive<u32>) -> Result<Duration, ConfigError> {
    span(v, key, range, 86_400)
}

/// The minimal valid file the section tests start from.
#[cfg(test)]
pub(crate) const MINIMAL: &str = r#"
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
host_pin = "123456"
kiosk_pin = "567890"
technician_password = "long-enough"
"#;

/// Parses `text` with `/etc/cosmos` as the config's folder.
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("/etc/cosmos"))
}

/// Asserts that `text` is refused and that the error names `key`.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_refused(text: &str, key: &str) {
    match parse(text) {
        Ok(_) => panic!("accepted, expected an error naming {key}:\n{text}"),
        Err(e) => assert_eq!(e.key, key, "{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_settings_profile_is_read_in_key_order() {
        let c = parse(&format!(
            "{MINIMAL}\n[camera.settings]\nshutterspeed = \"1/125\"\nf-number = \"f/8\"\n"
        ))
        .unwrap();
        let want = [("f-number", "f/8"), ("shutterspeed", "1/125")];
        let want: Vec<_> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(c.camera.settings, want);
        assert!(parse(MINIMAL).unwrap().camera.settings.is_empty());
    }

    #[test]
    fn unknown_keys_are_named_in_full() {
        assert_refused(
            &format!("{MINIMAL}\n[server]\nlistn = \"x\"\n"),
            "server.listn",
        );
        assert_refused(&format!("colour = 1\n{MINIMAL}"), "colour");
    }

    #[test]
    fn wrong_types_name_the_key() {
        assert_refused(
            &MINIMAL.replace("[camera]", "[show]\nduration_minutes = \"ten\"\n[camera]"),
            "show.duration_minutes",
        );
    }

    #[test]
    fn missing_sections_are_named() {
        for section in ["storage", "camera", "lights", "mail", "auth"] {
            // MINIMAL without the section's header and keys.
            let mut out = String::new();
            let mut skipping = false;
            for line in MINIMAL.lines() {
                if line.starts_with('[') {
                    skipping = line == format!("[{section}]");
                }
                if !skipping {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            assert_refused(&out, section);
        }
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
                format!("{MINIMAL}\n[camera.settings]\niso = 800\n"),
                "camera.settings.iso",
            ),
            (
                format!("{MINIMAL}\n[camera.settings]\nf-number = \" \"\n"),
                "camera.settings.f-number",
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
                MINIMAL.replace("kiosk_pin = \"567890\"", "kiosk_pin = \"123456\""),
                "auth.kiosk_pin",
            ),
            (
                MINIMAL.replace("host_pin = \"123456\"", "host_pin = \"12\""),
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
            assert_refused(&text, key);
        }
    }

    #[test]
    fn secrets_come_from_files_and_are_not_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pin"), "987654\n").unwrap();
        let text = MINIMAL.replace("host_pin = \"123456\"", "host_pin_file = \"pin\"");
        let c = Config::from_toml_str(&text, dir.path()).unwrap();
        assert_eq!(c.auth.host_pin.expose(), "987654");
        assert!(!format!("{c:?}").contains("987654"));
        let both = MINIMAL.replace(
            "host_pin = \"123456\"",
            "host_pin = \"123456\"\nhost_pin_file = \"pin\"",
        );
        assert_eq!(
            Config::from_toml_str(&both, dir.path()).unwrap_err().key,
            "auth.host_pin"
        );
        let missing = MINIMAL.replace("host_pin = \"123456\"", "host_pin_file = \"nope\"");
        assert_eq!(
            Config::from_toml_str(&missing, dir.path()).unwrap_err().key,
            "auth.host_pin_file"
        );
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let empty = MINIMAL.replace("host_pin = \"123456\"", "host_pin_file = \"empty\"");
        assert_eq!(
            Config::from_toml_str(&empty, dir.path()).unwrap_err().key,
            "auth.host_pin_file"
        );
    }

    #[test]
    fn durations_are_range_checked_in_their_unit() {
        assert_eq!(
            secs(30, "a.b_seconds", 1..=600).unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(
            hours(2, "a.b_hours", 1..=24).unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            days(1, "a.b_days", 1..=2).unwrap(),
            Duration::from_secs(86_400)
        );
        let e = secs(0, "a.b_seconds", 1..=600).unwrap_err();
        assert_eq!(e.key, "a.b_seconds");
        assert!(e.message.contains("between 1 and 600, got 0"), "{e}");
        assert_eq!(hours(25, "a.b_hours", 1..=24).unwrap_err().key, "a.b_hours");
    }
}
