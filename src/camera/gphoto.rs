//! The real camera, through the system libgphoto2 (the `gphoto2` crate).
//!
//! The crate runs every libgphoto2 call on its own background thread and hands back a
//! `Task` we await (never `spawn_blocking` around it). Its `Camera` drops by blocking on
//! that thread, so a released camera is dropped on a throwaway thread: if libgphoto2 is
//! wedged, only that thread waits.
//!
//! Capture is trigger → wait for the new JPEG file event → download → delete from the
//! camera if it landed in camera RAM. It does not wait for a capture-complete event:
//! Canon bodies may never send one.

use std::time::Duration;

use gphoto2::camera::CameraEvent;
use gphoto2::list::CameraDescriptor;
use gphoto2::widget::{RadioWidget, ToggleWidget};
use gphoto2::{Camera, Context, error::ErrorKind};
use tokio::time::Instant;

use super::{CameraError, CameraInfo};

pub struct Gphoto {
    /// Configured model (`camera.model`); autodetect when absent.
    model: Option<String>,
    /// Configured port (`camera.port`).
    port: Option<String>,
    /// The serial of the body to look for on other ports when the configured one fails.
    pub(super) look_for: Option<String>,
    conn: Option<(Context, Camera)>,
    /// The card was reported full. libgphoto2 turns a PTP "Store Full" answer into a
    /// generic error (the reason only goes to the context's message), so while this is
    /// set a generic shutter failure is reported as a full card; a successful capture or
    /// a reconnect (card swapped) clears it.
    card_full: bool,
}

fn map(e: gphoto2::Error) -> CameraError {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::IoUsbClaim | ErrorKind::IoLock => CameraError::Claimed(msg),
        ErrorKind::CameraBusy => CameraError::Busy(msg),
        ErrorKind::NoSpace => CameraError::StoreFull,
        ErrorKind::ModelNotFound
        | ErrorKind::UnknownPort
        | ErrorKind::Io
        | ErrorKind::IoRead
        | ErrorKind::IoWrite
        | ErrorKind::IoUpdate
        | ErrorKind::IoUsbFind
        | ErrorKind::IoUsbClearHalt
        | ErrorKind::Timeout => CameraError::Disconnected(msg),
        _ => CameraError::Failed(msg),
    }
}

fn not_connected() -> CameraError {
    CameraError::Disconnected("the camera is not connected".into())
}

fn is_jpeg(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".jpg") || n.ends_with(".jpeg")
}

/// Files captured to camera RAM show up outside the storage folders (`/store_…`).
fn in_camera_ram(folder: &str) -> bool {
    !folder.starts_with("/store_")
}

impl Gphoto {
    pub fn new(model: Option<String>, port: Option<String>) -> Gphoto {
        Gphoto {
            model,
            port,
            look_for: None,
            conn: None,
            card_full: false,
        }
    }

    pub(super) async fn connect(&mut self) -> Result<CameraInfo, CameraError> {
        self.release();
        self.card_full = false;
        let ctx = Context::new().map_err(map)?;
        let camera = match (&self.model, &self.port) {
            (Some(model), Some(port)) => {
                ctx.get_camera(&CameraDescriptor {
                    model: model.clone(),
                    port: port.clone(),
                })
                .await
            }
            (Some(model), None) => {
                let found = ctx
                    .list_cameras()
                    .await
                    .map_err(map)?
                    .find(|d| &d.model == model)
                    .ok_or_else(|| {
                        CameraError::Disconnected(format!("no camera `{model}` on the USB bus"))
                    })?;
                ctx.get_camera(&found).await
            }
            _ => ctx.autodetect_camera().await,
        }
        .map_err(map)?;

        let mut settings = Vec::new();
        // Keep photos on the memory card where the body offers it (Canon: capturetarget).
        if let Ok(w) = camera.config_key::<RadioWidget>("capturetarget").await {
            let card = w.choices_iter().find(|c| c.to_lowercase().contains("card"));
            if let Some(card) = card
                && w.choice() != card
                && w.set_choice(&card).is_ok()
                && let Err(e) = camera.set_config(&w).await
            {
                log::warn!("could not set the capture target to the card: {e}");
            }
            settings.push(("capturetarget".into(), w.choice()));
        }
        // The mirror up and live view on only drain the battery.
        if let Ok(w) = camera.config_key::<ToggleWidget>("viewfinder").await {
            if w.toggled() == Some(true) {
                w.set_toggled(false);
                if let Err(e) = camera.set_config(&w).await {
                    log::warn!("could not switch the viewfinder off: {e}");
                }
            }
            settings.push(("viewfinder".into(), "off".into()));
        }
        if let Ok(w) = camera
            .config_key::<gphoto2::widget::TextWidget>("batterylevel")
            .await
        {
            settings.push(("batterylevel".into(), w.value()));
        }
        let serial = camera
            .config_key::<gphoto2::widget::TextWidget>("serialnumber")
            .await
            .ok()
            .map(|w| w.value().trim().to_string())
            .filter(|s| !s.is_empty());
        let info = CameraInfo {
            model: camera.abilities().model().into_owned(),
            port: camera.port_info().map(|p| p.path()).unwrap_or_default(),
            settings,
            serial,
            body: Default::default(),
        };
        self.conn = Some((ctx, camera));
        Ok(info)
    }

    /// The body with `serial` among the detected ones (the crate's camera list, i.e.
    /// libgphoto2's autodetect) on a port other than the configured one: each is opened
    /// and asked for its `serialnumber`; the match is connected where it is now.
    pub(super) async fn connect_by_serial(
        &mut self,
        serial: &str,
    ) -> Result<CameraInfo, CameraError> {
        self.release();
        let ctx = Context::new().map_err(map)?;
        let detected: Vec<CameraDescriptor> = ctx.list_cameras().await.map_err(map)?.collect();
        for d in detected {
            if self.port.as_deref() == Some(d.port.as_str()) {
                continue; // the configured port has just failed
            }
            let Ok(camera) = ctx.get_camera(&d).await else {
                continue;
            };
            let theirs = camera
                .config_key::<gphoto2::widget::TextWidget>("serialnumber")
                .await
                .ok()
                .map(|w| w.value().trim().to_string());
            // Dropping blocks on libgphoto2's thread; never do that on ours.
            let _ = std::thread::Builder::new()
                .name("gphoto2-release".into())
                .spawn(move || drop(camera));
            if theirs.as_deref() != Some(serial) {
                continue;
            }
            let configured = (self.model.take(), self.port.take());
            self.model = Some(d.model.clone());
            self.port = Some(d.port.clone());
            let r = self.connect().await;
            (self.model, self.port) = configured;
            return match r {
                Ok(info) if info.serial.as_deref() == Some(serial) => Ok(info),
                Ok(_) => {
                    self.release();
                    Err(CameraError::Disconnected(format!(
                        "the body on {} changed before it could be opened",
                        d.port
                    )))
                }
                Err(e) => Err(e),
            };
        }
        Err(CameraError::Disconnected(format!(
            "no detected camera reports serial {serial}"
        )))
    }

    pub(super) async fn capture(&mut self, wait: Duration) -> Result<Vec<u8>, CameraError> {
        let r = self.capture_inner(wait).await;
        match &r {
            Ok(_) => self.card_full = false,
            Err(CameraError::StoreFull) => self.card_full = true,
            Err(_) => {}
        }
        r
    }

    async fn capture_inner(&mut self, wait: Duration) -> Result<Vec<u8>, CameraError> {
        let (ctx, camera) = self
            .conn
            .as_ref()
            .ok_or_else(|| CameraError::Disconnected("not connected".into()))?;
        if let Err(e) = camera.trigger_capture().await {
            let e = map(e);
            if matches!(e, CameraError::Failed(_))
                && (self.card_full || no_free_images(camera).await)
            {
                return Err(CameraError::StoreFull);
            }
            return Err(e);
        }
        let deadline = Instant::now() + wait;
        let (folder, name) = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CameraError::Failed(
                    "the camera made no new JPEG after the shutter".into(),
                ));
            }
            match camera
                .wait_event(left.min(Duration::from_secs(1)))
                .await
                .map_err(map)?
            {
                CameraEvent::NewFile(p) if is_jpeg(&p.name()) => {
                    break (p.folder().into_owned(), p.name().into_owned());
                }
                CameraEvent::Unknown(s)
                    if s.contains("400a") || s.to_lowercase().contains("store full") =>
                {
                    return Err(CameraError::StoreFull);
                }
                _ => {}
            }
        };
        let file = camera.fs().download(&folder, &name).await.map_err(map)?;
        let data = file.get_data(ctx).await.map_err(map)?;
        if in_camera_ram(&folder)
            && let Err(e) = camera.fs().delete_file(&folder, &name).await
        {
            log::warn!(file = name.as_str(); "could not delete the photo from camera RAM: {e}");
        }
        Ok(data.into_vec())
    }

    /// One live-view frame (`capture_preview`): the body's own small JPEG, in memory.
    /// A body without live view answers [`PreviewError::Unsupported`].
    pub(super) async fn preview(&mut self) -> Result<Vec<u8>, super::liveview::PreviewError> {
        use super::liveview::PreviewError;
        let (ctx, camera) = self
            .conn
            .as_ref()
            .ok_or_else(|| CameraError::Disconnected("not connected".into()))?;
        if !camera.abilities().camera_operations().capture_preview() {
            return Err(PreviewError::Unsupported(
                "libgphoto2 offers no preview capture for this body".into(),
            ));
        }
        let file = match camera.capture_preview().await {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotSupported => {
                return Err(PreviewError::Unsupported(e.to_string()));
            }
            Err(e) => return Err(map(e).into()),
        };
        let data = file.get_data(ctx).await.map_err(map)?;
        Ok(data.into_vec())
    }

    /// Drives autofocus once (issue 14): `autofocusdrive` where the body has it (most
    /// EOS and Nikon bodies answer an error when nothing locks), else Canon's half-press
    /// through `eosremoterelease`. A body with neither cannot be focused on request.
    pub(super) async fn focus(&mut self) -> Result<(), CameraError> {
        let (_, camera) = self.conn.as_ref().ok_or_else(not_connected)?;
        let focus_err = |e: gphoto2::Error| match map(e) {
            CameraError::Failed(m) => CameraError::FocusFailed(m),
            other => other,
        };
        if let Ok(w) = camera.config_key::<ToggleWidget>("autofocusdrive").await {
            w.set_toggled(true);
            return camera.set_config(&w).await.map_err(focus_err);
        }
        if let Ok(w) = camera.config_key::<RadioWidget>("eosremoterelease").await {
            w.set_choice("Press Half").map_err(focus_err)?;
            camera.set_config(&w).await.map_err(focus_err)?;
            // The body hunts while half-pressed; the shutter's own press comes later.
            tokio::time::sleep(Duration::from_millis(700)).await;
            w.set_choice("Release Half").map_err(focus_err)?;
            return camera.set_config(&w).await.map_err(focus_err);
        }
        Err(CameraError::FocusFailed(
            "this body offers no autofocus drive (autofocusdrive, eosremoterelease); \
             set camera.focus = \"manual\" and focus it by hand"
                .into(),
        ))
    }

    /// Battery, free images and image format, for the readiness check.
    pub(super) async fn facts(&mut self) -> Result<super::Facts, CameraError> {
        use gphoto2::widget::{TextWidget, Widget};
        let (_, camera) = self.conn.as_ref().ok_or_else(not_connected)?;
        let battery = match camera.config_key::<TextWidget>("batterylevel").await {
            Ok(w) => super::check::battery_percent(&w.value()),
            Err(_) => None,
        };
        let free_images = match camera.storages().await {
            Ok(list) => list.iter().filter_map(|s| s.free_images()).max(),
            Err(e) => return Err(map(e)),
        };
        let mut format = None;
        for key in ["imageformat", "imagequality", "imagesize"] {
            if let Ok(Widget::Radio(r)) = camera.config_key::<Widget>(key).await {
                format = Some(r.choice());
                break;
            }
        }
        Ok(super::Facts {
            battery,
            free_images,
            format,
        })
    }

    /// Reads the widget `key` (radio/menu, range, toggle, text) and its value as the
    /// profile spells it; `Ok(None)` when the body has no such widget (issue 14).
    pub(super) async fn read_setting(
        &mut self,
        key: &str,
    ) -> Result<Option<(super::settings::Widget, String)>, CameraError> {
        use super::settings::Widget;
        use gphoto2::widget::Widget as W;
        let (_, camera) = self.conn.as_ref().ok_or_else(not_connected)?;
        let w = match camera.config_key::<W>(key).await {
            Ok(w) => w,
            Err(e) if e.kind() == ErrorKind::BadParameters => return Ok(None),
            Err(e) => return Err(map(e)),
        };
        Ok(match w {
            W::Radio(r) => Some((Widget::Choice(r.choices_iter().collect()), r.choice())),
            W::Range(r) => {
                let (range, step) = r.range_and_step();
                let v = r.value();
                let widget = Widget::Range {
                    min: *range.start(),
                    max: *range.end(),
                    step,
                };
                Some((widget, format!("{v}")))
            }
            W::Toggle(t) => Some((
                Widget::Toggle,
                if t.toggled() == Some(true) { "1" } else { "0" }.into(),
            )),
            W::Text(t) => Some((Widget::Text, t.value())),
            _ => None,
        })
    }

    /// Sets the widget `key` to `value` (already checked against the widget) and sends it.
    pub(super) async fn write_setting(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<(), CameraError> {
        use gphoto2::widget::Widget as W;
        let (_, camera) = self.conn.as_ref().ok_or_else(not_connected)?;
        let w = camera.config_key::<W>(key).await.map_err(map)?;
        let bad = |e: gphoto2::Error| CameraError::Failed(format!("{key}: {e}"));
        match &w {
            W::Radio(r) => r.set_choice(value).map_err(bad)?,
            W::Range(r) => r.set_value(
                value
                    .trim()
                    .parse()
                    .map_err(|_| CameraError::Failed(format!("{key}: not a number")))?,
            ),
            W::Toggle(t) => t.set_toggled(value == "1"),
            W::Text(t) => t.set_value(value).map_err(bad)?,
            _ => return Err(CameraError::Failed(format!("{key}: not a settable widget"))),
        }
        camera.set_config(&w).await.map_err(map)
    }

    pub(super) async fn ping(&mut self) -> Result<(), CameraError> {
        let (_, camera) = self
            .conn
            .as_ref()
            .ok_or_else(|| CameraError::Disconnected("not connected".into()))?;
        camera.storages().await.map_err(map)?;
        Ok(())
    }

    pub(super) fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Dropping blocks on libgphoto2's thread; never do that on ours.
            let _ = std::thread::Builder::new()
                .name("gphoto2-release".into())
                .spawn(move || drop(conn));
        }
    }
}

/// Whether a storage of the camera reports room for no more pictures.
async fn no_free_images(camera: &Camera) -> bool {
    match camera.storages().await {
        Ok(list) => list.iter().any(|s| s.free_images() == Some(0)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_folders_are_classified() {
        assert!(is_jpeg("IMG_0001.JPG"));
        assert!(is_jpeg("capt0000.jpeg"));
        assert!(!is_jpeg("IMG_0001.CR3"));
        assert!(in_camera_ram("/"));
        assert!(!in_camera_ram("/store_00010001/DCIM/100CANON"));
    }
}
