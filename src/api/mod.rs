//! The API: the only place that knows HTTP and JSON. A tiny_http server on its own
//! worker threads (never on tokio's), a route table with the roles allowed on each
//! route, and one pipeline every request goes through:
//!
//! route (404/405) → auth (401/403) → body cap (413) → JSON only (415) → parse
//! (400/422) → the store and the domain (404/409/422) → one log line.
//!
//! Invariants: every answer to something a client sent is 2xx or 4xx; 5xx means the box
//! itself failed (and is logged). No CORS headers are ever sent: the tablets' pages are
//! served from this same origin.
//!
//! Every JSON body in or out is a typed wire struct of this module (one file per
//! resource: `guests`, `shows`, `photos`, `outbox`, `session`, `health`, `stream`),
//! and the OpenAPI document served at `/api/openapi.json` is derived from them
//! (`openapi`).

pub mod door;
mod error;
mod guests;
mod health;
mod input;
mod openapi;
mod outbox;
mod pages;
mod photos;
mod routes;
mod session;
mod shows;
mod stream;
mod wire;

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;

use crate::access::{self, Role, Throttle};
use crate::config::Config;
use crate::store::Store;

pub use error::{ApiError, ErrorBody};
pub use openapi::document as openapi_document;
pub use routes::{ROUTES, Route};

/// Everything a request handler may use.
pub struct Context {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    /// Camera, photos and the show timeline.
    pub studio: Arc<crate::studio::Studio>,
    /// The mail queue and its sender.
    pub outbox: crate::outbox::Outbox,
    /// Live updates followed by `GET /api/events`.
    pub events: Arc<crate::events::Events>,
    /// Event streams open now (each holds a thread of its own, so they are capped).
    pub streams: Arc<std::sync::atomic::AtomicUsize>,
    /// Failed-login lockouts, per client address.
    pub throttle: Mutex<Throttle>,
    /// When the daemon started, for the health report.
    pub started: Instant,
    /// The retention purge's last run, for the health report.
    pub retention: Arc<crate::retention::Retention>,
}

/// An answer ready to be written.
pub struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// Instead of a body: hand the connection to an event stream for this role, from
    /// the event after this id.
    stream: Option<(Role, u64)>,
}

impl Reply {
    pub fn json<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Reply {
        Reply {
            status,
            content_type: "application/json; charset=utf-8",
            // Wire types have string keys and no fallible `Serialize`: this cannot fail.
            body: serde_json::to_vec(value).expect("a wire type always serialises"),
            headers: Vec::new(),
            stream: None,
        }
    }
    pub fn raw(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type,
            body,
            headers: Vec::new(),
            stream: None,
        }
    }
    /// An event stream (see [`stream`]).
    pub fn events(role: Role, after: u64) -> Reply {
        let mut r = Reply::raw(200, "text/event-stream", Vec::new());
        r.stream = Some((role, after));
        r
    }
    pub fn no_content() -> Reply {
        Reply::raw(204, "text/plain", Vec::new())
    }
}

/// What a handler knows about the request.
pub struct Call {
    /// The `{id}` segments of the route, in order.
    pub params: Vec<String>,
    /// The raw query string (after `?`), parsed by the handler with [`Call::query`].
    pub query: String,
    /// The JSON body, for routes that take one (already size- and type-checked).
    pub body: Vec<u8>,
    /// The caller's role; `None` on public routes.
    pub role: Option<Role>,
    /// The caller's session token hash, to revoke on logout.
    pub token_hash: Option<String>,
    pub remote: IpAddr,
    pub now: chrono::DateTime<Utc>,
    /// `Last-Event-ID`, sent by a reconnecting EventSource.
    pub last_event_id: Option<String>,
}

impl Call {
    /// The query string as `T`; a bad value is 422 naming the parameter.
    pub fn query<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        input::query(&self.query)
    }

    /// The route's (first) `{id}`.
    pub fn id(&self) -> &str {
        self.params.first().map(String::as_str).unwrap_or("")
    }
}

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
fn limits(config: &Config) -> door::Limits {
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
    };
    let fds = crate::service::raise_fd_limit();
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
    let door = {
        let _enter = runtime.enter();
        door::spawn(
            listener,
            limits(&ctx.config),
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

fn handle(ctx: &Context, mut rq: tiny_http::Request) {
    let started = Instant::now();
    let method = rq.method().as_str().to_ascii_uppercase();
    // The door puts the client's address in this header (and drops a client-sent one).
    let remote = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv(door::PEER_HEADER))
        .and_then(|h| h.value.as_str().parse::<SocketAddr>().ok())
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
    let mut route_name = "-";
    let mut role: Option<Role> = None;
    let reply = std::panic::catch_unwind(AssertUnwindSafe(|| {
        process(ctx, &mut rq, &method, remote, &mut route_name, &mut role)
    }))
    .unwrap_or_else(|_| {
        log::error!(method = method.as_str(), route = route_name; "request handler panicked");
        Err(ApiError::internal())
    })
    .unwrap_or_else(|e| e.into_reply());
    let status = reply.status;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let role_s = role.map(Role::as_str).unwrap_or("-");
    if let Some((stream_role, after)) = reply.stream {
        log::info!(method = method.as_str(), route = route_name, status = status, role = role_s,
            client = remote.to_string().as_str(); "{method} {route_name} {status} stream opened role={role_s}");
        stream::start(ctx, rq, stream_role, after);
        return;
    }
    if (200..300).contains(&status)
        && let Some(route) = ROUTES
            .iter()
            .find(|r| r.path == route_name && r.method == method)
    {
        for t in route.changes {
            ctx.events.publish(crate::events::Change::Api {
                topic: *t,
                method: route.method,
                route: route.path,
            });
        }
    }
    let mut resp = tiny_http::Response::from_data(reply.body).with_status_code(status);
    let mut headers = vec![
        ("Content-Type", reply.content_type.to_string()),
        ("Cache-Control", "no-store".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
    ];
    headers.extend(reply.headers);
    for (k, v) in headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
    let sent = rq.respond(resp);
    let client = remote.to_string();
    let level = if status >= 500 {
        log::Level::Error
    } else {
        log::Level::Info
    };
    log::log!(
        level,
        method = method.as_str(), route = route_name, status = status, duration_ms = format!("{ms:.1}").as_str(),
        role = role_s, client = client.as_str();
        "{method} {route_name} {status} {ms:.1}ms role={role_s}"
    );
    if let Err(e) = sent {
        log::debug!(route = route_name; "client went away before the answer was sent: {e}");
    }
}

fn process(
    ctx: &Context,
    rq: &mut tiny_http::Request,
    method: &str,
    remote: IpAddr,
    route_name: &mut &'static str,
    role_out: &mut Option<Role>,
) -> Result<Reply, ApiError> {
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    if method == "GET"
        && let Some(page) = pages::find(path)
    {
        *route_name = page.path;
        return Ok(page.reply());
    }
    let (route, params) = routes::find(method, path)?;
    *route_name = route.path;

    let now = Utc::now();
    let (role, token_hash) = if route.roles.is_empty() {
        (None, None)
    } else {
        // EventSource cannot send headers: the event stream also takes `?token=`.
        let query_token = (route.path == "/api/events")
            .then(|| {
                form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.into_owned())
            })
            .flatten();
        let (role, hash) = authenticate(ctx, rq, query_token, now)?;
        *role_out = Some(role);
        if !role.may(route.roles) {
            return Err(ApiError::new(
                403,
                "forbidden",
                format!("the {} role may not use this route", role.as_str()),
            ));
        }
        (Some(role), hash)
    };

    let body = if route.body {
        read_json_body(ctx, rq)?
    } else {
        Vec::new()
    };
    let call = Call {
        params,
        query: query.to_string(),
        body,
        role,
        token_hash,
        remote,
        now,
        last_event_id: rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Last-Event-ID"))
            .map(|h| h.value.as_str().to_string()),
    };
    (route.handler)(ctx, &call)
}

/// The caller's role from `Authorization: Bearer …`: a session token, or the
/// configured show-control token.
fn authenticate(
    ctx: &Context,
    rq: &tiny_http::Request,
    query_token: Option<String>,
    now: chrono::DateTime<Utc>,
) -> Result<(Role, Option<String>), ApiError> {
    let header = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string())
        .or_else(|| query_token.map(|t| format!("Bearer {t}")));
    let Some(header) = header else {
        return Err(ApiError::unauthorized(
            "missing_token",
            "log in first: Authorization: Bearer <token>",
        ));
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "the Authorization header must be `Bearer <token>`",
            )
        })?;
    if access::check_secret(&ctx.config.auth, Role::ShowControl, token) {
        return Ok((Role::ShowControl, None));
    }
    let hash = access::token_hash(token);
    let session = ctx.store.session(&hash, now)?;
    let Some(session) = session else {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "the token is unknown, expired or revoked",
        ));
    };
    Ok((session.role, Some(hash)))
}

fn read_json_body(ctx: &Context, rq: &mut tiny_http::Request) -> Result<Vec<u8>, ApiError> {
    let cap = ctx.config.server.max_body_bytes;
    if rq.body_length().is_some_and(|n| n > cap) {
        return Err(ApiError::too_large(cap));
    }
    let ct = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_ascii_lowercase());
    let is_json = ct.as_deref().is_some_and(|v| {
        let essence = v.split(';').next().unwrap_or("").trim();
        essence == "application/json"
    });
    if !is_json {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let mut body = Vec::new();
    rq.as_reader()
        .take(cap as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            ApiError::new(
                400,
                "unreadable_body",
                format!("the body could not be read: {e}"),
            )
        })?;
    if body.len() > cap {
        return Err(ApiError::too_large(cap));
    }
    Ok(body)
}
