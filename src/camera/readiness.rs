//! Readiness measures on a test frame (issue 14): exposure from the luminance histogram
//! and sharpness as the variance of the Laplacian, both on a small decoded frame, and the
//! verdict against configured thresholds. Pure: no device, no I/O.
//!
//! Invariants:
//! - the frame is decoded already downscaled (libjpeg-turbo DCT scaling, straight to
//!   8-bit luminance), so a 24 MP JPEG costs about what a 1/8-size one does;
//! - every problem carries a stable machine `code` (the console translates it) and a plain
//!   English sentence for the technician.

use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor};

/// Long edge (pixels) the test frame is measured at, at least.
pub const MEASURE_EDGE: u32 = 480;
/// A pixel at or below this luminance counts as clipped to black.
pub const DARK_LEVEL: u8 = 8;
/// A pixel at or above this luminance counts as clipped to white.
pub const BRIGHT_LEVEL: u8 = 247;

/// An 8-bit luminance frame.
#[derive(Debug, Clone)]
pub struct Luma {
    pub w: u32,
    pub h: u32,
    pub px: Vec<u8>,
}

/// Exposure from the luminance histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exposure {
    /// Mean luminance, 0–255.
    pub mean: f64,
    /// Fraction of pixels at or below [`DARK_LEVEL`].
    pub dark_clipped: f64,
    /// Fraction of pixels at or above [`BRIGHT_LEVEL`].
    pub bright_clipped: f64,
}

/// Decodes `jpeg` to luminance at the smallest DCT scale whose long edge is still at
/// least [`MEASURE_EDGE`] (never upscaled).
pub fn decode_small(jpeg: &[u8]) -> Result<Luma, String> {
    let bad = |e: turbojpeg::Error| e.to_string();
    let mut d = Decompressor::new().map_err(bad)?;
    let header = d.read_header(jpeg).map_err(bad)?;
    let long = header.width.max(header.height);
    let mut best = ScalingFactor::ONE;
    for f in Decompressor::supported_scaling_factors() {
        let smaller =
            (f.num() as f64 / f.denom() as f64) < (best.num() as f64 / best.denom() as f64);
        if f.num() <= f.denom() && f.scale(long) >= MEASURE_EDGE as usize && smaller {
            best = f;
        }
    }
    d.set_scaling_factor(best).map_err(bad)?;
    let s = header.scaled(best);
    let mut px = vec![0u8; s.width * s.height];
    d.decompress(
        jpeg,
        Image {
            pixels: px.as_mut_slice(),
            width: s.width,
            pitch: s.width,
            height: s.height,
            format: PixelFormat::GRAY,
        },
    )
    .map_err(bad)?;
    Ok(Luma {
        w: s.width as u32,
        h: s.height as u32,
        px,
    })
}

/// Mean and clipped fractions of the luminance histogram.
pub fn exposure(f: &Luma) -> Exposure {
    let mut hist = [0u64; 256];
    for &p in &f.px {
        hist[p as usize] += 1;
    }
    let n = f.px.len().max(1) as f64;
    let sum: u64 = hist.iter().enumerate().map(|(v, c)| v as u64 * c).sum();
    let dark: u64 = hist[..=DARK_LEVEL as usize].iter().sum();
    let bright: u64 = hist[BRIGHT_LEVEL as usize..].iter().sum();
    Exposure {
        mean: sum as f64 / n,
        dark_clipped: dark as f64 / n,
        bright_clipped: bright as f64 / n,
    }
}

/// Variance of the 4-neighbour Laplacian over the frame's interior (0 for frames
/// smaller than 3×3).
pub fn sharpness(f: &Luma) -> f64 {
    let (w, h) = (f.w as usize, f.h as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let at = |x: usize, y: usize| f64::from(f.px[y * w + x]);
    let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let l = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y);
            sum += l;
            sq += l * l;
            n += 1.0;
        }
    }
    let mean = sum / n;
    sq / n - mean * mean
}

/// Thresholds of the readiness verdict (`[camera.check]`).
pub type Thresholds = crate::config::CheckThresholds;

/// One reason the camera is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable machine code, e.g. `too_dark`.
    pub code: &'static str,
    /// Plain English for the technician.
    pub message: String,
}

/// What the body reports beside the frame (`None`: it does not say).
#[derive(Debug, Clone, Default)]
pub struct BodyFacts {
    pub battery: Option<u8>,
    pub free_images: Option<u64>,
}

/// The problems of a frame and body against `t` (empty: ready).
pub fn assess(e: &Exposure, sharp: f64, body: &BodyFacts, t: &Thresholds) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut p = |code, message: String| out.push(Problem { code, message });
    if e.mean < t.min_mean {
        p(
            "too_dark",
            format!(
                "The test frame is too dark (mean brightness {:.0}, at least {:.0} expected): open the aperture, slow the shutter, raise the ISO or add light.",
                e.mean, t.min_mean
            ),
        );
    } else if e.mean > t.max_mean {
        p(
            "too_bright",
            format!(
                "The test frame is too bright (mean brightness {:.0}, at most {:.0} expected): close the aperture, speed up the shutter or lower the ISO.",
                e.mean, t.max_mean
            ),
        );
    }
    if e.dark_clipped > t.max_clipped {
        p(
            "shadows_clipped",
            format!(
                "{:.0}% of the frame is pure black (at most {:.0}% expected).",
                e.dark_clipped * 100.0,
                t.max_clipped * 100.0
            ),
        );
    }
    if e.bright_clipped > t.max_clipped {
        p(
            "highlights_clipped",
            format!(
                "{:.0}% of the frame is pure white (at most {:.0}% expected).",
                e.bright_clipped * 100.0,
                t.max_clipped * 100.0
            ),
        );
    }
    if sharp < t.min_sharpness {
        p(
            "not_sharp",
            format!(
                "The test frame is not sharp (sharpness {sharp:.1}, at least {:.1} expected): check the focus at the markers' distance and that the lens cap is off.",
                t.min_sharpness
            ),
        );
    }
    if let Some(b) = body.battery.filter(|b| *b < t.min_battery) {
        p(
            "battery_low",
            format!(
                "The camera battery is at {b}% (at least {}% expected): charge it or use the mains adapter.",
                t.min_battery
            ),
        );
    }
    if let Some(n) = body.free_images.filter(|n| *n < t.min_free_images) {
        p(
            "card_full",
            format!(
                "The memory card has room for {n} more pictures (at least {} expected): free or replace it.",
                t.min_free_images
            ),
        );
    }
    out
}

/// The readiness report: the test frame measured, the body's facts, and every problem.
#[derive(Debug, Clone)]
pub struct Report {
    /// No problems.
    pub ready: bool,
    pub problems: Vec<Problem>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub battery: Option<u8>,
    pub free_images: Option<u64>,
    pub format: Option<String>,
    /// The profile's keys as the body holds them now.
    pub settings: Vec<(String, String)>,
    pub exposure: Exposure,
    /// Variance of the Laplacian on the small frame.
    pub sharpness: f64,
}

/// Measures the test frame and gathers the problems: the frame's, the body's, the
/// profile's (refused values, drift) and a RAW-only format (no JPEG to keep).
pub fn report(
    checked: &super::Checked,
    state: &super::CameraState,
    t: &Thresholds,
) -> Result<Report, String> {
    let frame = decode_small(&checked.jpeg)?;
    let e = exposure(&frame);
    let sharp = sharpness(&frame);
    let f = &checked.facts;
    let body = BodyFacts {
        battery: f.battery,
        free_images: f.free_images,
    };
    let mut problems = assess(&e, sharp, &body, t);
    if let Some(fmt) = &f.format {
        let l = fmt.to_ascii_lowercase();
        if l.contains("raw") && !l.contains("jpeg") && !l.contains("fine") && !l.contains("normal")
        {
            problems.push(Problem {
                code: "raw_only",
                message: format!(
                    "The camera saves only RAW ({fmt}): set camera.settings.imageformat to a JPEG format."
                ),
            });
        }
    }
    for m in &state.settings_errors {
        problems.push(Problem {
            code: "setting_refused",
            message: m.clone(),
        });
    }
    for d in &state.drift {
        problems.push(Problem {
            code: "setting_drifted",
            message: format!(
                "The camera's {} is {} instead of {}: it is set back when the next show starts.",
                d.key, d.actual, d.expected
            ),
        });
    }
    let info = state.info.as_ref();
    Ok(Report {
        ready: problems.is_empty(),
        problems,
        model: info.map(|i| i.model.clone()),
        serial: info.and_then(|i| i.serial.clone()),
        battery: f.battery,
        free_images: f.free_images,
        format: f.format.clone(),
        settings: checked.settings.clone(),
        exposure: e,
        sharpness: sharp,
    })
}

impl std::fmt::Display for Report {
    /// The report as `cosmosd selftest camera` prints it.
    fn fmt(&self, w: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or = |v: Option<String>| v.unwrap_or_else(|| "not reported".into());
        writeln!(
            w,
            "readiness: {}",
            if self.ready { "ready" } else { "NOT READY" }
        )?;
        writeln!(w, "  model: {}", or(self.model.clone()))?;
        writeln!(w, "  serial: {}", or(self.serial.clone()))?;
        writeln!(
            w,
            "  battery: {}",
            or(self.battery.map(|b| format!("{b}%")))
        )?;
        writeln!(
            w,
            "  free images: {}",
            or(self.free_images.map(|n| n.to_string()))
        )?;
        writeln!(w, "  format: {}", or(self.format.clone()))?;
        for (k, v) in &self.settings {
            writeln!(w, "  setting {k}: {v}")?;
        }
        writeln!(
            w,
            "  exposure: mean {:.1}, dark clipped {:.1}%, bright clipped {:.1}%",
            self.exposure.mean,
            self.exposure.dark_clipped * 100.0,
            self.exposure.bright_clipped * 100.0
        )?;
        writeln!(w, "  sharpness: {:.1}", self.sharpness)?;
        for p in &self.problems {
            writeln!(w, "  problem {}: {}", p.code, p.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Luma {
        let px = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect();
        Luma { w, h, px }
    }

    fn checker(x: u32, y: u32) -> u8 {
        if (x / 4 + y / 4).is_multiple_of(2) {
            30
        } else {
            220
        }
    }

    fn box_blur(f: &Luma, r: i64) -> Luma {
        let (w, h) = (f.w as i64, f.h as i64);
        frame(f.w, f.h, |x, y| {
            let (mut s, mut n) = (0u64, 0u64);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (xx, yy) = (x as i64 + dx, y as i64 + dy);
                    if (0..w).contains(&xx) && (0..h).contains(&yy) {
                        s += u64::from(f.px[(yy * w + xx) as usize]);
                        n += 1;
                    }
                }
            }
            (s / n) as u8
        })
    }

    #[test]
    fn a_black_frame_is_dark_clipped_and_not_ready() {
        let black = frame(64, 48, |_, _| 0);
        let e = exposure(&black);
        assert!(e.mean < 0.5, "{e:?}");
        assert!(e.dark_clipped > 0.999 && e.bright_clipped == 0.0, "{e:?}");
        let codes: Vec<_> = assess(
            &e,
            sharpness(&black),
            &BodyFacts::default(),
            &Thresholds::default(),
        )
        .into_iter()
        .map(|p| p.code)
        .collect();
        assert_eq!(codes, ["too_dark", "shadows_clipped", "not_sharp"]);
    }

    #[test]
    fn a_sharp_frame_scores_far_above_its_blurred_copy() {
        let sharp = frame(96, 64, checker);
        let blurred = box_blur(&sharp, 3);
        let (s, b) = (sharpness(&sharp), sharpness(&blurred));
        assert!(s > 20.0 * b, "sharp {s} blurred {b}");
        let t = Thresholds::default();
        let ok = BodyFacts {
            battery: Some(80),
            free_images: Some(900),
        };
        assert!(assess(&exposure(&sharp), s, &ok, &t).is_empty());
        let codes: Vec<_> = assess(&exposure(&blurred), b, &ok, &t)
            .into_iter()
            .map(|p| p.code)
            .collect();
        assert_eq!(codes, ["not_sharp"]);
    }

    #[test]
    fn the_body_facts_are_checked_against_their_thresholds() {
        let sharp = frame(96, 64, checker);
        let low = BodyFacts {
            battery: Some(10),
            free_images: Some(3),
        };
        let codes: Vec<_> = assess(
            &exposure(&sharp),
            sharpness(&sharp),
            &low,
            &Thresholds::default(),
        )
        .into_iter()
        .map(|p| p.code)
        .collect();
        assert_eq!(codes, ["battery_low", "card_full"]);
    }

    #[test]
    fn a_jpeg_is_decoded_small_and_measured() {
        let w = 1920u32;
        let h = 1280u32;
        let img =
            image::GrayImage::from_fn(w, h, |x, _| image::Luma([if x < w / 2 { 0 } else { 255 }]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&img)
            .unwrap();
        let f = decode_small(&jpeg).unwrap();
        assert_eq!((f.w, f.h), (480, 320));
        let e = exposure(&f);
        assert!((e.mean - 127.5).abs() < 3.0, "{e:?}");
        assert!(
            (e.dark_clipped - 0.5).abs() < 0.02 && (e.bright_clipped - 0.5).abs() < 0.02,
            "{e:?}"
        );
    }
}
