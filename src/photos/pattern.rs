//! The test pattern: a deterministic, photo-like JPEG with an EXIF orientation, shot by
//! the simulated camera and used by tests and benchmarks.

use turbojpeg::{Image, PixelFormat, Subsamp};

/// A deterministic, photo-like JPEG (smooth light, shapes and sensor-like noise, 4:2:2
/// like a Canon body) with an EXIF block carrying `orientation` and a camera serial.
/// The simulated camera shoots these; tests and the benchmark use them too.
pub fn test_pattern(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut px = vec![0u8; w * h * 3];
    let mut seed: u32 = 0x9E37_79B9;
    let (cx, cy, r) = (w as f32 * 0.35, h as f32 * 0.45, w.min(h) as f32 * 0.25);
    for y in 0..h {
        for x in 0..w {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed & 15) as i32 - 8;
            let fx = x as f32 / w as f32;
            let fy = y as f32 / h as f32;
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let disc = dx * dx + dy * dy < r * r;
            let stripe = ((x / 64 + y / 48) % 7 == 0) as i32 * 40;
            let base = [
                40.0 + 180.0 * fx,
                30.0 + 150.0 * (1.0 - fy),
                60.0 + 120.0 * (fx * fy),
            ];
            let i = (y * w + x) * 3;
            for c in 0..3 {
                let mut v = base[c] as i32 + noise + stripe;
                if disc {
                    v = 255 - v / 2;
                }
                px[i + c] = v.clamp(0, 255) as u8;
            }
        }
    }
    let mut c = turbojpeg::Compressor::new().expect("turbojpeg");
    c.set_quality(92).expect("quality");
    c.set_subsamp(Subsamp::Sub2x1).expect("subsamp");
    let jpeg = c
        .compress_to_vec(Image {
            pixels: px.as_slice(),
            width: w,
            pitch: w * 3,
            height: h,
            format: PixelFormat::RGB,
        })
        .expect("encoding the test pattern");
    with_exif(&jpeg, orientation)
}

/// Inserts a minimal EXIF APP1 (orientation, make, body serial) after the SOI marker.
fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    // TIFF, little endian; IFD0 with Orientation (SHORT) and Make (ASCII) and
    // BodySerialNumber (0xA431, ASCII) stored after the IFD.
    let make = b"Canon\0";
    let serial = b"SERIAL-0123456789\0";
    let entries: u16 = 3;
    let ifd_len = 2 + entries as usize * 12 + 4;
    let data_off = 8 + ifd_len;
    let mut t = Vec::new();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&entries.to_le_bytes());
    // 0x010F Make
    t.extend_from_slice(&0x010Fu16.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&(make.len() as u32).to_le_bytes());
    t.extend_from_slice(&(data_off as u32).to_le_bytes());
    // 0x0112 Orientation
    t.extend_from_slice(&0x0112u16.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&orientation.to_le_bytes());
    t.extend_from_slice(&[0, 0]);
    // 0xA431 BodySerialNumber
    t.extend_from_slice(&0xA431u16.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&(serial.len() as u32).to_le_bytes());
    t.extend_from_slice(&((data_off + make.len()) as u32).to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(make);
    t.extend_from_slice(serial);
    let mut app1 = Vec::new();
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&t);
    let mut out = Vec::with_capacity(jpeg.len() + app1.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Whether a JPEG carries an EXIF (APP1 "Exif") segment.
pub fn has_exif(jpeg: &[u8]) -> bool {
    jpeg.windows(6).any(|w| w == b"Exif\0\0")
}
