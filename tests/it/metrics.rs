//! `GET /metrics` after a scripted show: the exposition passes `promtool check metrics`
//! (Debian's prometheus package) and its values match what happened; it is open from
//! loopback without a token, and with a token only to the technician.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{Daemon, finished_show, guest_body};

fn scrape(d: &Daemon, token: Option<&str>) -> (u16, String, String) {
    let agent = crate::common::agent();
    let mut rq = agent.get(&d.url("/metrics"));
    if let Some(t) = token {
        rq = rq.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = rq.call().unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        r.status().as_u16(),
        ct,
        r.body_mut().read_to_string().unwrap(),
    )
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{series} in:\n{text}"))
        .parse()
        .unwrap()
}

fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/setup.sh --test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn after_a_show_the_metrics_pass_promtool_and_count_what_happened() {
    let d = Daemon::start();
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&serde_json::Value>| d.req(m, p, t, b);
    let guests = [
        guest_body("Guest A", "a@example.org"),
        guest_body("Guest B", "b@example.org"),
    ];
    let (_show, fin) = finished_show(&req, &host, &guests);
    assert_eq!(fin.status, 200, "{}", fin.body);
    crate::common::wait_until("the mail sent", || {
        d.get("/api/outbox", &host).body["items"]
            .as_array()
            .is_some_and(|a| a.iter().all(|m| m["status"] == "sent"))
    });

    let (status, ct, text) = scrape(&d, None);
    assert_eq!(status, 200, "{text}");
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    promtool_check(&text);

    assert_eq!(
        value(&text, "cosmosd_captures_total"),
        2.0,
        "posed + spontaneous"
    );
    assert_eq!(value(&text, "cosmosd_capture_failures_total"), 0.0);
    assert_eq!(
        value(
            &text,
            "cosmosd_capture_duration_seconds_count{kind=\"posed\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "cosmosd_capture_duration_seconds_count{kind=\"spontaneous\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "cosmosd_http_requests_total{route=\"/api/shows/{id}/capture\",method=\"POST\",status=\"201\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "cosmosd_http_requests_total{route=\"/api/guests\",method=\"POST\",status=\"201\"}"
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "cosmosd_http_request_duration_seconds_count{route=\"/api/shows/{id}/finish\"}"
        ),
        1.0
    );
    assert_eq!(value(&text, "cosmosd_mail_messages{name=\"sent\"}"), 2.0);
    assert_eq!(value(&text, "cosmosd_mail_messages{name=\"queued\"}"), 0.0);
    assert_eq!(value(&text, "cosmosd_mail_oldest_queued_age_seconds"), 0.0);
    assert_eq!(value(&text, "cosmosd_camera_connected"), 1.0);
    assert_eq!(
        value(&text, "cosmosd_camera_recoveries_total{name=\"exhausted\"}"),
        0.0
    );
    assert!(value(&text, "cosmosd_disk_free_bytes") > 0.0);
    assert!(value(&text, "cosmosd_process_resident_memory_bytes") > 1e6);
    // No guest data in any label or value.
    for private in ["Guest A", "a@example.org", "b@example.org"] {
        assert!(!text.contains(private), "{private} in the metrics");
    }
}

#[test]
fn with_a_token_only_the_technician_may_scrape() {
    let d = Daemon::start();
    let tech = d.login("technician");
    let (status, _, text) = scrape(&d, Some(&tech));
    assert_eq!(status, 200, "{text}");
    let host = d.login("host");
    assert_eq!(scrape(&d, Some(&host)).0, 403);
    let kiosk = d.login("kiosk");
    assert_eq!(scrape(&d, Some(&kiosk)).0, 403);
    assert_eq!(scrape(&d, Some("not-a-token")).0, 401);
}
