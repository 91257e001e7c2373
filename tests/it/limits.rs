//! Request limits at the door (issue 16) and the slowloris regression: one address
//! hammering before login waits (429, `Retry-After`) while others get in; one token over
//! its budget waits while the host's works; a scripted show never sees a 429; 200
//! connections dribbling their heads do not keep the host out and are closed after
//! `io_timeout_seconds`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Daemon};

fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    s.bind(&from.into())?;
    s.connect(&to.into())?;
    Ok(s.into())
}

/// One request on a fresh connection from `source`: (status, whole answer).
fn get_from(source: &str, d: &Daemon, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = connect_from(source, d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let head = text.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body_json(text: &str) -> Value {
    serde_json::from_str(text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("")).unwrap()
}

/// A 429 from the door: the error code, and a Retry-After of whole seconds.
fn assert_too_many(text: &str) {
    let retry: u64 = header(text, "Retry-After")
        .unwrap_or_else(|| panic!("no Retry-After: {text}"))
        .parse()
        .unwrap();
    assert!(retry >= 1, "{text}");
    assert_eq!(
        body_json(text)["error"]["code"],
        "too_many_requests",
        "{text}"
    );
}

#[test]
fn one_address_hammering_before_login_waits_and_another_gets_in() {
    let d = Daemon::start_custom(|c| {
        c.set("server.anonymous_requests_per_minute", 60);
    });
    // 60 a minute, 30 at once: the 31st tokenless request in a burst is refused.
    let mut sent = 0;
    let text = loop {
        let (status, text) = get_from("127.0.0.2", &d, "/api/health", None);
        sent += 1;
        if status == 429 {
            break text;
        }
        assert_eq!(status, 200, "{text}");
        assert!(sent <= 31, "no 429 after {sent} requests");
    };
    assert_eq!(sent, 31, "refused after {sent}");
    assert_too_many(&text);
    // Made-up tokens count like no token at all.
    let (status, text) = get_from("127.0.0.2", &d, "/api/guests", Some("made-up"));
    assert_eq!(status, 429, "{text}");
    // Another address, and the box itself, still get through.
    let (status, text) = get_from("127.0.0.3", &d, "/api/health", None);
    assert_eq!(status, 200, "{text}");
    let r = d.req("GET", "/api/health", None, None);
    assert_eq!(r.status, 200, "{}", r.body);
    // A tablet behind the hammering address that logged in is counted by its token.
    let host = d.login("host");
    assert_eq!(d.get("/api/guests", &host).status, 200);
    let (status, text) = get_from("127.0.0.2", &d, "/api/guests", Some(&host));
    assert_eq!(status, 200, "{text}");
}

#[test]
fn a_token_over_its_budget_waits_while_the_hosts_token_works() {
    let d = Daemon::start_custom(|c| {
        c.set("server.token_requests_per_minute", 60);
    });
    let kiosk = d.login("kiosk");
    let host = d.login("host");
    let mut created = 0;
    let mut refused = None;
    for i in 0..40 {
        let r = d.post(
            "/api/guests",
            &kiosk,
            &common::guest_body(&format!("Guest {i}"), &format!("g{i}@example.org")),
        );
        match r.status {
            201 => created += 1,
            429 => {
                refused = Some(r);
                break;
            }
            s => panic!("{s}: {}", r.body),
        }
    }
    let r = refused.expect("the kiosk's token was never limited");
    assert_eq!(r.code(), "too_many_requests", "{}", r.body);
    assert!(
        r.header("Retry-After")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1),
        "{:?}",
        r.header("Retry-After")
    );
    // The first request of each token is counted by address (loopback: not counted),
    // then 30 at once by the token.
    assert!((29..=31).contains(&created), "{created} registered");
    // The host's token is untouched, and the refused registrations were not made.
    let list = d.get("/api/guests", &host);
    assert_eq!(list.status, 200, "{}", list.body);
    let n = list.body["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_else(|| panic!("{}", list.body));
    assert_eq!(n, created);
}

#[test]
fn a_scripted_show_with_default_limits_never_sees_a_429() {
    let d = Daemon::start();
    // A host tablet on the LAN: pages and login before a token, then a burst like a
    // gallery of thumbnails and a console polling.
    for path in [
        "/",
        "/host/",
        "/kiosk/",
        "/api/questionnaire",
        "/api/health",
    ] {
        for _ in 0..4 {
            let (status, text) = get_from("127.0.0.20", &d, path, None);
            assert_ne!(status, 429, "{path}: {text}");
        }
    }
    let (host, show) = common::running_show(&d, 4);
    for _ in 0..300 {
        let (status, text) = get_from("127.0.0.20", &d, "/api/guests?status=waiting", Some(&host));
        assert_eq!(status, 200, "{text}");
    }
    for _ in 0..60 {
        let (status, text) = get_from("127.0.0.20", &d, &format!("/api/shows/{show}"), Some(&host));
        assert_eq!(status, 200, "{text}");
    }
}

#[test]
fn a_slowloris_does_not_keep_the_host_out_and_is_closed_after_the_io_timeout() {
    let d = Daemon::start_custom(|c| {
        c.set("server.io_timeout_seconds", 5);
    });
    let host = d.login("host");
    // 200 connections from five addresses (40 each, under the 48 one client may hold),
    // each sending its head one byte a second.
    let head = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|i| {
            let s = connect_from(&format!("127.0.0.{}", 30 + i % 5), d.addr).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let mut open = vec![true; slow.len()];
    let mut sent = 0;
    let round = |slow: &mut Vec<TcpStream>, open: &mut Vec<bool>, sent: usize| {
        for (s, o) in slow.iter_mut().zip(open.iter_mut()) {
            if !*o {
                continue;
            }
            let mut buf = [0u8; 1024];
            match s.read(&mut buf) {
                Ok(_) => *o = false, // an answer (408) or the end: the door let go
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => *o = false,
            }
            if *o && s.write_all(&head[sent..sent + 1]).is_err() {
                *o = false;
            }
        }
    };
    for _ in 0..2 {
        round(&mut slow, &mut open, sent);
        sent += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    let held = open.iter().filter(|o| **o).count();
    assert_eq!(
        held, 200,
        "the door let go of slow connections before their deadline"
    );
    let t = Instant::now();
    let health = d.req("GET", "/api/health", None, None);
    let health_took = t.elapsed();
    let t = Instant::now();
    let guests = d.get("/api/guests", &host);
    let guests_took = t.elapsed();
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(guests.status, 200, "{}", guests.body);
    println!(
        "slowloris: {held} connections held; host's GET /api/health answered in {:.3} s, GET /api/guests in {:.3} s",
        health_took.as_secs_f64(),
        guests_took.as_secs_f64()
    );
    // Keep dribbling: every slow connection is let go by the head deadline
    // (min(io_timeout, 10 s) = 5 s), long before its head is whole.
    while open.iter().any(|o| *o) {
        assert!(sent < head.len() - 1, "a slow connection was never closed");
        round(&mut slow, &mut open, sent);
        sent += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    println!(
        "slowloris: all 200 closed by the door {:.1} s after they opened (io_timeout_seconds = 5)",
        started.elapsed().as_secs_f64()
    );
}
