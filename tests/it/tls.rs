//! HTTPS at the front door: the real daemon with `tls = "self-signed"` or `"files"` on
//! 127.0.0.1:0 for both ports, a rustls client that trusts the fetched `/ca.crt` and one
//! that does not, plain HTTP from a LAN address (127.0.0.2: only 127.0.0.1 and ::1 are
//! the box), and the server certificate made again when its names change.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{Value, json};

use crate::common::{Daemon, HOST_PIN};

fn self_signed() -> Daemon {
    self_signed_with(|_| {})
}

/// [`self_signed`] with the configuration changed further by `edit`.
fn self_signed_with(edit: impl FnOnce(&mut crate::common::TestConfig)) -> Daemon {
    Daemon::start_custom(|c| {
        c.set("server.tls", "self-signed")
            .set("server.tls_listen", "127.0.0.1:0");
        edit(c);
    })
}

/// A client socket from a loopback address of its own, so the door sees a LAN client.
fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    s.bind(&from.into()).unwrap();
    s.connect(&to.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_nodelay(true).unwrap();
    s
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on `s` (kept alive), its answer read by Content-Length.
fn send(
    s: &mut (impl Read + Write),
    method: &str,
    path: &str,
    host: &str,
    body: Option<&Value>,
) -> std::io::Result<Answer> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    // One write: a request in pieces would wait on Nagle's algorithm.
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    s.flush()?;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("closed mid-head: {}", String::from_utf8_lossy(&buf)),
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut a = Answer {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = a.header("content-length").unwrap_or("0").parse().unwrap();
    a.body = vec![0; len];
    s.read_exact(&mut a.body)?;
    Ok(a)
}

fn plain(d: &Daemon, from: &str, method: &str, path: &str, body: Option<&Value>) -> Answer {
    let mut s = connect_from(from, d.addr);
    send(&mut s, method, path, &d.addr.to_string(), body).unwrap()
}

fn client_config(roots_pem: &[u8]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(roots_pem) {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `addr` for `name`, its handshake done (or its error).
fn tls_connect(cfg: &Arc<ClientConfig>, addr: SocketAddr, name: &str) -> std::io::Result<Tls> {
    let name = ServerName::try_from(name.to_string()).unwrap();
    let conn = ClientConnection::new(cfg.clone(), name).unwrap();
    let mut s = StreamOwned::new(conn, connect_from("127.0.0.3", addr));
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// The HTTPS address, as the plain port's redirect names it.
fn https_addr(d: &Daemon) -> SocketAddr {
    let r = plain(d, "127.0.0.2", "GET", "/host", None);
    assert_eq!(r.status, 308, "{}", r.head);
    let loc = r.header("location").unwrap();
    let rest = loc.strip_prefix("https://").unwrap();
    let hostport = rest.strip_suffix("/host").unwrap();
    assert!(hostport.starts_with("127.0.0.1:"), "{loc}");
    hostport.parse().unwrap()
}

#[test]
fn a_client_that_trusts_the_fetched_ca_gets_health_and_logs_in() {
    let d = self_signed();
    let ca = plain(&d, "127.0.0.2", "GET", "/ca.crt", None);
    assert_eq!(ca.status, 200);
    assert_eq!(
        ca.header("content-type"),
        Some("application/x-x509-ca-cert")
    );
    assert!(ca.body.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        ca.body,
        std::fs::read(d.dir.path().join("ca.crt")).unwrap(),
        "the CA kept in the config folder"
    );
    let tls = https_addr(&d);
    let cfg = client_config(&ca.body);
    for name in ["localhost", "127.0.0.1"] {
        let mut s = tls_connect(&cfg, tls, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let h = send(&mut s, "GET", "/api/health", name, None).unwrap();
        assert_eq!(h.status, 200);
        assert!(h.json()["status"].is_string());
        // Same connection: a login from a LAN address, over HTTPS.
        let login = send(
            &mut s,
            "POST",
            "/api/session",
            name,
            Some(&json!({"role": "host", "pin": HOST_PIN})),
        )
        .unwrap();
        assert_eq!(
            login.status,
            201,
            "{}",
            String::from_utf8_lossy(&login.body)
        );
        assert_eq!(login.json()["role"], "host");
        // The pages too.
        let page = send(&mut s, "GET", "/host", name, None).unwrap();
        assert_eq!(page.status, 200);
    }
}

#[test]
fn a_client_that_does_not_trust_the_ca_fails_the_handshake() {
    let d = self_signed();
    let tls = https_addr(&d);
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cfg = client_config(other.cert.pem().as_bytes());
    let Err(e) = tls_connect(&cfg, tls, "localhost") else {
        panic!("the handshake must fail");
    };
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    // The CA trusted, but a name the certificate is not for.
    let ca = plain(&d, "127.0.0.2", "GET", "/ca.crt", None);
    let cfg = client_config(&ca.body);
    let Err(e) = tls_connect(&cfg, tls, "not-this-box.example") else {
        panic!("a name not in the certificate must fail");
    };
    assert!(e.to_string().contains("not valid for name"), "{e}");
    // The door is still serving after those.
    assert!(tls_connect(&cfg, tls, "localhost").is_ok());
}

#[test]
fn plain_http_from_the_lan_serves_only_the_ca_health_and_trust_page() {
    let d = self_signed();
    let h = plain(&d, "127.0.0.2", "GET", "/api/health", None);
    assert_eq!(h.status, 200);
    let trust = plain(&d, "127.0.0.2", "GET", "/trust", None);
    assert_eq!(trust.status, 200);
    let text = String::from_utf8(trust.body).unwrap();
    for words in [
        "Ajustes › General › Información › Ajustes de confianza de certificados",
        "Settings › General › About › Certificate Trust Settings",
        "Settings › Profile Downloaded",
        "Settings › Security › Encryption &amp; credentials › Install a certificate › CA certificate",
        "href=\"/ca.crt\"",
    ] {
        assert!(text.contains(words), "{words}");
    }
    assert!(
        text.find("Ajustes").unwrap() < text.find("Settings").unwrap(),
        "Spanish first"
    );
    for page in ["/", "/kiosk", "/host?x=1"] {
        let r = plain(&d, "127.0.0.2", "GET", page, None);
        assert_eq!(r.status, 308, "{page}");
        let loc = r.header("location").unwrap();
        assert!(
            loc.starts_with("https://127.0.0.1:") && loc.ends_with(page),
            "{loc}"
        );
    }
    let login = plain(
        &d,
        "127.0.0.2",
        "POST",
        "/api/session",
        Some(&json!({"role": "host", "pin": HOST_PIN})),
    );
    assert_eq!(login.status, 403);
    assert_eq!(login.json()["error"]["code"], "https_required");
    let list = plain(&d, "127.0.0.2", "GET", "/api/guests", None);
    assert_eq!(list.status, 403);
    assert_eq!(list.json()["error"]["code"], "https_required");
    // The box itself (127.0.0.1) keeps plain HTTP: the technician and the watchdog.
    let token = d.login("host");
    assert_eq!(d.get("/api/guests?status=waiting", &token).status, 200);
}

#[test]
fn files_mode_serves_the_venues_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "box.example".into()]).unwrap();
    let cert = certs.path().join("venue.crt");
    let key = certs.path().join("venue.key");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let d = Daemon::start_custom(|c| {
        c.set("server.tls", "files")
            .set("server.tls_listen", "127.0.0.1:0")
            .set("server.cert_file", cert.display().to_string())
            .set("server.key_file", key.display().to_string());
    });
    assert!(
        !d.dir.path().join("ca.crt").exists(),
        "no box CA in files mode"
    );
    let none = plain(&d, "127.0.0.2", "GET", "/ca.crt", None);
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["error"]["code"], "no_box_ca");
    let tls = https_addr(&d);
    let cfg = client_config(made.cert.pem().as_bytes());
    let mut s = tls_connect(&cfg, tls, "box.example").unwrap();
    assert_eq!(
        send(&mut s, "GET", "/api/health", "box.example", None)
            .unwrap()
            .status,
        200
    );
}

#[test]
fn files_mode_names_a_missing_file_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let text = crate::common::config_text(&dir.path().join("data"), "").replace(
        "[server]\n",
        "[server]\ntls = \"files\"\ncert_file = \"nope.crt\"\nkey_file = \"nope.key\"\n",
    );
    let e = cosmosd::config::Config::from_toml_str(&text, dir.path()).unwrap_err();
    assert_eq!(e.key, "server.cert_file", "{e}");
}

#[test]
fn the_server_certificate_is_made_again_when_its_names_change() {
    let d = self_signed();
    let tls_dir = d.dir.path().join("data").join("tls");
    let names_file = tls_dir.join("server.names");
    let first_cert = std::fs::read_to_string(tls_dir.join("server.crt")).unwrap();
    let names = std::fs::read_to_string(&names_file).unwrap();
    assert!(
        names.contains("name localhost\n") && names.contains("name 127.0.0.1\n"),
        "{names}"
    );
    let ca = std::fs::read(d.dir.path().join("ca.crt")).unwrap();
    // A restart with nothing changed keeps the certificate.
    let d = d.restart();
    assert_eq!(
        std::fs::read_to_string(tls_dir.join("server.crt")).unwrap(),
        first_cert
    );
    // As if the box had another address when it was made: made again at start-up.
    let stale = names.replace("name 127.0.0.1\n", "name 10.9.9.9\n");
    std::fs::write(&names_file, &stale).unwrap();
    let d = d.restart();
    let second_cert = std::fs::read_to_string(tls_dir.join("server.crt")).unwrap();
    assert_ne!(second_cert, first_cert);
    assert_eq!(std::fs::read_to_string(&names_file).unwrap(), names);
    // Near expiry: made again too.
    let soon = chrono::Utc::now().timestamp() + 5 * 86_400;
    let near: String = names
        .lines()
        .map(|l| {
            if l.starts_with("not_after ") {
                format!("not_after {soon}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&names_file, near).unwrap();
    let d = d.restart();
    let third_cert = std::fs::read_to_string(tls_dir.join("server.crt")).unwrap();
    assert_ne!(third_cert, second_cert);
    // The CA stays: tablets that trust it keep working with the new certificate.
    assert_eq!(std::fs::read(d.dir.path().join("ca.crt")).unwrap(), ca);
    let cfg = client_config(&ca);
    let mut s = tls_connect(&cfg, https_addr(&d), "localhost").unwrap();
    assert_eq!(
        send(&mut s, "GET", "/api/health", "localhost", None)
            .unwrap()
            .status,
        200
    );
}

/// Figures, not a check: `cargo test --release --test it tls::cost -- --ignored --nocapture`.
/// N new connections (TCP connect + TLS handshake + one request) and N requests on one
/// kept-alive connection, over plain HTTP and HTTPS, per-op medians. The per-address
/// request limit is off (2 × 600 anonymous requests from one address would meet it).
#[test]
#[ignore]
fn cost() {
    let d = self_signed_with(|c| {
        c.set("server.anonymous_requests_per_minute", 0);
    });
    let tls = https_addr(&d);
    let ca = plain(&d, "127.0.0.2", "GET", "/ca.crt", None);
    let cfg = client_config(&ca.body);
    let n = 300;
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let host = d.addr.to_string();
    let mut plain_new = Vec::new();
    let mut tls_new = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let mut s = TcpStream::connect(d.addr).unwrap();
        s.set_nodelay(true).unwrap();
        assert_eq!(
            send(&mut s, "GET", "/api/health", &host, None)
                .unwrap()
                .status,
            200
        );
        plain_new.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let mut s = tls_connect(&cfg, tls, "localhost").unwrap();
        assert_eq!(
            send(&mut s, "GET", "/api/health", "localhost", None)
                .unwrap()
                .status,
            200
        );
        tls_new.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut ps = TcpStream::connect(d.addr).unwrap();
    ps.set_nodelay(true).unwrap();
    let mut ts = tls_connect(&cfg, tls, "localhost").unwrap();
    let mut plain_ka = Vec::new();
    let mut tls_ka = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        assert_eq!(
            send(&mut ps, "GET", "/api/health", &host, None)
                .unwrap()
                .status,
            200
        );
        plain_ka.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        assert_eq!(
            send(&mut ts, "GET", "/api/health", "localhost", None)
                .unwrap()
                .status,
            200
        );
        tls_ka.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "GET /api/health, {n} each, median ms: new connection plain {:.3} https {:.3}; keep-alive plain {:.3} https {:.3}",
        median(plain_new),
        median(tls_new),
        median(plain_ka),
        median(tls_ka)
    );
}
