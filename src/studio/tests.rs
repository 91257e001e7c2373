//! The show timeline on a stopped clock: the spontaneous-photo timer (minutes long in a
//! venue) runs here in microseconds of real time, with the real store, the simulated
//! camera and lights and their owner tasks, under `tokio::time::pause()`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Studio;
use crate::camera::{self, SimControl, Simulated};
use crate::clock::Clock;
use crate::config::Config;
use crate::events::Events;
use crate::lights;
use crate::show::{Element, Energy, Language, NewGuest, PhotoKind, ShowAction, ShowStatus};
use crate::store::{ShowDraft, Store};

struct Room {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    studio: Arc<Studio>,
    camera: SimControl,
    offset: Duration,
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T20:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A studio over a fresh data folder with the demo configuration and a clock that
/// starts at [`t0`] and follows tokio's (paused) time.
fn room() -> Room {
    let dir = tempfile::tempdir().unwrap();
    let config: Config =
        Config::from_toml_str(&crate::demo::config_text(), dir.path()).expect("demo config");
    let offset = Duration::from_secs(config.show.spontaneous_offset_seconds.into());
    let store = Arc::new(Store::open(&dir.path().join("t.db")).unwrap());
    let stop = CancellationToken::new();
    let (sim, camera) = Simulated::new(60, 40);
    let (cam, _) = camera::spawn(
        camera::Device::Simulated(sim),
        camera::Timing::from_config(&config.camera),
        stop.clone(),
    );
    let (sim_lights, _log) = lights::Simulated::new(4);
    let (lights, _) = lights::spawn(
        lights::Device::Simulated(sim_lights),
        config.lights.posing,
        stop.clone(),
    );
    let studio = Arc::new(Studio::new(
        Arc::new(config),
        store.clone(),
        cam,
        lights,
        stop,
        Arc::new(Events::new()),
        Clock::tokio(t0()),
    ));
    Room {
        _dir: dir,
        store,
        studio,
        camera,
        offset,
    }
}

/// A scheduled show with one guest, starting at [`t0`].
fn scheduled(store: &Store) -> String {
    let g = NewGuest {
        name: "Guest".into(),
        email: "g@example.org".into(),
        energy: Energy::Solar,
        element: Element::Aire,
        essence: "flor".into(),
        language: Language::Es,
    };
    let g = store.add_guest(&g, t0()).unwrap();
    let rules = crate::show::ScheduleRules {
        changeover: chrono::Duration::minutes(5),
        max_guests: 4,
        default_minutes: 15,
    };
    let draft = ShowDraft {
        start: t0(),
        duration_minutes: 15,
        guest_ids: vec![g.id],
    };
    store.create_show(&draft, &rules, t0()).unwrap().id
}

/// Lets the runtime run what is ready (the timer task, the camera owner) until `done`
/// holds, moving the stopped clock by `step` per poll (zero: not at all); gives up after
/// a bounded number of real-time polls.
async fn settle(step: Duration, done: impl Fn() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
        if !step.is_zero() {
            tokio::time::advance(step).await;
        }
    }
    done()
}

const STILL: Duration = Duration::ZERO;
const TICK: Duration = Duration::from_millis(5);

fn spontaneous(store: &Store, show: &str) -> Vec<crate::store::Photo> {
    store
        .show(show)
        .unwrap()
        .photos
        .into_iter()
        .filter(|p| p.kind == PhotoKind::Spontaneous)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_spontaneous_photo_is_taken_at_its_offset_and_not_a_second_before() {
    let r = room();
    let show = scheduled(&r.store);
    let s = r.studio.clone();
    let started = tokio::task::spawn_blocking(move || {
        s.act(&show, ShowAction::Start, s.now())
            .map(|s| (s.id, s.started_at))
    })
    .await
    .unwrap()
    .unwrap();
    let (show, started_at) = (started.0, started.1.unwrap());
    assert_eq!(started_at, t0());

    tokio::time::advance(r.offset - Duration::from_secs(1)).await;
    assert!(
        !settle(STILL, || r.camera.captures() > 0).await,
        "the shutter fired before the offset"
    );
    assert!(spontaneous(&r.store, &show).is_empty());

    tokio::time::advance(Duration::from_secs(1)).await;
    let store = r.store.clone();
    assert!(
        settle(TICK, || !spontaneous(&store, &show).is_empty()).await,
        "no spontaneous photo once the offset passed: {:?} {:?}",
        r.studio.alerts().list(false, 10).unwrap(),
        r.store.show(&show).unwrap()
    );
    let p = spontaneous(&r.store, &show).remove(0);
    let late = p.captured_at - (started_at + chrono::Duration::from_std(r.offset).unwrap());
    assert!(
        late >= chrono::Duration::zero() && late < chrono::Duration::seconds(1),
        "captured {late} after the offset"
    );
    assert_eq!(r.camera.captures(), 1);
    assert!(
        r.studio.alerts().list(false, 10).unwrap().is_empty(),
        "{:?}",
        r.studio.alerts().list(false, 10)
    );
}

#[tokio::test(start_paused = true)]
async fn a_show_cancelled_before_the_offset_takes_no_spontaneous_photo() {
    let r = room();
    let show = scheduled(&r.store);
    let s = r.studio.clone();
    let id = show.clone();
    tokio::task::spawn_blocking(move || {
        s.act(&id, ShowAction::Start, s.now()).unwrap();
        s.act(&id, ShowAction::Cancel, s.now()).unwrap();
    })
    .await
    .unwrap();
    tokio::time::advance(r.offset + Duration::from_secs(5)).await;
    assert!(
        !settle(STILL, || r.camera.captures() > 0).await,
        "a cancelled show fired the shutter"
    );
    assert_eq!(r.store.show(&show).unwrap().status, ShowStatus::Cancelled);
    assert!(
        r.studio.alerts().list(false, 10).unwrap().is_empty(),
        "{:?}",
        r.studio.alerts().list(false, 10)
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_a_moment_missed_while_down_is_taken_at_once_and_only_once() {
    let r = room();
    let show = scheduled(&r.store);
    // The show started twenty minutes before this daemon's clock (it was down meanwhile).
    let long_ago = r.studio.now() - chrono::Duration::minutes(20);
    r.store.apply(&show, ShowAction::Start, long_ago).unwrap();

    let s = r.studio.clone();
    tokio::task::spawn_blocking(move || s.resume())
        .await
        .unwrap()
        .unwrap();
    let store = r.store.clone();
    assert!(
        settle(TICK, || !spontaneous(&store, &show).is_empty()).await,
        "the missed spontaneous photo was not taken on resume"
    );
    // A second resume (another restart) finds it claimed and fires nothing more.
    let s = r.studio.clone();
    tokio::task::spawn_blocking(move || s.resume())
        .await
        .unwrap()
        .unwrap();
    tokio::time::advance(r.offset).await;
    assert!(!settle(STILL, || r.camera.captures() > 1).await);
    assert_eq!(spontaneous(&r.store, &show).len(), 1);
}
