//! What of the venue's configuration a set holds, and how its files were owned.
//!
//! A set's `config/` is the configuration folder as it was (config, secret files, CA,
//! ssh key, templates), without the data folder when that lies inside. Files the config
//! names outside its folder (`password_file = "/srv/secrets/smtp"`, a `templates_dir`
//! elsewhere) go to `external/<absolute path>`. `PERMISSIONS` keeps each one's mode and
//! owner, the owner as a role — `root`, `service` (whoever owns the data folder, the
//! service user on a box) or a number — since a rebuilt box's service user may have
//! another uid.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

use super::{CONFIG_DIR, EXTERNAL_DIR, walk};

/// Leftovers of an editor or a half-written file, never worth keeping.
pub fn is_temporary(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with('~')
}

/// Every configuration file to keep, with its name in the set.
pub fn config_files(
    dir: &Path,
    config_file: &Path,
    data_dir: &Path,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let real = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let data = real(data_dir);
    let home = real(dir);
    let mut out = Vec::new();
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    for f in files {
        let r = real(&f);
        if r.starts_with(&data) || is_temporary(&f) {
            continue;
        }
        let name = f.strip_prefix(dir)?.to_string_lossy().into_owned();
        out.push((f, format!("{CONFIG_DIR}/{name}")));
    }
    for named in crate::config::named_files(config_file)? {
        let mut found = Vec::new();
        if named.is_dir() {
            walk(&named, &mut found)?;
        } else if named.is_file() {
            found.push(named);
        }
        for f in found {
            let r = real(&f);
            if r.starts_with(&home) || r.starts_with(&data) || is_temporary(&f) {
                continue;
            }
            let name = external_name(&r)?;
            if !out.iter().any(|(_, n)| *n == name) {
                out.push((r, name));
            }
        }
    }
    Ok(out)
}

/// `external/<the path without its leading />`, for an absolute, normal path.
fn external_name(abs: &Path) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for c in abs.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => bail!("{}: not a plain absolute path", abs.display()),
        }
    }
    Ok(format!("{EXTERNAL_DIR}/{}", parts.join("/")))
}

/// Where a set's `external/…` name goes back to.
pub fn external_path(name: &str) -> Option<PathBuf> {
    name.strip_prefix(&format!("{EXTERNAL_DIR}/"))
        .map(|r| Path::new("/").join(r))
}

/// The owner roles of the data folder's owner (the service user and its group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub uid: u32,
    pub gid: u32,
}

impl Service {
    pub fn of(data_dir: &Path) -> Service {
        match fs::metadata(data_dir) {
            Ok(m) => Service {
                uid: m.uid(),
                gid: m.gid(),
            },
            // No data folder yet: whoever runs this.
            Err(_) => Service {
                uid: rustix::process::geteuid().as_raw(),
                gid: rustix::process::getegid().as_raw(),
            },
        }
    }

    fn role(self, id: u32, service: u32) -> String {
        match id {
            0 => "root".into(),
            i if i == service => "service".into(),
            i => i.to_string(),
        }
    }

    fn id(self, role: &str, service: u32) -> Option<u32> {
        match role {
            "root" => Some(0),
            "service" => Some(service),
            n => n.parse().ok(),
        }
    }
}

/// The `PERMISSIONS` file being written: `<mode> <owner> <group> <name>` lines.
pub struct Permissions {
    service: Service,
    pub text: String,
}

impl Permissions {
    pub fn of(data_dir: &Path) -> Permissions {
        Permissions {
            service: Service::of(data_dir),
            text: String::new(),
        }
    }

    pub fn add(&mut self, src: &Path, name: &str) -> anyhow::Result<()> {
        let m = fs::metadata(src).with_context(|| format!("reading {}", src.display()))?;
        let s = self.service;
        self.text.push_str(&format!(
            "{:04o} {} {} {name}\n",
            m.mode() & 0o7777,
            s.role(m.uid(), s.uid),
            s.role(m.gid(), s.gid)
        ));
        Ok(())
    }
}

/// One restored file's mode and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owned {
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Reads a set's `PERMISSIONS` for the box being restored: roles mapped to `now`'s ids.
pub fn read_permissions(text: &str, now: Service) -> Vec<(String, Owned)> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(4, ' ');
            let mode = u32::from_str_radix(it.next()?, 8).ok()?;
            let uid = now.id(it.next()?, now.uid);
            let gid = now.id(it.next()?, now.gid);
            Some((it.next()?.to_string(), Owned { mode, uid, gid }))
        })
        .collect()
}

/// Gives `path` its mode, and its owner when run as root.
pub fn apply(path: &Path, o: Owned) -> anyhow::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(o.mode & 0o7777))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    if rustix::process::geteuid().is_root() {
        rustix::fs::chown(
            path,
            o.uid.map(rustix::fs::Uid::from_raw),
            o.gid.map(rustix::fs::Gid::from_raw),
        )
        .with_context(|| format!("setting the owner of {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_travel_as_roles() {
        let then = Service { uid: 998, gid: 997 };
        let now = Service { uid: 120, gid: 121 };
        assert_eq!(then.role(0, then.uid), "root");
        assert_eq!(then.role(998, then.uid), "service");
        assert_eq!(then.role(1000, then.uid), "1000");
        let text = "0640 root service config/cosmosd.toml\n0600 service service config/a b\n";
        let got = read_permissions(text, now);
        assert_eq!(
            got,
            [
                (
                    "config/cosmosd.toml".to_string(),
                    Owned {
                        mode: 0o640,
                        uid: Some(0),
                        gid: Some(121)
                    }
                ),
                (
                    "config/a b".to_string(),
                    Owned {
                        mode: 0o600,
                        uid: Some(120),
                        gid: Some(121)
                    }
                ),
            ]
        );
    }

    #[test]
    fn external_names_round_trip_and_refuse_odd_paths() {
        let n = external_name(Path::new("/srv/secrets/smtp")).unwrap();
        assert_eq!(n, "external/srv/secrets/smtp");
        assert_eq!(
            external_path(&n).unwrap(),
            PathBuf::from("/srv/secrets/smtp")
        );
        assert!(external_name(Path::new("/srv/../etc/x")).is_err());
        assert_eq!(external_path("config/x"), None);
    }
}
