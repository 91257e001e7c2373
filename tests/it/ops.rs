//! The technician's operations on the real daemon: `cosmosd backup` while it serves,
//! `cosmosd restore` (checked, refused while a daemon runs, refused when damaged), and
//! the retention purge, proved by a byte search of the database files.

use crate::common;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{Daemon, Process, finished_show, guest_body, wait_for, write_config};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cosmosd");

fn cli(args: &[&str], config: &Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn count(db: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                out.push(e.path().strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn backup_while_serving_then_restore_brings_every_guest_and_photo_back() {
    let d = Daemon::start();
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&Value>| d.req(m, p, t, b);
    let (show, fin) = finished_show(
        &req,
        &host,
        &[
            guest_body("Ana", "ana@example.org"),
            guest_body("Bea", "bea@example.org"),
        ],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let kiosk = d.login("kiosk");
    let before = d.get("/api/guests", &host).body["items"]
        .as_array()
        .unwrap()
        .len();

    // Kiosks keep registering while the backup runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, addr, kiosk) = (stop.clone(), d.addr, kiosk.clone());
        std::thread::spawn(move || {
            let agent = common::agent();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let b = guest_body(&format!("Live {n}"), &format!("live{n}@example.org"));
                let r = common::http(&agent, addr, "POST", "/api/guests", Some(&kiosk), Some(&b));
                assert_eq!(r.status, 201, "{}", r.body);
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("cosmos-backup");
    let (ok, out, err) = cli(&["backup", dest.to_str().unwrap()], &d.config_file());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(ok, "{out}{err}");
    assert!(written > 0);
    eprintln!("{out}");

    // A whole, consistent snapshot: integrity ok, between the counts before and after,
    // every photo of the show with its three files, and a manifest sha256sum accepts.
    let guests = count(&dest.join("cosmos.db"), "guests") as usize;
    assert!(
        guests >= before && guests <= before + written,
        "{guests} {before} {written}"
    );
    let files = files_under(&dest);
    let photos: Vec<&String> = files.iter().filter(|f| f.starts_with("photos/")).collect();
    assert_eq!(photos.len(), 2 * 3, "{files:?}");
    assert!(
        photos
            .iter()
            .all(|p| p.starts_with(&format!("photos/{show}/")))
    );
    assert!(
        !files
            .iter()
            .any(|f| f.contains(".partial") || f.ends_with("-wal")),
        "{files:?}"
    );
    let sums = Command::new("sha256sum")
        .args(["-c", "--quiet", "MANIFEST.sha256"])
        .current_dir(&dest)
        .status()
        .unwrap();
    assert!(sums.success());
    // DEST exists now: a second backup into it is refused.
    let (ok, _, err) = cli(&["backup", dest.to_str().unwrap()], &d.config_file());
    assert!(!ok && err.contains("already exists"), "{err}");

    // Restore into a new box (an empty data folder), and start a daemon there.
    let new_box = tempfile::tempdir().unwrap();
    let config = write_config(new_box.path(), |_| {});
    let (ok, out, err) = cli(&["restore", dest.to_str().unwrap()], &config);
    assert!(ok, "{out}{err}");
    let p = Process::spawn(&config, &[]);
    let host2 = p.login("host", common::HOST_PIN);
    let listed = p.req("GET", "/api/guests", Some(&host2), None).body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, guests);
    let s = p.req("GET", &format!("/api/shows/{show}"), Some(&host2), None);
    assert_eq!(s.status, 200);
    assert_eq!(s.body["status"], "completed");
    for ph in s.body["photos"].as_array().unwrap() {
        let name = ph["id"].as_str().unwrap();
        let r = p
            .agent
            .get(&format!("http://{}/api/photos/{name}/original", p.addr))
            .header("Authorization", &format!("Bearer {host2}"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // While that daemon runs, restoring into its folder is refused and changes nothing.
    let (ok, _, err) = cli(&["restore", dest.to_str().unwrap()], &config);
    assert!(!ok && err.contains("another cosmosd is using"), "{err}");
    assert!(p.stop());

    // A damaged backup is refused before anything is touched.
    let photo = dest.join(photos[0]);
    let mut bytes = std::fs::read(&photo).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&photo, bytes).unwrap();
    let third = tempfile::tempdir().unwrap();
    let config3 = write_config(third.path(), |_| {});
    let (ok, _, err) = cli(&["restore", dest.to_str().unwrap()], &config3);
    assert!(!ok, "a damaged backup was restored");
    assert!(
        err.contains("checksum mismatch") && err.contains(photos[0].as_str()),
        "{err}"
    );
    assert!(!third.path().join("data/cosmos.db").exists());
}

#[test]
fn restore_over_existing_data_moves_it_aside() {
    let d = Daemon::start();
    let kiosk = d.login("kiosk");
    d.add_guest(&kiosk, "Carla", "carla@example.org");
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("b");
    let (ok, out, err) = cli(&["backup", dest.to_str().unwrap()], &d.config_file());
    assert!(ok, "{out}{err}");
    d.add_guest(&kiosk, "Dora", "dora@example.org");
    let config = d.config_file();
    let data = d.dir.path().join("data");
    let d = d.restart(); // same folder
    let (ok, _, err) = cli(&["restore", dest.to_str().unwrap()], &config);
    assert!(!ok && err.contains("another cosmosd"), "{err}");
    let keep = d.into_dir();
    let (ok, out, err) = cli(&["restore", dest.to_str().unwrap()], &config);
    assert!(ok, "{out}{err}");
    assert_eq!(count(&data.join("cosmos.db"), "guests"), 1, "Carla only");
    let aside: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("replaced-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        count(&aside[0].path().join("cosmos.db"), "guests"),
        2,
        "Carla and Dora kept aside"
    );
    drop(keep);
}

fn bytes_contain(files: &[&Path], needle: &str) -> bool {
    files.iter().any(|f| {
        let b = std::fs::read(f).unwrap_or_default();
        b.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[test]
fn the_retention_purge_removes_old_guests_photos_and_mail_for_good() {
    let d = Daemon::start_custom(|c| {
        c.set("privacy.retention_days", 30);
    });
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&Value>| d.req(m, p, t, b);
    let (old, fin) = finished_show(
        &req,
        &host,
        &[guest_body(
            "Olvidada Antigua",
            "olvidada.antigua@example.org",
        )],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let old_mail = fin.body["message_ids"][0].as_str().unwrap().to_string();
    let (kept, fin) = finished_show(
        &req,
        &host,
        &[guest_body("Reciente Nueva", "reciente.nueva@example.org")],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let kept_mail = fin.body["message_ids"][0].as_str().unwrap().to_string();
    let data = d.dir.path().join("data");
    for id in [&old_mail, &kept_mail] {
        let f = data.join(format!("mail/{id}.eml"));
        wait_for(20, "the mail files", || f.exists().then_some(()));
    }
    assert!(d.dir.path().join(format!("data/photos/{old}")).exists());

    // Forty days pass for the first show: its rows are aged while the daemon is down.
    let db = d.db_path();
    let config = d.config_file();
    let _dir = d.into_dir();
    let forty_days_ago = (chrono::Utc::now() - chrono::Duration::days(40)).timestamp_millis();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute(
            "UPDATE shows SET updated_at = ?1 WHERE id = ?2",
            rusqlite::params![forty_days_ago, old],
        )
        .unwrap();
        c.execute(
            "UPDATE guests SET updated_at = ?1 WHERE id IN (SELECT guest_id FROM show_guests WHERE show_id = ?2)",
            rusqlite::params![forty_days_ago, old],
        )
        .unwrap();
        // As the daemon's own checkpoints would have over those days: the guest's rows
        // are in the main database file, not only in the WAL.
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
    let files = [db.clone(), db.with_extension("db-wal")];
    let files: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    assert!(
        bytes_contain(&files, "olvidada.antigua@example.org"),
        "the search finds it before"
    );

    // The daemon starts again: the purge runs at start-up.
    let p = Process::spawn(&config, &[]);
    let purge = wait_for(20, "the start-up purge", || {
        let h = p.req("GET", "/api/health", None, None).body;
        (!h["privacy"]["last_purge"].is_null()).then(|| h["privacy"].clone())
    });
    assert_eq!(purge["retention_days"], 30);
    assert_eq!(purge["last_purge"]["state"], "ok", "{purge}");
    assert_eq!(purge["last_purge"]["removed"]["shows"], 1, "{purge}");
    assert_eq!(purge["last_purge"]["removed"]["guests"], 1, "{purge}");
    assert_eq!(purge["last_purge"]["removed"]["photos"], 2, "{purge}");
    assert_eq!(purge["last_purge"]["removed"]["messages"], 1, "{purge}");

    let host = p.login("host", common::HOST_PIN);
    assert_eq!(
        p.req("GET", &format!("/api/shows/{old}"), Some(&host), None)
            .status,
        404
    );
    assert_eq!(
        p.req("GET", &format!("/api/shows/{kept}"), Some(&host), None)
            .status,
        200
    );
    assert!(
        !data.join(format!("photos/{old}")).exists(),
        "the photo files stay"
    );
    assert!(data.join(format!("photos/{kept}")).exists());
    assert!(
        !data.join(format!("mail/{old_mail}.eml")).exists(),
        "the mail file stays"
    );
    assert!(data.join(format!("mail/{kept_mail}.eml")).exists());
    assert!(
        !bytes_contain(&files, "olvidada.antigua@example.org"),
        "the purged email is still in cosmos.db or its WAL"
    );
    assert!(
        !bytes_contain(&files, "Olvidada Antigua"),
        "the purged name is still in the database files"
    );
    assert!(
        bytes_contain(&files, "reciente.nueva@example.org"),
        "the kept guest is findable"
    );
    assert!(p.stop());
}

fn sets_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn scheduled_backups_hold_the_config_too_and_keep_only_the_newest_sets() {
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().join("sets");
    let d = Daemon::start_custom(|c| {
        c.set("backup.destination", dest.to_str().unwrap());
        c.set("backup.keep", 2);
    });
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&Value>| d.req(m, p, t, b);
    let (_show, fin) = finished_show(&req, &host, &[guest_body("Ana", "ana@example.org")]);
    assert_eq!(fin.status, 200, "{}", fin.body);
    let h = d.req("GET", "/api/health", None, None).body;
    assert_eq!(h["backup"]["last_ok_at"], Value::Null, "{h}");

    for _ in 0..3 {
        let (ok, out, err) = cli(&["backup", "--scheduled"], &d.config_file());
        assert!(ok, "{out}{err}");
        assert!(out.contains("verified"), "{out}");
    }
    let sets = sets_in(&dest);
    assert_eq!(sets.len(), 2, "keep = 2: {sets:?}");
    let newest = dest.join(sets.last().unwrap());
    // The set is whole and names the venue's configuration.
    let (ok, out, err) = Command::new("sha256sum")
        .args(["-c", "--quiet", "MANIFEST.sha256"])
        .current_dir(&newest)
        .output()
        .map(|o| {
            (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert!(ok, "{out}{err}");
    let config_name = d.config_file().file_name().unwrap().to_owned();
    assert!(
        newest.join("config").join(&config_name).exists(),
        "{:?}",
        files_under(&newest)
    );
    assert_eq!(count(&newest.join("cosmos.db"), "guests"), 1);
    assert!(
        files_under(&newest)
            .iter()
            .any(|f| f.starts_with("photos/"))
    );

    let h = d.req("GET", "/api/health", None, None).body;
    assert_eq!(h["backup"]["destination"], dest.to_str().unwrap(), "{h}");
    assert!(h["backup"]["last_ok_at"].is_string(), "{h}");
    assert_eq!(h["backup"]["last_error"], Value::Null, "{h}");
}

#[test]
fn a_failed_scheduled_backup_fails_the_run_and_shows_in_health() {
    let backups = tempfile::tempdir().unwrap();
    // Something that is not a folder stands where the sets should go.
    let dest = backups.path().join("sets");
    std::fs::write(&dest, "not a folder").unwrap();
    let d = Daemon::start_custom(|c| {
        c.set("backup.destination", dest.to_str().unwrap());
        c.technician_alerts(3600.0);
    });
    let (ok, out, err) = cli(&["backup", "--scheduled"], &d.config_file());
    assert!(!ok, "{out}{err}");
    assert!(err.contains("sets"), "{err}");
    let h = d.req("GET", "/api/health", None, None).body;
    assert!(
        h["backup"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("sets")),
        "{h}"
    );
    assert_eq!(h["backup"]["last_ok_at"], Value::Null, "{h}");

    // The technician is told (the file transport keeps the alert mail), and told again
    // when a run works.
    let conditions = |d: &Daemon| -> Vec<String> {
        d.req("GET", "/api/health", None, None).body["technician"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["condition"].as_str().unwrap().to_string())
            .collect()
    };
    wait_for(20, "the backup_failed alert", || {
        conditions(&d)
            .contains(&"backup_failed".to_string())
            .then_some(())
    });
    assert_eq!(conditions(&d), ["backup_failed"]);
    let alerts = d.dir.path().join("data/mail/technician");
    wait_for(20, "the alert mail", || {
        (files_under(&alerts).len() == 1).then_some(())
    });
    std::fs::remove_file(&dest).unwrap();
    let (ok, out, err) = cli(&["backup", "--scheduled"], &d.config_file());
    assert!(ok, "{out}{err}");
    wait_for(20, "the backup_failed alert to end", || {
        (!conditions(&d).contains(&"backup_failed".to_string())).then_some(())
    });
    assert_eq!(conditions(&d), Vec::<String>::new());
    wait_for(20, "the end notice", || {
        (files_under(&alerts).len() == 2).then_some(())
    });
}

/// A filesystem image with a label on a loop device, detached on drop.
pub(crate) struct LabelledDrive {
    pub(crate) dev: String,
    _dir: tempfile::TempDir,
}

impl LabelledDrive {
    pub(crate) fn new(label: &str, mb: u64) -> LabelledDrive {
        assert!(
            rustix::process::geteuid().is_root(),
            "the usb:LABEL test needs root for a loop device (the CI machines run the suite as root)"
        );
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("drive.img");
        std::fs::File::create(&img)
            .unwrap()
            .set_len(mb << 20)
            .unwrap();
        let run = |cmd: &str, args: &[&str]| {
            let o = Command::new(cmd)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{cmd}: {e}"));
            assert!(
                o.status.success(),
                "{cmd} {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        run(
            "mkfs.ext4",
            &["-q", "-m", "0", "-L", label, img.to_str().unwrap()],
        );
        let dev = run("losetup", &["-f", "--show", img.to_str().unwrap()]);
        LabelledDrive { dev, _dir: dir }
    }

    /// The sets on the drive (mounted read-only for a look).
    pub(crate) fn sets(&self) -> Vec<String> {
        let mnt = tempfile::tempdir().unwrap();
        let o = Command::new("mount")
            .args(["-o", "ro", &self.dev])
            .arg(mnt.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let sets: Vec<String> = sets_in(mnt.path())
            .into_iter()
            .filter(|s| s.starts_with("cosmos-"))
            .collect();
        assert!(
            Command::new("umount")
                .arg(mnt.path())
                .status()
                .unwrap()
                .success()
        );
        sets
    }
}

impl Drop for LabelledDrive {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

#[test]
fn a_usb_drive_found_by_its_label_is_mounted_for_the_backup_and_a_full_one_keeps_its_good_set() {
    let label = format!("CT{}", std::process::id() % 100_000);
    // Room for one set of this show, not two.
    let drive = LabelledDrive::new(&label, 12);
    let d = Daemon::start_custom(|c| {
        c.set("backup.destination", format!("usb:{label}"));
        c.set("backup.keep", 1);
    });
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&Value>| d.req(m, p, t, b);
    let (_show, fin) = finished_show(&req, &host, &[guest_body("Ana", "ana@example.org")]);
    assert_eq!(fin.status, 200, "{}", fin.body);

    let (ok, out, err) = cli(&["backup", "--scheduled"], &d.config_file());
    assert!(ok, "{out}{err}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(&drive.dev),
        "unmounted after the run:\n{mounts}"
    );
    let first = drive.sets();
    assert_eq!(first.len(), 1, "{first:?}");

    // More photos than the drive has room for: the run fails, the good set stays.
    let (_show, fin) = finished_show(&req, &host, &[guest_body("Bea", "bea@example.org")]);
    assert_eq!(fin.status, 200, "{}", fin.body);
    let (_show, fin) = finished_show(&req, &host, &[guest_body("Cai", "cai@example.org")]);
    assert_eq!(fin.status, 200, "{}", fin.body);
    let (ok, out, err) = cli(&["backup", "--scheduled"], &d.config_file());
    assert!(
        !ok,
        "the drive should be too small for the second set: {out}{err}"
    );
    assert_eq!(drive.sets(), first, "the good set is kept: {err}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(&drive.dev),
        "unmounted after a failed run too"
    );
    let h = d.req("GET", "/api/health", None, None).body;
    assert!(h["backup"]["last_error"].is_string(), "{h}");
    assert!(h["backup"]["last_ok_at"].is_string(), "{h}");

    // A drive that is not plugged in is a plain error naming its label.
    drop(drive);
    let (ok, _, err) = cli(&["backup", "--scheduled"], &d.config_file());
    assert!(!ok);
    assert!(err.contains(&format!("no drive labelled {label}")), "{err}");
}
