//! Figures, not a check: the size and time of a scheduled backup of a realistic night to
//! each kind of destination, and of restoring it from there, beside a plain `cp -a` of
//! the data folder as the baseline.
//!
//! `cargo test --test it backup_bench::night -- --ignored --nocapture` (as root: it
//! loop-mounts a drive and starts sshd). The night: 50 shows of 2 guests, run through the
//! real daemon; then every original is padded with random bytes to 6 MiB, the size of a
//! 24 MP Canon "Large Fine" JPEG, so the bytes moved are a real night's (the simulated
//! camera's test pattern compresses to far less).

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::backup_remote::Sshd;
use crate::common::{Daemon, finished_show, guest_body};
use crate::ops::LabelledDrive;

const BIN: &str = env!("CARGO_BIN_EXE_cosmosd");
const ORIGINAL_BYTES: usize = 6 << 20;

fn timed(cmd: &mut Command) -> (f64, String) {
    let _ = Command::new("sync").status();
    let t = Instant::now();
    let o = cmd.output().unwrap();
    let s = t.elapsed().as_secs_f64();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{cmd:?}: {out}");
    (s, out)
}

/// The baseline, timed in the same loop as the figure beside it: `cp -a` of the data
/// folder to a new place in `scratch`, then removed.
fn cp_baseline(data: &Path, scratch: &Path, run: usize) -> f64 {
    let to = scratch.join(format!("cp-{run}"));
    let (s, _) = timed(Command::new("cp").arg("-a").arg(data).arg(&to));
    std::fs::remove_dir_all(&to).unwrap();
    s
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn du(p: &Path) -> u64 {
    let o = Command::new("du").args(["-sb"]).arg(p).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
#[ignore]
fn night() {
    let sshd = Sshd::start();
    let remote = tempfile::tempdir().unwrap();
    let label = format!("NB{}", std::process::id() % 100_000);
    let drive = LabelledDrive::new(&label, 2048);
    let keys = tempfile::tempdir().unwrap();
    let (key, recipient) = crate::rebuild::age_key(keys.path());
    let folder = tempfile::tempdir().unwrap();

    let d = Daemon::start();
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&Value>| d.req(m, p, t, b);
    for i in 0..50 {
        let (_, fin) = finished_show(
            &req,
            &host,
            &[
                guest_body(&format!("Guest {i}a"), &format!("g{i}a@example.org")),
                guest_body(&format!("Guest {i}b"), &format!("g{i}b@example.org")),
            ],
        );
        assert_eq!(fin.status, 200, "{}", fin.body);
    }
    let data = d.dir.path().join("data");
    let mut originals = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = vec![0u8; ORIGINAL_BYTES];
    for show in std::fs::read_dir(data.join("photos")).unwrap().flatten() {
        for f in std::fs::read_dir(show.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".jpg")
                && !name.ends_with(".email.jpg")
                && !name.ends_with(".preview.jpg")
            {
                let len = std::fs::metadata(f.path()).unwrap().len() as usize;
                if len < ORIGINAL_BYTES {
                    for b in noise.iter_mut() {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        *b = seed as u8;
                    }
                    let mut file = std::fs::OpenOptions::new()
                        .append(true)
                        .open(f.path())
                        .unwrap();
                    file.write_all(&noise[..ORIGINAL_BYTES - len]).unwrap();
                }
                originals += 1;
            }
        }
    }
    let photos_dir = du(&data.join("photos"));
    eprintln!(
        "night: 50 shows, 100 guests, {originals} originals padded to 6 MiB; data folder {} MB (photos {} MB)",
        du(&data) / 1_000_000,
        photos_dir / 1_000_000
    );

    let config = d.config_file();
    let base = std::fs::read_to_string(&config).unwrap();
    let with = |extra: &str| {
        std::fs::write(&config, format!("{base}\n[backup]\nkeep = 1\n{extra}\n")).unwrap();
    };
    let kinds: Vec<(&str, String)> = vec![
        (
            "folder",
            format!("destination = \"{}\"", folder.path().join("sets").display()),
        ),
        (
            "folder, encrypted",
            format!(
                "destination = \"{}\"\nencrypt_to = [\"{recipient}\"]",
                folder.path().join("sealed").display()
            ),
        ),
        ("usb", format!("destination = \"usb:{label}\"")),
        (
            "ssh",
            format!(
                "destination = \"{}\"\nssh_key = \"{}\"\nknown_hosts = \"{}\"",
                sshd.url(remote.path()),
                sshd.path("client_key").display(),
                sshd.path("known_hosts").display()
            ),
        ),
        (
            "ssh, encrypted",
            format!(
                "destination = \"{}\"\nssh_key = \"{}\"\nknown_hosts = \"{}\"\nencrypt_to = [\"{recipient}\"]",
                sshd.url(&remote.path().join("sealed")),
                sshd.path("client_key").display(),
                sshd.path("known_hosts").display()
            ),
        ),
    ];
    let runs = 3;
    for (kind, extra) in &kinds {
        with(extra);
        let (mut ours, mut cps) = (Vec::new(), Vec::new());
        let mut summary = String::new();
        for r in 0..runs {
            let (s, out) = timed(
                Command::new(BIN)
                    .args(["backup", "--scheduled", "--config"])
                    .arg(&config),
            );
            ours.push(s);
            summary = out.lines().next().unwrap_or_default().to_string();
            cps.push(cp_baseline(&data, folder.path(), r));
        }
        let (m, c) = (median(ours), median(cps));
        eprintln!(
            "{kind:>18}: backup {m:.2} s (median of {runs}), cp -a {c:.2} s, ratio {:.2}; {summary}",
            m / c
        );
    }

    // Restoring the night from each (the daemon stopped, as the README says): the newest
    // set checked, opened when sealed, copied beside the data and swapped in. What each
    // restore moves aside is removed before the next.
    let dir = d.into_dir();
    let sources = [
        (
            "folder",
            folder.path().join("sets").display().to_string(),
            false,
        ),
        (
            "folder, encrypted",
            folder.path().join("sealed").display().to_string(),
            true,
        ),
        ("usb", format!("usb:{label}"), false),
        ("ssh", sshd.url(remote.path()), false),
        (
            "ssh, encrypted",
            sshd.url(&remote.path().join("sealed")),
            true,
        ),
    ];
    for (kind, src, sealed) in &sources {
        with(&kinds.iter().find(|(k, _)| k == kind).unwrap().1);
        let (mut ours, mut cps) = (Vec::new(), Vec::new());
        for r in 0..runs {
            let mut cmd = Command::new(BIN);
            cmd.arg("restore").arg("--config").arg(&config);
            if *sealed {
                cmd.arg("--identity").arg(&key);
            }
            let (s, out) = timed(cmd.arg(src));
            assert!(out.contains("100 guests"), "{out}");
            ours.push(s);
            for e in std::fs::read_dir(&data).unwrap().flatten() {
                if e.file_name().to_string_lossy().starts_with("replaced-") {
                    std::fs::remove_dir_all(e.path()).unwrap();
                }
            }
            cps.push(cp_baseline(&data, folder.path(), r));
        }
        let (m, c) = (median(ours), median(cps));
        eprintln!(
            "{kind:>18}: restore {m:.2} s (median of {runs}), cp -a {c:.2} s, ratio {:.2}",
            m / c
        );
    }
    drop(dir);
    drop(drive);
}
