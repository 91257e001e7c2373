//! The owner's side of the focus policy and the readiness check (issue 14): autofocus
//! driven on request and retried once, and a test frame taken with what the body reports
//! about itself. The measures and the verdict are in [`super::readiness`].
//!
//! Invariants:
//! - a focus failure never fires the shutter: the caller gets `FocusFailed` and no capture
//!   is queued for it;
//! - the test frame is handed back in memory; nothing here writes it anywhere.

use super::{CameraError, Owner};

/// What the body reports beside the frame (`None`: it does not say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Battery level in percent.
    pub battery: Option<u8>,
    /// Pictures the card still has room for.
    pub free_images: Option<u64>,
    /// The image format (`imageformat`, else `imagesize`), as the body names it.
    pub format: Option<String>,
}

/// A test frame and the body's facts at the moment it was taken.
#[derive(Debug, Clone)]
pub struct Checked {
    pub jpeg: Vec<u8>,
    pub facts: Facts,
    /// The profile's keys read back from the body (key, value now).
    pub settings: Vec<(String, String)>,
}

/// Parses a battery level as bodies spell it ("50%", "100", "Full").
pub fn battery_percent(s: &str) -> Option<u8> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "full" => return Some(100),
        "empty" => return Some(0),
        _ => {}
    }
    t.trim_end_matches('%')
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= 100)
}

impl Owner {
    /// Drives autofocus; a failure is tried once more, then it is `FocusFailed`. A lost
    /// body is a disconnect, as for a capture.
    pub(super) async fn focus(&mut self) -> Result<(), CameraError> {
        if !self.state.borrow().connected && !self.try_connect().await {
            return Err(CameraError::Disconnected("no camera".into()));
        }
        let t = tokio::time::Instant::now();
        let mut last = String::new();
        for attempt in 1..=2u32 {
            match self.call(|d, _| Box::pin(d.focus())).await {
                Ok(()) => {
                    log::info!(attempt = attempt, focus_ms = t.elapsed().as_millis() as u64;
                        "camera focused");
                    return Ok(());
                }
                Err(e) if e.is_disconnect() => {
                    self.lost(&e);
                    return Err(e);
                }
                Err(e) => {
                    log::warn!(attempt = attempt, error = e.to_string().as_str();
                        "camera could not focus");
                    last = match e {
                        CameraError::FocusFailed(m) => m,
                        other => other.to_string(),
                    };
                }
            }
        }
        Err(CameraError::FocusFailed(last))
    }

    /// Takes a test frame (the ordinary capture path, so retries and the ladder apply),
    /// then reads the body's facts and the profile back.
    pub(super) async fn check(&mut self) -> Result<Checked, CameraError> {
        let shot = self.capture().await?;
        let facts = match self.call(|d, _| Box::pin(d.facts())).await {
            Ok(f) => f,
            Err(e) => {
                log::warn!(error = e.to_string().as_str(); "camera check: the body's facts could not be read");
                Facts::default()
            }
        };
        let mut settings = Vec::new();
        for (key, _) in self.profile.0.clone() {
            let k = key.clone();
            if let Ok(Some((_, v))) = self
                .call(move |d, _| Box::pin(async move { d.read_setting(&k).await }))
                .await
            {
                settings.push((key, v));
            }
        }
        Ok(Checked {
            jpeg: shot.jpeg,
            facts,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::battery_percent;

    #[test]
    fn battery_levels_as_bodies_spell_them() {
        assert_eq!(battery_percent("50%"), Some(50));
        assert_eq!(battery_percent(" 100 "), Some(100));
        assert_eq!(battery_percent("Full"), Some(100));
        assert_eq!(battery_percent("120%"), None);
        assert_eq!(battery_percent("n/a"), None);
    }
}
