//! The backends behind one [`Device`]: each call goes to the gphoto2 body or the
//! simulated one.

use std::time::Duration;

use anyhow::Context;

use super::{CameraError, CameraInfo, Device, Gphoto, Simulated, liveview};
use crate::config::{CameraBackend, CameraConfig};

impl Device {
    /// Builds the configured backend. The simulated camera makes its test photo (or reads
    /// `camera.simulated_photo`) here, so call this before the runtime is busy. Nothing
    /// talks to a real camera yet: the owner task connects.
    pub fn from_config(config: &CameraConfig) -> anyhow::Result<Device> {
        Ok(match config.backend {
            CameraBackend::Gphoto2 => {
                Device::Gphoto(Gphoto::new(config.model.clone(), config.port.clone()))
            }
            CameraBackend::Simulated => match &config.simulated_photo {
                None => Device::Simulated(Simulated::new(3000, 2000).0),
                Some(p) => {
                    let jpeg = std::fs::read(p)
                        .with_context(|| format!("camera.simulated_photo {}", p.display()))?;
                    Device::Simulated(Simulated::with_photo(std::sync::Arc::new(jpeg)).0)
                }
            },
        })
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Device::Gphoto(_) => "gphoto2",
            Device::Simulated(_) => "simulated",
        }
    }

    pub(super) async fn connect(&mut self) -> Result<CameraInfo, CameraError> {
        match self {
            Device::Gphoto(d) => d.connect().await,
            Device::Simulated(d) => d.connect().await,
        }
    }

    pub(super) async fn capture(&mut self, wait: Duration) -> Result<Vec<u8>, CameraError> {
        match self {
            Device::Gphoto(d) => d.capture(wait).await,
            Device::Simulated(d) => d.capture().await,
        }
    }

    pub(super) async fn ping(&mut self) -> Result<(), CameraError> {
        match self {
            Device::Gphoto(d) => d.ping().await,
            Device::Simulated(d) => d.ping().await,
        }
    }

    /// One live-view frame (a small JPEG), never stored.
    pub(super) async fn preview(&mut self) -> Result<Vec<u8>, liveview::PreviewError> {
        match self {
            Device::Gphoto(d) => d.preview().await,
            Device::Simulated(d) => d.preview().await,
        }
    }

    /// Forgets the connection (without blocking the caller).
    pub(super) fn release(&mut self) {
        match self {
            Device::Gphoto(d) => d.release(),
            Device::Simulated(d) => d.release(),
        }
    }

    /// Drives autofocus once.
    pub(super) async fn focus(&mut self) -> Result<(), CameraError> {
        match self {
            Device::Gphoto(d) => d.focus().await,
            Device::Simulated(d) => d.focus().await,
        }
    }

    /// Battery, free images and image format, as far as the body says.
    pub(super) async fn facts(&mut self) -> Result<super::Facts, CameraError> {
        match self {
            Device::Gphoto(d) => d.facts().await,
            Device::Simulated(d) => d.facts().await,
        }
    }
}
