//! The real floor markers: one BCM GPIO output per marker through rppal, active-high or
//! active-low (relay boards) by config. Off a Raspberry Pi, opening fails with a message
//! that names the problem and the config key to change; nothing here panics.

use rppal::gpio::{Gpio as Chip, Level, OutputPin};

use super::LightsError;

pub struct Gpio {
    pins: Vec<OutputPin>,
    active_low: bool,
}

fn level(on: bool, active_low: bool) -> Level {
    if on != active_low {
        Level::High
    } else {
        Level::Low
    }
}

fn open_chip() -> Result<Chip, LightsError> {
    Chip::new().map_err(|e| {
        LightsError::Unavailable(format!(
            "cannot open the GPIO ({e}). This does not look like a Raspberry Pi, or the service \
             user may not use /dev/gpiomem (group gpio). To run without floor lights set \
             `lights.backend = \"simulated\"` in the config"
        ))
    })
}

impl Gpio {
    /// Claims the pins as outputs, all off.
    pub fn open(pins: &[u8], active_low: bool) -> Result<Gpio, LightsError> {
        let chip = open_chip()?;
        let mut out = Vec::with_capacity(pins.len());
        for &p in pins {
            let pin = chip.get(p).map_err(|e| {
                LightsError::Unavailable(format!("GPIO {p} from `lights.pins` cannot be used: {e}"))
            })?;
            let mut o = pin.into_output();
            o.write(level(false, active_low));
            // Keep the off level when released instead of floating as an input.
            o.set_reset_on_drop(false);
            out.push(o);
        }
        Ok(Gpio {
            pins: out,
            active_low,
        })
    }

    pub fn markers(&self) -> usize {
        self.pins.len()
    }

    pub(super) fn set(&mut self, on: &[bool]) {
        for (pin, &v) in self.pins.iter_mut().zip(on) {
            pin.write(level(v, self.active_low));
        }
    }
}

impl Drop for Gpio {
    fn drop(&mut self) {
        let off = vec![false; self.pins.len()];
        self.set(&off);
    }
}

/// Drives every configured pin to its off level from scratch: for `cosmosd lights-off`
/// (the service's stop hook) and the panic hook, when the light task may be gone.
pub fn force_off(pins: &[u8], active_low: bool) -> Result<(), LightsError> {
    let chip = open_chip()?;
    for &p in pins {
        if let Ok(pin) = chip.get(p) {
            let mut o = pin.into_output();
            o.write(level(false, active_low));
            o.set_reset_on_drop(false);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_wiring() {
        assert_eq!(level(true, false), Level::High);
        assert_eq!(level(false, false), Level::Low);
        assert_eq!(
            level(true, true),
            Level::Low,
            "active-low relay: low lights the marker"
        );
        assert_eq!(level(false, true), Level::High);
    }

    #[test]
    fn off_a_pi_opening_fails_with_the_key_to_change() {
        // This test runs off a Pi (CI, developers); on a Pi it checks nothing.
        if std::path::Path::new("/dev/gpiomem").exists() {
            return;
        }
        let e = Gpio::open(&[17, 27], false).err().expect("no GPIO here");
        let m = e.to_string();
        assert!(m.contains("lights.backend"), "{m}");
        assert!(force_off(&[17], false).is_err());
    }
}
