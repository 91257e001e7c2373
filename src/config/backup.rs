//! `[backup]`: where `cosmosd backup --scheduled` (the systemd timer) writes its sets,
//! and how many it keeps.
//!
//! `destination` is a folder, `usb:LABEL` (the drive with that filesystem label), or
//! `ssh://user@host[:port]/path` (a set made in the data folder, copied with `rsync -a`
//! over ssh, verified there, see `src/backup/ssh.rs`). For ssh the box logs in with its
//! own key, `ssh_key` (default `backup_ssh_key` beside the config file), and trusts only
//! the host keys in `known_hosts` (default `backup_known_hosts` beside the config file;
//! seed it once with `ssh-keyscan -p PORT HOST >> /etc/cosmos/backup_known_hosts` and
//! compare the fingerprint with the backup host's own `ssh-keygen -lf`).

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
    /// `ssh://user@host[:port]/path`: rsync over ssh to a folder on another machine.
    Ssh(SshTarget),
}

/// Where an ssh destination points. `path` holds only letters, digits and `/._-` (it is
/// put on the remote shell's command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Folder(p) => write!(f, "{}", p.display()),
            Destination::UsbLabel(l) => write!(f, "usb:{l}"),
            Destination::Ssh(t) => write!(f, "ssh://{}@{}:{}{}", t.user, t.host, t.port, t.path),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    /// None: no scheduled backups (the timer's run says so and fails).
    pub destination: Option<Destination>,
    /// Sets kept at the destination; older ones are removed after a new one verified.
    pub keep: u32,
    /// The box's private key for ssh destinations.
    pub ssh_key: PathBuf,
    /// The only host keys an ssh destination may show (StrictHostKeyChecking).
    pub known_hosts: PathBuf,
    /// age recipients (`age1…` public keys): when given, every file of a set is encrypted
    /// to them, and only a matching identity (`cosmosd restore --identity`) opens it.
    pub encrypt_to: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBackup {
    destination: Option<String>,
    keep: u32,
    ssh_key: Option<String>,
    known_hosts: Option<String>,
    encrypt_to: Vec<String>,
}

impl Default for RawBackup {
    fn default() -> Self {
        RawBackup {
            destination: None,
            keep: 7,
            ssh_key: None,
            known_hosts: None,
            encrypt_to: Vec::new(),
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
        Some(d) if d.starts_with("ssh://") => Some(Destination::Ssh(ssh_target(d)?)),
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
    let file = |v: Option<String>, k: &str, default: &str| -> Result<PathBuf, ConfigError> {
        match v.as_deref().map(str::trim) {
            Some("") => Err(bad(k, "must not be empty (leave it out for the default)")),
            Some(p) => Ok(resolve(base, PathBuf::from(p))),
            None => Ok(base.join(default)),
        }
    };
    Ok(BackupConfig {
        destination,
        keep: in_range(r.keep, "backup.keep", 1..=365)?,
        ssh_key: file(r.ssh_key, "backup.ssh_key", "backup_ssh_key")?,
        known_hosts: file(r.known_hosts, "backup.known_hosts", "backup_known_hosts")?,
        encrypt_to: recipients(r.encrypt_to)?,
    })
}

/// Checks each `encrypt_to` entry is an age X25519 recipient (what `age-keygen -y` prints).
fn recipients(list: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.into_iter().enumerate() {
        let r = r.trim().to_string();
        if r.parse::<age::x25519::Recipient>().is_err() {
            return Err(bad(
                &format!("backup.encrypt_to[{i}]"),
                "must be an age public key (age1…, as `age-keygen -y KEYFILE` prints it)",
            ));
        }
        if out.contains(&r) {
            return Err(bad(&format!("backup.encrypt_to[{i}]"), "is given twice"));
        }
        out.push(r);
    }
    Ok(out)
}

/// Parses `ssh://user@host[:port]/path` (`cosmosd restore` takes one too); errors name
/// `backup.destination`.
pub fn ssh_target(d: &str) -> Result<SshTarget, ConfigError> {
    let key = "backup.destination";
    let form = "must be ssh://user@host[:port]/path";
    let rest = &d["ssh://".len()..];
    let (auth, path) = rest
        .find('/')
        .map(|i| rest.split_at(i))
        .ok_or_else(|| bad(key, format!("{form} (no /path)")))?;
    let (user, hostport) = auth
        .split_once('@')
        .ok_or_else(|| bad(key, format!("{form} (no user@)")))?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(key, format!("{form} (port {p:?} is not 1..65535)")))?,
        ),
        None => (hostport, 22),
    };
    let word = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if !word(user) {
        return Err(bad(key, format!("{form} (user {user:?})")));
    }
    if !word(host) {
        return Err(bad(key, format!("{form} (host {host:?})")));
    }
    let path_ok = path.len() > 1
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
        && !path.split('/').any(|c| c == "..");
    if !path_ok {
        return Err(bad(
            key,
            format!("{form} (the path may hold only letters, digits and /._-, no ..)"),
        ));
    }
    Ok(SshTarget {
        user: user.into(),
        host: host.into(),
        port,
        path: path.trim_end_matches('/').into(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{MINIMAL, assert_refused, parse};
    use super::{Destination, SshTarget};

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
        let c = parse(&format!(
            "{MINIMAL}\n[backup]\ndestination = \"ssh://cosmos@nas.local:2222/srv/backups/\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.backup.destination,
            Some(Destination::Ssh(SshTarget {
                user: "cosmos".into(),
                host: "nas.local".into(),
                port: 2222,
                path: "/srv/backups".into()
            }))
        );
        assert!(c.backup.ssh_key.ends_with("backup_ssh_key"));
        assert!(c.backup.known_hosts.ends_with("backup_known_hosts"));
        assert!(c.backup.encrypt_to.is_empty());
        let key = age::x25519::Identity::generate().to_public().to_string();
        let c = parse(&format!("{MINIMAL}\n[backup]\nencrypt_to = [\"{key}\"]\n")).unwrap();
        assert_eq!(c.backup.encrypt_to, std::slice::from_ref(&key));
        assert_refused(
            &format!("{MINIMAL}\n[backup]\nencrypt_to = [\"{key}\", \"{key}\"]\n"),
            "backup.encrypt_to[1]",
        );
        for (text, key) in [
            ("destination = \"\"", "backup.destination"),
            ("destination = \"usb:\"", "backup.destination"),
            ("destination = \"usb:has space\"", "backup.destination"),
            ("destination = \"ssh://nas/backups\"", "backup.destination"),
            ("destination = \"ssh://c@nas:0/b\"", "backup.destination"),
            ("destination = \"ssh://c@nas/b;rm\"", "backup.destination"),
            ("destination = \"ssh://c@nas/../b\"", "backup.destination"),
            ("destination = \"ssh://c@-oProxy/b\"", "backup.destination"),
            ("ssh_key = \"\"", "backup.ssh_key"),
            ("keep = 0", "backup.keep"),
            ("encrypt_to = [\"age1nope\"]", "backup.encrypt_to[0]"),
            (
                "encrypt_to = [\"ssh-ed25519 AAAA\"]",
                "backup.encrypt_to[0]",
            ),
            ("kept = 2", "backup.kept"),
        ] {
            assert_refused(&format!("{MINIMAL}\n[backup]\n{text}\n"), key);
        }
    }
}
