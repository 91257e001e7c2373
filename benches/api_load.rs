//! Benchmark: the API under a venue's load, through the real `cosmosd run` (simulated
//! devices) over loopback. With 60 guests waiting and 20 event streams open:
//!
//! - 20 clients each on one kept-alive connection asking for the waitlist
//!   (`GET /api/guests?status=waiting`), beside the same request over a fresh
//!   connection each time (what `curl` does);
//! - one kiosk registering guests (`POST /api/guests`) on a kept-alive connection, beside
//!   fresh connections.
//!
//! Each line gives p50, p99 and requests per second. A second binary may be measured in the
//! same run as a baseline (e.g. a build of an older commit):
//!
//!     cargo bench --bench api_load
//!     COSMOSD_BASELINE_BIN=/path/to/old/cosmosd cargo bench --bench api_load
//!     COSMOSD_BENCH_BIN=target/debug/cosmosd COSMOSD_BASELINE_BIN=old-debug-cosmosd cargo bench --bench api_load

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const GUESTS: usize = 60;
const STREAMS: usize = 20;
const CLIENTS: usize = 20;
/// How long each phase runs.
const PHASE: Duration = Duration::from_secs(5);

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds this but has nothing to run
    }
    // COSMOSD_BENCH_BIN measures another build as "this build" (e.g. a debug one, to
    // compare with a debug baseline).
    let ours = std::env::var("COSMOSD_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_cosmosd").to_string());
    let mut runs = vec![("this build", ours)];
    if let Ok(b) = std::env::var("COSMOSD_BASELINE_BIN") {
        runs.push(("baseline", b));
    }
    for (name, bin) in runs {
        println!("== {name}: {bin}");
        run(&bin);
    }
}

fn run(bin: &str) {
    let dir = tempfile::tempdir().unwrap();
    // One host token sends thousands of requests a second here: its request limit is off.
    let config = common::write_config(dir.path(), |c| {
        c.set("server.token_requests_per_minute", 0);
    });
    let daemon = common::Process::spawn_bin(bin, &config, &[]);
    let (addr, agent) = (daemon.addr, &daemon.agent);
    let host = common::login(agent, addr, "host", common::HOST_PIN);
    let kiosk = common::login(agent, addr, "kiosk", common::KIOSK_PIN);
    for i in 0..GUESTS {
        let r = common::http(
            agent,
            addr,
            "POST",
            "/api/guests",
            Some(&kiosk),
            Some(&common::guest_body(
                &format!("Guest {i}"),
                &format!("g{i}@example.org"),
            )),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let streams: Vec<_> = (0..STREAMS)
        .map(|_| {
            let (stop, host) = (stop.clone(), host.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                s.write_all(format!("GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {host}\r\n\r\n").as_bytes()).unwrap();
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(0) = s.read(&mut buf) {
                        break;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let waitlist = format!(
        "GET /api/guests?status=waiting HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {host}\r\n"
    );
    report(
        "waitlist, 20 kept-alive clients",
        phase(addr, CLIENTS, true, {
            let w = waitlist.clone();
            move |_, _| (w.clone(), String::new())
        }),
    );
    report(
        "waitlist, 20 clients, fresh connections",
        phase(addr, CLIENTS, false, {
            let w = waitlist.clone();
            move |_, _| (w.clone(), String::new())
        }),
    );
    let register = |fresh: bool| {
        let kiosk = kiosk.clone();
        move |client: usize, n: usize| {
            let body = serde_json::to_string(&common::guest_body(
                "Bench",
                &format!("b{}-{client}-{n}@example.org", fresh as u8),
            ))
            .unwrap();
            let head = format!(
                "POST /api/guests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {kiosk}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
            (head, body)
        }
    };
    report(
        "register, 1 kept-alive kiosk",
        phase(addr, 1, true, register(false)),
    );
    report(
        "register, 1 kiosk, fresh connections",
        phase(addr, 1, false, register(true)),
    );

    stop.store(true, Ordering::SeqCst);
    for s in streams {
        let _ = s.join();
    }
    daemon.stop();
}

/// Runs `clients` threads for [`PHASE`], each sending `request(client, n)` (the head's
/// lines, then the body); returns every request's latency and the wall time.
fn phase(
    addr: SocketAddr,
    clients: usize,
    keep_alive: bool,
    request: impl Fn(usize, usize) -> (String, String) + Send + Sync + Clone + 'static,
) -> (Vec<Duration>, Duration) {
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (start, request) = (start.clone(), request.clone());
            std::thread::spawn(move || {
                let mut times = Vec::new();
                let mut conn: Option<BufReader<TcpStream>> = None;
                start.wait();
                let until = Instant::now() + PHASE;
                let mut n = 0;
                while Instant::now() < until {
                    let (mut head, body) = request(c, n);
                    n += 1;
                    let t = Instant::now();
                    if !keep_alive {
                        head.push_str("Connection: close\r\n");
                        conn = None;
                    }
                    let rq = format!("{head}\r\n{body}");
                    let c = conn.get_or_insert_with(|| {
                        let s = TcpStream::connect(addr).unwrap();
                        BufReader::new(s)
                    });
                    c.get_mut().write_all(rq.as_bytes()).unwrap();
                    let status = read_response(c);
                    assert!(status == 200 || status == 201, "status {status}");
                    times.push(t.elapsed());
                }
                times
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    (all, began.elapsed())
}

/// Reads one response (status line, headers, a `Content-Length` body); returns the status.
fn read_response(r: &mut BufReader<TcpStream>) -> u16 {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {line:?}"));
    let mut length = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).unwrap();
    status
}

fn report(name: &str, (mut times, wall): (Vec<Duration>, Duration)) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{name:<42} n={:>6}  p50 {:>8.2?}  p99 {:>8.2?}  {:>7.0} req/s",
        times.len(),
        at(0.50),
        at(0.99),
        times.len() as f64 / wall.as_secs_f64()
    );
}
