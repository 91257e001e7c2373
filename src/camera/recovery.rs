//! The recovery ladder: what the camera owner climbs when the body stops answering.
//!
//! busy → retry at once (inside a capture, see `Owner::capture_inner`); an I/O error or a
//! stuck call → close and reopen the session → reset the USB device (`USBDEVFS_RESET`, see
//! [`super::usb`]) and reconnect → if `camera.power_pin` is set, cut and restore the body's
//! power through the relay ([`super::power`]), wait for it to boot, reconnect → the ladder
//! has run out: `camera_offline` says so, and the ordinary backoff reconnect goes on.
//! Each rung is logged (`rung`, `attempt`, `error`) and counted in the state for health.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::{CameraError, Device, Owner};

/// Reopen attempts on the second rung before the USB reset.
const REOPEN_TRIES: u32 = 2;

/// A rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rung {
    Retry,
    Reopen,
    UsbReset,
    PowerCycle,
}

impl Rung {
    pub fn name(self) -> &'static str {
        match self {
            Rung::Retry => "retry",
            Rung::Reopen => "reopen",
            Rung::UsbReset => "usb_reset",
            Rung::PowerCycle => "power_cycle",
        }
    }
}

/// How often each rung was climbed since the daemon started, and how often the ladder ran
/// out (`exhausted`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recoveries {
    pub retry: u64,
    pub reopen: u64,
    pub usb_reset: u64,
    pub power_cycle: u64,
    pub exhausted: u64,
}

impl Recoveries {
    pub(super) fn count(&mut self, rung: Rung) {
        match rung {
            Rung::Retry => self.retry += 1,
            Rung::Reopen => self.reopen += 1,
            Rung::UsbReset => self.usb_reset += 1,
            Rung::PowerCycle => self.power_cycle += 1,
        }
    }
    /// Every rung climbed, the busy retries included.
    pub fn total(&self) -> u64 {
        self.retry + self.reopen + self.usb_reset + self.power_cycle
    }
}

/// Whether an error starts the ladder: an I/O error or a stuck call. A camera claimed by
/// another process is not the body's fault (the log says what to stop).
pub(super) fn climbs(e: &CameraError) -> bool {
    matches!(e, CameraError::Disconnected(_) | CameraError::Stuck(_))
}

impl Owner {
    /// Marks the rung in the state (health, the host console) and counts it.
    fn step(&mut self, rung: Rung) {
        self.state.send_modify(|s| {
            s.recovering = Some(rung);
            s.recoveries.count(rung);
        });
    }

    /// One connect under the call timeout; on success the owner is connected.
    async fn reconnect(&mut self, rung: Rung, attempt: u32) -> bool {
        self.device.release();
        match self.open().await {
            Ok(info) => {
                log::info!(rung = rung.name(), attempt = attempt;
                    "camera recovered on the {} rung", rung.name());
                self.on_connected(info);
                self.apply_profile().await;
                true
            }
            Err(e) => {
                log::warn!(rung = rung.name(), attempt = attempt, error = e.to_string().as_str();
                    "camera recovery: reconnecting failed");
                self.state
                    .send_modify(|s| s.last_error = Some(e.to_string()));
                false
            }
        }
    }

    /// Climbs the ladder from the reopen rung; true when the camera is back. When it runs
    /// out the state says so (`ladder_exhausted`) and the ordinary backoff goes on.
    pub(super) async fn climb(&mut self) -> bool {
        let back = self.climb_rungs().await;
        self.state.send_modify(|s| {
            s.recovering = None;
            if !back {
                s.recoveries.exhausted += 1;
                s.ladder_exhausted = true;
            }
        });
        if !back {
            let error = self.state.borrow().last_error.clone().unwrap_or_default();
            log::error!(rung = "exhausted", error = error.as_str();
                "camera recovery ran out of rungs (reopen, USB reset{}); reconnecting in the \
                 background", if self.power.is_some() { ", power cycle" } else { "" });
            self.next_try = Instant::now() + self.backoff;
            self.backoff = (self.backoff * 2).min(self.timing.backoff_max);
        }
        back
    }

    async fn climb_rungs(&mut self) -> bool {
        // Reopen the session.
        for attempt in 1..=REOPEN_TRIES {
            self.step(Rung::Reopen);
            if self.reconnect(Rung::Reopen, attempt).await {
                return true;
            }
            sleep(self.timing.backoff_min).await;
        }

        // Reset the USB device on the port it was last seen on.
        self.step(Rung::UsbReset);
        let port = self.last_port.clone();
        let reset = match port {
            None => Err(CameraError::Disconnected(
                "no USB port known yet (the camera never connected)".into(),
            )),
            Some(port) => {
                let limit = self.timing.call_timeout;
                match tokio::time::timeout(limit, self.device.usb_reset(&port)).await {
                    Ok(r) => r,
                    Err(_) => Err(CameraError::Stuck(limit)),
                }
            }
        };
        match reset {
            Ok(()) => {
                // The kernel re-enumerates the device: give it a moment.
                sleep(USB_SETTLE).await;
                if self.reconnect(Rung::UsbReset, 1).await {
                    return true;
                }
            }
            Err(e) => {
                log::warn!(rung = "usb_reset", attempt = 1u32, error = e.to_string().as_str();
                    "camera recovery: the USB reset failed");
            }
        }

        // Cut and restore the body's power.
        let Some((mut relay, timing)) = self.power.take() else {
            return false;
        };
        self.step(Rung::PowerCycle);
        log::warn!(rung = "power_cycle", attempt = 1u32, off_seconds = timing.off.as_secs(),
            boot_seconds = timing.boot.as_secs(); "camera recovery: cutting the camera's power");
        relay.set(false);
        sleep(timing.off).await;
        relay.set(true);
        sleep(timing.boot).await;
        self.power = Some((relay, timing));
        self.reconnect(Rung::PowerCycle, 1).await
    }
}

/// After a USB reset, the time the kernel takes to enumerate the device again.
const USB_SETTLE: Duration = Duration::from_secs(2);

impl Device {
    /// Resets the body's USB device (gphoto2: the node of `port`; simulated: its script).
    pub(super) async fn usb_reset(&mut self, port: &str) -> Result<(), CameraError> {
        match self {
            Device::Gphoto(_) => {
                let port = port.to_string();
                tokio::task::spawn_blocking(move || super::usb::reset_port(&port))
                    .await
                    .map_err(|e| CameraError::Failed(format!("the USB reset panicked: {e}")))?
                    .map_err(CameraError::Disconnected)
            }
            Device::Simulated(d) => d.usb_reset().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::super::tests::timing;
    use super::super::*;
    use super::climbs;

    const POWER: PowerTiming = PowerTiming {
        off: Duration::from_secs(3),
        boot: Duration::from_secs(8),
    };

    /// A simulated camera whose power runs through a simulated relay.
    async fn start(relay: bool) -> (CameraHandle, SimControl, SimPower) {
        let (sim, ctl) = Simulated::new(64, 48);
        let power = SimPower::default();
        power.wire(ctl.clone());
        let relay = relay.then(|| (Power::Simulated(power.clone()), POWER));
        let (h, _task) = spawn_with_power(
            Device::Simulated(sim),
            timing(),
            relay,
            CancellationToken::new(),
        );
        h.watch().wait_for(|s| s.connected).await.unwrap();
        (h, ctl, power)
    }

    fn counts(h: &CameraHandle) -> Recoveries {
        h.state().recoveries
    }

    #[tokio::test(start_paused = true)]
    async fn busy_is_counted_as_the_retry_rung() {
        let (h, ctl, _) = start(false).await;
        ctl.push(Fault::Busy);
        ctl.push(Fault::Busy);
        assert_eq!(h.capture().await.unwrap().attempts, 3);
        assert_eq!(
            counts(&h),
            Recoveries {
                retry: 2,
                ..Recoveries::default()
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_io_error_reopens_the_session_and_the_capture_goes_through() {
        let (h, ctl, _) = start(false).await;
        ctl.push(Fault::Io);
        assert_eq!(h.capture().await.unwrap().attempts, 2);
        let c = counts(&h);
        assert_eq!((c.reopen, c.usb_reset, c.exhausted), (1, 0, 0));
        assert_eq!(ctl.usb_resets(), 0);
        assert_eq!(h.state().recovering, None);

        // A reopen that fails once more is tried again on the same rung.
        ctl.push(Fault::ReopenFails(1));
        assert!(h.capture().await.is_ok());
        let c = counts(&h);
        assert_eq!((c.reopen, c.usb_reset, c.exhausted), (3, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_call_climbs_the_ladder_too() {
        let (h, ctl, _) = start(false).await;
        ctl.push(Fault::Stuck(Duration::from_secs(60)));
        assert!(h.capture().await.is_ok());
        assert_eq!(counts(&h).reopen, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_only_a_usb_reset_revives_is_reset() {
        let (h, ctl, power) = start(true).await;
        let mut w = h.watch();
        ctl.push(Fault::WedgedUntilUsbReset);
        let capture = tokio::spawn({
            let h = h.clone();
            async move { h.capture().await }
        });
        // The state says which rung is being climbed while it climbs.
        w.wait_for(|s| s.recovering == Some(Rung::UsbReset))
            .await
            .unwrap();
        assert!(capture.await.unwrap().is_ok());
        let c = counts(&h);
        assert_eq!(
            (c.reopen, c.usb_reset, c.power_cycle, c.exhausted),
            (2, 1, 0, 0)
        );
        assert_eq!(ctl.usb_resets(), 1);
        assert!(power.changes().is_empty(), "the power was not touched");
        assert_eq!(h.state().recovering, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hard_wedged_body_is_power_cycled_through_the_relay() {
        let (h, ctl, power) = start(true).await;
        let mut w = h.watch();
        ctl.push(Fault::WedgedUntilPowerCycle);
        let capture = tokio::spawn({
            let h = h.clone();
            async move { h.capture().await }
        });
        w.wait_for(|s| s.recovering == Some(Rung::PowerCycle))
            .await
            .unwrap();
        assert!(capture.await.unwrap().is_ok());
        let c = counts(&h);
        assert_eq!(
            (c.reopen, c.usb_reset, c.power_cycle, c.exhausted),
            (2, 1, 1, 0)
        );
        assert_eq!(ctl.usb_resets(), 1, "the USB reset came first");
        let changes = power.changes();
        assert_eq!(
            changes.iter().map(|c| c.on).collect::<Vec<_>>(),
            [false, true],
            "off, then on"
        );
        assert_eq!(changes[1].at - changes[0].at, POWER.off);
        assert!(h.state().connected && !h.state().ladder_exhausted);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_relay_the_ladder_runs_out_and_says_so() {
        let (h, ctl, power) = start(false).await;
        ctl.push(Fault::WedgedUntilPowerCycle);
        assert!(matches!(
            h.capture().await,
            Err(CameraError::Disconnected(_))
        ));
        let s = h.state();
        assert!(!s.connected && s.ladder_exhausted && s.recovering.is_none());
        assert_eq!(
            (
                s.recoveries.reopen,
                s.recoveries.usb_reset,
                s.recoveries.power_cycle,
                s.recoveries.exhausted
            ),
            (2, 1, 0, 1)
        );
        assert!(power.changes().is_empty());
        // A person power-cycles it by hand; the ordinary backoff reconnect finds it.
        ctl.set_power(false);
        ctl.set_power(true);
        h.watch().wait_for(|s| s.connected).await.unwrap();
        assert!(!h.state().ladder_exhausted);
        assert!(h.capture().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_relay_a_dead_body_exhausts_every_rung() {
        let (h, ctl, power) = start(true).await;
        ctl.unplug();
        h.watch().wait_for(|s| s.ladder_exhausted).await.unwrap();
        let c = counts(&h);
        assert_eq!(
            (c.reopen, c.usb_reset, c.power_cycle, c.exhausted),
            (2, 1, 1, 1)
        );
        assert_eq!(power.changes().len(), 2);
        ctl.plug();
        h.watch().wait_for(|s| s.connected).await.unwrap();
        assert_eq!(
            counts(&h).exhausted,
            1,
            "the backoff reconnect is no new climb"
        );
    }

    #[test]
    fn a_claimed_camera_does_not_climb() {
        assert!(!climbs(&CameraError::Claimed("gvfs".into())));
        assert!(!climbs(&CameraError::Busy("x".into())));
        assert!(climbs(&CameraError::Stuck(Duration::from_secs(1))));
        assert!(climbs(&CameraError::Disconnected("io".into())));
    }
}
