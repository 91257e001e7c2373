//! The simulated camera: shoots a photo-like test pattern, and can be told to fail the way
//! real cameras do (busy, a USB drop, a hang, a full card, unplugged) for fault tests.
//! It can also be moved to another port (a USB reset renumbers a real body) and reports
//! a shutter counter.
//! Built always: it runs the demo and doubles as the test double at the camera edge.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{CameraError, CameraInfo};

/// One scripted misbehaviour, used by the next capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The capture answers "busy".
    Busy,
    /// The USB link drops during the capture; the camera is back right after.
    Disconnect,
    /// The capture hangs this long before answering.
    Stuck(Duration),
    /// The card is full.
    StoreFull,
    /// The camera sends something that is not a JPEG.
    Garbage,
    /// The capture fails with an I/O error; reopening the session brings it back.
    Io,
    /// The capture fails with an I/O error, and the next this many connects fail too.
    ReopenFails(u32),
    /// The capture fails with an I/O error and the body wedges: no connect succeeds until
    /// its USB device is reset.
    WedgedUntilUsbReset,
    /// The capture fails with an I/O error and the body wedges hard: neither reopening nor
    /// a USB reset helps, only cutting its power (the relay off, then on).
    WedgedUntilPowerCycle,
}

/// The serial number a simulated body reports unless told otherwise.
pub const SIMULATED_SERIAL: &str = "SIM-0000000001";

/// The port the simulated body is on, and the one the daemon looks at, unless moved.
pub const SIMULATED_PORT: &str = "simulated:";

/// The simulated body's shutter counter before its first release here.
pub const SIMULATED_SHUTTER_BASE: u64 = 1000;

/// Why a wedged simulated body refuses to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wedge {
    UntilUsbReset,
    UntilPowerCycle,
}

#[derive(Debug)]
struct Script {
    faults: VecDeque<Fault>,
    plugged: bool,
    captures: u64,
    /// When each shutter release happened.
    shutters: Vec<tokio::time::Instant>,
    /// Connects still to fail (`Fault::ReopenFails`).
    failing_connects: u32,
    wedge: Option<Wedge>,
    /// The relay feeds it power (see `power::SimPower::wire`).
    powered: bool,
    /// The power was cut since the wedge began.
    power_was_cut: bool,
    usb_resets: u64,
    /// The serial number it reports.
    serial: String,
    /// When each live-view frame was taken.
    previews: Vec<tokio::time::Instant>,
    /// The body's settings widgets (issue 14), with choices so values can be refused.
    widgets: super::settings::MemoryWidgets,
    /// Autofocus drives so far, and how many of the next ones fail.
    focuses: u64,
    failing_focuses: u32,
    battery: u8,
    free_images: u64,
    /// The port the body is on now (a USB reset or a replug may move it).
    port: String,
    /// Its shutter counter before the releases counted in `captures`; `None`: it reports none.
    shutter_base: Option<u64>,
}

/// Controls a [`Simulated`] camera from outside (tests, fault drills).
#[derive(Clone)]
pub struct SimControl(Arc<Mutex<Script>>);

impl SimControl {
    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Queues a fault for the next capture.
    pub fn push(&self, f: Fault) {
        self.lock().faults.push_back(f);
    }
    /// Pulls the USB cable: every call fails until [`SimControl::plug`].
    pub fn unplug(&self) {
        self.lock().plugged = false;
    }
    pub fn plug(&self) {
        self.lock().plugged = true;
    }
    /// Shutter releases so far (failed ones included).
    pub fn captures(&self) -> u64 {
        self.lock().captures
    }
    /// Turns a dial on the body behind the daemon's back (drift tests); false when the
    /// body has no such setting.
    pub fn turn(&self, key: &str, value: &str) -> bool {
        self.lock().widgets.turn(key, value)
    }
    /// The body's current value of a setting.
    pub fn setting(&self, key: &str) -> Option<String> {
        use super::settings::Widgets;
        self.lock().widgets.read(key).ok().flatten().map(|(_, v)| v)
    }
    /// When each shutter release happened (tokio's clock, like the simulated lights).
    pub fn shutter_times(&self) -> Vec<tokio::time::Instant> {
        self.lock().shutters.clone()
    }
    /// Another body: the serial number it reports from the next connect.
    pub fn set_serial(&self, serial: &str) {
        self.lock().serial = serial.into();
    }
    /// USB resets the camera received.
    pub fn usb_resets(&self) -> u64 {
        self.lock().usb_resets
    }
    /// The power relay switched (called by `power::SimPower`): without power nothing
    /// answers; power back after a cut frees a body wedged until a power cycle.
    pub fn set_power(&self, on: bool) {
        let mut s = self.lock();
        if !on {
            s.power_was_cut = true;
        } else if s.power_was_cut && s.wedge == Some(Wedge::UntilPowerCycle) {
            s.wedge = None;
        }
        s.powered = on;
    }
    /// The next `n` autofocus drives find nothing to lock on.
    pub fn fail_focus(&self, n: u32) {
        self.lock().failing_focuses = n;
    }
    /// Autofocus drives so far (failed ones included).
    pub fn focuses(&self) -> u64 {
        self.lock().focuses
    }
    /// The battery level it reports, percent.
    pub fn set_battery(&self, percent: u8) {
        self.lock().battery = percent;
    }
    /// The pictures its card still has room for.
    pub fn set_free_images(&self, n: u64) {
        self.lock().free_images = n;
    }
    /// Moves the body to another port (as a USB reset or a replug does): the configured
    /// port stops answering; only a search by serial finds it there.
    pub fn move_to_port(&self, port: &str) {
        self.lock().port = port.into();
    }
    /// The body's shutter counter starts at `base` (`None`: it reports none).
    pub fn set_shutter_counter(&self, base: Option<u64>) {
        self.lock().shutter_base = base;
    }
    /// Live-view frames taken so far.
    pub fn previews(&self) -> u64 {
        self.lock().previews.len() as u64
    }
    /// When each live-view frame was taken (tokio's clock).
    pub fn preview_times(&self) -> Vec<tokio::time::Instant> {
        self.lock().previews.clone()
    }
}

pub struct Simulated {
    script: Arc<Mutex<Script>>,
    /// The serial of the body to look for on other ports (the daemon's memory, not the body's).
    pub(super) look_for: Option<String>,
    /// The photo it shoots.
    pattern: Arc<Vec<u8>>,
}

impl Simulated {
    /// A camera that shoots `width`×`height` photos (EXIF orientation 6, like a body
    /// held upright), and its remote control. Makes the pattern now (CPU work: call it
    /// before the async runtime is busy, as `main` does).
    pub fn new(width: u32, height: u32) -> (Simulated, SimControl) {
        Simulated::with_photo(Arc::new(crate::photos::test_pattern(width, height, 6)))
    }

    /// A camera that shoots `jpeg` (tests share one pattern between many daemons).
    pub fn with_photo(jpeg: Arc<Vec<u8>>) -> (Simulated, SimControl) {
        let script = Arc::new(Mutex::new(Script {
            faults: VecDeque::new(),
            plugged: true,
            captures: 0,
            shutters: Vec::new(),
            failing_connects: 0,
            wedge: None,
            powered: true,
            power_was_cut: false,
            usb_resets: 0,
            serial: SIMULATED_SERIAL.into(),
            previews: Vec::new(),
            widgets: super::settings::MemoryWidgets::canon_like(),
            focuses: 0,
            failing_focuses: 0,
            battery: 80,
            free_images: 900,
            port: SIMULATED_PORT.into(),
            shutter_base: Some(SIMULATED_SHUTTER_BASE),
        }));
        (
            Simulated {
                script: script.clone(),
                look_for: None,
                pattern: jpeg,
            },
            SimControl(script),
        )
    }

    fn plugged(&self) -> Result<(), CameraError> {
        let s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        if s.plugged && s.powered {
            Ok(())
        } else {
            Err(CameraError::Disconnected(
                "no camera on the USB bus (simulated)".into(),
            ))
        }
    }

    pub(super) async fn connect(&mut self) -> Result<CameraInfo, CameraError> {
        self.plugged()?;
        let serial = {
            let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
            if s.port != SIMULATED_PORT {
                return Err(CameraError::Disconnected(format!(
                    "no camera on port {SIMULATED_PORT} (simulated)"
                )));
            }
            if s.wedge.is_some() {
                return Err(CameraError::Disconnected(
                    "I/O error opening the camera: the body does not answer (simulated)".into(),
                ));
            }
            if s.failing_connects > 0 {
                s.failing_connects -= 1;
                return Err(CameraError::Disconnected(
                    "I/O error opening the camera (simulated)".into(),
                ));
            }
            s.serial.clone()
        };
        Ok(CameraInfo {
            model: "Simulated Camera".into(),
            port: "simulated:".into(),
            settings: vec![("capturetarget".into(), "Memory card".into())],
            serial: Some(serial),
            body: Default::default(),
        })
    }

    /// The body with `serial` on a port other than the configured one, where it is now.
    pub(super) async fn connect_by_serial(
        &mut self,
        serial: &str,
    ) -> Result<CameraInfo, CameraError> {
        self.plugged()?;
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        if s.port == SIMULATED_PORT || s.serial != serial {
            return Err(CameraError::Disconnected(format!(
                "no camera with serial {serial} on another port (simulated)"
            )));
        }
        if s.wedge.is_some() || s.failing_connects > 0 {
            s.failing_connects = s.failing_connects.saturating_sub(1);
            return Err(CameraError::Disconnected(
                "I/O error opening the camera (simulated)".into(),
            ));
        }
        Ok(CameraInfo {
            model: "Simulated Camera".into(),
            port: s.port.clone(),
            settings: vec![("capturetarget".into(), "Memory card".into())],
            serial: Some(s.serial.clone()),
            body: Default::default(),
        })
    }

    /// The shutter counter: its base plus every release.
    pub(super) async fn shutter_count(&mut self) -> Result<Option<u64>, CameraError> {
        self.plugged()?;
        let s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        Ok(s.shutter_base.map(|b| b + s.captures))
    }

    pub(super) async fn capture(&mut self) -> Result<Vec<u8>, CameraError> {
        self.plugged()?;
        let fault = {
            let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
            s.captures += 1;
            s.shutters.push(tokio::time::Instant::now());
            s.faults.pop_front()
        };
        match fault {
            Some(Fault::Busy) => return Err(CameraError::Busy("device busy (simulated)".into())),
            Some(Fault::Disconnect) => {
                return Err(CameraError::Disconnected(
                    "USB link reset during capture (simulated)".into(),
                ));
            }
            Some(Fault::Stuck(d)) => tokio::time::sleep(d).await,
            Some(Fault::StoreFull) => return Err(CameraError::StoreFull),
            Some(Fault::Garbage) => return Ok(b"this is not a jpeg".to_vec()),
            Some(
                f @ (Fault::Io
                | Fault::ReopenFails(_)
                | Fault::WedgedUntilUsbReset
                | Fault::WedgedUntilPowerCycle),
            ) => {
                let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
                match f {
                    Fault::ReopenFails(n) => s.failing_connects = n,
                    Fault::WedgedUntilUsbReset => s.wedge = Some(Wedge::UntilUsbReset),
                    Fault::WedgedUntilPowerCycle => {
                        s.wedge = Some(Wedge::UntilPowerCycle);
                        s.power_was_cut = false;
                    }
                    _ => {}
                }
                return Err(CameraError::Disconnected(
                    "I/O error during capture (simulated)".into(),
                ));
            }
            None => tokio::time::sleep(Duration::from_millis(30)).await,
        }
        Ok(self.pattern.as_ref().clone())
    }

    /// One live-view frame: a bar that moves one step per frame.
    pub(super) async fn preview(&mut self) -> Result<Vec<u8>, super::liveview::PreviewError> {
        self.plugged()?;
        let frames = super::liveview::simulated_frames();
        let n = {
            let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
            s.previews.push(tokio::time::Instant::now());
            s.previews.len()
        };
        Ok(frames[n % frames.len()].clone())
    }

    pub(super) async fn ping(&mut self) -> Result<(), CameraError> {
        self.plugged()
    }

    pub(super) fn release(&mut self) {}

    pub(super) async fn focus(&mut self) -> Result<(), CameraError> {
        self.plugged()?;
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        s.focuses += 1;
        if s.failing_focuses > 0 {
            s.failing_focuses -= 1;
            return Err(CameraError::FocusFailed(
                "autofocus found nothing to lock on (simulated)".into(),
            ));
        }
        Ok(())
    }

    pub(super) async fn facts(&mut self) -> Result<super::Facts, CameraError> {
        use super::settings::Widgets;
        self.plugged()?;
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        let format = s.widgets.read("imageformat").ok().flatten().map(|(_, v)| v);
        Ok(super::Facts {
            battery: Some(s.battery),
            free_images: Some(s.free_images),
            format,
        })
    }

    /// The USB reset rung: frees a body wedged until a reset (not one that needs power).
    pub(super) async fn usb_reset(&mut self) -> Result<(), CameraError> {
        self.plugged()?;
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        s.usb_resets += 1;
        if s.wedge == Some(Wedge::UntilUsbReset) {
            s.wedge = None;
        }
        Ok(())
    }

    pub(super) async fn read_setting(
        &mut self,
        key: &str,
    ) -> Result<Option<(super::settings::Widget, String)>, CameraError> {
        use super::settings::Widgets;
        self.plugged()?;
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        s.widgets.read(key).map_err(CameraError::Failed)
    }

    pub(super) async fn write_setting(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<(), CameraError> {
        use super::settings::Widgets;
        self.plugged()?;
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        s.widgets.write(key, value).map_err(CameraError::Failed)
    }
}
