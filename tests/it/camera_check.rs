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
