//! Upgrading and rolling back, as README "Upgrading and rolling back" says: the previous
//! release (the last commit before migration 9) built from this clone's own git history,
//! run on a data folder; the package's real `debian/preinst upgrade` with that binary as
//! the installed `cosmosd`; the current cosmosd migrating and taking more guests; then the
//! rollback by the documented steps with the previous binary: it refuses the newer
//! database, the named backup is restored, and it serves every guest and photo of before
//! the upgrade, byte for byte, while what came after is kept aside and restorable.
//!
//! Not covered: `dpkg -i` of two built packages (cargo-deb's systemd snippets, the
//! service restart by the package): the preinst runs as dpkg would call it, with the
//! previous binary first on PATH where /usr/bin/cosmosd would be.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{HOST_PIN, Process, Req, finished_show, guest_body, write_config};

/// The previous release: the last commit before migration 9 (the technician outbox).
const PREVIOUS: &str = "4936872449053031f1d66ee2fe3ea1a57d30274d";
/// Its schema: the number of migrations it has.
const PREVIOUS_SCHEMA: usize = 8;
const BIN: &str = env!("CARGO_BIN_EXE_cosmosd");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The target folder this test binary was built in (`target/debug/deps/it-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// The previous release's `cosmosd`, built once per run: its source from `git archive`
/// of this clone, built into this target folder so every dependency already built for
/// the tests is reused. Its binary is renamed `cosmosd-previous` (only in its copy of
/// Cargo.toml), so it never replaces `target/debug/cosmosd`.
fn previous_cosmosd() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = target_dir();
        let base = target.join("previous-release");
        let src = base.join(&PREVIOUS[..12]);
        if !src.join("Cargo.toml").exists() {
            std::fs::create_dir_all(&base).unwrap();
            let tmp = base.join(format!(".{}.partial", &PREVIOUS[..12]));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).unwrap();
            let archive = Command::new("git")
                .args(["-C", ROOT, "archive", "--format=tar", PREVIOUS])
                .output()
                .unwrap();
            assert!(
                archive.status.success(),
                "this clone lacks the previous release {PREVIOUS} (a shallow clone? git fetch --unshallow): {}",
                String::from_utf8_lossy(&archive.stderr)
            );
            let mut tar = Command::new("tar")
                .arg("-x")
                .arg("-C")
                .arg(&tmp)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &archive.stdout).unwrap();
            drop(tar.stdin.take());
            assert!(tar.wait().unwrap().success(), "unpacking the previous release");
            let manifest = tmp.join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).unwrap();
            assert!(text.contains("\npublish = false\n"), "the previous Cargo.toml changed shape");
            let text = text.replacen("\npublish = false\n", "\npublish = false\nautobins = false\n", 1)
                + "\n[[bin]]\nname = \"cosmosd-previous\"\npath = \"src/main.rs\"\n";
            std::fs::write(&manifest, text).unwrap();
            std::fs::rename(&tmp, &src).unwrap();
        }
        let started = std::time::Instant::now();
        // Without the test's CARGO_* variables, so ring's build script does not run
        // again, here and at the next `cargo test`.
        let out = crate::common::cargo_command()
            .args(["build", "--locked", "--bin", "cosmosd-previous", "--manifest-path"])
            .arg(src.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            // Its own crate without optimisation or debug info: it compiles in about half
            // the time, and the dependencies (optimised as always) are the tests' own.
            .args(["--config", "profile.dev.package.cosmosd.opt-level=0"])
            .args(["--config", "profile.dev.package.cosmosd.debug=0"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the previous release failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "upgrade: the previous release built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        target.join("debug/cosmosd-previous")
    })
}

/// A folder holding the previous binary as `cosmosd`: first on PATH, it is the installed
/// cosmosd the preinst calls (/usr/bin/cosmosd on a box, before the new one is unpacked).
fn installed_previous(dir: &Path) -> PathBuf {
    let bin = dir.join("usr-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(previous_cosmosd(), bin.join("cosmosd")).unwrap();
    bin
}

fn run(bin: &str, args: &[&str], config: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `debian/preinst upgrade OLD`, as dpkg runs it, with `path` first on PATH.
fn preinst(path: &Path, config: &Path, old_version: &str) -> (bool, String) {
    run_preinst(
        &Path::new(ROOT).join("debian/preinst"),
        path,
        config,
        [old_version, "0.1.0"],
    )
}

/// `script upgrade OLD NEW` with `path` first on PATH and the test's config.
fn run_preinst(
    script: &Path,
    path: &Path,
    config: &Path,
    [old_version, new_version]: [&str; 2],
) -> (bool, String) {
    let out = Command::new("sh")
        .arg(script)
        .args(["upgrade", old_version, new_version])
        .env(
            "PATH",
            format!("{}:{}", path.display(), std::env::var("PATH").unwrap()),
        )
        .env("COSMOSD_PREINST_CONFIG", config)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// What a guest gave us and what became of it, as a host sees it: guests, shows (the
/// fields both versions answer) and every photo's bytes, by id.
type State = (Vec<Value>, Vec<Value>, Vec<(String, Vec<u8>)>);

fn state(p: &Process) -> State {
    let host = p.login("host", HOST_PIN);
    let items = |path: &str, keep: &[&str]| -> Vec<Value> {
        let r = p.req("GET", path, Some(&host), None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let mut v: Vec<Value> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| keep.iter().map(|k| (k.to_string(), i[k].clone())).collect())
            .collect();
        v.sort_by_key(|i| i["id"].as_str().unwrap().to_string());
        v
    };
    let guests = items(
        "/api/guests",
        &[
            "id", "name", "email", "status", "energy", "element", "essence", "language",
        ],
    );
    let shows = items("/api/shows", &["id", "status", "start_time", "end_time"]);
    let mut photos = Vec::new();
    for s in &shows {
        let id = s["id"].as_str().unwrap();
        let show = p.req("GET", &format!("/api/shows/{id}"), Some(&host), None);
        for ph in show.body["photos"].as_array().unwrap() {
            let pid = ph["id"].as_str().unwrap().to_string();
            let mut r = p
                .agent
                .get(format!("http://{}/api/photos/{pid}", p.addr))
                .header("Authorization", &format!("Bearer {host}"))
                .call()
                .unwrap();
            assert_eq!(r.status(), 200, "photo {pid}");
            let bytes = r
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .unwrap();
            photos.push((pid, bytes));
        }
    }
    photos.sort();
    (guests, shows, photos)
}

/// A whole show with two new guests, and one more guest waiting.
fn a_night(p: &Process, tag: &str) {
    let host = p.login("host", HOST_PIN);
    let req = |m: &str, path: &str, t: Option<&str>, b: Option<&Value>| p.req(m, path, t, b);
    let req: Req<'_> = &req;
    let (_, fin) = finished_show(
        req,
        &host,
        &[
            guest_body(&format!("Ana {tag}"), &format!("ana.{tag}@example.org")),
            guest_body(&format!("Bo {tag}"), &format!("bo.{tag}@example.org")),
        ],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let w = p.req(
        "POST",
        "/api/guests",
        Some(&host),
        Some(&guest_body(
            &format!("Cy {tag}"),
            &format!("cy.{tag}@example.org"),
        )),
    );
    assert_eq!(w.status, 201, "{}", w.body);
}

fn only_entry(dir: &Path) -> PathBuf {
    let v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(v.len(), 1, "{v:?}");
    v.into_iter().next().unwrap()
}

#[test]
fn upgrade_from_the_previous_release_then_roll_back_by_the_readme_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), |_| {});
    let data = dir.path().join("data");
    let usr_bin = installed_previous(dir.path());
    let previous = usr_bin.join("cosmosd");
    let previous = previous.to_str().unwrap();

    // The previous release in service, with a night's guests and photos.
    let old = Process::spawn_bin(previous, &config, &[]);
    a_night(&old, "before");
    let before = state(&old);
    assert_eq!((before.0.len(), before.1.len()), (3, 1));
    assert!(!before.2.is_empty(), "the show has photos");

    // The upgrade: the new package's preinst while the previous daemon still serves.
    let (ok, said) = preinst(&usr_bin, &config, "0.1.0~previous");
    assert!(ok, "{said}");
    let backups = dir.path().join("data-upgrade-backups");
    let backup = only_entry(&backups);
    assert!(
        backup
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("0.1.0~previous-"),
        "{backup:?}"
    );
    assert!(said.contains(&backup.display().to_string()), "{said}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backups).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o750,
            "guest data: root and the cosmos group only"
        );
    }
    assert_eq!(
        cosmosd::store::schema_of_file(&backup.join("cosmos.db")).unwrap(),
        PREVIOUS_SCHEMA
    );
    assert!(
        old.stop(),
        "the previous daemon stops cleanly (the package's restart)"
    );

    // The new cosmosd migrates and takes another night.
    let new = Process::spawn(&config, &[]);
    let migrated = state(&new);
    assert_eq!(migrated, before, "the migration kept everything");
    a_night(&new, "after");
    let after = state(&new);
    assert_eq!((after.0.len(), after.1.len()), (6, 2));
    // An upgrade without a schema change takes no backup.
    let (ok, said) = preinst(&usr_bin, &config, "0.1.0");
    assert!(ok && said.contains("no backup needed"), "{said}");
    assert_eq!(only_entry(&backups), backup);

    // Rollback, README's steps. 1: a backup of what the newer version holds.
    let forward = dir.path().join("before-rollback");
    let (ok, said) = run(BIN, &["backup", forward.to_str().unwrap()], &config);
    assert!(ok, "{said}");
    // 2-3: the previous package installed (its binary); the service restarted, refusing.
    assert!(new.stop());
    let (ok, said) = run(previous, &["run"], &config);
    assert!(
        !ok && said.contains(&format!(
            "newer than this cosmosd knows ({PREVIOUS_SCHEMA})"
        )),
        "{said}"
    );
    // 4: the pre-upgrade backup restored, 5: started.
    let (ok, said) = run(previous, &["restore", backup.to_str().unwrap()], &config);
    assert!(ok, "{said}");
    let old = Process::spawn_bin(previous, &config, &[]);
    assert_eq!(
        state(&old),
        before,
        "every guest and photo of before the upgrade, byte for byte"
    );
    assert!(old.stop());

    // Nothing from after the upgrade is gone: the refused data sits aside whole, and the
    // newer cosmosd restores it after an upgrade again.
    let aside = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("replaced-")
        })
        .expect("the refused data moved aside");
    assert!(aside.join("cosmos.db").exists() && aside.join("photos").exists());
    // A restore names its aside folder by the second: let the clock leave that second so
    // the next restore's folder is a new one (two restores in one second share it).
    let taken = aside.file_name().unwrap().to_str().unwrap().to_string();
    while format!("replaced-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")) == taken {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (ok, said) = run(BIN, &["restore", forward.to_str().unwrap()], &config);
    assert!(ok, "{said}");
    let new = Process::spawn(&config, &[]);
    assert_eq!(
        state(&new),
        after,
        "forward again: the newer version's nights are all there"
    );
    assert!(new.stop());
}

#[test]
fn a_database_from_a_newer_cosmosd_is_refused_naming_the_backup_that_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), |_| {});
    let data = dir.path().join("data");
    let p = Process::spawn(&config, &[]);
    a_night(&p, "now");
    let before = state(&p);

    // The next release's preinst while this one serves.
    let schema = cosmosd::store::MIGRATIONS.len();
    let (ok, said) = next_preinst(dir.path(), &config, "0.1.0");
    assert!(ok, "{said}");
    let backup = only_entry(&dir.path().join("data-upgrade-backups"));
    assert!(p.stop());

    // The next release migrated (its schema in the header; after a clean stop the
    // database is one file), then was rolled back to this one.
    let db = data.join("cosmos.db");
    let wal = data.join("cosmos.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(60)).unwrap();
        f.write_all(&((schema + 1) as u32).to_be_bytes()).unwrap();
    }
    let (ok, said) = run(BIN, &["run"], &config);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&format!(
            "schema version {}, newer than this cosmosd knows ({schema})",
            schema + 1
        )),
        "{said}"
    );
    let command = format!(
        "cosmosd restore --config {} {}",
        config.display(),
        backup.display()
    );
    assert!(
        said.contains(&command),
        "the refusal names the backup and the command: {said}"
    );

    // The named command puts the previous state back.
    let (ok, said) = run(BIN, &["restore", backup.to_str().unwrap()], &config);
    assert!(ok, "{said}");
    let p = Process::spawn(&config, &[]);
    assert_eq!(state(&p), before);
    assert!(p.stop());
}

/// The next release's preinst (this one with its schema raised), as dpkg runs it with
/// the current cosmosd installed.
fn next_preinst(dir: &Path, config: &Path, old_version: &str) -> (bool, String) {
    let usr_bin = dir.join("usr-bin");
    if !usr_bin.exists() {
        std::fs::create_dir_all(&usr_bin).unwrap();
        std::os::unix::fs::symlink(BIN, usr_bin.join("cosmosd")).unwrap();
    }
    let ours = std::fs::read_to_string(Path::new(ROOT).join("debian/preinst")).unwrap();
    let schema = cosmosd::store::MIGRATIONS.len();
    let next = ours.replacen(
        &format!("\nSCHEMA={schema}\n"),
        &format!("\nSCHEMA={}\n", schema + 1),
        1,
    );
    assert_ne!(next, ours, "debian/preinst sets SCHEMA={schema}");
    let script = dir.join("next-preinst");
    std::fs::write(&script, next).unwrap();
    run_preinst(&script, &usr_bin, config, [old_version, "0.2.0"])
}

#[test]
fn the_preinst_keeps_the_newest_three_backups() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), |_| {});
    let p = Process::spawn(&config, &[]);
    a_night(&p, "kept");
    let backups = dir.path().join("data-upgrade-backups");
    let names = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let mut made = Vec::new();
    for v in ["0.1.1", "0.1.2", "0.1.3", "0.1.4"] {
        // One upgrade attempt a second at most: the names carry the second.
        let second = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        while chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string() == second {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let (ok, said) = next_preinst(dir.path(), &config, v);
        assert!(ok, "{said}");
        let new: Vec<String> = names().into_iter().filter(|n| !made.contains(n)).collect();
        assert_eq!(new.len(), 1, "{new:?}");
        made.push(new[0].clone());
    }
    assert!(p.stop());
    let mut newest = made[1..].to_vec();
    newest.sort();
    assert_eq!(names(), newest, "the oldest ({}) went", made[0]);
}

/// A tmpfs of `mb` MiB mounted on a new folder, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(mb: u64) -> Tmpfs {
        assert!(
            rustix::process::geteuid().is_root(),
            "the no-room upgrade test mounts a small tmpfs: it needs root (the CI machines run the suite as root)"
        );
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "mount: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn without_room_for_the_backup_the_upgrade_stops_before_anything_changes() {
    // The data folder and its backups' place on a disk with less room than a backup and
    // the margin need.
    let disk = Tmpfs::new(24);
    let config = write_config(disk.0.path(), |_| {});
    let elsewhere = tempfile::tempdir().unwrap();
    let usr_bin = installed_previous(elsewhere.path());
    let old = Process::spawn_bin(usr_bin.join("cosmosd").to_str().unwrap(), &config, &[]);
    a_night(&old, "full");
    assert!(old.stop());
    let db = disk.0.path().join("data/cosmos.db");
    let before = std::fs::read(&db).unwrap();

    let (ok, said) = preinst(&usr_bin, &config, "0.1.0~previous");
    assert!(!ok, "the upgrade must stop: {said}");
    assert!(
        said.contains("no room for the backup") && said.contains("The upgrade stops here"),
        "{said}"
    );
    let backups = disk.0.path().join("data-upgrade-backups");
    assert_eq!(
        std::fs::read_dir(&backups).unwrap().count(),
        0,
        "no partial backup left"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database untouched"
    );
}
