//! The body book: per-body counters in the database, written behind the camera owner.
//!
//! The camera owner never waits on SQLite. It publishes its state (the connected body's
//! model, serial and port; captures, failures and recovery rungs since start-up; the
//! shutter counter) on its watch channel, and [`run`] turns each change it sees into a
//! [`BodyDelta`] and writes it with `spawn_blocking`. While a write runs, further changes
//! pile up in the watch channel and go out together in the next write: batching comes
//! for free, and a crash loses at most what happened during the one write in flight (a
//! few milliseconds: at most the last capture or two). The task ends when the owner does,
//! after a last write.
//!
//! At start-up [`remembered_serial`] reads the serial of the body seen last, which the
//! owner looks for on every port when the configured one does not answer.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::camera::CameraState;
use crate::store::{BodyDelta, BodyRecoveries, Store};

/// The serial the owner should look for (the body seen last), `None` on a fresh box or
/// when the database cannot say (logged: the camera still connects by its config).
pub async fn remembered_serial(store: Arc<Store>) -> Option<String> {
    let r = tokio::task::spawn_blocking(move || store.remembered_serial()).await;
    match r {
        Ok(Ok(serial)) => {
            if let Some(s) = &serial {
                log::info!(serial = s.as_str(); "camera: looking for the body with serial {s} if its port changes");
            }
            serial
        }
        Ok(Err(e)) => {
            log::error!(error = e.to_string().as_str(); "camera: could not read the remembered body");
            None
        }
        Err(e) => {
            log::error!(error = e.to_string().as_str(); "camera: reading the remembered body panicked");
            None
        }
    }
}

/// What changed between two states of the camera, for the body connected in `now` (or
/// last connected: its counters still belong to it while it is away). `None` when
/// nothing is to be written, or no body has connected yet.
pub fn delta(last: &CameraState, now: &CameraState, at: DateTime<Utc>) -> Option<BodyDelta> {
    let info = now.info.as_ref()?;
    let reconnected = now.connected
        && (!last.connected || last.info.as_ref().map(|i| &i.port) != Some(&info.port));
    let (r0, r1) = (&last.recoveries, &now.recoveries);
    let d = BodyDelta {
        serial: info.serial.clone(),
        model: info.model.clone(),
        at,
        port: reconnected.then(|| info.port.clone()),
        captures: now.captures.saturating_sub(last.captures),
        failures: now.failures.saturating_sub(last.failures),
        recoveries: BodyRecoveries {
            retry: r1.retry.saturating_sub(r0.retry),
            reopen: r1.reopen.saturating_sub(r0.reopen),
            usb_reset: r1.usb_reset.saturating_sub(r0.usb_reset),
            power_cycle: r1.power_cycle.saturating_sub(r0.power_cycle),
        },
        shutter_count: info.body.shutter_count.filter(|_| {
            reconnected
                || last.info.as_ref().and_then(|i| i.body.shutter_count) != info.body.shutter_count
        }),
    };
    let nothing = d.port.is_none()
        && d.captures == 0
        && d.failures == 0
        && d.recoveries.total() == 0
        && d.shutter_count.is_none();
    (!nothing).then_some(d)
}

/// Follows the camera's state until its owner stops, writing each change's delta.
pub async fn run(store: Arc<Store>, mut watch: watch::Receiver<CameraState>) {
    // From nothing: the owner may have connected (and counted) before this task ran.
    let mut last = CameraState {
        connected: false,
        info: None,
        captures: 0,
        failures: 0,
        recoveries: Default::default(),
        ..watch.borrow().clone()
    };
    // Deltas not yet written (a failed write is tried again with the next change).
    let mut pending: Vec<BodyDelta> = Vec::new();
    let mut ended = false;
    loop {
        let now = watch.borrow_and_update().clone();
        if let Some(d) = delta(&last, &now, Utc::now()) {
            pending.push(d);
        }
        last = now;
        if !pending.is_empty() {
            let (store, batch) = (store.clone(), pending.clone());
            match tokio::task::spawn_blocking(move || store.record_bodies(&batch)).await {
                Ok(Ok(())) => pending.clear(),
                Ok(Err(e)) => log::error!(error = e.to_string().as_str(), pending = pending.len();
                    "could not write the camera body's counters; trying again at the next change"),
                Err(e) => log::error!(error = e.to_string().as_str();
                    "writing the camera body's counters panicked"),
            }
        }
        if ended {
            break;
        }
        ended = watch.changed().await.is_err();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::CameraInfo;
    use crate::camera::bodies::BodyFacts;

    fn state() -> CameraState {
        CameraState::before_connect("simulated")
    }

    fn on(port: &str) -> CameraState {
        CameraState {
            connected: true,
            info: Some(CameraInfo {
                model: "EOS".into(),
                port: port.into(),
                settings: Vec::new(),
                serial: Some("A1".into()),
                body: BodyFacts {
                    found_by: None,
                    shutter_count: Some(10),
                },
            }),
            ..state()
        }
    }

    #[test]
    fn a_connect_then_counts_then_nothing() {
        let at = Utc::now();
        assert_eq!(delta(&state(), &state(), at), None, "no body yet");
        let first = delta(&state(), &on("usb:1"), at).unwrap();
        assert_eq!(first.port.as_deref(), Some("usb:1"));
        assert_eq!(first.shutter_count, Some(10));
        assert_eq!((first.captures, first.serial.as_deref()), (0, Some("A1")));

        let mut later = on("usb:1");
        later.captures = 3;
        later.failures = 1;
        later.recoveries.retry = 2;
        later.busy = true;
        let d = delta(&on("usb:1"), &later, at).unwrap();
        assert_eq!(d.port, None, "not a reconnect");
        assert_eq!((d.captures, d.failures, d.recoveries.retry), (3, 1, 2));
        assert_eq!(d.shutter_count, None, "unchanged");

        let mut idle = later.clone();
        idle.busy = false;
        assert_eq!(delta(&later, &idle, at), None, "busy is not counted");

        // Away: a failure still counts for the body last connected.
        let mut away = idle.clone();
        away.connected = false;
        away.failures = 2;
        let d = delta(&idle, &away, at).unwrap();
        assert_eq!((d.failures, d.port.as_deref()), (1, None));
        // Back on another port.
        let mut back = on("usb:9");
        back.captures = 3;
        back.failures = 2;
        back.recoveries.retry = 2;
        let d = delta(&away, &back, at).unwrap();
        assert_eq!(
            (d.port.as_deref(), d.captures, d.failures),
            (Some("usb:9"), 0, 0)
        );
    }
}
