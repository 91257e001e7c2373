//! The outbox against a real SMTP relay (aiosmtpd on loopback, started and killed by the
//! tests): personalised MIME with the photos, the uplink going away and coming back, 4xx
//! and 5xx answers, a crash mid-batch, STARTTLS and implicit TLS with a certificate the
//! test trusts, and the demo's file transport.

use crate::common;
use std::collections::{HashMap, HashSet};

use crate::common::{Daemon, Relay, Resp, finished_show, free_port, wait_for};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

fn guest(
    name: &str,
    email: &str,
    language: &str,
    essence: &str,
    energy: &str,
    element: &str,
) -> Value {
    json!({"name": name, "email": email, "energy": energy, "element": element,
           "essence": essence, "language": language, "consent": true})
}

fn req(d: &Daemon) -> impl Fn(&str, &str, Option<&str>, Option<&Value>) -> Resp + '_ {
    move |m, p, t, b| d.req(m, p, t, b)
}

fn outbox(d: &Daemon, host: &str) -> Resp {
    let r = d.get("/api/outbox", host);
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

fn by_status(r: &Resp, status: &str) -> usize {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == status)
        .count()
}

/// Checks one delivered message: headers, the guest's own sentences, both photos.
fn check_message(
    raw: &[u8],
    to: &str,
    subject_has: &str,
    body_has: &[&str],
    body_lacks: &str,
) -> String {
    let m = MessageParser::default()
        .parse(raw)
        .expect("the message parses as MIME");
    let addr = m
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap();
    assert_eq!(addr, to);
    assert_eq!(
        m.from().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("cosmos@example.com")
    );
    let subject = m.subject().unwrap();
    assert!(subject.contains(subject_has), "subject {subject:?}");
    let text = m.body_text(0).unwrap();
    let html = m.body_html(0).unwrap();
    for s in body_has {
        assert!(text.contains(s), "text lacks {s:?}:\n{text}");
        assert!(html.contains(s), "html lacks {s:?}");
    }
    assert!(!text.contains(body_lacks), "text has {body_lacks:?}");
    assert!(html.contains("cid:logo@cosmos"));
    let mut photos = 0;
    let mut logo = false;
    for a in m.attachments() {
        let ct = a.content_type().unwrap();
        match (ct.c_type.as_ref(), ct.subtype()) {
            ("image", Some("jpeg")) => {
                let img = image::load_from_memory(a.contents()).expect("a valid JPEG");
                assert_eq!(img.width().max(img.height()), 2048, "email size");
                assert!(a.attachment_name().unwrap().ends_with(".jpg"));
                photos += 1;
            }
            ("image", Some("png")) => {
                assert_eq!(a.content_id(), Some("logo@cosmos"));
                logo = true;
            }
            other => panic!("unexpected part {other:?}"),
        }
    }
    assert_eq!(photos, 2, "the spontaneous and the posed photo");
    assert!(logo, "the inline logo");
    m.message_id().unwrap().to_string()
}

#[test]
fn finish_queues_personal_mail_that_a_real_relay_receives_over_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = Relay::start(port, &dir.path().join("spool"), &[]);
    let d = Daemon::start_custom(|c| {
        c.relay(port);
    });
    let host = d.login("host");
    let guests = [
        guest(
            "Lucía Pérez",
            "lucia@example.org",
            "es",
            "colibrí",
            "lunar",
            "agua",
        ),
        guest(
            "Sam O'Neil",
            "sam@example.org",
            "en",
            "jaguar",
            "solar",
            "fire",
        ),
    ];
    let (show, fin) = finished_show(&req(&d), &host, &guests);
    assert_eq!(fin.status, 200, "{}", fin.body);
    assert_eq!(fin.body["status"], "completed");
    let ids = fin.body["message_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    for g in fin.body["guests"].as_array().unwrap() {
        assert_eq!(g["status"], "done");
    }

    wait_for(20, "both messages at the relay", || {
        (relay.accepted().len() == 2).then_some(())
    });
    let ob = wait_for(10, "both marked sent", || {
        let r = outbox(&d, &host);
        (by_status(&r, "sent") == 2).then_some(r)
    });
    let sent: HashMap<String, Value> = ob.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["to"].as_str().unwrap().to_string(), m.clone()))
        .collect();
    let raws = relay.messages();
    let find = |to: &str| {
        raws.iter()
            .find(|r| String::from_utf8_lossy(r).contains(&format!("To: {to}")))
            .unwrap_or_else(|| panic!("no message to {to}"))
    };
    let mid = check_message(
        find("lucia@example.org"),
        "lucia@example.org",
        "Lucía Pérez, tu viaje por COSMOS: Colibrí · Agua",
        &[
            "Hola, Lucía:",
            "esencia del colibrí",
            "energía es lunar",
            "elemento es el agua",
            "las 2 fotos",
        ],
        "essence of",
    );
    assert_eq!(
        format!("<{mid}>"),
        sent["lucia@example.org"]["message_id"].as_str().unwrap()
    );
    let mid = check_message(
        find("sam@example.org"),
        "sam@example.org",
        "Sam O'Neil, your journey through COSMOS: Jaguar · Fire",
        &[
            "Hello Sam,",
            "essence of the jaguar",
            "energy is solar",
            "element is fire",
        ],
        "esencia",
    );
    assert_eq!(
        format!("<{mid}>"),
        sent["sam@example.org"]["message_id"].as_str().unwrap()
    );
    for m in sent.values() {
        assert_eq!(m["attempts"], 1);
        assert_eq!(m["show_id"], show.as_str());
        assert_eq!(m["attachments"].as_array().unwrap().len(), 2);
        assert!(m["last_error"].is_null());
    }
    let ports: HashSet<u16> = relay.accepted().iter().map(|a| a.1).collect();
    assert_eq!(ports.len(), 1, "one connection carried the batch");

    let h = d.req("GET", "/api/health", None, None).body;
    assert_eq!(h["mail"]["state"], "up", "{h}");
    assert_eq!(h["mail"]["queued"], 0);
    assert_eq!(h["mail"]["sent"], 2);
    d.stop().unwrap();
}

#[test]
fn with_the_uplink_down_messages_wait_and_all_go_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = Daemon::start_custom(|c| {
        c.relay(port);
    });
    let host = d.login("host");
    let guests: Vec<Value> = (0..4)
        .map(|i| {
            guest(
                &format!("Guest {i}"),
                &format!("g{i}@example.org"),
                "es",
                "flor",
                "solar",
                "aire",
            )
        })
        .collect();
    let (_, fin) = finished_show(&req(&d), &host, &guests);
    assert_eq!(fin.status, 200, "{}", fin.body);

    // Nobody answers: the uplink is down, the messages wait, uncharged.
    let h = wait_for(10, "the uplink reported down", || {
        let h = d.req("GET", "/api/health", None, None).body;
        (h["mail"]["state"] == "down").then_some(h)
    });
    assert_eq!(h["mail"]["queued"], 4, "{h}");
    assert!(
        h["mail"]["last_error"]
            .as_str()
            .unwrap()
            .contains("connecting to 127.0.0.1"),
        "{h}"
    );
    assert!(h["mail"]["next_try_at"].is_string());
    let ob = outbox(&d, &host);
    assert_eq!(by_status(&ob, "queued"), 4);
    assert_eq!(ob.body["uplink"]["state"], "down");
    assert!(
        ob.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["attempts"] == 0)
    );

    // The uplink comes back: everything goes, without anyone asking.
    let relay = Relay::start(port, &dir.path().join("spool"), &[]);
    wait_for(20, "all four at the relay", || {
        (relay.accepted().len() == 4).then_some(())
    });
    wait_for(10, "all four marked sent", || {
        (by_status(&outbox(&d, &host), "sent") == 4).then_some(())
    });
    let to: HashSet<String> = relay
        .messages()
        .iter()
        .map(|r| {
            let m = MessageParser::default().parse(r).unwrap();
            m.to()
                .unwrap()
                .first()
                .unwrap()
                .address()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(to.len(), 4, "one message per guest");
    assert_eq!(
        d.req("GET", "/api/health", None, None).body["mail"]["state"],
        "up"
    );
    d.stop().unwrap();
}

#[test]
fn a_temporary_refusal_is_retried_and_then_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = Relay::start(port, &dir.path().join("spool"), &["--fail-first", "1"]);
    let d = Daemon::start_custom(|c| {
        c.relay(port);
    });
    let host = d.login("host");
    let (_, fin) = finished_show(
        &req(&d),
        &host,
        &[guest(
            "Ana",
            "ana@example.org",
            "en",
            "flor",
            "lunar",
            "tierra",
        )],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let id = fin.body["message_ids"][0].as_str().unwrap().to_string();
    let m = wait_for(20, "the message sent after a 451", || {
        let r = outbox(&d, &host);
        let m = r.body["items"][0].clone();
        (m["status"] == "sent").then_some(m)
    });
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["attempts"], 2, "{m}");
    assert_eq!(relay.accepted().len(), 1, "delivered once");
    d.stop().unwrap();
}

#[test]
fn a_permanent_refusal_fails_at_once_is_visible_and_is_not_retried_until_asked() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = Relay::start(
        port,
        &dir.path().join("spool"),
        &["--reject-domain", "gone.example"],
    );
    let d = Daemon::start_custom(|c| {
        c.relay(port);
    });
    let host = d.login("host");
    let (_, fin) = finished_show(
        &req(&d),
        &host,
        &[
            guest("Good", "good@example.org", "es", "flor", "lunar", "tierra"),
            guest(
                "Gone",
                "nobody@gone.example",
                "es",
                "flor",
                "lunar",
                "tierra",
            ),
        ],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let failed = wait_for(20, "one sent, one failed", || {
        let r = outbox(&d, &host);
        (by_status(&r, "sent") == 1 && by_status(&r, "failed") == 1).then_some(r)
    });
    let bad = failed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["status"] == "failed")
        .unwrap()
        .clone();
    assert_eq!(bad["to"], "nobody@gone.example");
    assert_eq!(bad["attempts"], 1);
    let err = bad["last_error"].as_str().unwrap();
    assert!(
        err.contains("550") && err.contains("Recipient address rejected"),
        "{err}"
    );
    assert_eq!(failed.body["counts"]["failed"], 1);
    assert_eq!(
        d.req("GET", "/api/health", None, None).body["mail"]["failed"],
        1
    );

    // Left alone, it is not tried again.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let offered = |r: &Relay| {
        r.rcpts()
            .iter()
            .filter(|a| a.ends_with("@gone.example"))
            .count()
    };
    assert_eq!(offered(&relay), 1);

    // The host can ask; a message that is not failed cannot be retried.
    let bad_id = bad["id"].as_str().unwrap();
    let r = d.post(&format!("/api/outbox/{bad_id}/retry"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "queued");
    wait_for(20, "the retry refused again", || {
        (offered(&relay) == 2).then_some(())
    });
    wait_for(10, "failed again", || {
        (d.get("/api/outbox?status=failed", &host).body["items"][0]["attempts"] == 2).then_some(())
    });
    let good_id = failed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["status"] == "sent")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = d.post(&format!("/api/outbox/{good_id}/retry"), &host, &Value::Null);
    assert_eq!((r.status, r.code()), (409, "mail_not_failed"));
    let r = d.post("/api/outbox/m_nope/retry", &host, &Value::Null);
    assert_eq!(r.status, 404);
    let r = d.get("/api/outbox?status=lost", &host);
    assert_eq!((r.status, r.field()), (422, Some("status")));
    let r = d.post("/api/outbox/flush", &host, &Value::Null);
    assert_eq!(r.status, 202);
    assert_eq!(r.body["queued"], 0);
    d.stop().unwrap();
}

#[test]
fn finish_is_refused_while_a_photo_waits_for_review_and_nothing_is_queued() {
    let d = Daemon::start();
    let (host, id) = common::running_show(&d, 2);
    for step in ["pose", "capture"] {
        let r = d.post(&format!("/api/shows/{id}/{step}"), &host, &Value::Null);
        assert!(r.status < 300, "{}", r.body);
    }
    let before = d.db_snapshot();
    let r = d.post(&format!("/api/shows/{id}/finish"), &host, &Value::Null);
    assert_eq!(
        (r.status, r.code()),
        (409, "photos_pending_review"),
        "{}",
        r.body
    );
    assert_eq!(d.db_snapshot(), before, "nothing written");
    let r = d.post("/api/shows/shw_nope/finish", &host, &Value::Null);
    assert_eq!(r.status, 404);
    d.stop().unwrap();
}

#[test]
fn the_file_transport_writes_each_message_as_an_eml_file() {
    let d = Daemon::start();
    let host = d.login("host");
    let (_, fin) = finished_show(
        &req(&d),
        &host,
        &[guest(
            "Eva",
            "eva@example.org",
            "es",
            "estrella",
            "solar",
            "fuego",
        )],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let id = fin.body["message_ids"][0].as_str().unwrap().to_string();
    let path = d.dir.path().join("data/mail").join(format!("{id}.eml"));
    wait_for(10, "the .eml file", || path.exists().then_some(()));
    check_message(
        &std::fs::read(&path).unwrap(),
        "eva@example.org",
        "Eva, tu viaje por COSMOS: Estrella · Fuego",
        &[
            "esencia de la estrella",
            "energía es solar",
            "elemento es el fuego",
        ],
        "essence",
    );
    wait_for(10, "marked sent", || {
        (by_status(&outbox(&d, &host), "sent") == 1).then_some(())
    });
    d.stop().unwrap();
}

/// A self-signed certificate for 127.0.0.1, written as PEM files.
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (dir.join("relay.pem"), dir.join("relay.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[test]
fn starttls_and_implicit_tls_with_a_trusted_certificate_and_a_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let password = dir.path().join("smtp-password");
    std::fs::write(&password, "s3cret\n").unwrap();
    for mode in ["starttls", "tls"] {
        let port = free_port();
        let spool = dir.path().join(format!("spool-{mode}"));
        let relay = Relay::start(
            port,
            &spool,
            &[
                "--tls",
                mode,
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--auth",
                "cosmos:s3cret",
            ],
        );
        let d = Daemon::start_custom(|c| {
            c.relay(port)
                .set("mail.tls", mode)
                .set("mail.username", "cosmos")
                .set("mail.password_file", password.display().to_string())
                .set("mail.ca_file", cert.display().to_string());
        });
        let host = d.login("host");
        let (_, fin) = finished_show(
            &req(&d),
            &host,
            &[guest(
                "Tea",
                "tea@example.org",
                "en",
                "flor",
                "lunar",
                "agua",
            )],
        );
        assert_eq!(fin.status, 200, "{}", fin.body);
        wait_for(20, &format!("delivery over {mode}"), || {
            (relay.accepted().len() == 1).then_some(())
        });
        d.stop().unwrap();
        relay.stop();
    }

    // Without the test's certificate trusted, the relay is not believed: nothing is sent
    // and the uplink says why.
    let port = free_port();
    let relay = Relay::start(
        port,
        &dir.path().join("spool-untrusted"),
        &[
            "--tls",
            "starttls",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let d = Daemon::start_custom(|c| {
        c.relay(port).set("mail.tls", "starttls");
    });
    let host = d.login("host");
    let (_, fin) = finished_show(
        &req(&d),
        &host,
        &[guest(
            "Una",
            "una@example.org",
            "en",
            "flor",
            "lunar",
            "agua",
        )],
    );
    assert_eq!(fin.status, 200);
    let h = wait_for(10, "the uplink down for TLS", || {
        let h = d.req("GET", "/api/health", None, None).body;
        (h["mail"]["state"] == "down").then_some(h)
    });
    let e = h["mail"]["last_error"].as_str().unwrap();
    assert!(
        e.contains("STARTTLS") && e.to_lowercase().contains("certificate"),
        "{e}"
    );
    assert!(relay.accepted().is_empty());
    d.stop().unwrap();
}

#[test]
fn kill_9_in_the_middle_of_a_batch_loses_nothing_and_duplicates_share_their_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = common::write_config(dir.path(), |c| {
        c.relay(port);
    });
    let p = common::Process::spawn(&config, &[]);
    let host = p.login("host", common::HOST_PIN);
    let call = |m: &str, path: &str, t: Option<&str>, b: Option<&Value>| p.req(m, path, t, b);
    let mut queued = Vec::new();
    for show in 0..2 {
        let guests: Vec<Value> = (0..4)
            .map(|i| {
                let n = show * 4 + i;
                guest(
                    &format!("G{n}"),
                    &format!("g{n}@example.org"),
                    "es",
                    "jaguar",
                    "lunar",
                    "agua",
                )
            })
            .collect();
        let (_, fin) = finished_show(&call, &host, &guests);
        assert_eq!(fin.status, 200, "{}", fin.body);
        queued.extend(fin.body["message_ids"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(queued.len(), 8);

    // The relay comes up slow (0.4 s per message); the daemon dies mid-batch.
    let relay = Relay::start(port, &dir.path().join("spool"), &["--delay-ms", "400"]);
    wait_for(30, "some messages through", || {
        (relay.accepted().len() >= 2).then_some(())
    });
    let mut p = p;
    p.child.kill().unwrap(); // SIGKILL
    p.child.wait().unwrap();
    let before = relay.accepted().len();
    assert!(
        before < 8,
        "the crash came mid-batch ({before} of 8 through)"
    );

    let p = common::Process::spawn(&config, &[]);
    let host = p.login("host", common::HOST_PIN);
    let ob = wait_for(60, "every message sent after the restart", || {
        let r = p.req("GET", "/api/outbox", Some(&host), None);
        (r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "sent"))
        .then_some(r)
    });
    let items = ob.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 8, "nothing lost, nothing added");
    let ids: HashSet<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(queued.iter().all(|q| ids.contains(q.as_str().unwrap())));
    let expected: HashMap<&str, &str> = items
        .iter()
        .map(|m| (m["message_id"].as_str().unwrap(), m["to"].as_str().unwrap()))
        .collect();

    // Every message reached the relay at least once; a resent one carries the same
    // Message-ID and goes to the same guest.
    let mut per_guest: HashMap<String, HashSet<String>> = HashMap::new();
    for raw in relay.messages() {
        let m = MessageParser::default().parse(&raw).unwrap();
        let mid = format!("<{}>", m.message_id().unwrap());
        let to = m
            .to()
            .unwrap()
            .first()
            .unwrap()
            .address()
            .unwrap()
            .to_string();
        assert_eq!(
            expected.get(mid.as_str()),
            Some(&to.as_str()),
            "{mid} is one of ours, to {to}"
        );
        per_guest.entry(to).or_default().insert(mid);
    }
    assert_eq!(per_guest.len(), 8, "every guest got their message");
    assert!(per_guest.values().all(|m| m.len() == 1), "{per_guest:?}");
    assert!(p.stop());
}

#[test]
fn a_relay_that_accepts_and_never_answers_is_timed_out_and_the_api_keeps_answering() {
    // A TCP listener that never says a word: the SMTP greeting never comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for s in silent.incoming().flatten() {
            keep.lock().unwrap().push(s);
        }
    });
    let d = Daemon::start_custom(|c| {
        c.relay(port).set("mail.timeout_seconds", 1);
    });
    let host = d.login("host");
    let (_, fin) = finished_show(
        &req(&d),
        &host,
        &[guest(
            "Ivo",
            "ivo@example.org",
            "es",
            "flor",
            "solar",
            "aire",
        )],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let h = wait_for(15, "the uplink down after the timeout", || {
        let h = d.req("GET", "/api/health", None, None).body;
        (h["mail"]["state"] == "down").then_some(h)
    });
    assert!(!held.lock().unwrap().is_empty(), "the sender did connect");
    assert_eq!(h["mail"]["queued"], 1);
    // While the sender waits on the silent relay, the API answers as usual.
    assert_eq!(d.get("/api/outbox", &host).status, 200);
    d.stop().unwrap();
}
