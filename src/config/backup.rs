//! `[backup]`: where `cosmosd backup --scheduled` (the systemd timer) writes its sets,
//! and how many it keeps.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, bad, in_range, resolve};

/// Where scheduled backups go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A folder (ideally on another disk than the data folder).
    Folder(PathBuf),
    /// The drive with this filesystem label, mounted for the run and unmounted after.
    UsbLabel(String),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Folder(p) => write!(f, "{}", p.display()),
            Destination::UsbLabel(l) => write!(f, "usb:{l}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    /// None: no scheduled backups (the timer's run says so and fails).
    pub destination: Option<Destination>,
    /// Sets kept at the destination; older ones are removed after a new one verified.
    pub keep: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBackup {
    destination: Option<String>,
    keep: u32,
}

impl Default for RawBackup {
    fn default() -> Self {
        RawBackup {
            destination: None,
            keep: 7,
        }
    }
}

pub(super) fn backup(r: RawBackup, base: &Path) -> Result<BackupConfig, ConfigError> {
    let key = "backup.destination";
    let destination = match r.destination.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            return Err(bad(
                key,
                "must not be empty (leave it out for no scheduled backups)",
            ));
        }
        Some(d) if d.starts_with("ssh://") => {
            return Err(bad(
                key,
                "ssh:// destinations are not supported by this cosmosd yet: use a folder or usb:LABEL",
            ));
        }
        Some(d) => match d.strip_prefix("usb:") {
            Some(label) => {
                let ok = !label.is_empty()
                    && label.len() <= 16
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
                if !ok {
                    return Err(bad(
                        key,
                        "usb:LABEL needs a filesystem label of up to 16 letters, digits, - or _",
                    ));
                }
                Some(Destination::UsbLabel(label.to_string()))
            }
            None => Some(Destination::Folder(resolve(base, PathBuf::from(d)))),
        },
    };
    Ok(BackupConfig {
        destination,
        keep: in_range(r.keep, "backup.keep", 1..=365)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{MINIMAL, assert_refused, parse};
    use super::Destination;

    #[test]
    fn backup_keys_take_defaults_and_are_checked() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.backup.destination, None);
        assert_eq!(c.backup.keep, 7);
        let c = parse(&format!(
            "{MINIMAL}\n[backup]\ndestination = \"usb:COSMOS-BACKUP\"\nkeep = 3\n"
        ))
        .unwrap();
        assert_eq!(
            c.backup.destination,
            Some(Destination::UsbLabel("COSMOS-BACKUP".into()))
        );
        assert_eq!(c.backup.keep, 3);
        let c = parse(&format!(
            "{MINIMAL}\n[backup]\ndestination = \"/mnt/backup\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.backup.destination,
            Some(Destination::Folder("/mnt/backup".into()))
        );
        for (text, key) in [
            ("destination = \"\"", "backup.destination"),
            ("destination = \"usb:\"", "backup.destination"),
            ("destination = \"usb:has space\"", "backup.destination"),
            (
                "destination = \"ssh://cosmos@nas/backups\"",
                "backup.destination",
            ),
            ("keep = 0", "backup.keep"),
            ("kept = 2", "backup.kept"),
        ] {
            assert_refused(&format!("{MINIMAL}\n[backup]\n{text}\n"), key);
        }
    }
}
