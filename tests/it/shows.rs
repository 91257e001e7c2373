//! Shows: scheduling, overlap, the status machine and the guests moving with it.

use crate::common;
use crate::common::{Daemon, in_minutes};
use serde_json::{Value, json};

fn setup(n: usize) -> (Daemon, String, Vec<String>) {
    let d = Daemon::start();
    let host = d.login("host");
    let ids = (0..n)
        .map(|i| d.add_guest(&host, &format!("Guest {i}"), &format!("g{i}@example.org")))
        .collect();
    (d, host, ids)
}

fn create(d: &Daemon, host: &str, start: &str, ids: &[&String]) -> common::Resp {
    d.post(
        "/api/shows",
        host,
        &json!({"start_time": start, "guest_ids": ids}),
    )
}

fn status_of(d: &Daemon, host: &str, guest: &str) -> Value {
    d.get(&format!("/api/guests/{guest}"), host).body["status"].clone()
}

#[test]
fn a_show_is_scheduled_with_its_guests_on_markers() {
    let (d, host, g) = setup(2);
    let r = create(&d, &host, &in_minutes(30), &[&g[1], &g[0]]);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["status"], "scheduled");
    assert_eq!(r.body["duration_minutes"], 15);
    assert_eq!(r.body["guests"][0]["id"], g[1].as_str());
    assert_eq!(r.body["guests"][0]["marker"], 0);
    assert_eq!(r.body["guests"][1]["marker"], 1);
    assert_eq!(r.body["timeline"][0]["event"], "scheduled");
    let start =
        chrono::DateTime::parse_from_rfc3339(r.body["start_time"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(r.body["end_time"].as_str().unwrap()).unwrap();
    assert_eq!((end - start).num_minutes(), 15);
    assert_eq!(status_of(&d, &host, &g[0]), "assigned");
    let guest = d.get(&format!("/api/guests/{}", g[0]), &host);
    assert_eq!(guest.body["show_id"], r.body["id"]);
    assert_eq!(
        d.get("/api/guests?status=waiting", &host).body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn overlapping_shows_are_refused_counting_the_changeover() {
    let (d, host, g) = setup(4);
    let base = chrono::Utc::now() + chrono::Duration::hours(1);
    let at = |m: i64| (base + chrono::Duration::minutes(m)).to_rfc3339();
    assert_eq!(create(&d, &host, &at(0), &[&g[0]]).status, 201);
    let before = d.db_snapshot();
    // 15 min show + 5 min changeover: the next may start at +20, not at +19
    let r = create(&d, &host, &at(19), &[&g[1]]);
    assert_eq!(
        (r.status, r.code(), r.field()),
        (409, "show_overlap", Some("start_time")),
        "{}",
        r.body
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("next free start")
    );
    let r = create(&d, &host, &at(-19), &[&g[1]]);
    assert_eq!(r.status, 409);
    assert_eq!(d.db_snapshot(), before, "a refused show changes nothing");
    assert_eq!(status_of(&d, &host, &g[1]), "waiting");
    assert_eq!(create(&d, &host, &at(20), &[&g[1]]).status, 201);
    assert_eq!(create(&d, &host, &at(-20), &[&g[2]]).status, 201);
    // a longer show is checked with its own length
    let r = d.post(
        "/api/shows",
        &host,
        &json!({"start_time": at(40), "guest_ids": [g[3]], "duration_minutes": 60}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["duration_minutes"], 60);
}

#[test]
fn a_cancelled_show_frees_its_slot_and_its_guests() {
    let (d, host, g) = setup(2);
    let start = in_minutes(60);
    let s = create(&d, &host, &start, &[&g[0], &g[1]]);
    let id = s.body["id"].as_str().unwrap();
    let r = d.post(&format!("/api/shows/{id}/cancel"), &host, &Value::Null);
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("cancelled")),
        "{}",
        r.body
    );
    assert_eq!(status_of(&d, &host, &g[0]), "waiting");
    assert_eq!(status_of(&d, &host, &g[1]), "waiting");
    assert_eq!(
        create(&d, &host, &start, &[&g[0]]).status,
        201,
        "the slot is free again"
    );
    let r = d.post(&format!("/api/shows/{id}/cancel"), &host, &Value::Null);
    assert_eq!((r.status, r.code()), (409, "illegal_transition"));
}

#[test]
fn roster_rules_are_enforced() {
    let (d, host, g) = setup(6);
    let r = create(
        &d,
        &host,
        &in_minutes(30),
        &[&g[0], &g[1], &g[2], &g[3], &g[4]],
    );
    assert_eq!(
        (r.status, r.code(), r.field()),
        (422, "too_many_guests", Some("guest_ids"))
    );
    let r = create(&d, &host, &in_minutes(30), &[]);
    assert_eq!((r.status, r.field()), (422, Some("guest_ids")));
    let r = create(&d, &host, &in_minutes(30), &[&g[0], &g[0]]);
    assert_eq!((r.status, r.code()), (422, "duplicate_guest"));
    let ghost = "gst_000000000000000000000000".to_string();
    let r = create(&d, &host, &in_minutes(30), &[&g[0], &ghost]);
    assert_eq!(
        (r.status, r.code(), r.field()),
        (422, "unknown_guest", Some("guest_ids"))
    );
    assert_eq!(create(&d, &host, &in_minutes(30), &[&g[0]]).status, 201);
    let r = create(&d, &host, &in_minutes(120), &[&g[0], &g[1]]);
    assert_eq!(
        (r.status, r.code()),
        (409, "guest_not_waiting"),
        "a guest is in at most one active show"
    );
    assert_eq!(
        status_of(&d, &host, &g[1]),
        "waiting",
        "nothing half-written"
    );
}

#[test]
fn start_times_and_durations_are_validated() {
    let (d, host, g) = setup(1);
    let cases = [
        (
            json!({"start_time": "tomorrow", "guest_ids": [g[0]]}),
            422,
            "start_time",
        ),
        (
            json!({"start_time": "2026-11-23T18:00:00", "guest_ids": [g[0]]}),
            422,
            "start_time",
        ),
        (
            json!({"start_time": in_minutes(-60), "guest_ids": [g[0]]}),
            422,
            "start_time",
        ),
        (json!({"guest_ids": [g[0]]}), 422, "start_time"),
        (json!({"start_time": in_minutes(5)}), 422, "guest_ids"),
        (
            json!({"start_time": in_minutes(5), "guest_ids": [g[0]], "duration_minutes": 0}),
            422,
            "duration_minutes",
        ),
        (
            json!({"start_time": in_minutes(5), "guest_ids": [g[0]], "duration_minutes": 9999}),
            422,
            "duration_minutes",
        ),
        (
            json!({"start_time": in_minutes(5), "guest_ids": [g[0]], "duration_minutes": "long"}),
            422,
            "duration_minutes",
        ),
        (
            json!({"start_time": in_minutes(5), "guest_ids": "everyone"}),
            422,
            "guest_ids",
        ),
        (
            json!({"start_time": in_minutes(5), "guest_ids": [1]}),
            422,
            "guest_ids[0]",
        ),
    ];
    let before = d.db_snapshot();
    for (body, status, field) in cases {
        let r = d.post("/api/shows", &host, &body);
        assert_eq!(
            (r.status, r.field()),
            (status, Some(field)),
            "{body}: {}",
            r.body
        );
    }
    assert_eq!(d.db_snapshot(), before);
}

#[test]
fn the_show_moves_through_its_states_and_refuses_illegal_moves() {
    let (d, host, g) = setup(3);
    let s1 = create(&d, &host, &in_minutes(1), &[&g[0], &g[1]]).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s2 = create(&d, &host, &in_minutes(60), &[&g[2]]).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let act = |id: &str, a: &str| d.post(&format!("/api/shows/{id}/{a}"), &host, &Value::Null);

    let r = act(&s1, "pose");
    assert_eq!(
        (r.status, r.code()),
        (409, "illegal_transition"),
        "cannot pose before start"
    );
    let r = act(&s1, "start");
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("running"))
    );
    let r = act(&s2, "start");
    assert_eq!(
        (r.status, r.code()),
        (409, "another_show_live"),
        "one show in the room at a time"
    );
    let r = act(&s1, "start");
    assert_eq!(r.status, 409);
    let r = act(&s1, "pose");
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("posing")));
    let events: Vec<&str> = r.body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["scheduled", "running", "posing"]);
    // patching is only for scheduled shows
    let r = d.req(
        "PATCH",
        &format!("/api/shows/{s1}"),
        Some(&host),
        Some(&json!({"start_time": in_minutes(200)})),
    );
    assert_eq!((r.status, r.code()), (409, "show_not_scheduled"));
    // cancelling a show in the room returns its guests to the waitlist
    let r = act(&s1, "cancel");
    assert_eq!(r.status, 200);
    assert_eq!(status_of(&d, &host, &g[0]), "waiting");
    assert_eq!(act(&s2, "start").status, 200, "the room is free again");
    assert_eq!(act("shw_missing", "start").status, 404);
}

#[test]
fn patching_a_scheduled_show_rechecks_everything() {
    let (d, host, g) = setup(4);
    let base = chrono::Utc::now() + chrono::Duration::hours(2);
    let at = |m: i64| (base + chrono::Duration::minutes(m)).to_rfc3339();
    let a = create(&d, &host, &at(0), &[&g[0]]).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = create(&d, &host, &at(60), &[&g[1]]).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/shows/{b}");

    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"start_time": at(10)})),
    );
    assert_eq!((r.status, r.code()), (409, "show_overlap"));
    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"start_time": at(20)})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["timeline"][1]["event"], "rescheduled");
    // moving a show onto itself is no overlap
    let r = d.req(
        "PATCH",
        &format!("/api/shows/{a}"),
        Some(&host),
        Some(&json!({"start_time": at(-1)})),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // swap guests: g1 out (back to waiting), g2 and g3 in
    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"guest_ids": [g[2], g[3]]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(&d, &host, &g[1]), "waiting");
    assert_eq!(status_of(&d, &host, &g[2]), "assigned");
    // keeping a guest that is already in this show is fine
    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"guest_ids": [g[3], g[1]]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["guests"][0]["id"], g[3].as_str());
    // a guest of another show cannot be taken
    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"guest_ids": [g[0]]})),
    );
    assert_eq!((r.status, r.code()), (409, "guest_not_waiting"));
    let r = d.req(
        "PATCH",
        &path,
        Some(&host),
        Some(&json!({"duration_minutes": 0})),
    );
    assert_eq!((r.status, r.field()), (422, Some("duration_minutes")));
    let r = d.req("PATCH", &path, Some(&host), Some(&json!({})));
    assert_eq!((r.status, r.code()), (422, "empty_patch"));
}

#[test]
fn shows_are_listed_in_a_time_window() {
    let (d, host, g) = setup(3);
    let base = chrono::Utc::now() + chrono::Duration::hours(3);
    let at = |m: i64| (base + chrono::Duration::minutes(m)).to_rfc3339();
    for (i, m) in [0, 60, 120].iter().enumerate() {
        assert_eq!(create(&d, &host, &at(*m), &[&g[i]]).status, 201);
    }
    let enc = |s: String| s.replace('+', "%2B");
    let r = d.get(
        &format!("/api/shows?from={}&to={}", enc(at(50)), enc(at(100))),
        &host,
    );
    assert_eq!(r.status, 200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["guests"][0]["id"], g[1].as_str());
    assert_eq!(
        d.get("/api/shows", &host).body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // an unencoded '+' (decoded to a space) is still understood
    let r = d.get(&format!("/api/shows?from={}", at(50)), &host);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        d.get("/api/shows?from=yesterday", &host).field(),
        Some("from")
    );
    let r = d.get(
        &format!("/api/shows?from={}&to={}", enc(at(100)), enc(at(50))),
        &host,
    );
    assert_eq!((r.status, r.field()), (422, Some("to")));
}
