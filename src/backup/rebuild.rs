//! `cosmosd restore [--identity FILE] [--with-config] SRC`: a whole box back from a set.
//!
//! SRC is a set, a folder of sets (the newest is taken), `usb:LABEL` (the drive is
//! mounted for the run, the newest set on it taken, and unmounted after), or
//! `ssh://user@host[:port]/path` (the newest set there is copied with rsync into the
//! data folder's `.restore-fetch-<pid>/`, with `--ssh-key`/`--known-hosts` or the
//! config's `backup.ssh_key`/`known_hosts`, and removed after). A sealed set is
//! checked against its outer manifest, opened with the identity into the data folder's
//! staging, and checked again against its inner one; nothing is touched before both pass.
//! `--with-config` also puts back the configuration folder and the files the config named
//! elsewhere, with their modes and owners; whatever they replace is kept in the data
//! folder's `replaced-<time>/`. Then the data is restored as [`super::restore`] does.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::config_files::{Owned, Service, apply, external_path, read_permissions};
use super::scheduled::{Mounted, SET_PREFIX};
use super::{
    CONFIG_DIR, EXTERNAL_DIR, MANIFEST, PERMISSIONS, Summary, aside_dir, copy_file, crypt,
    lock_data_dir, rel, restore_locked, verify, walk,
};
use crate::config::Config;

/// What `cosmosd restore` was asked.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The config file: read for the data folder, or written with `--with-config`.
    pub config_path: PathBuf,
    /// A set, a folder of sets, `usb:LABEL` or `ssh://user@host[:port]/path`.
    pub src: String,
    /// The age identity for a sealed set.
    pub identity: Option<PathBuf>,
    pub with_config: bool,
    /// For `ssh://`: the key that logs in (default: the config's `backup.ssh_key`).
    pub ssh_key: Option<PathBuf>,
    /// For `ssh://`: the host keys trusted (default: the config's `backup.known_hosts`).
    pub known_hosts: Option<PathBuf>,
}

/// A set copied from an ssh backup host, removed when the restore is done.
struct Fetched(PathBuf);

impl Drop for Fetched {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `ssh://…`: the newest set there, copied into today's data folder.
fn fetch(o: &RestoreOptions) -> anyhow::Result<(Fetched, String)> {
    let target = crate::config::backup::ssh_target(&o.src)
        .map_err(|e| anyhow::anyhow!("{e}").context("SRC is not ssh://user@host[:port]/path"))?;
    let config = Config::load(&o.config_path).with_context(|| {
        format!(
            "an ssh:// restore copies the set into the data folder of the config at {} first",
            o.config_path.display()
        )
    })?;
    let remote = super::ssh::Remote::with(
        &target,
        o.ssh_key.clone().unwrap_or(config.backup.ssh_key.clone()),
        o.known_hosts
            .clone()
            .unwrap_or(config.backup.known_hosts.clone()),
    )?;
    // A running daemon refuses the restore anyway: say so before copying a whole set.
    let data_dir = &config.storage.data_dir;
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    drop(lock_data_dir(data_dir)?);
    let dir = data_dir.join(format!(".restore-fetch-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let fetched = Fetched(dir);
    let name = remote.fetch_newest(&fetched.0)?;
    Ok((fetched, format!("{}/{name}", remote.url())))
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The set taken (on a `usb:` drive: its name there).
    pub set: String,
    pub summary: Summary,
    /// Configuration files put back (with `--with-config`).
    pub config_files: Vec<PathBuf>,
    pub sealed: bool,
}

pub fn restore_set(o: &RestoreOptions) -> anyhow::Result<Restored> {
    if (o.ssh_key.is_some() || o.known_hosts.is_some()) && !o.src.starts_with("ssh://") {
        bail!("--ssh-key and --known-hosts are for an ssh:// SRC only");
    }
    let (mut _mount, mut _fetched, mut shown) = (None, None, None);
    let place = if let Some(label) = o.src.strip_prefix("usb:") {
        let m = Mounted::by_label(label, &std::env::temp_dir())?;
        let dir = m.dir.clone();
        _mount = Some(m);
        dir
    } else if o.src.starts_with("ssh://") {
        let (f, name) = fetch(o)?;
        let dir = f.0.clone();
        (_fetched, shown) = (Some(f), Some(name));
        dir
    } else {
        PathBuf::from(&o.src)
    };
    let set = newest_set(&place)?;
    verify(&set)?;
    let sealed = crypt::is_sealed(&set);
    let ids = match (&o.identity, sealed) {
        (Some(p), true) => Some(crypt::identities(p)?),
        (None, true) => bail!(
            "{} is encrypted: give --identity KEYFILE (the age key whose public key is in \
             backup.encrypt_to)",
            set.display()
        ),
        (Some(_), false) => bail!("{} is not encrypted: leave out --identity", set.display()),
        (None, false) => None,
    };
    let config_dir = match o.config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let config_name = o
        .config_path
        .file_name()
        .context("--config must name a file")?
        .to_string_lossy()
        .into_owned();
    // The data folder: the set's config names it (--with-config), else today's config.
    let data_dir = if o.with_config {
        let name = format!("{CONFIG_DIR}/{config_name}");
        let text = match &ids {
            Some(ids) => crypt::read_one(&set, &name, ids),
            None => fs::read(set.join(&name)).map_err(anyhow::Error::from),
        }
        .with_context(|| format!("the set holds no {name} (was it made with the config?)"))?;
        data_dir_in(&String::from_utf8_lossy(&text), &config_dir)?
    } else {
        Config::load(&o.config_path)?.storage.data_dir
    };
    fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let _lock = lock_data_dir(&data_dir)?;

    let staging = data_dir.join(format!(".restore-staging-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = (|| {
        let plain = match &ids {
            Some(ids) => {
                crypt::open(&set, ids, &staging)?;
                verify(&staging).context("checking the opened set")?;
                staging.clone()
            }
            None => set.clone(),
        };
        let aside = aside_dir(&data_dir);
        let config_files = if o.with_config {
            put_config_back(&plain, &config_dir, &data_dir, &aside)?
        } else {
            Vec::new()
        };
        let config = Config::load(&o.config_path)
            .with_context(|| format!("reading the config {}", o.config_path.display()))?;
        if !same_dir(&config.storage.data_dir, &data_dir) {
            bail!(
                "the config's storage.data_dir is {}, not {}",
                config.storage.data_dir.display(),
                data_dir.display()
            );
        }
        let summary = restore_locked(&config, &plain, &aside)?;
        Ok((summary, config_files))
    })();
    let _ = fs::remove_dir_all(&staging);
    let (summary, config_files) = result?;
    Ok(Restored {
        set: shown.unwrap_or_else(|| set.display().to_string()),
        summary,
        config_files,
        sealed,
    })
}

/// `dir` itself when it is a set, else the newest `cosmos-*` set in it.
fn newest_set(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.join(MANIFEST).is_file() {
        return Ok(dir.to_path_buf());
    }
    let mut sets: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(SET_PREFIX) && dir.join(n).join(MANIFEST).is_file())
        .collect();
    sets.sort();
    match sets.pop() {
        Some(n) => Ok(dir.join(n)),
        None => bail!(
            "{}: neither a backup set nor a folder of sets",
            dir.display()
        ),
    }
}

/// `[storage] data_dir` of a config's text, resolved against the folder it will live in.
fn data_dir_in(text: &str, config_dir: &Path) -> anyhow::Result<PathBuf> {
    let t: toml::Table = text.parse().context("the set's config is not valid TOML")?;
    let d = t
        .get("storage")
        .and_then(|s| s.get("data_dir"))
        .and_then(|d| d.as_str())
        .context("the set's config has no storage.data_dir")?;
    let p = PathBuf::from(d);
    Ok(if p.is_absolute() {
        p
    } else {
        config_dir.join(p)
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let real = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    real(a) == real(b)
}

/// Puts the set's `config/` into `config_dir` and its `external/` files at their paths,
/// each written whole (a temporary file renamed over), with its recorded mode and owner.
/// What each replaces goes to `aside` first.
fn put_config_back(
    plain: &Path,
    config_dir: &Path,
    data_dir: &Path,
    aside: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let perms = fs::read_to_string(plain.join(PERMISSIONS)).unwrap_or_default();
    let now = Service::of(data_dir);
    let owned = read_permissions(&perms, now);
    let mut files = Vec::new();
    for sub in [CONFIG_DIR, EXTERNAL_DIR] {
        if plain.join(sub).is_dir() {
            walk(&plain.join(sub), &mut files)?;
        }
    }
    if files.is_empty() {
        bail!("the set holds no configuration (it was made without one)");
    }
    if !config_dir.exists() {
        fs::create_dir_all(config_dir)?;
        apply(
            config_dir,
            Owned {
                mode: 0o750,
                uid: Some(0),
                gid: Some(now.gid),
            },
        )?;
    }
    let mut put = Vec::new();
    for f in &files {
        let name = rel(plain, f);
        let to = match external_path(&name) {
            Some(p) => p,
            None => config_dir.join(
                name.strip_prefix(&format!("{CONFIG_DIR}/"))
                    .unwrap_or(&name),
            ),
        };
        if to.exists() {
            let keep = aside.join(&name);
            copy_file(&to, &keep).with_context(|| format!("keeping {}", to.display()))?;
        }
        let parent = to.parent().context("a file without a folder")?;
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        let tmp = parent.join(format!(
            ".{}.restoring-{}",
            to.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        copy_file(f, &tmp)?;
        if let Some((_, o)) = owned.iter().find(|(n, _)| *n == name) {
            apply(&tmp, *o)?;
        }
        fs::rename(&tmp, &to).with_context(|| format!("putting {} in place", to.display()))?;
        File::open(parent)?.sync_all()?;
        put.push(to);
    }
    Ok(put)
}
