//! Live view (`GET /api/camera/liveview`) over real HTTP through the daemon's door: the
//! frames (each a JPEG that decodes), the fps cap, the time limit, one viewer at a time,
//! stop on disconnect, a capture preempting it after the settle time, and the virtual
//! libgphoto2 camera (which has no live view) answering a clear error.

use crate::common;
use crate::common::wait_until;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{Daemon, HOST_PIN, Process, running_show};
use serde_json::Value;

/// One live-view connection, read part by part.
struct Live {
    sock: TcpStream,
    buf: Vec<u8>,
    head: String,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Live {
    fn open(addr: SocketAddr, token: &str) -> Live {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            sock,
            "GET /api/camera/liveview HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        let mut l = Live {
            sock,
            buf: Vec::new(),
            head: String::new(),
        };
        let end = l.until(b"\r\n\r\n").expect("an answer head");
        l.head = String::from_utf8_lossy(&l.buf[..end]).into_owned();
        l.buf.drain(..end + 4);
        l
    }

    /// Reads until `needle` is in the buffer; `None` on end of stream.
    fn until(&mut self, needle: &[u8]) -> Option<usize> {
        let mut chunk = [0u8; 16384];
        loop {
            if let Some(i) = find(&self.buf, needle) {
                return Some(i);
            }
            match self.sock.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading the live view: {e}"),
            }
        }
    }

    fn fill(&mut self, n: usize) {
        let mut chunk = [0u8; 16384];
        while self.buf.len() < n {
            let k = self.sock.read(&mut chunk).unwrap();
            assert!(k > 0, "the stream ended inside a frame");
            self.buf.extend_from_slice(&chunk[..k]);
        }
    }

    /// The next JPEG; `None` at the closing boundary. Panics on a broken stream.
    fn frame(&mut self) -> Option<Vec<u8>> {
        let Some(start) = self.until(b"--cosmosframe") else {
            panic!("the stream ended without its closing boundary");
        };
        self.buf.drain(..start);
        self.fill(15);
        if self.buf.starts_with(b"--cosmosframe--") {
            return None;
        }
        let end = self.until(b"\r\n\r\n").expect("a part head");
        let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
        assert!(head.contains("content-type: image/jpeg"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("a Content-Length")
            .trim()
            .parse()
            .unwrap();
        self.buf.drain(..end + 4);
        self.fill(len + 2);
        let jpeg: Vec<u8> = self.buf.drain(..len).collect();
        assert_eq!(&self.buf[..2], b"\r\n");
        self.buf.drain(..2);
        Some(jpeg)
    }
}

fn decode(jpeg: &[u8]) -> image::RgbImage {
    image::load_from_memory(jpeg)
        .expect("each frame is a JPEG that decodes")
        .to_rgb8()
}

#[test]
fn frames_are_jpegs_at_most_fps_and_the_stream_ends_at_the_time_limit() {
    let d = Daemon::start_custom(|c| {
        c.set("camera.liveview_fps", 5)
            .set("camera.liveview_max_seconds", 5);
    });
    let host = d.login("host");
    let started = Instant::now();
    let mut l = Live::open(d.addr, &host);
    assert!(l.head.starts_with("HTTP/1.1 200"), "{}", l.head);
    assert!(
        l.head
            .to_ascii_lowercase()
            .contains("content-type: multipart/x-mixed-replace; boundary=cosmosframe"),
        "{}",
        l.head
    );
    let mut frames = Vec::new();
    while let Some(f) = l.frame() {
        frames.push(f);
    }
    let window = started.elapsed().as_secs_f64();
    let n = frames.len();
    // The cap: at most fps × the stream's time (+1 for the frame at time zero).
    assert!(n as f64 <= 5.0 * window + 1.0, "{n} frames in {window:.1}s");
    assert!(n <= 5 * 5 + 1, "{n} frames in a 5 s stream at 5 fps");
    assert!(n >= 2, "only {n} frames");
    let imgs: Vec<_> = frames.iter().map(|f| decode(f)).collect();
    for i in &imgs {
        assert!(
            i.width() <= 960 && i.height() <= 640,
            "{}x{}",
            i.width(),
            i.height()
        );
    }
    assert_ne!(imgs[0].as_raw(), imgs[1].as_raw(), "frames change");
    assert_eq!(d.camera.previews(), n as u64, "every frame taken was sent");
    // The time limit ended it (the connection then closes).
    let mut rest = Vec::new();
    let _ = l.sock.read_to_end(&mut rest);
    // The viewer is free again.
    let mut again = Live::open(d.addr, &host);
    assert!(again.head.starts_with("HTTP/1.1 200"), "{}", again.head);
    assert!(again.frame().is_some());
}

#[test]
fn a_second_viewer_is_refused_and_a_closed_viewer_stops_the_camera() {
    let d = Daemon::start();
    let (host, show) = running_show(&d, 1);
    let mut l = Live::open(d.addr, &host);
    for _ in 0..3 {
        l.frame().expect("a frame");
    }
    let r = d.get("/api/camera/liveview", &host);
    assert_eq!((r.status, r.code()), (409, "liveview_busy"), "{}", r.body);
    let kiosk = d.login("kiosk");
    assert_eq!(d.get("/api/camera/liveview", &kiosk).status, 403);

    drop(l);
    // The owner stops taking frames once a write fails.
    let mut last = d.camera.previews();
    wait_until("the preview counter to stop", || {
        std::thread::sleep(Duration::from_millis(500));
        let now = d.camera.previews();
        let still = now == last;
        last = now;
        still
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(d.camera.previews(), last, "no frames after the client left");
    // A capture afterwards works, and a new viewer may open.
    let r = d.post(
        &format!("/api/shows/{show}/spontaneous"),
        common::SHOW_CONTROL_TOKEN,
        &Value::Null,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let mut again = Live::open(d.addr, &host);
    assert!(again.head.starts_with("HTTP/1.1 200"), "{}", again.head);
    assert!(again.frame().is_some());
}

#[test]
fn a_capture_preempts_live_view_after_the_settle_time() {
    let d = Daemon::start_custom(|c| {
        c.set("camera.liveview_settle_ms", 400);
    });
    let (host, show) = running_show(&d, 1);
    let mut l = Live::open(d.addr, &host);
    for _ in 0..3 {
        l.frame().expect("a frame");
    }
    let r = d.post(
        &format!("/api/shows/{show}/spontaneous"),
        common::SHOW_CONTROL_TOKEN,
        &Value::Null,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // The stream ends cleanly with its closing boundary.
    while l.frame().is_some() {}
    let previews = d.camera.preview_times();
    let shutters = d.camera.shutter_times();
    assert_eq!(shutters.len(), 1);
    let last = *previews.last().unwrap();
    assert!(
        shutters[0] >= last + Duration::from_millis(400),
        "the shutter waited the settle time after the last frame"
    );
    assert!(
        previews.iter().all(|p| *p < shutters[0]),
        "no frame after the shutter"
    );
    // Live view may open again after the photo.
    let mut again = Live::open(d.addr, &host);
    assert!(again.head.starts_with("HTTP/1.1 200"), "{}", again.head);
    assert!(again.frame().is_some());
}

#[test]
fn the_virtual_gphoto2_camera_answers_that_it_has_no_live_view() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), |c| {
        c.vcamera();
    });
    let p = Process::spawn(
        &config,
        &[("IOLIBS", common::vcamera_iolibs().to_str().unwrap())],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while p.req("GET", "/api/health", None, None).body["camera"]["state"] != "connected" {
        assert!(
            Instant::now() < deadline,
            "the virtual camera never connected"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let host = p.login("host", HOST_PIN);
    let r = p.req("GET", "/api/camera/liveview", Some(&host), None);
    assert_eq!(
        (r.status, r.code()),
        (409, "camera_no_liveview"),
        "{}",
        r.body
    );
    // The camera still takes photos afterwards (nothing wedged).
    let h = p.req("GET", "/api/health", None, None).body;
    assert_eq!(h["camera"]["state"], "connected", "{h}");
}

/// How long a client waits for the end of the connection after the closing boundary; the
/// daemon's idle deadline (`server.io_timeout_seconds`) is set well above it, so only a
/// connection the daemon closes itself can end in time.
const EOF_WAIT: Duration = Duration::from_secs(5);
const IO_TIMEOUT_SECONDS: u64 = 30;

impl Live {
    /// After the closing boundary: reads to the end of the connection under [`EOF_WAIT`]
    /// and returns what came after the boundary; a timeout fails the test.
    fn expect_eof(&mut self) -> Vec<u8> {
        assert!(
            Duration::from_secs(IO_TIMEOUT_SECONDS) > EOF_WAIT * 3,
            "the idle deadline must be far above the wait, or the test cannot fail"
        );
        self.sock.set_read_timeout(Some(EOF_WAIT)).unwrap();
        let mut rest = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 4096];
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => return rest,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!(
                        "the connection stayed open {EOF_WAIT:?} after the closing boundary \
                         (the answer said `Connection: close`)"
                    )
                }
                Err(e) => panic!("reading to the end of the live view: {e}"),
            }
        }
    }
}

#[test]
fn the_connection_closes_right_after_the_closing_boundary() {
    // A keep-alive client (HTTP/1.1, no `Connection` header, like a browser's fetch):
    // once the stream ends (a capture, then the time limit) it must see the end of the
    // connection, not wait for the daemon's idle deadline.
    let d = Daemon::start_custom(|c| {
        c.io_timeout(IO_TIMEOUT_SECONDS as i64)
            .set("camera.liveview_max_seconds", 5)
            .set("camera.liveview_settle_ms", 0);
    });
    let (host, show) = running_show(&d, 1);
    // 1. Ended by a capture.
    let mut l = Live::open(d.addr, &host);
    assert!(
        l.head.to_ascii_lowercase().contains("connection: close"),
        "{}",
        l.head
    );
    l.frame().expect("a frame");
    let r = d.post(
        &format!("/api/shows/{show}/spontaneous"),
        common::SHOW_CONTROL_TOKEN,
        &Value::Null,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    while l.frame().is_some() {}
    let rest = l.expect_eof();
    assert_eq!(
        rest, b"--cosmosframe--\r\n",
        "nothing after the closing boundary"
    );
    // 2. Ended by the time limit.
    let mut l = Live::open(d.addr, &host);
    while l.frame().is_some() {}
    l.expect_eof();
    // 3. A client that half-closes its side after the request still gets the whole
    // stream, then the end.
    let mut l = Live::open(d.addr, &host);
    l.sock.shutdown(std::net::Shutdown::Write).unwrap();
    let mut n = 0;
    while l.frame().is_some() {
        n += 1;
    }
    assert!(n >= 2, "only {n} frames after the half-close");
    l.expect_eof();
    // 4. A refused live view is a plain JSON answer that says `Connection: close`, and
    // the connection then ends.
    let mut first = Live::open(d.addr, &host);
    first.frame().expect("a frame");
    let mut second = Live::open(d.addr, &host);
    assert!(second.head.starts_with("HTTP/1.1 409"), "{}", second.head);
    // It says the connection closes, so a keep-alive client does not reuse it.
    assert!(
        second
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{}",
        second.head
    );
    second.sock.set_read_timeout(Some(EOF_WAIT)).unwrap();
    let mut body = std::mem::take(&mut second.buf);
    second
        .sock
        .read_to_end(&mut body)
        .expect("the refusal's connection ends, not times out");
    assert!(
        String::from_utf8_lossy(&body).contains("liveview_busy"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}
