//! The front door: the daemon's own accept loop on the LAN socket, on the tokio runtime.
//! tiny_http never sees a raw LAN connection. The door
//!
//! - admits a connection only under a cap (total and per client address), keeping a
//!   reserve for the box itself (the watchdog's health check over loopback), and refuses
//!   the rest at once with 503 so descriptors and threads stay bounded;
//! - sets `TCP_NODELAY` on every accepted socket (Linux does not carry it over from the
//!   listener) and writes each response in as few segments as it arrived in, so a
//!   kept-alive tablet never waits on Nagle's algorithm meeting a delayed ACK;
//! - reads each request head under a deadline and a size limit (`httparse`, at most
//!   [`Limits::max_head_bytes`] and [`Limits::max_headers`]), refuses a `Content-Length`
//!   over `max_body_bytes` (413), a body that stops arriving (408), and malformed framing
//!   (400) itself, and decodes a chunked body into a counted one;
//! - forwards only complete, well-formed requests to the tiny_http generation of the
//!   moment over an in-process Unix socket, with the client's address in
//!   [`PEER_HEADER`] (a client-sent header of that name is dropped), and copies the
//!   answers back.
//!
//! Invariants: a request reaches a tiny_http worker only whole, so no worker ever waits on
//! a client; a slow or silent client costs a task and a few buffers, not a thread; the
//! door's own refusals go out only after every earlier answer on the connection.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::ApiError;

mod framing;
pub mod limits;
pub mod tls;
use framing::{
    BodyKind, Head, Stop, forward_bytes, parse_chunked, parse_head, timed_out, too_long_head,
};
pub use tls::spawn_with_tls;

/// Carries the client's `ip:port` from the door to the handlers (the throttle and the
/// logs need it). Only the door can reach the Unix socket, and it drops any client-sent
/// header of this name, so handlers may trust it.
pub const PEER_HEADER: &str = "X-Cosmos-Peer";

/// The path carrying the event stream: after a request for it the connection may carry a
/// stream that ends only with the connection, so the idle deadline does not apply. Like
/// live view (below) it is the connection's last request: a stream the daemon ends (its
/// token revoked, shutdown) reaches the client as EOF at once, and an error answer says
/// `Connection: close`.
const EVENTS_PATH: &str = "/api/events";

/// The path carrying live view: its answer takes the connection and ends with it
/// (`Connection: close`), so the door makes it the last request. It is forwarded with
/// `Connection: close` and the door half-closes its side towards tiny_http, so tiny_http
/// stops reading requests and shuts its side once the stream's writer is dropped; the
/// door then sees the end and closes the client's side at once. (Without that, tiny_http
/// would wait for a next request that the client, told `Connection: close`, never sends,
/// and the client would see the end only at the door's idle deadline.)
const LIVEVIEW_PATH: &str = "/api/camera/liveview";

/// The paths whose request is the last on its connection (both answers take it and end
/// with it); `api` says `Connection: close` in their answers.
pub const LAST_ON_CONNECTION: [&str; 2] = [EVENTS_PATH, LIVEVIEW_PATH];

fn is_path(head: &Head, path: &str) -> bool {
    head.method == "GET"
        && (head.path == path
            || head
                .path
                .strip_prefix(path)
                .is_some_and(|q| q.starts_with('?')))
}

/// What the door allows. Built from `[server]`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections open at once from the LAN; beyond it, 503 and close.
    pub max_connections: usize,
    /// Connections open at once from one client address (one tablet needs ~8).
    pub per_client: usize,
    /// Extra connections only the box itself (127.0.0.1, ::1) may use, so the watchdog's
    /// health check gets in while the LAN has used up `max_connections`.
    pub loopback_reserve: usize,
    /// Request line and headers together.
    pub max_head_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: usize,
    /// Between requests on a kept-alive connection.
    pub idle: Duration,
    /// From a request's first byte to the end of its head.
    pub head: Duration,
    /// From the end of the head to the end of the body.
    pub body: Duration,
    /// A write to the client (or to tiny_http) that makes no progress.
    pub write: Duration,
    /// Requests per client address and per token (429 beyond), shared with the API.
    pub requests: Arc<limits::RequestLimits>,
}

impl Limits {
    /// Descriptors one admitted connection holds: the TCP socket, the door's Unix socket,
    /// and tiny_http's end of it (which tiny_http clones once more).
    pub const FDS_PER_CONNECTION: usize = 4;
}

/// Where the tiny_http generation taking new connections listens; the API's acceptor
/// renewal swaps it.
pub type Upstream = Arc<RwLock<PathBuf>>;

/// A connection's halves: a TCP socket's, or a TLS stream's once its handshake is done.
type OwnedReadHalf = Box<dyn AsyncRead + Send + Unpin>;
type OwnedWriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Starts the door on `listener`; it runs until `stop` is cancelled, and the returned
/// task ends once every connection task has let go.
pub fn spawn(
    listener: std::net::TcpListener,
    limits: Limits,
    upstream: Upstream,
    stop: CancellationToken,
) -> io::Result<JoinHandle<()>> {
    tls::spawn_with_tls(listener, None, limits, upstream, stop)
}

struct Door {
    limits: Limits,
    upstream: Upstream,
    stop: CancellationToken,
    counts: Mutex<Counts>,
    /// Refused connections are counted and logged at most every few seconds, so a flood
    /// does not flood the journal too.
    refused: Mutex<RefusalLog>,
    /// HTTPS is on: plain HTTP from the LAN gets only what [`tls::plain_answer`] allows.
    tls: Option<tls::Tls>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

#[derive(Default)]
struct RefusalLog {
    since_last: u64,
    last: Option<Instant>,
}

/// An admitted connection's place in the counts, given back on drop.
struct Ticket {
    door: Arc<Door>,
    ip: IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut c = self.door.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_client.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_client.remove(&self.ip);
            }
        }
    }
}

fn is_the_box(ip: IpAddr) -> bool {
    ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

impl Door {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, &'static str> {
        let l = &self.limits;
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let own = is_the_box(ip);
        let cap = if own {
            l.max_connections + l.loopback_reserve
        } else {
            l.max_connections
        };
        if c.total >= cap {
            return Err("the box has as many connections open as it allows");
        }
        let mine = c.per_client.entry(ip).or_insert(0);
        if !own && *mine >= l.per_client {
            return Err("this client has as many connections open as one client may");
        }
        *mine += 1;
        c.total += 1;
        Ok(Ticket {
            door: self.clone(),
            ip,
        })
    }

    fn note_refusal(&self, peer: SocketAddr, why: &str) {
        let mut r = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        r.since_last += 1;
        if r.last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            log::warn!(client = peer.ip().to_string().as_str(), refused = r.since_last;
                "refused {} connection(s): {why}", r.since_last);
            r.since_last = 0;
            r.last = Some(Instant::now());
        }
    }
}

async fn accept_loop(listener: TcpListener, door: Arc<Door>) {
    let mut last_error: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = door.stop.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((sock, peer)) => {
                // Per connection: Linux does not inherit TCP_NODELAY from the listener.
                let _ = sock.set_nodelay(true);
                match door.admit(peer.ip()) {
                    Ok(ticket) => {
                        let door = door.clone();
                        tokio::spawn(async move {
                            Connection::new(sock, peer, door).serve().await;
                            drop(ticket);
                        });
                    }
                    Err(why) => {
                        door.note_refusal(peer, why);
                        // One non-blocking write into the fresh socket's empty send buffer,
                        // then the descriptor goes: a flood never holds descriptors.
                        let mut e = ApiError::new(503, "too_many_connections", why);
                        e.headers.push(("Retry-After", "5".into()));
                        let _ = sock.try_write(&answer(e));
                    }
                }
            }
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection reset before accept:
                // never spin, and say it once in a while.
                if last_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    log::warn!(error = e.to_string().as_str(); "accepting a connection failed: {e}");
                    last_error = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serialises a refusal as a whole HTTP answer that closes the connection.
fn answer(e: ApiError) -> Vec<u8> {
    let reply = e.into_reply();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    bytes
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// The tiny_http side of one connection: where requests go, and the task copying the
/// answers back (it hands the client's write half back when tiny_http closes).
struct Upstreamed {
    to: tokio::net::unix::OwnedWriteHalf,
    copier: JoinHandle<Option<OwnedWriteHalf>>,
}

struct Connection {
    reader: OwnedReadHalf,
    /// The client's write half until the first request goes upstream (the copier owns it
    /// from then on).
    writer: Option<OwnedWriteHalf>,
    peer: SocketAddr,
    door: Arc<Door>,
    /// Bytes read but not yet used (the start of a pipelined request).
    buf: Vec<u8>,
    up: Option<Upstreamed>,
    /// Cancelled when tiny_http closed its side: nothing more can be answered.
    upstream_closed: CancellationToken,
    /// Arrived over TLS.
    secure: bool,
}

impl Connection {
    fn new(sock: TcpStream, peer: SocketAddr, door: Arc<Door>) -> Connection {
        let (reader, writer) = sock.into_split();
        Connection::from_halves(Box::new(reader), Box::new(writer), peer, door, false)
    }

    fn from_halves(
        reader: OwnedReadHalf,
        writer: OwnedWriteHalf,
        peer: SocketAddr,
        door: Arc<Door>,
        secure: bool,
    ) -> Connection {
        Connection {
            reader,
            writer: Some(writer),
            peer,
            door,
            buf: Vec::with_capacity(4096),
            up: None,
            upstream_closed: CancellationToken::new(),
            secure,
        }
    }

    async fn serve(mut self) {
        let stop = self.door.stop.clone();
        let closed = self.upstream_closed.clone();
        let mut streaming = false;
        let mut last = false;
        let end = loop {
            let next = tokio::select! {
                _ = stop.cancelled() => Err(Stop::Quiet),
                _ = closed.cancelled() => Err(Stop::Quiet),
                r = self.next_request(streaming, last) => r,
            };
            match next {
                Ok((mut head, body)) => {
                    let token = limits::token_of(&head.headers, &head.path);
                    let ip = self.peer.ip();
                    if let Err(e) =
                        self.door
                            .limits
                            .requests
                            .check(ip, token.as_deref(), is_the_box(ip))
                    {
                        break Stop::Refuse(e);
                    }
                    if !self.secure
                        && let Some(t) = &self.door.tls
                        && let Some(a) = tls::plain_answer(t, &head, self.peer)
                    {
                        break Stop::Answer(a);
                    }
                    streaming = is_path(&head, EVENTS_PATH);
                    // Both answers take the connection and end with it.
                    last = LAST_ON_CONNECTION.iter().any(|p| is_path(&head, p));
                    if last {
                        head.make_last();
                    }
                    if let Err(e) = self.forward(&head, &body).await {
                        log::debug!(client = self.peer.to_string().as_str(); "could not hand a request to the API: {e}");
                        break Stop::Quiet;
                    }
                    if last && let Some(up) = self.up.as_mut() {
                        // Half-close towards tiny_http: no request follows this one.
                        let _ = up.to.shutdown().await;
                    }
                }
                Err(s) => break s,
            }
        };
        self.finish(end).await;
    }

    /// Reads one whole request: the head under the idle and head deadlines, the body
    /// under the body deadline. After an event stream was asked for, there is no idle
    /// deadline (the stream ends with the connection).
    /// After the last request (`last`), no more are read and there is no idle deadline
    /// (the answer is a stream): the client's end, or its half-close, ends the wait.
    async fn next_request(&mut self, streaming: bool, last: bool) -> Result<(Head, Vec<u8>), Stop> {
        if last {
            self.until_client_ends().await;
            return Err(Stop::Quiet);
        }
        let l = self.door.limits.clone();
        if self.buf.is_empty() {
            // Between requests: wait for the first byte, or let the connection go.
            let first = if streaming {
                Ok(self.fill().await)
            } else {
                timeout(l.idle, self.fill()).await
            };
            match first {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(Stop::Quiet),
                Ok(Ok(_)) => {}
            }
        }
        let head_deadline = tokio::time::Instant::now() + l.head;
        let (used, head) = loop {
            if let Some(parsed) = parse_head(&self.buf, &l)? {
                break parsed;
            }
            if self.buf.len() >= l.max_head_bytes {
                return Err(too_long_head(&l));
            }
            match tokio::time::timeout_at(head_deadline, self.fill()).await {
                Err(_) => return Err(timed_out("request head")),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(Stop::Quiet),
                Ok(Ok(_)) => {}
            }
        };
        self.buf.drain(..used);
        let body_deadline = tokio::time::Instant::now() + l.body;
        let body = loop {
            match head.body {
                BodyKind::Length(n) if self.buf.len() >= n => {
                    break self.buf.drain(..n).collect::<Vec<u8>>();
                }
                BodyKind::Length(_) => {}
                BodyKind::Chunked => {
                    if let Some((used, body)) = parse_chunked(&self.buf, &l)? {
                        self.buf.drain(..used);
                        break body;
                    }
                }
            }
            match tokio::time::timeout_at(body_deadline, self.fill()).await {
                Err(_) => return Err(timed_out("request body")),
                // A body cut short: nothing to answer it to.
                Ok(Ok(0)) | Ok(Err(_)) => return Err(Stop::Quiet),
                Ok(Ok(_)) => {}
            }
        };
        Ok((head, body))
    }

    /// Reads and drops what the client sends after its last request, until it closes (or
    /// half-closes) its side.
    async fn until_client_ends(&mut self) {
        let mut sink = [0u8; 8192];
        while let Ok(n) = self.reader.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    }

    /// Reads what the client has sent into `buf`; 0 at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.reader.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn forward(&mut self, head: &Head, body: &[u8]) -> io::Result<()> {
        if self.up.is_none() {
            let path = self
                .door
                .upstream
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let unix = UnixStream::connect(&path).await?;
            let (from, to) = unix.into_split();
            let writer = self.writer.take().ok_or_else(|| {
                io::Error::new(io::ErrorKind::BrokenPipe, "the client's writer is gone")
            })?;
            let copier = tokio::spawn(copy_answers(
                from,
                writer,
                self.door.limits.write,
                self.upstream_closed.clone(),
            ));
            self.up = Some(Upstreamed { to, copier });
        }
        let up = self.up.as_mut().expect("connected above");
        let bytes = forward_bytes(head, body, self.peer);
        match timeout(self.door.limits.write, up.to.write_all(&bytes)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the API did not take the request",
            )),
        }
    }

    /// Ends the connection: earlier answers first, then the door's refusal if any.
    async fn finish(mut self, end: Stop) {
        let writer = match self.up.take() {
            None => self.writer.take(),
            Some(Upstreamed { to, copier }) => {
                // tiny_http sees the end of the requests, answers what it has, closes.
                drop(to);
                // Bounded: a capture with its countdown and retries is the slowest answer.
                match timeout(Duration::from_secs(120), copier).await {
                    Ok(Ok(w)) => w,
                    _ => None,
                }
            }
        };
        let Some(mut w) = writer else { return };
        let said = match end {
            Stop::Refuse(e) => {
                let status = e.status;
                log::info!(client = self.peer.ip().to_string().as_str(), status = status, code = e.code;
                    "refused at the door: {} {}", status, e.code);
                Some(answer(e))
            }
            Stop::Answer(a) => Some(a),
            Stop::Quiet => None,
        };
        if let Some(said) = said {
            let _ = timeout(self.door.limits.write, w.write_all(&said)).await;
            let _ = w.shutdown().await;
            // Read what the client is still sending for a moment, so closing with unread
            // bytes does not reset the connection before the answer is read.
            let mut sink = [0u8; 8192];
            let until = tokio::time::Instant::now() + Duration::from_secs(1);
            let mut drained = 0usize;
            while drained < 1 << 20 {
                match tokio::time::timeout_at(until, self.reader.read(&mut sink)).await {
                    Ok(Ok(n)) if n > 0 => drained += n,
                    _ => break,
                }
            }
        } else {
            let _ = w.shutdown().await;
        }
    }
}

/// Copies tiny_http's answers to the client until tiny_http closes; hands the client's
/// write half back (None when the client stopped taking bytes).
async fn copy_answers(
    mut from: tokio::net::unix::OwnedReadHalf,
    mut to: OwnedWriteHalf,
    write_timeout: Duration,
    closed: CancellationToken,
) -> Option<OwnedWriteHalf> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut usable = true;
    loop {
        let mut len = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // tiny_http writes an answer in pieces (status line, headers, body through a
        // 1 KB buffer): take what is already there so it goes out in one write.
        let mut ended = false;
        while len < buf.len() {
            match from.try_read(&mut buf[len..]) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => len += n,
                Err(_) => break,
            }
        }
        match timeout(write_timeout, to.write_all(&buf[..len])).await {
            Ok(Ok(())) => {}
            _ => {
                usable = false;
                break;
            }
        }
        if ended {
            break;
        }
    }
    closed.cancel();
    usable.then_some(to)
}

#[cfg(test)]
mod tests;
