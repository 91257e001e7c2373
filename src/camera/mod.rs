//! The camera: a small [`Device`] with two backends chosen by config (`gphoto2`, the
//! real one over the system libgphoto2, and `simulated`), and the one task that owns it.
//!
//! Invariants:
//! - exactly one task (the owner, [`spawn`]) talks to the device, so calls never
//!   interleave; everyone else sends it a request through a [`CameraHandle`];
//! - every device call is bounded by a timeout (libgphoto2 has none and can block for
//!   minutes); a call that overruns counts as a disconnect and the device is released;
//! - while disconnected the owner reconnects with capped exponential backoff, without a
//!   daemon restart; while connected it polls the camera to notice an unplug;
//! - `Busy` is retried at once a bounded number of times inside one capture request;
//! - the state (connected, model, since when, last error) is published on a watch
//!   channel for the health report and logged once per change.

pub mod bodies;
mod check;
mod device;
pub mod gphoto;
pub mod liveview;
pub mod power;
pub mod readiness;
pub mod recovery;
pub mod settings;
pub mod simulated;
pub mod usb;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

pub use check::{Checked, Facts};
pub use gphoto::Gphoto;
pub use power::{Power, PowerTiming, SimPower};
pub use recovery::{Recoveries, Rung};
pub use simulated::{Fault, SimControl, Simulated};

use crate::config::CameraConfig;

/// Why the camera could not do what was asked, by what the caller must do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    /// No camera answers (unplugged, off, USB link lost). The owner reconnects by itself;
    /// the caller reports "camera unavailable" (503) and may try again later.
    #[error("the camera is not connected: {0}")]
    Disconnected(String),
    /// Another process holds the USB device (typically the desktop's gvfs gphoto2
    /// monitor). Same as `Disconnected` for the caller; the technician must stop it.
    #[error("the camera is claimed by another process: {0}")]
    Claimed(String),
    /// The camera is busy (writing, focusing). The owner already retried; the caller may
    /// try again in a moment.
    #[error("the camera is busy: {0}")]
    Busy(String),
    /// A call did not return in time; treated as a disconnect and the device released.
    #[error("the camera did not answer within {0:?}")]
    Stuck(Duration),
    /// The camera's card is full: the host must clear or swap it. Not retried.
    #[error("the camera's memory card is full")]
    StoreFull,
    /// The camera answered, but not with a photo. Not retried.
    #[error("the camera failed: {0}")]
    Failed(String),
    /// Autofocus found nothing to lock on, twice (`camera.focus = "autofocus"`).
    #[error("the camera could not focus: {0}")]
    FocusFailed(String),
}

impl CameraError {
    /// Whether the device should be considered gone after this error.
    fn is_disconnect(&self) -> bool {
        matches!(
            self,
            CameraError::Disconnected(_) | CameraError::Claimed(_) | CameraError::Stuck(_)
        )
    }
}

/// What a connected camera told us about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CameraInfo {
    pub model: String,
    pub port: String,
    /// Settings worth showing (capture target, battery…), as the camera names them.
    pub settings: Vec<(String, String)>,
    /// The body's serial number (`serialnumber` config widget), when it reports one.
    pub serial: Option<String>,
    /// How the owner found it, and its shutter counter (see [`bodies`]).
    pub body: bodies::BodyFacts,
}

/// A photo as it came off the camera.
#[derive(Debug, Clone)]
pub struct Shot {
    pub jpeg: Vec<u8>,
    /// How many device attempts the capture took (busy retries included).
    pub attempts: u32,
    /// From trigger to bytes in hand.
    pub took: Duration,
}

/// The camera backends.
pub enum Device {
    Gphoto(gphoto::Gphoto),
    Simulated(Simulated),
}

/// Bounds on the owner's work, from `[camera]`.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Longest any one device call may take.
    pub call_timeout: Duration,
    /// How often a connected camera is polled.
    pub poll_every: Duration,
    /// Busy answers retried at once within one capture.
    pub busy_retries: u32,
    /// First and largest reconnect delay.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Quiet time between the last live-view frame and the shutter.
    pub liveview_settle: Duration,
}

impl Timing {
    /// The owner's bounds from `[camera]`; the reconnect backoff is not configurable.
    pub fn from_config(config: &CameraConfig) -> Timing {
        Timing {
            call_timeout: config.call_timeout,
            poll_every: config.poll_interval,
            busy_retries: config.busy_retries,
            liveview_settle: config.liveview_settle,
            ..Timing::default()
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            call_timeout: Duration::from_secs(20),
            poll_every: Duration::from_secs(5),
            busy_retries: 3,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            liveview_settle: Duration::from_millis(500),
        }
    }
}

/// The camera as the rest of the daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraState {
    pub backend: &'static str,
    pub connected: bool,
    /// A capture is in progress.
    pub busy: bool,
    pub info: Option<CameraInfo>,
    /// Profile values the body refused at the last apply (issue 14), as sentences naming
    /// `camera.settings.<key>` and the choices offered.
    pub settings_errors: Vec<String>,
    /// Profile keys whose value on the body differs from the profile (a turned dial).
    pub drift: Vec<settings::Drift>,
    /// When `connected` last changed.
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
    pub captures: u64,
    pub failures: u64,
    /// The recovery ladder is climbing this rung.
    pub recovering: Option<Rung>,
    /// Rungs climbed since start-up (see [`recovery`]).
    pub recoveries: Recoveries,
    /// The ladder ran out and the camera has not come back since.
    pub ladder_exhausted: bool,
}

impl CameraState {
    /// Nothing known yet: not connected, nothing counted.
    pub fn before_connect(backend: &'static str) -> CameraState {
        CameraState {
            backend,
            connected: false,
            busy: false,
            info: None,
            since: Utc::now(),
            last_error: None,
            captures: 0,
            failures: 0,
            recovering: None,
            recoveries: Recoveries::default(),
            ladder_exhausted: false,
            settings_errors: Vec::new(),
            drift: Vec::new(),
        }
    }
}

enum Request {
    Capture(oneshot::Sender<Result<Shot, CameraError>>),
    /// One live-view frame for the viewer that opened under `epoch` (see [`liveview`]).
    Preview {
        epoch: u64,
        reply: liveview::PreviewReply,
    },
    /// Re-apply `[camera.settings]` (a show starts); queued ahead of its captures.
    ApplyProfile,
    /// Drive autofocus (during a countdown), retried once.
    Focus(oneshot::Sender<Result<(), CameraError>>),
    /// A test frame and what the body reports, for the readiness check.
    Check(oneshot::Sender<Result<Checked, CameraError>>),
}

/// How the rest of the daemon reaches the camera owner.
#[derive(Clone)]
pub struct CameraHandle {
    tx: mpsc::Sender<Request>,
    state: watch::Receiver<CameraState>,
    liveview: std::sync::Arc<liveview::Shared>,
}

impl CameraHandle {
    /// Asks the owner to re-apply the settings profile (a show starts). Never waits: the
    /// request is queued ahead of the show's captures, so it runs before them; a full
    /// queue means the owner is busy and the next connect or request re-applies anyway.
    pub fn reapply_profile(&self) {
        if self.tx.try_send(Request::ApplyProfile).is_err() {
            log::warn!("camera busy: the settings profile is re-applied at its next request");
        }
    }

    /// Takes a photo (from async code).
    pub async fn capture(&self) -> Result<Shot, CameraError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Capture(tx))
            .await
            .map_err(|_| CameraError::Disconnected("the camera task has stopped".into()))?;
        rx.await.unwrap_or_else(|_| {
            Err(CameraError::Disconnected(
                "the camera task has stopped".into(),
            ))
        })
    }

    /// Takes a photo from a plain thread (the HTTP workers). Never call on a tokio worker.
    pub fn capture_blocking(&self) -> Result<Shot, CameraError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .blocking_send(Request::Capture(tx))
            .map_err(|_| CameraError::Disconnected("the camera task has stopped".into()))?;
        rx.blocking_recv().unwrap_or_else(|_| {
            Err(CameraError::Disconnected(
                "the camera task has stopped".into(),
            ))
        })
    }

    /// Asks the owner to drive autofocus now; the answer comes on the receiver (the
    /// countdown runs meanwhile).
    pub fn focus(&self) -> oneshot::Receiver<Result<(), CameraError>> {
        let (tx, rx) = oneshot::channel();
        if let Err(
            mpsc::error::TrySendError::Full(Request::Focus(tx))
            | mpsc::error::TrySendError::Closed(Request::Focus(tx)),
        ) = self.tx.try_send(Request::Focus(tx))
        {
            let _ = tx.send(Err(CameraError::Busy(
                "the camera has too much queued".into(),
            )));
        }
        rx
    }

    /// A test frame for the readiness check (from async code).
    pub async fn check(&self) -> Result<Checked, CameraError> {
        let (tx, rx) = oneshot::channel();
        let gone = || CameraError::Disconnected("the camera task has stopped".into());
        self.tx.send(Request::Check(tx)).await.map_err(|_| gone())?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// [`CameraHandle::check`], from blocking code.
    pub fn check_blocking(&self) -> Result<Checked, CameraError> {
        let (tx, rx) = oneshot::channel();
        let gone = || CameraError::Disconnected("the camera task has stopped".into());
        self.tx
            .blocking_send(Request::Check(tx))
            .map_err(|_| gone())?;
        rx.blocking_recv().unwrap_or_else(|_| Err(gone()))
    }

    pub fn state(&self) -> CameraState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every state change (for live updates and tests).
    pub fn watch(&self) -> watch::Receiver<CameraState> {
        self.state.clone()
    }
}

/// Starts the owner task on the current tokio runtime.
pub fn spawn(
    device: Device,
    timing: Timing,
    stop: CancellationToken,
) -> (CameraHandle, tokio::task::JoinHandle<()>) {
    spawn_with_power(device, timing, None, stop)
}

/// [`spawn`], with the relay on the camera's power for the ladder's power-cycle rung.
pub fn spawn_with_power(
    device: Device,
    timing: Timing,
    power: Option<(Power, PowerTiming)>,
    stop: CancellationToken,
) -> (CameraHandle, tokio::task::JoinHandle<()>) {
    let extras = Extras {
        power,
        ..Extras::default()
    };
    spawn_with(device, timing, extras, stop)
}

/// What the owner is given beyond the device and its timing.
#[derive(Default)]
pub struct Extras {
    /// The relay on the camera's power, for the ladder's power-cycle rung.
    pub power: Option<(Power, PowerTiming)>,
    /// `[camera.settings]`, applied on every connect and checked for drift on every poll.
    pub profile: settings::Profile,
}

/// [`spawn`], with the relay and the settings profile.
pub fn spawn_with(
    device: Device,
    timing: Timing,
    extras: Extras,
    stop: CancellationToken,
) -> (CameraHandle, tokio::task::JoinHandle<()>) {
    let Extras { power, profile } = extras;
    let (tx, rx) = mpsc::channel(8);
    let (state_tx, state_rx) = watch::channel(CameraState::before_connect(device.backend()));
    let shared = std::sync::Arc::new(liveview::Shared::default());
    let owner = Owner {
        liveview: shared.clone(),
        last_preview: None,
        device,
        timing,
        power,
        last_port: None,
        climb: false,
        profile,
        state: state_tx,
        backoff: timing.backoff_min,
        next_try: Instant::now(),
    };
    let task = tokio::spawn(owner.run(rx, stop));
    (
        CameraHandle {
            tx,
            state: state_rx,
            liveview: shared,
        },
        task,
    )
}

struct Owner {
    device: Device,
    timing: Timing,
    /// The relay on the camera's power, if `camera.power_pin` is set.
    power: Option<(Power, PowerTiming)>,
    /// The port of the last connection (for the USB reset rung).
    last_port: Option<String>,
    /// The next reconnect climbs the recovery ladder (an I/O error or a stuck call).
    climb: bool,
    /// `[camera.settings]`.
    profile: settings::Profile,
    state: watch::Sender<CameraState>,
    /// Current reconnect delay.
    backoff: Duration,
    /// Earliest next reconnect attempt.
    next_try: Instant,
    liveview: std::sync::Arc<liveview::Shared>,
    /// When the last live-view frame was taken (the settle time counts from it).
    last_preview: Option<Instant>,
}

impl Owner {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>, stop: CancellationToken) {
        loop {
            let connected = self.state.borrow().connected;
            let wake = if connected {
                Instant::now() + self.timing.poll_every
            } else {
                self.next_try
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                req = rx.recv() => match req {
                    None => break,
                    Some(Request::Capture(reply)) => {
                        // A capture always wins: live view opened before now ends.
                        self.liveview.capture_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        self.settle().await;
                        let r = self.capture().await;
                        self.reply_then_count(reply, r).await;
                    }
                    Some(Request::Focus(reply)) => {
                        let _ = reply.send(self.focus().await);
                    }
                    Some(Request::Check(reply)) => {
                        self.liveview.capture_epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        self.settle().await;
                        let _ = reply.send(self.check().await);
                    }
                    Some(Request::Preview { epoch, reply }) => {
                        let r = self.preview(epoch).await;
                        let _ = reply.send(r);
                    }
                    Some(Request::ApplyProfile) => {
                        if self.state.borrow().connected {
                            self.apply_profile().await;
                        }
                    }
                },
                _ = sleep_until(wake) => {
                    if connected {
                        if let Err(e) = self.call(|d, _| Box::pin(d.ping())).await {
                            self.lost(&e);
                        } else {
                            self.check_drift().await;
                        }
                    } else {
                        self.try_connect().await;
                    }
                }
            }
        }
        self.device.release();
        log::info!("camera released");
    }

    /// Runs one device call under the call timeout; an overrun is `Stuck`.
    async fn call<T>(
        &mut self,
        f: impl for<'a> FnOnce(
            &'a mut Device,
            Duration,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, CameraError>> + Send + 'a>,
        >,
    ) -> Result<T, CameraError> {
        let limit = self.timing.call_timeout;
        match timeout(limit, f(&mut self.device, limit)).await {
            Ok(r) => r,
            Err(_) => Err(CameraError::Stuck(limit)),
        }
    }

    fn on_connected(&mut self, info: CameraInfo) {
        log::info!(model = info.model.as_str(), port = info.port.as_str(),
            found_by = info.body.found_by(), settings = format!("{:?}", info.settings).as_str();
            "camera connected: {} on {}", info.model, info.port);
        self.backoff = self.timing.backoff_min;
        self.last_port = Some(info.port.clone());
        self.state.send_modify(|s| {
            s.connected = true;
            s.info = Some(info);
            s.since = Utc::now();
            s.last_error = None;
            s.ladder_exhausted = false;
        });
    }

    async fn try_connect(&mut self) -> bool {
        if std::mem::take(&mut self.climb) {
            return self.climb().await;
        }
        match self.open().await {
            Ok(info) => {
                self.on_connected(info);
                self.apply_profile().await;
                true
            }
            Err(e) => {
                self.device.release();
                let first = self.state.borrow().last_error.as_deref() != Some(&e.to_string());
                if first {
                    log_failure(&e);
                }
                self.state
                    .send_modify(|s| s.last_error = Some(e.to_string()));
                self.next_try = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(self.timing.backoff_max);
                false
            }
        }
    }

    fn lost(&mut self, e: &CameraError) {
        self.device.release();
        self.climb = recovery::climbs(e);
        log_failure(e);
        log::warn!(error = e.to_string().as_str(); "camera disconnected; reconnecting in the background");
        self.backoff = self.timing.backoff_min;
        self.next_try = Instant::now();
        self.state.send_modify(|s| {
            s.connected = false;
            s.since = Utc::now();
            s.last_error = Some(e.to_string());
            // Said at once, so nobody sees the camera offline before the ladder starts.
            s.recovering = recovery::climbs(e).then_some(Rung::Reopen);
        });
    }

    async fn capture(&mut self) -> Result<Shot, CameraError> {
        let started = std::time::Instant::now();
        self.state.send_modify(|s| s.busy = true);
        let r = self.capture_inner().await;
        self.state.send_modify(|s| {
            s.busy = false;
            match &r {
                Ok(_) => s.captures += 1,
                Err(e) => {
                    s.failures += 1;
                    s.last_error = Some(e.to_string());
                }
            }
        });
        r.map(|(jpeg, attempts)| Shot {
            jpeg,
            attempts,
            took: started.elapsed(),
        })
    }

    async fn capture_inner(&mut self) -> Result<(Vec<u8>, u32), CameraError> {
        let mut attempts = 0;
        // A disconnect gets one reconnect and one more try: a flaky USB link should not
        // cost the spontaneous photo.
        let mut reconnects_left = 1;
        loop {
            if !self.state.borrow().connected && !self.try_connect().await {
                return Err(self
                    .state
                    .borrow()
                    .last_error
                    .clone()
                    .map(CameraError::Disconnected)
                    .unwrap_or_else(|| CameraError::Disconnected("no camera".into())));
            }
            attempts += 1;
            match self.call(|d, limit| Box::pin(d.capture(limit))).await {
                Ok(jpeg) => return Ok((jpeg, attempts)),
                Err(CameraError::Busy(m)) if attempts <= self.timing.busy_retries => {
                    log::info!(rung = "retry", attempt = attempts, error = m.as_str();
                        "camera busy ({m}); retrying at once");
                    self.state.send_modify(|s| s.recoveries.count(Rung::Retry));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) if e.is_disconnect() => {
                    self.lost(&e);
                    if reconnects_left == 0 {
                        return Err(e);
                    }
                    reconnects_left -= 1;
                }
                Err(e) => {
                    log::warn!(error = e.to_string().as_str(); "capture failed: {e}");
                    return Err(e);
                }
            }
        }
    }
}

fn log_failure(e: &CameraError) {
    match e {
        CameraError::Claimed(m) => log::error!(error = m.as_str();
            "cannot claim the camera's USB interface: another process holds it. On a desktop \
             system this is usually gvfs: run `systemctl --user stop gvfs-gphoto2-volume-monitor` \
             (or install the udev rules of this package), then the camera reconnects by itself"),
        other => log::warn!(error = other.to_string().as_str(); "camera: {other}"),
    }
}

#[cfg(test)]
mod tests;
