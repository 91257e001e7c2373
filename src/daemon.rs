//! The daemon's lifecycle: open the store, start the API, wait for the shutdown signal,
//! then drain. `run` takes its socket and its shutdown signal as arguments so tests run
//! the real daemon on `127.0.0.1:0` in-process.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use tokio_util::sync::CancellationToken;

use crate::access::Throttle;
use crate::api;
use crate::camera::{self, Device};
use crate::config::Config;
use crate::events::{Change, Events};
use crate::lights;
use crate::outbox::Outbox;
use crate::store::Store;
use crate::studio::Studio;

/// The hardware, chosen by config in production and handed in by tests (which keep the
/// simulated devices' remote controls to script faults).
pub struct Devices {
    pub camera: Device,
    pub lights: lights::Device,
    /// The relay on the camera's power (`camera.power_pin`), for the recovery ladder.
    pub camera_power: Option<(camera::Power, camera::PowerTiming)>,
}

impl Devices {
    /// Builds the configured backends (see `camera::Device::from_config` and
    /// `lights::Device::from_config`). Fails when the GPIO cannot be opened (off a Pi),
    /// naming `lights.backend`, or when `camera.simulated_photo` is unreadable.
    pub fn from_config(config: &Config) -> anyhow::Result<Devices> {
        Ok(Devices {
            camera: Device::from_config(&config.camera)?,
            lights: lights::Device::from_config(&config.lights)?,
            camera_power: camera::Power::from_config(&config.camera, config.lights.backend)
                .map_err(anyhow::Error::msg)?,
        })
    }
}

/// Runs the daemon until `shutdown` resolves. `ready` is called with the bound address
/// once the API answers (the systemd notification hooks in here).
pub async fn run(
    config: Config,
    devices: Devices,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let data_dir = config.storage.data_dir.clone();
    // SQLite and the filesystem block: keep them off the async workers.
    let (store, _data_lock) = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        // One daemon per data folder; `cosmosd restore` takes the same lock.
        let lock = crate::backup::lock_data_dir(&data_dir)?;
        anyhow::Ok((Store::open(&data_dir.join(crate::store::DB_FILE))?, lock))
    })
    .await
    .context("the store opener panicked")??;
    let store = Arc::new(store);
    // A marker left by the previous run means it never stopped cleanly (a crash, a kill,
    // the watchdog): the technician hears of it (`oncall`).
    let started_at = chrono::Utc::now();
    let unclean_restart = match crate::oncall::mark_running(&config.storage.data_dir, started_at) {
        Ok(Some(previous)) => {
            log::warn!(previous_start = previous.as_str(); "the previous run did not stop cleanly");
            Some(started_at)
        }
        Ok(None) => None,
        Err(e) => {
            log::error!("writing the run marker failed: {e}");
            None
        }
    };
    let oncall = Arc::new(crate::oncall::Oncall::new(
        config.clone(),
        store.clone(),
        unclean_restart,
    ));

    let stop = CancellationToken::new();
    let events = Arc::new(Events::new());
    // The body seen last is looked for on other ports when the configured one fails.
    let mut device = devices.camera;
    device.look_for_serial(crate::bodies::remembered_serial(store.clone()).await);
    let (camera, camera_task) = camera::spawn_with(
        device,
        camera::Timing::from_config(&config.camera),
        camera::Extras {
            power: devices.camera_power,
            profile: camera::settings::Profile(config.camera.settings.clone()),
        },
        stop.clone(),
    );
    // Per-body counters, written behind the owner; ends after the owner, with a last write.
    let bodies_task = tokio::spawn(crate::bodies::run(store.clone(), camera.watch()));
    let (lights, lights_task) = lights::spawn(devices.lights, config.lights.posing, stop.clone());
    let studio = Arc::new(Studio::new(
        config.clone(),
        store.clone(),
        camera,
        lights,
        stop.clone(),
        events.clone(),
        crate::clock::Clock::system(),
    ));
    // The camera's connection state, for the tablets' banner and the host's alerts.
    {
        let mut watch = studio.camera().watch();
        let events = events.clone();
        let stop = stop.clone();
        let studio = studio.clone();
        tokio::spawn(async move {
            let mut last = (watch.borrow().connected, watch.borrow().busy);
            // What the alert last heard: connected, a connection attempt failed, the
            // ladder ran out, it is climbing, the settings that drifted.
            let mut alerted = None;
            loop {
                let state = watch.borrow_and_update().clone();
                let seen = (
                    state.connected,
                    state.last_error.is_some(),
                    state.ladder_exhausted,
                    state.recovering.is_some(),
                    state.drift.clone(),
                );
                if alerted.as_ref() != Some(&seen) {
                    alerted = Some(seen);
                    // The store blocks: off the async workers.
                    let studio = studio.clone();
                    let _ = tokio::task::spawn_blocking(move || studio.camera_seen(&state)).await;
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    changed = watch.changed() => if changed.is_err() { break },
                }
                let now = (watch.borrow().connected, watch.borrow().busy);
                if now != last {
                    last = now;
                    events.publish(Change::Camera {
                        connected: now.0,
                        busy: now.1,
                    });
                }
            }
        });
    }
    {
        let studio = studio.clone();
        tokio::task::spawn_blocking(move || studio.resume())
            .await
            .context("resuming the show timeline panicked")?
            .context("resuming the show timeline")?;
    }

    // Reading and test-rendering the templates is file IO: keep it off the async workers.
    let outbox = {
        let (config, store, events) = (config.clone(), store.clone(), events.clone());
        let alerts = studio.alerts().clone();
        tokio::task::spawn_blocking(move || Outbox::new(config, store, events, alerts))
            .await
            .context("loading the mail templates panicked")?
            .context("loading the mail templates")?
    };
    let sender = outbox.start().context("starting the outbox sender")?;

    // The daily purge of guest data past retention (its first run is now).
    let retention = Arc::new(crate::retention::Retention::default());
    let purge_task = tokio::spawn(crate::retention::run(
        config.clone(),
        store.clone(),
        retention.clone(),
        stop.clone(),
    ));

    let ctx = Arc::new(api::Context {
        studio,
        outbox: outbox.clone(),
        events: events.clone(),
        streams: Default::default(),
        throttle: Mutex::new(Throttle::new(
            config.auth.max_failed_logins,
            config.auth.lockout,
        )),
        config: config.clone(),
        store: store.clone(),
        started: Instant::now(),
        retention,
        requests: Arc::new(api::door::limits::RequestLimits::from_config(
            &config.server,
        )),
    });
    // Health in the journal: one line whenever what needs the technician changes; and
    // the technician's alerts, decided from the same report.
    let health_task = {
        let ctx = ctx.clone();
        let stop = stop.clone();
        let every = config.alerts.check_every;
        tokio::spawn(async move {
            let mut last: Option<Vec<String>> = None;
            loop {
                let c = ctx.clone();
                let oncall = oncall.clone();
                let now = tokio::task::spawn_blocking(move || {
                    let r = api::health_report(&c);
                    // The disk reserve comes back once there is room above the floor.
                    if let crate::health::Disk::Ok {
                        free_bytes,
                        min_free_bytes,
                        ..
                    } = r.disk
                    {
                        match crate::reserve::ensure(
                            &c.config.storage.data_dir,
                            free_bytes,
                            min_free_bytes,
                        ) {
                            Ok(true) => {
                                log::info!(bytes = crate::reserve::BYTES; "disk reserve in place")
                            }
                            Ok(false) => {}
                            Err(e) => log::warn!("making the disk reserve failed: {e}"),
                        }
                    }
                    if oncall.round(&r, chrono::Utc::now()) {
                        c.outbox.wake();
                    }
                    r.problems
                })
                .await;
                if let Ok(now) = now
                    && last.as_ref() != Some(&now)
                {
                    if now.is_empty() {
                        log::info!(health = "ok"; "health: ok");
                    } else {
                        log::warn!(health = "degraded", problems = now.join("; ").as_str(); "health: {}", now.join("; "));
                    }
                    last = Some(now);
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        })
    };
    // Creating the API's socket folder and its worker threads blocks: off the async workers
    // (the door it starts still runs on the runtime).
    let server = tokio::task::spawn_blocking(move || api::start(listener, ctx))
        .await
        .context("starting the API panicked")??;
    let addr = server.local_addr();
    log::info!(listen = addr.to_string().as_str(), db = store.path().display().to_string().as_str();
        "cosmosd {} ready on http://{addr}", env!("CARGO_PKG_VERSION"));
    ready(addr);

    shutdown.await;
    log::info!("shutting down: draining requests");
    events.close();
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .context("the HTTP server panicked while stopping")?;
    stop.cancel();
    outbox.stop();
    let _ = tokio::task::spawn_blocking(move || sender.join()).await;
    let _ = camera_task.await;
    let _ = bodies_task.await;
    let _ = lights_task.await;
    let _ = purge_task.await;
    let _ = health_task.await;
    crate::oncall::mark_stopped(&config.storage.data_dir);
    log::info!("stopped");
    Ok(())
}
