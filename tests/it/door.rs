//! The API's front door under attack, over real sockets against the real daemon: each
//! attack that once stopped or froze the box (issue: "The HTTP front falls to one
//! unauthenticated request") is played, and the host is served all through it.

use crate::common;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::common::{Daemon, wait_for};

/// The host's view during an attack: the health route answers 200 with the database ok.
fn host_is_served(d: &Daemon) {
    let r = d.req("GET", "/api/health", None, None);
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A client socket from a loopback address of its own (Linux routes all of 127/8 to lo),
/// so the door sees a LAN client that is not the box itself.
fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    s.bind(&from.into())?;
    s.connect(&to.into())?;
    Ok(s.into())
}

fn status_of(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_huge_content_length_is_refused_and_the_daemon_lives() {
    let d = Daemon::start();
    for path in ["/api/health", "/api/nothing-here", "/api/guests"] {
        for method in ["GET", "POST"] {
            let (s, text) = d.raw(
                format!(
                    "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n"
                )
                .as_bytes(),
            );
            assert_eq!(s, 413, "{method} {path}: {text}");
            assert!(text.contains("body_too_large"), "{text}");
        }
    }
    // Larger than any integer, and a declared body under the cap that never comes.
    let (s, _) = d.raw(
        b"POST /api/guests HTTP/1.1\r\nHost: x\r\nContent-Length: 184467440737095516150\r\n\r\n",
    );
    assert_eq!(s, 413);
    host_is_served(&d);
}

#[test]
fn slow_bodies_do_not_freeze_the_api_and_end_in_408() {
    // One worker and a 2 s deadline: before the door, four clients dribbling a body held
    // every worker, and the host waited for them.
    let d = Daemon::start_custom(|c| {
        c.workers(1).io_timeout(2);
    });
    let kiosk = d.login("kiosk");
    let addr = d.addr;
    let done = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Barrier::new(5));
    let drippers: Vec<_> = (0..4)
        .map(|_| {
            let (done, started, kiosk) = (done.clone(), started.clone(), kiosk.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.write_all(format!("POST /api/guests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {kiosk}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{").as_bytes()).unwrap();
                started.wait();
                // One byte every 300 ms until the door gives up on us.
                for _ in 0..100 {
                    std::thread::sleep(Duration::from_millis(300));
                    if s.write_all(b" ").is_err() {
                        break;
                    }
                }
                let mut text = String::new();
                let _ = s.read_to_string(&mut text);
                done.fetch_add(1, Ordering::SeqCst);
                text
            })
        })
        .collect();
    started.wait();
    for _ in 0..5 {
        host_is_served(&d);
    }
    assert_eq!(
        done.load(Ordering::SeqCst),
        0,
        "the host was served while all four bodies were still dribbling in"
    );
    for t in drippers {
        let text = t.join().unwrap();
        assert_eq!(status_of(&text), 408, "{text}");
        assert!(text.contains("request_timeout"), "{text}");
    }
    // nothing half-written
    let host = d.login("host");
    assert_eq!(
        d.get("/api/guests?status=waiting", &host).body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn a_slow_head_ends_in_408_without_holding_anyone() {
    let d = Daemon::start_custom(|c| {
        c.io_timeout(2);
    });
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    host_is_served(&d);
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert_eq!(status_of(&text), 408, "{text}");
}

#[test]
fn giant_and_countless_headers_get_431() {
    let d = Daemon::start();
    // 8 MB of one header line: the door stops reading at 16 KB.
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..128 {
        if s.write_all(&chunk).is_err() {
            break; // the door answered and closed
        }
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert_eq!(status_of(&text), 431, "{text:.300}");

    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (s, text) = d.raw(
        format!("GET /api/health HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(s, 431, "{text}");
    // 100 headers are allowed.
    let ok: String = (0..95).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (s, text) = d.raw(
        format!("GET /api/health HTTP/1.1\r\nHost: x\r\n{ok}Connection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(s, 200, "{text}");
    // A header value that is not ASCII (tiny_http would drop the connection unanswered).
    let (s, text) = d.raw(
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nLast-Event-ID: \xc2\x84\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("ASCII"), "{text}");
    host_is_served(&d);
}

#[test]
fn a_flood_of_idle_connections_is_capped_and_the_box_and_other_clients_get_in() {
    let d = Daemon::start();
    // One client opens 700 connections and sends nothing (633 once exhausted the
    // descriptors and killed the acceptor for good).
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..700 {
        match connect_from("127.0.0.2", d.addr) {
            Ok(s) => held.push(s),
            Err(_) => refused += 1,
        }
    }
    // Refused connections are answered 503 at once and closed; admitted ones stay open.
    let mut answered_503 = 0;
    let mut open = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                assert_eq!(status_of(&text), 503, "{text}");
                assert!(text.contains("Retry-After: 5"), "{text}");
                answered_503 += 1;
            }
            Ok(_) => refused += 1,
            Err(_) => open += 1, // timed out: admitted and waiting for a request
        }
    }
    assert!(open <= 48, "one client holds {open} connections");
    assert!(
        answered_503 >= 600,
        "{answered_503} refusals answered, {refused} closed"
    );
    // The box itself and another client are still served.
    host_is_served(&d);
    let mut other = connect_from("127.0.0.3", d.addr).unwrap();
    other
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    other.read_to_string(&mut text).unwrap();
    assert_eq!(status_of(&text), 200, "{text}");
    // When the flood goes, its places come back.
    drop(held);
    common::wait_for(10, "the flood's places freed", || {
        let mut s = connect_from("127.0.0.2", d.addr).ok()?;
        s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        (status_of(&text) == 200).then_some(())
    });
}

#[test]
fn many_clients_fill_the_box_but_the_watchdog_still_gets_in() {
    let d = Daemon::start();
    // Six clients of 48 idle connections each: more than the 256 the LAN may hold.
    let mut held = Vec::new();
    for i in 2..8 {
        for _ in 0..48 {
            if let Ok(s) = connect_from(&format!("127.0.0.{i}"), d.addr) {
                held.push(s);
            }
        }
    }
    let mut late = connect_from("127.0.0.9", d.addr).unwrap();
    late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut text = String::new();
    let _ = late.read_to_string(&mut text);
    assert_eq!(
        status_of(&text),
        503,
        "a 289th LAN connection was admitted: {text}"
    );
    // The box's own health check (127.0.0.1) uses its reserve.
    host_is_served(&d);
    let ok = cosmosd::service::self_check(d.addr, Duration::from_secs(5));
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn a_client_cannot_pose_as_another_address() {
    // The throttle counts the real address: a forged peer header changes nothing.
    let d = Daemon::start();
    let mut last = 0;
    for i in 0..5 {
        let body = r#"{"role":"host","pin":"0000"}"#;
        let (s, _) = d.raw(format!("POST /api/session HTTP/1.1\r\nHost: x\r\nX-Cosmos-Peer: 10.9.9.{i}:4000\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
        last = s;
    }
    assert_eq!(last, 429, "the lockout follows the real client");
}

#[test]
fn kept_alive_requests_and_pipelining_work_through_the_door() {
    let d = Daemon::start();
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Three requests in one write, the last closing the connection.
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\nGET /api/questionnaire HTTP/1.1\r\nHost: x\r\n\r\nGET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200").count(), 3, "{text:.500}");
    // A chunked JSON body is decoded and counted by the door.
    let host = d.login("host");
    let kiosk = d.login("kiosk");
    let body = serde_json::to_string(&common::guest_body("Ana", "ana@example.org")).unwrap();
    let (a, b) = body.split_at(10);
    let (st, text) = d.raw(format!("POST /api/guests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {kiosk}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len()).as_bytes());
    assert_eq!(st, 201, "{text}");
    assert_eq!(
        d.get("/api/guests?status=waiting", &host).body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// One login attempt from `source` (a loopback address of its own); the status and head.
fn login_from(source: &str, d: &Daemon, pin: &str) -> (u16, String) {
    let mut s = connect_from(source, d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = format!(r#"{{"role":"host","pin":"{pin}"}}"#);
    write!(s, "POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    (status_of(&text), text)
}

#[test]
fn wrong_pins_from_many_addresses_spend_a_global_budget_and_health_says_so() {
    // The technician's conditions looked at often, so the flood shows as one.
    let d = Daemon::start_custom(|c| {
        c.set("alerts.check_seconds", 0.2);
    });
    // One wrong PIN each from 30 addresses: none is locked out by itself.
    for i in 0..cosmosd::access::GLOBAL_FAILURES_PER_MINUTE {
        let (status, text) = login_from(
            &format!("127.0.{}.{}", 1 + i / 200, 1 + i % 200),
            &d,
            "000000",
        );
        assert_eq!(status, 401, "{text}");
    }
    // Then every address waits, even with the right PIN.
    let (status, text) = login_from("127.0.9.9", &d, common::HOST_PIN);
    assert_eq!(status, 429, "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after"), "{text}");
    let h = d.req("GET", "/api/health", None, None).body;
    assert!(
        h["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("guessing")),
        "{h}"
    );
    let text = {
        let agent = common::agent();
        let mut r = agent.get(&d.url("/metrics")).call().unwrap();
        r.body_mut().read_to_string().unwrap()
    };
    assert!(text.contains("cosmosd_login_failures_total 30"), "{text}");
    wait_for(10, "the technician's login_flood condition", || {
        let h = d.req("GET", "/api/health", None, None).body;
        h["technician"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["condition"] == "login_flood")
            .then_some(())
    });
}
