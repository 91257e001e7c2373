//! The binary itself: `check-config`, `run` with a bad config, and `demo` end to end.

use crate::common;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_cosmosd");

#[test]
fn check_config_accepts_a_good_file_and_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, common::config_text(&dir.path().join("data"), "")).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

    let bad = dir.path().join("bad.toml");
    let mut text = common::TestConfig::standard(&dir.path().join("data"));
    text.set("camera.lens", "50mm"); // a key cosmosd does not know
    std::fs::write(&bad, text.render()).unwrap();
    for args in [
        vec!["check-config".to_string()],
        vec!["run".into(), "--config".into()],
    ] {
        let out = Command::new(BIN).args(&args).arg(&bad).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("camera.lens"), "{err}");
        assert_eq!(
            err.lines().filter(|l| l.contains("camera.lens")).count(),
            1,
            "printed once: {err}"
        );
    }
    let out = Command::new(BIN)
        .args(["check-config", "/nonexistent/cosmos.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cosmos.toml"));
}

#[test]
fn the_demo_runs_with_no_config_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path().join("demo"))
        .env("COSMOSD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr: std::net::SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let printed: Vec<String> = lines.by_ref().take(5).map(|l| l.unwrap()).collect();
    let host_pin = printed
        .iter()
        .find(|l| l.contains("host PIN"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_string();
    assert_eq!(host_pin.len(), 6);

    let (status, body) = common::raw_request(
        addr,
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{body}");
    let login = format!("{{\"role\":\"host\",\"pin\":\"{host_pin}\"}}");
    let (status, _) = common::raw_request(
        addr,
        format!(
            "POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{login}",
            login.len()
        )
        .as_bytes(),
    );
    assert_eq!(status, 201, "the printed PIN works");
    assert!(dir.path().join("demo/data/cosmos.db").exists());
    assert!(dir.path().join("demo/cosmosd.toml").exists());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
}

/// Starts `cosmosd run` and returns it with the address it logged.
fn spawn_run(config: &std::path::Path) -> (std::process::Child, std::net::SocketAddr) {
    let mut child = Command::new(BIN)
        .arg("run")
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(rest) = line.split("ready on http://").nth(1)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.split_whitespace().next().unwrap().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap()
        .parse()
        .unwrap();
    (child, addr)
}

fn post(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let (s, text) = common::raw_request(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let json = text
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    (s, json)
}

#[test]
fn guests_acknowledged_before_a_kill_9_are_there_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cosmos.toml");
    std::fs::write(&config, common::config_text(&dir.path().join("data"), "")).unwrap();
    let (mut child, addr) = spawn_run(&config);
    let (_, login) = post(
        addr,
        "/api/session",
        None,
        &format!("{{\"role\":\"host\",\"pin\":\"{}\"}}", common::HOST_PIN),
    );
    let token = login["token"].as_str().unwrap().to_string();
    let mut acknowledged = Vec::new();
    for i in 0..25 {
        let body = common::guest_body("Guest", &format!("k{i}@example.org")).to_string();
        let (s, g) = post(addr, "/api/guests", Some(&token), &body);
        assert_eq!(s, 201);
        acknowledged.push(g["id"].as_str().unwrap().to_string());
    }
    child.kill().unwrap(); // SIGKILL: no shutdown path runs
    child.wait().unwrap();

    let (mut child, addr) = spawn_run(&config);
    let (_, text) = common::raw_request(
        addr,
        format!("GET /api/guests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let body: serde_json::Value =
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids, acknowledged,
        "every acknowledged guest survived, in order; the session too"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn preview_mail_renders_the_venues_templates_and_check_config_names_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    cosmosd::outbox::templates::write_defaults(&templates).unwrap();
    std::fs::write(
        templates.join("subject.es.txt"),
        "{{ guest.name }}: recuerdo de {{ venue.name }}",
    )
    .unwrap();
    let config = common::write_config(dir.path(), |c| {
        c.templates_dir(&templates);
    });
    let out_file = dir.path().join("preview.eml");
    let out = Command::new(BIN)
        .args(["preview-mail", "--config"])
        .arg(&config)
        .args(["--name", "Ana", "--out"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eml = std::fs::read(&out_file).unwrap();
    let m = mail_parser::MessageParser::default().parse(&eml).unwrap();
    assert_eq!(m.subject(), Some("Ana: recuerdo de COSMOS"));
    assert!(m.body_text(0).unwrap().contains("esencia del colibrí"));
    assert_eq!(m.attachment_count(), 3, "two photos and the logo");

    // A template with a typo stops check-config (and so the daemon) with the file named.
    std::fs::write(templates.join("body.en.html"), "{{ guest.nmae }").unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("body.en.html"), "{err}");
}
