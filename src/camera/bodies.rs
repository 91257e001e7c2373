//! Finding the body again, and what it says about itself (issue 14).
//!
//! Every connect goes through [`Owner::open`]: first by the configured model and port
//! (as always); when that fails and a serial number is remembered (the last body seen,
//! read from the database at start-up and updated at each connect), every detected body
//! on another port is asked for its serial, and the one that matches is connected on
//! whatever port it is on now (a USB reset or a replug renumbers it). The log says how it
//! was found (`found_by = "config" | "serial"`), and so does the state.
//!
//! The shutter counter (`shuttercounter`, or Canon's `shutter-count` / `shuttercount`) is
//! read at connect and, for a body that has one, after each capture's reply has gone out,
//! so it never delays a shot.
//!
//! Nothing here knows the database: the device is handed the remembered serial before the
//! owner starts ([`Device::look_for_serial`]), and the counters are written behind the
//! owner by `crate::bodies`, which watches the state.

use tokio::sync::oneshot;

use super::{CameraError, CameraInfo, Device, Owner, Shot};

/// How the current connection found the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// The configured model and port (or autodetect when none is configured).
    Config,
    /// The remembered serial number, on another port.
    Serial,
}

impl FoundBy {
    pub fn name(self) -> &'static str {
        match self {
            FoundBy::Config => "config",
            FoundBy::Serial => "serial",
        }
    }
}

/// What the owner learnt about the connected body beyond what the backend reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyFacts {
    /// How this connection found it (set by [`Owner::open`]).
    pub found_by: Option<FoundBy>,
    /// Its shutter counter as last read; `None` when it reports none.
    pub shutter_count: Option<u64>,
}

impl BodyFacts {
    /// `found_by` for the log.
    pub fn found_by(&self) -> &'static str {
        self.found_by.map_or("unknown", FoundBy::name)
    }
}

/// The gphoto2 config names a body's shutter counter goes by, tried in order.
pub const SHUTTER_COUNT_KEYS: [&str; 3] = ["shuttercounter", "shutter-count", "shuttercount"];

/// A widget's text as a count (`"12345"`, or a range widget's `"12345.0"`).
fn as_count(v: &str) -> Option<u64> {
    let v = v.trim();
    v.parse::<u64>().ok().or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })
}

impl Device {
    /// The serial of the body to look for on other ports when the configured one fails
    /// (the daemon reads it from the database before the owner starts).
    pub fn look_for_serial(&mut self, serial: Option<String>) {
        match self {
            Device::Gphoto(d) => d.look_for = serial,
            Device::Simulated(d) => d.look_for = serial,
        }
    }

    fn looked_for(&self) -> Option<String> {
        match self {
            Device::Gphoto(d) => d.look_for.clone(),
            Device::Simulated(d) => d.look_for.clone(),
        }
    }

    /// Looks among the detected bodies on other ports than the configured one for the
    /// body with `serial`, and connects to it where it is now.
    async fn connect_by_serial(&mut self, serial: &str) -> Result<CameraInfo, CameraError> {
        match self {
            Device::Gphoto(d) => d.connect_by_serial(serial).await,
            Device::Simulated(d) => d.connect_by_serial(serial).await,
        }
    }

    /// The body's shutter counter, `None` when it has no such widget.
    async fn shutter_count(&mut self) -> Result<Option<u64>, CameraError> {
        if let Device::Simulated(d) = self {
            return d.shutter_count().await;
        }
        for key in SHUTTER_COUNT_KEYS {
            if let Some((_, v)) = self.read_setting(key).await? {
                return Ok(as_count(&v));
            }
        }
        Ok(None)
    }
}

impl Owner {
    /// Connects: by the configured model and port, then by the remembered serial on any
    /// other port. On success the serial is remembered and the facts published; on
    /// failure the error is the configured connect's (the serial search is logged).
    pub(super) async fn open(&mut self) -> Result<CameraInfo, CameraError> {
        let (mut info, found_by) = match self.call(|d, _| Box::pin(d.connect())).await {
            Ok(info) => (info, FoundBy::Config),
            Err(e) => {
                // A body claimed by another process is not lost; searching cannot help.
                let Some(serial) = self
                    .device
                    .looked_for()
                    .filter(|_| !matches!(e, CameraError::Claimed(_)))
                else {
                    return Err(e);
                };
                self.device.release();
                let wanted = serial.clone();
                match self
                    .call(move |d, _| Box::pin(async move { d.connect_by_serial(&wanted).await }))
                    .await
                {
                    Ok(info) => {
                        log::info!(found_by = "serial", serial = serial.as_str(),
                            port = info.port.as_str(), configured_error = e.to_string().as_str();
                            "camera found by its serial number on {} (the configured port did not answer)",
                            info.port);
                        (info, FoundBy::Serial)
                    }
                    Err(by_serial) => {
                        self.device.release();
                        log::debug!(serial = serial.as_str(), error = by_serial.to_string().as_str();
                            "no body with the remembered serial on another port");
                        return Err(e);
                    }
                }
            }
        };
        if info.serial.is_some() {
            self.device.look_for_serial(info.serial.clone());
        }
        info.body = BodyFacts {
            found_by: Some(found_by),
            shutter_count: self.read_shutter_count().await,
        };
        Ok(info)
    }

    /// Reads the shutter counter (a failed read is not a disconnect: the next poll says).
    async fn read_shutter_count(&mut self) -> Option<u64> {
        match self.call(|d, _| Box::pin(d.shutter_count())).await {
            Ok(n) => n,
            Err(e) => {
                log::debug!(error = e.to_string().as_str(); "could not read the shutter counter");
                None
            }
        }
    }

    /// Answers a capture, then reads the shutter counter (it moved): the photo never waits
    /// for it; the next request waits one widget read.
    pub(super) async fn reply_then_count(
        &mut self,
        reply: oneshot::Sender<Result<Shot, CameraError>>,
        r: Result<Shot, CameraError>,
    ) {
        let _ = reply.send(r);
        // A body that had no counter at connect has none now: no reads for nothing.
        let counts = {
            let s = self.state.borrow();
            s.connected
                && s.info
                    .as_ref()
                    .is_some_and(|i| i.body.shutter_count.is_some())
        };
        if !counts {
            return;
        }
        if let Some(n) = self.read_shutter_count().await {
            self.state.send_modify(|s| {
                if let Some(i) = s.info.as_mut() {
                    i.body.shutter_count = Some(n);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::timing;
    use super::super::*;
    use super::*;

    #[test]
    fn counter_widgets_read_as_counts() {
        assert_eq!(as_count(" 12345 "), Some(12345));
        assert_eq!(as_count("12345.0"), Some(12345));
        assert_eq!(as_count("12.5"), None);
        assert_eq!(as_count("-3"), None);
        assert_eq!(as_count("n/a"), None);
    }

    async fn state_where(h: &CameraHandle, f: impl Fn(&CameraState) -> bool) -> CameraState {
        let mut w = h.watch();
        w.wait_for(|s| f(s)).await.unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_on_another_port_is_found_by_the_remembered_serial_only() {
        let (sim, ctl) = Simulated::new(64, 48);
        let stop = CancellationToken::new();
        let mut device = Device::Simulated(sim);
        device.look_for_serial(Some(simulated::SIMULATED_SERIAL.into()));
        let (h, task) = spawn(device, timing(), stop.clone());
        let s = state_where(&h, |s| s.connected).await;
        assert_eq!(
            s.info.as_ref().unwrap().body.found_by,
            Some(FoundBy::Config)
        );
        assert_eq!(
            s.info.as_ref().unwrap().body.shutter_count,
            Some(simulated::SIMULATED_SHUTTER_BASE)
        );

        // Another body on another port: not taken.
        ctl.unplug();
        state_where(&h, |s| !s.connected).await;
        ctl.set_serial("SIM-SOMEONE-ELSE");
        ctl.move_to_port("usb:002,017");
        ctl.plug();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !h.state().connected,
            "a body with another serial is left alone"
        );

        // The remembered body on another port: found there.
        ctl.set_serial(simulated::SIMULATED_SERIAL);
        let s = state_where(&h, |s| s.connected).await;
        assert_eq!(
            s.info.as_ref().unwrap().body.found_by,
            Some(FoundBy::Serial)
        );
        assert_eq!(s.info.unwrap().port, "usb:002,017");
        h.capture().await.unwrap();
        let s = state_where(&h, |s| {
            s.info.as_ref().and_then(|i| i.body.shutter_count)
                == Some(simulated::SIMULATED_SHUTTER_BASE + 1)
        })
        .await;
        assert_eq!(s.captures, 1);
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_remembered_serial_a_moved_body_is_not_found() {
        let (sim, ctl) = Simulated::new(64, 48);
        ctl.move_to_port("usb:002,017");
        let stop = CancellationToken::new();
        let (h, task) = spawn(Device::Simulated(sim), timing(), stop.clone());
        tokio::time::sleep(Duration::from_secs(3)).await;
        let s = h.state();
        assert!(!s.connected);
        assert!(
            s.last_error.unwrap_or_default().contains("simulated:"),
            "the configured port is named"
        );
        stop.cancel();
        task.await.unwrap();
    }
}
