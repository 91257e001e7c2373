//! `cosmosd backup --scheduled` (run by `systemd/cosmosd-backup.timer`): a new set at the
//! configured `[backup] destination`, named `cosmos-<UTC time>`, holding the database
//! snapshot, the photos and the configuration folder; verified against its manifest;
//! then the sets beyond `keep` are removed, oldest first — only after the new one
//! verified. The outcome is kept in the data folder (`backup-status`) for the health
//! report and `/metrics`.
//!
//! `usb:LABEL` finds the drive by its filesystem label (`blkid -L`), mounts it on a
//! folder of its own for the run and unmounts it after, whatever happened.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use super::{Summary, backup_with, verify};
use crate::config::{Config, Destination};

/// The last scheduled run's outcome, in the data folder.
pub const STATUS_FILE: &str = "backup-status";
/// Sets are folders named `cosmos-YYYYMMDDTHHMMSS.mmmZ` (so names sort by time).
pub(super) const SET_PREFIX: &str = "cosmos-";

/// The name of the set made at `now`.
pub(super) fn set_name(now: DateTime<Utc>) -> String {
    format!("{SET_PREFIX}{}", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// What the last scheduled backups did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupStatus {
    pub last_ok_at: Option<DateTime<Utc>>,
    /// The set the last good run wrote.
    pub last_set: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last run failed (cleared by a good one).
    pub last_error: Option<String>,
}

/// A good scheduled run.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub set: PathBuf,
    pub summary: Summary,
    /// Older sets removed to keep `backup.keep`.
    pub pruned: Vec<String>,
}

/// Reads `backup-status` (missing or unreadable: nothing known).
pub fn read_status(data_dir: &Path) -> BackupStatus {
    let Ok(text) = fs::read_to_string(data_dir.join(STATUS_FILE)) else {
        return BackupStatus::default();
    };
    let mut s = BackupStatus::default();
    let time = |v: &str| {
        DateTime::parse_from_rfc3339(v)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    for line in text.lines() {
        match line.split_once('=') {
            Some(("last_ok_at", v)) => s.last_ok_at = time(v),
            Some(("last_set", v)) => s.last_set = Some(v.to_string()),
            Some(("last_attempt_at", v)) => s.last_attempt_at = time(v),
            Some(("last_error", v)) => s.last_error = Some(v.to_string()),
            _ => {}
        }
    }
    s
}

fn write_status(data_dir: &Path, s: &BackupStatus) -> anyhow::Result<()> {
    let mut text = String::new();
    let one_line = |v: &str| v.replace(['\n', '\r'], " ");
    if let Some(t) = s.last_ok_at {
        text.push_str(&format!("last_ok_at={}\n", t.to_rfc3339()));
    }
    if let Some(v) = &s.last_set {
        text.push_str(&format!("last_set={}\n", one_line(v)));
    }
    if let Some(t) = s.last_attempt_at {
        text.push_str(&format!("last_attempt_at={}\n", t.to_rfc3339()));
    }
    if let Some(v) = &s.last_error {
        text.push_str(&format!("last_error={}\n", one_line(v)));
    }
    let tmp = data_dir.join(format!(".{STATUS_FILE}.tmp"));
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, data_dir.join(STATUS_FILE))?;
    Ok(())
}

/// One scheduled run at `now`; the outcome, good or bad, is written to `backup-status`.
pub fn scheduled(
    config: &Config,
    config_path: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<Scheduled> {
    let data_dir = &config.storage.data_dir;
    let result = run(config, config_path, now);
    let mut status = read_status(data_dir);
    status.last_attempt_at = Some(now);
    match &result {
        Ok(done) => {
            status.last_ok_at = Some(now);
            status.last_set = Some(done.set.display().to_string());
            status.last_error = None;
            log::info!(set = done.set.display().to_string().as_str(), photos = done.summary.photos,
                bytes = done.summary.bytes, pruned = done.pruned.len() as u64; "scheduled backup written and verified");
        }
        Err(e) => {
            status.last_error = Some(format!("{e:#}"));
            log::error!(error = format!("{e:#}").as_str(); "scheduled backup failed");
        }
    }
    if let Err(e) = write_status(data_dir, &status) {
        log::error!(error = format!("{e:#}").as_str(); "could not record the backup's outcome");
    }
    result
}

fn run(config: &Config, config_path: &Path, now: DateTime<Utc>) -> anyhow::Result<Scheduled> {
    let Some(dest) = &config.backup.destination else {
        bail!("no [backup] destination in the config: nothing to do");
    };
    match dest {
        Destination::Folder(root) => {
            fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
            write_set(config, config_path, root, now)
        }
        Destination::UsbLabel(label) => {
            let mount = Mounted::by_label(label, &config.storage.data_dir)?;
            let r = write_set(config, config_path, &mount.dir, now);
            drop(mount);
            r
        }
        Destination::Ssh(target) => super::ssh::write_set(config, config_path, target, now),
    }
}

fn write_set(
    config: &Config,
    config_path: &Path,
    root: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<Scheduled> {
    let name = set_name(now);
    let set = root.join(&name);
    let summary = backup_with(config, &set, Some(config_path))?;
    verify(&set).with_context(|| format!("verifying the new set {}", set.display()))?;
    let pruned = prune(root, config.backup.keep, &name)?;
    Ok(Scheduled {
        set,
        summary,
        pruned,
    })
}

/// Removes the oldest sets beyond `keep` (never `newest`), and partial leftovers.
fn prune(root: &Path, keep: u32, newest: &str) -> anyhow::Result<Vec<String>> {
    let mut sets = Vec::new();
    for e in fs::read_dir(root).with_context(|| format!("listing {}", root.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type()?.is_dir() {
            continue;
        }
        if name.starts_with(&format!(".{SET_PREFIX}")) && name.contains(".partial-") {
            let _ = fs::remove_dir_all(e.path());
        } else if name.starts_with(SET_PREFIX) {
            sets.push(name);
        }
    }
    sets.sort();
    let mut pruned = Vec::new();
    while sets.len() > keep as usize {
        let old = sets.remove(0);
        if old == newest {
            continue;
        }
        fs::remove_dir_all(root.join(&old))
            .with_context(|| format!("removing the old set {old}"))?;
        pruned.push(old);
    }
    Ok(pruned)
}

/// A drive mounted for one run; unmounted (and its folder removed) on drop.
pub(super) struct Mounted {
    pub(super) dir: PathBuf,
}

impl Mounted {
    /// Mounts the drive labelled `label` on a new folder in `under`.
    pub(super) fn by_label(label: &str, data_dir: &Path) -> anyhow::Result<Mounted> {
        // No cache: a drive unplugged since must not be found by its old entry.
        let out = Command::new("blkid")
            .args(["-c", "/dev/null", "-L", label])
            .output()
            .context("running blkid to find the backup drive")?;
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // libblkid may still answer from what it saw before the drive left: probe the
        // device itself for its label.
        let probed = (!dev.is_empty())
            .then(|| {
                Command::new("blkid")
                    .args(["-p", "-o", "value", "-s", "LABEL", &dev])
                    .output()
                    .ok()
            })
            .flatten()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if !out.status.success() || probed.as_deref() != Some(label) {
            bail!("no drive labelled {label} is plugged in (backup.destination = \"usb:{label}\")");
        }
        let dir = data_dir.join(format!(".backup-mount-{}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let st = Command::new("mount")
            .args(["-o", "nosuid,nodev,noexec"])
            .arg(&dev)
            .arg(&dir)
            .output()
            .context("running mount")?;
        if !st.status.success() {
            let _ = fs::remove_dir(&dir);
            bail!(
                "mounting the backup drive {dev} (label {label}) failed: {}",
                String::from_utf8_lossy(&st.stderr).trim()
            );
        }
        Ok(Mounted { dir })
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // Everything written was fsynced; umount flushes the rest.
        match Command::new("umount").arg(&self.dir).output() {
            Ok(o) if o.status.success() => {
                let _ = fs::remove_dir(&self.dir);
            }
            Ok(o) => {
                log::error!(error = String::from_utf8_lossy(&o.stderr).trim(), dir = self.dir.display().to_string().as_str();
                "unmounting the backup drive failed")
            }
            Err(e) => log::error!(error = e.to_string().as_str(); "running umount failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_status(dir.path()), BackupStatus::default());
        let t = DateTime::parse_from_rfc3339("2026-12-03T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = BackupStatus {
            last_ok_at: Some(t),
            last_set: Some("/mnt/b/cosmos-20261203T020000Z".into()),
            last_attempt_at: Some(t),
            last_error: Some("disk\\nfull".into()),
        };
        write_status(dir.path(), &s).unwrap();
        assert_eq!(read_status(dir.path()), s);
    }

    #[test]
    fn pruning_keeps_the_newest_sets_and_sweeps_partials() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "cosmos-20261201T020000Z",
            "cosmos-20261202T020000Z",
            "cosmos-20261203T020000Z",
            ".cosmos-20261204T020000Z.partial-9",
            "other",
        ] {
            fs::create_dir(dir.path().join(n)).unwrap();
        }
        let pruned = prune(dir.path(), 2, "cosmos-20261203T020000Z").unwrap();
        assert_eq!(pruned, ["cosmos-20261201T020000Z"]);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "cosmos-20261202T020000Z",
                "cosmos-20261203T020000Z",
                "other"
            ]
        );
    }
}
