//! `cosmosd selftest …` and `cosmosd lights-off`: hardware checks and the stop hook a
//! technician runs on the box, with the daemon stopped (they use the same devices).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::camera;
use crate::config::Config;

/// Detects the configured camera, reports model and settings, takes one photo, makes its
/// derivatives, and prints the timings. Writes the photo to `out` when given.
pub fn camera(config: &Config, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let camera_device = camera::Device::from_config(&config.camera)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = CancellationToken::new();
    let t0 = Instant::now();
    let timing = camera::Timing::from_config(&config.camera);
    let extras = camera::Extras {
        power: None,
        profile: camera::settings::Profile(config.camera.settings.clone()),
    };
    let (handle, task) =
        rt.block_on(async { camera::spawn_with(camera_device, timing, extras, stop.clone()) });
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
    // The readiness report, as `POST /api/camera/check` gives it.
    let checked = rt
        .block_on(handle.check())
        .context("taking the test frame")?;
    let report = camera::readiness::report(&checked, &handle.state(), &config.camera.check)
        .map_err(|m| anyhow::anyhow!("the test frame is unreadable: {m}"))?;
    print!("{report}");
    stop.cancel();
    let _ = rt.block_on(task);
    println!("camera selftest passed");
    Ok(())
}

/// Chases each marker in turn on the configured pins, then turns them off.
pub fn lights(config: &Config) -> anyhow::Result<()> {
    use crate::lights::{self, Program};
    let l = &config.lights;
    let device = lights::Device::from_config(l)?;
    // The simulated markers record what they did, for the summary below.
    let log = match &device {
        lights::Device::Simulated(d) => Some(d.log()),
        lights::Device::Gpio(_) => None,
    };
    println!(
        "lights backend: {} on BCM pins {:?} (active {})",
        device.backend(),
        l.pins,
        if l.active_low { "low" } else { "high" }
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let stop = CancellationToken::new();
        let (h, task) = lights::spawn(device, l.posing, stop.clone());
        for (i, pin) in l.pins.iter().enumerate() {
            println!("  marker {} (GPIO {pin})", i + 1);
        }
        h.run(Program::Selftest);
        let mut w = h.state.clone();
        // the chase ends by switching to off
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            let _ = w.wait_for(|s| s.program == "selftest").await;
            let _ = w.wait_for(|s| s.program == "off").await;
        })
        .await;
        stop.cancel();
        let _ = task.await;
    });
    if let Some(log) = log {
        println!("simulated: {} light changes recorded", log.changes().len());
    }
    println!("lights selftest done: each marker should have lit in turn, then all, then none");
    Ok(())
}

/// Forces every configured pin to its off level.
pub fn lights_off(config: &Config) -> anyhow::Result<()> {
    let l = &config.lights;
    if crate::lights::force_off(l)? {
        println!("floor markers off (BCM pins {:?})", l.pins);
    } else {
        println!("simulated lights: nothing to turn off");
    }
    Ok(())
}
