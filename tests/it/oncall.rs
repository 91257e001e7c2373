//! The technician's alerts against a real SMTP relay (aiosmtpd on loopback): conditions
//! raised, reminded and cleared, the relay down meanwhile (the alert mail waits in the
//! outbox and nothing is lost), an unclean restart of the real binary (SIGKILL), a guest
//! message failed for good, the webhook; and never a guest's name or address in an alert.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mail_parser::MessageParser;
use serde_json::{Value, json};

use crate::common::{
    Daemon, Process, Relay, TestConfig, finished_show, free_port, in_minutes, wait_for,
    write_config,
};

const SECRET_NAME: &str = "Zoë Secretaria";
const SECRET_EMAIL: &str = "zoe.secretaria@example.org";

fn conditions(h: &Value) -> Vec<(String, u64)> {
    h["technician"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["condition"].as_str().unwrap().to_string(),
                c["reminders"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// (recipients, subject, text) of each message the relay took.
fn received(relay: &Relay) -> Vec<(String, String, String)> {
    relay
        .messages()
        .iter()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).unwrap();
            let to = m
                .to()
                .unwrap()
                .iter()
                .filter_map(|a| a.address())
                .collect::<Vec<_>>()
                .join(",");
            (
                to,
                m.subject().unwrap_or_default().to_string(),
                m.body_text(0).unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn no_guest_data(relay: &Relay) {
    for raw in relay.messages() {
        let text = String::from_utf8_lossy(&raw);
        for secret in [SECRET_NAME, "Secretaria", SECRET_EMAIL, "zoe.secretaria"] {
            assert!(!text.contains(secret), "guest data in an alert: {text}");
        }
    }
}

fn with_subject(msgs: &[(String, String, String)], part: &str) -> usize {
    msgs.iter().filter(|m| m.1.contains(part)).count()
}

#[test]
fn camera_and_disk_alerts_start_remind_and_end_and_wait_for_the_relay_without_loss() {
    let port = free_port();
    let d = Daemon::start_custom(|c| {
        c.relay(port)
            .technician_alerts(2.0)
            .min_free_mb(100_000_000)
            .set("alerts.camera_lost_minutes", 0)
            .set("alerts.box_name", "sala-norte");
    });
    let host = d.login("host");
    let g = d.add_guest(&host, SECRET_NAME, SECRET_EMAIL);
    let s = d.post(
        "/api/shows",
        &host,
        &json!({"start_time": in_minutes(30), "guest_ids": [g]}),
    );
    assert_eq!(s.status, 201, "{}", s.body);
    d.camera.unplug();

    // Both conditions start, and the camera's is reminded while the relay is down.
    let h = wait_for(30, "camera_lost reminded and disk_low on", || {
        let h = d.req("GET", "/api/health", None, None).body;
        let c = conditions(&h);
        let camera = c.iter().find(|c| c.0 == "camera_lost").map(|c| c.1);
        let disk = c.iter().any(|c| c.0 == "disk_low");
        (camera >= Some(1) && disk).then_some(h)
    });
    assert_eq!(h["technician"]["enabled"], true);
    assert!(h["technician"]["queued"].as_u64().unwrap() >= 3, "{h}");
    wait_for(20, "the sender found the relay down", || {
        let h = d.req("GET", "/api/health", None, None).body;
        (h["mail"]["state"] == "down").then_some(())
    });
    assert_eq!(
        h["mail"]["queued"], 0,
        "alert mail is not a guest's mail: {h}"
    );

    // The uplink returns: every notice goes, none lost.
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(port, &dir.path().join("spool"), &[]);
    let msgs = wait_for(30, "the starts and a reminder at the relay", || {
        let m = received(&relay);
        (with_subject(&m, "Alerta") >= 2 && with_subject(&m, "Sigue") >= 1).then_some(m)
    });
    assert!(msgs.iter().all(|m| m.0 == "tech@example.com"), "{msgs:?}");
    let camera_start = msgs
        .iter()
        .find(|m| {
            m.1 == "[COSMOS sala-norte] Alerta: La cámara no está conectada y hoy hay funciones"
        })
        .unwrap_or_else(|| panic!("{msgs:?}"));
    assert!(
        camera_start.2.contains("Caja: sala-norte"),
        "{}",
        camera_start.2
    );
    assert!(camera_start.2.contains("Qué hacer: "), "{}", camera_start.2);
    assert_eq!(
        with_subject(&msgs, "Alerta: Queda poco espacio"),
        1,
        "a condition that goes on starts once: {msgs:?}"
    );

    // The camera comes back: one end notice.
    d.camera.plug();
    wait_for(30, "the camera's end notice", || {
        let m = received(&relay);
        (with_subject(&m, "Resuelto: La cámara") == 1).then_some(())
    });
    let h = d.req("GET", "/api/health", None, None).body;
    assert!(!conditions(&h).iter().any(|c| c.0 == "camera_lost"), "{h}");

    // The disk gets room (a restart with a lower floor): the open condition, kept in
    // the database, ends.
    let d = d.restart_edited(|c| {
        c.min_free_mb(1);
    });
    wait_for(30, "the disk's end notice", || {
        let m = received(&relay);
        (with_subject(&m, "Resuelto: Queda poco espacio") == 1).then_some(())
    });
    let h = d.req("GET", "/api/health", None, None).body;
    assert!(conditions(&h).is_empty(), "{h}");
    wait_for(10, "nothing left queued", || {
        let h = d.req("GET", "/api/health", None, None).body;
        (h["technician"]["queued"] == 0).then_some(())
    });
    no_guest_data(&relay);
    d.stop().unwrap();
}

#[test]
fn a_guest_message_failed_for_good_is_an_alert_until_it_is_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = Relay::start(
        port,
        &dir.path().join("spool"),
        &["--reject-domain", "gone.example"],
    );
    let d = Daemon::start_custom(|c| {
        c.relay(port).technician_alerts(3600.0);
    });
    let host = d.login("host");
    let guest = json!({"name": SECRET_NAME, "email": "zoe.secretaria@gone.example",
        "energy": "solar", "element": "aire", "essence": "flor", "language": "es",
        "consent": true});
    let (_, fin) = finished_show(&|m, p, t, b| d.req(m, p, t, b), &host, &[guest]);
    assert_eq!(fin.status, 200, "{}", fin.body);
    wait_for(30, "the technician told of the failed message", || {
        let m = received(&relay);
        (with_subject(&m, "Alerta: Correos a invitados fallidos") == 1).then_some(())
    });

    // The host corrects the address and sends it again: the condition ends.
    let ob = d.get("/api/outbox", &host).body;
    let failed = ob["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["status"] == "failed")
        .unwrap()
        .clone();
    let gid = failed["guest_id"].as_str().unwrap();
    let p = d.req(
        "PATCH",
        &format!("/api/guests/{gid}"),
        Some(&host),
        Some(&json!({"email": SECRET_EMAIL})),
    );
    assert!(p.status < 300, "{}", p.body);
    let mid = failed["id"].as_str().unwrap();
    let r = d.post(&format!("/api/outbox/{mid}/resend"), &host, &Value::Null);
    assert!(r.status < 300, "{}", r.body);
    wait_for(30, "the end notice", || {
        let m = received(&relay);
        (with_subject(&m, "Resuelto: Correos a invitados") == 1).then_some(())
    });
    // The guest's mail went to the guest; the alerts to the technician only, without
    // the guest's name or address.
    let tech: Vec<_> = received(&relay)
        .into_iter()
        .filter(|m| m.0 == "tech@example.com")
        .collect();
    assert_eq!(tech.len(), 2, "{tech:?}");
    for (_, subject, text) in &tech {
        assert!(!subject.contains("Secretaria") && !text.contains("Secretaria"));
        assert!(!text.contains("zoe.secretaria"), "{text}");
    }
    d.stop().unwrap();
}

/// A webhook receiver on loopback: answers `status` to each POST and keeps the bodies.
fn webhook(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let status = statuses.next().unwrap_or(200);
            if status == 200 {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            }
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

#[test]
fn an_unclean_restart_is_told_by_mail_and_webhook_and_ends_once_the_box_has_settled() {
    let spool = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = Relay::start(port, &spool.path().join("spool"), &[]);
    // The receiver fails its first call: the notice is tried again.
    let (url, hook) = webhook(vec![503]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), |c: &mut TestConfig| {
        c.relay(port)
            .technician_alerts(3600.0)
            .set("alerts.webhook", url.as_str())
            .set("alerts.restart_settled_minutes", 0.1);
    });
    // A clean stop leaves nothing to tell.
    let p = Process::spawn(&cfg, &[]);
    assert!(p.stop(), "a clean stop");
    let p = Process::spawn(&cfg, &[]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let h = p.req("GET", "/api/health", None, None).body;
    assert!(conditions(&h).is_empty(), "after a clean stop: {h}");
    // kill -9: no shutdown path runs.
    let mut p = p;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    drop(p);
    let p = Process::spawn(&cfg, &[]);
    let h = wait_for(10, "unclean_restart on", || {
        let h = p.req("GET", "/api/health", None, None).body;
        conditions(&h)
            .iter()
            .any(|c| c.0 == "unclean_restart")
            .then_some(h)
    });
    assert_eq!(h["technician"]["enabled"], true);
    wait_for(30, "start and end at the relay", || {
        let m = received(&relay);
        (with_subject(&m, "Alerta: cosmosd se reinició") == 1
            && with_subject(&m, "Resuelto: cosmosd se reinició") == 1)
            .then_some(())
    });
    // The webhook got both, the first after a retry.
    let calls = wait_for(30, "both webhook calls", || {
        let v = hook.lock().unwrap().clone();
        (v.len() >= 2).then_some(v)
    });
    assert_eq!(calls[0]["condition"], "unclean_restart");
    assert_eq!(calls[0]["event"], "started");
    assert!(calls[0]["since"].is_string() && calls[0]["box"].is_string());
    assert!(calls.iter().any(|c| c["event"] == "ended"), "{calls:?}");
    assert!(p.stop());
}
