//! The camera's recovery ladder through the real daemon: a simulated body that wedges
//! until its power is cut is revived through the simulated relay on `camera.power_pin`;
//! health shows the rung while it climbs and the counts after; a body that nothing
//! revives raises `camera_offline` saying the ladder ran out.

use crate::common::{Daemon, running_show, wait_for};
use cosmosd::camera::Fault;
use serde_json::Value;

fn camera(d: &Daemon, token: &str) -> Value {
    let r = d.get("/api/health", token);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["camera"].clone()
}

#[test]
fn a_wedged_body_is_power_cycled_and_health_counts_each_rung() {
    let d = Daemon::start_custom(|c| {
        c.set("camera.power_pin", 5)
            .set("camera.power_off_seconds", 1)
            .set("camera.power_boot_seconds", 1);
    });
    let (host, show) = running_show(&d, 1);
    let c = camera(&d, &host);
    assert_eq!(c["recovering"], Value::Null);
    for rung in ["retry", "reopen", "usb_reset", "power_cycle", "exhausted"] {
        assert_eq!(c["recoveries"][rung], 0, "{rung}: {c}");
    }

    d.camera.push(Fault::WedgedUntilPowerCycle);
    let r = d.post(&format!("/api/shows/{show}/pose"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    let capture = std::thread::spawn({
        let (addr, host, show) = (d.addr, host.clone(), show.clone());
        move || {
            let agent = crate::common::agent();
            let r = agent
                .post(format!("http://{addr}/api/shows/{show}/capture"))
                .header("Authorization", &format!("Bearer {host}"))
                .send_empty()
                .unwrap();
            r.status().as_u16()
        }
    });
    // While it climbs, health names the rung.
    wait_for(20, "health to show the power-cycle rung", || {
        (camera(&d, &host)["recovering"] == "power_cycle").then_some(())
    });
    assert_eq!(
        capture.join().unwrap(),
        201,
        "the photo was taken after all"
    );
    let c = camera(&d, &host);
    assert_eq!(c["state"], "connected", "{c}");
    assert_eq!(c["recovering"], Value::Null);
    let r = &c["recoveries"];
    assert_eq!(
        (
            &r["reopen"],
            &r["usb_reset"],
            &r["power_cycle"],
            &r["exhausted"]
        ),
        (
            &Value::from(2),
            &Value::from(1),
            &Value::from(1),
            &Value::from(0)
        ),
        "{c}"
    );
    let levels: Vec<bool> = d.power.changes().iter().map(|c| c.on).collect();
    assert_eq!(
        levels,
        [false, true],
        "the relay cut the power, then restored it"
    );
    assert_eq!(d.camera.usb_resets(), 1);
}

#[test]
fn when_the_ladder_runs_out_camera_offline_says_so() {
    let d = Daemon::start();
    let (host, show) = running_show(&d, 1);
    // No relay configured: a body wedged until a power cycle cannot be revived.
    d.camera.push(Fault::WedgedUntilPowerCycle);
    let r = d.post(&format!("/api/shows/{show}/pose"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = d.post(&format!("/api/shows/{show}/capture"), &host, &Value::Null);
    assert_eq!(
        (r.status, r.code()),
        (503, "camera_unavailable"),
        "{}",
        r.body
    );
    let c = camera(&d, &host);
    assert_eq!(c["recoveries"]["exhausted"], 1, "{c}");
    assert_eq!(c["recoveries"]["power_cycle"], 0, "{c}");
    let alert = wait_for(10, "the camera alert", || {
        let l = d.get("/api/alerts", &host).body;
        l["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "camera_offline")
            .cloned()
    });
    let m = alert["message"].as_str().unwrap();
    assert!(
        m.contains("every recovery step failed") && m.contains("switch"),
        "{m}"
    );
    // Revived by hand: the backoff reconnect finds it and the alert clears.
    d.camera.set_power(false);
    d.camera.set_power(true);
    wait_for(20, "the camera back", || {
        (camera(&d, &host)["state"] == "connected").then_some(())
    });
}

#[test]
fn health_names_the_body_by_its_serial_number() {
    let d = Daemon::start();
    let host = d.login("host");
    assert_eq!(
        camera(&d, &host)["serial"],
        cosmosd::camera::simulated::SIMULATED_SERIAL
    );
}

#[test]
fn the_serial_number_is_read_over_real_libgphoto2() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::write_config(dir.path(), |c| {
        c.vcamera();
    });
    let iolibs = crate::common::vcamera_iolibs();
    let p = crate::common::Process::spawn(&config, &[("IOLIBS", iolibs.to_str().unwrap())]);
    let h = wait_for(60, "the virtual camera connected", || {
        let h = p.req("GET", "/api/health", None, None).body;
        (h["camera"]["state"] == "connected").then_some(h)
    });
    let serial = h["camera"]["serial"].as_str().unwrap_or_default();
    assert!(
        !serial.is_empty(),
        "the virtual camera reports a serial: {h}"
    );
    assert!(p.stop());
}
