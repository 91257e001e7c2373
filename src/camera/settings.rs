//! The settings profile (`[camera.settings]`, issue 14): gphoto2 config names to the
//! string values the body must hold. Pure rules here; the backends get and set widgets.
//!
//! Invariants:
//! - a value is checked against the body's widget before it is set (a radio/menu value
//!   must be one of its choices, a range value inside its range, a toggle 0 or 1), and
//!   read back after; a refusal names the key and the choices the body offers;
//! - drift is the list of profile keys whose read-back value differs from the profile.

use std::fmt;

/// The body's widget behind one config name, as far as the profile cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Widget {
    /// A radio or menu widget: one of its choices.
    Choice(Vec<String>),
    /// A range widget: a number from `min` to `max`.
    Range { min: f32, max: f32, step: f32 },
    /// A toggle: `0` or `1`.
    Toggle,
    /// A text widget: any string.
    Text,
}

/// Why a profile value cannot be held by the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("camera.settings.{key}: the camera has no setting of that name")]
    Unknown { key: String },
    #[error("camera.settings.{key}: the camera refuses {value:?}; it offers {offers}")]
    Refused {
        key: String,
        value: String,
        offers: String,
    },
    #[error("camera.settings.{key}: set to {expected:?} but the camera reads back {actual:?}")]
    ReadBack {
        key: String,
        expected: String,
        actual: String,
    },
    #[error("camera.settings.{key}: {message}")]
    Device { key: String, message: String },
}

impl Widget {
    /// What the body offers, in words for an error.
    pub fn offers(&self) -> String {
        match self {
            Widget::Choice(c) => c
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            Widget::Range { min, max, step } => {
                format!("a number from {min} to {max} in steps of {step}")
            }
            Widget::Toggle => "\"0\" or \"1\"".to_string(),
            Widget::Text => "any text".to_string(),
        }
    }

    /// Whether the body can hold `value` in this widget.
    pub fn check(&self, key: &str, value: &str) -> Result<(), SettingError> {
        let ok = match self {
            Widget::Choice(c) => c.iter().any(|s| s == value),
            Widget::Range { min, max, .. } => value
                .trim()
                .parse::<f32>()
                .is_ok_and(|v| v.is_finite() && (*min..=*max).contains(&v)),
            Widget::Toggle => matches!(value, "0" | "1"),
            Widget::Text => true,
        };
        if ok {
            Ok(())
        } else {
            Err(SettingError::Refused {
                key: key.to_string(),
                value: value.to_string(),
                offers: self.offers(),
            })
        }
    }

    /// Whether a read-back `actual` holds `expected` (ranges compare as numbers).
    pub fn same(&self, expected: &str, actual: &str) -> bool {
        match self {
            Widget::Range { .. } => {
                match (expected.trim().parse::<f32>(), actual.trim().parse::<f32>()) {
                    (Ok(a), Ok(b)) => (a - b).abs() < 1e-3,
                    _ => expected == actual,
                }
            }
            _ => expected == actual,
        }
    }
}

/// The profile, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile(pub Vec<(String, String)>);

impl Profile {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One profile key whose body value differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub key: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {:?}, the camera has {:?}",
            self.key, self.expected, self.actual
        )
    }
}

/// What a backend offers the profile: its widgets by config name.
pub trait Widgets {
    /// The widget and its current value; `Ok(None)` when the body has no such name.
    fn read(&mut self, key: &str) -> Result<Option<(Widget, String)>, String>;
    /// Sets the value (already checked against the widget).
    fn write(&mut self, key: &str, value: &str) -> Result<(), String>;
}

/// Checks every profile value against the body without setting anything
/// (`cosmosd check-config`).
pub fn check(profile: &Profile, body: &mut dyn Widgets) -> Vec<SettingError> {
    let mut out = Vec::new();
    for (key, value) in &profile.0 {
        match body.read(key) {
            Ok(None) => out.push(SettingError::Unknown { key: key.clone() }),
            Ok(Some((w, _))) => out.extend(w.check(key, value).err()),
            Err(message) => out.push(SettingError::Device {
                key: key.clone(),
                message,
            }),
        }
    }
    out
}

/// Sets every profile value the body accepts and reads it back; returns one error per
/// key that failed (the others are applied).
pub fn apply(profile: &Profile, body: &mut dyn Widgets) -> Vec<SettingError> {
    let mut out = Vec::new();
    for (key, value) in &profile.0 {
        if let Err(e) = apply_one(key, value, body) {
            out.push(e);
        }
    }
    out
}

fn apply_one(key: &str, value: &str, body: &mut dyn Widgets) -> Result<(), SettingError> {
    let dev = |message| SettingError::Device {
        key: key.to_string(),
        message,
    };
    let (w, current) = body
        .read(key)
        .map_err(dev)?
        .ok_or_else(|| SettingError::Unknown {
            key: key.to_string(),
        })?;
    w.check(key, value)?;
    if !w.same(value, &current) {
        body.write(key, value).map_err(dev)?;
    }
    let (w, actual) = body
        .read(key)
        .map_err(dev)?
        .ok_or_else(|| SettingError::Unknown {
            key: key.to_string(),
        })?;
    if w.same(value, &actual) {
        Ok(())
    } else {
        Err(SettingError::ReadBack {
            key: key.to_string(),
            expected: value.to_string(),
            actual,
        })
    }
}

/// Reads every profile key back; the keys whose value differs.
pub fn drift(profile: &Profile, body: &mut dyn Widgets) -> Result<Vec<Drift>, String> {
    let mut out = Vec::new();
    for (key, expected) in &profile.0 {
        let Some((w, actual)) = body.read(key)? else {
            continue; // reported as unknown when applied
        };
        if !w.same(expected, &actual) {
            out.push(Drift {
                key: key.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(out)
}

/// The profile against a connected device: the same rules as [`check`], [`apply`] and
/// [`drift`], over the backends' async widget calls.
impl super::Device {
    /// A settings widget and its value (issue 14; `Ok(None)`: no such name).
    pub(super) async fn read_setting(
        &mut self,
        key: &str,
    ) -> Result<Option<(Widget, String)>, super::CameraError> {
        match self {
            super::Device::Gphoto(d) => d.read_setting(key).await,
            super::Device::Simulated(d) => d.read_setting(key).await,
        }
    }

    pub(super) async fn write_setting(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<(), super::CameraError> {
        match self {
            super::Device::Gphoto(d) => d.write_setting(key, value).await,
            super::Device::Simulated(d) => d.write_setting(key, value).await,
        }
    }

    /// Checks without setting (`check-config`).
    pub async fn check_profile(&mut self, profile: &Profile) -> Vec<SettingError> {
        let mut out = Vec::new();
        for (key, value) in &profile.0 {
            match self.read_setting(key).await {
                Ok(None) => out.push(SettingError::Unknown { key: key.clone() }),
                Ok(Some((w, _))) => out.extend(w.check(key, value).err()),
                Err(e) => out.push(SettingError::Device {
                    key: key.clone(),
                    message: e.to_string(),
                }),
            }
        }
        out
    }

    /// Sets and reads back every value; one error per key that failed.
    pub async fn apply_profile(&mut self, profile: &Profile) -> Vec<SettingError> {
        let mut out = Vec::new();
        for (key, value) in &profile.0 {
            if let Err(e) = self.apply_setting(key, value).await {
                out.push(e);
            }
        }
        out
    }

    async fn apply_setting(&mut self, key: &str, value: &str) -> Result<(), SettingError> {
        let dev = |e: super::CameraError| SettingError::Device {
            key: key.to_string(),
            message: e.to_string(),
        };
        let unknown = || SettingError::Unknown {
            key: key.to_string(),
        };
        let (w, current) = self
            .read_setting(key)
            .await
            .map_err(dev)?
            .ok_or_else(unknown)?;
        w.check(key, value)?;
        if !w.same(value, &current) {
            self.write_setting(key, value).await.map_err(dev)?;
        }
        let (w, actual) = self
            .read_setting(key)
            .await
            .map_err(dev)?
            .ok_or_else(unknown)?;
        if w.same(value, &actual) {
            Ok(())
        } else {
            Err(SettingError::ReadBack {
                key: key.to_string(),
                expected: value.to_string(),
                actual,
            })
        }
    }

    /// The profile keys whose value on the body differs.
    pub async fn profile_drift(
        &mut self,
        profile: &Profile,
    ) -> Result<Vec<Drift>, super::CameraError> {
        let mut out = Vec::new();
        for (key, expected) in &profile.0 {
            if let Some((w, actual)) = self.read_setting(key).await?
                && !w.same(expected, &actual)
            {
                out.push(Drift {
                    key: key.clone(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(out)
    }
}

/// `cosmosd check-config` with a camera present: for the gphoto2 backend and a non-empty
/// profile, opens the body once and checks every value against it without setting
/// anything. `Ok(None)`: nothing to check or no body answers (said by the caller).
pub fn check_against_body(
    config: &crate::config::CameraConfig,
) -> anyhow::Result<Option<Vec<SettingError>>> {
    if config.backend != crate::config::CameraBackend::Gphoto2 || config.settings.is_empty() {
        return Ok(None);
    }
    let profile = Profile(config.settings.clone());
    let mut device = super::Device::from_config(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let limit = config.call_timeout;
    let out = rt.block_on(async {
        match tokio::time::timeout(limit, device.connect()).await {
            Ok(Ok(_)) => tokio::time::timeout(limit * 4, device.check_profile(&profile))
                .await
                .ok(),
            _ => None,
        }
    });
    device.release();
    Ok(out)
}

/// An in-memory body: the simulated backend's widgets (and the tests').
#[derive(Debug, Clone, Default)]
pub struct MemoryWidgets(pub Vec<(String, Widget, String)>);

impl MemoryWidgets {
    /// A body shaped like the libgphoto2 virtual camera plus a few Canon names.
    pub fn canon_like() -> MemoryWidgets {
        let choice = |v: &[&str]| Widget::Choice(v.iter().map(|s| s.to_string()).collect());
        MemoryWidgets(vec![
            (
                "f-number".into(),
                choice(&["f/2.8", "f/4", "f/5.6", "f/8", "f/11"]),
                "f/5.6".into(),
            ),
            (
                "shutterspeed".into(),
                choice(&["1/30", "1/60", "1/125", "1/250"]),
                "1/60".into(),
            ),
            (
                "iso".into(),
                choice(&["Auto", "100", "200", "400", "800", "1600"]),
                "Auto".into(),
            ),
            (
                "imageformat".into(),
                choice(&["Large Fine JPEG", "RAW", "RAW + Large Fine JPEG"]),
                "Large Fine JPEG".into(),
            ),
            (
                "focusmode".into(),
                choice(&["One Shot", "AI Servo", "Manual"]),
                "One Shot".into(),
            ),
            ("autopoweroff".into(), Widget::Text, "30".into()),
            (
                "exposurecompensation".into(),
                Widget::Range {
                    min: -3.0,
                    max: 3.0,
                    step: 0.5,
                },
                "0".into(),
            ),
            ("autofocusdrive".into(), Widget::Toggle, "0".into()),
        ])
    }

    /// Turns a dial behind the daemon's back (no check).
    pub fn turn(&mut self, key: &str, value: &str) -> bool {
        match self.0.iter_mut().find(|(k, ..)| k == key) {
            Some(e) => {
                e.2 = value.to_string();
                true
            }
            None => false,
        }
    }
}

impl Widgets for MemoryWidgets {
    fn read(&mut self, key: &str) -> Result<Option<(Widget, String)>, String> {
        Ok(self
            .0
            .iter()
            .find(|(k, ..)| k == key)
            .map(|(_, w, v)| (w.clone(), v.clone())))
    }

    fn write(&mut self, key: &str, value: &str) -> Result<(), String> {
        if self.turn(key, value) {
            Ok(())
        } else {
            Err(format!("no widget {key}"))
        }
    }
}

impl super::Owner {
    /// Applies the profile and publishes what the body refused (issue 14).
    pub(super) async fn apply_profile(&mut self) {
        if self.profile.is_empty() {
            return;
        }
        let profile = self.profile.clone();
        let limit = self.timing.call_timeout;
        let errors = match tokio::time::timeout(limit, self.device.apply_profile(&profile)).await {
            Ok(errs) => errs.iter().map(|e| e.to_string()).collect(),
            Err(_) => vec![format!(
                "camera.settings: applying the profile took over {limit:?}"
            )],
        };
        for e in &errors {
            log::error!(error = e.as_str(); "camera setting refused");
        }
        self.state.send_modify(|s| {
            s.settings_errors = errors;
            s.drift.clear();
        });
    }

    /// Reads the profile back; a differing value is drift (reported until re-applied).
    pub(super) async fn check_drift(&mut self) {
        if self.profile.is_empty() {
            return;
        }
        let profile = self.profile.clone();
        let limit = self.timing.call_timeout;
        let Ok(Ok(drift)) = tokio::time::timeout(limit, self.device.profile_drift(&profile)).await
        else {
            return; // the next ping notices a lost body
        };
        if drift != self.state.borrow().drift {
            for d in &drift {
                log::warn!(key = d.key.as_str(), expected = d.expected.as_str(),
                    actual = d.actual.as_str(); "camera setting drifted");
            }
            self.state.send_modify(|s| s.drift = drift);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(p: &[(&str, &str)]) -> Profile {
        Profile(
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_profile_is_applied_and_read_back() {
        let mut body = MemoryWidgets::canon_like();
        let p = profile(&[
            ("f-number", "f/8"),
            ("exposurecompensation", "-1"),
            ("focusmode", "Manual"),
        ]);
        assert!(apply(&p, &mut body).is_empty());
        assert!(drift(&p, &mut body).unwrap().is_empty());
        assert_eq!(body.read("f-number").unwrap().unwrap().1, "f/8");
    }

    #[test]
    fn a_refused_value_names_the_key_and_the_choices() {
        let mut body = MemoryWidgets::canon_like();
        let p = profile(&[
            ("f-number", "f/9"),
            ("exposurecompensation", "5"),
            ("nosuch", "x"),
            ("iso", "800"),
        ]);
        let errs: Vec<String> = check(&p, &mut body).iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].starts_with("camera.settings.f-number: the camera refuses \"f/9\""),
            "{}",
            errs[0]
        );
        assert!(errs[0].contains("\"f/8\", \"f/11\""), "{}", errs[0]);
        assert!(errs[1].contains("a number from -3 to 3"), "{}", errs[1]);
        assert!(errs[2].contains("camera.settings.nosuch"), "{}", errs[2]);
        // apply sets what it can and reports the rest
        assert_eq!(apply(&p, &mut body).len(), 3);
        assert_eq!(body.read("iso").unwrap().unwrap().1, "800");
        assert_eq!(body.read("f-number").unwrap().unwrap().1, "f/5.6");
    }

    #[test]
    fn a_turned_dial_is_drift_until_reapplied() {
        let mut body = MemoryWidgets::canon_like();
        let p = profile(&[
            ("shutterspeed", "1/125"),
            ("imageformat", "Large Fine JPEG"),
        ]);
        assert!(apply(&p, &mut body).is_empty());
        assert!(body.turn("imageformat", "RAW"));
        let d = drift(&p, &mut body).unwrap();
        assert_eq!(
            d,
            [Drift {
                key: "imageformat".into(),
                expected: "Large Fine JPEG".into(),
                actual: "RAW".into()
            }]
        );
        assert!(apply(&p, &mut body).is_empty());
        assert!(drift(&p, &mut body).unwrap().is_empty());
    }

    struct Stubborn(MemoryWidgets);
    impl Widgets for Stubborn {
        fn read(&mut self, key: &str) -> Result<Option<(Widget, String)>, String> {
            self.0.read(key)
        }
        fn write(&mut self, _: &str, _: &str) -> Result<(), String> {
            Ok(()) // accepts, changes nothing
        }
    }

    #[test]
    fn a_value_that_does_not_read_back_is_an_error() {
        let mut body = Stubborn(MemoryWidgets::canon_like());
        let errs = apply(&profile(&[("iso", "400")]), &mut body);
        assert_eq!(
            errs,
            [SettingError::ReadBack {
                key: "iso".into(),
                expected: "400".into(),
                actual: "Auto".into()
            }]
        );
    }
}
