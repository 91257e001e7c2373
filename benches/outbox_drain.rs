//! Benchmark: drain the outbox after an uplink outage. 200 messages (50 shows of 4
//! guests, each message with the show's two ~600 KB email-size photos) are queued while
//! the relay is down; then a real SMTP relay (aiosmtpd on loopback) comes up and we
//! measure the time until every message is accepted and marked sent, and the daemon's
//! memory (resident set sampled during the drain, and its peak over the whole run).
//!
//!     cargo bench --bench outbox_drain

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A photo-like 3000×2000 JPEG whose 2048-px email version is about 600 KB: smooth
/// gradients with fine deterministic texture (a real scene's detail), EXIF-free.
fn photo() -> Vec<u8> {
    let (w, h) = (3000u32, 2000u32);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = (seed >> 56) as i32 - 128;
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        let base = [
            60.0 + 150.0 * fx,
            40.0 + 120.0 * (fy * 6.0).sin().abs(),
            90.0 + 100.0 * (1.0 - fx * fy),
        ];
        let px = |c: f32, k: i32| (c + (n * k / 10) as f32).clamp(0.0, 255.0) as u8;
        image::Rgb([px(base[0], 2), px(base[1], 2), px(base[2], 2)])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&img)
        .unwrap();
    out
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(") ").next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0 // USER_HZ
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds this but has nothing to run
    }
    let dir = tempfile::tempdir().unwrap();
    let jpeg = photo();
    let email = cosmosd::photos::derive(&jpeg).unwrap().email;
    println!(
        "photo: {} KB original, {} KB email size",
        jpeg.len() / 1024,
        email.len() / 1024
    );
    let photo_path = dir.path().join("scene.jpg");
    std::fs::write(&photo_path, &jpeg).unwrap();

    let port = common::free_port();
    let config = common::write_config(dir.path(), |c| {
        c.relay(port)
            .set("camera.simulated_photo", photo_path.display().to_string());
    });
    let p = common::Process::spawn(&config, &[]);
    let pid = p.child.id();
    let host = p.login("host", common::HOST_PIN);
    let call = |m: &str, path: &str, t: Option<&str>, b: Option<&Value>| p.req(m, path, t, b);
    let t = Instant::now();
    for s in 0..50 {
        let guests: Vec<Value> = (0..4)
            .map(|i| {
                let n = s * 4 + i;
                json!({"name": format!("Guest {n}"), "email": format!("g{n}@example.org"),
                       "energy": "solar", "element": "aire", "essence": "flor",
                       "language": if n % 2 == 0 { "es" } else { "en" }, "consent": true})
            })
            .collect();
        let (_, fin) = common::finished_show(&call, &host, &guests);
        assert_eq!(fin.status, 200, "{}", fin.body);
    }
    let ob = p.req(
        "GET",
        "/api/outbox?status=queued&limit=1000",
        Some(&host),
        None,
    );
    let queued = ob.body["items"].as_array().unwrap().len();
    assert_eq!(queued, 200);
    println!(
        "queued {queued} messages (50 shows) in {:.1} s; daemon RSS {} MB",
        t.elapsed().as_secs_f64(),
        status_kb(pid, "VmRSS:") / 1024
    );

    // The uplink is back; the technician's flush skips the rest of the retry wait.
    let relay = common::Relay::start(port, &dir.path().join("spool"), &[]);
    let t = Instant::now();
    let cpu0 = cpu_seconds(pid);
    let r = p.req("POST", "/api/outbox/flush", Some(&host), None);
    assert_eq!(r.status, 202);
    let mut peak_rss = 0;
    let accepted_at = loop {
        peak_rss = peak_rss.max(status_kb(pid, "VmRSS:"));
        if relay.accepted().len() >= 200 {
            break t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(600), "drain stalled");
        std::thread::sleep(Duration::from_millis(20));
    };
    let sent_at = loop {
        peak_rss = peak_rss.max(status_kb(pid, "VmRSS:"));
        let r = p.req(
            "GET",
            "/api/outbox?status=sent&limit=1000",
            Some(&host),
            None,
        );
        if r.body["items"].as_array().unwrap().len() == 200 {
            break t.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let bytes: u64 = relay
        .accepted()
        .iter()
        .map(|(n, _, _)| {
            std::fs::metadata(relay.spool.join(format!("{n}.eml")))
                .unwrap()
                .len()
        })
        .sum();
    let conns: std::collections::HashSet<u16> = relay.accepted().iter().map(|a| a.1).collect();
    println!(
        "drain: 200 messages ({} MB on the wire) accepted in {:.2} s, all marked sent in {:.2} s \
         ({:.1} msg/s) over {} connections",
        bytes / 1_000_000,
        accepted_at.as_secs_f64(),
        sent_at.as_secs_f64(),
        200.0 / sent_at.as_secs_f64(),
        conns.len()
    );
    println!(
        "daemon CPU during the drain: {:.2} s (the rest is the relay and the disk)",
        cpu_seconds(pid) - cpu0
    );
    println!(
        "daemon memory: peak RSS during the drain {} MB; peak over the whole run (VmHWM) {} MB",
        peak_rss / 1024,
        status_kb(pid, "VmHWM:") / 1024
    );
    assert!(p.stop());
}
