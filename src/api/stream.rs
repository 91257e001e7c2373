//! `GET /api/events`: Server-Sent Events. The worker thread hands the connection to a
//! thread of its own (streams are long-lived; tiny_http's workers must stay free), which
//! writes the events the caller's role may see, a keep-alive comment every
//! [`KEEP_ALIVE`], and ends when the client goes away or the daemon stops.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Context;
use crate::access::Role;
use crate::events::{Catchup, Event};

/// Streams beyond this get 503: each one holds a thread.
pub const MAX_STREAMS: usize = 32;

fn frame(e: &Event) -> String {
    format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        e.id,
        e.topic.as_str(),
        e.data
    )
}

pub fn start(ctx: &Context, rq: tiny_http::Request, role: Role, after: u64) {
    if ctx.streams.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
        ctx.streams.fetch_sub(1, Ordering::SeqCst);
        let body = r#"{"error":{"code":"too_many_streams","message":"too many event streams are open; try again shortly"}}"#;
        let resp = tiny_http::Response::from_string(body)
            .with_status_code(503)
            .with_header(tiny_http::Header::from_bytes("Retry-After", "5").expect("static header"));
        let _ = rq.respond(resp);
        return;
    }
    let events = ctx.events.clone();
    let counter = ctx.streams.clone();
    // Quiet streams get a comment this often, so proxies and tablets keep them open and
    // a dead client is noticed.
    let keep_alive = ctx.config.server.events_keepalive;
    let on_error = ctx.streams.clone();
    let spawned = std::thread::Builder::new()
        .name("sse".into())
        .spawn(move || {
            let mut w = rq.into_writer();
            let _ = serve(&mut *w, &events, role, after, keep_alive);
            counter.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        on_error.fetch_sub(1, Ordering::SeqCst);
        log::error!("could not start an event stream thread: {e}");
    }
}

fn serve(
    w: &mut dyn Write,
    events: &crate::events::Events,
    role: Role,
    mut last: u64,
    keep_alive: Duration,
) -> std::io::Result<()> {
    w.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
          Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n\
          retry: 2000\n\n",
    )?;
    w.flush()?;
    loop {
        match events.after(last, keep_alive) {
            Catchup::Closed => return Ok(()),
            Catchup::Reset => {
                last = events.last_id();
                write!(w, "id: {last}\nevent: reset\ndata: {{}}\n\n")?;
            }
            Catchup::Events(v) if v.is_empty() => w.write_all(b": keep-alive\n\n")?,
            Catchup::Events(v) => {
                for e in v {
                    last = e.id;
                    if e.topic.for_role(role) {
                        w.write_all(frame(&e).as_bytes())?;
                    }
                }
            }
        }
        w.flush()?;
    }
}
