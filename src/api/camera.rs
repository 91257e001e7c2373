//! `POST /api/camera/check` and `GET /api/camera/check/frame`: the readiness check
//! before a show (issue 14). The test frame is never a guest's photo: it lives in memory
//! until the next check and is never stored with a show.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, Call, Context, ErrorBody, Reply};
use crate::camera::readiness::Report;
use crate::studio::TakeError;

/// Where the last check's frame is served.
pub const FRAME_URL: &str = "/api/camera/check/frame";

/// The readiness report.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckOut {
    /// No problems: the camera is fit for a show.
    pub ready: bool,
    pub problems: Vec<ProblemOut>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Battery level in percent, when the body reports it.
    pub battery: Option<u8>,
    /// Pictures the card still has room for, when the body reports it.
    pub free_images: Option<u64>,
    /// The image format, as the body names it.
    pub format: Option<String>,
    /// `[camera.settings]` keys as the body holds them now.
    pub settings: BTreeMap<String, String>,
    pub exposure: ExposureOut,
    /// Variance of the Laplacian on the small decoded frame (higher is sharper).
    pub sharpness: f64,
    /// The test frame (JPEG), until the next check.
    pub frame_url: String,
}

/// One reason the camera is not ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemOut {
    /// Stable code: `too_dark`, `too_bright`, `shadows_clipped`, `highlights_clipped`,
    /// `not_sharp`, `battery_low`, `card_full`, `raw_only`, `setting_refused`,
    /// `setting_drifted`.
    pub code: String,
    /// Plain English, for the technician.
    pub message: String,
}

/// Exposure of the test frame, from its luminance histogram.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExposureOut {
    /// Mean luminance, 0–255.
    pub mean: f64,
    /// Fraction of the frame clipped to black.
    pub dark_clipped: f64,
    /// Fraction of the frame clipped to white.
    pub bright_clipped: f64,
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

impl From<Report> for CheckOut {
    fn from(r: Report) -> Self {
        CheckOut {
            ready: r.ready,
            problems: r
                .problems
                .into_iter()
                .map(|p| ProblemOut {
                    code: p.code.into(),
                    message: p.message,
                })
                .collect(),
            model: r.model,
            serial: r.serial,
            battery: r.battery,
            free_images: r.free_images,
            format: r.format,
            settings: r.settings.into_iter().collect(),
            exposure: ExposureOut {
                mean: round(r.exposure.mean, 1),
                dark_clipped: round(r.exposure.dark_clipped, 4),
                bright_clipped: round(r.exposure.bright_clipped, 4),
            },
            sharpness: round(r.sharpness, 1),
            frame_url: FRAME_URL.into(),
        }
    }
}

#[utoipa::path(post, path = "/api/camera/check", tag = "camera",
    summary = "Readiness check: a test frame measured, and what the body reports",
    description = "Fires the shutter once for a test frame (never a guest's photo, never \
        stored with a show), measures its exposure (luminance histogram) and sharpness \
        (variance of the Laplacian) on a small decoded copy, reads battery, free images, \
        format and the `[camera.settings]` keys, and lists every problem against \
        `[camera.check]`. A live view running is ended first, as for a capture.",
    responses(
        (status = 200, description = "the report (`ready` false lists the problems)", body = CheckOut),
        (status = 503, description = "the camera is not available, busy or failed", body = ErrorBody),
    ))]
pub fn post_check(ctx: &Context, _call: &Call) -> Result<Reply, ApiError> {
    let report = ctx.studio.camera_check().map_err(TakeError::Camera)?;
    Ok(Reply::json(200, &CheckOut::from(report)))
}

#[utoipa::path(get, path = "/api/camera/check/frame", tag = "camera",
    summary = "The last readiness check's test frame",
    responses(
        (status = 200, description = "JPEG", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, description = "`no_check_frame`: no check since the daemon started", body = ErrorBody),
    ))]
pub fn get_check_frame(ctx: &Context, _call: &Call) -> Result<Reply, ApiError> {
    let frame = ctx.studio.check_frame().ok_or_else(|| {
        ApiError::new(
            404,
            "no_check_frame",
            "no camera check has been made since the box started",
        )
    })?;
    Ok(Reply::raw(200, "image/jpeg", frame.as_ref().clone()))
}
