//! The tablets' pages in a real browser: Debian's chromium driven by playwright-core
//! (tests/browser/e2e.mjs: the whole night; tests/browser/kiosk.mjs: the guest kiosk screen
//! by screen, with axe-core) against the real daemon. Screenshots of every step are kept in
//! `target/browser-screenshots/` (the kiosk's in its `kiosk/` folder).

use crate::common::{Daemon, HOST_PIN, KIOSK_PIN};

#[test]
fn two_guests_register_and_the_host_runs_their_show_to_the_outbox() {
    let browser = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new(browser)
            .join("node_modules/playwright-core")
            .exists(),
        "run `npm ci --prefix tests/browser` (scripts/test.sh does)"
    );
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
    let out = std::process::Command::new("node")
        .arg(format!("{browser}/e2e.mjs"))
        .arg(format!("http://{}", d.addr))
        .arg(HOST_PIN)
        .arg(KIOSK_PIN)
        .arg(shots)
        .output()
        .expect("running node (Debian's nodejs)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ok:"), "{log}");
    d.stop().unwrap();
}

#[test]
fn the_kiosk_forgives_mistakes_and_never_registers_a_guest_twice() {
    let browser = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new(browser)
            .join("node_modules/axe-core")
            .exists(),
        "run `npm ci --prefix tests/browser` (scripts/test.sh does)"
    );
    let d = Daemon::start();
    let shots = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/browser-screenshots/kiosk"
    );
    let _ = std::fs::remove_dir_all(shots);
    let out = std::process::Command::new("node")
        .arg(format!("{browser}/kiosk.mjs"))
        .arg(format!("http://{}", d.addr))
        .arg(HOST_PIN)
        .arg(KIOSK_PIN)
        .arg(shots)
        .output()
        .expect("running node (Debian's nodejs)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ok:"), "{log}");
    println!("{log}");
    d.stop().unwrap();
}
