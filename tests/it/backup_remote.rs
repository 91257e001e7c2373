//! Scheduled backups to `ssh://` destinations against a real OpenSSH server started by
//! the test on a loopback port (its own throwaway host key, client key, sshd_config and
//! authorized_keys in a temp dir; run as root, the login is root's).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::Value;

use crate::common::{Daemon, finished_show, guest_body, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_cosmosd");

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keygen(path: &Path) {
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(path),
    );
}

/// A real sshd on 127.0.0.1, killed on drop.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Sshd {
    pub fn start() -> Sshd {
        assert!(
            rustix::process::geteuid().is_root(),
            "the ssh backup tests start sshd and log in as root: run them as root"
        );
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "/usr/sbin/sshd is missing: scripts/setup.sh --test installs openssh-server"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all("/run/sshd").unwrap(); // sshd's privilege-separation folder
        let cfg = d.join("sshd_config");
        std::fs::write(
            &cfg,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
                 UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n",
                d = d.display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&cfg)
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        wait_for(20, "sshd to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let mut kh = host_pub.split_whitespace();
        std::fs::write(
            d.join("known_hosts"),
            format!(
                "[127.0.0.1]:{port} {} {}\n",
                kh.next().unwrap(),
                kh.next().unwrap()
            ),
        )
        .unwrap();
        Sshd { dir, port, child }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn url(&self, remote: &Path) -> String {
        format!("ssh://root@127.0.0.1:{}{}", self.port, remote.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn ssh_daemon(sshd: &Sshd, remote: &Path, keep: i64) -> Daemon {
    Daemon::start_custom(|c| {
        c.set("backup.destination", sshd.url(remote));
        c.set("backup.keep", keep);
        c.set(
            "backup.ssh_key",
            sshd.path("client_key").display().to_string(),
        );
        c.set(
            "backup.known_hosts",
            sshd.path("known_hosts").display().to_string(),
        );
    })
}

#[test]
fn ssh_sets_are_copied_verified_on_the_host_and_only_old_sets_pruned() {
    let sshd = Sshd::start();
    let remote_root = tempfile::tempdir().unwrap();
    let remote = remote_root.path().join("backups");
    std::fs::create_dir_all(remote.join("cosmos-notes")).unwrap();
    std::fs::write(remote.join("important.txt"), "not ours").unwrap();
    let d = ssh_daemon(&sshd, &remote, 2);
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&Value>| d.req(m, p, t, b);
    let (_show, fin) = finished_show(&req, &host, &[guest_body("Ana", "ana@example.org")]);
    assert_eq!(fin.status, 200, "{}", fin.body);

    for _ in 0..3 {
        let (ok, out, err) = cli(&["backup", "--scheduled"], &d.config_file());
        assert!(ok, "{out}{err}");
        assert!(out.contains("verified") && out.contains("ssh://"), "{out}");
    }
    let left = names(&remote);
    let sets: Vec<&String> = left.iter().filter(|n| n.starts_with("cosmos-2")).collect();
    assert_eq!(sets.len(), 2, "keep = 2: {left:?}");
    assert!(
        left.contains(&"important.txt".into()) && left.contains(&"cosmos-notes".into()),
        "{left:?}"
    );
    assert!(!left.iter().any(|n| n.contains("partial")), "{left:?}");
    let newest = remote.join(sets[1]);
    run_ok(
        Command::new("sha256sum")
            .args(["-c", "--quiet", "MANIFEST.sha256"])
            .current_dir(&newest),
    );
    assert!(names(&newest).contains(&"config".into()));
    assert!(
        names(&newest.join("photos")).len() == 1,
        "{:?}",
        names(&newest)
    );
    // The staging copy is gone from the data folder.
    assert!(
        !d.db_path()
            .parent()
            .unwrap()
            .join(".backup-staging")
            .exists()
    );
    let h = d.req("GET", "/api/health", None, None).body;
    assert!(h["backup"]["last_ok_at"].is_string(), "{h}");
    assert_eq!(h["backup"]["last_error"], Value::Null, "{h}");
    assert!(
        h["backup"]["destination"]
            .as_str()
            .unwrap()
            .starts_with("ssh://root@127.0.0.1:"),
        "{h}"
    );
}

/// The daemon's config with `from` replaced by `to` (a variant for the CLI).
fn variant(d: &Daemon, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(d.config_file()).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    let p = d.config_file().with_file_name("variant.toml");
    std::fs::write(&p, text.replace(from, to)).unwrap();
    p
}

fn fails_with(d: &Daemon, config: &Path, words: &str) {
    let (ok, out, err) = cli(&["backup", "--scheduled"], config);
    assert!(!ok, "{out}{err}");
    assert!(err.contains(words), "want {words:?}: {err}");
    let h = d.req("GET", "/api/health", None, None).body;
    let e = h["backup"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(e.contains(words), "want {words:?} in health: {h}");
    assert!(
        !d.db_path()
            .parent()
            .unwrap()
            .join(".backup-staging")
            .exists()
    );
}

#[test]
fn ssh_failures_say_what_is_wrong_in_the_backup_status() {
    let sshd = Sshd::start();
    let remote_root = tempfile::tempdir().unwrap();
    let remote = remote_root.path().join("backups");
    let d = ssh_daemon(&sshd, &remote, 2);
    let host = d.login("host");
    let req = |m: &str, p: &str, t: Option<&str>, b: Option<&Value>| d.req(m, p, t, b);
    let (_show, fin) = finished_show(&req, &host, &[guest_body("Ana", "ana@example.org")]);
    assert_eq!(fin.status, 200, "{}", fin.body);
    let kh = sshd.path("known_hosts").display().to_string();
    let key = sshd.path("client_key").display().to_string();

    // Unknown host key: a known_hosts file that names another key.
    let other = sshd.path("other_host");
    keygen(&other);
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut w = other_pub.split_whitespace();
    let bad_kh = sshd.path("bad_known_hosts");
    std::fs::write(
        &bad_kh,
        format!(
            "[127.0.0.1]:{} {} {}\n",
            sshd.port,
            w.next().unwrap(),
            w.next().unwrap()
        ),
    )
    .unwrap();
    fails_with(
        &d,
        &variant(&d, &kh, bad_kh.to_str().unwrap()),
        "unknown host key",
    );
    std::fs::write(&bad_kh, "").unwrap();
    fails_with(
        &d,
        &variant(&d, &kh, bad_kh.to_str().unwrap()),
        "unknown host key",
    );

    // Auth refused: a key the host does not list.
    let stranger = sshd.path("stranger_key");
    keygen(&stranger);
    fails_with(
        &d,
        &variant(&d, &key, stranger.to_str().unwrap()),
        "refused the login",
    );

    // Unreachable: nothing listens on that port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fails_with(
        &d,
        &variant(&d, &format!(":{}/", sshd.port), &format!(":{closed}/")),
        "unreachable",
    );

    // Remote disk full: the remote folder is a tiny tmpfs; a good set first elsewhere.
    let (ok, out, err) = cli(&["backup", "--scheduled"], &d.config_file());
    assert!(ok, "{out}{err}");
    let tiny = remote_root.path().join("tiny");
    std::fs::create_dir_all(&tiny).unwrap();
    run_ok(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&tiny),
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(tiny.clone());
    fails_with(
        &d,
        &variant(&d, remote.to_str().unwrap(), tiny.to_str().unwrap()),
        "disk is full",
    );
    // Nothing partial is left on the full host.
    assert_eq!(names(&tiny), Vec::<String>::new());
    // The good set is untouched.
    assert_eq!(
        names(&remote)
            .iter()
            .filter(|n| n.starts_with("cosmos-2"))
            .count(),
        1
    );
}

/// Rebuilding a box whose sets went to an ssh host (README "Rebuild a dead box"): on a
/// freshly flashed box, `cosmosd restore --with-config --ssh-key K --known-hosts KH
/// ssh://…` copies the newest (sealed) set over, checks it against its manifest, opens
/// it with the technician's age key, puts the config and the data back and removes the
/// copy; the box serves the same guests with its old
/// PINs. A host whose key is not the known one is refused before anything is written.
#[test]
fn a_dead_box_is_rebuilt_from_the_newest_set_on_its_ssh_host() {
    let sshd = Sshd::start();
    let remote_root = tempfile::tempdir().unwrap();
    let remote = remote_root.path().join("backups");
    let root = tempfile::tempdir().unwrap();
    let (etc, data) = (root.path().join("etc"), root.path().join("data"));
    std::fs::create_dir_all(&etc).unwrap();
    let (identity, recipient) = crate::rebuild::age_key(root.path());
    let config = etc.join("cosmosd.toml");
    std::fs::write(
        &config,
        crate::common::config_text(
            &data,
            &format!(
                "[backup]\ndestination = \"{}\"\nssh_key = \"{}\"\nknown_hosts = \"{}\"\n\
                 encrypt_to = [\"{recipient}\"]\n",
                sshd.url(&remote),
                sshd.path("client_key").display(),
                sshd.path("known_hosts").display()
            ),
        ),
    )
    .unwrap();

    let p = crate::common::Process::spawn(&config, &[]);
    let host = p.login("host", crate::common::HOST_PIN);
    let req = |m: &str, path: &str, t: Option<&str>, b: Option<&Value>| p.req(m, path, t, b);
    let (_show, fin) = finished_show(&req, &host, &[guest_body("Ana", "ana@example.org")]);
    assert_eq!(fin.status, 200, "{}", fin.body);
    let (ok, out, err) = cli(&["backup", "--scheduled"], &config);
    assert!(ok, "{out}{err}");
    // A later guest: only the newest set has her.
    let later = p.req(
        "POST",
        "/api/guests",
        Some(&host),
        Some(&guest_body("Bea", "bea@example.org")),
    );
    assert_eq!(later.status, 201, "{}", later.body);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (ok, out, err) = cli(&["backup", "--scheduled"], &config);
    assert!(ok, "{out}{err}");
    let guests_before = p.req("GET", "/api/guests", Some(&host), None).body["items"].clone();
    assert_eq!(guests_before.as_array().unwrap().len(), 2);
    assert!(p.stop());

    // The SD card dies; the new card's first boot writes a config with new PINs (its
    // data folder is the one the set's config names, as on the image).
    std::fs::remove_dir_all(&etc).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    let out = Command::new(BIN)
        .args(["init-config", "--simulated"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success());
    let first_boot = std::fs::read_to_string(&config)
        .unwrap()
        .replace("/var/lib/cosmos", &data.display().to_string());
    std::fs::write(&config, &first_boot).unwrap();
    let src = sshd.url(&remote);
    let key = sshd.path("client_key").display().to_string();
    let identity = identity.display().to_string();
    let known = sshd.path("known_hosts").display().to_string();
    // `cosmosd restore [--with-config] --identity … --ssh-key … --known-hosts HOSTS SRC`.
    let restore = |with_config: bool, hosts: &str| {
        let mut args = vec!["restore"];
        if with_config {
            args.push("--with-config");
        }
        args.extend([
            "--identity",
            &identity,
            "--ssh-key",
            &key,
            "--known-hosts",
            hosts,
            &src,
        ]);
        cli(&args, &config)
    };

    // A host showing another key than the known one: refused, nothing written.
    let strangers = root.path().join("other_known_hosts");
    keygen(&root.path().join("other_host_key"));
    let other = std::fs::read_to_string(root.path().join("other_host_key.pub")).unwrap();
    std::fs::write(&strangers, format!("[127.0.0.1]:{} {other}", sshd.port)).unwrap();
    let (ok, out, err) = restore(true, strangers.to_str().unwrap());
    assert!(!ok && err.contains("unknown host key"), "{out}{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), first_boot);
    assert!(!data.join("cosmos.db").exists());

    // The command, with the technician's copy of the box's key.
    let (ok, out, err) = restore(true, &known);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("(decrypted): 2 guests") && out.contains(&format!("{src}/cosmos-2")),
        "{out}"
    );
    let left: Vec<String> = names(&data)
        .into_iter()
        .filter(|n| n.starts_with(".restore"))
        .collect();
    assert!(left.is_empty(), "the fetched copy stayed: {left:?}");

    let p = crate::common::Process::spawn(&config, &[]);
    let host = p.login("host", crate::common::HOST_PIN);
    assert_eq!(
        p.req("GET", "/api/guests", Some(&host), None).body["items"],
        guests_before
    );
    // With the daemon running, refused before anything is copied.
    let (ok, out, err) = restore(false, &known);
    assert!(!ok && err.contains("stop it first"), "{out}{err}");
    assert!(
        !names(&data).iter().any(|n| n.starts_with(".restore")),
        "{:?}",
        names(&data)
    );
    assert!(p.stop());
}
