//! Photos over the real API with the simulated camera: the show's photos, their
//! derivatives, review, and the camera faults (disconnect, hang, busy, full disk, full
//! card). Nothing may leave a corrupt file, an orphan row or a 5xx, and the daemon must
//! recover by itself.

use crate::common;
use crate::common::wait_until;
use std::time::{Duration, Instant};

use crate::common::{Daemon, get_bytes, photo_files, running_show};
use cosmosd::camera::Fault;
use serde_json::Value;

fn post(d: &Daemon, path: &str, token: &str) -> common::Resp {
    d.post(path, token, &Value::Null)
}

fn show(d: &Daemon, token: &str, id: &str) -> Value {
    d.get(&format!("/api/shows/{id}"), token).body
}

/// Every photo row has its three files, and every file belongs to a row.
fn assert_files_match_rows(d: &Daemon, token: &str, id: &str) {
    let s = show(d, token, id);
    let mut expected: Vec<String> = Vec::new();
    for p in s["photos"].as_array().unwrap() {
        let stem = p["file"]
            .as_str()
            .unwrap()
            .trim_end_matches(".jpg")
            .to_string();
        for suffix in [".jpg", ".email.jpg", ".preview.jpg"] {
            expected.push(format!("{stem}{suffix}"));
        }
    }
    expected.sort();
    assert_eq!(
        photo_files(d, id),
        expected,
        "files on disk = rows in the database"
    );
}

#[test]
fn a_whole_show_produces_reviewed_photos_with_correct_derivatives() {
    let d = Daemon::start();
    let (host, id) = running_show(&d, 2);

    let r = post(
        &d,
        &format!("/api/shows/{id}/spontaneous"),
        common::SHOW_CONTROL_TOKEN,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["kind"], "spontaneous");
    let r = post(&d, &format!("/api/shows/{id}/spontaneous"), &host);
    assert_eq!(
        (r.status, r.code()),
        (409, "spontaneous_taken"),
        "it cannot be repeated"
    );

    let r = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!(
        (r.status, r.code()),
        (409, "illegal_transition"),
        "posed photos come after pose"
    );
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/pose"), &host).status,
        200
    );
    let posed = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!(posed.status, 201, "{}", posed.body);
    let pid = posed.body["id"].as_str().unwrap().to_string();
    assert_eq!(posed.body["kind"], "posed");
    assert_eq!(posed.body["state"], "pending");
    assert_eq!(
        (posed.body["width"].as_u64(), posed.body["height"].as_u64()),
        (Some(2000), Some(3000))
    );
    let file = posed.body["file"].as_str().unwrap();
    assert!(
        file.contains(&id) && file.contains("posed"),
        "file name says show and kind: {file}"
    );

    let s = show(&d, &host, &id);
    assert_eq!(s["status"], "review");
    assert_eq!(s["spontaneous"], "taken");
    assert_eq!(s["photos"].as_array().unwrap().len(), 2);

    for (variant, size) in [
        ("preview", (320, 480)),
        ("email", (1365, 2048)),
        ("original", (3000, 2000)),
    ] {
        let (status, ct, bytes) = get_bytes(&d, &format!("/api/photos/{pid}/{variant}"), &host);
        assert_eq!((status, ct.as_str()), (200, "image/jpeg"), "{variant}");
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), size, "{variant}");
        assert_eq!(
            cosmosd::photos::has_exif(&bytes),
            variant == "original",
            "{variant}: EXIF only in the original"
        );
    }

    // retake: the pending posed photo is replaced, files and all
    let retake = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!(retake.status, 201);
    let s = show(&d, &host, &id);
    let posed: Vec<&Value> = s["photos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "posed")
        .collect();
    assert_eq!(posed.len(), 1);
    assert_eq!(posed[0]["id"], retake.body["id"]);
    assert_eq!(d.get(&format!("/api/photos/{pid}"), &host).status, 404);
    let rid = retake.body["id"].as_str().unwrap();
    let r = post(&d, &format!("/api/photos/{rid}/approve"), &host);
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("approved"))
    );
    // an approved photo survives the next retake
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/capture"), &host).status,
        201
    );
    assert_eq!(show(&d, &host, &id)["photos"].as_array().unwrap().len(), 3);
    // discard the spontaneous one
    let sp = s["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "spontaneous")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        d.req("DELETE", &format!("/api/photos/{sp}"), Some(&host), None)
            .status,
        204
    );
    assert_files_match_rows(&d, &host, &id);
    let events: Vec<String> = show(&d, &host, &id)["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    for e in [
        "running",
        "spontaneous_taken",
        "posing",
        "captured",
        "retaken",
        "photo_approved",
        "photo_deleted",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
}

#[test]
fn the_spontaneous_photo_is_taken_by_the_timer_and_rearmed_after_a_restart() {
    let d = Daemon::start_custom(|c| {
        c.spontaneous_offset(2);
    });
    let (host, a) = running_show(&d, 1);
    wait_until("the timer's photo", || {
        show(&d, &host, &a)["spontaneous"] == "taken"
    });
    assert_files_match_rows(&d, &host, &a);
    // a second show, with the daemon stopped before its moment
    assert_eq!(
        post(&d, &format!("/api/shows/{a}/cancel"), &host).status,
        200
    );
    let (host, b) = running_show(&d, 1);
    let d = d.restart();
    assert_eq!(show(&d, &host, &b)["spontaneous"], "pending");
    wait_until("the re-armed timer's photo", || {
        show(&d, &host, &b)["spontaneous"] == "taken"
    });
    assert_eq!(show(&d, &host, &b)["photos"].as_array().unwrap().len(), 1);
}

#[test]
fn a_disconnect_mid_capture_is_recovered_and_an_unplugged_camera_is_503() {
    let d = Daemon::start();
    let (host, id) = running_show(&d, 1);
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/pose"), &host).status,
        200
    );
    d.camera.push(Fault::Disconnect);
    let r = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!(
        r.status, 201,
        "a USB reset mid-capture is retried after reconnecting: {}",
        r.body
    );

    d.camera.unplug();
    let r = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!(
        (r.status, r.code()),
        (503, "camera_unavailable"),
        "{}",
        r.body
    );
    let h = d.req("GET", "/api/health", None, None).body;
    assert_eq!(h["camera"]["state"], "disconnected");
    assert_eq!(h["status"], "degraded");
    d.camera.plug();
    wait_until("the camera to reconnect", || {
        d.req("GET", "/api/health", None, None).body["camera"]["state"] == "connected"
    });
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/capture"), &host).status,
        201
    );
    assert_files_match_rows(&d, &host, &id);
}

#[test]
fn a_stuck_camera_counts_as_disconnected_and_recovers() {
    let d = Daemon::start(); // call timeout 2 s
    let (host, id) = running_show(&d, 1);
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/pose"), &host).status,
        200
    );
    d.camera.push(Fault::Stuck(Duration::from_secs(30)));
    d.camera.push(Fault::Stuck(Duration::from_secs(30)));
    let t = Instant::now();
    let r = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!(
        (r.status, r.code()),
        (503, "camera_unavailable"),
        "{}",
        r.body
    );
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "bounded by the call timeout"
    );
    assert_eq!(show(&d, &host, &id)["status"], "posing", "nothing changed");
    assert!(photo_files(&d, &id).is_empty());
    wait_until("the camera to come back", || {
        d.req("GET", "/api/health", None, None).body["camera"]["state"] == "connected"
    });
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/capture"), &host).status,
        201
    );
}

#[test]
fn busy_is_retried_then_reported() {
    let d = Daemon::start(); // 3 busy retries
    let (host, id) = running_show(&d, 1);
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/pose"), &host).status,
        200
    );
    for _ in 0..3 {
        d.camera.push(Fault::Busy);
    }
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/capture"), &host).status,
        201,
        "three busy answers are absorbed"
    );
    for _ in 0..4 {
        d.camera.push(Fault::Busy);
    }
    let r = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!(
        (r.status, r.code(), r.header("Retry-After")),
        (503, "camera_busy", Some("2"))
    );
    assert_files_match_rows(&d, &host, &id);
}

#[test]
fn a_full_disk_refuses_before_the_shutter_fires() {
    let d = Daemon::start_custom(|c| {
        c.min_free_mb(100_000_000);
    });
    let (host, id) = running_show(&d, 1);
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/pose"), &host).status,
        200
    );
    let before = d.camera.captures();
    let r = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!((r.status, r.code()), (507, "disk_full"), "{}", r.body);
    assert_eq!(d.camera.captures(), before, "the shutter was not fired");
    let r = post(&d, &format!("/api/shows/{id}/spontaneous"), &host);
    assert_eq!(r.status, 507);
    let h = d.req("GET", "/api/health", None, None).body;
    assert_eq!(h["disk"]["state"], "low");
    assert!(
        h["alerts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("spontaneous"),
        "{h}"
    );
    assert!(photo_files(&d, &id).is_empty());
}

#[test]
fn a_failed_spontaneous_photo_alerts_the_host_and_the_show_goes_on() {
    let d = Daemon::start();
    let (host, id) = running_show(&d, 1);
    d.camera.push(Fault::StoreFull);
    let r = post(&d, &format!("/api/shows/{id}/spontaneous"), &host);
    assert_eq!(
        (r.status, r.code()),
        (503, "camera_card_full"),
        "{}",
        r.body
    );
    let h = d.req("GET", "/api/health", None, None).body;
    assert!(
        h["alerts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("spontaneous photo failed"),
        "{h}"
    );
    assert_eq!(show(&d, &host, &id)["spontaneous"], "failed");
    // garbage from the camera is refused without leaving anything behind
    d.camera.push(Fault::Garbage);
    let r = post(&d, &format!("/api/shows/{id}/spontaneous"), &host);
    assert_eq!((r.status, r.code()), (503, "camera_failed"), "{}", r.body);
    // the show goes on, and the host may still take it by hand
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/pose"), &host).status,
        200
    );
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/spontaneous"), &host).status,
        201
    );
    assert_files_match_rows(&d, &host, &id);
}

#[test]
fn photos_of_a_closed_show_cannot_change_and_bad_ids_are_404() {
    let d = Daemon::start();
    let (host, id) = running_show(&d, 1);
    let p = post(&d, &format!("/api/shows/{id}/spontaneous"), &host);
    let pid = p.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/cancel"), &host).status,
        200
    );
    let r = post(&d, &format!("/api/photos/{pid}/approve"), &host);
    assert_eq!((r.status, r.code()), (409, "show_closed"));
    assert_eq!(
        d.req("DELETE", &format!("/api/photos/{pid}"), Some(&host), None)
            .status,
        409
    );
    assert_eq!(d.get("/api/photos/pho_nope", &host).status, 404);
    assert_eq!(get_bytes(&d, "/api/photos/pho_nope/preview", &host).0, 404);
    assert_eq!(post(&d, "/api/shows/shw_nope/capture", &host).status, 404);
}

#[test]
fn a_restart_sweeps_half_written_files_and_reports_missing_ones() {
    let d = Daemon::start();
    let (host, id) = running_show(&d, 1);
    let p = post(&d, &format!("/api/shows/{id}/spontaneous"), &host);
    let pid = p.body["id"].as_str().unwrap().to_string();
    let stem = p.body["file"]
        .as_str()
        .unwrap()
        .trim_end_matches(".jpg")
        .to_string();
    let dir = d.dir.path().join("data/photos").join(&id);
    // a crash mid-write leaves a temp file; a lost file leaves a row without it
    std::fs::write(dir.join(format!(".{stem}.email.jpg.tmp")), b"half a jpeg").unwrap();
    std::fs::remove_file(dir.join(format!("{stem}.preview.jpg"))).unwrap();
    // files written but never recorded (a crash before the row): orphans
    std::fs::write(dir.join(format!("{id}-posed-orphan.jpg")), b"x").unwrap();
    let d = d.restart();
    let names = photo_files(&d, &id);
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".tmp") && !n.contains("orphan")),
        "{names:?}"
    );
    let h = d.req("GET", "/api/health", None, None).body;
    assert_eq!(h["photos"]["missing_files"][0], pid.as_str(), "{h}");
    let r = get_bytes(&d, &format!("/api/photos/{pid}/preview"), &host);
    assert_eq!(r.0, 404);
}
