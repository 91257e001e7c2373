//! Photo files: atomic writes, the derivatives (email size and tablet preview) with EXIF
//! orientation applied, and the start-up sweep.
//!
//! Invariants:
//! - a file is visible under its final name only once it is complete and on disk
//!   (temp file, fsync, rename, fsync of the folder), so a power cut leaves either the
//!   whole photo or nothing plus a `.tmp` that the start-up sweep removes (with any file
//!   that no database row names);
//! - derivatives carry no EXIF (camera serials and GPS never reach a guest's inbox), are
//!   4:2:0, and are already rotated upright;
//! - the pipeline decodes the camera JPEG *already downscaled* (libjpeg-turbo DCT
//!   scaling), resizes, and only then rotates: the expensive steps see the fewest pixels.
//!
//! Everything here blocks (disk, CPU): call it from a plain thread or `spawn_blocking`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use fast_image_resize as fr;
use turbojpeg::{Decompressor, Image, PixelFormat, ScalingFactor, Subsamp};

/// Long edge of the email-size JPEG.
pub const EMAIL_EDGE: u32 = 2048;
/// Long edge of the tablet preview.
pub const PREVIEW_EDGE: u32 = 480;
pub const EMAIL_QUALITY: i32 = 85;
pub const PREVIEW_QUALITY: i32 = 80;

/// Why a photo could not be processed or stored, by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The camera's file is not a JPEG we can read: keep the original, report it.
    #[error("the photo is not a readable JPEG: {0}")]
    Undecodable(String),
    /// The data disk is full: nothing was kept; tell the host (507) and the technician.
    #[error("the data disk is full")]
    DiskFull,
    /// Any other filesystem failure: the box's fault (500), logged.
    #[error("photo file error: {0}")]
    Io(#[from] io::Error),
}

fn io_err(e: io::Error) -> PhotoError {
    if e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
        PhotoError::DiskFull
    } else {
        PhotoError::Io(e)
    }
}

/// The two derivatives of one camera JPEG.
#[derive(Debug, Clone)]
pub struct Derivatives {
    pub email: Vec<u8>,
    pub email_size: (u32, u32),
    pub preview: Vec<u8>,
    pub preview_size: (u32, u32),
    /// The original's upright size (after orientation).
    pub original_size: (u32, u32),
    /// The EXIF orientation that was applied (1 = none).
    pub orientation: u16,
}

/// The EXIF orientation (1–8) of a JPEG; 1 when it has none. An EXIF block that is
/// present but unreadable is logged, not silently ignored.
pub fn orientation(jpeg: &[u8]) -> u16 {
    match exif::Reader::new().read_from_container(&mut io::Cursor::new(jpeg)) {
        Ok(e) => e
            .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            .filter(|o| (1..=8).contains(o))
            .map(|o| o as u16)
            .unwrap_or(1),
        Err(exif::Error::NotFound(_)) => 1,
        Err(e) => {
            log::warn!(error = e.to_string().as_str(); "unreadable EXIF in a camera photo: not rotating it");
            1
        }
    }
}

/// Size after applying `orientation` to a `w`×`h` image.
fn oriented(w: u32, h: u32, orientation: u16) -> (u32, u32) {
    if orientation >= 5 { (h, w) } else { (w, h) }
}

/// Fits `w`×`h` into a long edge of `edge` (never upscales).
fn fit(w: u32, h: u32, edge: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= edge {
        return (w, h);
    }
    let scale = f64::from(edge) / f64::from(long);
    let sw = ((f64::from(w) * scale).round() as u32).max(1);
    let sh = ((f64::from(h) * scale).round() as u32).max(1);
    (sw, sh)
}

/// The smallest DCT scale whose output still has a long edge of at least `edge`.
fn dct_scale(w: u32, h: u32, edge: u32) -> ScalingFactor {
    let long = w.max(h) as usize;
    let mut best = ScalingFactor::ONE;
    for f in Decompressor::supported_scaling_factors() {
        if f.num() > f.denom() {
            continue; // no upscaling
        }
        if f.scale(long) >= edge as usize
            && (f.num() as f64 / f.denom() as f64) < (best.num() as f64 / best.denom() as f64)
        {
            best = f;
        }
    }
    best
}

/// An RGB8 pixel buffer.
struct Rgb {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

fn resize(src: &Rgb, w: u32, h: u32) -> Result<Rgb, PhotoError> {
    if (w, h) == (src.w, src.h) {
        return Ok(Rgb {
            w,
            h,
            px: src.px.clone(),
        });
    }
    let s = fr::images::ImageRef::new(src.w, src.h, &src.px, fr::PixelType::U8x3)
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    let mut d = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom));
    fr::Resizer::new()
        .resize(&s, &mut d, &opts)
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    Ok(Rgb {
        w,
        h,
        px: d.into_vec(),
    })
}

/// Applies an EXIF orientation (rotation and/or mirror) to small, already-resized pixels.
fn orient(img: Rgb, orientation: u16) -> Rgb {
    use image::imageops;
    if orientation <= 1 || orientation > 8 {
        return img;
    }
    let buf = image::RgbImage::from_raw(img.w, img.h, img.px).expect("buffer matches its size");
    let out = match orientation {
        2 => imageops::flip_horizontal(&buf),
        3 => imageops::rotate180(&buf),
        4 => imageops::flip_vertical(&buf),
        5 => imageops::flip_horizontal(&imageops::rotate90(&buf)),
        6 => imageops::rotate90(&buf),
        7 => imageops::flip_horizontal(&imageops::rotate270(&buf)),
        _ => imageops::rotate270(&buf),
    };
    Rgb {
        w: out.width(),
        h: out.height(),
        px: out.into_raw(),
    }
}

fn encode(img: &Rgb, quality: i32) -> Result<Vec<u8>, PhotoError> {
    let mut c = turbojpeg::Compressor::new().map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    c.set_quality(quality)
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    c.set_subsamp(Subsamp::Sub2x2)
        .map_err(|e| PhotoError::Undecodable(e.to_string()))?;
    c.compress_to_vec(Image {
        pixels: img.px.as_slice(),
        width: img.w as usize,
        pitch: img.w as usize * 3,
        height: img.h as usize,
        format: PixelFormat::RGB,
    })
    .map_err(|e| PhotoError::Undecodable(e.to_string()))
}

/// Makes the email-size JPEG and the preview of a camera JPEG.
pub fn derive(jpeg: &[u8]) -> Result<Derivatives, PhotoError> {
    let bad = |e: turbojpeg::Error| PhotoError::Undecodable(e.to_string());
    let o = orientation(jpeg);
    let mut d = Decompressor::new().map_err(bad)?;
    let header = d.read_header(jpeg).map_err(bad)?;
    let (w, h) = (header.width as u32, header.height as u32);
    let factor = dct_scale(w, h, EMAIL_EDGE);
    d.set_scaling_factor(factor).map_err(bad)?;
    let scaled = header.scaled(factor);
    let (sw, sh) = (scaled.width as u32, scaled.height as u32);
    let mut px = vec![0u8; sw as usize * sh as usize * 3];
    d.decompress(
        jpeg,
        Image {
            pixels: px.as_mut_slice(),
            width: sw as usize,
            pitch: sw as usize * 3,
            height: sh as usize,
            format: PixelFormat::RGB,
        },
    )
    .map_err(bad)?;
    drop(d);
    let decoded = Rgb { w: sw, h: sh, px };

    let (ew, eh) = fit(w, h, EMAIL_EDGE);
    let email_px = resize(&decoded, ew.min(sw), eh.min(sh))?;
    drop(decoded);
    let (pw, ph) = fit(email_px.w, email_px.h, PREVIEW_EDGE);
    let preview_px = resize(&email_px, pw, ph)?;

    let email_px = orient(email_px, o);
    let preview_px = orient(preview_px, o);
    Ok(Derivatives {
        email: encode(&email_px, EMAIL_QUALITY)?,
        email_size: (email_px.w, email_px.h),
        preview: encode(&preview_px, PREVIEW_QUALITY)?,
        preview_size: (preview_px.w, preview_px.h),
        original_size: oriented(w, h, o),
        orientation: o,
    })
}

// ---- files --------------------------------------------------------------------------

/// Which file of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Email,
    Preview,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Original, Variant::Email, Variant::Preview];
    fn suffix(self) -> &'static str {
        match self {
            Variant::Original => ".jpg",
            Variant::Email => ".email.jpg",
            Variant::Preview => ".preview.jpg",
        }
    }
}

/// The photo folder: `<data_dir>/photos/<show_id>/<name>{.jpg,.email.jpg,.preview.jpg}`.
#[derive(Debug, Clone)]
pub struct PhotoFiles {
    root: PathBuf,
}

impl PhotoFiles {
    pub fn new(data_dir: &Path) -> Self {
        PhotoFiles {
            root: data_dir.join("photos"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, show_id: &str, name: &str, v: Variant) -> PathBuf {
        self.root
            .join(show_id)
            .join(format!("{name}{}", v.suffix()))
    }

    /// Writes the original and both derivatives, each atomically. On failure, whatever
    /// was written is removed again.
    pub fn save(
        &self,
        show_id: &str,
        name: &str,
        original: &[u8],
        d: &Derivatives,
    ) -> Result<(), PhotoError> {
        let dir = self.root.join(show_id);
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(io_err)?;
            sync_dir(&self.root).map_err(io_err)?;
        }
        let files = [
            (Variant::Original, original),
            (Variant::Email, d.email.as_slice()),
            (Variant::Preview, d.preview.as_slice()),
        ];
        for (v, bytes) in files {
            if let Err(e) = write_atomic(&self.path(show_id, name, v), bytes) {
                self.remove(show_id, name);
                return Err(io_err(e));
            }
        }
        Ok(())
    }

    /// Removes a photo's files (missing ones are fine).
    pub fn remove(&self, show_id: &str, name: &str) {
        for v in Variant::ALL {
            let p = self.path(show_id, name, v);
            if let Err(e) = fs::remove_file(&p)
                && e.kind() != io::ErrorKind::NotFound
            {
                log::warn!(file = p.display().to_string().as_str(); "could not remove a photo file: {e}");
            }
        }
        let _ = sync_dir(&self.root.join(show_id));
    }

    /// Start-up sweep: removes temp files a crash left behind, and photo files no row
    /// names (a crash between writing the files and recording the row). Returns
    /// (temp files, orphan files) removed. Run it before anything can capture.
    pub fn sweep(&self, known: &std::collections::HashSet<String>) -> (usize, usize) {
        let (mut temps, mut orphans) = (0, 0);
        let Ok(shows) = fs::read_dir(&self.root) else {
            return (0, 0);
        };
        for show in shows.flatten() {
            let Ok(files) = fs::read_dir(show.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if name.ends_with(".tmp") {
                    if fs::remove_file(f.path()).is_ok() {
                        temps += 1;
                    }
                    continue;
                }
                let stem = Variant::ALL
                    .iter()
                    .rev() // the longer suffixes first
                    .find_map(|v| name.strip_suffix(v.suffix()));
                if let Some(stem) = stem
                    && !known.contains(stem)
                    && fs::remove_file(f.path()).is_ok()
                {
                    orphans += 1;
                }
            }
        }
        (temps, orphans)
    }
}

/// temp file → write → fsync → rename → fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

mod pattern;
pub use pattern::{has_exif, test_pattern};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_are_upright_sized_and_stripped() {
        let jpeg = test_pattern(3000, 2000, 6);
        assert_eq!(orientation(&jpeg), 6);
        assert!(has_exif(&jpeg));
        let d = derive(&jpeg).unwrap();
        assert_eq!(d.original_size, (2000, 3000));
        assert_eq!(d.email_size, (1365, 2048), "rotated, long edge 2048");
        assert_eq!(d.preview_size, (320, 480));
        for bytes in [&d.email, &d.preview] {
            assert!(!has_exif(bytes), "no EXIF in derivatives");
            assert!(
                !bytes.windows(6).any(|w| w == b"SERIAL"),
                "no camera serial"
            );
            let h = turbojpeg::read_header(bytes).unwrap();
            assert_eq!(h.subsamp, Subsamp::Sub2x2, "4:2:0");
        }
        let email = image::load_from_memory(&d.email).unwrap();
        assert_eq!((email.width(), email.height()), (1365, 2048));
    }

    #[test]
    fn orientation_turns_the_picture_the_right_way() {
        // The pattern is green at the top-left and dark at the bottom-left. Orientation 6
        // means "turn 90° clockwise to view": the bottom-left corner comes to the top-left.
        let d = derive(&test_pattern(600, 400, 6)).unwrap();
        let img = image::load_from_memory(&d.preview).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        assert_eq!((w, h), (320, 480));
        let green = |x: u32, y: u32| {
            let mut s = 0u32;
            for dy in 0..8 {
                for dx in 0..8 {
                    s += u32::from(img.get_pixel(x + dx, y + dy).0[1]);
                }
            }
            s / 64
        };
        assert!(
            green(0, 0) < 80,
            "top-left was the dark bottom-left: {}",
            green(0, 0)
        );
        assert!(
            green(w - 8, 0) > 140,
            "top-right was the green top-left: {}",
            green(w - 8, 0)
        );
        let plain = derive(&test_pattern(600, 400, 1)).unwrap();
        assert_eq!(plain.preview_size, (480, 320));
    }

    #[test]
    fn small_photos_are_not_upscaled_and_garbage_is_refused() {
        let d = derive(&test_pattern(800, 600, 1)).unwrap();
        assert_eq!(d.email_size, (800, 600));
        assert_eq!(d.preview_size, (480, 360));
        assert!(matches!(
            derive(b"not a jpeg"),
            Err(PhotoError::Undecodable(_))
        ));
    }

    #[test]
    fn broken_exif_is_treated_as_upright() {
        let mut jpeg = test_pattern(64, 48, 6);
        // corrupt the TIFF byte order mark inside the APP1
        let i = jpeg.windows(6).position(|w| w == b"Exif\0\0").unwrap() + 6;
        jpeg[i] = b'X';
        assert_eq!(orientation(&jpeg), 1);
        assert!(derive(&jpeg).is_ok());
    }

    #[test]
    fn dct_scale_keeps_enough_pixels() {
        let f = dct_scale(6000, 4000, EMAIL_EDGE);
        assert!(
            f.scale(6000) >= 2048 && f.scale(6000) < 4000,
            "{}/{}",
            f.num(),
            f.denom()
        );
        assert_eq!(dct_scale(1000, 800, EMAIL_EDGE).denom(), 1);
    }

    #[test]
    fn files_are_written_whole_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let files = PhotoFiles::new(dir.path());
        let jpeg = test_pattern(300, 200, 1);
        let d = derive(&jpeg).unwrap();
        files.save("shw_1", "shw_1-posed-a", &jpeg, &d).unwrap();
        for v in Variant::ALL {
            assert!(files.path("shw_1", "shw_1-posed-a", v).exists());
        }
        assert_eq!(
            fs::read(files.path("shw_1", "shw_1-posed-a", Variant::Original)).unwrap(),
            jpeg
        );
        fs::write(dir.path().join("photos/shw_1/.x.jpg.tmp"), b"half").unwrap();
        fs::write(
            dir.path().join("photos/shw_1/shw_1-posed-b.email.jpg"),
            b"orphan",
        )
        .unwrap();
        let known = std::collections::HashSet::from(["shw_1-posed-a".to_string()]);
        assert_eq!(files.sweep(&known), (1, 1));
        for v in Variant::ALL {
            assert!(
                files.path("shw_1", "shw_1-posed-a", v).exists(),
                "known files stay"
            );
        }
        files.remove("shw_1", "shw_1-posed-a");
        assert!(
            !files
                .path("shw_1", "shw_1-posed-a", Variant::Email)
                .exists()
        );
    }
}
