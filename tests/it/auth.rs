//! Sessions, roles and the login throttle.

use crate::common;
use crate::common::{Daemon, HOST_PIN, SHOW_CONTROL_TOKEN};
use serde_json::{Value, json};

/// Who may use each route, written out from API.md (not derived from the route table, so
/// a wrong table fails here). `P` = public.
const MATRIX: &[(&str, &str, &[&str])] = &[
    ("GET", "/api/health", &["P"]),
    ("GET", "/api/openapi.json", &["P"]),
    ("POST", "/api/session", &["P"]),
    (
        "DELETE",
        "/api/session",
        &["kiosk", "host", "technician", "show_control"],
    ),
    ("GET", "/api/questionnaire", &["P"]),
    ("POST", "/api/guests", &["kiosk", "host"]),
    ("GET", "/api/guests", &["host"]),
    ("GET", "/api/guests/{id}", &["host"]),
    ("PATCH", "/api/guests/{id}", &["host"]),
    ("DELETE", "/api/guests/{id}", &["host"]),
    ("POST", "/api/guests/{id}/cancel", &["host"]),
    ("POST", "/api/shows", &["host"]),
    ("GET", "/api/shows", &["host"]),
    ("GET", "/api/shows/{id}", &["host"]),
    ("PATCH", "/api/shows/{id}", &["host"]),
    ("POST", "/api/shows/{id}/cancel", &["host"]),
    ("POST", "/api/shows/{id}/start", &["host"]),
    ("POST", "/api/shows/{id}/pose", &["host"]),
    (
        "POST",
        "/api/shows/{id}/spontaneous",
        &["show_control", "host"],
    ),
    ("POST", "/api/shows/{id}/capture", &["host"]),
    ("POST", "/api/shows/{id}/finish", &["host"]),
    ("GET", "/api/outbox", &["host"]),
    ("POST", "/api/outbox/{id}/retry", &["host"]),
    ("POST", "/api/outbox/flush", &["host"]),
    ("POST", "/api/outbox/{id}/resend", &["host"]),
    ("GET", "/api/alerts", &["host", "technician"]),
    ("POST", "/api/alerts/{id}/ack", &["host", "technician"]),
    ("GET", "/api/stats", &["host", "technician"]),
    ("GET", "/api/events", &["kiosk", "host"]),
    ("GET", "/api/camera/liveview", &["host"]),
    ("POST", "/api/camera/check", &["host", "technician"]),
    ("GET", "/api/camera/check/frame", &["host", "technician"]),
    // "L": open without a token from loopback (where the tests run); a token is checked.
    ("GET", "/metrics", &["technician", "L"]),
    ("GET", "/api/shows/next-start", &["host"]),
    ("GET", "/api/photos/{id}", &["host"]),
    ("GET", "/api/photos/{id}/preview", &["host"]),
    ("GET", "/api/photos/{id}/email", &["host"]),
    ("GET", "/api/photos/{id}/original", &["host"]),
    ("POST", "/api/photos/{id}/approve", &["host"]),
    ("DELETE", "/api/photos/{id}", &["host"]),
];

#[test]
fn every_route_checks_the_role_matrix() {
    let mut routed: Vec<(&str, &str)> = cosmosd::api::ROUTES
        .iter()
        .map(|r| (r.method, r.path))
        .collect();
    let mut expected: Vec<(&str, &str)> = MATRIX.iter().map(|(m, p, _)| (*m, *p)).collect();
    routed.sort();
    expected.sort();
    assert_eq!(
        routed, expected,
        "the matrix must list exactly the served routes"
    );

    let d = Daemon::start();
    for (method, path, allowed) in MATRIX {
        let path = path.replace("{id}", "x_missing");
        // Allowed callers of the event stream get a 422 for the bad resume point instead
        // of a stream that never ends.
        let path = if path == "/api/events" {
            "/api/events?last_event_id=x".to_string()
        } else {
            path
        };
        let body = json!({});
        // Allowed callers of live view get 409 `liveview_busy` while another viewer
        // watches, instead of a stream that runs for a minute.
        let _viewer = (path == "/api/camera/liveview").then(|| {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(d.addr).unwrap();
            let token = d.login("host");
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .unwrap();
            let mut head = [0u8; 12];
            s.read_exact(&mut head).unwrap();
            assert_eq!(&head, b"HTTP/1.1 200", "the first viewer is let in");
            s
        });
        for role in [
            None,
            Some("kiosk"),
            Some("host"),
            Some("technician"),
            Some("show_control"),
        ] {
            // a fresh token each time: DELETE /api/session revokes the one it is called with
            let token = role.map(|r| d.login(r));
            let r = d.req(method, &path, token.as_deref(), Some(&body));
            let public = allowed.contains(&"P") || (allowed.contains(&"L") && role.is_none());
            let ok = public || role.is_some_and(|r| allowed.contains(&r));
            let who = role.unwrap_or("nobody");
            if ok {
                assert!(
                    ![401, 403].contains(&r.status),
                    "{who} {method} {path}: {} {}",
                    r.status,
                    r.body
                );
            } else if role.is_none() {
                assert_eq!(r.status, 401, "{who} {method} {path}: {}", r.body);
                assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
            } else {
                assert_eq!(
                    (r.status, r.code()),
                    (403, "forbidden"),
                    "{who} {method} {path}: {}",
                    r.body
                );
            }
            assert!(r.status < 500, "{who} {method} {path}: {}", r.body);
        }
    }
}

#[test]
fn login_gives_a_token_that_expires_and_can_be_revoked() {
    let d = Daemon::start();
    let r = d.req(
        "POST",
        "/api/session",
        None,
        Some(&json!({"role": "host", "pin": HOST_PIN})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body["role"], "host");
    let token = r.body["token"].as_str().unwrap().to_string();
    let expires =
        chrono::DateTime::parse_from_rfc3339(r.body["expires_at"].as_str().unwrap()).unwrap();
    let hours =
        (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!(
        (11.9..=12.0).contains(&hours),
        "host sessions last 12 h by default, got {hours}"
    );
    let kiosk = d.req(
        "POST",
        "/api/session",
        None,
        Some(&json!({"role": "kiosk", "pin": common::KIOSK_PIN})),
    );
    let kexp =
        chrono::DateTime::parse_from_rfc3339(kiosk.body["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        (kexp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days() >= 89,
        "kiosks stay paired"
    );

    assert_eq!(d.get("/api/guests", &token).status, 200);
    assert_eq!(
        d.req("DELETE", "/api/session", Some(&token), None).status,
        204
    );
    let r = d.get("/api/guests", &token);
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
    let r = d.get("/api/guests", "not-a-token");
    assert_eq!((r.status, r.code()), (401, "invalid_token"));

    // the token is not stored in the clear
    let db = std::fs::read(d.db_path()).unwrap();
    let wal = std::fs::read(d.db_path().with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

#[test]
fn wrong_pins_are_refused_and_then_throttled() {
    let d = Daemon::start(); // max_failed_logins = 3
    let login = |role: &str, pin: &str| {
        d.req(
            "POST",
            "/api/session",
            None,
            Some(&json!({"role": role, "pin": pin})),
        )
    };
    let r = login("host", "0000");
    assert_eq!((r.status, r.code()), (401, "bad_credentials"));
    assert_eq!(
        login("kiosk", HOST_PIN).status,
        401,
        "a PIN is only good for its own role"
    );
    assert_eq!(login("technician", "guess").status, 401);
    let r = login("host", HOST_PIN);
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_attempts"),
        "locked out, even with the right PIN"
    );
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let r = login("role", "x");
    assert_eq!((r.status, r.field()), (422, Some("role")));
    let r = d.req("POST", "/api/session", None, Some(&json!({"role": "host"})));
    assert_eq!((r.status, r.field()), (422, Some("pin")));
}

#[test]
fn the_show_control_token_is_a_bearer_credential_of_its_own() {
    let d = Daemon::start();
    let r = d.get("/api/guests", SHOW_CONTROL_TOKEN);
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden"),
        "show control is known but not a host"
    );
    // The configured token is not a session: logging it out would be a lie.
    let r = d.req("DELETE", "/api/session", Some(SHOW_CONTROL_TOKEN), None);
    assert_eq!((r.status, r.code()), (409, "not_a_session"), "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("auth.show_control_token")
    );
    assert_eq!(
        d.get("/api/guests", SHOW_CONTROL_TOKEN).status,
        403,
        "still the show-control credential it was"
    );
    let token = d.login("show_control");
    assert_eq!(
        d.req(
            "POST",
            "/api/shows/x/start",
            Some(&token),
            Some(&Value::Null)
        )
        .status,
        403
    );
}
