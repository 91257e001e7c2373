//! Upgrades and rollbacks of the package. Before an upgrade whose cosmosd migrates the
//! database, the package's `preinst` (debian/preinst) has the cosmosd being replaced take
//! a backup into `<data folder>-upgrade-backups/<old version>-<UTC time>/`. An older
//! cosmosd refuses a database from a newer one ([`store::NewerSchema`]); then
//! [`explain_refusal`] names the newest of those backups whose schema this binary knows
//! and the exact commands that put it back (README, "Upgrading and rolling back").
//!
//! Files only: the schema of a backup's copy is read by the store.

use std::path::{Path, PathBuf};

use crate::backup::MANIFEST;
use crate::store::{self, DB_FILE, NewerSchema};

/// Appended to the data folder's path: where the package's preinst keeps its backups
/// (`/var/lib/cosmos` → `/var/lib/cosmos-upgrade-backups`).
pub const BACKUPS_SUFFIX: &str = "-upgrade-backups";

/// The folder of the pre-upgrade backups of `data_dir`.
pub fn backups_dir(data_dir: &Path) -> PathBuf {
    // Through the components, so a trailing slash does not end up inside the name.
    let mut s = data_dir.components().collect::<PathBuf>().into_os_string();
    s.push(BACKUPS_SUFFIX);
    PathBuf::from(s)
}

/// One whole backup the preinst took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreUpgradeBackup {
    pub path: PathBuf,
    /// The schema version of its database.
    pub schema: usize,
    /// When it was taken, as in its name (`20261203T181500Z`): names sort by it.
    pub taken: String,
}

/// The pre-upgrade backups in `dir`, newest first. Entries that are not whole backups
/// (no manifest or no database; a backup is renamed into place only when complete) or
/// not named `<version>-<time>` are left out; no folder means none.
pub fn pre_upgrade_backups(dir: &Path) -> anyhow::Result<Vec<PreUpgradeBackup>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", dir.display()))),
    };
    let mut found = Vec::new();
    for e in entries {
        let path = e?.path();
        let Some(taken) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('-'))
            .map(|(_, t)| t)
            .filter(|t| is_time(t))
            .map(str::to_string)
        else {
            continue;
        };
        if !path.join(MANIFEST).is_file() || !path.join(DB_FILE).is_file() {
            continue;
        }
        match store::schema_of_file(&path.join(DB_FILE)) {
            Ok(schema) => found.push(PreUpgradeBackup {
                path,
                schema,
                taken,
            }),
            Err(e) => {
                log::warn!(backup = path.display().to_string().as_str(); "an unreadable pre-upgrade backup is left out: {e:#}")
            }
        }
    }
    found.sort_by(|a, b| b.taken.cmp(&a.taken).then_with(|| b.path.cmp(&a.path)));
    Ok(found)
}

/// `YYYYmmddTHHMMSSZ`, as `date -u +%Y%m%dT%H%M%SZ` writes it in the preinst.
fn is_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// The newest backup this binary can open: its schema is not newer than `known`.
pub fn restorable(backups: &[PreUpgradeBackup], known: usize) -> Option<&PreUpgradeBackup> {
    backups.iter().find(|b| b.schema <= known)
}

/// The commands (as root) that put `backup` in place of the data folder and start the
/// service again; the restore moves the refused data aside, it deletes nothing.
pub fn restore_command(config_path: &Path, backup: &Path) -> String {
    format!(
        "systemctl stop cosmosd && cosmosd restore --config {} {} && systemctl start cosmosd",
        config_path.display(),
        backup.display()
    )
}

/// When `e` is the store refusing a database from a newer cosmosd, the same error with
/// what puts the previous state back: the backup to restore and the exact commands
/// (also logged, with the backup as a field, for the journal). Any other error as it is.
pub fn explain_refusal(e: anyhow::Error, config_path: &Path, data_dir: &Path) -> anyhow::Error {
    let Some(newer) = e.chain().find_map(|c| c.downcast_ref::<NewerSchema>()) else {
        return e;
    };
    let dir = backups_dir(data_dir);
    let backups = pre_upgrade_backups(&dir).unwrap_or_else(|err| {
        log::warn!("cannot list the pre-upgrade backups: {err:#}");
        Vec::new()
    });
    let advice = match restorable(&backups, newer.known) {
        Some(b) => {
            let command = restore_command(config_path, &b.path);
            log::error!(
                found = newer.found,
                known = newer.known,
                backup = b.path.display().to_string().as_str(),
                restore_command = command.as_str();
                "refusing a database from a newer cosmosd; the backup taken before the upgrade restores the previous state"
            );
            format!(
                "the backup taken before the upgrade, {} (schema {}), restores the previous state; \
                 as root: {command} (the refused data is moved to replaced-<time>/ in {}, not deleted)",
                b.path.display(),
                b.schema,
                data_dir.display()
            )
        }
        None => {
            log::error!(
                found = newer.found,
                known = newer.known,
                backups = dir.display().to_string().as_str();
                "refusing a database from a newer cosmosd; no pre-upgrade backup this cosmosd can open"
            );
            format!(
                "{} holds no pre-upgrade backup with schema {} or older: install the newer cosmosd \
                 again, or restore a backup taken with this version (cosmosd restore --config {} SRC)",
                dir.display(),
                newer.known,
                config_path.display()
            )
        }
    };
    anyhow::anyhow!("{e:#}\n{advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preinst_knows_the_schema_this_binary_brings() {
        let preinst = include_str!("../debian/preinst");
        let line = preinst
            .lines()
            .find(|l| l.starts_with("SCHEMA="))
            .expect("debian/preinst sets SCHEMA=");
        assert_eq!(
            line,
            format!("SCHEMA={}", store::MIGRATIONS.len()),
            "a new migration needs SCHEMA in debian/preinst raised with it"
        );
    }

    #[test]
    fn the_backups_sit_beside_the_data_folder() {
        assert_eq!(
            backups_dir(Path::new("/var/lib/cosmos/")),
            Path::new("/var/lib/cosmos-upgrade-backups")
        );
    }

    /// A backup-shaped folder whose database (a real snapshot: one file, no WAL) claims
    /// `schema`: `user_version` is the 4 big-endian bytes at offset 60 of the header.
    fn fake_backup(dir: &Path, name: &str, schema: u32) {
        use std::io::{Seek, SeekFrom, Write};
        let b = dir.join(name);
        std::fs::create_dir_all(&b).unwrap();
        let live = tempfile::tempdir().unwrap();
        let db = live.path().join(DB_FILE);
        drop(store::Store::open(&db).unwrap());
        store::snapshot(&db, &b.join(DB_FILE)).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(b.join(DB_FILE))
            .unwrap();
        f.seek(SeekFrom::Start(60)).unwrap();
        f.write_all(&schema.to_be_bytes()).unwrap();
        std::fs::write(b.join(MANIFEST), "").unwrap();
    }

    #[test]
    fn the_newest_backup_this_binary_opens_is_chosen() {
        let d = tempfile::tempdir().unwrap();
        fake_backup(d.path(), "0.1.0-20261101T100000Z", 7);
        fake_backup(d.path(), "0.9.0-20261201T100000Z", 8);
        fake_backup(d.path(), "0.10.0-20261202T100000Z", 12);
        // Not whole, or not the preinst's: left out.
        std::fs::create_dir_all(d.path().join("0.2.0-20261203T100000Z")).unwrap();
        fake_backup(d.path(), "by-hand", 8);
        let all = pre_upgrade_backups(d.path()).unwrap();
        let names: Vec<_> = all
            .iter()
            .map(|b| b.path.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "0.10.0-20261202T100000Z",
                "0.9.0-20261201T100000Z",
                "0.1.0-20261101T100000Z"
            ]
        );
        let pick = restorable(&all, 9).unwrap();
        assert_eq!((pick.schema, pick.taken.as_str()), (8, "20261201T100000Z"));
        assert!(restorable(&all, 6).is_none());
        assert!(
            pre_upgrade_backups(&d.path().join("absent"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_refusal_names_the_backup_and_the_command_and_other_errors_pass() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        fake_backup(&backups_dir(&data), "0.1.0-20261201T100000Z", 1);
        let config = d.path().join("cosmosd.toml");
        let refused = anyhow::Error::new(NewerSchema {
            found: 99,
            known: 9,
        })
        .context("migrating database x");
        let text = format!("{:#}", explain_refusal(refused, &config, &data));
        let backup = backups_dir(&data).join("0.1.0-20261201T100000Z");
        assert!(text.contains("schema version 99"), "{text}");
        assert!(
            text.contains(&format!(
                "cosmosd restore --config {} {}",
                config.display(),
                backup.display()
            )),
            "{text}"
        );
        let other = explain_refusal(anyhow::anyhow!("disk on fire"), &config, &data);
        assert_eq!(format!("{other:#}"), "disk on fire");
    }
}
