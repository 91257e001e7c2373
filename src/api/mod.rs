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
//! resource: `guests`, `shows`, `photos`, `outbox`, `alerts`, `stats`, `session`, `health`,
//! `stream`),
//! and the OpenAPI document served at `/api/openapi.json` is derived from them
//! (`openapi`).

mod alerts;
mod bodies;
mod camera;
pub mod door;
mod error;
mod guests;
mod health;
mod input;
mod liveview;
mod metrics;
mod openapi;
mod outbox;
mod pages;
mod photos;
mod routes;
mod server;
mod session;
mod shows;
mod stats;
mod stream;
mod wire;

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;

use crate::access::{self, Role, Throttle};
use crate::config::Config;
use crate::store::Store;

pub use error::{ApiError, ErrorBody};
pub use health::{database_ok, report as health_report};
pub use openapi::served as openapi_document;
pub use routes::{ROUTES, Route};
pub use server::{Server, start};

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
    pub streams: Arc<stream::Slots>,
    /// Failed-login lockouts, per client address.
    pub throttle: Mutex<Throttle>,
    /// When the daemon started, for the health report.
    pub started: Instant,
    /// The retention purge's last run, for the health report.
    pub retention: Arc<crate::retention::Retention>,
    /// The door's request limits; told which tokens are good (see `door::limits`).
    pub requests: Arc<door::limits::RequestLimits>,
}

/// An answer ready to be written.
pub struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// Instead of a body: hand the connection to an event stream for this role, from
    /// the event after this id.
    stream: Option<(Role, u64, Option<String>)>,
    /// Instead of a body: hand the connection to a live view (see [`liveview`]).
    liveview: Option<Box<liveview::Start>>,
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
            liveview: None,
        }
    }
    pub fn raw(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type,
            body,
            headers: Vec::new(),
            stream: None,
            liveview: None,
        }
    }
    /// An event stream (see [`stream`]).
    pub fn events(role: Role, after: u64, token_hash: Option<String>) -> Reply {
        let mut r = Reply::raw(200, "text/event-stream", Vec::new());
        r.stream = Some((role, after, token_hash));
        r
    }
    /// A live view (see [`liveview`]).
    fn liveview(start: liveview::Start) -> Reply {
        let mut r = Reply::raw(200, "multipart/x-mixed-replace", Vec::new());
        r.liveview = Some(Box::new(start));
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
    /// `Idempotency-Key`, sent by the kiosk with each registration attempt.
    pub idempotency_key: Option<String>,
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
    let mut reply = std::panic::catch_unwind(AssertUnwindSafe(|| {
        process(ctx, &mut rq, &method, remote, &mut route_name, &mut role)
    }))
    .unwrap_or_else(|_| {
        log::error!(method = method.as_str(), route = route_name; "request handler panicked");
        Err(ApiError::internal())
    })
    .unwrap_or_else(|e| e.into_reply());
    let status = reply.status;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    ctx.studio
        .metrics()
        .request(route_name, &method, status, ms / 1000.0);
    let role_s = role.map(Role::as_str).unwrap_or("-");
    if let Some((stream_role, after, token_hash)) = reply.stream {
        log::info!(method = method.as_str(), route = route_name, status = status, role = role_s,
            client = remote.to_string().as_str(); "{method} {route_name} {status} stream opened role={role_s}");
        stream::start(ctx, rq, stream_role, after, token_hash);
        return;
    }
    if let Some(start) = reply.liveview.take() {
        log::info!(method = method.as_str(), route = route_name, status = status, role = role_s,
            client = remote.to_string().as_str(); "{method} {route_name} {status} live view opened role={role_s}");
        liveview::start(rq, *start);
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
    let mut headers = vec![
        ("Content-Type", reply.content_type.to_string()),
        ("Cache-Control", "no-store".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
    ];
    headers.extend(reply.headers);
    // A refusal on a live-view or event-stream route ends its connection: it says so.
    let sent = if closes(&rq, route_name) {
        respond_closing(rq, status, &headers, &reply.body)
    } else {
        let mut resp = tiny_http::Response::from_data(reply.body).with_status_code(status);
        for (k, v) in headers {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                resp.add_header(h);
            }
        }
        rq.respond(resp)
    };
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

/// Whether this answer is the last on its connection: the door forwards a live-view or
/// event-stream request with `Connection: close` (its answer, a stream or a refusal, ends
/// the connection), and tiny_http never says so in an answer.
fn closes(rq: &tiny_http::Request, route: &str) -> bool {
    door::LAST_ON_CONNECTION.contains(&route)
        && rq
            .headers()
            .iter()
            .any(|h| h.field.equiv("Connection") && h.value.as_str().eq_ignore_ascii_case("close"))
}

/// Writes a whole answer with `Connection: close`, so a client keeping connections alive
/// does not send its next request into one that is closing.
pub(super) fn respond_closing(
    rq: tiny_http::Request,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = tiny_http::StatusCode(status).default_reason_phrase();
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut w = rq.into_writer();
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
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

    let now = ctx.studio.now();
    let (role, token_hash) = if route.roles.is_empty() || metrics::open_to(route.path, remote, rq) {
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
        idempotency_key: rq
            .headers()
            .iter()
            .find(|h| h.field.equiv(guests::IDEMPOTENCY_KEY))
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
        ctx.requests.note_known(&access::token_hash(token));
        return Ok((Role::ShowControl, None));
    }
    let hash = access::token_hash(token);
    let session = ctx.store.session(&hash, now)?;
    if session.is_some() {
        ctx.requests.note_known(&hash);
    }
    let Some(session) = session else {
        ctx.requests.note_unknown(&hash);
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
