//! Benchmark: capture-to-preview-ready latency through the whole daemon over real
//! libgphoto2 and its virtual PTP camera (scripts/vcamera.sh builds it):
//! POST /api/shows/{id}/capture (countdown 0) until GET …/preview returns the JPEG.
//!
//!     bash scripts/vcamera.sh && cargo bench --bench capture_latency

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::json;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds this but has nothing to run
    }
    let iolibs = common::vcamera_iolibs();
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), |c| {
        c.vcamera();
    });
    let p = common::Process::spawn(&config, &[("IOLIBS", iolibs.to_str().unwrap())]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.req("GET", "/api/health", None, None).body["camera"]["state"] != "connected" {
        assert!(Instant::now() < deadline, "camera never connected");
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = p.login("host", common::HOST_PIN);
    let g = p.req(
        "POST",
        "/api/guests",
        Some(&host),
        Some(&common::guest_body("Bench", "bench@example.org")),
    );
    let s = p.req(
        "POST",
        "/api/shows",
        Some(&host),
        Some(&json!({"start_time": common::in_minutes(1), "guest_ids": [g.body["id"]]})),
    );
    let id = s.body["id"].as_str().unwrap().to_string();
    p.req("POST", &format!("/api/shows/{id}/start"), Some(&host), None);
    p.req("POST", &format!("/api/shows/{id}/pose"), Some(&host), None);

    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let r = p.req(
            "POST",
            &format!("/api/shows/{id}/capture"),
            Some(&host),
            None,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let preview = r.body["preview_url"].as_str().unwrap().to_string();
        let mut resp = p
            .agent
            .get(&format!("http://{}{preview}", p.addr))
            .header("Authorization", &format!("Bearer {host}"))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let _ = resp.body_mut().read_to_vec().unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "capture-to-preview-ready over the virtual camera (3000x2000 JPEG, {} runs): median {:.1?}, max {:.1?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    assert!(p.stop());
}
