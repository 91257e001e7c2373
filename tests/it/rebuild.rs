//! Rebuilding a dead box (README "Rebuild a dead box"): a box makes encrypted scheduled
//! sets on a labelled drive; its SD card dies (its config folder, its data folder and the
//! secret it kept elsewhere are gone); a fresh box (first-boot config, new CA) gets
//! everything back with one `cosmosd restore --with-config --identity KEY usb:LABEL`,
//! and serves the same guests, photos, mail copies, PIN and CA.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{self, Process, finished_show, guest_body, wait_for};
use crate::ops::LabelledDrive;

const BIN: &str = env!("CARGO_BIN_EXE_cosmosd");
const OLD_PIN: &str = "484848";

fn cosmosd(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs the real `age` tool (Debian's package; `scripts/setup.sh --test` installs it).
fn age_tool(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("{cmd} is missing ({e}): scripts/setup.sh --test installs Debian's age package")
    })
}

/// A throwaway age identity: (key file, public key).
pub(crate) fn age_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("technician.agekey");
    let o = age_tool("age-keygen", &["-o", key.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = age_tool("age-keygen", &["-y", key.to_str().unwrap()]);
    assert!(o.status.success());
    (key, String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The box's config: the standard one, with its host PIN kept in a file outside the config
/// folder, sets sealed to `recipient` on the drive labelled `label`.
fn box_config(etc: &Path, data: &Path, pin_file: &Path, label: &str, recipient: &str) -> PathBuf {
    let text = common::config_text(
        data,
        &format!(
            "[backup]\ndestination = \"usb:{label}\"\nkeep = 2\nencrypt_to = [\"{recipient}\"]\n"
        ),
    )
    .replace(
        &format!("host_pin = \"{}\"", common::HOST_PIN),
        &format!("host_pin_file = \"{}\"", pin_file.display()),
    );
    std::fs::create_dir_all(etc).unwrap();
    let path = etc.join("cosmosd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_dead_box_is_rebuilt_from_its_encrypted_backup_drive_with_one_command() {
    let label = format!("RB{}", std::process::id() % 100_000);
    let drive = LabelledDrive::new(&label, 32);
    let keys = tempfile::tempdir().unwrap();
    let (key, recipient) = age_key(keys.path());
    let other = keys.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (other_key, _) = age_key(&other);

    // The box: config in etc/, data in data/, the host PIN in secrets/ (outside etc/).
    let root = tempfile::tempdir().unwrap();
    let (etc, data, secrets) = (
        root.path().join("etc"),
        root.path().join("data"),
        root.path().join("secrets"),
    );
    std::fs::create_dir_all(&secrets).unwrap();
    let pin_file = secrets.join("host-pin");
    std::fs::write(&pin_file, format!("{OLD_PIN}\n")).unwrap();
    std::fs::set_permissions(
        &pin_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let config = box_config(&etc, &data, &pin_file, &label, &recipient);
    let (ok, out) = cosmosd(&["init-ca", etc.to_str().unwrap()]);
    assert!(ok, "{out}");
    let ca_before = std::fs::read(etc.join("ca.crt")).unwrap();

    let p = Process::spawn(&config, &[]);
    let host = p.login("host", OLD_PIN);
    let req = |m: &str, path: &str, t: Option<&str>, b: Option<&Value>| p.req(m, path, t, b);
    let (show, fin) = finished_show(
        &req,
        &host,
        &[
            guest_body("Ana Night", "ana.night@example.org"),
            guest_body("Bea Night", "bea.night@example.org"),
        ],
    );
    assert_eq!(fin.status, 200, "{}", fin.body);
    let mail_dir = data.join("mail");
    let emls = wait_for(20, "the mail copies", || {
        let n = files(&mail_dir)
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "eml"))
            .count();
        (n >= 2).then_some(n)
    });
    let guests_before = p.req("GET", "/api/guests", Some(&host), None).body["items"].clone();
    let photos_before = p
        .req("GET", &format!("/api/shows/{show}"), Some(&host), None)
        .body["photos"]
        .clone();

    let (ok, out) = cosmosd(&[
        "backup",
        "--scheduled",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let sets = drive.sets();
    assert_eq!(sets.len(), 1, "{sets:?}");

    // On the drive: nothing in the clear (no guest's name or address, no PIN), every
    // file sealed, the outer manifest checks without a key, and the real age tool opens
    // the database with the technician's key.
    let look = tempfile::tempdir().unwrap();
    mount_ro(&drive.dev, look.path());
    let set = look.path().join(&sets[0]);
    let in_set = files(&set);
    for f in &in_set {
        let name = f.strip_prefix(&set).unwrap().to_string_lossy().into_owned();
        assert!(
            name.ends_with(".age") || name == "MANIFEST.sha256" || name == "ENCRYPTED",
            "a file in the clear: {name}"
        );
        let bytes = std::fs::read(f).unwrap();
        for secret in [
            "Ana Night",
            "ana.night@example.org",
            OLD_PIN,
            common::KIOSK_PIN,
        ] {
            assert!(!contains(&bytes, secret), "{secret} readable in {name}");
        }
    }
    for want in [
        "cosmos.db.age",
        "config/cosmosd.toml.age",
        "config/ca.key.age",
    ] {
        assert!(set.join(want).exists(), "{want} missing: {in_set:?}");
    }
    let external = format!(
        "external{}.age",
        std::fs::canonicalize(&pin_file).unwrap().display()
    );
    assert!(set.join(&external).exists(), "{external}: {in_set:?}");
    assert_eq!(
        in_set
            .iter()
            .filter(|f| f.to_string_lossy().ends_with(".eml.age"))
            .count(),
        emls
    );
    let sums = Command::new("sha256sum")
        .args(["-c", "--quiet", "MANIFEST.sha256"])
        .current_dir(&set)
        .status()
        .unwrap();
    assert!(sums.success());
    let opened = keys.path().join("opened.db");
    let o = age_tool(
        "age",
        &[
            "-d",
            "-i",
            key.to_str().unwrap(),
            "-o",
            opened.to_str().unwrap(),
            set.join("cosmos.db.age").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let db = rusqlite::Connection::open(&opened).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM guests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    drop(db);
    let _ = std::fs::remove_file(&opened);
    umount(look.path());

    // The SD card dies: config, data and the secret elsewhere are gone.
    assert!(p.stop());
    std::fs::remove_dir_all(&etc).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::remove_dir_all(&secrets).unwrap();

    // A freshly flashed box: first boot wrote a config with new PINs and a new CA.
    std::fs::create_dir_all(&etc).unwrap();
    let (ok, out) = cosmosd(&["init-config", "--simulated", config.to_str().unwrap()]);
    assert!(ok, "{out}");
    let first_boot = std::fs::read_to_string(&config).unwrap();
    let c = config.to_str().unwrap();
    let usb = format!("usb:{label}");

    // Without the key, or with another one: refused, nothing written.
    let (ok, out) = cosmosd(&["restore", "--with-config", "--config", c, &usb]);
    assert!(!ok && out.contains("--identity"), "{out}");
    let (ok, out) = cosmosd(&[
        "restore",
        "--with-config",
        "--identity",
        other_key.to_str().unwrap(),
        "--config",
        c,
        &usb,
    ]);
    assert!(!ok && out.contains("encrypted to other keys"), "{out}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), first_boot);
    assert!(!data.join("cosmos.db").exists());
    assert!(!pin_file.exists());

    // The one command.
    let (ok, out) = cosmosd(&[
        "restore",
        "--with-config",
        "--identity",
        key.to_str().unwrap(),
        "--config",
        c,
        &usb,
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("2 guests"), "{out}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(&drive.dev), "unmounted after the restore");
    // The first-boot config is kept aside, never deleted; the secret is back, 0600.
    let aside: Vec<PathBuf> = files(&data)
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("/replaced-"))
        .collect();
    assert!(
        aside
            .iter()
            .any(|f| std::fs::read_to_string(f).ok().as_deref() == Some(first_boot.as_str())),
        "{aside:?}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&pin_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read(etc.join("ca.crt")).unwrap(), ca_before);

    // The rebuilt box serves the same guests and photos, with the old PIN.
    let p = Process::spawn(&config, &[]);
    let host = p.login("host", OLD_PIN);
    assert_eq!(
        p.req("GET", "/api/guests", Some(&host), None).body["items"],
        guests_before
    );
    let s = p.req("GET", &format!("/api/shows/{show}"), Some(&host), None);
    assert_eq!(s.body["photos"], photos_before);
    for ph in photos_before.as_array().unwrap() {
        let id = ph["id"].as_str().unwrap();
        let r = p
            .agent
            .get(&format!("http://{}/api/photos/{id}/original", p.addr))
            .header("Authorization", &format!("Bearer {host}"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        files(&mail_dir)
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "eml"))
            .count(),
        emls
    );
    assert!(p.stop());
}

fn mount_ro(dev: &str, at: &Path) {
    let o = Command::new("mount")
        .args(["-o", "ro", dev])
        .arg(at)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn umount(at: &Path) {
    assert!(Command::new("umount").arg(at).status().unwrap().success());
}
