//! `cosmosd selftest …`: hardware checks a technician runs by hand on the box, with the
//! daemon stopped (they use the same devices).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::camera;
use crate::config::Config;
use crate::daemon::{Devices, camera_timing};

/// Detects the configured camera, reports model and settings, takes one photo, makes its
/// derivatives, and prints the timings. Writes the photo to `out` when given.
pub fn camera(config: &Config, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let devices = Devices::from_config(config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = CancellationToken::new();
    let t0 = Instant::now();
    let (handle, task) =
        rt.block_on(async { camera::spawn(devices.camera, camera_timing(config), stop.clone()) });
    println!("camera backend: {}", handle.state().backend);
    let state = rt.block_on(async {
        let mut w = handle.watch();
        tokio::time::timeout(Duration::from_secs(30), w.wait_for(|s| s.connected))
            .await
            .map(|r| r.map(|s| s.clone()))
    });
    let state = match state {
        Ok(Ok(s)) => s,
        _ => {
            let s = handle.state();
            bail!(
                "no camera connected within 30 s: {}",
                s.last_error.unwrap_or_else(|| "no answer".into())
            );
        }
    };
    let info = state.info.unwrap_or_default();
    println!(
        "connected in {:.0?}: {} on {}",
        t0.elapsed(),
        info.model,
        info.port
    );
    for (k, v) in &info.settings {
        println!("  {k}: {v}");
    }
    let shot = rt.block_on(handle.capture()).context("taking a photo")?;
    println!(
        "photo: {} bytes in {:.0?} ({} attempt(s))",
        shot.jpeg.len(),
        shot.took,
        shot.attempts
    );
    let t = Instant::now();
    let d = crate::photos::derive(&shot.jpeg).context("making the derivatives")?;
    println!(
        "derivatives in {:.0?}: original {}x{} (EXIF orientation {}), email {}x{}, preview {}x{}",
        t.elapsed(),
        d.original_size.0,
        d.original_size.1,
        d.orientation,
        d.email_size.0,
        d.email_size.1,
        d.preview_size.0,
        d.preview_size.1
    );
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("selftest.jpg"), &shot.jpeg)?;
        std::fs::write(dir.join("selftest.email.jpg"), &d.email)?;
        std::fs::write(dir.join("selftest.preview.jpg"), &d.preview)?;
        println!("written to {}", dir.display());
    }
    stop.cancel();
    let _ = rt.block_on(task);
    println!("camera selftest passed");
    Ok(())
}
