//! The box-local certificate authority of `[server] tls = "self-signed"`.
//!
//! `cosmosd init-config` (or the daemon at start-up, if missing) makes a CA whose
//! certificate and key live in the config folder (`ca.crt`, `ca.key` mode 0600; on the box
//! `/etc/cosmos`, made at first boot, never in the image). The tablets trust `ca.crt` once
//! (served over plain HTTP at `GET /ca.crt`). The CA signs a server certificate for the
//! box's names (hostname, `HOSTNAME.local`, `localhost`) and addresses, kept under
//! `DATA_DIR/tls/` (`server.crt` with the chain, `server.key`, and `server.names`: the
//! names it was made for and its expiry), and made again at start-up when the names or
//! addresses change or it is within [`RENEW_BEFORE_DAYS`] of expiry.
//!
//! Invariant: every file is written whole (temporary file, then rename); a key is never
//! readable by anyone but its owner.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Midnight UTC of `t`'s day, as rcgen takes it.
macro_rules! ymd {
    ($t:expr) => {{
        use chrono::Datelike;
        let t = $t;
        rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
    }};
}

pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
/// Under the data folder (the daemon may write there; the config folder is read-only to
/// the service).
pub const SERVER_DIR: &str = "tls";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
const SERVER_NAMES: &str = "server.names";

/// The server certificate is made again when it has fewer days than this left.
pub const RENEW_BEFORE_DAYS: i64 = 30;
/// Server certificates last this long (the most Apple devices accept: 398 days).
const SERVER_DAYS: i64 = 397;
/// The CA lasts 20 years: a tablet trusts it once.
const CA_YEARS: i32 = 20;

/// The CA's certificate (PEM) and its key.
pub struct Ca {
    pub cert_pem: String,
    key_pem: String,
}

/// What a server certificate needs: PEM chain (server, then CA) and key.
pub struct ServerCert {
    pub chain_pem: String,
    pub key_pem: String,
    /// Whether it was made (or made again) now, and why.
    pub renewed: Option<String>,
}

/// Reads the CA from `dir`, or makes one there when neither file exists. One file without
/// the other is an error (never overwritten: tablets may trust the old one).
pub fn ensure_ca(dir: &Path) -> anyhow::Result<(Ca, bool)> {
    let cert = dir.join(CA_CERT);
    let key = dir.join(CA_KEY);
    match (cert.exists(), key.exists()) {
        (true, true) => {
            let cert_pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            let key_pem = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {}", key.display()))?;
            KeyPair::from_pem(&key_pem)
                .with_context(|| format!("{} is not a key", key.display()))?;
            Ok((Ca { cert_pem, key_pem }, false))
        }
        (false, false) => {
            let ca = make_ca()?;
            write_whole(&key, ca.key_pem.as_bytes(), 0o600)?;
            write_whole(&cert, ca.cert_pem.as_bytes(), 0o644)?;
            Ok((ca, true))
        }
        (c, _) => anyhow::bail!(
            "{} exists without {}: restore the missing file or remove both to make a new CA \
             (every tablet must then trust the new one)",
            if c { cert.display() } else { key.display() },
            if c { key.display() } else { cert.display() }
        ),
    }
}

fn make_ca() -> anyhow::Result<Ca> {
    let key = KeyPair::generate().context("generating the CA key")?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    let host = hostname();
    dn.push(DnType::CommonName, format!("COSMOS box CA ({host})"));
    dn.push(DnType::OrganizationName, "COSMOS");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = chrono::Utc::now();
    p.not_before = ymd!(now - chrono::Duration::days(1));
    p.not_after = rcgen::date_time_ymd(chrono::Datelike::year(&now) + CA_YEARS, 1, 1);
    let cert = p.self_signed(&key).context("signing the CA certificate")?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The names and addresses the server certificate is for, sorted and without repeats.
pub fn wanted_names() -> Vec<String> {
    let host = hostname();
    let mut names = vec!["localhost".to_string()];
    if !host.is_empty() && host != "localhost" {
        names.push(host.clone());
        if !host.ends_with(".local") {
            names.push(format!("{host}.local"));
        }
    }
    names.extend(local_addresses());
    names.sort();
    names.dedup();
    names
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Every address of the box: IPv4 from the kernel's local routes, IPv6 from
/// `/proc/net/if_inet6` (link-local ones left out: a URL cannot carry their zone).
fn local_addresses() -> Vec<String> {
    let mut out = vec!["127.0.0.1".to_string(), "::1".to_string()];
    if let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") {
        out.extend(ipv4_from_fib_trie(&trie));
    }
    if let Ok(v6) = std::fs::read_to_string("/proc/net/if_inet6") {
        for line in v6.lines() {
            let Some(hex) = line.split_whitespace().next() else {
                continue;
            };
            let Ok(n) = u128::from_str_radix(hex, 16) else {
                continue;
            };
            let ip = std::net::Ipv6Addr::from(n);
            if (ip.segments()[0] & 0xffc0) != 0xfe80 {
                out.push(ip.to_string());
            }
        }
    }
    out
}

/// The `/32 host LOCAL` entries of `/proc/net/fib_trie` are the box's own IPv4 addresses.
fn ipv4_from_fib_trie(trie: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut last: Option<&str> = None;
    for line in trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if t.parse::<std::net::Ipv4Addr>().is_ok() {
            last = Some(t);
        } else if t.starts_with("/32 host LOCAL")
            && let Some(a) = last
        {
            out.push(a.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What `server.names` says about the certificate beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_after: i64,
}

impl Made {
    fn render(&self) -> String {
        let mut s = format!("not_after {}\n", self.not_after);
        for n in &self.names {
            s.push_str(&format!("name {n}\n"));
        }
        s
    }

    fn parse(text: &str) -> Option<Made> {
        let mut not_after = None;
        let mut names = Vec::new();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("not_after", v)) => not_after = v.parse().ok(),
                Some(("name", v)) => names.push(v.to_string()),
                _ => return None,
            }
        }
        Some(Made {
            names,
            not_after: not_after?,
        })
    }
}

/// Why the server certificate must be made (again), or None when it still fits.
pub fn renewal_reason(made: Option<&Made>, wanted: &[String], now: i64) -> Option<String> {
    let Some(m) = made else {
        return Some("there is no server certificate yet".into());
    };
    if m.names != wanted {
        let gone: Vec<&str> = m
            .names
            .iter()
            .filter(|n| !wanted.contains(n))
            .map(String::as_str)
            .collect();
        let new: Vec<&str> = wanted
            .iter()
            .filter(|n| !m.names.contains(n))
            .map(String::as_str)
            .collect();
        return Some(format!(
            "the box's names changed (new: {}; gone: {})",
            if new.is_empty() {
                "-".into()
            } else {
                new.join(", ")
            },
            if gone.is_empty() {
                "-".into()
            } else {
                gone.join(", ")
            }
        ));
    }
    let left = (m.not_after - now) / 86_400;
    if m.not_after - now < RENEW_BEFORE_DAYS * 86_400 {
        return Some(format!("it expires in {left} day(s)"));
    }
    None
}

/// The server certificate under `data_dir/tls`, made or made again when
/// [`renewal_reason`] says so.
pub fn ensure_server_cert(
    ca: &Ca,
    data_dir: &Path,
    wanted: &[String],
) -> anyhow::Result<ServerCert> {
    let dir = data_dir.join(SERVER_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let made = std::fs::read_to_string(dir.join(SERVER_NAMES))
        .ok()
        .and_then(|t| Made::parse(&t));
    let cert_path = dir.join(SERVER_CERT);
    let key_path = dir.join(SERVER_KEY);
    let files = cert_path.is_file() && key_path.is_file();
    let now = chrono::Utc::now();
    let reason = if files {
        renewal_reason(made.as_ref(), wanted, now.timestamp())
    } else {
        Some("there is no server certificate yet".into())
    };
    // Issued by another CA (the CA was replaced): make it again too.
    let chain_now = std::fs::read_to_string(&cert_path).unwrap_or_default();
    let reason = reason
        .or_else(|| (!chain_now.ends_with(&ca.cert_pem)).then(|| "the CA changed".to_string()));
    let Some(reason) = reason else {
        return Ok(ServerCert {
            chain_pem: chain_now,
            key_pem: std::fs::read_to_string(&key_path)
                .with_context(|| format!("reading {}", key_path.display()))?,
            renewed: None,
        });
    };
    let ca_key = KeyPair::from_pem(&ca.key_pem).context("reading the CA key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).context("reading the CA")?;
    let key = KeyPair::generate().context("generating the server key")?;
    let mut p = CertificateParams::new(wanted.to_vec()).context("the box's names")?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        wanted
            .iter()
            .find(|n| n.ends_with(".local"))
            .cloned()
            .unwrap_or_else(|| "localhost".into()),
    );
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let not_after = now + chrono::Duration::days(SERVER_DAYS);
    p.not_before = ymd!(now - chrono::Duration::days(1));
    p.not_after = ymd!(not_after);
    let cert = p
        .signed_by(&key, &issuer)
        .context("signing the server certificate")?;
    let chain_pem = format!("{}{}", cert.pem(), ca.cert_pem);
    let key_pem = key.serialize_pem();
    // The key first, the names last: a crash between leaves a state that is made again.
    let _ = std::fs::remove_file(dir.join(SERVER_NAMES));
    write_whole(&key_path, key_pem.as_bytes(), 0o600)?;
    write_whole(&cert_path, chain_pem.as_bytes(), 0o644)?;
    // The day `not_after` names starts at midnight UTC: record that, not a later time.
    let recorded = ymd!(not_after).unix_timestamp();
    let made = Made {
        names: wanted.to_vec(),
        not_after: recorded,
    };
    write_whole(&dir.join(SERVER_NAMES), made.render().as_bytes(), 0o644)?;
    Ok(ServerCert {
        chain_pem,
        key_pem,
        renewed: Some(reason),
    })
}

/// Writes `bytes` to `path` whole: a temporary file with `mode`, synced, then renamed.
fn write_whole(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp: PathBuf = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn renew_decision() {
        let day = 86_400;
        let now = 1_800_000_000;
        let wanted = names(&["127.0.0.1", "box", "box.local", "localhost"]);
        assert!(renewal_reason(None, &wanted, now).is_some(), "none yet");
        let fresh = Made {
            names: wanted.clone(),
            not_after: now + 300 * day,
        };
        assert_eq!(renewal_reason(Some(&fresh), &wanted, now), None);
        let edge = Made {
            not_after: now + 30 * day,
            ..fresh.clone()
        };
        assert_eq!(
            renewal_reason(Some(&edge), &wanted, now),
            None,
            "30 days left"
        );
        let near = Made {
            not_after: now + 30 * day - 1,
            ..fresh.clone()
        };
        assert!(
            renewal_reason(Some(&near), &wanted, now)
                .unwrap()
                .contains("expires in 29 day")
        );
        let expired = Made {
            not_after: now - day,
            ..fresh.clone()
        };
        assert!(renewal_reason(Some(&expired), &wanted, now).is_some());
        let moved = names(&["10.0.0.7", "127.0.0.1", "box", "box.local", "localhost"]);
        let why = renewal_reason(Some(&fresh), &moved, now).unwrap();
        assert!(why.contains("new: 10.0.0.7; gone: -"), "{why}");
        let renamed = names(&["127.0.0.1", "cosmos", "cosmos.local", "localhost"]);
        let why = renewal_reason(Some(&fresh), &renamed, now).unwrap();
        assert!(why.contains("gone: box, box.local"), "{why}");
    }

    #[test]
    fn names_file_round_trips_and_rejects_garbage() {
        let m = Made {
            names: names(&["::1", "box.local"]),
            not_after: 42,
        };
        assert_eq!(Made::parse(&m.render()), Some(m));
        assert_eq!(Made::parse("garbage\n"), None);
        assert_eq!(Made::parse("name x\n"), None, "no expiry");
    }

    #[test]
    fn fib_trie_local_hosts() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 127.0.0.0/8 2 0 2\n        +-- 127.0.0.0/31 1 0 0\n           |-- 127.0.0.0\n              /8 host LOCAL\n           |-- 127.0.0.1\n              /32 host LOCAL\n        |-- 127.255.255.255\n           /32 link BROADCAST\n     |-- 192.168.4.17\n        /32 host LOCAL\nLocal:\n     |-- 192.168.4.17\n        /32 host LOCAL\n";
        assert_eq!(
            ipv4_from_fib_trie(trie),
            names(&["127.0.0.1", "192.168.4.17"])
        );
    }

    #[test]
    fn ca_is_made_once_and_signs_a_renewed_server_cert() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (ca, made) = ensure_ca(dir.path()).unwrap();
        assert!(made);
        let mode = std::fs::metadata(dir.path().join(CA_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, made) = ensure_ca(dir.path()).unwrap();
        assert!(!made);
        assert_eq!(again.cert_pem, ca.cert_pem);
        let data = dir.path().join("data");
        let w = names(&["127.0.0.1", "localhost"]);
        let first = ensure_server_cert(&ca, &data, &w).unwrap();
        assert!(first.renewed.is_some());
        assert!(first.chain_pem.ends_with(&ca.cert_pem));
        let same = ensure_server_cert(&ca, &data, &w).unwrap();
        assert_eq!(same.renewed, None);
        assert_eq!(same.chain_pem, first.chain_pem);
        let w2 = names(&["10.1.2.3", "127.0.0.1", "localhost"]);
        let moved = ensure_server_cert(&ca, &data, &w2).unwrap();
        assert!(moved.renewed.unwrap().contains("10.1.2.3"));
        assert_ne!(moved.chain_pem, first.chain_pem);
        std::fs::remove_file(dir.path().join(CA_KEY)).unwrap();
        assert!(ensure_ca(dir.path()).is_err(), "half a CA is not replaced");
    }
}
