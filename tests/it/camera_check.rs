//! Issue 14 on the simulated camera: the settings profile applied at connect (a refused
//! value named with the body's choices in health), a dial turned behind the daemon's back
//! reported as drift with a `camera_drift` alert, and the profile re-applied when the
//! next show starts (the alert clears).
use serde_json::Value;

use crate::common::{Daemon, running_show, wait_for};

fn health(d: &Daemon) -> Value {
    d.req("GET", "/api/health", None, None).body
}

fn drift_alerts(d: &Daemon, token: &str) -> Vec<Value> {
    let r = d.get("/api/alerts", token);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "camera_drift")
        .cloned()
        .collect()
}

#[test]
fn a_turned_dial_is_drift_with_an_alert_until_the_next_show_starts() {
    let d = Daemon::start_custom(|c| {
        c.set("camera.poll_seconds", 1);
        c.set("camera.settings.f-number", "f/8");
        c.set("camera.settings.imageformat", "Large Fine JPEG");
    });
    wait_for(10, "the profile applied", || {
        (d.camera.setting("f-number").as_deref() == Some("f/8")).then_some(())
    });
    let h = health(&d);
    assert_eq!(h["camera"]["settings_errors"], serde_json::json!([]), "{h}");
    assert_eq!(h["camera"]["drift"], serde_json::json!([]), "{h}");

    assert!(d.camera.turn("imageformat", "RAW"));
    let h = wait_for(10, "the drift in health", || {
        let h = health(&d);
        (h["camera"]["drift"]
            .as_array()
            .is_some_and(|a| !a.is_empty()))
        .then_some(h)
    });
    assert_eq!(
        h["camera"]["drift"],
        serde_json::json!([{"key": "imageformat", "expected": "Large Fine JPEG", "actual": "RAW"}])
    );
    let tech = d.login("technician");
    let open = wait_for(10, "the drift alert", || {
        let a = drift_alerts(&d, &tech);
        (!a.is_empty()).then_some(a)
    });
    assert!(open[0]["cleared_at"].is_null(), "{}", open[0]);
    assert!(open[0]["message"].as_str().unwrap().contains("imageformat"));

    let (_host, _show) = running_show(&d, 2);
    wait_for(10, "the profile re-applied", || {
        (d.camera.setting("imageformat").as_deref() == Some("Large Fine JPEG")).then_some(())
    });
    wait_for(10, "the drift cleared", || {
        let h = health(&d);
        (h["camera"]["drift"] == serde_json::json!([])).then_some(())
    });
    wait_for(10, "the drift alert cleared", || {
        drift_alerts(&d, &tech)
            .iter()
            .all(|a| !a["cleared_at"].is_null())
            .then_some(())
    });
}

#[test]
fn a_refused_value_is_named_with_the_choices_in_health() {
    let d = Daemon::start_custom(|c| {
        c.set("camera.settings.f-number", "f/9");
        c.set("camera.settings.iso", "800");
    });
    let h = wait_for(10, "the refusal in health", || {
        let h = health(&d);
        (h["camera"]["settings_errors"]
            .as_array()
            .is_some_and(|a| !a.is_empty()))
        .then_some(h)
    });
    let errs = h["camera"]["settings_errors"].as_array().unwrap();
    assert_eq!(errs.len(), 1, "{h}");
    let e = errs[0].as_str().unwrap();
    assert!(e.starts_with("camera.settings.f-number"), "{e}");
    assert!(
        e.contains("\"f/8\"") && e.contains("\"f/11\""),
        "the choices offered: {e}"
    );
    assert_eq!(
        d.camera.setting("iso").as_deref(),
        Some("800"),
        "the others are applied"
    );
}

/// A posed photo taken after `/pose`, with the show's host token.
fn posed(d: &Daemon, host: &str, show: &str) -> crate::common::Resp {
    let r = d.post(&format!("/api/shows/{show}/pose"), host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    d.post(&format!("/api/shows/{show}/capture"), host, &Value::Null)
}

#[test]
fn autofocus_is_driven_during_the_countdown_and_a_failure_is_retried_once() {
    let d = Daemon::start_custom(|c| {
        c.countdown(1);
        c.set("camera.focus", "autofocus");
    });
    let (host, show) = running_show(&d, 1);
    d.camera.fail_focus(1);
    let r = posed(&d, &host, &show);
    assert_eq!(r.status, 201, "one failed focus is retried: {}", r.body);
    assert_eq!(d.camera.focuses(), 2);
    assert_eq!(d.camera.captures(), 1);
}

#[test]
fn focus_failing_twice_answers_camera_focus_failed_without_firing_the_shutter() {
    let d = Daemon::start_custom(|c| {
        c.countdown(1);
        c.set("camera.focus", "autofocus");
    });
    let (host, show) = running_show(&d, 1);
    d.camera.fail_focus(2);
    let before = d.lights.changes().len();
    let r = posed(&d, &host, &show);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.code(), "camera_focus_failed", "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("focus")
    );
    assert_eq!(d.camera.focuses(), 2, "tried once more");
    assert_eq!(d.camera.captures(), 0, "no shutter without focus");
    wait_for(5, "the error light pattern", || {
        d.lights.changes()[before..]
            .iter()
            .any(|c| c.program == "error")
            .then_some(())
    });
    let s = d.get("/api/stats", &host);
    assert_eq!(s.body["totals"]["capture_failures"], 1, "{}", s.body);
    // The host tries again once the light is better: the show is still posing.
    let r = d.post(&format!("/api/shows/{show}/capture"), &host, &Value::Null);
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn manual_focus_never_drives_the_lens() {
    let d = Daemon::start_custom(|c| {
        c.countdown(1);
    });
    let (host, show) = running_show(&d, 1);
    assert_eq!(posed(&d, &host, &show).status, 201);
    assert_eq!(d.camera.focuses(), 0);
}

/// The `code` of each problem in a readiness report.
fn problem_codes(r: &crate::common::Resp) -> Vec<String> {
    r.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect()
}

fn check(d: &Daemon, token: &str) -> crate::common::Resp {
    d.post("/api/camera/check", token, &Value::Null)
}

#[test]
fn the_readiness_check_reports_the_body_and_the_frame_without_storing_a_photo() {
    let d = Daemon::start_custom(|c| {
        c.set("camera.settings.f-number", "f/8");
    });
    let tech = d.login("technician");
    let r = check(&d, &tech);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["ready"], true, "{b}");
    assert_eq!(b["problems"], serde_json::json!([]));
    assert_eq!(b["serial"], "SIM-0000000001");
    assert_eq!(b["battery"], 80);
    assert_eq!(b["free_images"], 900);
    assert_eq!(b["format"], "Large Fine JPEG");
    assert_eq!(b["settings"], serde_json::json!({"f-number": "f/8"}));
    let mean = b["exposure"]["mean"].as_f64().unwrap();
    assert!((40.0..=215.0).contains(&mean), "{b}");
    assert!(b["sharpness"].as_f64().unwrap() > 20.0, "{b}");
    let (status, ctype, jpeg) =
        crate::common::get_bytes(&d, b["frame_url"].as_str().unwrap(), &tech);
    assert_eq!((status, ctype.as_str()), (200, "image/jpeg"));
    assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
    // Not a guest's photo: no show has it, nothing under photos/.
    let host = d.login("host");
    let s = d.get("/api/stats", &host);
    assert_eq!(s.body["totals"]["photos_taken"], 0, "{}", s.body);
    assert!(
        !d.dir.path().join("data/photos").exists()
            || std::fs::read_dir(d.dir.path().join("data/photos"))
                .unwrap()
                .next()
                .is_none()
    );
    // Kiosks may not fire the shutter.
    let kiosk = d.login("kiosk");
    assert_eq!(check(&d, &kiosk).status, 403);
}

#[test]
fn a_low_battery_a_full_card_and_a_turned_dial_are_problems() {
    let d = Daemon::start_custom(|c| {
        c.set("camera.poll_seconds", 1);
        c.set("camera.settings.imageformat", "Large Fine JPEG");
    });
    let host = d.login("host");
    d.camera.set_battery(10);
    d.camera.set_free_images(3);
    assert!(d.camera.turn("imageformat", "RAW"));
    wait_for(10, "the drift in health", || {
        let h = health(&d);
        (h["camera"]["drift"]
            .as_array()
            .is_some_and(|a| !a.is_empty()))
        .then_some(())
    });
    let r = check(&d, &host);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["ready"], false);
    let codes = problem_codes(&r);
    assert_eq!(
        codes,
        ["battery_low", "card_full", "raw_only", "setting_drifted"],
        "{}",
        r.body
    );
}

#[test]
fn a_black_frame_is_too_dark_and_not_sharp() {
    let dir = tempfile::tempdir().unwrap();
    let black = dir.path().join("black.jpg");
    image::RgbImage::new(1200, 800).save(&black).unwrap();
    let d = Daemon::start_custom(|c| {
        c.set("camera.simulated_photo", black.to_str().unwrap());
    });
    let host = d.login("host");
    let r = check(&d, &host);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["ready"], false);
    assert_eq!(r.body["exposure"]["mean"], 0.0);
    assert_eq!(r.body["exposure"]["dark_clipped"], 1.0);
    let codes = problem_codes(&r);
    assert_eq!(
        codes,
        ["too_dark", "shadows_clipped", "not_sharp"],
        "{}",
        r.body
    );
}

#[test]
fn with_no_camera_the_check_is_a_clear_503() {
    let d = Daemon::start();
    d.camera.unplug();
    let host = d.login("host");
    let r = check(&d, &host);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.code(), "camera_unavailable");
    assert_eq!(d.get("/api/camera/check/frame", &host).status, 404);
}
