//! Every error code of API.md, and a flood of bad requests that must get only 4xx and
//! leave the database untouched.

use crate::common;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{Daemon, in_minutes};
use serde_json::json;

#[test]
fn every_error_code_of_the_contract() {
    let d = Daemon::start();
    let host = d.login("host");
    let kiosk = d.login("kiosk");
    let g = d.add_guest(&kiosk, "Ana", "ana@example.org");
    let g2 = d.add_guest(&kiosk, "Bea", "bea@example.org");
    let start = in_minutes(30);
    assert_eq!(
        d.post(
            "/api/shows",
            &host,
            &json!({"start_time": start, "guest_ids": [g]})
        )
        .status,
        201
    );
    let addr = d.addr;
    let auth = format!("Authorization: Bearer {host}\r\n");

    // 400 malformed
    let (s, body) = common::raw_request(
        addr,
        format!("POST /api/guests HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{,").as_bytes(),
    );
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("malformed_json"), "{body}");
    // 401, 403
    assert_eq!(d.req("GET", "/api/guests", None, None).status, 401);
    assert_eq!(d.get("/api/guests", &kiosk).status, 403);
    // 404
    assert_eq!(d.get("/api/nothing-here", &host).code(), "not_found");
    assert_eq!(d.get("/api/shows/shw_nope", &host).status, 404);
    // 405 with Allow
    let (s, body) = common::raw_request(
        addr,
        b"PUT /api/guests HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(s, 405);
    assert!(
        body.contains("Allow: GET, POST") || body.contains("Allow: POST, GET"),
        "{body}"
    );
    // 409
    let r = d.post(
        "/api/shows",
        &host,
        &json!({"start_time": start, "guest_ids": [g2]}),
    );
    assert_eq!((r.status, r.code()), (409, "show_overlap"));
    // 413, by Content-Length and by a chunked body that never says its length
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70_000));
    let (s, _) = common::raw_request(
        addr,
        format!("POST /api/guests HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}", big.len()).as_bytes(),
    );
    assert_eq!(s, 413);
    let chunk = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let (s, _) = common::raw_request(
        addr,
        format!("POST /api/guests HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}").as_bytes(),
    );
    assert_eq!(s, 413);
    // 415
    let (s, body) = common::raw_request(
        addr,
        format!("POST /api/guests HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").as_bytes(),
    );
    assert_eq!(s, 415, "{body}");
    let (s, _) = common::raw_request(
        addr,
        format!("POST /api/guests HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 2\r\nConnection: close\r\n\r\n{{}}").as_bytes(),
    );
    assert_eq!(s, 415, "no Content-Type is not JSON either");
    // 422
    assert_eq!(
        d.post("/api/guests", &kiosk, &json!({"name": "A"})).status,
        422
    );
    // 429 is proved in tests/it/auth.rs (wrong_pins_are_refused_and_then_throttled)
}

#[test]
fn a_flood_of_bad_requests_gets_only_4xx_and_changes_nothing() {
    let d = Daemon::start();
    let host = d.login("host");
    let kiosk = d.login("kiosk");
    let g = d.add_guest(&kiosk, "Ana", "ana@example.org");
    let before = d.db_snapshot();

    let mut statuses = Vec::new();
    let bodies = [
        "".to_string(),
        "{".to_string(),
        "null".to_string(),
        "[]".to_string(),
        "\"guest\"".to_string(),
        "{\"name\": {\"first\": \"A\"}}".to_string(),
        "{\"consent\": 1}".to_string(),
        "{\"start_time\": 5, \"guest_ids\": {}}".to_string(),
        format!(
            "{{\"start_time\": \"{}\", \"guest_ids\": [\"{g}\"], \"x\": 1}}",
            in_minutes(5)
        ),
        format!("{{\"guest_ids\": [\"{g}\", null]}}"),
        "{\"name\": \"\\ud800\"}".to_string(),
        "\u{feff}{}".to_string(),
        "{\"a\":".repeat(200),
        format!("{{\"name\": \"{}\"}}", "é".repeat(40_000)),
    ];
    let paths = [
        ("POST", "/api/guests".to_string()),
        ("POST", "/api/shows".to_string()),
        ("PATCH", format!("/api/guests/{g}")),
        ("PATCH", "/api/shows/shw_x".to_string()),
        ("POST", "/api/session".to_string()),
        ("POST", "/api/shows/shw_x/start".to_string()),
        ("DELETE", "/api/guests/gst_x".to_string()),
    ];
    let tokens = [
        None,
        Some("garbage".to_string()),
        Some(kiosk.clone()),
        Some(host.clone()),
    ];
    for (method, path) in &paths {
        for body in &bodies {
            for token in &tokens {
                for ct in [
                    "application/json",
                    "text/plain",
                    "application/json; charset=utf-8",
                    "",
                ] {
                    let mut req =
                        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
                    if let Some(t) = token {
                        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
                    }
                    if !ct.is_empty() {
                        req.push_str(&format!("Content-Type: {ct}\r\n"));
                    }
                    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
                    let (s, text) = d.raw(req.as_bytes());
                    assert!(
                        (400..500).contains(&s),
                        "{method} {path} {body:.40} {token:?} {ct}: {text:.300}"
                    );
                    statuses.push(s);
                }
            }
        }
    }
    // broken HTTP itself
    for junk in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /api/guests HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\nConnection: close\r\n\r\n",
        b"GET /api/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /api/guests?x=%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"GET /api/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let (s, text) = d.raw(junk);
        assert!(s == 0 || (400..500).contains(&s), "{}: {text:.200}", String::from_utf8_lossy(junk));
    }
    assert!(statuses.len() > 500);
    assert_eq!(d.db_snapshot(), before, "no refused request wrote anything");
    // and the daemon still serves
    assert_eq!(d.req("GET", "/api/health", None, None).status, 200);
}

#[test]
fn no_cors_headers_are_ever_sent() {
    let d = Daemon::start();
    let (_, text) = d.raw(b"OPTIONS /api/guests HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n");
    assert!(
        !text.to_ascii_lowercase().contains("access-control-"),
        "{text}"
    );
    let (s, text) = d.raw(b"GET /api/health HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n");
    assert_eq!(s, 200);
    assert!(
        !text.to_ascii_lowercase().contains("access-control-"),
        "{text}"
    );
}

#[test]
fn a_stalled_client_does_not_hold_the_only_worker() {
    // One worker, 2 s socket timeout: a client that promises a body and never sends it
    // must be dropped so the next tablet is served.
    let d = Daemon::start_custom(|c| {
        c.workers(1).io_timeout(2);
    });
    let token = d.login("kiosk");
    let mut stalled = TcpStream::connect(d.addr).unwrap();
    stalled
        .write_all(format!("POST /api/guests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{\"name\":").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (s, _) = d.raw(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(s, 200, "the worker was freed by the socket timeout");
    // the stalled request was answered (or dropped), never half-written
    assert_eq!(
        d.get("/api/guests", &d.login("host")).body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn the_server_keeps_accepting_after_idling_past_the_socket_timeout() {
    // Regression: the acceptor once died after idling past the socket timeout (tiny_http
    // ends its accept thread on any accept error). Today the door accepts, and nothing on
    // either side of it may stop accepting after a quiet while.
    let d = Daemon::start_custom(|c| {
        c.io_timeout(1);
    });
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1500));
        let (s, text) = d.raw(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(s, 200, "{text}");
    }
}

#[test]
fn a_busy_keep_alive_connection_survives_acceptor_renewals() {
    // A busy keep-alive connection is never cut: requests 400 ms apart keep it going for
    // six times the 1 s idle deadline (the door closes only a quiet connection).
    let d = Daemon::start_custom(|c| {
        c.io_timeout(1);
    });
    let token = d.login("host"); // the harness's agent keeps its connection alive
    let until = std::time::Instant::now() + Duration::from_secs(6);
    let mut n = 0;
    while std::time::Instant::now() < until {
        let r = d.get("/api/guests", &token);
        assert_eq!(r.status, 200, "request {n}: {:?} {}", r.headers, r.body);
        n += 1;
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(n > 10);
}
