//! The camera's power relay (on the dummy battery's line): the fourth rung of the recovery
//! ladder cuts the body's power and restores it, which revives a body that no USB reset
//! does. Two backends, following `lights.backend`: a real BCM GPIO output through rppal
//! (high = power on), and a simulated relay that records every change and tells the
//! simulated camera (which then boots again). Off a Pi the real one fails with a message
//! naming the keys to change; nothing here panics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rppal::gpio::{Gpio as Chip, Level, OutputPin};
use tokio::time::Instant;

use super::SimControl;
use crate::config::{CameraConfig, LightsBackend};

/// How the ladder cuts and restores the body's power, from `[camera]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerTiming {
    /// How long the power stays off.
    pub off: Duration,
    /// How long the body takes to boot once powered.
    pub boot: Duration,
}

/// One recorded change of the simulated relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerChange {
    /// On tokio's clock, so paused-clock tests see virtual time.
    pub at: Instant,
    /// The camera is powered.
    pub on: bool,
}

#[derive(Default)]
struct SimState {
    changes: Vec<PowerChange>,
    camera: Option<SimControl>,
}

/// Reads what a simulated relay did, and wires it to a simulated camera.
#[derive(Clone, Default)]
pub struct SimPower(Arc<Mutex<SimState>>);

impl SimPower {
    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Every change so far, in order.
    pub fn changes(&self) -> Vec<PowerChange> {
        self.lock().changes.clone()
    }
    /// The simulated camera on this relay's line: it loses power when the relay opens.
    pub fn wire(&self, camera: SimControl) {
        self.lock().camera = Some(camera);
    }
}

/// The relay backends.
pub enum Power {
    Gpio(OutputPin),
    Simulated(SimPower),
}

impl Power {
    /// The configured relay: none without `camera.power_pin`; the backend follows
    /// `lights.backend`. The relay is left on (camera powered).
    pub fn from_config(
        camera: &CameraConfig,
        lights: LightsBackend,
    ) -> Result<Option<(Power, PowerTiming)>, String> {
        let Some(pin) = camera.power_pin else {
            return Ok(None);
        };
        let timing = PowerTiming {
            off: camera.power_off,
            boot: camera.power_boot,
        };
        let power = match lights {
            LightsBackend::Simulated => Power::Simulated(SimPower::default()),
            LightsBackend::Rppal => Power::gpio(pin)?,
        };
        Ok(Some((power, timing)))
    }

    /// The real relay on BCM `pin`, powered.
    pub fn gpio(pin: u8) -> Result<Power, String> {
        let chip = Chip::new().map_err(|e| {
            format!(
                "cannot open the GPIO for the camera's power relay ({e}). This does not look \
                 like a Raspberry Pi, or the service user may not use /dev/gpiomem (group \
                 gpio). Remove `camera.power_pin`, or set `lights.backend = \"simulated\"`"
            )
        })?;
        let mut out = chip
            .get(pin)
            .map_err(|e| format!("GPIO {pin} from `camera.power_pin` cannot be used: {e}"))?
            .into_output_high();
        // Keep the camera powered when the daemon stops, instead of a floating pin.
        out.set_reset_on_drop(false);
        Ok(Power::Gpio(out))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Power::Gpio(_) => "rppal",
            Power::Simulated(_) => "simulated",
        }
    }

    /// Powers the camera (`true`) or cuts its power.
    pub fn set(&mut self, on: bool) {
        match self {
            Power::Gpio(p) => p.write(if on { Level::High } else { Level::Low }),
            Power::Simulated(s) => {
                let camera = {
                    let mut st = s.lock();
                    st.changes.push(PowerChange {
                        at: Instant::now(),
                        on,
                    });
                    st.camera.clone()
                };
                if let Some(c) = camera {
                    c.set_power(on);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_relay_off_a_pi_names_the_keys_to_change() {
        // This machine has no Pi GPIO: the message must say what to do, not panic.
        if std::path::Path::new("/dev/gpiomem").exists() {
            panic!("this test needs a machine without a Pi GPIO (/dev/gpiomem exists)");
        }
        let e = Power::gpio(5).err().expect("no GPIO here");
        assert!(
            e.contains("camera.power_pin") && e.contains("lights.backend"),
            "{e}"
        );
    }
}
