//! `GET /metrics`: what the box measures, in the Prometheus text format
//! (`prometheus-client`). Two kinds of figures:
//! - live ones, counted as things happen: requests by route, method and status with a
//!   latency histogram per route, and the capture latency histogram per photo kind;
//! - a [`Snapshot`] taken at scrape time from what health already knows (camera
//!   counters, mail queue, disk, board, process), encoded as it is.
//!
//! No guest data: labels are route patterns (`/api/guests/{id}`), methods, statuses and
//! fixed names.

use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of the answer.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

fn request_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
    .into_iter()
}

fn capture_buckets() -> impl Iterator<Item = f64> {
    [
        0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0,
    ]
    .into_iter()
}

/// The live figures; one per daemon, shared by the HTTP workers and the studio.
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    capture: Family<KindLabels, Histogram, fn() -> Histogram>,
    login_failures: Counter,
    /// Serialises scrapes (each builds its registry from clones of the above).
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(request_buckets())),
            capture: Family::new_with_constructor(|| Histogram::new(capture_buckets())),
            login_failures: Counter::default(),
            scrape: Mutex::new(()),
        }
    }
}

/// What is read at scrape time (from the health report, the board and the process).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub uptime_seconds: u64,
    pub camera_connected: bool,
    pub captures: u64,
    pub capture_failures: u64,
    /// Recovery rungs climbed, by rung name, and the ladder running out (`exhausted`).
    pub recoveries: Vec<(&'static str, u64)>,
    /// Messages by status (`queued`, `sent`, `failed`).
    pub mail: Vec<(&'static str, u64)>,
    /// Age of the oldest queued message (0 when none is queued).
    pub mail_oldest_queued_seconds: f64,
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
    pub temperature_c: Option<f64>,
    /// The firmware's throttling flags, by name, when the board has them.
    pub throttled: Option<Vec<(&'static str, bool)>>,
    pub resident_memory_bytes: Option<u64>,
    /// Open alerts (the host's and the technician's problems).
    pub open_alerts: u64,
    /// When the last good backup finished (Unix seconds), if the box knows.
    pub last_backup_unix: Option<i64>,
}

impl Metrics {
    /// One answered request (`route` is the route's pattern, or `-` when none matched).
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.into(),
                method: method.into(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.into(),
            })
            .observe(seconds);
    }

    /// One photo off the camera (`kind`: posed, spontaneous), trigger to bytes.
    pub fn capture(&self, kind: &str, seconds: f64) {
        self.capture
            .get_or_create(&KindLabels { kind: kind.into() })
            .observe(seconds);
    }

    /// A wrong PIN or password.
    pub fn login_failed(&self) {
        self.login_failures.inc();
    }

    /// The whole exposition: the live figures and `snapshot`.
    pub fn encode(&self, snapshot: Snapshot) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let mut r = Registry::with_prefix("cosmosd");
        r.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            self.requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time from the request's head to its answer, by route pattern",
            Unit::Seconds,
            self.latency.clone(),
        );
        r.register_with_unit(
            "capture_duration",
            "Camera capture latency, trigger to JPEG in hand, by photo kind",
            Unit::Seconds,
            self.capture.clone(),
        );
        r.register(
            "login_failures",
            "Logins refused for a wrong PIN or password",
            self.login_failures.clone(),
        );
        r.register_collector(Box::new(SnapshotCollector(snapshot)));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &r);
        out
    }
}

#[derive(Debug)]
struct SnapshotCollector(Snapshot);

fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, unit, g.metric_type())?)
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabel {
    name: String,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        gauge(
            &mut e,
            "uptime",
            "Time since the daemon started",
            Some(&Unit::Seconds),
            s.uptime_seconds as f64,
        )?;
        gauge(
            &mut e,
            "camera_connected",
            "1 when the camera is connected",
            None,
            f64::from(u8::from(s.camera_connected)),
        )?;
        counter(
            &mut e,
            "captures",
            "Shutter releases since start-up",
            s.captures,
        )?;
        counter(
            &mut e,
            "capture_failures",
            "Captures that failed since start-up",
            s.capture_failures,
        )?;
        {
            let c = ConstCounter::new(0u64);
            let mut m = e.encode_descriptor(
                "camera_recoveries",
                "Recovery ladder rungs climbed since start-up, by rung (exhausted: every rung failed)",
                None,
                c.metric_type(),
            )?;
            for (rung, n) in &s.recoveries {
                let labels = NameLabel {
                    name: (*rung).into(),
                };
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let g = ConstGauge::new(0i64);
            let mut m = e.encode_descriptor(
                "mail_messages",
                "Messages in the outbox, by status (name)",
                None,
                g.metric_type(),
            )?;
            for (status, n) in &s.mail {
                let labels = NameLabel {
                    name: (*status).into(),
                };
                ConstGauge::new(*n as i64).encode(m.encode_family(&labels)?)?;
            }
        }
        gauge(
            &mut e,
            "mail_oldest_queued_age",
            "Age of the oldest queued message (0 when none)",
            Some(&Unit::Seconds),
            s.mail_oldest_queued_seconds,
        )?;
        gauge(
            &mut e,
            "open_alerts",
            "Alerts raised and not cleared",
            None,
            s.open_alerts as f64,
        )?;
        if let Some(v) = s.disk_free_bytes {
            gauge(
                &mut e,
                "disk_free",
                "Free space on the data disk",
                Some(&Unit::Bytes),
                v as f64,
            )?;
        }
        if let Some(v) = s.disk_total_bytes {
            gauge(
                &mut e,
                "disk_size",
                "Size of the data disk",
                Some(&Unit::Bytes),
                v as f64,
            )?;
        }
        if let Some(v) = s.resident_memory_bytes {
            gauge(
                &mut e,
                "process_resident_memory",
                "Resident memory of the daemon",
                Some(&Unit::Bytes),
                v as f64,
            )?;
        }
        if let Some(v) = s.temperature_c {
            gauge(
                &mut e,
                "soc_temperature",
                "SoC temperature",
                Some(&Unit::Celsius),
                v,
            )?;
        }
        if let Some(flags) = &s.throttled {
            let g = ConstGauge::new(0i64);
            let mut m = e.encode_descriptor(
                "throttled",
                "Raspberry Pi firmware throttling flags (1 = set), by flag name",
                None,
                g.metric_type(),
            )?;
            for (flag, on) in flags {
                let labels = NameLabel {
                    name: (*flag).into(),
                };
                ConstGauge::new(i64::from(*on)).encode(m.encode_family(&labels)?)?;
            }
        }
        if let Some(t) = s.last_backup_unix {
            gauge(
                &mut e,
                "last_backup_timestamp",
                "When the last good backup finished (Unix time)",
                Some(&Unit::Seconds),
                t as f64,
            )?;
        }
        Ok(())
    }
}

/// The daemon's resident memory, from `/proc/self/statm` (pages × page size).
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_captures_are_counted_and_the_snapshot_encoded() {
        let m = Metrics::default();
        m.request("/api/guests/{id}", "GET", 200, 0.004);
        m.request("/api/guests/{id}", "GET", 200, 0.02);
        m.capture("posed", 0.3);
        let text = m.encode(Snapshot {
            uptime_seconds: 12,
            captures: 3,
            recoveries: vec![("reopen", 1)],
            mail: vec![("queued", 2)],
            throttled: Some(vec![("under_voltage", true)]),
            ..Snapshot::default()
        });
        for want in [
            "cosmosd_http_requests_total{route=\"/api/guests/{id}\",method=\"GET\",status=\"200\"} 2",
            "cosmosd_http_request_duration_seconds_count{route=\"/api/guests/{id}\"} 2",
            "cosmosd_capture_duration_seconds_bucket{kind=\"posed\",le=\"0.3\"} 1",
            "cosmosd_uptime_seconds 12",
            "cosmosd_captures_total 3",
            "cosmosd_camera_recoveries_total{name=\"reopen\"} 1",
            "cosmosd_mail_messages{name=\"queued\"} 2",
            "cosmosd_throttled{name=\"under_voltage\"} 1",
        ] {
            assert!(text.contains(want), "{want} in:\n{text}");
        }
        assert!(
            !text.contains("soc_temperature"),
            "absent on a board without it"
        );
    }
}
