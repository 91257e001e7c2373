//! A test daemon's configuration: the standard one (`config_text`) held as a TOML table and
//! changed through typed setters, never by editing its text. (Tests that need a *broken*
//! file on purpose write text themselves.)

use std::path::Path;

use toml::{Table, Value};

pub struct TestConfig {
    table: Table,
}

impl TestConfig {
    /// The standard test configuration with its data in `data_dir`.
    pub fn standard(data_dir: &Path) -> TestConfig {
        let text = super::config_text(data_dir, "");
        TestConfig {
            table: toml::from_str(&text).expect("the standard test config parses"),
        }
    }

    /// A configuration rendered earlier (a running daemon's), to change and restart with.
    pub fn from_text(text: &str) -> TestConfig {
        TestConfig {
            table: toml::from_str(text).expect("a rendered test config parses"),
        }
    }

    /// Technician alerts to `tech@example.com`, looked at 5 times a second, with a
    /// reminder every `repeat_seconds`.
    pub fn technician_alerts(&mut self, repeat_seconds: f64) -> &mut Self {
        self.set_toml("alerts.email", "[\"tech@example.com\"]")
            .set("alerts.check_seconds", 0.2)
            .set("alerts.repeat_hours", repeat_seconds / 3600.0)
    }

    /// Sets `section.key` (tables are made as needed).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().expect("a key");
        let mut t = &mut self.table;
        for p in parts {
            t = t
                .entry(p)
                .or_insert_with(|| Value::Table(Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("{key}: {p} is not a table"));
        }
        t.insert(last.to_string(), value.into());
        self
    }

    /// Sets `section.key` to a TOML literal (arrays of inline tables and the like).
    pub fn set_toml(&mut self, key: &str, literal: &str) -> &mut Self {
        let v: Table = toml::from_str(&format!("v = {literal}")).expect("a TOML literal");
        self.set(key, v["v"].clone())
    }

    pub fn workers(&mut self, n: i64) -> &mut Self {
        self.set("server.workers", n)
    }

    pub fn io_timeout(&mut self, seconds: i64) -> &mut Self {
        self.set("server.io_timeout_seconds", seconds)
    }

    pub fn events_keepalive(&mut self, seconds: i64) -> &mut Self {
        self.set("server.events_keepalive_seconds", seconds)
    }

    pub fn countdown(&mut self, seconds: i64) -> &mut Self {
        self.set("show.countdown_seconds", seconds)
    }

    pub fn spontaneous_offset(&mut self, seconds: i64) -> &mut Self {
        self.set("show.spontaneous_offset_seconds", seconds)
    }

    pub fn min_free_mb(&mut self, mb: i64) -> &mut Self {
        self.set("storage.min_free_mb", mb)
    }

    pub fn pins(&mut self, pins: &[i64]) -> &mut Self {
        self.set("lights.pins", pins.to_vec())
    }

    pub fn templates_dir(&mut self, dir: &Path) -> &mut Self {
        self.set("mail.templates_dir", dir.display().to_string())
    }

    /// libgphoto2's virtual PTP camera (scripts/vcamera.sh).
    pub fn vcamera(&mut self) -> &mut Self {
        self.set("camera.backend", "gphoto2")
            .set("camera.model", "USB PTP Class Camera")
            .set("camera.port", "usb:001,001")
            .set("camera.call_timeout_seconds", 20)
    }

    /// Mail through the test SMTP relay on `port` (plain, short timeouts and backoff).
    pub fn relay(&mut self, port: u16) -> &mut Self {
        self.set("mail.transport", "smtp")
            .set("mail.smtp_host", "127.0.0.1")
            .set("mail.smtp_port", i64::from(port))
            .set("mail.tls", "none")
            .set("mail.timeout_seconds", 5)
            .set("mail.retry_initial_seconds", 1)
            .set("mail.retry_max_seconds", 2)
    }

    pub fn render(&self) -> String {
        toml::to_string(&self.table).expect("a table renders")
    }
}
