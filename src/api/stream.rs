//! `GET /api/events`: Server-Sent Events. The worker thread hands the connection to a
//! thread of its own (streams are long-lived; tiny_http's workers must stay free), which
//! writes the events the caller's role may see, a keep-alive comment every
//! keep-alive comment every `server.events_keepalive`, and ends when the client goes
//! away or the daemon stops.
//!
//! The only place events are serialised: each [`Change`] becomes one frame whose
//! `event:` is its topic and whose `data:` is one JSON object ([`EventData`]).

use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::wire::{AlertKind, MailStatus, PhotoKind};
use super::{ApiError, Call, Context, ErrorBody, Reply};
use crate::access::Role;
use crate::events::{Catchup, Change, Event, Topic};

/// Streams beyond this get 503: each one holds a thread.
pub const MAX_STREAMS: usize = 32;

/// An event's `event:` name: what to refetch (`reset`: everything).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    Waitlist,
    Show,
    Photo,
    Camera,
    Mail,
    Alerts,
    Reset,
}

impl From<Topic> for EventName {
    fn from(t: Topic) -> Self {
        match t {
            Topic::Waitlist => EventName::Waitlist,
            Topic::Show => EventName::Show,
            Topic::Photo => EventName::Photo,
            Topic::Camera => EventName::Camera,
            Topic::Mail => EventName::Mail,
            Topic::Alerts => EventName::Alerts,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UplinkChange {
    Up,
    Down,
}

/// An event's `data:`: ids and states only, never a guest's name or email.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventData {
    /// A route changed something.
    Api { method: String, route: String },
    /// A photo was stored.
    Photo {
        show_id: String,
        photo_id: String,
        kind: PhotoKind,
    },
    /// The camera's connection or capture state changed.
    Camera { connected: bool, busy: bool },
    /// The mail relay became reachable or unreachable.
    Uplink { uplink: UplinkChange },
    /// A message was tried.
    Mail {
        message_id: String,
        status: MailStatus,
    },
    /// An alert was raised, cleared or acknowledged (refetch `GET /api/alerts`).
    Alert {
        alert_id: String,
        kind: AlertKind,
        change: AlertChange,
    },
    /// `reset`: the client must refetch everything.
    Reset {},
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertChange {
    Raised,
    Cleared,
    Acknowledged,
}

impl From<&Change> for EventData {
    fn from(c: &Change) -> Self {
        match c {
            Change::Api { method, route, .. } => EventData::Api {
                method: method.to_string(),
                route: route.to_string(),
            },
            Change::PhotoStored {
                show_id,
                photo_id,
                kind,
            } => EventData::Photo {
                show_id: show_id.clone(),
                photo_id: photo_id.clone(),
                kind: (*kind).into(),
            },
            Change::Camera { connected, busy } => EventData::Camera {
                connected: *connected,
                busy: *busy,
            },
            Change::Uplink { up } => EventData::Uplink {
                uplink: if *up {
                    UplinkChange::Up
                } else {
                    UplinkChange::Down
                },
            },
            Change::Mail { message_id, status } => EventData::Mail {
                message_id: message_id.clone(),
                status: (*status).into(),
            },
            Change::Alert {
                alert_id,
                kind,
                change,
            } => EventData::Alert {
                alert_id: alert_id.clone(),
                kind: (*kind).into(),
                change: match change {
                    crate::events::AlertChange::Raised => AlertChange::Raised,
                    crate::events::AlertChange::Cleared => AlertChange::Cleared,
                    crate::events::AlertChange::Acknowledged => AlertChange::Acknowledged,
                },
            },
        }
    }
}

/// One Server-Sent Events frame, as `id:`, `event:` and `data:` lines (documentation of
/// the `text/event-stream` body; the stream also carries `: keep-alive` comments).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventFrame {
    /// Increasing for the daemon's lifetime; send it back as `Last-Event-ID`.
    pub id: u64,
    pub event: EventName,
    pub data: EventData,
}

fn frame(id: u64, name: EventName, data: &EventData) -> String {
    // Plain enums and strings: serialising cannot fail.
    let data = serde_json::to_string(data).expect("event data always serialises");
    let name = serde_json::to_value(name).expect("an event name always serialises");
    let name = name.as_str().unwrap_or_default();
    format!("id: {id}\nevent: {name}\ndata: {data}\n\n")
}

fn event_frame(e: &Event) -> String {
    frame(e.id, e.topic().into(), &EventData::from(&e.change))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The session token, for EventSource (it cannot send headers).
    #[allow(dead_code)] // read by the pipeline's authentication
    token: Option<String>,
    /// Resume after this event (as `Last-Event-ID` does).
    #[serde(default, deserialize_with = "event_id")]
    #[param(value_type = Option<u64>, minimum = 0)]
    last_event_id: Option<u64>,
}

fn event_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(v) if v.trim().is_empty() => Err(serde::de::Error::custom(
            "is empty: give an event number or leave the parameter out",
        )),
        v => parse_event_id(v.as_deref()).map_err(serde::de::Error::custom),
    }
}

fn parse_event_id(v: Option<&str>) -> Result<Option<u64>, &'static str> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        // Event ids are int64 in the document: anything larger was never sent.
        Some(v) => v
            .parse::<i64>()
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .map(Some)
            .ok_or("is an event number"),
    }
}

#[utoipa::path(get, path = "/api/events", tag = "events",
    summary = "Server-Sent Events: waitlist, show, photo, camera and mail changes (kiosks: the waitlist only)",
    description = "Each frame is `id:`, `event:` (the topic, or `reset` when the client must refetch \
        everything) and `data:` (one JSON object: ids and states only). A `: keep-alive` comment \
        comes when quiet. `Last-Event-ID` (or `?last_event_id=`) resumes after that event.",
    params(EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this event")),
    responses(
        (status = 200, description = "the event stream", content_type = "text/event-stream", body = EventFrame),
        (status = 422, description = "a bad event id (named)", body = ErrorBody),
        (status = 429, description = "`too_many_streams_for_token`: this token already holds as many streams as it may (see Retry-After)", body = ErrorBody),
        (status = 503, description = "`too_many_streams`: too many streams are open; the last few are kept for the host (see Retry-After)", body = ErrorBody),
    ))]
pub fn get_events(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let role = call.role.ok_or_else(ApiError::internal)?;
    let q: EventsQuery = call.query()?;
    // A bad header is refused even when the query names the event (which wins).
    let header = parse_event_id(call.last_event_id.as_deref()).map_err(|_| {
        ApiError::invalid(
            "Last-Event-ID",
            "bad_event_id",
            "Last-Event-ID is an event number",
        )
    })?;
    let after = q
        .last_event_id
        .or(header)
        .unwrap_or_else(|| ctx.events.last_id());
    Ok(Reply::events(role, after, call.token_hash.clone()))
}

/// Streams at most open at once, and how many of them only the host may take.
pub const HOST_RESERVED_STREAMS: usize = 4;
/// Streams one token may hold (a tablet reconnecting, two tabs, a stale one not yet gone).
pub const STREAMS_PER_TOKEN: usize = 4;

/// The open streams, in total and per session token.
#[derive(Default)]
pub struct Slots {
    open: std::sync::Mutex<(usize, std::collections::HashMap<String, usize>)>,
}

impl Slots {
    /// Takes a slot, or says which cap stands in the way.
    fn take(&self, role: Role, token: Option<&str>) -> Result<(), &'static str> {
        let mut g = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per) = &mut *g;
        let cap = if role == Role::Host {
            MAX_STREAMS
        } else {
            MAX_STREAMS - HOST_RESERVED_STREAMS
        };
        if *total >= cap {
            return Err("too_many_streams");
        }
        if let Some(t) = token {
            let n = per.entry(t.to_string()).or_default();
            if *n >= STREAMS_PER_TOKEN {
                return Err("too_many_streams_for_token");
            }
            *n += 1;
        }
        *total += 1;
        Ok(())
    }

    fn give_back(&self, token: Option<&str>) {
        let mut g = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per) = &mut *g;
        *total = total.saturating_sub(1);
        if let Some(t) = token
            && let Some(n) = per.get_mut(t)
        {
            *n -= 1;
            if *n == 0 {
                per.remove(t);
            }
        }
    }
}

pub fn start(
    ctx: &Context,
    rq: tiny_http::Request,
    role: Role,
    after: u64,
    token_hash: Option<String>,
) {
    if let Err(code) = ctx.streams.take(role, token_hash.as_deref()) {
        let (status, message) = match code {
            "too_many_streams" => (503, "too many event streams are open; try again shortly"),
            _ => (
                429,
                "this token already has as many event streams open as it may",
            ),
        };
        let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
        let headers = [
            ("Content-Type", "application/json".to_string()),
            ("Retry-After", "5".to_string()),
        ];
        // The door made this the connection's last request: the answer says so.
        let _ = super::respond_closing(rq, status, &headers, body.as_bytes());
        return;
    }
    let events = ctx.events.clone();
    let slots = ctx.streams.clone();
    let store = ctx.store.clone();
    // Quiet streams get a comment this often, so proxies and tablets keep them open and
    // a dead client is noticed.
    let keep_alive = ctx.config.server.events_keepalive;
    let on_error = ctx.streams.clone();
    let hash = token_hash.clone();
    let spawned = std::thread::Builder::new()
        .name("sse".into())
        .spawn(move || {
            let mut w = rq.into_writer();
            // A session token is looked at on every wake: revoked or expired, the stream ends.
            let valid = || match &hash {
                None => true,
                Some(h) => !matches!(store.session(h, chrono::Utc::now()), Ok(None)),
            };
            let _ = serve(&mut *w, &events, role, after, keep_alive, &valid);
            slots.give_back(hash.as_deref());
        });
    if let Err(e) = spawned {
        on_error.give_back(token_hash.as_deref());
        log::error!("could not start an event stream thread: {e}");
    }
}

fn serve(
    w: &mut dyn Write,
    events: &crate::events::Events,
    role: Role,
    mut last: u64,
    keep_alive: Duration,
    valid: &dyn Fn() -> bool,
) -> std::io::Result<()> {
    w.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
          Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n\
          retry: 2000\n\n",
    )?;
    w.flush()?;
    loop {
        let next = events.after(last, keep_alive);
        if !valid() {
            log::info!(role = role.as_str(); "event stream ended: its token was revoked or expired");
            return Ok(());
        }
        match next {
            Catchup::Closed => return Ok(()),
            Catchup::Reset => {
                last = events.last_id();
                w.write_all(frame(last, EventName::Reset, &EventData::Reset {}).as_bytes())?;
            }
            Catchup::Events(v) if v.is_empty() => w.write_all(b": keep-alive\n\n")?,
            Catchup::Events(v) => {
                for e in v {
                    last = e.id;
                    if e.topic().for_role(role) {
                        w.write_all(event_frame(&e).as_bytes())?;
                    }
                }
            }
        }
        w.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_topic_and_one_json_object() {
        let e = Event {
            id: 7,
            change: Change::Mail {
                message_id: "m_1".into(),
                status: crate::show::MailStatus::Sent,
            },
        };
        assert_eq!(
            event_frame(&e),
            "id: 7\nevent: mail\ndata: {\"message_id\":\"m_1\",\"status\":\"sent\"}\n\n"
        );
        assert_eq!(
            frame(9, EventName::Reset, &EventData::Reset {}),
            "id: 9\nevent: reset\ndata: {}\n\n"
        );
    }
}
