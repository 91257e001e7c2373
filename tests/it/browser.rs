//! The tablets' pages in a real browser: Debian's chromium driven by playwright-core
//! (tests/browser/e2e.mjs: the whole night; tests/browser/kiosk.mjs: the guest kiosk screen
//! by screen, with axe-core; tests/browser/host.mjs: the host console, with axe-core) against
//! the real daemon. Screenshots of every step are kept in `target/browser-screenshots/` (the
//! kiosk's and the host console's in their `kiosk/` and `host/` folders).

use crate::common::{Daemon, HOST_PIN, KIOSK_PIN, browser_dir, run_node, screenshots};

#[test]
fn two_guests_register_and_the_host_runs_their_show_to_the_outbox() {
    // A short show clock: the spontaneous photo comes by itself 3 s after start, and the
    // posed photo's countdown lasts 2 s.
    let d = Daemon::start_custom(|c| {
        c.countdown(2).spontaneous_offset(3);
    });
    let shots = concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser-screenshots");
    // Only this test's own screenshots go: the other browser tests keep theirs in folders.
    for f in std::fs::read_dir(shots).into_iter().flatten().flatten() {
        if f.path().is_file() {
            let _ = std::fs::remove_file(f.path());
        }
    }
    let url = format!("http://{}", d.addr);
    run_node("e2e.mjs", &[&url, HOST_PIN, KIOSK_PIN, shots]);
    d.stop().unwrap();
}

#[test]
fn the_kiosk_forgives_mistakes_and_never_registers_a_guest_twice() {
    let d = Daemon::start();
    let url = format!("http://{}", d.addr);
    let log = run_node(
        "kiosk.mjs",
        &[&url, HOST_PIN, KIOSK_PIN, &screenshots("kiosk")],
    );
    println!("{log}");
    d.stop().unwrap();
}

/// The host console on its own (tests/browser/host.mjs): both languages, plain errors,
/// the guest sheet, cancel with confirmation and undo, failures that stay, axe-core on
/// every screen. The script asks for the camera to be unplugged and plugged back.
#[test]
fn the_host_console_keeps_failures_in_sight_and_asks_before_destroying() {
    let d = Daemon::start_custom(|c| {
        c.countdown(2);
    });
    let shots = screenshots("host");
    let url = format!("http://{}", d.addr);
    println!(
        "{}",
        run_node_driving_camera(&d, "host.mjs", &[&url, HOST_PIN, KIOSK_PIN, &shots])
    );
    d.stop().unwrap();
}

/// Runs `script` with `args`; the script asks for camera changes on its stdout (`CAMERA
/// unplug`, `plug`, `weak`) and waits for `ok`. Returns its log; fails unless it ends well.
fn run_node_driving_camera(d: &Daemon, script: &str, args: &[&str]) -> String {
    run_node_answering(script, args, |line| match line {
        "CAMERA unplug" => {
            d.camera.unplug();
            true
        }
        "CAMERA plug" => {
            d.camera.plug();
            true
        }
        "CAMERA weak" => {
            d.camera.set_battery(12);
            d.camera.set_free_images(4);
            true
        }
        _ => false,
    })
}

/// Runs `script` with `args`; each line it prints that `answer` acts on (returning true)
/// is answered `ok` on its stdin, every other line is its log. Returns the log; fails
/// unless the script ends well and said `ok:` at least once.
fn run_node_answering(script: &str, args: &[&str], mut answer: impl FnMut(&str) -> bool) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;

    let mut child = std::process::Command::new("node")
        .arg(format!("{}/{script}", browser_dir()))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running node (Debian's nodejs)");
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut log = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if answer(&line) {
            writeln!(stdin, "ok").unwrap();
        } else {
            log.push_str(&line);
            log.push('\n');
        }
    }
    let status = child.wait().unwrap();
    log.push_str(&errors.join().unwrap());
    assert!(status.success(), "{log}");
    assert!(log.contains("ok:"), "{log}");
    log
}

/// The kiosk in a secure context (tests/browser/shell.mjs): a screen wake lock, the shell
/// kept by its service worker, a reload while the daemon is stopped still showing the
/// kiosk saying the box is not answering, and the form back by itself when a daemon
/// answers again on the same address and data.
#[test]
fn the_kiosk_stays_awake_and_survives_a_reload_while_the_box_is_down() {
    let port = crate::common::free_port();
    let mut daemon = Some(Daemon::start_custom(|c| {
        c.set("server.listen", format!("127.0.0.1:{port}"));
    }));
    let url = format!("http://127.0.0.1:{port}");
    let mut stopped = None;
    let log = run_node_answering(
        "shell.mjs",
        &[&url, KIOSK_PIN, &screenshots("shell")],
        |line| match line {
            "DAEMON stop" => {
                stopped = Some(daemon.take().expect("a daemon to stop").stop_keeping());
                true
            }
            "DAEMON start" => {
                daemon = Some(stopped.take().expect("a stopped daemon").start());
                true
            }
            _ => false,
        },
    );
    println!("{log}");
    assert!(log.contains("ok: the kiosk came back"), "{log}");
    daemon
        .take()
        .expect("the daemon started again")
        .stop()
        .unwrap();
}

/// The host console's camera check (tests/browser/check.mjs): the prompt before the first
/// show, a ready camera with its test photo, a weak one's problems in plain words in both
/// languages, an unplugged one's error kept in sight; axe-core on every screen.
#[test]
fn the_host_console_checks_the_camera_and_names_its_problems_plainly() {
    let d = Daemon::start();
    let shots = screenshots("check");
    let url = format!("http://{}", d.addr);
    println!(
        "{}",
        run_node_driving_camera(&d, "check.mjs", &[&url, HOST_PIN, &shots])
    );
    d.stop().unwrap();
}

/// Live framing in the posing step (tests/browser/liveview.mjs): frames on the simulated
/// camera, off and on, another screen holding it, the time limit, the capture ending it;
/// then libgphoto2's virtual camera (no live view) and its plain words. axe-core on each.
#[test]
fn the_host_frames_the_guests_live_in_the_posing_step() {
    let shots = screenshots("liveview");
    let d = Daemon::start_custom(|c| {
        c.countdown(2).set("camera.liveview_max_seconds", 5);
    });
    let url = format!("http://{}", d.addr);
    println!(
        "{}",
        run_node("liveview.mjs", &[&url, HOST_PIN, KIOSK_PIN, &shots, "sim"])
    );
    d.stop().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::write_config(dir.path(), |c| {
        c.vcamera();
    });
    let p = crate::common::Process::spawn(
        &config,
        &[("IOLIBS", crate::common::vcamera_iolibs().to_str().unwrap())],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while p.req("GET", "/api/health", None, None).body["camera"]["state"] != "connected" {
        assert!(
            std::time::Instant::now() < deadline,
            "the virtual camera never connected"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let url = format!("http://{}", p.addr);
    println!(
        "{}",
        run_node(
            "liveview.mjs",
            &[&url, HOST_PIN, KIOSK_PIN, &shots, "nolive"]
        )
    );
}
