//! Wall-clock time for the show timeline, taken as a value so tests can stop it.
//!
//! Production uses [`Clock::system`] (the machine's UTC clock). The studio's timer sleeps
//! with `tokio::time`; [`Clock::tokio`] reads the wall time as "a fixed start + tokio's
//! elapsed time", so a test runtime with `tokio::time::pause()` moves both together and a
//! ten-minute spontaneous-photo timer is tested in microseconds, without real sleeps.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// Where "now" comes from.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The machine's clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Utc::now))
    }

    /// `start` plus the time tokio's clock has moved since this call. Under
    /// `tokio::time::pause()` it only moves when the test advances it. Must be called
    /// inside a tokio runtime.
    pub fn tokio(start: DateTime<Utc>) -> Clock {
        let base = tokio::time::Instant::now();
        Clock(Arc::new(move || {
            start + chrono::Duration::from_std(base.elapsed()).unwrap_or_default()
        }))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_only_with_tokio_time() {
        let start = DateTime::parse_from_rfc3339("2026-11-23T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Clock::tokio(start);
        assert_eq!(c.now(), start);
        tokio::time::advance(std::time::Duration::from_secs(600)).await;
        assert_eq!(c.now(), start + chrono::Duration::seconds(600));
    }
}
