//! The data folder on a small loop-mounted ext4 filled to its last byte: guests' writes get
//! a clean 507, the host still logs in (the disk reserve is given back for it), health
//! says why, nothing is half-written, and the reserve comes back once there is room.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::common::{self, Process, guest_body, wait_for, write_config};

struct Mounted {
    mnt: tempfile::TempDir,
    _img: tempfile::TempDir,
}

impl Mounted {
    fn new(mb: u64) -> Mounted {
        assert!(
            rustix::process::geteuid().is_root(),
            "the full-disk test needs root for a loop mount (the CI machines run the suite as root)"
        );
        let img = tempfile::tempdir().unwrap();
        let file = img.path().join("data.img");
        std::fs::File::create(&file)
            .unwrap()
            .set_len(mb << 20)
            .unwrap();
        let ok = |c: &mut Command| {
            let o = c.output().unwrap();
            assert!(
                o.status.success(),
                "{c:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        ok(Command::new("mkfs.ext4").args(["-q", "-m", "0"]).arg(&file));
        let mnt = tempfile::tempdir().unwrap();
        ok(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&file)
            .arg(mnt.path()));
        Mounted { mnt, _img: img }
    }

    fn path(&self) -> &Path {
        self.mnt.path()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.mnt.path())
            .status();
    }
}

/// Writes a filler file until the filesystem has not one byte left.
fn fill(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let mut chunk = 1 << 20;
    while chunk > 0 {
        match f.write(&vec![0u8; chunk]) {
            Ok(0) | Err(_) => chunk /= 2,
            Ok(_) => {}
        }
    }
    let _ = f.sync_all();
}

#[test]
fn on_a_full_disk_the_host_still_logs_in_and_sees_why_and_the_reserve_comes_back() {
    let m = Mounted::new(32);
    let data = m.path().join("data");
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = write_config(cfg_dir.path(), |c| {
        c.set("storage.data_dir", data.display().to_string())
            .min_free_mb(8)
            .set("alerts.check_seconds", 0.2);
    });
    let p = Process::spawn(&cfg, &[]);
    let reserve = data.join(cosmosd::reserve::FILE);
    wait_for(20, "the disk reserve made", || {
        cosmosd::reserve::present(&data).then_some(())
    });
    let kiosk = p.login("kiosk", common::KIOSK_PIN);

    // The disk fills up (something else on the box ate it), to the last byte; the
    // database's own slack goes too.
    fill(m.path());
    let mut refused = None;
    for i in 0..5000 {
        let r = p.req(
            "POST",
            "/api/guests",
            Some(&kiosk),
            Some(&guest_body(
                &format!("Guest {i}"),
                &format!("g{i}@example.org"),
            )),
        );
        if r.status != 201 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the disk never filled");
    assert_eq!((r.status, r.code()), (507, "storage_full"), "{}", r.body);
    assert!(
        reserve.exists(),
        "a guest's write does not take the reserve"
    );

    // The host's tablet lost its token: the login still works, and health says why.
    let host = p.req(
        "POST",
        "/api/session",
        None,
        Some(&serde_json::json!({"role": "host", "pin": common::HOST_PIN})),
    );
    assert_eq!(host.status, 201, "{}", host.body);
    assert!(
        !reserve.exists(),
        "the reserve was given back for the login"
    );
    let token = host.body["token"].as_str().unwrap().to_string();
    let h = p.req("GET", "/api/health", Some(&token), None).body;
    assert_eq!(h["disk"]["state"], "low", "{h}");
    assert_eq!(h["database"]["state"], "ok", "{h}");
    assert!(
        h["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("disk")),
        "{h}"
    );
    let g = p.req("GET", "/api/guests", Some(&token), None);
    assert_eq!(g.status, 200, "the host can see the room: {}", g.body);

    // Room again: the reserve comes back by itself.
    std::fs::remove_file(m.path().join("filler")).unwrap();
    wait_for(20, "the reserve made again", || {
        cosmosd::reserve::present(&data).then_some(())
    });
    assert!(p.stop(), "a clean stop");
    let db = rusqlite::Connection::open(data.join("cosmos.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "nothing half-written");
}
