//! `[auth]`: the staff PINs, the technician's password, the show-control token and the
//! session and lockout bounds. Secrets are inline or `*_file` (exactly one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Secret, bad, days, hours, in_range, required, secret, secs};

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub host_pin: Secret,
    pub kiosk_pin: Secret,
    pub technician_password: Secret,
    /// The room's show-control system; absent = the spontaneous trigger is host-only.
    pub show_control_token: Option<Secret>,
    /// Lifetime of host, technician and show-control sessions.
    pub session_ttl: Duration,
    /// Kiosk tablets are paired once by staff and keep their token for a long time.
    pub kiosk_session_ttl: Duration,
    /// Failed logins from one address before it is locked out.
    pub max_failed_logins: u32,
    /// First lockout; each further lockout doubles it (capped at 15 minutes).
    pub lockout: Duration,
}

/// `[auth]` as written; the section and the three staff secrets are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAuth {
    host_pin: Option<String>,
    host_pin_file: Option<PathBuf>,
    kiosk_pin: Option<String>,
    kiosk_pin_file: Option<PathBuf>,
    technician_password: Option<String>,
    technician_password_file: Option<PathBuf>,
    show_control_token: Option<String>,
    show_control_token_file: Option<PathBuf>,
    session_ttl_hours: u32,
    kiosk_session_ttl_days: u32,
    max_failed_logins: u32,
    lockout_seconds: u32,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            host_pin: None,
            host_pin_file: None,
            kiosk_pin: None,
            kiosk_pin_file: None,
            technician_password: None,
            technician_password_file: None,
            show_control_token: None,
            show_control_token_file: None,
            session_ttl_hours: 12,
            kiosk_session_ttl_days: 90,
            max_failed_logins: 5,
            lockout_seconds: 30,
        }
    }
}

/// Shortest accepted secrets: a PIN a host can type, a password and a machine token
/// that resist guessing within the lockout. At the global failure budget
/// (`access::GLOBAL_FAILURES_PER_MINUTE`) a 6-digit PIN takes weeks on average.
const MIN_PIN_CHARS: usize = 6;
const MIN_PASSWORD_CHARS: usize = 8;
const MIN_TOKEN_CHARS: usize = 16;

pub(super) fn auth(r: RawAuth, base: &Path) -> Result<AuthConfig, ConfigError> {
    let staff = |key: &str, value: Option<String>, file: Option<PathBuf>| {
        required(secret(base, key, value, file)?, key)
    };
    let host_pin = staff("auth.host_pin", r.host_pin, r.host_pin_file)?;
    let kiosk_pin = staff("auth.kiosk_pin", r.kiosk_pin, r.kiosk_pin_file)?;
    let technician_password = staff(
        "auth.technician_password",
        r.technician_password,
        r.technician_password_file,
    )?;
    let show_control_token = secret(
        base,
        "auth.show_control_token",
        r.show_control_token,
        r.show_control_token_file,
    )?;
    for (key, s, min) in [
        ("auth.host_pin", &host_pin, MIN_PIN_CHARS),
        ("auth.kiosk_pin", &kiosk_pin, MIN_PIN_CHARS),
        (
            "auth.technician_password",
            &technician_password,
            MIN_PASSWORD_CHARS,
        ),
    ] {
        if s.0.chars().count() < min {
            return Err(bad(key, format!("must be at least {min} characters")));
        }
    }
    for (key, pin) in [("auth.host_pin", &host_pin), ("auth.kiosk_pin", &kiosk_pin)] {
        if !pin.0.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad(key, "must be digits only (tablets show a number pad)"));
        }
    }
    if host_pin == kiosk_pin {
        return Err(bad("auth.kiosk_pin", "must differ from auth.host_pin"));
    }
    if let Some(t) = &show_control_token
        && t.0.len() < MIN_TOKEN_CHARS
    {
        return Err(bad(
            "auth.show_control_token",
            format!("must be at least {MIN_TOKEN_CHARS} characters"),
        ));
    }
    Ok(AuthConfig {
        host_pin,
        kiosk_pin,
        technician_password,
        show_control_token,
        session_ttl: hours(r.session_ttl_hours, "auth.session_ttl_hours", 1..=24 * 7)?,
        kiosk_session_ttl: days(
            r.kiosk_session_ttl_days,
            "auth.kiosk_session_ttl_days",
            1..=366,
        )?,
        max_failed_logins: in_range(r.max_failed_logins, "auth.max_failed_logins", 1..=100)?,
        lockout: secs(r.lockout_seconds, "auth.lockout_seconds", 1..=3600)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{MINIMAL, assert_refused, parse};

    #[test]
    fn auth_keys_are_checked_by_name() {
        let a = parse(MINIMAL).unwrap().auth;
        assert_eq!(a.session_ttl.as_secs(), 12 * 3600);
        assert_eq!(a.kiosk_session_ttl.as_secs(), 90 * 86_400);
        assert_eq!((a.max_failed_logins, a.lockout.as_secs()), (5, 30));
        assert!(a.show_control_token.is_none());
        let cases = [
            (
                MINIMAL.replace("host_pin = \"123456\"\n", ""),
                "auth.host_pin",
            ),
            (
                MINIMAL.replace("kiosk_pin = \"567890\"\n", ""),
                "auth.kiosk_pin",
            ),
            (
                MINIMAL.replace("technician_password = \"long-enough\"", ""),
                "auth.technician_password",
            ),
            (
                MINIMAL.replace("\"long-enough\"", "\"short\""),
                "auth.technician_password",
            ),
            (
                MINIMAL.replace("kiosk_pin = \"567890\"", "kiosk_pin = \"567\""),
                "auth.kiosk_pin",
            ),
            (
                format!("{MINIMAL}show_control_token = \"too-short\"\n"),
                "auth.show_control_token",
            ),
            (
                format!("{MINIMAL}session_ttl_hours = 169\n"),
                "auth.session_ttl_hours",
            ),
            (
                format!("{MINIMAL}kiosk_session_ttl_days = 0\n"),
                "auth.kiosk_session_ttl_days",
            ),
            (
                format!("{MINIMAL}max_failed_logins = 101\n"),
                "auth.max_failed_logins",
            ),
            (
                format!("{MINIMAL}lockout_seconds = 3601\n"),
                "auth.lockout_seconds",
            ),
            (format!("{MINIMAL}pin = \"1\"\n"), "auth.pin"),
        ];
        for (text, key) in cases {
            assert_refused(&text, key);
        }
        let a = parse(&format!(
            "{MINIMAL}show_control_token = \"0123456789abcdef\"\nlockout_seconds = 60\n"
        ))
        .unwrap()
        .auth;
        assert_eq!(
            a.show_control_token.as_ref().map(|t| t.expose()),
            Some("0123456789abcdef")
        );
        assert_eq!(a.lockout.as_secs(), 60);
    }
}
