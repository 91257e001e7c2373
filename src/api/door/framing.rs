//! Request framing for the door: a request head parsed and checked with `httparse`
//! (size, header count, `Content-Length`, `Transfer-Encoding`, `Expect`), chunked bodies
//! decoded and counted, and the request rewritten as tiny_http gets it (explicit length,
//! the client's address in [`PEER_HEADER`]).

use std::net::SocketAddr;

use super::{Limits, PEER_HEADER};
use crate::api::ApiError;

/// One request head, checked.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) method: String,
    pub(super) path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(super) version: u8,
    /// As sent, minus framing headers the door rewrites and [`PEER_HEADER`].
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) body: BodyKind,
}

#[derive(Debug, PartialEq)]
pub(super) enum BodyKind {
    Length(usize),
    Chunked,
}

/// Why a connection stops reading requests.
#[derive(Debug)]
pub(super) enum Stop {
    /// The client closed, went quiet between requests, or the daemon is stopping.
    Quiet,
    /// Answer this, then close.
    Refuse(ApiError),
    /// Send these bytes (a whole answer the door makes itself), then close.
    Answer(Vec<u8>),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Refuse(e)
    }
}

fn bad(message: impl Into<String>) -> Stop {
    Stop::Refuse(ApiError::new(400, "malformed_request", message))
}

/// Parses a complete head out of `buf`: `Ok(None)` when more bytes are needed.
pub(super) fn parse_head(buf: &[u8], l: &Limits) -> Result<Option<(usize, Head)>, Stop> {
    let mut slots = vec![httparse::EMPTY_HEADER; l.max_headers];
    let mut rq = httparse::Request::new(&mut slots);
    let n = match rq.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Stop::Refuse(ApiError::new(
                431,
                "headers_too_large",
                format!("a request may carry at most {} headers", l.max_headers),
            )));
        }
        Err(e) => return Err(bad(format!("the request is not valid HTTP/1.1: {e}"))),
    };
    if n > l.max_head_bytes {
        return Err(too_long_head(l));
    }
    let method = rq.method.unwrap_or_default().to_string();
    let path = rq.path.unwrap_or_default().to_string();
    let version = rq.version.unwrap_or(1);
    let mut headers = Vec::with_capacity(rq.headers.len());
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for h in rq.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case(PEER_HEADER) {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| bad("Content-Length must be a number of bytes"))?;
            let declared = v.parse::<u64>().unwrap_or(u64::MAX);
            if declared > l.max_body_bytes as u64 {
                return Err(ApiError::too_large(l.max_body_bytes).into());
            }
            let declared = declared as usize;
            if length.is_some_and(|n| n != declared) {
                return Err(bad("two different Content-Length headers"));
            }
            length = Some(declared);
            continue;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if !h.value.eq_ignore_ascii_case(b"chunked") || chunked {
                return Err(bad(
                    "the only transfer coding accepted is a single `chunked`",
                ));
            }
            chunked = true;
            continue;
        }
        if name.eq_ignore_ascii_case("expect") {
            // The door reads the whole body before tiny_http sees the request, so
            // "100-continue" is answered by reading (a client waits briefly, then sends).
            if !h.value.eq_ignore_ascii_case(b"100-continue") {
                return Err(Stop::Refuse(ApiError::new(
                    417,
                    "expectation_failed",
                    "only `Expect: 100-continue` is understood",
                )));
            }
            continue;
        }
        // tiny_http keeps header values as ASCII and drops the connection without an
        // answer on anything else: refuse such a request here, with a reason.
        if !h.value.is_ascii() {
            return Err(bad(format!(
                "the {name} header's value must be plain ASCII"
            )));
        }
        headers.push((name.to_string(), h.value.to_vec()));
    }
    let body = match (length, chunked) {
        (Some(_), true) => {
            return Err(bad(
                "Content-Length and Transfer-Encoding together are refused",
            ));
        }
        (Some(n), false) => BodyKind::Length(n),
        (None, true) if version == 0 => return Err(bad("HTTP/1.0 has no chunked bodies")),
        (None, true) => BodyKind::Chunked,
        (None, false) => BodyKind::Length(0),
    };
    Ok(Some((
        n,
        Head {
            method,
            path,
            version,
            headers,
            body,
        },
    )))
}

impl Head {
    /// Makes this the last request on its connection for tiny_http: the client's
    /// `Connection` header is replaced by `Connection: close`.
    pub(super) fn make_last(&mut self) {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("connection"));
        self.headers.push(("Connection".into(), b"close".to_vec()));
    }
}

pub(super) fn too_long_head(l: &Limits) -> Stop {
    Stop::Refuse(ApiError::new(
        431,
        "headers_too_large",
        format!(
            "the request line and headers may take at most {} bytes",
            l.max_head_bytes
        ),
    ))
}

pub(super) fn timed_out(what: &str) -> Stop {
    Stop::Refuse(ApiError::new(
        408,
        "request_timeout",
        format!("the {what} did not arrive in time"),
    ))
}

/// Decodes one chunked body held whole in `buf`: `Ok(None)` when more bytes are needed,
/// else the bytes it took and the decoded body.
pub(super) fn parse_chunked(buf: &[u8], l: &Limits) -> Result<Option<(usize, Vec<u8>)>, Stop> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let (used, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(bad("a chunk size is not valid")),
        };
        pos += used;
        if size == 0 {
            break;
        }
        if body.len() as u64 + size > l.max_body_bytes as u64 {
            return Err(ApiError::too_large(l.max_body_bytes).into());
        }
        let size = size as usize;
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(bad("a chunk does not end with CRLF"));
        }
        pos += size + 2;
    }
    // Trailer fields (ignored) up to the empty line.
    loop {
        let rest = &buf[pos..];
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            if rest.len() > l.max_head_bytes {
                return Err(too_long_head(l));
            }
            return Ok(None);
        };
        pos += eol + 2;
        if eol == 0 {
            return Ok(Some((pos, body)));
        }
    }
}

/// The request as tiny_http gets it: framing made explicit, the peer added.
pub(super) fn forward_bytes(head: &Head, body: &[u8], peer: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(
        format!("{} {} HTTP/1.{}\r\n", head.method, head.path, head.version).as_bytes(),
    );
    for (k, v) in &head.headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || head.method != "GET" {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(format!("{PEER_HEADER}: {peer}\r\n\r\n").as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::time::Duration;

    pub(in crate::api::door) fn limits() -> Limits {
        Limits {
            max_connections: 4,
            per_client: 2,
            loopback_reserve: 1,
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1000,
            idle: Duration::from_secs(1),
            head: Duration::from_secs(1),
            body: Duration::from_secs(1),
            write: Duration::from_secs(1),
            requests: std::sync::Arc::new(super::super::limits::RequestLimits::new(
                super::super::limits::Rate {
                    per_minute: 0,
                    burst: 0,
                },
                super::super::limits::Rate {
                    per_minute: 0,
                    burst: 0,
                },
            )),
        }
    }

    fn refusal(r: Result<Option<(usize, Head)>, Stop>) -> (u16, &'static str) {
        match r {
            Err(Stop::Refuse(e)) => (e.status, e.code),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_head_is_parsed_and_the_peer_header_dropped() {
        let raw = b"POST /api/guests?x=1 HTTP/1.1\r\nHost: a\r\nX-Cosmos-Peer: 6.6.6.6:1\r\nContent-Length: 2\r\n\r\n{}";
        let (n, h) = parse_head(raw, &limits()).unwrap().unwrap();
        assert_eq!(&raw[n..], b"{}");
        assert_eq!(
            (h.method.as_str(), h.path.as_str()),
            ("POST", "/api/guests?x=1")
        );
        assert_eq!(h.body, BodyKind::Length(2));
        assert_eq!(h.headers.len(), 1, "{:?}", h.headers);
        let peer: SocketAddr = "10.0.0.7:5000".parse().unwrap();
        let out = String::from_utf8(forward_bytes(&h, b"{}", peer)).unwrap();
        assert!(out.contains("X-Cosmos-Peer: 10.0.0.7:5000\r\n"), "{out}");
        assert!(!out.contains("6.6.6.6"), "{out}");
        assert!(out.contains("Content-Length: 2\r\n"), "{out}");
    }

    #[test]
    fn the_last_request_is_forwarded_with_connection_close() {
        let raw = b"GET /api/camera/liveview HTTP/1.1\r\nConnection: keep-alive\r\nHost: a\r\n\r\n";
        let (_, mut h) = parse_head(raw, &limits()).unwrap().unwrap();
        h.make_last();
        let peer: SocketAddr = "10.0.0.7:5000".parse().unwrap();
        let out = String::from_utf8(forward_bytes(&h, b"", peer)).unwrap();
        assert!(out.contains("Connection: close\r\n"), "{out}");
        assert!(!out.to_ascii_lowercase().contains("keep-alive"), "{out}");
    }

    #[test]
    fn a_partial_head_asks_for_more() {
        assert!(
            parse_head(b"GET /api/health HTTP/1.1\r\nHo", &limits())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn framing_attacks_are_refused_before_any_body_is_read() {
        let l = limits();
        for (raw, want) in [
            (
                &b"GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"[..],
                413,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 184467440737095516160\r\n\r\n",
                413,
            ),
            (b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nExpect: teapot\r\n\r\n", 417),
            (b"GARBAGE\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nLast-Event-ID: \xc2\x84\r\n\r\n", 400),
        ] {
            assert_eq!(
                refusal(parse_head(raw, &l)).0,
                want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            refusal(parse_head(raw.as_bytes(), &l)),
            (431, "headers_too_large")
        );
    }

    #[test]
    fn chunked_bodies_are_decoded_and_counted() {
        let l = limits();
        let (n, body) = parse_chunked(b"2\r\n{}\r\n0\r\n\r\nNEXT", &l)
            .unwrap()
            .unwrap();
        assert_eq!((n, body.as_slice()), (12, &b"{}"[..]));
        assert!(parse_chunked(b"2\r\n{}\r\n0\r\n", &l).unwrap().is_none());
        let big = format!("{:x}\r\n", 1001);
        assert!(matches!(
            parse_chunked(big.as_bytes(), &l),
            Err(Stop::Refuse(ApiError { status: 413, .. }))
        ));
    }
}
