//! `GET /api/events`: Server-Sent Events over a real socket — role-appropriate content,
//! keep-alive, catching up after a reconnect, no guest data in the stream.

use crate::common;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Daemon, guest_body};
use serde_json::{Value, json};

/// An open event stream and everything read from it so far.
struct Stream {
    sock: TcpStream,
    text: String,
}

impl Stream {
    fn open(d: &Daemon, auth: &str, extra_headers: &str) -> Stream {
        let mut sock = TcpStream::connect(d.addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let (path, header) = match auth.strip_prefix("?") {
            Some(q) => (format!("/api/events?{q}"), String::new()),
            None => (
                "/api/events".to_string(),
                format!("Authorization: Bearer {auth}\r\n"),
            ),
        };
        write!(
            sock,
            "GET {path} HTTP/1.1\r\nHost: x\r\n{header}{extra_headers}\r\n"
        )
        .unwrap();
        let mut s = Stream {
            sock,
            text: String::new(),
        };
        s.wait_for("\r\n\r\n", 5);
        assert!(s.text.starts_with("HTTP/1.1 200"), "{}", s.text);
        assert!(s.text.contains("text/event-stream"), "{}", s.text);
        s
    }

    /// Reads until `needle` has been seen (panics after `secs`).
    fn wait_for(&mut self, needle: &str, secs: u64) {
        self.wait_count(needle, 1, secs);
    }

    /// Reads until `needle` occurs `n` times (panics after `secs`).
    fn wait_count(&mut self, needle: &str, n: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut buf = [0u8; 4096];
        while self.text.matches(needle).count() < n {
            assert!(
                Instant::now() < deadline,
                "fewer than {n} {needle:?} in:\n{}",
                self.text
            );
            match self.sock.read(&mut buf) {
                Ok(0) => panic!("stream closed; got:\n{}", self.text),
                Ok(n) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
    }

    /// The (id, event) pairs received so far.
    fn events(&self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for block in self.text.split("\n\n") {
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|v| v.parse().ok());
            let ev = block.lines().find_map(|l| l.strip_prefix("event: "));
            if let (Some(id), Some(ev)) = (id, ev) {
                out.push((id, ev.to_string()));
            }
        }
        out
    }
}

fn fast_keepalive(c: &mut crate::common::TestConfig) {
    c.events_keepalive(1);
}

#[test]
fn each_role_gets_its_events_live_and_never_a_guests_data() {
    let d = Daemon::start_custom(fast_keepalive);
    let host = d.login("host");
    let kiosk = d.login("kiosk");
    let mut hs = Stream::open(&d, &host, "");
    // EventSource cannot send headers: kiosks use ?token=.
    let mut ks = Stream::open(&d, &format!("?token={kiosk}"), "");

    let g = d.post(
        "/api/guests",
        &kiosk,
        &guest_body("Zoë Secret", "zoe.secret@example.org"),
    );
    assert_eq!(g.status, 201);
    hs.wait_for("event: waitlist", 5);
    ks.wait_for("event: waitlist", 5);
    let s = d.post(
        "/api/shows",
        &host,
        &json!({"start_time": common::in_minutes(1), "guest_ids": [g.body["id"]]}),
    );
    assert_eq!(s.status, 201);
    hs.wait_for("event: show", 5);
    // The same change also moved the waitlist: the kiosk hears that, and only that.
    let n = ks.events().len();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ks.events().len() == n {
        assert!(
            Instant::now() < deadline,
            "kiosk missed the waitlist change"
        );
        ks.wait_for("\n\n", 1);
        ks.wait_for(": keep-alive", 3);
    }
    assert!(
        ks.events().iter().all(|(_, e)| e == "waitlist"),
        "{}",
        ks.text
    );

    // A photo taken by the daemon's own timer path reaches the host.
    let id = s.body["id"].as_str().unwrap();
    assert_eq!(
        d.post(&format!("/api/shows/{id}/start"), &host, &Value::Null)
            .status,
        200
    );
    assert_eq!(
        d.post(&format!("/api/shows/{id}/spontaneous"), &host, &Value::Null)
            .status,
        201
    );
    hs.wait_for("event: photo", 10);

    // Quiet streams get keep-alives.
    hs.wait_for(": keep-alive", 5);
    for s in [&hs.text, &ks.text] {
        assert!(
            !s.contains("Zoë") && !s.contains("zoe.secret"),
            "guest data in a stream:\n{s}"
        );
    }
    d.stop().unwrap();
}

#[test]
fn a_reconnecting_client_catches_up_and_a_stale_one_is_told_to_reset() {
    let d = Daemon::start_custom(fast_keepalive);
    let host = d.login("host");
    let kiosk = d.login("kiosk");
    let mut hs = Stream::open(&d, &host, "");
    d.post("/api/guests", &kiosk, &guest_body("A", "a@example.org"));
    hs.wait_for("event: waitlist", 5);
    let last = hs.events().last().unwrap().0;
    drop(hs);

    // Missed while away: two registrations.
    d.post("/api/guests", &kiosk, &guest_body("B", "b@example.org"));
    d.post("/api/guests", &kiosk, &guest_body("C", "c@example.org"));
    let mut again = Stream::open(&d, &host, &format!("Last-Event-ID: {last}\r\n"));
    again.wait_for(&format!("id: {}", last + 2), 5);
    let ids: Vec<u64> = again.events().iter().map(|e| e.0).collect();
    assert_eq!(ids, vec![last + 1, last + 2]);

    // An id this daemon never gave (from before a restart): start over.
    let mut stale = Stream::open(&d, &host, "Last-Event-ID: 999999\r\n");
    stale.wait_for("event: reset", 5);

    // Who may listen.
    let r = d.req("GET", "/api/events", None, None);
    assert_eq!(r.status, 401);
    let tech = d.login("technician");
    assert_eq!(d.req("GET", "/api/events", Some(&tech), None).status, 403);
    let r = d.req("GET", "/api/events?last_event_id=abc", Some(&host), None);
    assert_eq!((r.status, r.field()), (422, Some("last_event_id")));
    // Beyond int64 (the document's type) and empty are refused too, and a bad header is
    // refused even when the query gives a good id.
    for q in ["last_event_id=9223372036854775808", "last_event_id="] {
        let r = d.req("GET", &format!("/api/events?{q}"), Some(&host), None);
        assert_eq!((r.status, r.field()), (422, Some("last_event_id")), "{q}");
    }
    let (status, body) = d.raw(
        format!(
            "GET /api/events?last_event_id=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {host}\r\n\
             Last-Event-ID: {{}}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains(r#""field":"Last-Event-ID""#), "{body}");
    d.stop().unwrap();
}

/// Reads until the daemon closes the stream; false when it stays open `secs`.
fn closes_within(s: &mut Stream, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => s.text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    }
    false
}

#[test]
fn revoking_a_token_ends_its_open_streams_and_no_other() {
    // A keep-alive longer than the wait below: only the revocation can end the stream.
    let d = Daemon::start_custom(|c| {
        c.events_keepalive(60);
    });
    let revoked = d.login("host");
    let kept = d.login("host");
    let mut a = Stream::open(&d, &revoked, "");
    let mut b = Stream::open(&d, &kept, "");
    assert_eq!(
        d.req("DELETE", "/api/session", Some(&revoked), None).status,
        204
    );
    assert!(
        closes_within(&mut a, 5),
        "the revoked token's stream goes on:\n{}",
        a.text
    );
    assert!(
        !closes_within(&mut b, 1),
        "another token's stream must go on"
    );
    // The kept one still hears what happens.
    let host = d.login("host");
    d.add_guest(&host, "Guest R", "r@example.org");
    b.wait_for("event: waitlist", 5);
}

fn refused(d: &Daemon, token: &str) -> (u16, String) {
    let mut sock = TcpStream::connect(d.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        sock,
        "GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = sock.read_to_string(&mut text);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn one_token_cannot_take_every_stream_and_the_host_always_gets_one() {
    // A quick keep-alive: a client gone is noticed at the next write.
    let d = Daemon::start_custom(fast_keepalive);
    let kiosk = d.login("kiosk");
    let mut held: Vec<Stream> = (0..4).map(|_| Stream::open(&d, &kiosk, "")).collect();
    let (status, text) = refused(&d, &kiosk);
    assert_eq!(status, 429, "{text}");
    assert!(
        text.contains("too_many_streams_for_token") && text.contains("Retry-After"),
        "{text}"
    );
    // Other kiosks fill the streams up to the host's reserve.
    for _ in 0..6 {
        let k = d.login("kiosk");
        held.extend((0..4).map(|_| Stream::open(&d, &k, "")));
    }
    assert_eq!(held.len(), 28);
    let (status, text) = refused(&d, &d.login("kiosk"));
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("too_many_streams"), "{text}");
    // The host's console still gets its live updates.
    let host = d.login("host");
    let mut s = Stream::open(&d, &host, "");
    d.add_guest(&host, "Guest S", "s@example.org");
    s.wait_for("event: waitlist", 5);
    // A stream given back is a slot again (below the reserve: the host's stream counts too).
    drop(held.pop());
    drop(held.pop());
    crate::common::wait_until("the slot given back", || {
        let k = d.login("kiosk");
        let mut sock = TcpStream::connect(d.addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            sock,
            "GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {k}\r\n\r\n"
        )
        .unwrap();
        let mut buf = [0u8; 12];
        sock.read_exact(&mut buf).is_ok() && &buf == b"HTTP/1.1 200"
    });
}
