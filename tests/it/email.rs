//! The guest's email as a phone shows it: one multipart/related whose HTML shows each
//! photo inline by Content-ID (and names it, so it saves as an attachment), greets by first
//! name, ends with the venue's privacy footer, and stays inside a 390 px screen
//! (rendered in Debian's chromium by tests/browser/mail.mjs; screenshots in
//! `target/browser-screenshots/mail/`).

use std::collections::BTreeSet;

use crate::common::{Daemon, Resp, finished_show, run_node, screenshots, wait_for};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde_json::{Value, json};

/// A finished show of one guest with the file transport; the .eml's bytes.
fn one_message(d: &Daemon, name: &str, email: &str, language: &str) -> Vec<u8> {
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&Value>| -> Resp { d.req(m, p, t, b) };
    let g = json!({"name": name, "email": email, "energy": "lunar", "element": "agua",
                   "essence": "colibrí", "language": language, "consent": true});
    let (_, fin) = finished_show(&req, &host, &[g]);
    assert_eq!(fin.status, 200, "{}", fin.body);
    let id = fin.body["message_ids"][0].as_str().unwrap().to_string();
    let path = d.dir.path().join("data/mail").join(format!("{id}.eml"));
    wait_for(10, "the .eml file", || path.exists().then_some(()));
    std::fs::read(&path).unwrap()
}

/// Every `cid:` the HTML refers to.
fn cids(html: &str) -> BTreeSet<String> {
    html.split("cid:")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

#[test]
fn the_photos_are_inline_parts_the_html_shows_and_the_footer_says_how_long_data_is_kept() {
    let d = Daemon::start_custom(|c| {
        c.set("privacy.retention_days", 45);
    });
    let raw = one_message(&d, "  Lucía   Pérez ", "lucia@example.org", "es");
    let m = MessageParser::default().parse(&raw[..]).unwrap();

    // The top is multipart/related: text+HTML, the logo and the photos belong together.
    let ct = m.content_type().unwrap();
    assert_eq!(
        (ct.c_type.as_ref(), ct.subtype()),
        ("multipart", Some("related")),
        "{ct:?}"
    );
    let html = m.body_html(0).unwrap().to_string();
    let text = m.body_text(0).unwrap().to_string();
    assert!(
        html.contains("Hola, Lucía:"),
        "first name in the greeting:\n{html}"
    );
    assert!(text.starts_with("Hola, Lucía:"), "{text}");
    assert!(!html.contains("Lucía Pérez:"));
    assert!(html.contains("max-width:600px") && html.contains("width:100%"));
    assert!(
        !html.contains("width=\"600\" cellpadding"),
        "no fixed 600 px table"
    );
    for part in [&html, &text] {
        assert!(
            part.contains("45 días"),
            "retention days in the footer:\n{part}"
        );
        assert!(
            part.contains("privacidad@cosmos.example"),
            "the venue's contact"
        );
    }

    // Each cid the HTML shows is an inline part of this message; the photos carry a
    // file name too (mail programs offer them to save).
    let referenced = cids(&html);
    let mut parts = BTreeSet::new();
    let mut photos = Vec::new();
    for p in m.parts.iter() {
        if !matches!(p.body, PartType::Binary(_) | PartType::InlineBinary(_)) {
            continue;
        }
        let id = p
            .content_id()
            .expect("every image part has a Content-ID")
            .to_string();
        let disposition = p.content_disposition().expect("a disposition");
        assert_eq!(disposition.c_type.as_ref(), "inline", "{id}");
        if id.starts_with("photo-") {
            let img = image::load_from_memory(p.contents()).expect("a JPEG");
            assert_eq!(img.width().max(img.height()), 2048, "the email-size JPEG");
            photos.push((id.clone(), p.attachment_name().map(str::to_string)));
        }
        parts.insert(id);
    }
    assert_eq!(
        referenced, parts,
        "the HTML shows exactly the message's inline parts"
    );
    assert_eq!(
        photos,
        vec![
            (
                "photo-1@cosmos".to_string(),
                Some("cosmos-1.jpg".to_string())
            ),
            (
                "photo-2@cosmos".to_string(),
                Some("cosmos-2.jpg".to_string())
            ),
        ]
    );
    d.stop().unwrap();
}

#[test]
fn the_email_fits_a_390_px_phone_and_a_1024_px_screen_in_chromium() {
    let d = Daemon::start();
    let raw = one_message(&d, "Sam O'Neil", "sam@example.org", "en");
    let m = MessageParser::default().parse(&raw[..]).unwrap();
    // The HTML as a mail program shows it: each cid: points at the part's bytes.
    let dir = tempfile::tempdir().unwrap();
    let mut html = m.body_html(0).unwrap().to_string();
    for p in m.parts.iter() {
        if let Some(id) = p.content_id() {
            let file = id.replace(['@', '.'], "_");
            std::fs::write(dir.path().join(&file), p.contents()).unwrap();
            html = html.replace(&format!("cid:{id}"), &file);
        }
    }
    assert!(!html.contains("cid:"), "every cid resolved");
    let page = dir.path().join("mail.html");
    std::fs::write(&page, html).unwrap();
    let page = page.to_string_lossy();
    run_node("mail.mjs", &[&page, &screenshots("mail")]);
    d.stop().unwrap();
}
