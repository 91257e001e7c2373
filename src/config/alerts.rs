//! `[alerts]`: who is told when the box needs a person (technician alert mail through
//! the outbox, and an optional webhook), how often they are reminded, and each
//! condition's threshold. See `crate::oncall` for the conditions themselves.

use std::time::Duration;

use email_address::EmailAddress;
use serde::Deserialize;

use super::{ConfigError, bad};
use crate::show::Language;

#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// The technical team's addresses; empty = no alert mail.
    pub email: Vec<String>,
    /// An `http://` or `https://` URL POSTed a JSON body on every start, reminder and end.
    pub webhook: Option<String>,
    /// The language of the alert mail (the venue's).
    pub language: Language,
    /// How the box names itself in alerts (default: its hostname).
    pub box_name: Option<String>,
    /// A reminder while a condition lasts.
    pub repeat: Duration,
    /// How often the conditions are looked at.
    pub check_every: Duration,
    /// The camera gone this long while a show is scheduled today.
    pub camera_lost: Duration,
    /// The mail relay unreachable this long.
    pub uplink_down: Duration,
    /// The SoC hotter than this.
    pub max_temp_c: f64,
    /// After an unclean restart, running this long without another ends the condition.
    pub restart_settled: Duration,
}

impl AlertsConfig {
    /// Whether anyone is to be told at all.
    pub fn enabled(&self) -> bool {
        !self.email.is_empty() || self.webhook.is_some()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAlerts {
    email: Vec<String>,
    webhook: Option<String>,
    language: String,
    box_name: Option<String>,
    repeat_hours: f64,
    check_seconds: f64,
    camera_lost_minutes: f64,
    uplink_down_hours: f64,
    max_temp_c: f64,
    restart_settled_minutes: f64,
}

impl Default for RawAlerts {
    fn default() -> Self {
        RawAlerts {
            email: Vec::new(),
            webhook: None,
            language: "es".into(),
            box_name: None,
            repeat_hours: 12.0,
            check_seconds: 30.0,
            camera_lost_minutes: 10.0,
            uplink_down_hours: 2.0,
            max_temp_c: 80.0,
            restart_settled_minutes: 60.0,
        }
    }
}

/// A non-negative, finite amount of `unit` seconds, at most `max` units.
fn span(key: &str, v: f64, unit: f64, min: f64, max: f64) -> Result<Duration, ConfigError> {
    if !v.is_finite() || v < min || v > max {
        return Err(bad(key, format!("must be between {min} and {max}")));
    }
    Ok(Duration::from_secs_f64(v * unit))
}

pub(super) fn alerts(r: RawAlerts) -> Result<AlertsConfig, ConfigError> {
    for (i, e) in r.email.iter().enumerate() {
        if !EmailAddress::is_valid(e.trim()) {
            return Err(bad(
                &format!("alerts.email[{i}]"),
                "is not an email address",
            ));
        }
    }
    let webhook = match r.webhook.map(|w| w.trim().to_string()) {
        None => None,
        Some(w) if w.starts_with("http://") || w.starts_with("https://") => Some(w),
        Some(_) => {
            return Err(bad("alerts.webhook", "must be an http:// or https:// URL"));
        }
    };
    let box_name = match r.box_name.map(|n| n.trim().to_string()) {
        Some(n) if n.is_empty() || n.len() > 64 || n.chars().any(char::is_control) => {
            return Err(bad(
                "alerts.box_name",
                "must be 1 to 64 printable characters",
            ));
        }
        n => n,
    };
    let language = match r.language.as_str() {
        "es" => Language::Es,
        "en" => Language::En,
        _ => return Err(bad("alerts.language", "must be \"es\" or \"en\"")),
    };
    Ok(AlertsConfig {
        email: r.email.iter().map(|e| e.trim().to_string()).collect(),
        webhook,
        language,
        box_name,
        repeat: span("alerts.repeat_hours", r.repeat_hours, 3600.0, 0.0001, 720.0)?,
        check_every: span("alerts.check_seconds", r.check_seconds, 1.0, 0.1, 3600.0)?,
        camera_lost: span(
            "alerts.camera_lost_minutes",
            r.camera_lost_minutes,
            60.0,
            0.0,
            1440.0,
        )?,
        uplink_down: span(
            "alerts.uplink_down_hours",
            r.uplink_down_hours,
            3600.0,
            0.0,
            720.0,
        )?,
        max_temp_c: {
            if !(40.0..=110.0).contains(&r.max_temp_c) {
                return Err(bad("alerts.max_temp_c", "must be between 40 and 110"));
            }
            r.max_temp_c
        },
        restart_settled: span(
            "alerts.restart_settled_minutes",
            r.restart_settled_minutes,
            60.0,
            0.0,
            10080.0,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig, ConfigError> {
        alerts(toml::from_str(text).map_err(|e| bad("(file)", e.to_string()))?)
    }

    #[test]
    fn defaults_tell_nobody_and_name_the_documented_thresholds() {
        let a = parse("").unwrap();
        assert!(!a.enabled());
        assert_eq!(a.repeat, Duration::from_secs(12 * 3600));
        assert_eq!(a.camera_lost, Duration::from_secs(600));
        assert_eq!(a.uplink_down, Duration::from_secs(7200));
        assert_eq!(a.max_temp_c, 80.0);
        assert_eq!(a.language, Language::Es);
        let a = parse("email = [\"tech@example.com\"]\nlanguage = \"en\"").unwrap();
        assert!(a.enabled());
        assert_eq!(a.language, Language::En);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            (
                "email = [\"tech@example.com\", \"nope\"]",
                "alerts.email[1]",
            ),
            ("webhook = \"ftp://x\"", "alerts.webhook"),
            ("repeat_hours = 0", "alerts.repeat_hours"),
            ("repeat_hours = -1", "alerts.repeat_hours"),
            ("camera_lost_minutes = -1", "alerts.camera_lost_minutes"),
            ("uplink_down_hours = 1000", "alerts.uplink_down_hours"),
            ("max_temp_c = 200", "alerts.max_temp_c"),
            ("check_seconds = 0", "alerts.check_seconds"),
            ("box_name = \"\"", "alerts.box_name"),
            ("language = \"fr\"", "alerts.language"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key, key, "{text}");
        }
    }
}
