//! The night's numbers (`GET /api/stats`) against a scripted night through a real relay:
//! guests registered, a show with a retake and a deleted photo, a cancelled show, a show
//! with a failed spontaneous photo and a failed capture, mail delivered, refused and left
//! waiting — every count checked, in JSON and in CSV.

use crate::common::{Daemon, Relay, free_port, wait_for};
use cosmosd::camera::Fault;
use serde_json::{Value, json};

fn post(d: &Daemon, path: &str, token: &str) -> Value {
    let r = d.post(path, token, &Value::Null);
    assert!(r.status == 200 || r.status == 201, "{path}: {}", r.body);
    r.body
}

fn show(
    d: &Daemon,
    host: &str,
    guests: &[&String],
    start: chrono::DateTime<chrono::Utc>,
) -> String {
    let r = d.post(
        "/api/shows",
        host,
        &json!({"start_time": start.to_rfc3339(), "guest_ids": guests}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

fn photos(d: &Daemon, host: &str, show: &str) -> Vec<Value> {
    d.get(&format!("/api/shows/{show}"), host).body["photos"]
        .as_array()
        .unwrap()
        .clone()
}

const KEYS: [&str; 10] = [
    "guests_registered",
    "shows_completed",
    "shows_cancelled",
    "photos_taken",
    "retakes",
    "photos_deleted",
    "mails_sent",
    "mails_failed",
    "mails_queued",
    "capture_failures",
];

#[test]
fn a_scripted_night_is_counted_per_day_and_in_total_in_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = Relay::start(
        port,
        &dir.path().join("spool"),
        &["--reject-domain", "bad.example"],
    );
    let d = Daemon::start_custom(|c| {
        c.relay(port);
    });
    let host = d.login("host");
    let tech = d.login("technician");
    let g: Vec<String> = [
        "ana@example.org",
        "bo@bad.example",
        "cai@example.org",
        "dani@example.org",
        "eli@example.org",
    ]
    .iter()
    .enumerate()
    .map(|(i, e)| d.add_guest(&host, &format!("Guest {i}"), e))
    .collect();
    let now = chrono::Utc::now();

    // Show A: spontaneous photo, a posed one and its retake, the spontaneous one
    // deleted, finished: one mail delivered, one refused for good.
    let a = show(
        &d,
        &host,
        &[&g[0], &g[1]],
        now + chrono::Duration::minutes(1),
    );
    for step in ["start", "spontaneous", "pose", "capture", "capture"] {
        post(&d, &format!("/api/shows/{a}/{step}"), &host);
    }
    let ps = photos(&d, &host, &a);
    assert_eq!(ps.len(), 2, "the retake replaced the first posed photo");
    for p in &ps {
        let id = p["id"].as_str().unwrap();
        if p["kind"] == "spontaneous" {
            let r = d.req("DELETE", &format!("/api/photos/{id}"), Some(&host), None);
            assert_eq!(r.status, 204, "{}", r.body);
        } else {
            post(&d, &format!("/api/photos/{id}/approve"), &host);
        }
    }
    post(&d, &format!("/api/shows/{a}/finish"), &host);
    wait_for(20, "one mail sent, one failed", || {
        let c = &d.get("/api/outbox", &host).body["counts"];
        (c["sent"] == 1 && c["failed"] == 1).then_some(())
    });

    // Show B is cancelled before it starts.
    let b = show(&d, &host, &[&g[2]], now + chrono::Duration::minutes(60));
    post(&d, &format!("/api/shows/{b}/cancel"), &host);

    // Show C: the spontaneous photo fails (card full), a capture fails (garbage), the
    // next one works; finished while the relay is away: both mails wait.
    let c = show(
        &d,
        &host,
        &[&g[2], &g[3]],
        now + chrono::Duration::minutes(120),
    );
    post(&d, &format!("/api/shows/{c}/start"), &host);
    d.camera.push(Fault::StoreFull);
    assert_eq!(
        d.post(&format!("/api/shows/{c}/spontaneous"), &host, &Value::Null)
            .status,
        503
    );
    post(&d, &format!("/api/shows/{c}/pose"), &host);
    d.camera.push(Fault::Garbage);
    assert_eq!(
        d.post(&format!("/api/shows/{c}/capture"), &host, &Value::Null)
            .status,
        503
    );
    post(&d, &format!("/api/shows/{c}/capture"), &host);
    for p in photos(&d, &host, &c) {
        post(
            &d,
            &format!("/api/photos/{}/approve", p["id"].as_str().unwrap()),
            &host,
        );
    }
    relay.stop();
    post(&d, &format!("/api/shows/{c}/finish"), &host);

    let expected = json!({
        "guests_registered": 5, "shows_completed": 2, "shows_cancelled": 1,
        "photos_taken": 4, "retakes": 1, "photos_deleted": 1,
        "mails_sent": 1, "mails_failed": 1, "mails_queued": 2, "capture_failures": 2,
    });

    // A window around today (so a run across midnight UTC still adds up).
    let today = now.date_naive();
    let (from, to) = (
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(1),
    );
    let path = format!("/api/stats?from={from}&to={to}");
    let r = d.get(&path, &tech);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let s = r.body;
    assert_eq!(
        (s["from"].as_str(), s["timezone"].as_str()),
        (Some(from.to_string().as_str()), Some("UTC"))
    );
    let days = s["days"].as_array().unwrap();
    assert_eq!(
        days.iter()
            .map(|d| d["day"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        [from.to_string(), today.to_string(), to.to_string()],
        "every day, empty ones too"
    );
    for k in KEYS {
        assert_eq!(s["totals"][k], expected[k], "total {k}: {s}");
        let sum: u64 = days.iter().map(|d| d[k].as_u64().unwrap()).sum();
        assert_eq!(Some(sum), expected[k].as_u64(), "days add up to {k}");
        assert_eq!(days[2][k], 0, "nothing tomorrow");
    }
    // The host asks for today only: today's row is the whole night.
    let r = d.get(&format!("/api/stats?from={today}&to={today}"), &host);
    if r.body["totals"]["guests_registered"] == 5 {
        for k in KEYS {
            assert_eq!(r.body["days"][0][k], expected[k], "today's {k}");
        }
    }

    // CSV: a header row, a row per day, the totals.
    let r = d.get(&format!("{path}&format=csv"), &host);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = r.body.as_str().unwrap().to_string();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5, "{text}");
    let mut header = vec!["day"];
    header.extend(KEYS);
    assert_eq!(rows[0], header);
    assert_eq!(
        rows[1..4].iter().map(|r| r[0]).collect::<Vec<_>>(),
        [from.to_string(), today.to_string(), to.to_string()]
    );
    assert_eq!(rows[4][0], "total");
    for (i, k) in KEYS.iter().enumerate() {
        assert_eq!(rows[4][i + 1], expected[k].to_string(), "csv total {k}");
        let sum: u64 = rows[1..4]
            .iter()
            .map(|r| r[i + 1].parse::<u64>().unwrap())
            .sum();
        assert_eq!(
            sum.to_string(),
            expected[k].to_string(),
            "csv days add up to {k}"
        );
    }

    // Without a window: the last seven days up to today.
    let r = d.get("/api/stats", &host);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["days"].as_array().unwrap().len(), 7);
    assert_eq!(r.body["to"], today.to_string());
    let r = d.get(&format!("/api/stats?from={from}"), &host);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["to"],
        (from + chrono::Duration::days(6)).to_string(),
        "a week from `from`"
    );
    assert_eq!(r.body["totals"]["guests_registered"], 5);

    // Bad windows are named.
    for (q, field) in [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-11-24&to=2026-11-23", "from"),
        ("from=2024-01-01&to=2025-06-01", "to"),
        ("format=xml", "format"),
        ("from=", "from"),
    ] {
        let r = d.get(&format!("/api/stats?{q}"), &host);
        assert_eq!((r.status, r.field()), (422, Some(field)), "{q}: {}", r.body);
    }
    assert_eq!(d.get("/api/stats", &d.login("kiosk")).status, 403);
    d.stop().unwrap();
}
