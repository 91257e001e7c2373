//! Live view for framing: preview frames taken by the camera owner, one request per
//! frame, paced by the viewer.
//!
//! Invariants:
//! - only the owner task calls the device (`Request::Preview`); nothing here touches it;
//! - one viewer at a time ([`Viewer`] holds the claim; a second one gets
//!   [`PreviewError::Busy`]);
//! - a capture always wins: each capture request bumps the owner's capture epoch, and a
//!   preview asked under an older epoch is refused ([`PreviewError::Preempted`]), which
//!   ends the stream; the owner then waits `liveview_settle` after the last preview frame
//!   before it fires the shutter;
//! - frames live in memory only, never on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{CameraError, CameraHandle, Request};

/// Why no frame came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    /// The body has no live view (libgphoto2's virtual camera, some compacts).
    #[error("this camera has no live view: {0}")]
    Unsupported(String),
    /// Another viewer is watching.
    #[error("live view is already open on another screen")]
    Busy,
    /// A capture came: the stream ends so the shutter can fire.
    #[error("a photo is being taken")]
    Preempted,
    #[error(transparent)]
    Camera(#[from] CameraError),
}

/// The shared bits of live view, held by the handle and the owner.
#[derive(Default)]
pub(super) struct Shared {
    /// Bumped by every capture request the owner receives.
    pub(super) capture_epoch: AtomicU64,
    /// A viewer holds live view.
    pub(super) open: AtomicBool,
}

pub(super) type PreviewReply = oneshot::Sender<Result<Vec<u8>, PreviewError>>;

/// One open live view: frames at most `fps` a second, for at most `max`.
pub struct Viewer {
    handle: CameraHandle,
    shared: Arc<Shared>,
    epoch: u64,
    every: Duration,
    until: Instant,
    next: Instant,
}

impl Viewer {
    /// Claims live view (one viewer at a time).
    pub fn open(handle: &CameraHandle, fps: u32, max: Duration) -> Result<Viewer, PreviewError> {
        let shared = handle.liveview.clone();
        if shared.open.swap(true, Ordering::SeqCst) {
            return Err(PreviewError::Busy);
        }
        let now = Instant::now();
        Ok(Viewer {
            handle: handle.clone(),
            epoch: shared.capture_epoch.load(Ordering::SeqCst),
            shared,
            every: Duration::from_secs(1) / fps.max(1),
            until: now + max,
            next: now,
        })
    }

    /// The next frame, from a plain thread: waits for its slot (the fps cap), then asks
    /// the owner. `Ok(None)` once the stream's time is up.
    pub fn next_blocking(&mut self) -> Result<Option<Vec<u8>>, PreviewError> {
        let now = Instant::now();
        if now < self.next {
            std::thread::sleep(self.next - now);
        }
        if Instant::now() >= self.until {
            return Ok(None);
        }
        // Slots stay on a grid: a slow frame is not followed by a burst.
        self.next = (self.next + self.every).max(Instant::now());
        let (tx, rx) = oneshot::channel();
        self.handle
            .tx
            .blocking_send(Request::Preview {
                epoch: self.epoch,
                reply: tx,
            })
            .map_err(|_| stopped())?;
        rx.blocking_recv()
            .unwrap_or_else(|_| Err(stopped()))
            .map(Some)
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.shared.open.store(false, Ordering::SeqCst);
    }
}

fn stopped() -> PreviewError {
    PreviewError::Camera(CameraError::Disconnected(
        "the camera task has stopped".into(),
    ))
}

impl super::Owner {
    /// Before a shutter: waits out the settle time after the last live-view frame (the
    /// mirror and the sensor of a body leaving live view need it).
    pub(super) async fn settle(&mut self) {
        if let Some(last) = self.last_preview.take() {
            let at = last + self.timing.liveview_settle;
            if at > tokio::time::Instant::now() {
                log::debug!(settle_ms = self.timing.liveview_settle.as_millis() as u64;
                    "live view stopped for a capture; letting the camera settle");
                tokio::time::sleep_until(at).await;
            }
        }
    }

    /// One frame for a viewer opened under `epoch`.
    pub(super) async fn preview(&mut self, epoch: u64) -> Result<Vec<u8>, PreviewError> {
        if epoch != self.liveview.capture_epoch.load(Ordering::SeqCst) {
            return Err(PreviewError::Preempted);
        }
        if !self.state.borrow().connected && !self.try_connect().await {
            let e = self.state.borrow().last_error.clone();
            return Err(CameraError::Disconnected(e.unwrap_or_else(|| "no camera".into())).into());
        }
        let limit = self.timing.call_timeout;
        let r = match tokio::time::timeout(limit, self.device.preview()).await {
            Ok(r) => r,
            Err(_) => Err(CameraError::Stuck(limit).into()),
        };
        self.last_preview = Some(tokio::time::Instant::now());
        if let Err(PreviewError::Camera(e)) = &r
            && e.is_disconnect()
        {
            self.lost(e);
        }
        r
    }
}

/// Small live-view frames for the simulated camera: a bar sweeping across a gradient,
/// so a viewer can see frames change. Made once, on the first preview.
pub(super) fn simulated_frames() -> Arc<Vec<Vec<u8>>> {
    static FRAMES: std::sync::OnceLock<Arc<Vec<Vec<u8>>>> = std::sync::OnceLock::new();
    FRAMES
        .get_or_init(|| {
            const W: usize = 640;
            const H: usize = 426;
            const N: usize = 8;
            let mut c = turbojpeg::Compressor::new().expect("turbojpeg");
            c.set_quality(75).expect("quality");
            let frames = (0..N)
                .map(|k| {
                    let mut px = vec![0u8; W * H * 3];
                    let bar = k * W / N;
                    for y in 0..H {
                        for x in 0..W {
                            let i = (y * W + x) * 3;
                            let on = x >= bar && x < bar + W / N;
                            px[i] = if on { 240 } else { (40 + 150 * x / W) as u8 };
                            px[i + 1] = if on { 220 } else { (30 + 120 * y / H) as u8 };
                            px[i + 2] = if on { 60 } else { 90 };
                        }
                    }
                    c.compress_to_vec(turbojpeg::Image {
                        pixels: px.as_slice(),
                        width: W,
                        pitch: W * 3,
                        height: H,
                        format: turbojpeg::PixelFormat::RGB,
                    })
                    .expect("encoding a live-view frame")
                })
                .collect();
            Arc::new(frames)
        })
        .clone()
}
