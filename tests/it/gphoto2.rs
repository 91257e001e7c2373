//! The real camera path: cosmosd's gphoto2 backend over the system libgphoto2, against
//! libgphoto2's own virtual PTP camera (built by scripts/vcamera.sh from the Debian
//! source of the installed library). Each test runs the daemon as its own process: the
//! port driver is picked by the environment (IOLIBS), and the virtual camera counts its
//! shots per process.

use crate::common;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::{HOST_PIN, Process, in_minutes};
use serde_json::{Value, json};

fn iolibs() -> PathBuf {
    common::vcamera_iolibs()
}

fn start(dir: &tempfile::TempDir) -> Process {
    let config = common::write_config(dir.path(), |c| {
        c.vcamera();
    });
    Process::spawn(&config, &[("IOLIBS", iolibs().to_str().unwrap())])
}

fn wait_connected(p: &Process) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = p.req("GET", "/api/health", None, None).body;
        if h["camera"]["state"] == "connected" {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "the virtual camera never connected: {h}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn running_show(p: &Process, host: &str) -> String {
    let g = p.req(
        "POST",
        "/api/guests",
        Some(host),
        Some(&common::guest_body(
            "Ana",
            &format!("ana{}@example.org", std::process::id()),
        )),
    );
    assert_eq!(g.status, 201, "{}", g.body);
    let s = p.req(
        "POST",
        "/api/shows",
        Some(host),
        Some(&json!({"start_time": in_minutes(1), "guest_ids": [g.body["id"]]})),
    );
    let id = s.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        p.req("POST", &format!("/api/shows/{id}/start"), Some(host), None)
            .status,
        200
    );
    id
}

fn image_size(p: &Process, host: &str, path: &str) -> (u32, u32) {
    let mut r = p
        .agent
        .get(&format!("http://{}{}", p.addr, path))
        .header("Authorization", &format!("Bearer {host}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    (img.width(), img.height())
}

#[test]
fn a_full_show_over_real_libgphoto2_and_many_captures_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(&dir);
    let h = wait_connected(&p);
    assert_eq!(h["camera"]["backend"], "gphoto2");
    assert_eq!(h["camera"]["port"], "usb:001,001", "{h}");
    let host = p.login("host", HOST_PIN);
    let id = running_show(&p, &host);

    let sp = p.req(
        "POST",
        &format!("/api/shows/{id}/spontaneous"),
        Some(&host),
        None,
    );
    assert_eq!(sp.status, 201, "{}", sp.body);
    assert_eq!(
        p.req("POST", &format!("/api/shows/{id}/pose"), Some(&host), None)
            .status,
        200
    );
    let posed = p.req(
        "POST",
        &format!("/api/shows/{id}/capture"),
        Some(&host),
        None,
    );
    assert_eq!(posed.status, 201, "{}", posed.body);
    for photo in [&sp.body, &posed.body] {
        let pid = photo["id"].as_str().unwrap();
        // the virtual camera shoots the 3000x2000 pattern with EXIF orientation 6
        assert_eq!(
            image_size(&p, &host, &format!("/api/photos/{pid}/email")),
            (1365, 2048)
        );
        assert_eq!(
            image_size(&p, &host, &format!("/api/photos/{pid}/preview")),
            (320, 480)
        );
        assert_eq!(
            image_size(&p, &host, &format!("/api/photos/{pid}/original")),
            (3000, 2000)
        );
    }
    // many captures in a row (retakes)
    let t = Instant::now();
    for i in 0..20 {
        let r = p.req(
            "POST",
            &format!("/api/shows/{id}/capture"),
            Some(&host),
            None,
        );
        assert_eq!(r.status, 201, "capture {i}: {} {:?}", r.body, r.headers);
    }
    eprintln!("20 captures over the virtual camera in {:.1?}", t.elapsed());
    let s = p
        .req("GET", &format!("/api/shows/{id}"), Some(&host), None)
        .body;
    assert_eq!(
        s["photos"].as_array().unwrap().len(),
        2,
        "retakes replace the pending posed photo"
    );
    let h = p.req("GET", "/api/health", None, None).body;
    assert!(h["camera"]["captures"].as_u64().unwrap() >= 22, "{h}");
    assert!(p.stop(), "clean stop");
}

#[test]
fn a_full_memory_card_is_a_clear_error_and_the_daemon_keeps_serving() {
    // The virtual camera declares its store full after a few dozen pictures per process
    // (26 with libgphoto2 2.5.30).
    let dir = tempfile::tempdir().unwrap();
    let p = start(&dir);
    wait_connected(&p);
    let host = p.login("host", HOST_PIN);
    let id = running_show(&p, &host);
    assert_eq!(
        p.req("POST", &format!("/api/shows/{id}/pose"), Some(&host), None)
            .status,
        200
    );
    let mut full = None;
    for i in 0..70 {
        let r = p.req(
            "POST",
            &format!("/api/shows/{id}/capture"),
            Some(&host),
            None,
        );
        match r.status {
            201 => continue,
            _ => {
                full = Some((i, r));
                break;
            }
        }
    }
    let (i, r) = full.expect("the virtual camera never reported its card full");
    assert!(i >= 20, "full after {i} captures");
    assert_eq!(
        (r.status, r.code()),
        (503, "camera_card_full"),
        "{}",
        r.body
    );
    // and again: still a clear answer, never a 5xx other than 503
    let r = p.req(
        "POST",
        &format!("/api/shows/{id}/capture"),
        Some(&host),
        None,
    );
    assert_eq!(
        (r.status, r.code()),
        (503, "camera_card_full"),
        "{}",
        r.body
    );
    assert_eq!(p.req("GET", "/api/health", None, None).status, 200);
    assert_eq!(
        p.req("GET", &format!("/api/shows/{id}"), Some(&host), None)
            .status,
        200
    );
    assert!(p.stop());
}

#[test]
fn the_camera_selftest_reports_model_settings_and_timings() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), |c| {
        c.vcamera();
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cosmosd"))
        .args(["selftest", "camera", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(dir.path().join("shots"))
        .env("IOLIBS", iolibs())
        .env("COSMOSD_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "USB PTP Class Camera on usb:001,001",
        "capturetarget",
        "email 1365x2048",
        // The readiness report, as `POST /api/camera/check` gives it.
        "readiness: ",
        "  battery: 50%",
        "  format: 640x480",
        "  exposure: mean ",
        "  sharpness: ",
        "camera selftest passed",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    eprintln!("{text}");
    assert!(dir.path().join("shots/selftest.preview.jpg").exists());
}

/// `cosmosd check-config` against the virtual camera with `camera.settings` set.
fn check_config(dir: &tempfile::TempDir, settings: &[(&str, &str)]) -> std::process::Output {
    let config = common::write_config(dir.path(), |c| {
        c.vcamera();
        for (k, v) in settings {
            c.set(&format!("camera.settings.{k}"), *v);
        }
    });
    std::process::Command::new(env!("CARGO_BIN_EXE_cosmosd"))
        .arg("check-config")
        .arg(&config)
        .env("IOLIBS", iolibs())
        .env("COSMOSD_LOG", "warn")
        .output()
        .unwrap()
}

/// The choices a refusal names: `…; it offers "a", "b", …`.
fn offered(err: &str, key: &str) -> Vec<String> {
    let line = err
        .lines()
        .find(|l| l.starts_with(&format!("camera.settings.{key}: the camera refuses")))
        .unwrap_or_else(|| panic!("no refusal of {key} in:\n{err}"));
    let list = line.split("it offers ").nth(1).unwrap();
    list.split(", ")
        .map(|c| c.trim_matches('"').to_string())
        .collect()
}

#[test]
fn a_settings_profile_is_checked_against_the_body_then_applied_and_read_back() {
    // A value the body refuses: check-config fails naming the key and the choices.
    let dir = tempfile::tempdir().unwrap();
    let out = check_config(&dir, &[("f-number", "f/99"), ("shutterspeed", "7 weeks")]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "refused values must fail check-config:\n{err}"
    );
    let f_numbers = offered(&err, "f-number");
    let speeds = offered(&err, "shutterspeed");
    assert!(
        f_numbers.len() > 1 && speeds.len() > 1,
        "{f_numbers:?} {speeds:?}"
    );

    // Values from those choices: check-config passes, and the daemon applies them.
    let (f, s) = (
        f_numbers.last().unwrap().clone(),
        speeds[speeds.len() / 2].clone(),
    );
    let out = check_config(&dir, &[("f-number", &f), ("shutterspeed", &s)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the camera accepts all 2 values"));

    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), |c| {
        c.vcamera();
        c.set("camera.settings.f-number", f.as_str());
        c.set("camera.settings.shutterspeed", s.as_str());
        c.set("camera.settings.exposurecompensation", "99");
    });
    let p = Process::spawn(&config, &[("IOLIBS", iolibs().to_str().unwrap())]);
    let h = wait_connected(&p);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut h = h;
    while h["camera"]["settings_errors"]
        .as_array()
        .is_none_or(|a| a.is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "no settings report in health: {h}"
        );
        std::thread::sleep(Duration::from_millis(100));
        h = p.req("GET", "/api/health", None, None).body;
    }
    let errs = h["camera"]["settings_errors"].as_array().unwrap();
    assert_eq!(
        errs.len(),
        1,
        "only the exposure compensation is refused: {h}"
    );
    let e = errs[0].as_str().unwrap();
    assert!(
        e.starts_with("camera.settings.exposurecompensation: "),
        "{e}"
    );
    assert_eq!(
        h["camera"]["drift"],
        json!([]),
        "applied values read back: {h}"
    );
}

#[test]
fn the_readiness_check_over_real_libgphoto2_reports_battery_serial_exposure_and_sharpness() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(&dir);
    wait_connected(&p);
    let tech = p.login("technician", common::TECH_PASSWORD);
    let r = p.req("POST", "/api/camera/check", Some(&tech), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    // What the virtual camera reports about itself.
    assert_eq!(b["model"], "USB PTP Class Camera", "{b}");
    assert_eq!(b["serial"], "0.1", "{b}");
    assert_eq!(b["battery"], 50, "{b}");
    assert_eq!(b["format"], "640x480", "{b}");
    assert!(b["free_images"].as_u64().is_some(), "{b}");
    // Its JPEG is the photo-like test pattern: mid-grey on average, in focus.
    let mean = b["exposure"]["mean"].as_f64().unwrap();
    assert!((100.0..=160.0).contains(&mean), "{b}");
    assert!(b["sharpness"].as_f64().unwrap() > 50.0, "{b}");
    assert_eq!(b["ready"], true, "{b}");
    assert!(p.stop());
}
