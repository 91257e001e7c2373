//! Camera bodies through the real daemon (issue 14): a body moved to another port (as a
//! USB reset does) is found again by its remembered serial, also after a restart; the
//! per-body counters (captures, failures, recovery rungs, shutter counter) reach
//! `/api/health` and `/api/stats` (JSON and the `section=cameras` CSV) and survive a
//! restart; over real libgphoto2 and its virtual camera the serial is kept in the
//! database across a daemon restart.

use crate::common::{self, Daemon, HOST_PIN, Process, running_show, wait_for};
use cosmosd::camera::Fault;
use cosmosd::camera::simulated::{SIMULATED_PORT, SIMULATED_SERIAL, SIMULATED_SHUTTER_BASE};
use serde_json::Value;

fn camera(d: &Daemon, token: &str) -> Value {
    let r = d.get("/api/health", token);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["camera"].clone()
}

/// Waits until the camera's health satisfies `ok`, and returns it.
fn camera_when(d: &Daemon, token: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    wait_for(30, what, || {
        let c = camera(d, token);
        ok(&c).then_some(c)
    })
}

fn capture(d: &Daemon, host: &str, show: &str) -> u16 {
    d.post(&format!("/api/shows/{show}/capture"), host, &Value::Null)
        .status
}

#[test]
fn a_body_moved_to_another_port_is_found_by_its_serial() {
    let d = Daemon::start();
    let host = d.login("host");
    let c = camera_when(&d, &host, "the first connect recorded", |c| {
        c["state"] == "connected" && c["body"]["serial"] == SIMULATED_SERIAL
    });
    assert_eq!(c["found_by"], "config", "{c}");
    assert_eq!(c["port"], SIMULATED_PORT);
    assert_eq!(c["body"]["last_port"], SIMULATED_PORT, "{c}");

    // A USB reset: the body drops off the bus and comes back on another port, where
    // the configured port no longer finds it.
    d.camera.unplug();
    camera_when(&d, &host, "the camera gone", |c| {
        c["state"] == "disconnected"
    });
    d.camera.move_to_port("usb:002,017");
    d.camera.plug();
    let c = camera_when(&d, &host, "the body found on its new port", |c| {
        c["state"] == "connected" && c["body"]["last_port"] == "usb:002,017"
    });
    assert_eq!(c["found_by"], "serial", "{c}");
    assert_eq!(c["port"], "usb:002,017");
    assert_eq!(c["serial"], SIMULATED_SERIAL);

    // It shoots there.
    let (host, show) = running_show(&d, 1);
    let r = d.post(&format!("/api/shows/{show}/pose"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(capture(&d, &host, &show), 201);
    camera_when(&d, &host, "the capture counted for the body", |c| {
        c["body"]["captures"] == 1
    });
}

#[test]
fn after_a_restart_the_remembered_serial_finds_the_body_on_a_new_port() {
    let d = Daemon::start();
    let host = d.login("host");
    let before = camera_when(&d, &host, "the body recorded", |c| {
        c["body"]["serial"] == SIMULATED_SERIAL
    });
    // The box restarts while the body sits on another port: only the serial kept in the
    // database can find it (the new owner has never seen it).
    let d = d.restart_with(|cam| cam.move_to_port("usb:003,021"));
    let host = d.login("host");
    let c = camera_when(&d, &host, "the body found after the restart", |c| {
        c["state"] == "connected" && c["body"]["last_port"] == "usb:003,021"
    });
    assert_eq!(c["found_by"], "serial", "{c}");
    assert_eq!(
        c["body"]["first_seen"], before["body"]["first_seen"],
        "the same body, first seen before the restart"
    );
}

#[test]
fn per_body_counters_are_in_health_and_stats_and_survive_a_restart() {
    let d = Daemon::start();
    let (host, show) = running_show(&d, 1);
    let r = d.post(&format!("/api/shows/{show}/pose"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    // Two photos (the second a retake), a full card, then a busy answer retried.
    assert_eq!(capture(&d, &host, &show), 201);
    assert_eq!(capture(&d, &host, &show), 201);
    d.camera.push(Fault::StoreFull);
    let failed = capture(&d, &host, &show);
    assert!(failed >= 400, "the full card fails the capture: {failed}");
    d.camera.push(Fault::Busy);
    assert_eq!(capture(&d, &host, &show), 201);
    let releases = d.camera.captures();
    assert_eq!(releases, 5, "2 + 1 failed + 1 busy + 1 retried");

    let c = camera_when(&d, &host, "the counters written", |c| {
        c["body"]["captures"] == 3
            && c["body"]["failures"] == 1
            && c["body"]["shutter_count"] == SIMULATED_SHUTTER_BASE + releases
    });
    let body = &c["body"];
    assert_eq!(body["serial"], SIMULATED_SERIAL);
    assert_eq!(body["model"], "Simulated Camera");
    assert_eq!(body["recoveries"]["retry"], 1, "{body}");
    assert_eq!(body["recoveries"]["total"], 1, "{body}");
    assert_eq!(
        (&c["captures"], &c["failures"]),
        (&Value::from(3), &Value::from(1))
    );

    // The stats: JSON carries the bodies, the CSV has a section of its own.
    let r = d.get("/api/stats", &host);
    assert_eq!(r.status, 200, "{}", r.body);
    let cams = r.body["cameras"].as_array().unwrap();
    assert_eq!(cams.len(), 1, "{}", r.body);
    assert_eq!(cams[0], *body, "stats and health tell the same body");
    let r = d.get("/api/stats?format=csv&section=cameras", &host);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = r.body.as_str().unwrap().to_string();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(
        rows[0],
        [
            "serial",
            "model",
            "first_seen",
            "last_seen",
            "last_port",
            "captures",
            "failures",
            "retry",
            "reopen",
            "usb_reset",
            "power_cycle",
            "shutter_count"
        ]
    );
    let row = &rows[1];
    assert_eq!(
        (row[0], row[1], row[4]),
        (SIMULATED_SERIAL, "Simulated Camera", SIMULATED_PORT)
    );
    assert_eq!(&row[5..], ["3", "1", "1", "0", "0", "0", "1005"]);
    let r = d.get("/api/stats?format=csv&section=bodies", &host);
    assert_eq!((r.status, r.field()), (422, Some("section")), "{}", r.body);
    // The per-day CSV keeps its shape.
    let r = d.get("/api/stats?format=csv", &host);
    let text = r.body.as_str().unwrap().to_string();
    assert!(text.starts_with("day,guests_registered,"), "{text}");
    assert_eq!(text.lines().count(), 9, "header, 7 days, total: {text}");

    // A restart: the process's counts start again, the body's are kept; a body that
    // goes on counting its shutter (a real one does; the new simulated one is told to).
    let d = d.restart_with(|cam| cam.set_shutter_counter(Some(SIMULATED_SHUTTER_BASE + releases)));
    let host = d.login("host");
    let c = camera_when(&d, &host, "the camera back after the restart", |c| {
        c["state"] == "connected"
    });
    assert_eq!(c["captures"], 0, "a new process: {c}");
    assert_eq!(
        (
            &c["body"]["captures"],
            &c["body"]["failures"],
            &c["body"]["first_seen"]
        ),
        (&body["captures"], &body["failures"], &body["first_seen"]),
        "{c}"
    );
    assert_eq!(c["body"]["recoveries"]["retry"], 1);
    let r = d.post(&format!("/api/shows/{show}/capture"), &host, &Value::Null);
    assert_eq!(r.status, 201, "{}", r.body);
    camera_when(&d, &host, "the capture after the restart counted", |c| {
        c["body"]["captures"] == 4
            && c["body"]["shutter_count"] == SIMULATED_SHUTTER_BASE + releases + 1
    });
}

#[test]
fn the_serial_is_remembered_in_the_database_over_real_libgphoto2() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), |c| {
        c.vcamera();
    });
    let iolibs = common::vcamera_iolibs();
    let env = [("IOLIBS", iolibs.to_str().unwrap())];
    let health = |p: &Process, what: &str| {
        wait_for(60, what, || {
            let h = p.req("GET", "/api/health", None, None).body;
            (h["camera"]["state"] == "connected" && h["camera"]["body"].is_object())
                .then_some(h["camera"].clone())
        })
    };

    let p = Process::spawn(&config, &env);
    let first = health(&p, "the virtual camera connected and recorded");
    let serial = first["serial"].as_str().unwrap_or_default().to_string();
    assert!(
        !serial.is_empty(),
        "the virtual camera reports a serial: {first}"
    );
    assert_eq!(first["body"]["serial"], serial.as_str());
    assert_eq!(first["found_by"], "config");
    assert_eq!(
        first["body"]["shutter_count"],
        Value::Null,
        "the virtual camera has no shutter counter: {first}"
    );
    // One photo over the real library, counted for the body.
    let host = p.login("host", HOST_PIN);
    let g = p.req(
        "POST",
        "/api/guests",
        Some(&host),
        Some(&common::guest_body("Ana", "ana.bodies@example.org")),
    );
    assert_eq!(g.status, 201, "{}", g.body);
    let s = p.req(
        "POST",
        "/api/shows",
        Some(&host),
        Some(
            &serde_json::json!({"start_time": common::in_minutes(1), "guest_ids": [g.body["id"]]}),
        ),
    );
    assert_eq!(s.status, 201, "{}", s.body);
    let id = s.body["id"].as_str().unwrap();
    for step in ["start", "pose", "capture"] {
        let r = p.req(
            "POST",
            &format!("/api/shows/{id}/{step}"),
            Some(&host),
            None,
        );
        assert!(r.status < 300, "{step}: {}", r.body);
    }
    wait_for(30, "the capture counted", || {
        let h = p.req("GET", "/api/health", None, None).body;
        (h["camera"]["body"]["captures"] == 1).then_some(())
    });
    assert!(p.stop(), "a clean stop");

    // In the database, with the daemon stopped.
    let db =
        rusqlite::Connection::open(dir.path().join("data").join(cosmosd::store::DB_FILE)).unwrap();
    let rows: Vec<(Option<String>, String, i64)> = db
        .prepare("SELECT serial, model, captures FROM camera_bodies")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [(
            Some(serial.clone()),
            first["body"]["model"].as_str().unwrap().to_string(),
            1
        )]
    );
    drop(db);

    // A new daemon: the same body, first seen by the first one.
    let p = Process::spawn(&config, &env);
    let again = health(&p, "the virtual camera connected again");
    assert_eq!(again["serial"], serial.as_str());
    assert_eq!(
        again["body"]["first_seen"], first["body"]["first_seen"],
        "{again}"
    );
    assert_eq!(again["body"]["captures"], 1, "{again}");
    let host = p.login("host", HOST_PIN);
    let stats = p.req("GET", "/api/stats", Some(&host), None).body;
    assert_eq!(
        stats["cameras"].as_array().map(Vec::len),
        Some(1),
        "{stats}"
    );
    assert!(p.stop());
}
