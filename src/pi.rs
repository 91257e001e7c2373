//! The board's own health, where it tells: the SoC temperature (`/sys/class/thermal`)
//! and the Raspberry Pi firmware's throttling flags. Raspberry Pi OS's kernel publishes
//! the firmware's whole word (`get_throttled`); mainline kernels, Debian's among them (the
//! image's), only its under-voltage alarm, through the `rpi_volt` hwmon device
//! (`in0_lcrit_alarm`, which the driver refreshes every 2 s from the firmware, clearing
//! the sticky bit each time, so it means "under-volted now"). Then only `under_voltage`
//! is reported: the other flags are unknown, not false. Read from a root folder (`/` on
//! the box, a fixture folder in tests); a board without any of them reports `None`,
//! never an error.

use std::path::{Path, PathBuf};

/// Where Raspberry Pi OS's kernel publishes the firmware's `get_throttled` word.
const THROTTLED: &str = "sys/devices/platform/soc/soc:firmware/get_throttled";
const THERMAL: &str = "sys/class/thermal/thermal_zone0/temp";
/// Where mainline kernels put hwmon devices; the Pi's voltage monitor is named `rpi_volt`.
const HWMON: &str = "sys/class/hwmon";

/// The firmware's throttling word, decoded (bits 0–3 now, 16–19 since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttled {
    pub under_voltage: bool,
    pub freq_capped: bool,
    pub throttled: bool,
    pub soft_temp_limit: bool,
    pub under_voltage_occurred: bool,
    pub freq_capped_occurred: bool,
    pub throttled_occurred: bool,
    pub soft_temp_limit_occurred: bool,
    /// Which flags the kernel told.
    pub source: Source,
}

/// Where the throttling flags came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// The firmware's whole word: all eight flags are known.
    #[default]
    Firmware,
    /// The `rpi_volt` hwmon alarm of mainline kernels: only `under_voltage` is known.
    UnderVoltageAlarm,
}

impl Throttled {
    pub fn from_bits(b: u32) -> Throttled {
        let bit = |n: u32| b & (1 << n) != 0;
        Throttled {
            under_voltage: bit(0),
            freq_capped: bit(1),
            throttled: bit(2),
            soft_temp_limit: bit(3),
            under_voltage_occurred: bit(16),
            freq_capped_occurred: bit(17),
            throttled_occurred: bit(18),
            soft_temp_limit_occurred: bit(19),
            source: Source::Firmware,
        }
    }

    /// What the `rpi_volt` alarm says: under-volted now, or not; nothing else is known.
    pub fn from_alarm(under_voltage: bool) -> Throttled {
        Throttled {
            under_voltage,
            source: Source::UnderVoltageAlarm,
            ..Throttled::default()
        }
    }

    /// Each flag the kernel told, by its name, for metrics and health.
    pub fn flags(&self) -> Vec<(&'static str, bool)> {
        if self.source == Source::UnderVoltageAlarm {
            return vec![("under_voltage", self.under_voltage)];
        }
        vec![
            ("under_voltage", self.under_voltage),
            ("freq_capped", self.freq_capped),
            ("throttled", self.throttled),
            ("soft_temp_limit", self.soft_temp_limit),
            ("under_voltage_occurred", self.under_voltage_occurred),
            ("freq_capped_occurred", self.freq_capped_occurred),
            ("throttled_occurred", self.throttled_occurred),
            ("soft_temp_limit_occurred", self.soft_temp_limit_occurred),
        ]
    }

    /// Something is wrong now (not only since boot).
    pub fn now(&self) -> bool {
        self.under_voltage || self.freq_capped || self.throttled || self.soft_temp_limit
    }
}

/// What the board says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Board {
    pub temperature_c: Option<f64>,
    pub throttled: Option<Throttled>,
}

/// Reads the board's health under `root`.
pub fn read(root: &Path) -> Board {
    let text = |rel: &str| -> Option<String> {
        let p: PathBuf = root.join(rel);
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let temperature_c = text(THERMAL)
        .and_then(|s| s.parse::<i64>().ok())
        .map(|milli| milli as f64 / 1000.0);
    let throttled = text(THROTTLED)
        .and_then(|s| {
            let s = s.trim_start_matches("throttled=");
            let hex = s.trim_start_matches("0x");
            u32::from_str_radix(hex, 16).ok()
        })
        .map(Throttled::from_bits)
        .or_else(|| under_voltage_alarm(root).map(Throttled::from_alarm));
    Board {
        temperature_c,
        throttled,
    }
}

/// The `rpi_volt` hwmon device's `in0_lcrit_alarm` under `root`, if there is one.
fn under_voltage_alarm(root: &Path) -> Option<bool> {
    let dir = std::fs::read_dir(root.join(HWMON)).ok()?;
    dir.flatten().find_map(|e| {
        let name = std::fs::read_to_string(e.path().join("name")).ok()?;
        if name.trim() != "rpi_volt" {
            return None;
        }
        let alarm = std::fs::read_to_string(e.path().join("in0_lcrit_alarm")).ok()?;
        match alarm.trim() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_board_without_the_files_reports_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), Board::default());
    }

    #[test]
    fn temperature_and_throttling_are_read_and_decoded() {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in [(THERMAL, "61234\n"), (THROTTLED, "50005\n")] {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let b = read(dir.path());
        assert_eq!(b.temperature_c, Some(61.234));
        let t = b.throttled.unwrap();
        assert!(t.under_voltage && t.throttled && t.under_voltage_occurred && t.throttled_occurred);
        assert!(!t.freq_capped && !t.soft_temp_limit);
        assert!(t.now());
        assert_eq!(Throttled::from_bits(0), Throttled::default());
        assert_eq!(t.flags().len(), 8);
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn a_mainline_kernel_tells_only_the_under_voltage_alarm() {
        let dir = tempfile::tempdir().unwrap();
        // Other hwmon devices come first and are not the Pi's voltage monitor.
        write(dir.path(), "sys/class/hwmon/hwmon0/name", "cpu_thermal\n");
        write(dir.path(), "sys/class/hwmon/hwmon0/in0_lcrit_alarm", "1\n");
        write(dir.path(), "sys/class/hwmon/hwmon1/name", "rpi_volt\n");
        write(dir.path(), "sys/class/hwmon/hwmon1/in0_lcrit_alarm", "0\n");
        let t = read(dir.path()).throttled.expect("the alarm is read");
        assert!(!t.now());
        assert_eq!(t.flags(), vec![("under_voltage", false)]);

        write(dir.path(), "sys/class/hwmon/hwmon1/in0_lcrit_alarm", "1\n");
        let t = read(dir.path()).throttled.unwrap();
        assert!(t.under_voltage && t.now());
        assert_eq!(t.flags(), vec![("under_voltage", true)]);

        // The firmware's whole word wins where the kernel has both.
        write(dir.path(), THROTTLED, "0x0\n");
        let t = read(dir.path()).throttled.unwrap();
        assert_eq!((t.source, t.now()), (Source::Firmware, false));
    }

    #[test]
    fn an_unreadable_alarm_is_no_report() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "sys/class/hwmon/hwmon3/name", "rpi_volt\n");
        write(dir.path(), "sys/class/hwmon/hwmon3/in0_lcrit_alarm", "?\n");
        assert_eq!(read(dir.path()).throttled, None);
    }
}
