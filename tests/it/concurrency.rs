//! Many tablets at once: threads register guests and create shows concurrently. The
//! schedule must never admit two clashing shows, a guest must never be in two active
//! shows, and nobody may get a 5xx.

use crate::common;
use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use crate::common::Daemon;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

#[test]
fn concurrent_registrations_and_bookings_never_break_the_schedule() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 12;
    let d = Arc::new(Daemon::start_custom(|c| {
        c.workers(8);
    }));
    let host = d.login("host");
    let kiosk = d.login("kiosk");
    // A shared pool of waiting guests that every thread fights over.
    let pool: Vec<String> = (0..16)
        .map(|i| {
            d.add_guest(
                &kiosk,
                &format!("Pool {i}"),
                &format!("pool{i}@example.org"),
            )
        })
        .collect();
    let base = Utc::now() + Duration::hours(1);
    let barrier = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (d, host, kiosk, pool, barrier) = (
                d.clone(),
                host.clone(),
                kiosk.clone(),
                pool.clone(),
                barrier.clone(),
            );
            std::thread::spawn(move || {
                let mut statuses: HashMap<u16, usize> = HashMap::new();
                barrier.wait();
                for r in 0..ROUNDS {
                    // a new guest of this thread, plus one from the shared pool
                    let g = d.post(
                        "/api/guests",
                        &kiosk,
                        &common::guest_body("T", &format!("t{t}r{r}@example.org")),
                    );
                    *statuses.entry(g.status).or_default() += 1;
                    let mut ids = vec![pool[(t * 7 + r) % pool.len()].clone()];
                    if let Some(id) = g.body["id"].as_str() {
                        ids.push(id.to_string());
                    }
                    // starts on a coarse grid so that threads collide often
                    let start = base + Duration::minutes(((t * 13 + r * 7) % 40) as i64 * 5);
                    let s = d.post(
                        "/api/shows",
                        &host,
                        &json!({"start_time": start.to_rfc3339(), "guest_ids": ids}),
                    );
                    *statuses.entry(s.status).or_default() += 1;
                    // sometimes cancel a show again, returning its guests
                    if r % 4 == 3
                        && let Some(id) = s.body["id"].as_str()
                    {
                        let c = d.post(&format!("/api/shows/{id}/cancel"), &host, &json!(null));
                        *statuses.entry(c.status).or_default() += 1;
                    }
                }
                statuses
            })
        })
        .collect();
    let mut all: HashMap<u16, usize> = HashMap::new();
    for h in handles {
        for (k, v) in h.join().unwrap() {
            *all.entry(k).or_default() += v;
        }
    }
    assert!(all.keys().all(|s| *s < 500), "no 5xx: {all:?}");
    assert!(
        all.get(&201).copied().unwrap_or(0) > THREADS,
        "some bookings went through: {all:?}"
    );
    assert!(
        all.get(&409).copied().unwrap_or(0) > 0,
        "and some collided: {all:?}"
    );

    let shows = d.get("/api/shows", &host).body["items"]
        .as_array()
        .unwrap()
        .clone();
    let live: Vec<_> = shows
        .iter()
        .filter(|s| s["status"] != "cancelled")
        .collect();
    let slot = |s: &serde_json::Value| {
        let p = |k: &str| {
            DateTime::parse_from_rfc3339(s[k].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc)
        };
        (p("start_time"), p("end_time"))
    };
    let gap = Duration::minutes(5);
    for (i, a) in live.iter().enumerate() {
        for b in &live[i + 1..] {
            let ((s1, e1), (s2, e2)) = (slot(a), slot(b));
            assert!(
                !(s1 < e2 + gap && s2 < e1 + gap),
                "clash: {} and {}",
                a["id"],
                b["id"]
            );
        }
    }
    let mut holder: HashMap<String, String> = HashMap::new();
    for s in &live {
        for g in s["guests"].as_array().unwrap() {
            let gid = g["id"].as_str().unwrap().to_string();
            if let Some(other) = holder.insert(gid.clone(), s["id"].as_str().unwrap().to_string()) {
                panic!(
                    "guest {gid} is in two active shows: {other} and {}",
                    s["id"]
                );
            }
        }
    }
    // every guest's status agrees with the shows
    for g in d.get("/api/guests", &host).body["items"]
        .as_array()
        .unwrap()
    {
        let id = g["id"].as_str().unwrap();
        let expected = if holder.contains_key(id) {
            "assigned"
        } else {
            "waiting"
        };
        assert_eq!(g["status"], expected, "{g}");
    }
}
