//! `[server] tls`, `cert_file`, `key_file`, `tls_listen`: whether the front door also
//! serves HTTPS, and with which certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{ConfigError, bad, existing_file};

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP only (the default).
    Off,
    /// A box-local CA in the config folder (`ca.crt`, `ca.key`) signs a server
    /// certificate for the box's names and addresses, renewed at start-up.
    SelfSigned {
        /// The config folder (`/etc/cosmos` on the box): the CA lives here.
        config_dir: PathBuf,
    },
    /// A certificate chain and key the venue provides (PEM).
    Files { cert: PathBuf, key: PathBuf },
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub mode: TlsMode,
    /// Where HTTPS listens (`tls_listen`, default `0.0.0.0:8443`).
    pub listen: SocketAddr,
}

impl TlsConfig {
    pub fn on(&self) -> bool {
        self.mode != TlsMode::Off
    }
}

pub(super) const DEFAULT_TLS_LISTEN: &str = "0.0.0.0:8443";

pub(super) fn tls(
    mode: &str,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    listen: &str,
    base: &Path,
) -> Result<TlsConfig, ConfigError> {
    let listen: SocketAddr = listen.parse().map_err(|_| {
        bad(
            "server.tls_listen",
            format!("`{listen}` is not an IP:port address"),
        )
    })?;
    let mode = match mode {
        "off" | "self-signed" => {
            for (key, v) in [
                ("server.cert_file", &cert_file),
                ("server.key_file", &key_file),
            ] {
                if v.is_some() {
                    return Err(bad(key, "is used only with tls = \"files\""));
                }
            }
            if mode == "off" {
                TlsMode::Off
            } else {
                TlsMode::SelfSigned {
                    config_dir: base.to_path_buf(),
                }
            }
        }
        "files" => {
            let cert = cert_file
                .ok_or_else(|| bad("server.cert_file", "is required with tls = \"files\""))?;
            let key = key_file
                .ok_or_else(|| bad("server.key_file", "is required with tls = \"files\""))?;
            TlsMode::Files {
                cert: existing_file(base, "server.cert_file", cert)?,
                key: existing_file(base, "server.key_file", key)?,
            }
        }
        other => {
            return Err(bad(
                "server.tls",
                format!("`{other}` is not one of \"off\", \"self-signed\", \"files\""),
            ));
        }
    };
    Ok(TlsConfig { mode, listen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_their_keys() {
        let base = Path::new("/nonexistent-base");
        let off = tls("off", None, None, DEFAULT_TLS_LISTEN, base).unwrap();
        assert!(!off.on());
        assert_eq!(off.listen, "0.0.0.0:8443".parse().unwrap());
        let s = tls("self-signed", None, None, "127.0.0.1:0", base).unwrap();
        assert_eq!(
            s.mode,
            TlsMode::SelfSigned {
                config_dir: base.into()
            }
        );
        let key = |r: Result<TlsConfig, ConfigError>| r.unwrap_err().key;
        assert_eq!(key(tls("on", None, None, "1.2.3.4:1", base)), "server.tls");
        assert_eq!(
            key(tls("off", None, None, "localhost", base)),
            "server.tls_listen"
        );
        assert_eq!(
            key(tls("files", None, Some("k".into()), "1.2.3.4:1", base)),
            "server.cert_file"
        );
        assert_eq!(
            key(tls("files", Some("c".into()), None, "1.2.3.4:1", base)),
            "server.key_file"
        );
        assert_eq!(
            key(tls(
                "files",
                Some("c".into()),
                Some("k".into()),
                "1.2.3.4:1",
                base
            )),
            "server.cert_file",
            "a missing file is named"
        );
        assert_eq!(
            key(tls("off", Some("c".into()), None, "1.2.3.4:1", base)),
            "server.cert_file"
        );
    }
}
