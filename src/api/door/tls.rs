//! HTTPS at the front door (`[server] tls`): the rustls acceptor on `tls_listen`, and
//! what plain HTTP still serves once TLS is on.
//!
//! A TLS connection is admitted under the same caps as a plain one, its handshake runs
//! under the head deadline, and then its requests go through the door exactly like plain
//! ones. Over plain HTTP from the LAN (anything but 127.0.0.1 and ::1: other 127.x
//! addresses count as the LAN, so tests can play a tablet) the door itself answers:
//! `GET /ca.crt` (the box CA), `GET /trust` (how to trust it), a 308 to HTTPS for every
//! other page, and 403 `https_required` for the API, except `GET /api/health`, which is
//! forwarded. The box itself (loopback) keeps plain HTTP for everything.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::framing::Head;
use super::{ApiError, Connection, Counts, Door, Limits, RefusalLog, Upstream, answer, is_the_box};
use crate::config::{Config, TlsMode};
use std::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The plain-HTTP page explaining how to trust the CA.
pub const TRUST_PATH: &str = "/trust";
/// The box CA's certificate, over plain HTTP.
pub const CA_PATH: &str = "/ca.crt";

/// What the door needs for HTTPS: the acceptor, and for plain HTTP the CA to hand out and
/// the port to redirect to.
pub struct Tls {
    pub(super) acceptor: TlsAcceptor,
    /// Only with "self-signed": the CA the tablets trust (PEM).
    pub ca_pem: Option<String>,
    /// The HTTPS port redirects point at (the bound one).
    pub port: u16,
}

/// [`spawn`], and with `tls` also HTTPS on its listener (same caps, same requests); plain
/// HTTP then serves the LAN only what [`plain_answer`] allows.
pub fn spawn_with_tls(
    listener: std::net::TcpListener,
    tls: Option<(Tls, std::net::TcpListener)>,
    limits: Limits,
    upstream: Upstream,
    stop: CancellationToken,
) -> io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let (tls, tls_listener) = match tls {
        Some((t, l)) => (Some(t), Some(tokio_listener(l)?)),
        None => (None, None),
    };
    let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
    let door = Arc::new(Door {
        limits,
        upstream,
        stop,
        counts: Mutex::new(Counts::default()),
        refused: Mutex::new(RefusalLog::default()),
        tls,
    });
    let secure = tls_listener
        .zip(acceptor)
        .map(|(l, a)| tokio::spawn(accept_loop(l, door.clone(), a)));
    let plain = tokio::spawn(super::accept_loop(listener, door));
    Ok(tokio::spawn(async move {
        let _ = plain.await;
        if let Some(s) = secure {
            let _ = s.await;
        }
    }))
}

/// Reads or makes the certificate `[server] tls` names, and binds `tls_listen`.
/// None when TLS is off.
pub fn setup(config: &Config) -> anyhow::Result<Option<(Tls, std::net::TcpListener)>> {
    let t = &config.server.tls;
    let (chain_pem, key_pem, ca_pem) = match &t.mode {
        TlsMode::Off => return Ok(None),
        TlsMode::SelfSigned { config_dir } => {
            let (ca, made) = crate::ca::ensure_ca(config_dir)
                .context("the box CA (server.tls = \"self-signed\")")?;
            if made {
                log::warn!(dir = config_dir.display().to_string().as_str();
                    "made a new box CA in {}: every tablet must trust it (http://<box>/trust)", config_dir.display());
            }
            let names = crate::ca::wanted_names();
            let cert = crate::ca::ensure_server_cert(&ca, &config.storage.data_dir, &names)
                .context("the server certificate (server.tls = \"self-signed\")")?;
            if let Some(why) = &cert.renewed {
                log::info!(names = names.join(",").as_str(); "made the server certificate: {why}");
            }
            (cert.chain_pem, cert.key_pem, Some(ca.cert_pem))
        }
        TlsMode::Files { cert, key } => {
            let c = std::fs::read_to_string(cert)
                .with_context(|| format!("reading {} (server.cert_file)", cert.display()))?;
            let k = std::fs::read_to_string(key)
                .with_context(|| format!("reading {} (server.key_file)", key.display()))?;
            (c, k, None)
        }
    };
    let acceptor = acceptor(&chain_pem, &key_pem)?;
    let listener = std::net::TcpListener::bind(t.listen)
        .with_context(|| format!("listening on {} (server.tls_listen)", t.listen))?;
    let port = listener.local_addr()?.port();
    Ok(Some((
        Tls {
            acceptor,
            ca_pem,
            port,
        },
        listener,
    )))
}

/// A rustls server config (ring, HTTP/1.1 only) for a PEM chain and key.
pub fn acceptor(chain_pem: &str, key_pem: &str) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("server.cert_file: not a PEM certificate chain")?;
    anyhow::ensure!(!chain.is_empty(), "server.cert_file: no certificate in it");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .context("server.key_file: not a PEM private key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("server.key_file does not match server.cert_file")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Accepts TLS connections until the door stops; each is served like a plain one once
/// its handshake is done.
pub(super) async fn accept_loop(listener: TcpListener, door: Arc<Door>, acceptor: TlsAcceptor) {
    loop {
        let accepted = tokio::select! {
            _ = door.stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let (sock, peer) = match accepted {
            Ok(a) => a,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let ticket = match door.admit(peer.ip()) {
            Ok(t) => t,
            Err(why) => {
                // No TLS yet, so no HTTP answer can be read: just close.
                door.note_refusal(peer, why);
                continue;
            }
        };
        let door = door.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let hs = tokio::time::timeout(door.limits.head, acceptor.accept(sock)).await;
            match hs {
                Ok(Ok(stream)) => {
                    let (r, w) = tokio::io::split(stream);
                    Connection::from_halves(Box::new(r), Box::new(w), peer, door, true)
                        .serve()
                        .await;
                }
                Ok(Err(e)) => {
                    log::debug!(client = peer.to_string().as_str(); "TLS handshake failed: {e}");
                }
                Err(_) => {
                    log::debug!(client = peer.to_string().as_str(); "TLS handshake timed out");
                }
            }
            drop(ticket);
        });
    }
}

/// What the door answers itself to a plain-HTTP request while TLS is on; None to
/// forward it (the box's own requests, and the health check).
pub(super) fn plain_answer(tls: &Tls, head: &Head, peer: SocketAddr) -> Option<Vec<u8>> {
    if is_the_box(peer.ip()) {
        return None;
    }
    let path = head.path.split('?').next().unwrap_or("");
    let read = head.method == "GET" || head.method == "HEAD";
    if read && path == "/api/health" {
        return None;
    }
    if read && path == CA_PATH {
        return Some(match &tls.ca_pem {
            Some(pem) => ok(
                head,
                "application/x-x509-ca-cert",
                pem.as_bytes(),
                &[(
                    "Content-Disposition",
                    "attachment; filename=\"cosmos-ca.crt\"",
                )],
            ),
            None => answer(ApiError::new(
                404,
                "no_box_ca",
                "this box uses a certificate the venue provided (server.tls = \"files\"): there is no box CA to trust",
            )),
        });
    }
    let host = host_name(head, peer.ip());
    let https = if tls.port == 443 {
        format!("https://{host}")
    } else {
        format!("https://{host}:{}", tls.port)
    };
    if read && path == TRUST_PATH {
        let page = trust_page(&https, tls.ca_pem.is_some());
        return Some(ok(head, "text/html; charset=utf-8", page.as_bytes(), &[]));
    }
    if read && !path.starts_with("/api/") && path != "/metrics" {
        let location = format!("{https}{}", head.path);
        return Some(redirect(&location));
    }
    let mut e = ApiError::new(
        403,
        "https_required",
        format!(
            "this box answers this over HTTPS only: use {https}/ (to trust its certificate, open http://{host}{TRUST_PATH})"
        ),
    );
    e.headers
        .push(("Location", format!("{https}{}", head.path)));
    Some(answer(e))
}

/// The host the client used (without its port), or the peer-facing fallback; only
/// characters a host name or address may hold, so nothing reaches a header unchecked.
fn host_name(head: &Head, _peer: IpAddr) -> String {
    let given = head
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .unwrap_or("");
    let host = if let Some(rest) = given.strip_prefix('[') {
        rest.split_once(']').map(|(h, _)| format!("[{h}]"))
    } else {
        given.split(':').next().map(str::to_string)
    };
    match host {
        Some(h)
            if !h.is_empty()
                && h.len() <= 253
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) =>
        {
            h
        }
        _ => format!("{}.local", crate::ca::hostname()),
    }
}

fn ok(head: &Head, content_type: &str, body: &[u8], extra: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if head.method != "HEAD" {
        bytes.extend_from_slice(body);
    }
    bytes
}

fn redirect(location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 308 Permanent Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Spanish first, English too; plain words.
fn trust_page(https: &str, box_ca: bool) -> String {
    let steps = if box_ca {
        format!(
            r#"<h2>iPad</h2>
<ol>
<li>Abra esta página en Safari y toque <a href="{CA_PATH}">Descargar el certificado</a>. Toque «Permitir».</li>
<li>Abra Ajustes › Perfil descargado › Instalar (pide el código del iPad).</li>
<li>Abra Ajustes › General › Información › Ajustes de confianza de certificados y active «COSMOS box CA».</li>
</ol>
<h2>Android</h2>
<ol>
<li>Toque <a href="{CA_PATH}">Descargar el certificado</a>.</li>
<li>Abra Ajustes › Seguridad › Cifrado y credenciales › Instalar un certificado › Certificado de CA, y elija el archivo descargado (cosmos-ca.crt).</li>
</ol>
<p>Después abra <a href="{https}/">{https}/</a>.</p>
<hr>
<h2 lang="en">iPad (English)</h2>
<ol lang="en">
<li>Open this page in Safari and tap <a href="{CA_PATH}">Download the certificate</a>. Tap “Allow”.</li>
<li>Open Settings › Profile Downloaded › Install (it asks for the iPad's passcode).</li>
<li>Open Settings › General › About › Certificate Trust Settings and turn on “COSMOS box CA”.</li>
</ol>
<h2 lang="en">Android (English)</h2>
<ol lang="en">
<li>Tap <a href="{CA_PATH}">Download the certificate</a>.</li>
<li>Open Settings › Security › Encryption &amp; credentials › Install a certificate › CA certificate, and pick the downloaded file (cosmos-ca.crt).</li>
</ol>
<p lang="en">Then open <a href="{https}/">{https}/</a>.</p>"#
        )
    } else {
        format!(
            r#"<p>Este equipo usa un certificado del local: no hace falta instalar nada. Abra <a href="{https}/">{https}/</a>.</p>
<p lang="en">This box uses the venue's certificate: there is nothing to install. Open <a href="{https}/">{https}/</a>.</p>"#
        )
    };
    format!(
        r#"<!doctype html>
<html lang="es">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Confiar en COSMOS · Trust COSMOS</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;line-height:1.5;color:#111;background:#fff}}a{{color:#0645ad}}</style>
</head>
<body><main>
<h1>Conectar la tableta de forma segura</h1>
<p>La tableta tiene que confiar una vez en el certificado de este equipo. Siga los pasos de su tableta.</p>
<p lang="en">Connect the tablet securely: it must trust this box's certificate once. Follow the steps for your tablet.</p>
{steps}
</main></body></html>
"#
    )
}

/// For the door's accept of a plain listener's twin: binds nothing, only converts.
pub(super) fn tokio_listener(l: std::net::TcpListener) -> io::Result<TcpListener> {
    l.set_nonblocking(true)?;
    TcpListener::from_std(l)
}
