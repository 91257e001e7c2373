//! The host's alerts, persisted: raised by a camera unplugged mid-show (and the capture
//! it broke), on the event stream, in health's `problems`, cleared when the camera is
//! plugged back and the photo taken, acknowledged by the host, and still there after a
//! restart on the same data folder.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Daemon, running_show, wait_for};
use serde_json::Value;

fn alerts(d: &Daemon, token: &str) -> Vec<Value> {
    let r = d.get("/api/alerts", token);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

fn of_kind(list: &[Value], kind: &str) -> Vec<Value> {
    list.iter().filter(|a| a["kind"] == kind).cloned().collect()
}

fn problems(d: &Daemon) -> Vec<String> {
    d.req("GET", "/api/health", None, None).body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

/// The host's event stream, read until `needle` shows up.
fn read_stream_until(sock: &mut TcpStream, text: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !text.contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in:\n{text}");
        if let Ok(n) = sock.read(&mut buf) {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

#[test]
fn a_camera_unplugged_raises_alerts_that_clear_are_acknowledged_and_survive_a_restart() {
    let d = Daemon::start();
    let (host, show) = running_show(&d, 2);
    let tech = d.login("technician");
    let kiosk = d.login("kiosk");
    assert!(alerts(&d, &host).is_empty());
    assert_eq!(d.get("/api/alerts", &kiosk).status, 403);

    let mut sock = TcpStream::connect(d.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(
        sock,
        "GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {host}\r\n\r\n"
    )
    .unwrap();
    let mut stream = String::new();
    read_stream_until(&mut sock, &mut stream, "\r\n\r\n");

    // The camera is unplugged mid-show: the capture fails, the camera is gone.
    let r = d.post(&format!("/api/shows/{show}/pose"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    d.camera.unplug();
    let r = d.post(&format!("/api/shows/{show}/capture"), &host, &Value::Null);
    assert_eq!(
        (r.status, r.code()),
        (503, "camera_unavailable"),
        "{}",
        r.body
    );
    let list = wait_for(10, "the camera alert", || {
        let l = alerts(&d, &host);
        (!of_kind(&l, "camera_offline").is_empty()).then_some(l)
    });
    let camera = of_kind(&list, "camera_offline")[0].clone();
    let capture = of_kind(&list, "capture_failed")[0].clone();
    assert_eq!(capture["show_id"], show.as_str());
    for a in [&camera, &capture] {
        assert!(
            a["cleared_at"].is_null() && a["acknowledged_at"].is_null(),
            "{a}"
        );
        let m = a["message"].as_str().unwrap();
        assert!(
            !m.contains('@') && !m.contains("Guest"),
            "no guest data: {m}"
        );
    }
    assert!(camera["message"].as_str().unwrap().contains("camera"));
    // The technician sees the same; the host's banner has both.
    assert_eq!(alerts(&d, &tech).len(), list.len());
    let p = problems(&d);
    assert!(
        p.contains(&camera["message"].as_str().unwrap().to_string()),
        "{p:?}"
    );
    assert!(
        p.contains(&capture["message"].as_str().unwrap().to_string()),
        "{p:?}"
    );
    // The stream said so, with ids and kinds only.
    read_stream_until(&mut sock, &mut stream, "\"kind\":\"camera_offline\"");
    assert!(stream.contains("event: alerts"), "{stream}");
    assert!(stream.contains("\"change\":\"raised\""), "{stream}");

    // Still unplugged: nothing new is raised (the same alert goes on).
    let r = d.post(&format!("/api/shows/{show}/capture"), &host, &Value::Null);
    assert_eq!(r.status, 503);
    assert_eq!(alerts(&d, &host).len(), list.len(), "deduplicated");

    // Plugged back: the camera alert clears by itself; the next photo clears the other.
    d.camera.plug();
    let cleared = wait_for(20, "the camera alert cleared", || {
        let l = alerts(&d, &host);
        let a = l.iter().find(|a| a["id"] == camera["id"]).unwrap().clone();
        (!a["cleared_at"].is_null()).then_some(a)
    });
    assert!(cleared["acknowledged_at"].is_null());
    let r = d.post(&format!("/api/shows/{show}/capture"), &host, &Value::Null);
    assert_eq!(r.status, 201, "{}", r.body);
    let l = alerts(&d, &host);
    let a = l.iter().find(|a| a["id"] == capture["id"]).unwrap();
    assert!(!a["cleared_at"].is_null(), "{a}");
    assert!(problems(&d).is_empty(), "{:?}", problems(&d));
    read_stream_until(&mut sock, &mut stream, "\"change\":\"cleared\"");

    // Unplugged again: a new alert (a new occurrence), which the host acknowledges.
    d.camera.unplug();
    let r = d.post(&format!("/api/shows/{show}/capture"), &host, &Value::Null);
    assert_eq!(r.status, 503);
    let again = wait_for(10, "a new camera alert", || {
        of_kind(&alerts(&d, &host), "camera_offline")
            .into_iter()
            .find(|a| a["id"] != camera["id"] && a["cleared_at"].is_null())
    });
    let id = again["id"].as_str().unwrap();
    let r = d.post(&format!("/api/alerts/{id}/ack"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    let acked_at = r.body["acknowledged_at"].clone();
    assert!(acked_at.is_string());
    assert!(
        r.body["cleared_at"].is_null(),
        "acknowledged is not cleared"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let r = d.post(&format!("/api/alerts/{id}/ack"), &tech, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["acknowledged_at"], acked_at, "idempotent");
    read_stream_until(&mut sock, &mut stream, "\"change\":\"acknowledged\"");
    assert!(
        !problems(&d).contains(&again["message"].as_str().unwrap().to_string()),
        "an acknowledged alert leaves the banner"
    );
    let h = d.req("GET", "/api/health", None, None).body;
    assert_eq!(h["camera"]["state"], "disconnected", "health still says so");
    assert!(
        h["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id && a["acknowledged"] == true),
        "{h}"
    );
    let r = d.post("/api/alerts/alr_nope/ack", &host, &Value::Null);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    assert_eq!(
        d.post(&format!("/api/alerts/{id}/ack"), &kiosk, &Value::Null)
            .status,
        403
    );
    let before = alerts(&d, &host);
    drop(sock);

    // A restart on the same data folder: the history is all there, acknowledgements
    // kept; the new daemon's camera connects, which clears the open camera alert.
    let d = d.restart();
    let host = d.login("host");
    let after = alerts(&d, &host);
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(
            (
                &a["id"],
                &a["kind"],
                &a["message"],
                &a["raised_at"],
                &a["acknowledged_at"]
            ),
            (
                &b["id"],
                &b["kind"],
                &b["message"],
                &b["raised_at"],
                &b["acknowledged_at"]
            )
        );
    }
    let kept = wait_for(20, "the camera alert cleared after the restart", || {
        alerts(&d, &host)
            .into_iter()
            .find(|a| a["id"] == id && !a["cleared_at"].is_null())
    });
    assert_eq!(kept["acknowledged_at"], acked_at);
    // Open: only the second broken capture's, until that show's next photo.
    let r = d.get("/api/alerts?status=open", &host);
    assert_eq!(r.status, 200);
    let open = r.body["items"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{}", r.body);
    assert_eq!(
        (&open[0]["kind"], &open[0]["show_id"]),
        (&Value::from("capture_failed"), &Value::from(show.as_str()))
    );
    let r = d.get("/api/alerts?status=sleeping", &host);
    assert_eq!((r.status, r.field()), (422, Some("status")));
    d.stop().unwrap();
}
