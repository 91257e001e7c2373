//! Guests and the waitlist over the real API.

use crate::common;
use crate::common::{Daemon, guest_body};
use serde_json::json;

#[test]
fn a_kiosk_registers_and_the_host_sees_the_waitlist_oldest_first() {
    let d = Daemon::start();
    let kiosk = d.login("kiosk");
    let host = d.login("host");
    let a = d.add_guest(&kiosk, "Ana", "ana@example.org");
    let b = d.add_guest(&kiosk, "Bruno", "bruno@example.org");
    let c = d.add_guest(&host, "Carla", "carla@example.org"); // the host may do what a kiosk may

    let r = d.get("/api/guests?status=waiting", &host);
    assert_eq!(r.status, 200);
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str(), c.as_str()]);

    let g = d.get(&format!("/api/guests/{a}"), &host);
    assert_eq!(g.status, 200);
    assert_eq!(g.body["name"], "Ana");
    assert_eq!(g.body["status"], "waiting");
    assert_eq!(g.body["language"], "en");
    assert_eq!(g.body["element"], "fuego");
    // RFC 3339 with an offset
    let created = g.body["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );

    assert_eq!(
        d.get("/api/guests", &kiosk).status,
        403,
        "a kiosk may not read the waitlist"
    );
}

#[test]
fn questionnaire_fields_are_validated_and_named() {
    let d = Daemon::start();
    let kiosk = d.login("kiosk");
    let before = d.db_snapshot();
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"email": "not-an-address"}), "email"),
        (json!({"energy": "stellar"}), "energy"),
        (json!({"element": "metal"}), "element"),
        (json!({"essence": "dragón"}), "essence"),
        (json!({"language": "fr"}), "language"),
        (json!({"consent": false}), "consent"),
        (json!({"consent": null}), "consent"),
        (json!({"consent": "yes"}), "consent"),
        (json!({"name": 42}), "name"),
        (json!({"favourite_colour": "blue"}), "favourite_colour"),
    ];
    for (patch, field) in cases {
        let mut body = guest_body("Ana", "ana@example.org");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = d.post("/api/guests", &kiosk, &body);
        assert_eq!(r.status, 422, "{field}: {}", r.body);
        assert_eq!(r.field(), Some(field), "{}", r.body);
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }
    for missing in ["name", "email", "energy", "element", "essence", "consent"] {
        let mut body = guest_body("Ana", "ana@example.org");
        body.as_object_mut().unwrap().remove(missing);
        let r = d.post("/api/guests", &kiosk, &body);
        assert_eq!((r.status, r.field()), (422, Some(missing)), "{}", r.body);
    }
    assert_eq!(d.db_snapshot(), before, "a refused guest leaves no trace");
}

#[test]
fn english_aliases_and_default_language_are_accepted() {
    let d = Daemon::start();
    let kiosk = d.login("kiosk");
    let r = d.post(
        "/api/guests",
        &kiosk,
        &json!({"name": "  Zoë  ", "email": "zoe@example.org", "energy": "LUNAR",
                "element": "earth", "essence": "colibrí", "consent": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "Zoë");
    assert_eq!(r.body["element"], "tierra");
    assert_eq!(r.body["energy"], "lunar");
    assert_eq!(r.body["language"], "es");
}

#[test]
fn the_same_email_may_not_wait_twice() {
    let d = Daemon::start();
    let kiosk = d.login("kiosk");
    let host = d.login("host");
    let a = d.add_guest(&kiosk, "Ana", "ana@example.org");
    let r = d.post(
        "/api/guests",
        &kiosk,
        &guest_body("Ana again", "ANA@example.org"),
    );
    assert_eq!(
        (r.status, r.code(), r.field()),
        (409, "duplicate_waiting_email", Some("email"))
    );
    // once she is no longer waiting, the address may register again
    assert_eq!(
        d.post(&format!("/api/guests/{a}/cancel"), &host, &json!({}))
            .status,
        200
    );
    assert_eq!(
        d.post(
            "/api/guests",
            &kiosk,
            &guest_body("Ana again", "ana@example.org")
        )
        .status,
        201
    );
}

#[test]
fn the_host_corrects_and_cancels_guests() {
    let d = Daemon::start();
    let host = d.login("host");
    let a = d.add_guest(&host, "Ana", "ana@exmaple.org");
    let b = d.add_guest(&host, "Bruno", "bruno@example.org");
    let path = format!("/api/guests/{a}");

    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"email": "ana@example.org", "name": "Ana M."})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["email"].as_str(), r.body["name"].as_str()),
        (Some("ana@example.org"), Some("Ana M."))
    );

    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"email": "broken"})),
    );
    assert_eq!((r.status, r.field()), (422, Some("email")));
    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"email": "BRUNO@example.org"})),
    );
    assert_eq!((r.status, r.code()), (409, "duplicate_waiting_email"));
    let r = d.req("PATCH", &path, Some(&host), Some(&json!({})));
    assert_eq!((r.status, r.code()), (422, "empty_patch"));

    // in a show: cannot be cancelled
    let s = d.post(
        "/api/shows",
        &host,
        &json!({"start_time": common::in_minutes(5), "guest_ids": [b]}),
    );
    assert_eq!(s.status, 201, "{}", s.body);
    let r = d.post(&format!("/api/guests/{b}/cancel"), &host, &json!({}));
    assert_eq!((r.status, r.code()), (409, "guest_in_show"));

    let cancel = format!("{path}/cancel");
    let r = d.post(&cancel, &host, &json!({}));
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("cancelled"))
    );
    let r = d.post(&cancel, &host, &json!({}));
    assert_eq!(r.status, 409, "cancelling twice is a conflict");
    // A cancelled guest is no longer corrected; the code names why.
    let r = d.req("PATCH", &path, Some(&host), Some(&json!({"name": "Ana"})));
    assert_eq!((r.status, r.code()), (409, "guest_cancelled"));
    // Cancelled is not erased: the guest is still there for the host.
    assert_eq!(d.get(&path, &host).status, 200);
    assert_eq!(
        d.req("GET", "/api/guests/gst_nope", Some(&host), None)
            .status,
        404
    );
    let waiting = d.get("/api/guests?status=waiting", &host);
    assert_eq!(waiting.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        d.get("/api/guests?status=sleeping", &host).field(),
        Some("status")
    );
}

#[test]
fn the_questionnaire_lists_the_choices_with_display_names() {
    let d = Daemon::start();
    let r = d.req("GET", "/api/questionnaire", None, None);
    assert_eq!(r.status, 200);
    let ids = |k: &str| -> Vec<String> {
        r.body[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("energies"), ["lunar", "solar"]);
    assert_eq!(ids("elements"), ["agua", "fuego", "tierra", "aire"]);
    assert_eq!(ids("languages"), ["es", "en"]);
    let essences = ids("essences");
    for e in ["guerrero", "flor", "colibrí"] {
        assert!(essences.contains(&e.to_string()), "{essences:?}");
    }
    assert_eq!(r.body["elements"][0]["name"]["en"], "Water");
}

#[test]
fn a_venue_configures_its_own_essences() {
    // The venue's mail templates need a sentence for every essence it offers.
    let templates = tempfile::tempdir().unwrap();
    cosmosd::outbox::templates::write_defaults(templates.path()).unwrap();
    for (lang, text) in [("es", "Elegiste la luna."), ("en", "You chose the moon.")] {
        let path = templates.path().join(format!("content.{lang}.toml"));
        let content = std::fs::read_to_string(&path).unwrap();
        let content = content.replace("[essence]\n", &format!("[essence]\nluna = \"{text}\"\n"));
        std::fs::write(&path, content).unwrap();
    }
    let d = Daemon::start_custom(|c| {
        c.templates_dir(templates.path()).set_toml(
            "questionnaire.essences",
            r#"[{id = "luna", es = "Luna", en = "Moon"}]"#,
        );
    });
    let kiosk = d.login("kiosk");
    let mut body = guest_body("Ana", "ana@example.org");
    assert_eq!(
        d.post("/api/guests", &kiosk, &body).field(),
        Some("essence"),
        "guerrero is not offered here"
    );
    body["essence"] = json!("luna");
    assert_eq!(d.post("/api/guests", &kiosk, &body).status, 201);
}

#[test]
fn a_guest_is_erased_on_request_with_their_messages_and_bytes() {
    let d = Daemon::start();
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&serde_json::Value>| d.req(m, p, t, b);
    let (show, fin) = common::finished_show(
        &req,
        &host,
        &[guest_body("Zephyrina Quux", "zephyrina@example.org")],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let guest = fin.body["guests"][0]["id"].as_str().unwrap().to_string();
    let message = fin.body["message_ids"][0].as_str().unwrap().to_string();
    let path = format!("/api/guests/{guest}");
    // Sent first, so the file transport's copy is there to be removed too.
    common::wait_for(20, "the message to be sent", || {
        let o = d.get("/api/outbox?status=sent", &host);
        (o.body["items"].as_array()?.len() == 1).then_some(())
    });
    let mail_dir = d.db_path().parent().unwrap().join("mail");
    assert!(mail_dir.join(format!("{message}.eml")).exists());

    let r = d.req("DELETE", &path, Some(&host), None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(d.get(&path, &host).status, 404);
    assert_eq!(d.req("DELETE", &path, Some(&host), None).status, 404);
    let outbox = d.get("/api/outbox", &host);
    assert!(
        !outbox.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == message.as_str()),
        "their message is gone: {}",
        outbox.body
    );
    let s = d.get(&format!("/api/shows/{show}"), &host);
    assert_eq!(s.body["guests"].as_array().unwrap().len(), 0);
    assert!(!mail_dir.join(format!("{message}.eml")).exists());
    // No copy of their name or address is left in the database or the mail folder.
    let data = d.db_path().parent().unwrap().to_path_buf();
    for entry in walk(&data) {
        let bytes = std::fs::read(&entry).unwrap();
        for needle in ["Zephyrina", "zephyrina@example.org"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is still in {}",
                entry.display()
            );
        }
    }
}

#[test]
fn a_guest_in_the_show_in_the_room_is_not_erased() {
    let d = Daemon::start();
    let (host, show) = common::running_show(&d, 2);
    let s = d.get(&format!("/api/shows/{show}"), &host);
    let guest = s.body["guests"][0]["id"].as_str().unwrap().to_string();
    let r = d.req("DELETE", &format!("/api/guests/{guest}"), Some(&host), None);
    assert_eq!((r.status, r.code()), (409, "guest_in_running_show"));
    assert_eq!(d.get(&format!("/api/guests/{guest}"), &host).status, 200);
    // Cancelling is refused as well while they are in an active show.
    let r = d.post(&format!("/api/guests/{guest}/cancel"), &host, &json!({}));
    assert_eq!((r.status, r.code()), (409, "guest_in_show"));

    // Out of a scheduled show, erasing takes them off its roster.
    let a = d.add_guest(&host, "Ana", "ana@example.org");
    let later = d.post(
        "/api/shows",
        &host,
        &json!({"start_time": common::in_minutes(120), "guest_ids": [a]}),
    );
    assert_eq!(later.status, 201, "{}", later.body);
    let r = d.req("DELETE", &format!("/api/guests/{a}"), Some(&host), None);
    assert_eq!(r.status, 204, "{}", r.body);
    let s = d.get(
        &format!("/api/shows/{}", later.body["id"].as_str().unwrap()),
        &host,
    );
    assert_eq!(s.body["status"], "cancelled", "{}", s.body);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let (p, t) = (e.path(), e.file_type().unwrap());
        if t.is_dir() {
            out.extend(walk(&p));
        } else if t.is_file() {
            out.push(p); // not the front door's Unix socket
        }
    }
    out
}

/// A Wi-Fi blip during "Enviar": the kiosk sends the same request again with the same
/// `Idempotency-Key` and gets the guest it already made, never a duplicate or a 409.
#[test]
fn a_repeated_idempotency_key_answers_the_same_guest() {
    let d = Daemon::start();
    let kiosk = d.login("kiosk");
    let host = d.login("host");
    let key = [("Idempotency-Key", "3b1f6c1e-0d1a-4c55-9a57-5d1c2a0e7f10")];
    let body = guest_body("Lucía Pérez", "lucia.perez@example.org");

    let first = d.post_with("/api/guests", &kiosk, &body, &key);
    assert_eq!(first.status, 201, "{}", first.body);
    let again = d.post_with("/api/guests", &kiosk, &body, &key);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.body["email"], "lucia.perez@example.org");
    // The same answers written differently (order of the fields) are the same request.
    let mut reordered = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let r = d.post_with(
        "/api/guests",
        &kiosk,
        &serde_json::Value::Object(reordered),
        &key,
    );
    assert_eq!((r.status, &r.body["id"]), (200, &first.body["id"]));

    // Without the key the same questionnaire is the duplicate it always was.
    let dup = d.post("/api/guests", &kiosk, &body);
    assert_eq!(
        (dup.status, dup.code()),
        (409, "duplicate_waiting_email"),
        "{}",
        dup.body
    );

    // The same key with other answers is refused, naming the header; nothing is written.
    let before = d.db_snapshot();
    let other = d.post_with(
        "/api/guests",
        &kiosk,
        &guest_body("Sam", "sam@example.org"),
        &key,
    );
    assert_eq!(other.status, 422, "{}", other.body);
    assert_eq!(other.code(), "idempotency_key_reused");
    assert_eq!(other.field(), Some("Idempotency-Key"));
    assert_eq!(d.db_snapshot(), before);

    // A bad key is named too.
    let long = "k".repeat(256);
    for bad in ["   ", long.as_str()] {
        let r = d.post_with("/api/guests", &kiosk, &body, &[("Idempotency-Key", bad)]);
        assert_eq!(
            (r.status, r.field()),
            (422, Some("Idempotency-Key")),
            "{}",
            r.body
        );
    }

    // A fresh key is a fresh registration.
    let sam = d.post_with(
        "/api/guests",
        &kiosk,
        &guest_body("Sam", "sam@example.org"),
        &[("Idempotency-Key", "another-key")],
    );
    assert_eq!(sam.status, 201, "{}", sam.body);

    // Once the host has moved the guest on, a late repeat still answers that guest, as
    // they are now, not a new one.
    let cancelled = d.post(
        &format!("/api/guests/{}/cancel", first.body["id"].as_str().unwrap()),
        &host,
        &json!({}),
    );
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let late = d.post_with("/api/guests", &kiosk, &body, &key);
    assert_eq!(
        (late.status, &late.body["status"]),
        (200, &json!("cancelled"))
    );
    let all = d.get("/api/guests", &host);
    assert_eq!(
        all.body["items"].as_array().unwrap().len(),
        2,
        "{}",
        all.body
    );

    // The served document names the header.
    let doc = d.req("GET", "/api/openapi.json", None, None);
    let params = &doc.body["paths"]["/api/guests"]["post"]["parameters"];
    assert!(
        params.as_array().is_some_and(|ps| ps
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")),
        "{params}"
    );
}

/// Keys live a day: the daily purge forgets older ones, and a key from yesterday's
/// guest makes a new registration instead of answering an old one.
#[test]
fn idempotency_keys_are_forgotten_after_a_day() {
    let d = Daemon::start();
    let kiosk = d.login("kiosk");
    let key = [("Idempotency-Key", "yesterday")];
    let first = d.post_with(
        "/api/guests",
        &kiosk,
        &guest_body("Ana", "ana@example.org"),
        &key,
    );
    assert_eq!(first.status, 201);
    // Age the key by 25 hours, as if it were used yesterday.
    {
        let c = rusqlite::Connection::open(d.db_path()).unwrap();
        c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        let n = c
            .execute(
                "UPDATE registration_keys SET created_at = created_at - 25 * 3600 * 1000",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let d = d.restart();
    // The start-up purge ran; the key is gone from the database.
    let left = common::wait_for(20, "the start-up purge", || {
        let c = rusqlite::Connection::open(d.db_path()).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM registration_keys", [], |r| r.get(0))
            .unwrap();
        (n == 0).then_some(n)
    });
    assert_eq!(left, 0);
    let r = d.post_with(
        "/api/guests",
        &kiosk_token(&d),
        &guest_body("Bea", "bea@example.org"),
        &key,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_ne!(r.body["id"], first.body["id"]);
}

fn kiosk_token(d: &Daemon) -> String {
    d.login("kiosk")
}
