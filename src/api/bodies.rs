//! A camera body and its lifetime counters on the wire (issue 14): in `/api/health`
//! (`camera.body`, the connected or last connected body) and in `/api/stats` (`cameras`,
//! every body the box has seen; CSV with `section=cameras`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::wire;
use crate::store::CameraBody;

/// A camera body the box has connected to, with its counters since it was first seen.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraBodyOut {
    /// Its serial number; `null` for a body that reports none (it is then known by model).
    pub serial: Option<String>,
    pub model: String,
    /// When the box first connected to it.
    #[serde(serialize_with = "wire::precise")]
    pub first_seen: DateTime<Utc>,
    /// When it was last connected or counted.
    #[serde(serialize_with = "wire::precise")]
    pub last_seen: DateTime<Utc>,
    /// The port it was last connected on.
    pub last_port: Option<String>,
    /// Photos it delivered.
    pub captures: u64,
    /// Captures that failed (the camera's answer, not the photo processing).
    pub failures: u64,
    /// Recovery-ladder rungs climbed for it.
    pub recoveries: BodyRecoveriesOut,
    /// Its own shutter counter as last read; `null` when the body reports none.
    pub shutter_count: Option<u64>,
}

/// Rungs of the recovery ladder climbed for one body since it was first seen.
#[derive(Debug, Serialize, ToSchema)]
pub struct BodyRecoveriesOut {
    /// Busy answers retried at once.
    pub retry: u64,
    /// Sessions closed and reopened.
    pub reopen: u64,
    /// USB device resets.
    pub usb_reset: u64,
    /// Power cuts through the relay.
    pub power_cycle: u64,
    /// All of them.
    pub total: u64,
}

impl From<&CameraBody> for CameraBodyOut {
    fn from(b: &CameraBody) -> Self {
        let r = &b.recoveries;
        CameraBodyOut {
            serial: b.serial.clone(),
            model: b.model.clone(),
            first_seen: b.first_seen,
            last_seen: b.last_seen,
            last_port: b.last_port.clone(),
            captures: b.captures,
            failures: b.failures,
            recoveries: BodyRecoveriesOut {
                retry: r.retry,
                reopen: r.reopen,
                usb_reset: r.usb_reset,
                power_cycle: r.power_cycle,
                total: r.total(),
            },
            shutter_count: b.shutter_count,
        }
    }
}

/// How the current connection found the body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FoundByOut {
    /// By the configured `camera.model` and `camera.port` (or autodetect).
    Config,
    /// By its remembered serial number, on another port.
    Serial,
}

impl From<crate::camera::bodies::FoundBy> for FoundByOut {
    fn from(f: crate::camera::bodies::FoundBy) -> Self {
        use crate::camera::bodies::FoundBy as F;
        match f {
            F::Config => FoundByOut::Config,
            F::Serial => FoundByOut::Serial,
        }
    }
}

/// The header of `GET /api/stats?format=csv&section=cameras`.
pub const CSV_COLUMNS: &str = "serial,model,first_seen,last_seen,last_port,captures,failures,\
retry,reopen,usb_reset,power_cycle,shutter_count";

/// One CSV field, quoted when it must be (RFC 4180), and with a leading `=`, `+`, `-` or
/// `@` defused so a spreadsheet does not run a body's text as a formula.
fn field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The bodies as CSV: the header, then a row per body (empty cells for `null`).
pub fn csv(bodies: &[CameraBody]) -> String {
    let mut out = format!("{CSV_COLUMNS}\r\n");
    for b in bodies {
        let r = &b.recoveries;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            field(b.serial.as_deref().unwrap_or("")),
            field(&b.model),
            b.first_seen
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            b.last_seen
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            field(b.last_port.as_deref().unwrap_or("")),
            b.captures,
            b.failures,
            r.retry,
            r.reopen,
            r.usb_reset,
            r.power_cycle,
            b.shutter_count.map(|n| n.to_string()).unwrap_or_default(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BodyRecoveries;

    #[test]
    fn csv_rows_quote_what_they_must() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let b = CameraBody {
            serial: Some("=cmd".into()),
            model: "Canon, \"EOS\"".into(),
            first_seen: t,
            last_seen: t,
            last_port: Some("usb:001,004".into()),
            captures: 3,
            failures: 1,
            recoveries: BodyRecoveries {
                retry: 1,
                ..Default::default()
            },
            shutter_count: None,
        };
        assert_eq!(
            csv(&[b]),
            format!(
                "{CSV_COLUMNS}\r\n'=cmd,\"Canon, \"\"EOS\"\"\",2023-11-14T22:13:20Z,\
                 2023-11-14T22:13:20Z,\"usb:001,004\",3,1,1,0,0,0,\r\n"
            )
        );
    }
}
