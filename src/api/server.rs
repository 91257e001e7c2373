//! The HTTP server's lifecycle: the front door on the LAN socket and the tiny_http
//! generations behind it on Unix sockets, the worker threads that take requests from the
//! current generation, and the renewal of an acceptor that stopped.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{Context, door, handle};
use crate::config::Config;

/// The running HTTP server: the front door on the LAN socket and the tiny_http workers
/// behind it.
pub struct Server {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    addr: SocketAddr,
    /// Stops the door's accept loop and its connections.
    door_stop: tokio_util::sync::CancellationToken,
    door: tokio::task::JoinHandle<()>,
    runtime: tokio::runtime::Handle,
}

/// What the workers share.
///
/// tiny_http ends its accept thread on the *first* accept error (tiny-http issue #283),
/// e.g. when descriptors run out. So the server runs in *generations*: when a
/// generation's accept thread ends, a worker starts the next one on a Unix socket of its
/// own and points the door at it, and the old generation is drained by a thread of its
/// own until its connections are done. (Each generation has its own socket path because
/// tiny_http removes its socket file when it is dropped.)
struct Shared {
    /// Folder of the generations' Unix sockets (private to the daemon's user).
    sockets: PathBuf,
    /// Numbers the generations' socket files.
    serial: AtomicU64,
    /// Where the door sends new connections: the current generation's socket.
    upstream: door::Upstream,
    /// The generation taking new connections.
    current: RwLock<Arc<tiny_http::Server>>,
    /// Threads draining retired generations.
    drains: Mutex<Vec<JoinHandle<()>>>,
    stopping: AtomicBool,
    ctx: Arc<Context>,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking requests, lets in-flight ones finish, and joins the workers. Call it
    /// off the async workers (it blocks).
    pub fn shutdown(self) {
        self.door_stop.cancel();
        let _ = self.runtime.block_on(self.door);
        self.shared.stopping.store(true, Ordering::SeqCst);
        for w in self.workers {
            let _ = w.join();
        }
        let drains =
            std::mem::take(&mut *self.shared.drains.lock().unwrap_or_else(|p| p.into_inner()));
        for d in drains {
            let _ = d.join();
        }
    }
}

/// How often idle workers look at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// A new tiny_http generation on a Unix socket of its own in `dir`.
fn generation(dir: &Path, serial: u64) -> anyhow::Result<(Arc<tiny_http::Server>, PathBuf)> {
    let path = dir.join(format!("http-{serial}.sock"));
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path)
        .with_context(|| format!("binding the API's socket {}", path.display()))?;
    let s = tiny_http::Server::from_listener(l, None)
        .map_err(|e| anyhow::anyhow!("starting the HTTP server: {e}"))?;
    Ok((Arc::new(s), path))
}

/// The folder of the generations' sockets, emptied of a previous run's (the data-folder
/// lock says no other daemon uses it) and private to the daemon's user.
fn socket_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = data_dir.join("http");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", dir.display()))?;
    // sun_path holds 108 bytes; say so plainly rather than failing to bind.
    if dir.as_os_str().len() > 90 {
        anyhow::bail!(
            "storage.data_dir is too long for the API's socket ({}); use a shorter path",
            dir.display()
        );
    }
    Ok(dir)
}

/// The door's limits from `[server]`, with connections capped to what the descriptor
/// limit allows.
fn limits(config: &Config, requests: Arc<door::limits::RequestLimits>) -> door::Limits {
    let s = &config.server;
    let head = s.io_timeout.min(Duration::from_secs(10));
    let mut l = door::Limits {
        max_connections: MAX_CONNECTIONS,
        per_client: PER_CLIENT,
        loopback_reserve: LOOPBACK_RESERVE,
        max_head_bytes: 16 * 1024,
        max_headers: 100,
        max_body_bytes: s.max_body_bytes,
        idle: s.io_timeout,
        head,
        body: s.io_timeout,
        write: s.io_timeout,
        requests,
    };
    let fds = raise_fd_limit();
    let room = (fds.saturating_sub(FDS_KEPT) as usize) / door::Limits::FDS_PER_CONNECTION;
    let want = l.max_connections + l.loopback_reserve;
    if room < want {
        l.max_connections = room.saturating_sub(l.loopback_reserve).max(1);
        log::warn!(fd_limit = fds, max_connections = l.max_connections;
            "the descriptor limit ({fds}) allows only {} connections; raise LimitNOFILE", l.max_connections);
    }
    l
}

/// Connections open at once from the LAN (each tablet needs about eight).
const MAX_CONNECTIONS: usize = 256;
/// Connections open at once from one client address.
const PER_CLIENT: usize = 48;
/// Connections only the box itself may use (the watchdog's health check).
const LOOPBACK_RESERVE: usize = 16;
/// Descriptors kept for everything but connections: the database, photos, the camera,
/// mail, the journal.
const FDS_KEPT: u64 = 256;

/// Serves the API on `listener` until [`Server::shutdown`]. Call it inside the tokio
/// runtime: the door runs there.
pub fn start(listener: TcpListener, ctx: Arc<Context>) -> anyhow::Result<Server> {
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let sockets = socket_dir(&ctx.config.storage.data_dir)?;
    let (first, path) = generation(&sockets, 0)?;
    let upstream: door::Upstream = Arc::new(RwLock::new(path));
    let door_stop = tokio_util::sync::CancellationToken::new();
    let runtime =
        tokio::runtime::Handle::try_current().context("the API's door needs the tokio runtime")?;
    let tls = door::tls::setup(&ctx.config)?;
    if let Some((t, _)) = &tls {
        log::info!(tls_port = t.port; "HTTPS on port {}", t.port);
    }
    let door = {
        let _enter = runtime.enter();
        door::spawn_with_tls(
            listener,
            tls,
            limits(&ctx.config, ctx.requests.clone()),
            upstream.clone(),
            door_stop.clone(),
        )
        .context("starting the API's door")?
    };
    let shared = Arc::new(Shared {
        sockets,
        serial: AtomicU64::new(1),
        upstream,
        current: RwLock::new(first),
        drains: Mutex::new(Vec::new()),
        stopping: AtomicBool::new(false),
        ctx: ctx.clone(),
    });
    let workers = (0..ctx.config.server.workers)
        .map(|i| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || work(&shared))
                .context("spawning an HTTP worker")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Server {
        shared,
        workers,
        addr,
        door_stop,
        door,
        runtime,
    })
}

fn work(shared: &Arc<Shared>) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let srv = shared
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match srv.recv_timeout(POLL) {
            Ok(Some(rq)) => handle(&shared.ctx, rq),
            Ok(None) => {}
            Err(e) => renew(shared, &srv, e),
        }
    }
}

/// The accept thread of `old` ended with `err`: start the next generation (once, however
/// many workers noticed) and drain `old` on a thread of its own.
fn renew(shared: &Arc<Shared>, old: &Arc<tiny_http::Server>, err: std::io::Error) {
    let mut cur = shared.current.write().unwrap_or_else(|p| p.into_inner());
    if !Arc::ptr_eq(&cur, old) {
        return; // another worker already did it
    }
    log::warn!(error = err.to_string().as_str(); "the API's acceptor stopped: {err}; renewing it");
    // e.g. out of file descriptors: do not spin
    std::thread::sleep(Duration::from_millis(100));
    let serial = shared.serial.fetch_add(1, Ordering::SeqCst);
    let next = match generation(&shared.sockets, serial) {
        Ok((n, path)) => {
            *shared.upstream.write().unwrap_or_else(|p| p.into_inner()) = path;
            n
        }
        Err(e) => {
            log::error!("cannot renew the HTTP acceptor: {e:#}");
            std::thread::sleep(Duration::from_millis(500));
            return;
        }
    };
    let retired = std::mem::replace(&mut *cur, next);
    drop(cur);
    // Its keep-alive connections may still send requests. Each of them closes by itself
    // once idle for `io_timeout`, so the old generation is done when no request has come
    // for twice that (counted from the end of the last one this thread served).
    let quiet = shared.ctx.config.server.io_timeout * 2 + Duration::from_secs(1);
    let me = shared.clone();
    let drain = std::thread::Builder::new()
        .name("http-drain".into())
        .spawn(move || {
            let mut last = Instant::now();
            while last.elapsed() < quiet && !me.stopping.load(Ordering::SeqCst) {
                match retired.recv_timeout(POLL) {
                    Ok(Some(rq)) => {
                        handle(&me.ctx, rq);
                        last = Instant::now();
                    }
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        });
    let mut drains = shared.drains.lock().unwrap_or_else(|p| p.into_inner());
    drains.retain(|d| !d.is_finished());
    if let Ok(d) = drain {
        drains.push(d);
    }
}

/// Raises this process's soft descriptor limit to its hard limit (systemd's default soft
/// limit is 1,024; the unit's `LimitNOFILE=` sets both) and returns the soft limit now in
/// force. The API's door sizes its connection cap from it.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let (Some(cur), max) = (now.current, now.maximum) else {
        return u64::MAX; // unlimited
    };
    // A very large hard limit (root's is 2^20 or more) is more than we need.
    let want = max.unwrap_or(u64::MAX).min(65_536);
    if want > cur
        && setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(want),
                maximum: max,
            },
        )
        .is_ok()
    {
        return want;
    }
    cur
}
