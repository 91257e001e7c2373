//! `[camera]` and `[lights]`: which backend drives each device and its bounds. The
//! devices build themselves from these (`camera::Device::from_config`,
//! `lights::Device::from_config`), so the config owns the closed choices they read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, bad, existing_file, in_range, required, secs};

/// `camera.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraBackend {
    Gphoto2,
    Simulated,
}

#[derive(Debug, Clone)]
pub struct CameraConfig {
    pub backend: CameraBackend,
    /// Skip autodetection and open this model.
    pub model: Option<String>,
    /// Skip autodetection and open this port (`usb:001,004`).
    pub port: Option<String>,
    /// Longest any one camera call may take before it counts as a disconnect.
    pub call_timeout: Duration,
    /// How often a connected camera is polled to notice an unplug.
    pub poll_interval: Duration,
    /// "Busy" answers retried at once within one capture.
    pub busy_retries: u32,
    /// The JPEG the simulated camera shoots (default: a generated test pattern).
    pub simulated_photo: Option<PathBuf>,
    /// Recovery ladder: BCM pin of the relay on the camera's power (dummy battery); the
    /// relay backend follows `lights.backend`. None: the ladder has no power-cycle rung.
    pub power_pin: Option<u8>,
    /// Recovery ladder: how long the power stays cut, and how long the body boots.
    pub power_off: Duration,
    pub power_boot: Duration,
    /// Live view: most frames per second sent to the host (`camera.liveview_fps`).
    pub liveview_fps: u32,
    /// Live view: longest one stream runs (`camera.liveview_max_seconds`).
    pub liveview_max: Duration,
    /// Live view: quiet time between the last preview frame and the shutter
    /// (`camera.liveview_settle_ms`).
    pub liveview_settle: Duration,
    /// `[camera.settings]`: gphoto2 config names to the values the body must hold.
    pub settings: Vec<(String, String)>,
    /// `camera.focus`: focused once by hand, or driven during every countdown.
    pub focus: FocusPolicy,
    /// `[camera.check]`: the readiness check's thresholds.
    pub check: CheckThresholds,
}

/// `camera.focus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FocusPolicy {
    /// The body is focused once at the markers' distance (the profile sets manual focus).
    Manual,
    /// Focus is driven during the countdown; a failure is retried once, then the capture
    /// answers `camera_focus_failed`.
    Autofocus,
}

/// `[camera.check]`: what the readiness check accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckThresholds {
    /// Mean luminance (0–255) of the test frame must lie within these.
    pub min_mean: f64,
    pub max_mean: f64,
    /// Largest fraction of the frame clipped to black, or to white.
    pub max_clipped: f64,
    /// Lowest variance of the Laplacian (sharpness).
    pub min_sharpness: f64,
    /// Lowest battery level, percent.
    pub min_battery: u8,
    /// Fewest free images on the card.
    pub min_free_images: u64,
}

impl Default for CheckThresholds {
    fn default() -> Self {
        CheckThresholds {
            min_mean: 40.0,
            max_mean: 215.0,
            max_clipped: 0.25,
            min_sharpness: 20.0,
            min_battery: 30,
            min_free_images: 50,
        }
    }
}

/// `[camera.check]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCheck {
    min_mean: f64,
    max_mean: f64,
    max_clipped: f64,
    min_sharpness: f64,
    min_battery: u32,
    min_free_images: u32,
}

impl Default for RawCheck {
    fn default() -> Self {
        let d = CheckThresholds::default();
        RawCheck {
            min_mean: d.min_mean,
            max_mean: d.max_mean,
            max_clipped: d.max_clipped,
            min_sharpness: d.min_sharpness,
            min_battery: d.min_battery.into(),
            min_free_images: d.min_free_images as u32,
        }
    }
}

fn check_thresholds(r: RawCheck) -> Result<CheckThresholds, ConfigError> {
    let t = CheckThresholds {
        min_mean: in_range(r.min_mean, "camera.check.min_mean", 0.0..=255.0)?,
        max_mean: in_range(r.max_mean, "camera.check.max_mean", 0.0..=255.0)?,
        max_clipped: in_range(r.max_clipped, "camera.check.max_clipped", 0.0..=1.0)?,
        min_sharpness: in_range(r.min_sharpness, "camera.check.min_sharpness", 0.0..=1e6)?,
        min_battery: in_range(r.min_battery, "camera.check.min_battery", 0..=100)? as u8,
        min_free_images: u64::from(in_range(
            r.min_free_images,
            "camera.check.min_free_images",
            0..=100_000,
        )?),
    };
    if t.min_mean >= t.max_mean {
        return Err(bad(
            "camera.check.max_mean",
            format!("must be above camera.check.min_mean ({})", t.min_mean),
        ));
    }
    Ok(t)
}

/// `lights.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LightsBackend {
    Rppal,
    Simulated,
}

/// `lights.posing`: how posing looks, steady or a slow pulse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PosingStyle {
    Steady,
    Pulse,
}

#[derive(Debug, Clone)]
pub struct LightsConfig {
    pub backend: LightsBackend,
    /// BCM pin per floor marker; their count caps the number of guests in a show.
    pub pins: Vec<u8>,
    /// Relay boards are often active-low: a low pin lights the marker.
    pub active_low: bool,
    /// Posing markers steady, or in a slow pulse.
    pub posing: PosingStyle,
}

/// BCM GPIO numbers that exist on the Pi's 40-pin header.
pub const BCM_PINS: std::ops::RangeInclusive<i64> = 0..=27;

/// Floor markers a show can light at most (one relay board).
const MAX_MARKERS: usize = 8;

/// `[camera]` as written; the section and `backend` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCamera {
    backend: Option<CameraBackend>,
    model: Option<String>,
    port: Option<String>,
    call_timeout_seconds: u32,
    poll_seconds: u32,
    busy_retries: u32,
    simulated_photo: Option<PathBuf>,
    /// Signed, so a negative pin is reported as a bad pin rather than a type error.
    power_pin: Option<i64>,
    power_off_seconds: u32,
    power_boot_seconds: u32,
    liveview_fps: u32,
    liveview_max_seconds: u32,
    liveview_settle_ms: u32,
    /// `[camera.settings]`; values are checked by [`settings_profile`].
    settings: std::collections::BTreeMap<String, toml::Value>,
    focus: FocusPolicy,
    check: RawCheck,
}

impl Default for RawCamera {
    fn default() -> Self {
        RawCamera {
            backend: None,
            model: None,
            port: None,
            call_timeout_seconds: 20,
            poll_seconds: 5,
            busy_retries: 3,
            simulated_photo: None,
            power_pin: None,
            power_off_seconds: 3,
            power_boot_seconds: 8,
            liveview_fps: 10,
            liveview_max_seconds: 60,
            liveview_settle_ms: 500,
            settings: Default::default(),
            focus: FocusPolicy::Manual,
            check: RawCheck::default(),
        }
    }
}

/// `[lights]` as written; the section and `backend` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLights {
    backend: Option<LightsBackend>,
    /// Signed, so a negative pin is reported as a bad pin rather than a type error.
    pins: Vec<i64>,
    active_low: bool,
    posing: PosingStyle,
}

impl Default for RawLights {
    fn default() -> Self {
        RawLights {
            backend: None,
            pins: vec![17, 27, 22, 23],
            active_low: false,
            posing: PosingStyle::Steady,
        }
    }
}

pub(super) fn camera(r: RawCamera, base: &Path) -> Result<CameraConfig, ConfigError> {
    let backend = required(r.backend, "camera.backend")?;
    if r.port.is_some() && r.model.is_none() {
        return Err(bad(
            "camera.port",
            "give camera.model too (libgphoto2 opens a model on a port)",
        ));
    }
    for (key, v) in [("camera.model", &r.model), ("camera.port", &r.port)] {
        if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(bad(key, "must not be empty (leave it out to autodetect)"));
        }
    }
    let simulated_photo = match r.simulated_photo {
        None => None,
        Some(_) if backend != CameraBackend::Simulated => {
            return Err(bad(
                "camera.simulated_photo",
                "only applies to `backend = \"simulated\"`",
            ));
        }
        Some(p) => Some(existing_file(base, "camera.simulated_photo", p)?),
    };
    let settings = settings_profile(&r.settings)?;
    Ok(CameraConfig {
        backend,
        focus: r.focus,
        check: check_thresholds(r.check)?,
        simulated_photo,
        settings,
        model: r.model,
        port: r.port,
        call_timeout: secs(
            r.call_timeout_seconds,
            "camera.call_timeout_seconds",
            1..=300,
        )?,
        poll_interval: secs(r.poll_seconds, "camera.poll_seconds", 1..=600)?,
        busy_retries: in_range(r.busy_retries, "camera.busy_retries", 0..=20)?,
        power_pin: match r.power_pin {
            None => None,
            Some(p) => Some(
                u8::try_from(p)
                    .ok()
                    .filter(|_| BCM_PINS.contains(&p))
                    .ok_or_else(|| {
                        bad(
                            "camera.power_pin",
                            format!("pin {p} is not a BCM GPIO of the Pi's header (0–27)"),
                        )
                    })?,
            ),
        },
        power_off: secs(r.power_off_seconds, "camera.power_off_seconds", 1..=60)?,
        power_boot: secs(r.power_boot_seconds, "camera.power_boot_seconds", 1..=120)?,
        liveview_fps: in_range(r.liveview_fps, "camera.liveview_fps", 1..=30)?,
        liveview_max: secs(
            r.liveview_max_seconds,
            "camera.liveview_max_seconds",
            5..=600,
        )?,
        liveview_settle: Duration::from_millis(u64::from(in_range(
            r.liveview_settle_ms,
            "camera.liveview_settle_ms",
            0..=5000,
        )?)),
    })
}

/// `camera.power_pin` drives a relay of its own: it must not be a floor marker's pin.
pub(super) fn power_pin_apart(c: &CameraConfig, l: &LightsConfig) -> Result<(), ConfigError> {
    match c.power_pin {
        Some(p) if l.pins.contains(&p) => Err(bad(
            "camera.power_pin",
            format!("pin {p} is already a floor marker in `lights.pins`"),
        )),
        _ => Ok(()),
    }
}

/// `[camera.settings]`: names as gphoto2 spells them, values as non-empty strings
/// (what the body accepts is checked against the body at connect and by `check-config`).
fn settings_profile(
    raw: &std::collections::BTreeMap<String, toml::Value>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (k, v) in raw {
        let key = format!("camera.settings.{k}");
        let name_ok = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !name_ok {
            return Err(bad(
                &key,
                "is not a gphoto2 config name (letters, digits, - and _)",
            ));
        }
        let toml::Value::String(s) = v else {
            return Err(bad(
                &key,
                "must be a string, as gphoto2 shows it (e.g. \"f/8\")",
            ));
        };
        if s.trim().is_empty() || s.chars().any(char::is_control) {
            return Err(bad(
                &key,
                "must be non-empty text without control characters",
            ));
        }
        out.push((k.clone(), s.clone()));
    }
    Ok(out)
}

pub(super) fn lights(r: RawLights) -> Result<LightsConfig, ConfigError> {
    let backend = required(r.backend, "lights.backend")?;
    Ok(LightsConfig {
        backend,
        pins: pins(&r.pins)?,
        active_low: r.active_low,
        posing: r.posing,
    })
}

fn pins(pins: &[i64]) -> Result<Vec<u8>, ConfigError> {
    if pins.is_empty() {
        return Err(bad(
            "lights.pins",
            "must list at least one pin (one per floor marker)",
        ));
    }
    if pins.len() > MAX_MARKERS {
        return Err(bad(
            "lights.pins",
            format!("at most {MAX_MARKERS} floor markers are supported"),
        ));
    }
    let mut out = Vec::with_capacity(pins.len());
    for &p in pins {
        let pin = u8::try_from(p)
            .ok()
            .filter(|_| BCM_PINS.contains(&p))
            .ok_or_else(|| {
                bad(
                    "lights.pins",
                    format!("pin {p} is not a BCM GPIO of the Pi's header (0–27)"),
                )
            })?;
        if out.contains(&pin) {
            return Err(bad("lights.pins", format!("pin {p} is listed twice")));
        }
        out.push(pin);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{MINIMAL, assert_refused, parse};
    use super::*;

    fn camera(extra: &str) -> String {
        MINIMAL.replace(
            "[camera]\nbackend = \"simulated\"",
            &format!("[camera]\n{extra}"),
        )
    }

    fn lights(extra: &str) -> String {
        MINIMAL.replace(
            "[lights]\nbackend = \"simulated\"",
            &format!("[lights]\n{extra}"),
        )
    }

    #[test]
    fn camera_keys_are_checked_by_name() {
        let c = parse(MINIMAL).unwrap().camera;
        assert_eq!(c.backend, CameraBackend::Simulated);
        assert_eq!(c.call_timeout, Duration::from_secs(20));
        assert_eq!(c.poll_interval, Duration::from_secs(5));
        assert_eq!(c.busy_retries, 3);
        for (text, key) in [
            ("model = \"X\"", "camera.backend"),
            ("backend = \"canon\"", "camera.backend"),
            (
                "backend = \"gphoto2\"\nport = \"usb:001,004\"",
                "camera.port",
            ),
            ("backend = \"gphoto2\"\nmodel = \" \"", "camera.model"),
            (
                "backend = \"gphoto2\"\nmodel = \"X\"\nport = \"\"",
                "camera.port",
            ),
            (
                "backend = \"gphoto2\"\nsimulated_photo = \"a.jpg\"",
                "camera.simulated_photo",
            ),
            (
                "backend = \"simulated\"\nsimulated_photo = \"/nonexistent.jpg\"",
                "camera.simulated_photo",
            ),
            (
                "backend = \"simulated\"\ncall_timeout_seconds = 0",
                "camera.call_timeout_seconds",
            ),
            (
                "backend = \"simulated\"\npoll_seconds = 601",
                "camera.poll_seconds",
            ),
            (
                "backend = \"simulated\"\nbusy_retries = 21",
                "camera.busy_retries",
            ),
            (
                "backend = \"simulated\"\npower_pin = 28",
                "camera.power_pin",
            ),
            (
                "backend = \"simulated\"\npower_pin = -1",
                "camera.power_pin",
            ),
            // 17 is a floor marker in the default `lights.pins`.
            (
                "backend = \"simulated\"\npower_pin = 17",
                "camera.power_pin",
            ),
            (
                "backend = \"simulated\"\npower_pin = 5\npower_off_seconds = 0",
                "camera.power_off_seconds",
            ),
            (
                "backend = \"simulated\"\npower_pin = 5\npower_boot_seconds = 121",
                "camera.power_boot_seconds",
            ),
        ] {
            assert_refused(&camera(text), key);
        }
        let c = parse(&camera(
            "backend = \"gphoto2\"\nmodel = \"USB PTP Class Camera\"\nport = \"usb:001,004\"",
        ))
        .unwrap()
        .camera;
        assert_eq!(c.backend, CameraBackend::Gphoto2);
        assert_eq!(c.port.as_deref(), Some("usb:001,004"));
        assert_eq!(c.power_pin, None);
        let c = parse(&camera("backend = \"simulated\"\npower_pin = 5"))
            .unwrap()
            .camera;
        assert_eq!(c.power_pin, Some(5));
        assert_eq!(c.power_off, Duration::from_secs(3));
        assert_eq!(c.power_boot, Duration::from_secs(8));
    }

    #[test]
    fn liveview_keys_are_checked_by_name() {
        let c = parse(MINIMAL).unwrap().camera;
        assert_eq!(c.liveview_fps, 10);
        assert_eq!(c.liveview_max, Duration::from_secs(60));
        assert_eq!(c.liveview_settle, Duration::from_millis(500));
        for (text, key) in [
            ("liveview_fps = 0", "camera.liveview_fps"),
            ("liveview_fps = 31", "camera.liveview_fps"),
            ("liveview_max_seconds = 4", "camera.liveview_max_seconds"),
            ("liveview_max_seconds = 601", "camera.liveview_max_seconds"),
            ("liveview_settle_ms = 5001", "camera.liveview_settle_ms"),
            ("liveview_settle_ms = -1", "camera.liveview_settle_ms"),
        ] {
            assert_refused(&camera(&format!("backend = \"simulated\"\n{text}")), key);
        }
        let c = parse(&camera(
            "backend = \"simulated\"\nliveview_fps = 30\nliveview_max_seconds = 5\nliveview_settle_ms = 0",
        ))
        .unwrap()
        .camera;
        assert_eq!(c.liveview_fps, 30);
        assert_eq!(c.liveview_max, Duration::from_secs(5));
        assert_eq!(c.liveview_settle, Duration::ZERO);
    }

    #[test]
    fn lights_keys_are_checked_by_name() {
        for (text, key) in [
            ("pins = [17]", "lights.backend"),
            ("backend = \"gpio\"", "lights.backend"),
            ("backend = \"rppal\"\npins = []", "lights.pins"),
            (
                "backend = \"rppal\"\npins = [1,2,3,4,5,6,7,8,9]",
                "lights.pins",
            ),
            ("backend = \"rppal\"\npins = [-1]", "lights.pins"),
            ("backend = \"rppal\"\npins = [28]", "lights.pins"),
            ("backend = \"rppal\"\npins = [300]", "lights.pins"),
            ("backend = \"rppal\"\npins = [4, 5, 4]", "lights.pins"),
            ("backend = \"rppal\"\nposing = \"blink\"", "lights.posing"),
            (
                "backend = \"rppal\"\nactive_low = \"yes\"",
                "lights.active_low",
            ),
        ] {
            assert_refused(&lights(text), key);
        }
        let l = parse(&lights(
            "backend = \"rppal\"\npins = [0, 27]\nactive_low = true\nposing = \"pulse\"",
        ))
        .unwrap()
        .lights;
        assert_eq!(l.backend, LightsBackend::Rppal);
        assert_eq!(l.pins, vec![0, 27]);
        assert!(l.active_low);
        assert_eq!(l.posing, PosingStyle::Pulse);
    }
}
