//! Scheduled sets to `ssh://user@host[:port]/path`.
//!
//! The set is made locally first, in `<data folder>/.backup-staging/` (so the data
//! folder's disk needs room for one more whole set — database + photos + config — for
//! the length of the run; the staging copy is removed at the end, good or bad), checked
//! against its manifest, then copied with `rsync -a` over `ssh` into
//! `<path>/.cosmos-<time>.partial` on the backup host. It is verified there by a second
//! rsync, `--checksum --dry-run --itemize-changes --delete`: rsync reads every remote
//! file's checksum and lists anything that differs or is extra; nothing listed means the
//! remote copy equals the verified local set byte for byte. Only then is it renamed to
//! `cosmos-<time>`, and only then are the sets beyond `keep` removed — names matching
//! the set pattern only, never anything else in that folder.
//!
//! The box logs in with its own key (`backup.ssh_key`) and trusts only the host keys in
//! `backup.known_hosts` (StrictHostKeyChecking; no user or system ssh config is read).
//! Failures the technician can act on get their own words in `backup-status`: host
//! unreachable, key refused, unknown host key, remote disk full.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use super::scheduled::{SET_PREFIX, Scheduled, set_name};
use super::{backup_with, verify};
use crate::config::{Config, SshTarget};

/// Where the local copy of the set is made (inside the data folder).
pub const STAGING_DIR: &str = ".backup-staging";

/// One scheduled run to an ssh destination.
pub(super) fn write_set(
    config: &Config,
    config_path: &Path,
    target: &SshTarget,
    now: DateTime<Utc>,
) -> anyhow::Result<Scheduled> {
    let staging = config.storage.data_dir.join(STAGING_DIR);
    // Leftovers of a run that was killed.
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let name = set_name(now);
    let local = staging.join(&name);
    let remote = Remote::new(config, target)?;
    let result = (|| {
        let summary = backup_with(config, &local, Some(config_path))?;
        verify(&local).with_context(|| format!("verifying the staged set {}", local.display()))?;
        let pruned = remote.put_verified(&local, &name, config.backup.keep)?;
        Ok(Scheduled {
            set: PathBuf::from(format!("{}/{name}", remote.url())),
            summary,
            pruned,
        })
    })();
    let _ = fs::remove_dir_all(&staging);
    result
}

/// The backup host, reached with the box's key and its known host keys only.
pub(super) struct Remote<'a> {
    target: &'a SshTarget,
    key: PathBuf,
    known_hosts: PathBuf,
}

impl<'a> Remote<'a> {
    pub(super) fn new(config: &Config, target: &'a SshTarget) -> anyhow::Result<Remote<'a>> {
        Remote::with(
            target,
            config.backup.ssh_key.clone(),
            config.backup.known_hosts.clone(),
        )
    }

    /// The backup host, reached with `key` and trusting only `known_hosts`.
    pub(super) fn with(
        target: &'a SshTarget,
        key: PathBuf,
        known_hosts: PathBuf,
    ) -> anyhow::Result<Remote<'a>> {
        if !key.is_file() {
            bail!(
                "no ssh key at {k} (backup.ssh_key): make one with `ssh-keygen -t ed25519 -N '' -f {k}` \
                 and add {k}.pub to {user}'s authorized_keys on {host}",
                k = key.display(),
                user = target.user,
                host = target.host
            );
        }
        if !known_hosts.is_file() {
            bail!(
                "unknown host key: {} (backup.known_hosts) does not exist; seed it with \
                 `ssh-keyscan -p {} {} >> {}` and check the fingerprint on the backup host",
                known_hosts.display(),
                target.port,
                target.host,
                known_hosts.display()
            );
        }
        Ok(Remote {
            target,
            key,
            known_hosts,
        })
    }

    pub(super) fn url(&self) -> String {
        let t = self.target;
        format!("ssh://{}@{}:{}{}", t.user, t.host, t.port, t.path)
    }

    /// The ssh options, as separate arguments.
    fn ssh_args(&self) -> Vec<String> {
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            self.key.display().to_string(),
            "-p".into(),
            self.target.port.to_string(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "ConnectTimeout=15".into(),
            "-o".into(),
            "ServerAliveInterval=15".into(),
            "-o".into(),
            "ServerAliveCountMax=4".into(),
        ]
    }

    fn login(&self) -> String {
        format!("{}@{}", self.target.user, self.target.host)
    }

    /// Runs a command on the backup host (paths in it are the config's checked ones).
    fn run(&self, cmd: &str) -> anyhow::Result<String> {
        let out = Command::new("ssh")
            .args(self.ssh_args())
            .arg(self.login())
            .arg(cmd)
            .output()
            .context("running ssh (is openssh-client installed?)")?;
        self.check(&out, "ssh")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// rsync's `-e`: ssh with our options (rsync splits it on spaces and honours single
    /// quotes).
    fn rsync_shell(&self) -> String {
        std::iter::once("ssh".to_string())
            .chain(
                self.ssh_args()
                    .into_iter()
                    .map(|a| if a.contains(' ') { format!("'{a}'") } else { a }),
            )
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The newest whole set on the host (never a `.partial` one), copied with rsync into
    /// the folder `local` (made here); returns its name. The caller checks the copy
    /// against its manifest.
    pub(super) fn fetch_newest(&self, local: &Path) -> anyhow::Result<String> {
        let root = &self.target.path;
        let listing = self.run(&format!("ls -1A -- '{root}'"))?;
        let name = listing
            .lines()
            .filter(|n| is_set_name(n) && !n.ends_with(".tar.age"))
            .max()
            .with_context(|| format!("no backup set in {}", self.url()))?
            .to_string();
        fs::create_dir_all(local).with_context(|| format!("creating {}", local.display()))?;
        let out = Command::new("rsync")
            .arg("-a")
            .arg("-e")
            .arg(self.rsync_shell())
            .arg(format!("{}:{root}/{name}/", self.login()))
            .arg(format!("{}/", local.display()))
            .output()
            .context("running rsync (is rsync installed?)")?;
        self.check(&out, "rsync")?;
        Ok(name)
    }

    /// rsync -a of the local set folder into `remote_dir`; with `check`, only the
    /// checksum comparison (nothing written), returning what differs.
    fn rsync(&self, local: &Path, remote_dir: &str, check: bool) -> anyhow::Result<String> {
        let mut cmd = Command::new("rsync");
        cmd.arg("-a").arg("-e").arg(self.rsync_shell());
        if check {
            cmd.args(["--checksum", "--dry-run", "--itemize-changes", "--delete"]);
        }
        let out = cmd
            .arg(format!("{}/", local.display()))
            .arg(format!("{}:{remote_dir}/", self.login()))
            .output()
            .context("running rsync (is rsync installed?)")?;
        self.check(&out, "rsync")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Turns a failed ssh or rsync into words the technician can act on.
    fn check(&self, out: &Output, what: &str) -> anyhow::Result<()> {
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let detail = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("@@@"))
            .take(4)
            .collect::<Vec<_>>()
            .join(" / ");
        let t = self.target;
        let host = format!("{}:{}", t.host, t.port);
        let has = |s: &str| err.contains(s);
        if has("Host key verification failed")
            || has("host key is known")
            || has("IDENTIFICATION HAS CHANGED")
        {
            bail!(
                "unknown host key: {host} showed a host key that is not in {} (backup.known_hosts); \
                 if the backup host is new, seed the file with `ssh-keyscan -p {} {}` and check the \
                 fingerprint ({detail})",
                self.known_hosts.display(),
                t.port,
                t.host
            );
        }
        if has("Permission denied") || has("Too many authentication failures") {
            bail!(
                "backup host refused the login: {}@{host} did not accept the key {} (backup.ssh_key); \
                 add {}.pub to that user's authorized_keys ({detail})",
                t.user,
                self.key.display(),
                self.key.display()
            );
        }
        if has("UNPROTECTED PRIVATE KEY") || has("bad permissions") {
            bail!(
                "the ssh key {} (backup.ssh_key) may be read by others: chmod 600 it ({detail})",
                self.key.display()
            );
        }
        if has("No space left on device") || has("Disk quota exceeded") {
            bail!(
                "backup host's disk is full: {host}:{} has no room for the set ({detail})",
                t.path
            );
        }
        if has("Connection refused")
            || has("timed out")
            || has("No route to host")
            || has("Could not resolve hostname")
            || has("Network is unreachable")
            || has("Connection reset")
            || has("Connection closed")
        {
            bail!("backup host unreachable: cannot connect to {host} ({detail})");
        }
        bail!("{what} to {host} failed ({}): {detail}", out.status)
    }

    /// Copies the verified local set, checks the remote copy, renames it into place,
    /// then prunes. On failure the partial remote copy is removed (best effort).
    fn put_verified(&self, local: &Path, name: &str, keep: u32) -> anyhow::Result<Vec<String>> {
        let root = &self.target.path;
        let partial = format!("{root}/.{name}.partial");
        self.run(&format!("mkdir -p -- '{root}' && rm -rf -- '{partial}'"))?;
        let copied = (|| {
            self.rsync(local, &partial, false)?;
            let differs = self.rsync(local, &partial, true)?;
            if !differs.trim().is_empty() {
                bail!(
                    "the copy on the backup host differs from the set after rsync: {}",
                    differs.lines().take(5).collect::<Vec<_>>().join(", ")
                );
            }
            self.run(&format!("mv -- '{partial}' '{root}/{name}' && sync"))
        })();
        if let Err(e) = copied {
            let _ = self.run(&format!("rm -rf -- '{partial}'"));
            return Err(e);
        }
        self.prune(keep, name)
    }

    /// Removes the oldest sets beyond `keep` on the backup host (never `newest`), and
    /// partial leftovers; touches only names of the set pattern.
    pub(super) fn prune(&self, keep: u32, newest: &str) -> anyhow::Result<Vec<String>> {
        let root = &self.target.path;
        let listing = self.run(&format!("ls -1A -- '{root}'"))?;
        let mut sets: Vec<&str> = listing.lines().filter(|n| is_set_name(n)).collect();
        sets.sort();
        let partials: Vec<&str> = listing
            .lines()
            .filter(|n| {
                n.strip_prefix('.')
                    .and_then(|n| n.strip_suffix(".partial"))
                    .is_some_and(is_set_name)
            })
            .collect();
        let mut gone = Vec::new();
        while sets.len() > keep as usize {
            let old = sets.remove(0);
            if old != newest {
                gone.push(old.to_string());
            }
        }
        let doomed: Vec<String> = gone
            .iter()
            .map(String::as_str)
            .chain(partials)
            .map(|n| format!("'{root}/{n}'"))
            .collect();
        if !doomed.is_empty() {
            self.run(&format!("rm -rf -- {}", doomed.join(" ")))
                .context("removing old sets on the backup host")?;
        }
        Ok(gone)
    }
}

/// `cosmos-YYYYMMDDTHHMMSS.mmmZ`, or the same with `.tar.age` (an encrypted set).
pub fn is_set_name(n: &str) -> bool {
    let Some(rest) = n.strip_prefix(SET_PREFIX) else {
        return false;
    };
    let stamp = rest.strip_suffix(".tar.age").unwrap_or(rest);
    let b = stamp.as_bytes();
    b.len() == 20
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'.'
        && b[16..19].iter().all(u8::is_ascii_digit)
        && b[19] == b'Z'
}

#[cfg(test)]
mod tests {
    use super::is_set_name;

    #[test]
    fn only_set_names_are_sets() {
        assert!(is_set_name("cosmos-20261203T020000.123Z"));
        assert!(is_set_name("cosmos-20261203T020000.123Z.tar.age"));
        for n in [
            "cosmos-20261203T020000Z",
            "cosmos-latest",
            "cosmos-20261203T020000.123Z.tar",
            ".cosmos-20261203T020000.123Z.partial",
            "important",
            "cosmos-2026120xT020000.123Z",
        ] {
            assert!(!is_set_name(n), "{n}");
        }
    }
}
