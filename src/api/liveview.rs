//! `GET /api/camera/liveview`: live framing for the host, as
//! `multipart/x-mixed-replace` JPEG parts (each with its `Content-Length`).
//!
//! The worker opens the viewer and takes the first frame (so a camera without live view,
//! a second viewer or a camera that is gone get a plain JSON error before any multipart
//! starts), then hands the connection to a thread of its own, as the event stream does:
//! tiny_http's workers stay free. One viewer at a time (409 `liveview_busy`), so at most
//! one such thread. The stream ends cleanly (closing boundary) after
//! `camera.liveview_max_seconds`, when a capture preempts it, or when the camera fails;
//! it stops at the first failed write when the client goes away. Frames never touch disk.

use std::io::Write;

use super::{ApiError, Call, Context, ErrorBody, Reply};
use crate::camera::CameraError;
use crate::camera::liveview::{PreviewError, Viewer};

const BOUNDARY: &str = "cosmosframe";

/// An opened live view with its first frame, waiting for the connection.
pub struct Start {
    viewer: Viewer,
    first: Vec<u8>,
}

impl From<PreviewError> for ApiError {
    fn from(e: PreviewError) -> Self {
        match e {
            PreviewError::Busy => ApiError::new(
                409,
                "liveview_busy",
                "live view is already open on another screen; close it there first",
            ),
            PreviewError::Unsupported(m) => ApiError::new(
                409,
                "camera_no_liveview",
                format!("this camera has no live view ({m})"),
            ),
            PreviewError::Preempted => {
                let mut e = ApiError::new(409, "camera_busy", "a photo is being taken");
                e.headers.push(("Retry-After", "2".into()));
                e
            }
            PreviewError::Camera(c) => {
                let code = match &c {
                    CameraError::Busy(_) => "camera_busy",
                    CameraError::Failed(_) | CameraError::StoreFull => "camera_failed",
                    _ => "camera_unavailable",
                };
                ApiError::new(503, code, c.to_string())
            }
        }
    }
}

#[utoipa::path(get, path = "/api/camera/liveview", tag = "camera",
    summary = "Live view for framing: JPEG frames as multipart/x-mixed-replace",
    description = "At most `camera.liveview_fps` frames a second, for at most \
        `camera.liveview_max_seconds`; each part has `Content-Type: image/jpeg` and \
        `Content-Length`. One viewer at a time. A capture ends the stream (the photo wins); \
        the stream then closes with the final boundary. Frames are never stored.",
    responses(
        (status = 200, description = "the frames", content_type = "multipart/x-mixed-replace", body = Vec<u8>),
        (status = 409, description = "`liveview_busy` (another viewer), `camera_no_liveview` (the body has none) or `camera_busy` (a photo is being taken)", body = ErrorBody),
        (status = 503, description = "the camera is not available", body = ErrorBody),
    ))]
pub fn get_liveview(ctx: &Context, _call: &Call) -> Result<Reply, ApiError> {
    let c = &ctx.config.camera;
    let mut viewer = Viewer::open(ctx.studio.camera(), c.liveview_fps, c.liveview_max)?;
    let first = viewer
        .next_blocking()?
        .ok_or_else(|| PreviewError::Camera(CameraError::Failed("no frame".into())))?;
    Ok(Reply::liveview(Start { viewer, first }))
}

/// Hands the connection to a live-view thread.
pub fn start(rq: tiny_http::Request, start: Start) {
    let spawned = std::thread::Builder::new()
        .name("liveview".into())
        .spawn(move || {
            let Start { mut viewer, first } = start;
            let mut w = rq.into_writer();
            let (frames, why) = serve(&mut *w, &mut viewer, first);
            // Dropping the writer is what shuts the socket's write side: the door forwards
            // this request as the connection's last (`Connection: close`), so tiny_http
            // holds nothing else of it and the client sees the end at once.
            drop(w);
            log::info!(frames = frames, reason = why; "live view ended ({why}) after {frames} frames");
        });
    if let Err(e) = spawned {
        log::error!("could not start a live-view thread: {e}");
    }
}

/// Writes the stream; returns the frames sent and why it ended.
fn serve(w: &mut dyn Write, viewer: &mut Viewer, first: Vec<u8>) -> (u64, &'static str) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
    );
    if w.write_all(head.as_bytes()).is_err() {
        return (0, "client gone");
    }
    let mut frame = first;
    let mut sent = 0;
    let why = loop {
        if part(w, &frame).is_err() {
            return (sent, "client gone");
        }
        sent += 1;
        frame = match viewer.next_blocking() {
            Ok(Some(f)) => f,
            Ok(None) => break "time limit",
            Err(PreviewError::Preempted) => break "capture",
            Err(e) => {
                log::warn!(error = e.to_string().as_str(); "live view stopped: {e}");
                break "camera error";
            }
        };
    };
    let _ = w
        .write_all(format!("--{BOUNDARY}--\r\n").as_bytes())
        .and_then(|_| w.flush());
    (sent, why)
}

fn part(w: &mut dyn Write, jpeg: &[u8]) -> std::io::Result<()> {
    write!(
        w,
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        jpeg.len()
    )?;
    w.write_all(jpeg)?;
    w.write_all(b"\r\n")?;
    w.flush()
}
