//! Benchmark: both derivatives of a 24 MP camera JPEG (6000×4000, EXIF orientation 6),
//! in-process and as a whole process, side by side with libvips' `vipsthumbnail`
//! producing the same two outputs, plus peak memory (VmHWM) of the whole process.
//!
//!     cargo bench --bench derivatives
//!
//! Not a test: it prints figures and never fails on them.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        // One whole-process run: read, derive, write, report peak memory.
        let src = &args[i + 1];
        let out = Path::new(&args[i + 2]);
        let jpeg = std::fs::read(src).unwrap();
        let d = cosmosd::photos::derive(&jpeg).unwrap();
        std::fs::write(out.join("email.jpg"), &d.email).unwrap();
        std::fs::write(out.join("preview.jpg"), &d.preview).unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let hwm = status
            .lines()
            .find(|l| l.starts_with("VmHWM"))
            .unwrap_or("VmHWM: ?");
        println!("{hwm}");
        return;
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and then this is a no-op.
    if args.iter().any(|a| a == "--bench") {
        run();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("camera.jpg");
    let t = Instant::now();
    let jpeg = cosmosd::photos::test_pattern(6000, 4000, 6);
    std::fs::write(&src, &jpeg).unwrap();
    println!(
        "source: 6000x4000 JPEG, orientation 6, {:.1} MB (made in {:.1?})",
        jpeg.len() as f64 / 1e6,
        t.elapsed()
    );

    const RUNS: usize = 15;
    let _ = cosmosd::photos::derive(&jpeg).unwrap(); // warm-up
    let mut inproc = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let d = cosmosd::photos::derive(&jpeg).unwrap();
        inproc.push(t.elapsed());
        assert_eq!(d.email_size, (1365, 2048));
    }
    println!(
        "cosmosd derive, in process:   median {:>7.1?} over {RUNS} runs",
        median(inproc)
    );

    let me = std::env::current_exe().unwrap();
    let mut whole = Vec::new();
    let mut hwm = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = Command::new(&me)
            .arg("--child")
            .arg(&src)
            .arg(dir.path())
            .output()
            .unwrap();
        whole.push(t.elapsed());
        assert!(out.status.success());
        hwm = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    println!(
        "cosmosd derive, whole process: median {:>7.1?} over {RUNS} runs; peak memory {hwm}",
        median(whole)
    );

    let vips = Command::new("vipsthumbnail").arg("--vips-version").output();
    if vips.as_ref().map(|o| o.status.success()).unwrap_or(false) {
        let mut vt = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            for (size, name, q) in [("2048", "v-email.jpg", 85), ("480", "v-preview.jpg", 80)] {
                let s = Command::new("vipsthumbnail")
                    .arg(&src)
                    .args(["--size", size, "--rotate", "-o"])
                    .arg(format!("{}[Q={q},strip]", dir.path().join(name).display()))
                    .status()
                    .unwrap();
                assert!(s.success());
            }
            vt.push(t.elapsed());
        }
        let v = median(vt);
        println!("vipsthumbnail x2 (same outputs): median {v:>7.1?} over {RUNS} runs");
    } else {
        println!("vipsthumbnail not installed (Debian libvips-tools): no comparison");
    }
}
