//! `cosmosd demo`: the embedded default. Writes a config with simulated devices, mail
//! to files and freshly made-up PINs into a local folder the first time, and reuses it
//! afterwards, so anyone can try the daemon with no hardware and no config file.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;

/// The config file's name inside the demo folder.
pub const CONFIG_FILE: &str = "cosmosd.toml";

fn random_digits(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS random source failed");
    b.iter().map(|x| char::from(b'0' + x % 10)).collect()
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("the OS random source failed");
    hex::encode(b)
}

/// The demo configuration text, with new secrets.
pub fn config_text() -> String {
    let host = random_digits(6);
    let mut kiosk = random_digits(6);
    while kiosk == host {
        kiosk = random_digits(6);
    }
    format!(
        r#"# cosmosd demo configuration: simulated camera and lights, mail written to files.
# Made by `cosmosd demo`; edit freely, or copy it as a starting point for a venue.

[server]
listen = "127.0.0.1:8080"

[storage]
data_dir = "data"          # relative to this file

[camera]
backend = "simulated"

[lights]
backend = "simulated"
pins = [17, 27, 22, 23]

[show]
duration_minutes = 15
changeover_minutes = 5
spontaneous_offset_seconds = 540

[mail]
transport = "file"
from = "COSMOS <cosmos@example.com>"

[auth]
host_pin = "{host}"
kiosk_pin = "{kiosk}"
technician_password = "{tech}"
show_control_token = "{sc}"
"#,
        tech = random_hex(8),
        sc = random_hex(16),
    )
}

/// Loads the demo config from `dir`, writing a new one first if there is none.
pub fn prepare(dir: &Path) -> anyhow::Result<(Config, PathBuf)> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating demo folder {}", dir.display()))?;
    let path = dir.join(CONFIG_FILE);
    if !path.exists() {
        let tmp = dir.join(format!("{CONFIG_FILE}.tmp"));
        std::fs::write(&tmp, config_text())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok((Config::load(&path)?, path))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_config_is_valid_and_has_fresh_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let (a, path) = super::prepare(dir.path()).unwrap();
        assert_eq!(a.storage.data_dir, dir.path().join("data"));
        let (b, _) = super::prepare(dir.path()).unwrap();
        assert_eq!(
            a.auth.host_pin, b.auth.host_pin,
            "an existing demo config is reused"
        );
        std::fs::remove_file(path).unwrap();
        let (c, _) = super::prepare(dir.path()).unwrap();
        assert_ne!(a.auth.technician_password, c.auth.technician_password);
    }
}
