//! Writes the deterministic photo-like test JPEG (the one the simulated camera shoots) to a
//! file, e.g. for the virtual gphoto2 camera to "shoot":
//!
//!     cargo run --example test_pattern -- OUT.jpg [WIDTH HEIGHT ORIENTATION]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .expect("usage: test_pattern OUT.jpg [WIDTH HEIGHT ORIENTATION]");
    let num = |i: usize, d: u32| {
        args.get(i)
            .map(|s| s.parse().expect("a number"))
            .unwrap_or(d)
    };
    let jpeg = cosmosd::photos::test_pattern(num(1, 3000), num(2, 2000), num(3, 6) as u16);
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, &jpeg).expect("writing the pattern");
    std::fs::rename(&tmp, out).expect("renaming the pattern");
}
