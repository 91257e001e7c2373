//! Test harness: the real daemon (`cosmosd::daemon::run`) on `127.0.0.1:0` with a temp
//! data dir, driven over real HTTP. Each test gets its own daemon and database.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod config;
pub mod contract;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

pub use config::TestConfig;

pub const HOST_PIN: &str = "111111";
pub const KIOSK_PIN: &str = "222222";
pub const TECH_PASSWORD: &str = "technician-pass";
pub const SHOW_CONTROL_TOKEN: &str = "show-control-token-0123456789";

/// The config every test daemon starts from; `extra` is appended (new sections only).
pub fn config_text(data_dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 4
io_timeout_seconds = 5
[storage]
data_dir = "{}"
min_free_mb = 1
[camera]
backend = "simulated"
call_timeout_seconds = 2
poll_seconds = 1
[show]
countdown_seconds = 0
spontaneous_offset_seconds = 600
[lights]
backend = "simulated"
pins = [17, 27, 22, 23]
[mail]
transport = "file"
from = "COSMOS <cosmos@example.com>"
[auth]
host_pin = "{HOST_PIN}"
kiosk_pin = "{KIOSK_PIN}"
technician_password = "{TECH_PASSWORD}"
show_control_token = "{SHOW_CONTROL_TOKEN}"
max_failed_logins = 3
lockout_seconds = 30
{extra}
"#,
        data_dir.display()
    )
}

pub struct Daemon {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// The config text, for restarts.
    config: String,
    /// Remote control of the simulated camera, to script faults.
    pub camera: cosmosd::camera::SimControl,
    /// What the simulated relay on the camera's power did (`camera.power_pin`).
    pub power: cosmosd::camera::SimPower,
    /// What the simulated floor markers did.
    pub lights: cosmosd::lights::SimLights,
    agent: ureq::Agent,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_custom(|_| {})
    }

    /// Starts with the standard config changed by `edit`.
    pub fn start_custom(edit: impl FnOnce(&mut TestConfig)) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut config = TestConfig::standard(&dir.path().join("data"));
        edit(&mut config);
        Daemon::start_in(dir, config.render())
    }

    /// Stops this daemon and starts a new one on the same data dir and config.
    pub fn restart(self) -> Daemon {
        self.stop_keeping().start()
    }

    /// [`Daemon::restart`] with the configuration changed by `edit`.
    pub fn restart_edited(mut self, edit: impl FnOnce(&mut TestConfig)) -> Daemon {
        self.stop_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let old = std::mem::replace(&mut self.dir, dir);
        let mut config = TestConfig::from_text(&self.config);
        edit(&mut config);
        drop(self);
        Daemon::start_in(old, config.render())
    }

    /// [`Daemon::restart`], with the new simulated camera prepared before the daemon (and
    /// its first connect) starts, e.g. its body moved to another port.
    pub fn restart_with(mut self, prepare: impl FnOnce(&cosmosd::camera::SimControl)) -> Daemon {
        self.stop_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let old = std::mem::replace(&mut self.dir, dir);
        let text = self.config.clone();
        drop(self);
        Daemon::start_prepared(old, text, prepare)
    }

    fn start_in(dir: tempfile::TempDir, text: String) -> Daemon {
        Daemon::start_prepared(dir, text, |_| {})
    }

    fn start_prepared(
        dir: tempfile::TempDir,
        text: String,
        prepare: impl FnOnce(&cosmosd::camera::SimControl),
    ) -> Daemon {
        let config = cosmosd::config::Config::from_toml_str(&text, dir.path()).unwrap();
        let listener = TcpListener::bind(config.server.listen).unwrap();
        static PHOTO: std::sync::OnceLock<std::sync::Arc<Vec<u8>>> = std::sync::OnceLock::new();
        let photo =
            PHOTO.get_or_init(|| std::sync::Arc::new(cosmosd::photos::test_pattern(3000, 2000, 6)));
        let photo = match &config.camera.simulated_photo {
            Some(p) => std::sync::Arc::new(std::fs::read(p).unwrap()),
            None => photo.clone(),
        };
        let (sim, camera) = cosmosd::camera::Simulated::with_photo(photo);
        prepare(&camera);
        let (lights_dev, lights) = cosmosd::lights::Simulated::new(config.lights.pins.len());
        // The camera's power relay, when configured, is simulated and wired to the camera.
        let power = cosmosd::camera::SimPower::default();
        power.wire(camera.clone());
        let camera_power = config.camera.power_pin.map(|_| {
            let timing = cosmosd::camera::PowerTiming {
                off: config.camera.power_off,
                boot: config.camera.power_boot,
            };
            (cosmosd::camera::Power::Simulated(power.clone()), timing)
        });
        let devices = cosmosd::daemon::Devices {
            camera: cosmosd::camera::Device::Simulated(sim),
            lights: cosmosd::lights::Device::Simulated(lights_dev),
            camera_power,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(cosmosd::daemon::run(
                config,
                devices,
                listener,
                async {
                    let _ = stop_rx.await;
                },
                move |addr| ready_tx.send(addr).unwrap(),
            ))
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("daemon did not become ready");
        let agent = agent();
        contract::register(&agent, addr);
        Daemon {
            addr,
            dir,
            config: text,
            camera,
            power,
            lights,
            agent,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Writes this daemon's config to `cosmos.toml` in its temp dir (for the CLI).
    pub fn config_file(&self) -> PathBuf {
        let p = self.dir.path().join("cosmos.toml");
        std::fs::write(&p, &self.config).unwrap();
        p
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data").join("cosmos.db")
    }

    /// Sends a request; `body` is sent as JSON.
    pub fn req(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        http(&self.agent, self.addr, method, path, token, body)
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.req("GET", path, Some(token), None)
    }
    pub fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.req("POST", path, Some(token), Some(body))
    }

    /// A JSON POST with extra request headers (e.g. `Idempotency-Key`), checked against
    /// the contract like every other answer.
    pub fn post_with(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .agent
            .post(format!("http://{}{path}", self.addr))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = into_resp(
            rb.send(body.to_string())
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        );
        let ct = r.header("content-type").unwrap_or("").to_string();
        contract::check(self.addr, "POST", path, r.status, &ct, &r.body);
        r
    }

    /// Logs in and returns the token.
    pub fn login(&self, role: &str) -> String {
        let pin = match role {
            "host" => HOST_PIN,
            "kiosk" => KIOSK_PIN,
            "technician" => TECH_PASSWORD,
            "show_control" => SHOW_CONTROL_TOKEN,
            r => panic!("unknown role {r}"),
        };
        login(&self.agent, self.addr, role, pin)
    }

    /// Registers a guest through the kiosk route; returns its id.
    pub fn add_guest(&self, token: &str, name: &str, email: &str) -> String {
        let r = self.post("/api/guests", token, &guest_body(name, email));
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// Raw bytes over a fresh TCP connection; returns the status code (0 if none came back).
    pub fn raw(&self, request: &[u8]) -> (u16, String) {
        raw_request(self.addr, request)
    }

    /// Every row of every table, as text: equal snapshots mean nothing was written.
    pub fn db_snapshot(&self) -> String {
        let c = rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut out = String::new();
        for t in tables {
            let mut st = c
                .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
                .unwrap();
            let n = st.column_count();
            let rows = st
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i)
                                .map(|v| format!("{v:?}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .unwrap();
            for row in rows {
                out.push_str(&format!("{t}: {}\n", row.unwrap().join(" | ")));
            }
        }
        out
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    /// Stops the daemon, keeping what [`Stopped::start`] needs to start it again on the
    /// same data, config and address (so something can be checked while it is down).
    pub fn stop_keeping(mut self) -> Stopped {
        self.stop_inner().unwrap();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Stopped {
            dir,
            config: self.config.clone(),
        }
    }

    /// Stops the daemon and hands over its temp dir (data folder and config) to the caller.
    pub fn into_dir(mut self) -> tempfile::TempDir {
        self.stop_inner().unwrap();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().expect("daemon thread panicked"),
            None => Ok(()),
        }
    }
}

/// A daemon stopped by [`Daemon::stop_keeping`].
pub struct Stopped {
    dir: tempfile::TempDir,
    config: String,
}

impl Stopped {
    pub fn start(self) -> Daemon {
        Daemon::start_in(self.dir, self.config)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let r = self.stop_inner();
        if !std::thread::panicking() {
            r.expect("daemon exited with an error");
        }
    }
}

/// Logs in with `role`'s PIN and returns the token.
pub fn login(agent: &ureq::Agent, addr: SocketAddr, role: &str, pin: &str) -> String {
    let r = http(
        agent,
        addr,
        "POST",
        "/api/session",
        None,
        Some(&json!({"role": role, "pin": pin})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["token"].as_str().unwrap().to_string()
}

/// Writes the standard config, changed by `edit`, to `dir/cosmos.toml`.
pub fn write_config(dir: &std::path::Path, edit: impl FnOnce(&mut TestConfig)) -> PathBuf {
    let path = dir.join("cosmos.toml");
    let mut config = TestConfig::standard(&dir.join("data"));
    edit(&mut config);
    std::fs::write(&path, config.render()).unwrap();
    path
}

/// Where scripts/vcamera.sh put the virtual camera's port driver (IOLIBS).
pub fn vcamera_iolibs() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/vcamera/iolibs");
    assert!(
        dir.join("vusb.so").exists(),
        "the virtual camera is not built: run `bash scripts/vcamera.sh` (scripts/test.sh does)"
    );
    dir
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// One real HTTP request.
pub fn http(
    agent: &ureq::Agent,
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Resp {
    let url = format!("http://{addr}{path}");
    let auth = token.map(|t| format!("Bearer {t}"));
    let resp = match (method, body) {
        ("GET", _) => with_auth(agent.get(&url), &auth).call(),
        ("DELETE", _) => with_auth(agent.delete(&url), &auth).call(),
        ("POST", b) => with_auth(agent.post(&url), &auth)
            .header("Content-Type", "application/json")
            .send(b.map(|b| b.to_string()).unwrap_or_default()),
        ("PATCH", b) => with_auth(agent.patch(&url), &auth)
            .header("Content-Type", "application/json")
            .send(b.map(|b| b.to_string()).unwrap_or_default()),
        (m, _) => panic!("unsupported method {m}"),
    }
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let r = into_resp(resp);
    contract::check(
        addr,
        method,
        path,
        r.status,
        r.header("content-type").unwrap_or(""),
        &r.body,
    );
    r
}

/// `cosmosd run` as a separate process (for real libgphoto2, whose driver is chosen by
/// the environment, and for crash tests), with the address it logged.
pub struct Process {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub agent: ureq::Agent,
}

impl Process {
    pub fn spawn(config: &std::path::Path, env: &[(&str, &str)]) -> Process {
        Process::spawn_bin(env!("CARGO_BIN_EXE_cosmosd"), config, env)
    }

    /// [`Process::spawn`] with another build of the binary (benchmarks compare two).
    pub fn spawn_bin(bin: &str, config: &std::path::Path, env: &[(&str, &str)]) -> Process {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("run").arg("--config").arg(config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in stderr.lines().map_while(Result::ok) {
                if std::env::var_os("COSMOSD_TEST_LOG").is_some() {
                    eprintln!("[daemon] {line}");
                }
                if let Some(rest) = line.split("ready on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.split_whitespace().next().unwrap().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("daemon did not start")
            .parse()
            .unwrap();
        let agent = agent();
        contract::register(&agent, addr);
        Process { child, addr, agent }
    }

    pub fn req(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        http(&self.agent, self.addr, method, path, token, body)
    }

    pub fn login(&self, role: &str, pin: &str) -> String {
        login(&self.agent, self.addr, role, pin)
    }

    /// SIGTERM and wait; true when it exited cleanly.
    pub fn stop(mut self) -> bool {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_auth<B>(rb: ureq::RequestBuilder<B>, auth: &Option<String>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(a) => rb.header("Authorization", a),
        None => rb,
    }
}

fn into_resp(mut resp: ureq::http::Response<ureq::Body>) -> Resp {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp {
        status,
        headers,
        body,
    }
}

pub fn guest_body(name: &str, email: &str) -> Value {
    json!({
        "name": name,
        "email": email,
        "energy": "solar",
        "element": "fuego",
        "essence": "guerrero",
        "language": "en",
        "consent": true
    })
}

/// A start time `minutes` from now, RFC 3339.
pub fn in_minutes(minutes: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339()
}

/// A host token and a show with `n` guests, started (running).
pub fn running_show(d: &Daemon, n: usize) -> (String, String) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let host = d.login("host");
    let ids: Vec<String> = (0..n)
        .map(|_| {
            let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            d.add_guest(
                &host,
                &format!("Guest {k}"),
                &format!("guest{k}@example.org"),
            )
        })
        .collect();
    let s = d.post(
        "/api/shows",
        &host,
        &json!({"start_time": in_minutes(1), "guest_ids": ids}),
    );
    assert_eq!(s.status, 201, "{}", s.body);
    let id = s.body["id"].as_str().unwrap().to_string();
    let r = d.post(&format!("/api/shows/{id}/start"), &host, &Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    (host, id)
}

/// The photo files on disk for a show, by file name.
pub fn photo_files(d: &Daemon, show: &str) -> Vec<String> {
    let dir = d.dir.path().join("data/photos").join(show);
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Raw bytes of a GET (for images).
pub fn get_bytes(d: &Daemon, path: &str, token: &str) -> (u16, String, Vec<u8>) {
    let mut r = d
        .agent
        .get(&d.url(path))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let status = r.status().as_u16();
    let bytes = r
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap();
    (status, ct, bytes)
}

pub fn raw_request(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Any running daemon (in-process or a child process), as far as requests go.
pub type Req<'a> = &'a dyn Fn(&str, &str, Option<&str>, Option<&Value>) -> Resp;

/// Registers `guests` (kiosk bodies) and runs a whole show with them: start, spontaneous
/// photo, pose, capture, approve both photos, finish. Returns the show id and the
/// finish answer.
pub fn finished_show(req: Req<'_>, host: &str, guests: &[Value]) -> (String, Resp) {
    let ids: Vec<Value> = guests
        .iter()
        .map(|g| {
            let r = req("POST", "/api/guests", Some(host), Some(g));
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["id"].clone()
        })
        .collect();
    // Shows may not overlap: book each one after the ones already there.
    let r = req("GET", "/api/shows", Some(host), None);
    let last_end = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["end_time"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .max()
        .map(|t| t.with_timezone(&chrono::Utc));
    let start = match last_end {
        Some(t) => t + chrono::Duration::minutes(10),
        None => chrono::Utc::now() + chrono::Duration::minutes(1),
    };
    let s = req(
        "POST",
        "/api/shows",
        Some(host),
        Some(&json!({"start_time": start.to_rfc3339(), "guest_ids": ids})),
    );
    assert_eq!(s.status, 201, "{}", s.body);
    let id = s.body["id"].as_str().unwrap().to_string();
    for step in ["start", "spontaneous", "pose", "capture"] {
        let r = req("POST", &format!("/api/shows/{id}/{step}"), Some(host), None);
        assert!(r.status == 200 || r.status == 201, "{step}: {}", r.body);
    }
    let show = req("GET", &format!("/api/shows/{id}"), Some(host), None);
    for p in show.body["photos"].as_array().unwrap() {
        let r = req(
            "POST",
            &format!("/api/photos/{}/approve", p["id"].as_str().unwrap()),
            Some(host),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let fin = req("POST", &format!("/api/shows/{id}/finish"), Some(host), None);
    (id, fin)
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free TCP port on loopback (for a relay that comes and goes on the same port).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real SMTP relay on loopback: tests/smtp/server.py under Debian's python3 (aiosmtpd).
pub struct Relay {
    child: std::process::Child,
    pub port: u16,
    pub spool: PathBuf,
}

impl Relay {
    /// Starts the relay on `port`, spooling into `spool`; `args` are server.py's knobs.
    pub fn start(port: u16, spool: &std::path::Path, args: &[&str]) -> Relay {
        use std::io::BufRead;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py");
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--spool")
            .arg(spool)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("starting /usr/bin/python3 tests/smtp/server.py (python3-aiosmtpd)");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP relay did not start");
        Relay {
            child,
            port,
            spool: spool.to_path_buf(),
        }
    }

    /// "NNNN <client port> <Message-ID>" for each accepted message.
    pub fn accepted(&self) -> Vec<(String, u16, String)> {
        accepted_in(&self.spool)
    }

    /// The accepted messages' bytes, in order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.accepted()
            .iter()
            .map(|(n, _, _)| std::fs::read(self.spool.join(format!("{n}.eml"))).unwrap())
            .collect()
    }

    /// Every RCPT address the relay was offered.
    pub fn rcpts(&self) -> Vec<String> {
        std::fs::read_to_string(self.spool.join("rcpt.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The uplink goes away: the relay is killed.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn accepted_in(spool: &std::path::Path) -> Vec<(String, u16, String)> {
    std::fs::read_to_string(spool.join("accepted.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut w = l.split(' ');
            (
                w.next().unwrap().to_string(),
                w.next().unwrap().parse().unwrap(),
                w.next().unwrap().to_string(),
            )
        })
        .collect()
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/browser/`, checked to hold its node packages (playwright-core, axe-core).
pub fn browser_dir() -> &'static str {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    for package in ["playwright-core", "axe-core"] {
        assert!(
            Path::new(dir).join("node_modules").join(package).exists(),
            "run `npm ci --prefix tests/browser` (scripts/test.sh does)"
        );
    }
    dir
}

/// `target/browser-screenshots/<folder>`, emptied for a new run.
pub fn screenshots(folder: &str) -> String {
    let dir = format!(
        "{}/target/browser-screenshots/{folder}",
        env!("CARGO_MANIFEST_DIR")
    );
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `node tests/browser/<script> <args…>` and returns what it printed; the test fails
/// unless the script succeeded and said `ok:`.
pub fn run_node(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("node")
        .arg(format!("{}/{script}", browser_dir()))
        .args(args)
        .output()
        .expect("running node (Debian's nodejs)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script}: {log}");
    assert!(log.contains("ok:"), "{script}: {log}");
    log
}

/// Polls `f` every 50 ms until it holds; fails naming `what` after 20 s.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `cargo` (the one running the tests) without the variables cargo set for this test
/// (CARGO_MANIFEST_DIR, CARGO_PKG_…): they would leak into `cargo metadata`, and build
/// scripts that watch them (ring's) would run again, with everything built on them.
pub fn cargo_command() -> std::process::Command {
    let mut cmd =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_") && k != "CARGO_HOME" {
            cmd.env_remove(k);
        }
    }
    cmd
}
