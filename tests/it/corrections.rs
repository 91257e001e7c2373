//! Mistakes fixed after the show, through a real SMTP relay: a mistyped address corrected
//! after Finish takes the guest's unsent message with it, and the host sends a message
//! again (a new message to the current address, the old one kept as history).

use crate::common::{Daemon, Relay, Resp, finished_show, free_port, wait_for};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

fn req(d: &Daemon) -> impl Fn(&str, &str, Option<&str>, Option<&Value>) -> Resp + '_ {
    move |m, p, t, b| d.req(m, p, t, b)
}

fn guest(name: &str, email: &str, language: &str) -> Value {
    json!({"name": name, "email": email, "energy": "lunar", "element": "tierra",
           "essence": "flor", "language": language, "consent": true})
}

/// The outbox's messages to `guest_id`, oldest first.
fn messages_of(d: &Daemon, host: &str, guest_id: &str) -> Vec<Value> {
    let r = d.get("/api/outbox", host);
    assert_eq!(r.status, 200, "{}", r.body);
    let mut v: Vec<Value> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["guest_id"] == guest_id)
        .cloned()
        .collect();
    v.reverse();
    v
}

/// (To address, Message-ID, photo attachment names, text body) of each accepted message.
fn delivered(relay: &Relay) -> Vec<(String, String, Vec<String>, String)> {
    relay
        .messages()
        .iter()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).unwrap();
            let to = m
                .to()
                .unwrap()
                .first()
                .unwrap()
                .address()
                .unwrap()
                .to_string();
            let photos = m
                .attachments()
                .filter(|a| a.content_type().and_then(|c| c.subtype()) == Some("jpeg"))
                .map(|a| a.attachment_name().unwrap().to_string())
                .collect();
            (
                to,
                m.message_id().unwrap().to_string(),
                photos,
                m.body_text(0).unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_address_fixed_after_finish_takes_the_unsent_message_and_resend_makes_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let relay = Relay::start(
        port,
        &dir.path().join("spool"),
        &["--reject-domain", "gmial.com"],
    );
    let d = Daemon::start_custom(|c| {
        c.relay(port);
    });
    let host = d.login("host");
    let (show, fin) = finished_show(
        &req(&d),
        &host,
        &[
            guest("Lucía Pérez", "lucia.perez@gmial.com", "es"),
            guest("Tom Reed", "tom@example.org", "en"),
        ],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let shown = d.get(&format!("/api/shows/{show}"), &host);
    let ids: Vec<String> = shown.body["guests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    let (lucia, tom) = (&ids[0], &ids[1]);
    assert_eq!(
        d.get(&format!("/api/guests/{lucia}"), &host).body["email"],
        "lucia.perez@gmial.com"
    );
    // The relay refuses the typo for good; Tom's goes.
    let failed = wait_for(20, "Lucía's message failed", || {
        let m = messages_of(&d, &host, lucia);
        (m[0]["status"] == "failed").then_some(m[0].clone())
    });
    wait_for(20, "Tom's message sent", || {
        (messages_of(&d, &host, tom)[0]["status"] == "sent").then_some(())
    });
    // The refusal is an alert for the host (no address in it).
    let mail_alert = |d: &Daemon| {
        d.get("/api/alerts", &host).body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "mail_failing")
            .cloned()
    };
    let alert = wait_for(10, "the mail alert", || mail_alert(&d));
    assert!(!alert["message"].as_str().unwrap().contains('@'), "{alert}");

    // After Finish the host fixes the address: the failed message follows it ...
    let r = d.req(
        "PATCH",
        &format!("/api/guests/{lucia}"),
        Some(&host),
        Some(&json!({"email": "lucia.perez@gmail.com"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["email"].as_str(), r.body["status"].as_str()),
        (Some("lucia.perez@gmail.com"), Some("done"))
    );
    let m = &messages_of(&d, &host, lucia)[0];
    assert_eq!(m["id"], failed["id"], "the same message, not a new one");
    assert_eq!(m["to"], "lucia.perez@gmail.com");
    // ... and a sent one stays as it went out.
    let r = d.req(
        "PATCH",
        &format!("/api/guests/{tom}"),
        Some(&host),
        Some(&json!({"email": "tom.reed@example.org"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(messages_of(&d, &host, tom)[0]["to"], "tom@example.org");

    // Retried, the relay receives it at the corrected address.
    let id = failed["id"].as_str().unwrap();
    let r = d.post(&format!("/api/outbox/{id}/retry"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    wait_for(20, "Lucía's message at the relay", || {
        (relay.accepted().len() == 2).then_some(())
    });
    let got = delivered(&relay);
    assert_eq!(got[1].0, "lucia.perez@gmail.com");
    assert_eq!(
        got[1].1,
        failed["message_id"]
            .as_str()
            .unwrap()
            .trim_matches(['<', '>'])
    );
    wait_for(10, "marked sent", || {
        (messages_of(&d, &host, lucia)[0]["status"] == "sent").then_some(())
    });
    // A mail went out: the alert has cleared.
    assert!(
        mail_alert(&d).unwrap()["cleared_at"].is_string(),
        "{:?}",
        mail_alert(&d)
    );

    // Tom lost his mail: the host sends it again, to his current address.
    let old = messages_of(&d, &host, tom)[0].clone();
    let r = d.post(
        &format!("/api/outbox/{}/resend", old["id"].as_str().unwrap()),
        &host,
        &Value::Null,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let new = r.body.clone();
    assert_ne!(new["id"], old["id"]);
    assert_ne!(new["message_id"], old["message_id"]);
    assert_eq!(new["to"], "tom.reed@example.org");
    assert_eq!(new["status"], "queued");
    assert_eq!(new["resend_of"], old["id"]);
    assert_eq!(new["attachments"], old["attachments"], "the same photos");
    assert_eq!(
        (new["language"].as_str(), new["subject"].as_str()),
        (Some("en"), old["subject"].as_str())
    );
    wait_for(20, "the resent message at the relay", || {
        delivered(&relay)
            .iter()
            .any(|m| m.0 == "tom.reed@example.org")
            .then_some(())
    });
    let got = delivered(&relay);
    let first = got.iter().find(|m| m.0 == "tom@example.org").unwrap();
    let resent = got.iter().find(|m| m.0 == "tom.reed@example.org").unwrap();
    assert_ne!(first.1, resent.1, "a new Message-ID");
    assert_eq!(first.2, resent.2, "the same photos");
    assert_eq!(resent.2.len(), 2);
    assert_eq!(first.3, resent.3, "the same content, in English");
    assert!(resent.3.contains("Tom"), "{}", resent.3);
    // The old message is history, unchanged.
    let hist = messages_of(&d, &host, tom);
    let kept = hist.iter().find(|m| m["id"] == old["id"]).unwrap();
    assert_eq!(kept, &old);

    // Unknown message: 404. An erased guest's messages go with them: 404 as well.
    let r = d.post("/api/outbox/m_nope/resend", &host, &Value::Null);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = d.req("DELETE", &format!("/api/guests/{lucia}"), Some(&host), None);
    assert_eq!(r.status, 204);
    let r = d.post(&format!("/api/outbox/{id}/resend"), &host, &Value::Null);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = d.req(
        "PATCH",
        &format!("/api/guests/{lucia}"),
        Some(&host),
        Some(&json!({"name": "Lucía"})),
    );
    assert_eq!(r.status, 404, "an erased guest is gone");
    d.stop().unwrap();
}

#[test]
fn a_queued_message_is_not_sent_again_and_follows_a_corrected_address() {
    // No relay: the uplink is down, so the message stays queued.
    let port = free_port();
    let d = Daemon::start_custom(|c| {
        c.relay(port);
    });
    let host = d.login("host");
    let (show, fin) = finished_show(&req(&d), &host, &[guest("Ana", "ana@exmaple.org", "es")]);
    assert_eq!(fin.status, 200, "{}", fin.body);
    let gid = d.get(&format!("/api/shows/{show}"), &host).body["guests"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = messages_of(&d, &host, &gid)[0].clone();
    assert_eq!(m["status"], "queued");
    let r = d.post(
        &format!("/api/outbox/{}/resend", m["id"].as_str().unwrap()),
        &host,
        &Value::Null,
    );
    assert_eq!((r.status, r.code()), (409, "mail_queued"));
    let r = d.req(
        "PATCH",
        &format!("/api/guests/{gid}"),
        Some(&host),
        Some(&json!({"email": "ana@example.org"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let all = messages_of(&d, &host, &gid);
    assert_eq!(all.len(), 1, "no new message");
    assert_eq!(all[0]["to"], "ana@example.org");
    assert_eq!(all[0]["status"], "queued");

    // The relay comes up: it receives the message at the corrected address.
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(port, &dir.path().join("spool"), &[]);
    let r = d.post("/api/outbox/flush", &host, &Value::Null);
    assert_eq!(r.status, 202);
    wait_for(20, "the message at the relay", || {
        (relay.accepted().len() == 1).then_some(())
    });
    assert_eq!(delivered(&relay)[0].0, "ana@example.org");
    d.stop().unwrap();
}
