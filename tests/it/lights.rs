//! The floor markers in step with the show, on the simulated GPIO backend's timeline; and
//! the rppal backend refusing to start off a Pi with a clear message.

use crate::common;
use std::time::Duration;

use crate::common::{Daemon, running_show};
use serde_json::Value;

fn post(d: &Daemon, path: &str, token: &str) -> common::Resp {
    d.post(path, token, &Value::Null)
}

fn settle() {
    std::thread::sleep(Duration::from_millis(800));
}

#[test]
fn the_markers_follow_the_show_and_the_shutter_fires_at_the_end_of_the_countdown() {
    let d = Daemon::start_custom(|c| {
        c.countdown(2);
    });
    let (host, id) = running_show(&d, 2);
    assert_eq!(
        d.lights.current(),
        Some(vec![false; 4]),
        "dark while the show runs"
    );
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/pose"), &host).status,
        200
    );
    settle();
    assert_eq!(
        d.lights.current(),
        Some(vec![true, true, false, false]),
        "marker i for guest i"
    );
    let h = d.req("GET", "/api/health", None, None).body;
    assert_eq!(h["lights"]["program"], "posing");

    for take in 0..2 {
        let before = d.lights.changes().len();
        let r = post(&d, &format!("/api/shows/{id}/capture"), &host);
        assert_eq!(r.status, 201, "{}", r.body);
        settle();
        let changes = d.lights.changes()[before..].to_vec();
        let start = changes
            .iter()
            .find(|c| c.program == "countdown")
            .expect("a countdown ran")
            .at;
        let countdown_end = start + Duration::from_secs(2);
        let shutter = *d.camera.shutter_times().last().unwrap();
        let gap = if shutter > countdown_end {
            shutter - countdown_end
        } else {
            countdown_end - shutter
        };
        assert!(
            gap <= Duration::from_millis(50),
            "take {take}: shutter {gap:?} from the countdown's end"
        );
        let blinks = changes
            .iter()
            .filter(|c| c.program == "countdown" && c.on == vec![false; 4])
            .count();
        assert!(blinks >= 2, "the countdown blinks: {changes:?}");
        assert!(
            changes
                .iter()
                .any(|c| c.program == "captured" && c.on == vec![true; 4]),
            "a flash after the shutter"
        );
        assert_eq!(
            d.lights.current(),
            Some(vec![true, true, false, false]),
            "posing again for a retake"
        );
    }
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/cancel"), &host).status,
        200
    );
    settle();
    assert_eq!(
        d.lights.current(),
        Some(vec![false; 4]),
        "cancel turns everything off"
    );
}

#[test]
fn a_camera_failure_shows_the_error_pattern_and_shutdown_ends_dark() {
    let d = Daemon::start();
    let (host, id) = running_show(&d, 1);
    assert_eq!(
        post(&d, &format!("/api/shows/{id}/pose"), &host).status,
        200
    );
    d.camera.push(cosmosd::camera::Fault::StoreFull);
    let r = post(&d, &format!("/api/shows/{id}/capture"), &host);
    assert_eq!(r.status, 503);
    std::thread::sleep(Duration::from_millis(500));
    let changes = d.lights.changes();
    let errors: Vec<_> = changes
        .iter()
        .filter(|c| c.program == "error")
        .map(|c| c.on.clone())
        .collect();
    assert!(
        errors.contains(&vec![true, false, true, false])
            && errors.contains(&vec![false, true, false, true]),
        "{changes:?}"
    );
    settle();
    settle();
    assert_eq!(
        d.lights.current(),
        Some(vec![true, false, false, false]),
        "back to posing"
    );
    let lights = d.lights.clone();
    d.stop().unwrap();
    assert_eq!(
        lights.current(),
        Some(vec![false; 4]),
        "SIGTERM path ends dark"
    );
}

#[test]
fn off_a_pi_the_rppal_backend_refuses_to_start_with_the_key_to_change() {
    // On a Pi this would drive the pins: there, `cosmosd selftest lights` is the check.
    assert!(
        !std::path::Path::new("/dev/gpiomem").exists(),
        "this machine has GPIO: run `cosmosd selftest lights` instead of this test"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), |c| {
        c.set("lights.backend", "rppal");
    });
    for args in [
        vec!["run", "--config"],
        vec!["lights-off", "--config"],
        vec!["selftest", "lights", "--config"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cosmosd"))
            .args(&args)
            .arg(&config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("lights.backend") && err.contains("GPIO"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn selftest_lights_and_lights_off_work_on_the_simulated_backend() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), |_| {});
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cosmosd"))
        .args(["selftest", "lights", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("marker 4 (GPIO 23)") && text.contains("light changes recorded"),
        "{text}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cosmosd"))
        .args(["lights-off", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn the_number_of_pins_caps_the_show_size() {
    let d = Daemon::start_custom(|c| {
        c.pins(&[5, 6]);
    });
    let host = d.login("host");
    let ids: Vec<String> = (0..3)
        .map(|i| d.add_guest(&host, "G", &format!("cap{i}@example.org")))
        .collect();
    let r = d.post(
        "/api/shows",
        &host,
        &serde_json::json!({"start_time": common::in_minutes(5), "guest_ids": ids}),
    );
    assert_eq!((r.status, r.code()), (422, "too_many_guests"), "{}", r.body);
    let r = d.post(
        "/api/shows",
        &host,
        &serde_json::json!({"start_time": common::in_minutes(5), "guest_ids": &ids[..2]}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        d.req("GET", "/api/health", None, None).body["lights"]["pins"],
        serde_json::json!([5, 6])
    );
}
