//! The systemd contract of `cosmosd run`, played by the test as the service manager: a
//! real `NOTIFY_SOCKET` datagram socket and `WATCHDOG_USEC`, the real binary.
//!
//! The unit file itself is checked with the host's `systemd-analyze` (when present):
//! it must parse cleanly and rate 4.9 ("OK") or better in `security`.

use crate::common;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::common::{HOST_PIN, Process, write_config};

struct Manager {
    sock: UnixDatagram,
}

impl Manager {
    fn new(dir: &std::path::Path) -> (Manager, String) {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        (Manager { sock }, path.display().to_string())
    }

    /// The next notification (one datagram = one or more `KEY=value` lines).
    fn next(&self, within: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 4096];
        match self.sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    /// True once `n` watchdog pings arrived within `span`.
    fn wait_pings(&self, n: usize, span: Duration) -> bool {
        let until = Instant::now() + span;
        let mut pings = 0;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.next(left.max(Duration::from_millis(1))) {
                Some(m) if m.trim() == "WATCHDOG=1" => pings += 1,
                Some(_) => {}
                None => break,
            }
            if pings >= n {
                return true;
            }
        }
        false
    }

    /// Watchdog pings received during `span`, and the other notifications.
    fn pings_during(&self, span: Duration) -> (usize, Vec<String>) {
        let until = Instant::now() + span;
        let (mut pings, mut other) = (0, Vec::new());
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.next(left.max(Duration::from_millis(1))) {
                Some(m) if m.trim() == "WATCHDOG=1" => pings += 1,
                Some(m) => other.push(m),
                None => break,
            }
        }
        (pings, other)
    }
}

#[test]
fn ready_after_listening_pings_while_healthy_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    // One worker and a 4 s countdown before the posed photo, so the test can keep the
    // API busy on purpose (a client can no longer: the door reads whole requests first).
    let config = write_config(dir.path(), |c| {
        c.workers(1).countdown(4);
    });
    let (manager, socket) = Manager::new(dir.path());
    let d = Process::spawn(
        &config,
        &[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", "1000000")],
    );

    let first = manager.next(Duration::from_secs(10)).expect("no READY=1");
    assert!(first.lines().any(|l| l == "READY=1"), "{first}");
    assert!(
        first.contains(&format!("STATUS=serving http://{}", d.addr)),
        "{first}"
    );
    // Ready means the API answers.
    assert_eq!(d.req("GET", "/api/health", None, None).status, 200);

    // Healthy: a ping every half period (0.5 s).
    let (pings, other) = manager.pings_during(Duration::from_secs(3));
    assert!((4..=8).contains(&pings), "{pings} pings in 3 s, {other:?}");

    // Wedge the only worker: a posed capture holds it through its 4 s countdown. The
    // self-check cannot be served meanwhile, so no pings.
    let host = d.login("host", HOST_PIN);
    let g = d.req(
        "POST",
        "/api/guests",
        Some(&host),
        Some(&common::guest_body("Ana", "ana@example.org")),
    );
    let s = d.req(
        "POST",
        "/api/shows",
        Some(&host),
        Some(
            &serde_json::json!({"start_time": common::in_minutes(1), "guest_ids": [g.body["id"]]}),
        ),
    );
    let id = s.body["id"].as_str().unwrap().to_string();
    for step in ["start", "pose"] {
        let r = d.req(
            "POST",
            &format!("/api/shows/{id}/{step}"),
            Some(&host),
            None,
        );
        assert_eq!(r.status, 200, "{step}: {}", r.body);
    }
    let (addr, path) = (d.addr, format!("/api/shows/{id}/capture"));
    let stalled = std::thread::spawn(move || {
        common::http(&common::agent(), addr, "POST", &path, Some(&host), None).status
    });
    std::thread::sleep(Duration::from_millis(200));
    // Pings already on their way (from checks served before the wedge) are not counted.
    let _ = manager.pings_during(Duration::from_millis(800));
    let (wedged, _) = manager.pings_during(Duration::from_millis(2000));
    assert_eq!(wedged, 0, "pinged while the API could not answer");
    // The capture ends and frees the worker; pings come back.
    let t = Instant::now();
    assert!(
        manager.wait_pings(2, Duration::from_secs(10)),
        "no pings after the API recovered"
    );
    eprintln!(
        "pings again {} ms after the wedged window",
        t.elapsed().as_millis()
    );
    assert_eq!(stalled.join().unwrap(), 201, "the posed photo was taken");

    // SIGTERM: STOPPING=1, then a clean exit.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status();
    let (_, other) = manager.pings_during(Duration::from_secs(2));
    assert!(
        other.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "{other:?}"
    );
    assert!(d.stop(), "the daemon did not exit cleanly");
}

#[test]
fn without_a_watchdog_nothing_is_pinged() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), |_| {});
    let (manager, socket) = Manager::new(dir.path());
    let d = Process::spawn(&config, &[("NOTIFY_SOCKET", &socket)]);
    let first = manager.next(Duration::from_secs(10)).expect("no READY=1");
    assert!(first.contains("READY=1"));
    let (pings, _) = manager.pings_during(Duration::from_secs(2));
    assert_eq!(pings, 0);
    assert!(d.stop());
}

/// The host's systemd-analyze: `scripts/setup.sh --test` installs it (package systemd);
/// without it these checks fail with the reason rather than pass unseen.
fn systemd_analyze() -> &'static str {
    let p = "/usr/bin/systemd-analyze";
    assert!(
        std::path::Path::new(p).exists(),
        "{p} is missing: install the systemd package (scripts/setup.sh --test does)"
    );
    p
}

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/cosmosd.service");

#[test]
fn the_unit_rates_ok_in_systemd_analyze_security() {
    assert_confined(UNIT);
}

/// `systemd-analyze verify` finds nothing wrong in `units`. It also wants the binaries
/// named in Exec lines, which live under /usr/bin only once the package is installed, so
/// those complaints are filtered out and everything else fails the test.
fn assert_verifies(units: &[&str]) {
    let out = std::process::Command::new(systemd_analyze())
        .args(["verify", "--man=no"])
        .args(units)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let bad: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("/usr/bin/cosmosd") && !l.trim().is_empty())
        .filter(|l| !l.contains("Failed to prepare filename") && !l.contains("not executable"))
        .collect();
    assert!(bad.is_empty(), "{err}");
}

/// `systemd-analyze security` rates `unit` 4.9 ("OK") or better.
fn assert_confined(unit: &str) {
    let analyze = systemd_analyze();
    let out = std::process::Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager", unit])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}\n{}", String::from_utf8_lossy(&out.stderr)));
    // "→ Overall exposure level for cosmosd.service: 3.1 OK 🙂"
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line}"));
    eprintln!("{line}");
    assert!(score <= 4.9, "{line}\n{text}");
}

#[test]
fn the_unit_and_the_udev_rules_parse() {
    assert_verifies(&[UNIT]);

    // The udev rules: `udevadm verify` where this systemd has it (253 and later), and
    // always the rule grammar and labels checked here (bookworm's udevadm has no verify).
    for rules in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/udev")).unwrap() {
        let rules = rules.unwrap().path();
        let text = std::fs::read_to_string(&rules).unwrap();
        if let Err(e) = check_udev_rules(&text) {
            panic!("{}: {e}", rules.display());
        }
        let out = std::process::Command::new("udevadm")
            .arg("verify")
            .arg(&rules)
            .output();
        if let Ok(out) = out {
            let err = String::from_utf8_lossy(&out.stderr);
            let no_verify = err.to_ascii_lowercase().contains("unknown command");
            assert!(
                out.status.success() || no_verify,
                "{}: {err}",
                rules.display()
            );
        }
    }
}

/// The udev rule grammar (`KEY[{attr}]OP"value"`, comma-separated; known operators; every
/// GOTO has its LABEL), so a typo fails here even where udevadm cannot verify.
fn check_udev_rules(text: &str) -> Result<(), String> {
    let mut labels = std::collections::BTreeSet::new();
    let mut gotos = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Items are separated by commas outside the quoted values.
        let mut items = Vec::new();
        let (mut quoted, mut from) = (false, 0);
        for (i, c) in line.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    items.push(&line[from..i]);
                    from = i + 1;
                }
                _ => {}
            }
        }
        items.push(&line[from..]);
        for item in items {
            let item = item.trim();
            let op_at = item
                .find(['=', '!', '+', '-', ':'])
                .ok_or_else(|| format!("line {}: no operator in `{item}`", n + 1))?;
            let (key, rest) = item.split_at(op_at);
            let op = ["==", "!=", "+=", "-=", ":=", "="]
                .into_iter()
                .find(|op| rest.starts_with(op))
                .ok_or_else(|| format!("line {}: bad operator in `{item}`", n + 1))?;
            let value = &rest[op.len()..];
            let key_ok = !key.is_empty()
                && key.chars().all(|c| {
                    c.is_ascii_uppercase()
                        || c == '_'
                        || c == '{'
                        || c == '}'
                        || c.is_ascii_alphanumeric()
                });
            let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
            if !key_ok || !quoted {
                return Err(format!("line {}: `{item}` is not KEY OP \"value\"", n + 1));
            }
            let v = value.trim_matches('"').to_string();
            match key {
                "LABEL" => {
                    labels.insert(v);
                }
                "GOTO" => gotos.push(v),
                _ => {}
            }
        }
    }
    match gotos.iter().find(|g| !labels.contains(*g)) {
        Some(g) => Err(format!("GOTO=\"{g}\" has no LABEL")),
        None => Ok(()),
    }
}

/// The scheduled backup's timer and service: they parse, the timer is daily and
/// persistent, and the service rates "OK" in `systemd-analyze security`.
#[test]
fn the_backup_timer_and_its_service_parse_and_the_service_is_confined() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd");
    let timer = format!("{dir}/cosmosd-backup.timer");
    let service = format!("{dir}/cosmosd-backup.service");
    assert_verifies(&[&timer, &service]);
    let text = std::fs::read_to_string(&timer).unwrap();
    for want in ["OnCalendar=", "Persistent=true", "RandomizedDelaySec="] {
        assert!(text.contains(want), "{want} in {timer}");
    }
    assert_confined(&service);
}
