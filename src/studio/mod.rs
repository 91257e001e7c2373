//! The studio: the show's timeline with the devices. It moves a show through its states
//! ([`Studio::act`], [`Studio::finish`]) with everything that goes with each move (the
//! store write, the spontaneous-photo timer when a show starts, and again after a
//! restart, the floor lights), takes the spontaneous and the posed photos, and turns a
//! camera shot into stored photo files plus a database row. HTTP handlers only call it.
//!
//! Invariants:
//! - the spontaneous photo is claimed in the database before the shutter fires, so the
//!   timer and a show-control trigger never both take it;
//! - files first, then the row: a row never points at a missing file, and a failed
//!   insert removes the files it wrote;
//! - free disk space is checked before the shutter fires; below the floor the capture
//!   is refused, not attempted;
//! - all of it blocks: it runs on HTTP worker threads or `spawn_blocking`, never on a
//!   tokio worker.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::alerts::Alerts;
use crate::camera::{CameraError, CameraHandle};
use crate::clock::Clock;
use crate::config::Config;
use crate::lights::{LightsHandle, Program};
use crate::outbox::Outbox;
use crate::photos::{self, PhotoError, PhotoFiles};
use crate::show::{AlertKind, PhotoKind, Refusal, RefusalCode, ShowAction};
use crate::store::{self, Mail, NewPhoto, Photo, Show, Store};

/// Free and total bytes of the filesystem holding `path` (the data folder: photos and
/// the database share it).
pub fn disk_space(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(path)?;
    Ok((s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize))
}

/// Why a photo was not taken, by what the caller tells the host.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    /// The show is not in a state for this photo (409/404); nothing happened.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Free space is below `storage.min_free_mb`: the shutter was not fired (507).
    #[error("only {free_mb} MB free on the data disk (floor {floor_mb} MB): capture refused")]
    DiskLow { free_mb: u64, floor_mb: u64 },
    /// The camera failed (503); the owner is already reconnecting if it is gone.
    #[error(transparent)]
    Camera(#[from] CameraError),
    /// The photo could not be processed or stored (507 when the disk is full).
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The host's sentence for a data disk below the floor (`detail` says how much is free).
pub fn disk_low_sentence(detail: &str) -> String {
    format!("The data disk is almost full: {detail}. Free space before the next show.")
}

/// Whole-capture attempts for the spontaneous photo (each already retries busy answers).
const SPONTANEOUS_ATTEMPTS: u32 = 3;

pub struct Studio {
    config: Arc<Config>,
    store: Arc<Store>,
    camera: CameraHandle,
    lights: LightsHandle,
    files: PhotoFiles,
    /// To arm timers from HTTP threads.
    rt: tokio::runtime::Handle,
    stop: CancellationToken,
    /// What the host must know about (persisted; see `crate::alerts`).
    alerts: Alerts,
    /// Photo rows whose files were missing at start-up.
    missing_files: Mutex<Vec<String>>,
    /// Tells the tablets a photo arrived (the spontaneous timer has no HTTP request).
    events: Arc<crate::events::Events>,
    /// "Now" for the timeline (the system clock; tests stop it).
    clock: Clock,
    /// The last readiness check's test frame, in memory only (never with a show).
    check_frame: Mutex<Option<Arc<Vec<u8>>>>,
    /// What `GET /metrics` counts as it happens.
    metrics: Arc<crate::metrics::Metrics>,
}

impl Studio {
    /// Must be called inside the tokio runtime (the spontaneous timers run on it).
    pub fn new(
        config: Arc<Config>,
        store: Arc<Store>,
        camera: CameraHandle,
        lights: LightsHandle,
        stop: CancellationToken,
        events: Arc<crate::events::Events>,
        clock: Clock,
    ) -> Studio {
        let alerts = Alerts::new(store.clone(), events.clone(), clock.clone());
        Studio {
            events,
            clock,
            files: PhotoFiles::new(&config.storage.data_dir),
            config,
            store,
            camera,
            lights,
            rt: tokio::runtime::Handle::current(),
            stop,
            alerts,
            missing_files: Mutex::new(Vec::new()),
            check_frame: Mutex::new(None),
            metrics: Arc::new(crate::metrics::Metrics::default()),
        }
    }

    /// The timeline's "now" (what handlers stamp writes with).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn camera(&self) -> &CameraHandle {
        &self.camera
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    pub fn lights(&self) -> &LightsHandle {
        &self.lights
    }

    /// The show's markers: marker i for guest i.
    fn markers(show: &store::Show) -> Vec<usize> {
        show.guests.iter().map(|g| g.marker as usize).collect()
    }

    /// The host moves a show (start, pose, cancel): the status change is written, then the
    /// spontaneous timer is armed (start) and the lights follow the new status.
    pub fn act(
        self: &Arc<Self>,
        show_id: &str,
        action: ShowAction,
        now: DateTime<Utc>,
    ) -> Result<Show, store::Error> {
        let s = self.store.apply(show_id, action, now)?;
        if let (ShowAction::Start, Some(started)) = (action, s.started_at) {
            self.camera.reapply_profile();
            self.arm_spontaneous(&s.id, started);
        }
        self.show_changed(&s);
        log::info!(show = s.id.as_str(), action = action.as_str(), status = s.status.as_str(); "show {}", s.status.as_str());
        Ok(s)
    }

    /// The host finishes a show in review: it completes, one message per guest is queued
    /// (returned), and the lights go off.
    pub fn finish(
        &self,
        outbox: &Outbox,
        show_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Show, Vec<Mail>), store::Error> {
        let (s, mails) = outbox.finish(show_id, now)?;
        self.show_changed(&s);
        log::info!(show = s.id.as_str(), action = "finish", status = s.status.as_str(), queued = mails.len(); "show completed");
        Ok((s, mails))
    }

    /// The lights that go with a show's new status (pose, cancel, finish).
    fn show_changed(&self, show: &store::Show) {
        use crate::show::ShowStatus as S;
        match show.status {
            S::Posing => self.lights.run(Program::Posing {
                markers: Self::markers(show),
            }),
            S::Cancelled | S::Completed => self.lights.run(Program::Off),
            S::Scheduled | S::Running | S::Review => {}
        }
    }

    pub fn files(&self) -> &PhotoFiles {
        &self.files
    }

    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// The camera task's state changed: a camera that is gone (lost, or a connection
    /// attempt failed) raises `camera_offline`; a connected one clears it. Before the
    /// first connection attempt nothing is known, and nothing is said.
    pub fn camera_seen(&self, state: &crate::camera::CameraState) {
        if state.connected {
            self.alerts.clear(AlertKind::CameraOffline, None);
            if state.drift.is_empty() {
                self.alerts.clear(AlertKind::CameraDrift, None);
            } else {
                let keys: Vec<&str> = state.drift.iter().map(|d| d.key.as_str()).collect();
                self.alerts.raise(
                    AlertKind::CameraDrift,
                    None,
                    &format!(
                        "A camera setting was changed on the body ({}): it is set back when the next show starts.",
                        keys.join(", ")
                    ),
                );
            }
        } else if state.recovering.is_some() {
            // The recovery ladder is climbing: the host sees "reconnecting"; the alert
            // waits until it has run out.
        } else if state.ladder_exhausted {
            self.alerts.raise(
                AlertKind::CameraOffline,
                None,
                "The camera stopped answering and every recovery step failed (reopening it, \
                 resetting its USB connection, cutting its power if a relay is fitted): switch \
                 the camera off and on, check its battery and USB cable; it reconnects by itself.",
            );
        } else if state.last_error.is_some() {
            // The error itself is in health's camera block, for the technician.
            self.alerts.raise(
                AlertKind::CameraOffline,
                None,
                "The camera is not connected: check its USB cable and that it is switched on.",
            );
        }
    }

    pub fn missing_files(&self) -> Vec<String> {
        self.missing_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Start-up: sweep temp files a crash left, report rows whose files are missing, and
    /// re-arm the spontaneous timer of any show that was in the room.
    pub fn resume(self: &Arc<Self>) -> Result<(), store::Error> {
        let rows = self.store.all_photos()?;
        let known = rows.iter().map(|p| p.name.clone()).collect();
        let (temps, orphans) = self.files.sweep(&known);
        if temps + orphans > 0 {
            log::warn!(temp_files = temps, orphan_files = orphans;
                "removed photo files a crash left behind ({temps} half-written, {orphans} never recorded)");
        }
        let mut missing = Vec::new();
        for p in rows {
            if !photos::Variant::ALL
                .iter()
                .all(|v| self.files.path(&p.show_id, &p.name, *v).exists())
            {
                log::error!(photo = p.id.as_str(), show = p.show_id.as_str(); "photo files are missing on disk");
                missing.push(p.id);
            }
        }
        let sentence = (!missing.is_empty())
            .then(|| format!("{} photos' files are missing on the box.", missing.len()));
        self.alerts
            .set(AlertKind::PhotoFilesMissing, None, sentence.as_deref());
        *self.missing_files.lock().unwrap_or_else(|p| p.into_inner()) = missing;
        for (show, started) in self.store.awaiting_spontaneous()? {
            log::info!(show = show.as_str(); "re-arming the spontaneous photo after a restart");
            self.arm_spontaneous(&show, started);
        }
        Ok(())
    }

    /// Schedules the spontaneous photo at `started_at + spontaneous_offset_seconds` (at once
    /// if that moment has passed while the daemon was down).
    pub fn arm_spontaneous(self: &Arc<Self>, show_id: &str, started_at: DateTime<Utc>) {
        let offset =
            chrono::Duration::seconds(i64::from(self.config.show.spontaneous_offset_seconds));
        let wait = (started_at + offset - self.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        // The deadline is fixed now, not when the task first runs.
        let at = tokio::time::Instant::now() + wait;
        let (me, show, stop) = (self.clone(), show_id.to_string(), self.stop.clone());
        self.rt.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = stop.cancelled() => return,
            }
            let _ = tokio::task::spawn_blocking(move || match me.take_spontaneous(&show) {
                Ok(_) => {}
                Err(TakeError::Refused(r)) => {
                    log::info!(show = show.as_str(), reason = r.code.as_str(); "spontaneous timer: nothing to do ({})", r.message);
                }
                Err(_) => {} // already alerted and logged
            })
            .await;
        });
    }

    /// Free space against the floor, before a shutter fires; raises or clears `disk_low`.
    fn disk_check(&self) -> Result<(), TakeError> {
        let floor = self.config.storage.min_free_bytes;
        let r = match disk_space(&self.config.storage.data_dir) {
            Ok((free, _)) if free < floor => Err(TakeError::DiskLow {
                free_mb: free / (1024 * 1024),
                floor_mb: floor / (1024 * 1024),
            }),
            _ => Ok(()),
        };
        let low = r.as_ref().err().map(|e| disk_low_sentence(&e.to_string()));
        self.alerts.set(AlertKind::DiskLow, None, low.as_deref());
        r
    }

    /// Takes the show's spontaneous photo now (timer or trigger); once per show. A
    /// failure after the bounded retries alerts the host and the show goes on.
    pub fn take_spontaneous(&self, show_id: &str) -> Result<Photo, TakeError> {
        let now = self.clock.now();
        self.disk_check().inspect_err(|e| {
            self.alerts.raise(
                AlertKind::SpontaneousFailed,
                Some(show_id),
                &format!("The spontaneous photo of a show was not taken: {e}."),
            );
        })?;
        self.store.claim_spontaneous(show_id, now)?;
        let mut last = None;
        for attempt in 1..=SPONTANEOUS_ATTEMPTS {
            match self.shoot(show_id, PhotoKind::Spontaneous) {
                Ok((p, _)) => {
                    log::info!(show = show_id, photo = p.id.as_str(), attempt = attempt; "spontaneous photo taken");
                    self.alerts
                        .clear(AlertKind::SpontaneousFailed, Some(show_id));
                    return Ok(p);
                }
                Err(TakeError::Camera(e @ (CameraError::StoreFull | CameraError::Failed(_)))) => {
                    last = Some(TakeError::Camera(e));
                    break; // retrying cannot help
                }
                Err(e @ TakeError::Camera(_)) => {
                    log::warn!(show = show_id, attempt = attempt; "spontaneous photo attempt failed: {e}");
                    last = Some(e);
                }
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        let e = last.expect("at least one attempt ran");
        self.store.spontaneous_failed(show_id, self.clock.now())?;
        self.alerts.raise(
            AlertKind::SpontaneousFailed,
            Some(show_id),
            &format!(
                "The spontaneous photo failed: {e}. It can be tried again while the show runs."
            ),
        );
        Err(e)
    }

    /// Takes a posed photo (countdown, shutter) and moves the show to review; from review
    /// it is a retake that replaces the pending posed photo.
    pub fn take_posed(&self, show_id: &str) -> Result<Photo, TakeError> {
        let show = self.store.show(show_id)?;
        crate::show::check_posed(show.status)?;
        self.disk_check()?;
        let markers = Self::markers(&show);
        // The shutter fires when the light countdown ends; an interrupted countdown (the
        // show was cancelled meanwhile) fires nothing.
        let length = Duration::from_secs(self.config.show.countdown_seconds.into());
        // `camera.focus = "autofocus"`: the body focuses while the countdown runs.
        let focus = (self.config.camera.focus == crate::config::FocusPolicy::Autofocus)
            .then(|| self.camera.focus());
        if self
            .lights
            .countdown(markers.clone(), length)
            .blocking_recv()
            .is_err()
        {
            return Err(TakeError::Refused(Refusal::conflict(
                RefusalCode::CountdownInterrupted,
                "the countdown was interrupted (the show changed meanwhile)",
            )));
        }
        let focused = match focus.map(|rx| rx.blocking_recv()) {
            None => Ok(()),
            Some(Ok(r)) => r.map_err(TakeError::from),
            Some(Err(_)) => Err(TakeError::from(crate::camera::CameraError::Disconnected(
                "the camera task has stopped".into(),
            ))),
        };
        let (photo, replaced) = match focused.and_then(|()| self.shoot(show_id, PhotoKind::Posed)) {
            Ok(r) => {
                self.lights.run(Program::Captured { markers });
                self.alerts.clear(AlertKind::CaptureFailed, Some(show_id));
                r
            }
            Err(e) => {
                self.lights.run(Program::Error { markers });
                if !matches!(e, TakeError::Refused(_)) {
                    if let Err(err) = self.store.capture_failed(show_id, self.clock.now()) {
                        log::error!(show = show_id; "recording a failed capture failed: {err}");
                    }
                    self.alerts.raise(
                        AlertKind::CaptureFailed,
                        Some(show_id),
                        &format!("A posed photo could not be taken: {e}."),
                    );
                }
                return Err(e);
            }
        };
        for r in replaced {
            self.files.remove(&r.show_id, &r.name);
        }
        log::info!(show = show_id, photo = photo.id.as_str(); "posed photo taken");
        Ok(photo)
    }

    /// Shutter → derivatives → files → row.
    fn shoot(&self, show_id: &str, kind: PhotoKind) -> Result<(Photo, Vec<Photo>), TakeError> {
        let shot = self.camera.capture_blocking()?;
        self.metrics.capture(kind.as_str(), shot.took.as_secs_f64());
        let captured_at = self.clock.now();
        let t = std::time::Instant::now();
        let d = photos::derive(&shot.jpeg)?;
        let derive_ms = t.elapsed().as_millis() as u64;
        let id = store::new_id("pho");
        let name = format!("{show_id}-{}-{}", kind.as_str(), &id[4..]);
        let t = std::time::Instant::now();
        self.files.save(show_id, &name, &shot.jpeg, &d)?;
        let save_ms = t.elapsed().as_millis() as u64;
        let new = NewPhoto {
            id,
            show_id: show_id.to_string(),
            kind,
            name: name.clone(),
            captured_at,
            width: d.original_size.0,
            height: d.original_size.1,
            bytes: shot.jpeg.len() as u64,
        };
        match self.store.add_photo(&new, self.clock.now()) {
            Ok(r) => {
                log::info!(show = show_id, kind = kind.as_str(), capture_ms = shot.took.as_millis() as u64,
                    derive_ms = derive_ms, save_ms = save_ms, attempts = shot.attempts; "photo stored");
                self.events.publish(crate::events::Change::PhotoStored {
                    show_id: show_id.to_string(),
                    photo_id: r.0.id.clone(),
                    kind,
                });
                Ok(r)
            }
            Err(e) => {
                self.files.remove(show_id, &name);
                Err(e.into())
            }
        }
    }

    /// The readiness check: a test frame (kept in memory for `frame`, replacing the
    /// last one), measured against `[camera.check]`. Nothing is written.
    pub fn camera_check(&self) -> Result<crate::camera::readiness::Report, CameraError> {
        let checked = self.camera.check_blocking()?;
        let state = self.camera.state();
        let report = crate::camera::readiness::report(&checked, &state, &self.config.camera.check)
            .map_err(|m| CameraError::Failed(format!("the test frame is unreadable: {m}")))?;
        *self.check_frame.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(checked.jpeg));
        log::info!(ready = report.ready, problems = report.problems.len() as u64,
            mean = report.exposure.mean, sharpness = report.sharpness; "camera check");
        Ok(report)
    }

    /// The last readiness check's test frame.
    pub fn check_frame(&self) -> Option<Arc<Vec<u8>>> {
        self.check_frame
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Discards a photo: the row, then its files.
    pub fn delete_photo(&self, id: &str) -> Result<Photo, store::Error> {
        let p = self.store.delete_photo(id, self.clock.now())?;
        self.files.remove(&p.show_id, &p.name);
        Ok(p)
    }
}

#[cfg(test)]
mod tests;
