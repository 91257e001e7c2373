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

/// An `[auth]` section with new secrets: two different 6-digit PINs, a technician
/// password and a show-control token.
fn auth_section() -> String {
    let host = random_digits(6);
    let mut kiosk = random_digits(6);
    while kiosk == host {
        kiosk = random_digits(6);
    }
    format!(
        "[auth]\nhost_pin = \"{host}\"\nkiosk_pin = \"{kiosk}\"\ntechnician_password = \"{}\"\nshow_control_token = \"{}\"\n",
        random_hex(8),
        random_hex(16)
    )
}

/// The demo configuration text, with new secrets.
pub fn config_text() -> String {
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

{auth}"#,
        auth = auth_section(),
    )
}

/// A venue's first configuration, written by the Debian package (`cosmosd init-config`)
/// with new secrets: the real camera and GPIO (or simulated ones, for a box without
/// them), data in /var/lib/cosmos, and mail queued for an SMTP relay that the technician
/// still has to name — until then the guests' messages wait in the outbox (the health
/// report says the uplink is down), they are never written off.
pub fn venue_config_text(simulated: bool) -> String {
    let (camera, lights) = if simulated {
        ("simulated", "simulated")
    } else {
        ("gphoto2", "rppal")
    };
    format!(
        r#"# cosmosd configuration for this venue. Made with new secrets by `cosmosd init-config`.
# Check it with `cosmosd check-config /etc/cosmos/cosmosd.toml`, then
# `systemctl restart cosmosd`. Every key is described in the README.

[server]
listen = "0.0.0.0:8080"
# HTTPS with the box-local CA made beside this file (ca.crt, ca.key); tablets trust it
# once (http://<box>:8080/trust). "off" for plain HTTP only, "files" with cert_file/key_file.
tls = "self-signed"
tls_listen = "0.0.0.0:8443"

[storage]
data_dir = "/var/lib/cosmos"

[camera]
backend = "{camera}"              # "gphoto2" finds the Canon on USB; or "simulated"

[lights]
backend = "{lights}"                # "rppal" (the Pi's GPIO) or "simulated"
pins = [17, 27, 22, 23]            # BCM pins, one per floor marker

[show]
duration_minutes = 15
changeover_minutes = 5
spontaneous_offset_seconds = 540

[mail]
transport = "smtp"
from = "COSMOS <cosmos@example.com>"
# Name the venue's relay here. Until then messages wait in the outbox.
smtp_host = "smtp.invalid"
smtp_port = 587
tls = "starttls"
# username = "cosmos"
# password_file = "/etc/cosmos/smtp-password"

[privacy]
retention_days = 30

{auth}"#,
        auth = auth_section(),
    )
}

/// Writes [`venue_config_text`] to `path` (mode 0640), refusing to replace a file.
pub fn init_config(path: &Path, simulated: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path)
        .with_context(|| {
            format!(
                "creating {} (an existing config is never replaced)",
                path.display()
            )
        })?;
    f.write_all(venue_config_text(simulated).as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
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
    fn the_venue_config_is_valid_for_both_kinds_of_box() {
        for simulated in [false, true] {
            let c = crate::config::Config::from_toml_str(
                &super::venue_config_text(simulated),
                std::path::Path::new("/etc/cosmos"),
            )
            .unwrap();
            assert_eq!(c.storage.data_dir, std::path::Path::new("/var/lib/cosmos"));
            assert_eq!(
                c.lights.backend == crate::config::LightsBackend::Simulated,
                simulated
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        super::init_config(&p, true).unwrap();
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&p).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o640);
        assert!(super::init_config(&p, true).is_err(), "never replaced");
    }

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
