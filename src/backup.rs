//! `cosmosd backup DEST` and `cosmosd restore SRC`: the technician's copy of everything
//! a guest gave us — the database and the photos — taken while the daemon runs.
//!
//! A backup folder holds `cosmos.db` (SQLite's online backup API: one consistent
//! snapshot, taken in a single step under a read transaction, so the daemon's writes go
//! on meanwhile), the photo files that snapshot names (`photos/<show>/<name>*.jpg`), and
//! `MANIFEST.sha256` in `sha256sum` format (`sha256sum -c MANIFEST.sha256` checks it by
//! hand). The folder is written under a temporary name and renamed when complete, so a
//! folder named DEST is always a whole backup.
//!
//! Restore checks every checksum and the database's integrity before touching the data
//! folder, refuses while a daemon holds the data folder's lock, stages the copy beside the
//! live data, then swaps it in. What was there before is moved to
//! `replaced-<time>/` inside the data folder, never deleted.
//!
//! The SQL (the snapshot, the integrity check, the counts) is the store's
//! ([`crate::store::snapshot`], [`crate::store::inspect_copy`]); this module handles files.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::photos::{PhotoFiles, Variant};
use crate::store::{self, Contents, DB_FILE};

pub const MANIFEST: &str = "MANIFEST.sha256";
/// Inside a set: the venue's configuration folder, as it was.
pub const CONFIG_DIR: &str = "config";
/// Inside a set: files the configuration names outside its folder, under their absolute
/// path (`external/srv/secrets/smtp-password`).
pub const EXTERNAL_DIR: &str = "external";
/// Inside a set: the mail copies of the data folder.
pub const MAIL_DIR: &str = "mail";
/// Inside a set: the mode and owner of each configuration file, for `--with-config`.
pub const PERMISSIONS: &str = "PERMISSIONS";

mod config_files;
mod crypt;
mod rebuild;
mod scheduled;
mod ssh;
use config_files::{Permissions, config_files, is_temporary};
pub use rebuild::{RestoreOptions, restore_set};
pub use scheduled::{BackupStatus, STATUS_FILE, Scheduled, read_status, scheduled};
/// The lock a running daemon holds on its data folder (restore needs it free).
pub const LOCK_FILE: &str = "cosmosd.lock";

/// What a backup or restore copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub guests: u64,
    pub shows: u64,
    pub photos: u64,
    /// Files listed in the manifest (the database included).
    pub files: u64,
    pub bytes: u64,
    /// Photo files the snapshot names that were gone from disk (deleted after the
    /// snapshot, or already missing; the health report lists the latter).
    pub missing: Vec<String>,
}

/// Takes the data folder's lock: held by the daemon for its whole life, and by restore.
/// Fails, naming the folder, when someone else holds it.
pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<File> {
    let path = data_dir.join(LOCK_FILE);
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => bail!(
            "another cosmosd is using {} (stop it first: systemctl stop cosmosd)",
            data_dir.display()
        ),
        Err(e) => Err(io::Error::from(e)).with_context(|| format!("locking {}", path.display())),
    }
}

/// Writes a backup of the configured data folder into `dest` (which must not exist yet,
/// or be an empty folder), with the venue's configuration when `config_file` is given:
/// its folder (config, secret files, templates) into the set's `config/`, and the files
/// it names outside that folder into `external/<their absolute path>`. Sealed to
/// `backup.encrypt_to` when recipients are set.
pub fn backup_with(
    config: &Config,
    dest: &Path,
    config_file: Option<&Path>,
) -> anyhow::Result<Summary> {
    let data_dir = &config.storage.data_dir;
    let db = data_dir.join(DB_FILE);
    if !db.exists() {
        bail!("no database at {} (storage.data_dir)", db.display());
    }
    if dest.exists()
        && fs::read_dir(dest)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!("{} already exists: choose a new folder", dest.display());
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = dest
        .file_name()
        .context("DEST must name a folder")?
        .to_string_lossy();
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let sink = match config.backup.encrypt_to.as_slice() {
        [] => Sink::Plain,
        keys => Sink::Sealed(crypt::Sealer::new(keys)?),
    };
    let result = write_backup(data_dir, &db, &tmp, config_file, sink);
    fix_owner(data_dir);
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if dest.exists() {
        fs::remove_dir(dest).with_context(|| format!("replacing the empty {}", dest.display()))?;
    }
    fs::rename(&tmp, dest).with_context(|| format!("renaming into {}", dest.display()))?;
    sync_dir(&parent)?;
    Ok(summary)
}

/// Where a set's files go: copied as they are, or each sealed to the age recipients.
enum Sink {
    Plain,
    Sealed(crypt::Sealer),
}

impl Sink {
    fn put(&mut self, src: &Path, root: &Path, name: &str) -> anyhow::Result<()> {
        match self {
            Sink::Plain => {
                let dst = root.join(name);
                if let Some(p) = dst.parent() {
                    fs::create_dir_all(p)?;
                }
                fs::copy(src, &dst).with_context(|| format!("copying {}", src.display()))?;
                Ok(())
            }
            Sink::Sealed(s) => s.put(src, root, name),
        }
    }

    fn put_bytes(&mut self, bytes: &[u8], root: &Path, name: &str) -> anyhow::Result<()> {
        match self {
            Sink::Plain => fs::write(root.join(name), bytes)
                .with_context(|| format!("writing {name} in the set")),
            Sink::Sealed(s) => s.put_bytes(bytes, root, name),
        }
    }

    /// Writes the manifest(s): a sealed set gets its sealed plain manifest and marker,
    /// then both kinds get `MANIFEST.sha256` over the files as they lie in the set.
    fn finish(self, root: &Path) -> anyhow::Result<(u64, u64)> {
        if let Sink::Sealed(s) = self {
            s.finish(root)?;
        }
        write_manifest(root)
    }
}

fn write_backup(
    data_dir: &Path,
    db: &Path,
    tmp: &Path,
    config_file: Option<&Path>,
    mut sink: Sink,
) -> anyhow::Result<Summary> {
    // A sealed set never holds the database in the clear, not even for a moment: the
    // snapshot is taken in the data folder and sealed from there.
    let snap = match sink {
        Sink::Plain => tmp.join(DB_FILE),
        Sink::Sealed(_) => data_dir.join(format!(".{DB_FILE}.backup-{}", std::process::id())),
    };
    let contents = store::snapshot(db, &snap);
    if let (Sink::Sealed(_), Ok(_)) = (&sink, &contents) {
        let sealed = sink.put(&snap, tmp, DB_FILE);
        let _ = fs::remove_file(&snap);
        sealed?;
    }
    let contents = contents?;
    let mut summary = summary_of(&contents);
    let from = PhotoFiles::new(data_dir);
    let to = PhotoFiles::new(tmp);
    for (show, name) in &contents.photo_files {
        for v in Variant::ALL {
            let (src, dst) = (from.path(show, name, v), to.path(show, name, v));
            if !src.exists() {
                summary.missing.push(rel(data_dir, &src));
                continue;
            }
            sink.put(&src, tmp, &rel(tmp, &dst))?;
        }
    }
    // The mail copies (the file transport's .eml files, the technician's alerts).
    let mail = data_dir.join(MAIL_DIR);
    if mail.is_dir() {
        let mut files = Vec::new();
        walk(&mail, &mut files)?;
        for f in files.iter().filter(|f| !is_temporary(f)) {
            sink.put(f, tmp, &format!("{MAIL_DIR}/{}", rel(&mail, f)))?;
        }
    }
    if let Some(file) = config_file {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let entries = config_files(dir, file, data_dir)
            .with_context(|| format!("listing the configuration in {}", dir.display()))?;
        let mut perms = Permissions::of(data_dir);
        for (src, name) in &entries {
            sink.put(src, tmp, name)?;
            perms.add(src, name)?;
        }
        sink.put_bytes(perms.text.as_bytes(), tmp, PERMISSIONS)?;
    }
    let (files, bytes) = sink.finish(tmp)?;
    summary.files = files;
    summary.bytes = bytes;
    Ok(summary)
}

/// Restores the (plain) backup in `src` into the configured data folder.
pub fn restore(config: &Config, src: &Path) -> anyhow::Result<Summary> {
    let data_dir = &config.storage.data_dir;
    verify(src)?;
    if crypt::is_sealed(src) {
        bail!("{} is encrypted: give --identity KEYFILE", src.display());
    }
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let _lock = lock_data_dir(data_dir)?;
    restore_locked(config, src, &aside_dir(data_dir))
}

/// A new `replaced-<time>` folder name in the data folder (never one already there: two
/// restores in one second keep both).
fn aside_dir(data_dir: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut p = data_dir.join(format!("replaced-{stamp}"));
    let mut n = 1;
    while p.exists() {
        n += 1;
        p = data_dir.join(format!("replaced-{stamp}-{n}"));
    }
    p
}

/// The restore itself, with the data folder's lock held and `src` verified: stages the
/// database, photos and mail copies beside the live data, moves what is there to `aside`
/// (never deleted), then swaps the staged copy in.
fn restore_locked(config: &Config, src: &Path, aside: &Path) -> anyhow::Result<Summary> {
    let data_dir = &config.storage.data_dir;
    let (files, bytes) = verify(src)?;
    // Stage beside the live data (same filesystem, so the swap is renames).
    let staged_db = data_dir.join(format!("{DB_FILE}.restoring"));
    let staged = |d: &str| data_dir.join(format!("{d}.restoring"));
    let _ = fs::remove_file(&staged_db);
    for d in ["photos", MAIL_DIR] {
        let _ = fs::remove_dir_all(staged(d));
    }
    copy_file(&src.join(DB_FILE), &staged_db)?;
    let summary = summary_of(&store::inspect_copy(&staged_db, &src.join(DB_FILE))?);
    for d in ["photos", MAIL_DIR] {
        if src.join(d).exists() {
            copy_tree(&src.join(d), &staged(d))?;
        } else {
            fs::create_dir_all(staged(d))?;
        }
    }

    let mut moved = Vec::new();
    for name in [
        DB_FILE.to_string(),
        format!("{DB_FILE}-wal"),
        format!("{DB_FILE}-shm"),
        "photos".into(),
        MAIL_DIR.into(),
    ] {
        let p = data_dir.join(&name);
        if p.exists() {
            fs::create_dir_all(aside)?;
            fs::rename(&p, aside.join(&name))
                .with_context(|| format!("moving {} aside", p.display()))?;
            moved.push(name);
        }
    }
    for d in ["photos", MAIL_DIR] {
        fs::rename(staged(d), data_dir.join(d))?;
    }
    fs::rename(&staged_db, data_dir.join(DB_FILE))?;
    sync_dir(data_dir)?;
    if !moved.is_empty() {
        log::info!(aside = aside.display().to_string().as_str(); "restore: the previous data was moved aside: {}", moved.join(", "));
        eprintln!(
            "the previous data ({}) is in {}",
            moved.join(", "),
            aside.display()
        );
    }
    fix_owner(data_dir);
    Ok(Summary {
        files,
        bytes,
        ..summary
    })
}

/// Checks every file of a backup's manifest. Returns (files, bytes).
pub fn verify(src: &Path) -> anyhow::Result<(u64, u64)> {
    let manifest = src.join(MANIFEST);
    let text = fs::read_to_string(&manifest)
        .with_context(|| format!("{}: not a cosmosd backup", manifest.display()))?;
    let (mut files, mut bytes, mut has_db) = (0, 0, false);
    for (i, line) in text.lines().enumerate() {
        let (hash, name) = line.split_once("  ").with_context(|| {
            format!(
                "{} line {}: not `<sha256>  <file>`",
                manifest.display(),
                i + 1
            )
        })?;
        if name.starts_with('/') || name.split('/').any(|c| c == "..") {
            bail!(
                "{} line {}: `{name}` leaves the backup folder",
                manifest.display(),
                i + 1
            );
        }
        let path = src.join(name);
        let (got, len) =
            sha256_file(&path).with_context(|| format!("reading {}", path.display()))?;
        if got != hash {
            bail!(
                "{}: checksum mismatch (the backup is damaged; nothing was restored)",
                path.display()
            );
        }
        has_db |= name == DB_FILE || name == format!("{DB_FILE}{}", crypt::SUFFIX);
        files += 1;
        bytes += len;
    }
    if !has_db {
        bail!("{}: lists no {DB_FILE}", manifest.display());
    }
    Ok((files, bytes))
}

fn summary_of(c: &Contents) -> Summary {
    Summary {
        guests: c.guests,
        shows: c.shows,
        photos: c.photos,
        ..Summary::default()
    }
}

/// Writes `MANIFEST.sha256` for every file under `dir` (fsyncing each). Returns
/// (files, bytes).
fn write_manifest(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let mut all = Vec::new();
    walk(dir, &mut all)?;
    all.sort();
    let mut text = String::new();
    let mut bytes = 0;
    for p in &all {
        File::open(p)?.sync_all()?;
        let (hash, len) = sha256_file(p)?;
        bytes += len;
        text.push_str(&format!("{hash}  {}\n", rel(dir, p)));
    }
    let mut f = File::create(dir.join(MANIFEST))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    for d in dirs_of(dir, &all) {
        sync_dir(&d)?;
    }
    Ok((all.len() as u64, bytes))
}

fn dirs_of(root: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut d: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    d.push(root.to_path_buf());
    d.sort();
    d.dedup();
    d
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut files = Vec::new();
    walk(from, &mut files)?;
    fs::create_dir_all(to)?;
    for f in &files {
        copy_file(f, &to.join(f.strip_prefix(from)?))?;
    }
    for d in dirs_of(
        to,
        &files
            .iter()
            .map(|f| to.join(f.strip_prefix(from).unwrap()))
            .collect::<Vec<_>>(),
    ) {
        sync_dir(&d)?;
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(p) = to.parent() {
        fs::create_dir_all(p)?;
    }
    fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    File::open(to)?.sync_all()?;
    Ok(())
}

fn sha256_file(p: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex::encode(h.finalize()), len))
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

fn sync_dir(d: &Path) -> anyhow::Result<()> {
    File::open(d)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", d.display()))
}

/// Run as root (the technician's `sudo`), files we created in the data folder would
/// belong to root and the service user could not open them. Give everything in the
/// data folder that root owns to the folder's owner.
fn fix_owner(data_dir: &Path) {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let Ok(meta) = fs::metadata(data_dir) else {
        return;
    };
    if meta.uid() == 0 {
        return;
    }
    let (uid, gid) = (meta.uid(), meta.gid());
    let mut all = Vec::new();
    let _ = walk(data_dir, &mut all);
    let mut dirs = Vec::new();
    collect_dirs(data_dir, &mut dirs);
    for p in all.iter().chain(dirs.iter()) {
        if fs::symlink_metadata(p)
            .map(|m| m.uid() == 0)
            .unwrap_or(false)
        {
            let _ = std::os::unix::fs::chown(p, Some(uid), Some(gid));
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(e.path());
                collect_dirs(&e.path(), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_restores_in_one_second_keep_both_asides() {
        let d = tempfile::tempdir().unwrap();
        let first = aside_dir(d.path());
        fs::create_dir(&first).unwrap();
        let second = aside_dir(d.path());
        assert_ne!(first, second);
        assert!(!second.exists());
    }

    #[test]
    fn run_as_root_files_go_to_the_data_folders_owner() {
        // Root is what the technician's sudo gives; without it chown cannot be tested,
        // and a silent pass would hide that.
        assert!(
            rustix::process::geteuid().is_root(),
            "this test must run as root (it checks what `sudo cosmosd backup` leaves behind)"
        );
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("photos/s_1")).unwrap();
        fs::write(data.join("cosmos.db-shm"), b"x").unwrap();
        fs::write(data.join("photos/s_1/p.jpg"), b"x").unwrap();
        std::os::unix::fs::chown(&data, Some(12345), Some(12346)).unwrap();
        fix_owner(&data);
        for p in ["cosmos.db-shm", "photos", "photos/s_1", "photos/s_1/p.jpg"] {
            let m = fs::metadata(data.join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (12345, 12346), "{p}");
        }
    }
}
