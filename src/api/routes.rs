//! The route table (method, path, roles, handler) and the handlers. Handlers turn JSON
//! into domain drafts, call the store, and turn results back into JSON; they hold no
//! rules of their own.

use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{ApiError, Call, Context, Reply};
use crate::access::{self, Role};
use crate::events::Topic;
use crate::health;
use crate::outbox::Uplink;
use crate::photos::Variant;
use crate::show::MailStatus;
use crate::show::{
    self, Element, Energy, GuestDraft, GuestStatus, Language, ScheduleRules, ShowAction,
};
use crate::store::{Guest, Mail, Photo, Show, ShowDraft, ShowPatch};

type Handler = fn(&Context, &Call) -> Result<Reply, ApiError>;

/// One row of the route table.
#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    /// `{id}` marks a path parameter.
    pub path: &'static str,
    /// Roles allowed; empty = public. The host may also use every kiosk route.
    pub roles: &'static [Role],
    /// Whether the route takes a JSON body.
    pub body: bool,
    /// What a successful call changes, for the event streams (pages refetch from there).
    pub changes: &'static [Topic],
    pub(super) handler: Handler,
}

const HOST: &[Role] = &[Role::Host];
const SHOW_CONTROL: &[Role] = &[Role::ShowControl, Role::Host];
const KIOSK: &[Role] = &[Role::Kiosk];
const ANY: &[Role] = &[Role::Kiosk, Role::Host, Role::Technician, Role::ShowControl];
const PUBLIC: &[Role] = &[];

macro_rules! route {
    ($m:literal $p:literal $roles:expr, $body:literal => $h:expr) => {
        route!($m $p $roles, $body => $h; [])
    };
    ($m:literal $p:literal $roles:expr, $body:literal => $h:expr; [$($t:ident),*]) => {
        Route {
            method: $m,
            path: $p,
            roles: $roles,
            body: $body,
            changes: &[$(Topic::$t),*],
            handler: $h,
        }
    };
}

/// Every route of the API. The OpenAPI document and the role-matrix test are checked against it.
pub static ROUTES: &[Route] = &[
    route!("GET" "/api/health" PUBLIC, false => get_health),
    route!("GET" "/api/openapi.json" PUBLIC, false => get_openapi),
    route!("POST" "/api/session" PUBLIC, true => post_session),
    route!("DELETE" "/api/session" ANY, false => delete_session),
    route!("GET" "/api/questionnaire" PUBLIC, false => get_questionnaire),
    route!("POST" "/api/guests" KIOSK, true => post_guest; [Waitlist]),
    route!("GET" "/api/guests" HOST, false => list_guests),
    route!("GET" "/api/guests/{id}" HOST, false => get_guest),
    route!("PATCH" "/api/guests/{id}" HOST, true => patch_guest; [Waitlist]),
    route!("DELETE" "/api/guests/{id}" HOST, false => delete_guest; [Waitlist]),
    route!("POST" "/api/shows" HOST, true => post_show; [Show, Waitlist]),
    route!("GET" "/api/shows" HOST, false => list_shows),
    // Before `/api/shows/{id}`, which would take "next-start" for an id.
    route!("GET" "/api/shows/next-start" HOST, false => get_next_start),
    route!("GET" "/api/shows/{id}" HOST, false => get_show),
    route!("PATCH" "/api/shows/{id}" HOST, true => patch_show; [Show, Waitlist]),
    route!("POST" "/api/shows/{id}/cancel" HOST, false => |c, r| act(c, r, ShowAction::Cancel); [Show, Waitlist]),
    route!("POST" "/api/shows/{id}/start" HOST, false => |c, r| act(c, r, ShowAction::Start); [Show]),
    route!("POST" "/api/shows/{id}/pose" HOST, false => |c, r| act(c, r, ShowAction::Pose); [Show]),
    route!("POST" "/api/shows/{id}/spontaneous" SHOW_CONTROL, false => post_spontaneous; [Show]),
    route!("POST" "/api/shows/{id}/capture" HOST, false => post_capture; [Show]),
    route!("POST" "/api/shows/{id}/finish" HOST, false => post_finish; [Show, Waitlist]),
    route!("GET" "/api/photos/{id}" HOST, false => get_photo),
    route!("GET" "/api/photos/{id}/preview" HOST, false => |c, r| photo_file(c, r, Variant::Preview)),
    route!("GET" "/api/photos/{id}/email" HOST, false => |c, r| photo_file(c, r, Variant::Email)),
    route!("GET" "/api/photos/{id}/original" HOST, false => |c, r| photo_file(c, r, Variant::Original)),
    route!("POST" "/api/photos/{id}/approve" HOST, false => approve_photo; [Photo]),
    route!("DELETE" "/api/photos/{id}" HOST, false => delete_photo; [Photo]),
    route!("GET" "/api/outbox" HOST, false => list_outbox),
    route!("POST" "/api/outbox/flush" HOST, false => post_flush; [Mail]),
    route!("POST" "/api/outbox/{id}/retry" HOST, false => post_retry; [Mail]),
    route!("GET" "/api/events" KIOSK, false => get_events),
];

/// Finds the route for `method path`, with its path parameters; 404 or 405 otherwise.
pub fn find(method: &str, path: &str) -> Result<(&'static Route, Vec<String>), ApiError> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut allowed: Vec<&str> = Vec::new();
    for r in ROUTES {
        let pat: Vec<&str> = r.path.split('/').collect();
        if pat.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = pat.iter().zip(&segs).all(|(p, s)| {
            if *p == "{id}" {
                params.push(percent_decode(s));
                !s.is_empty()
            } else {
                p == s
            }
        });
        if !matched {
            continue;
        }
        if r.method == method {
            return Ok((r, params));
        }
        allowed.push(r.method);
    }
    if allowed.is_empty() {
        return Err(ApiError::new(404, "not_found", format!("no route {path}")));
    }
    let mut e = ApiError::new(
        405,
        "method_not_allowed",
        format!("{method} is not allowed here; use {}", allowed.join(", ")),
    );
    e.headers.push(("Allow", allowed.join(", ")));
    Err(e)
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

// ---- JSON in ------------------------------------------------------------------------

/// Parses a body: broken JSON is 400, a wrong type or unknown field is 422 naming the field.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            400,
            "missing_body",
            "this route needs a JSON body",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                let field = match msg.strip_prefix("unknown field `") {
                    Some(rest) => Some(rest.split('`').next().unwrap_or("").to_string()),
                    None if path == "." => None,
                    None => Some(path),
                };
                let code = if field.is_some() && msg.starts_with("unknown field") {
                    "unknown_field"
                } else {
                    "invalid_type"
                };
                let mut e = ApiError::new(422, code, strip_position(&msg));
                e.field = field;
                e
            }
            _ => ApiError::new(
                400,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            400,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 7"; the field name says more to a tablet.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn time_param(field: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    // A literal `+` in a query string decodes to a space; undo that for offsets.
    let v = v.trim().replace(' ', "+");
    DateTime::parse_from_rfc3339(&v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid(
                field,
                "invalid_value",
                format!(
                    "{field} must be an RFC 3339 time with offset, like 2026-11-23T18:00:00+01:00"
                ),
            )
        })
}

fn rules(ctx: &Context) -> ScheduleRules {
    let s = &ctx.config.show;
    ScheduleRules {
        changeover: chrono::Duration::minutes(i64::from(s.changeover_minutes)),
        max_guests: ctx.config.lights.pins.len(),
        default_minutes: s.duration_minutes,
    }
}

fn id(call: &Call) -> &str {
    call.params.first().map(String::as_str).unwrap_or("")
}

// ---- JSON out -----------------------------------------------------------------------

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn guest_json(g: &Guest) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "email": g.email,
        "energy": g.energy.as_str(),
        "element": g.element.as_str(),
        "essence": g.essence,
        "language": g.language.as_str(),
        "status": g.status.as_str(),
        "show_id": g.show_id,
        "created_at": ts(g.created_at),
        "updated_at": ts(g.updated_at),
    })
}

fn photo_json(p: &Photo) -> Value {
    let base = format!("/api/photos/{}", p.id);
    json!({
        "id": p.id,
        "show_id": p.show_id,
        "kind": p.kind.as_str(),
        "state": p.state.as_str(),
        "file": format!("{}.jpg", p.name),
        "captured_at": ts(p.captured_at),
        "width": p.width,
        "height": p.height,
        "bytes": p.bytes,
        "preview_url": format!("{base}/preview"),
        "email_url": format!("{base}/email"),
        "original_url": format!("{base}/original"),
    })
}

fn show_json(s: &Show) -> Value {
    json!({
        "id": s.id,
        "started_at": s.started_at.map(ts),
        "spontaneous": s.spontaneous.as_str(),
        "photos": s.photos.iter().map(photo_json).collect::<Vec<_>>(),
        "start_time": ts(s.slot.start),
        "end_time": ts(s.slot.end),
        "duration_minutes": s.duration_minutes,
        "status": s.status.as_str(),
        "guests": s.guests.iter().map(|sg| {
            let mut g = guest_json(&sg.guest);
            g["marker"] = json!(sg.marker);
            g
        }).collect::<Vec<_>>(),
        "timeline": s.timeline.iter().map(|t| json!({"at": ts(t.at), "event": t.event})).collect::<Vec<_>>(),
        "created_at": ts(s.created_at),
        "updated_at": ts(s.updated_at),
    })
}

/// A message as the host sees it: the address (it is their guest), never the bodies.
fn mail_json(m: &Mail) -> Value {
    json!({
        "id": m.id,
        "message_id": m.message_id,
        "show_id": m.show_id,
        "guest_id": m.guest_id,
        "to": m.recipient,
        "language": m.language.as_str(),
        "subject": m.subject,
        "attachments": m.attachments.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        "status": m.status.as_str(),
        "attempts": m.attempts,
        "last_error": m.last_error,
        "created_at": ts(m.created_at),
        "next_attempt_at": (m.status == MailStatus::Queued).then(|| ts(m.next_attempt_at)),
        "expires_at": ts(m.expires_at),
        "sent_at": m.sent_at.map(ts),
    })
}

pub(crate) fn uplink_json(u: &Uplink) -> Value {
    json!({
        "state": u.state.as_str(),
        "since": ts(u.since),
        "last_error": u.last_error,
        "next_try_at": u.next_try.map(ts),
    })
}

fn items(v: Vec<Value>) -> Value {
    json!({ "items": v })
}

// ---- handlers -----------------------------------------------------------------------

fn get_health(ctx: &Context, _: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(
        200,
        &health::report(
            &ctx.config,
            &ctx.store,
            &ctx.studio,
            &ctx.outbox,
            &ctx.retention,
            ctx.started,
        ),
    ))
}

fn get_openapi(_: &Context, _: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::raw(
        200,
        "application/json; charset=utf-8",
        OPENAPI.as_bytes().to_vec(),
    ))
}

/// The served OpenAPI document (kept true by a test against [`ROUTES`]).
pub const OPENAPI: &str = include_str!("openapi.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    role: Option<String>,
    pin: Option<String>,
}

fn post_session(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: SessionBody = parse(&call.body)?;
    let role_s = b
        .role
        .ok_or_else(|| ApiError::invalid("role", "missing_field", "role is required"))?;
    let role = Role::parse(&role_s).ok_or_else(|| {
        ApiError::invalid(
            "role",
            "invalid_value",
            "role must be one of: kiosk, host, technician, show_control",
        )
    })?;
    let pin = b
        .pin
        .ok_or_else(|| ApiError::invalid("pin", "missing_field", "pin is required"))?;
    let now_i = Instant::now();
    {
        let mut t = ctx.throttle.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(wait) = t.check(call.remote, now_i) {
            return Err(ApiError::throttled(wait.as_secs().max(1)));
        }
        if !access::check_secret(&ctx.config.auth, role, &pin) {
            let locked = t.failed(call.remote, now_i);
            log::warn!(role = role.as_str(), client = call.remote.to_string().as_str(); "failed login");
            if let Some(lock) = locked {
                log::warn!(client = call.remote.to_string().as_str(), lockout_s = lock.as_secs();
                    "login locked out for {} s after repeated failures", lock.as_secs());
            }
            return Err(ApiError::unauthorized(
                "bad_credentials",
                "wrong PIN for this role",
            ));
        }
        t.succeeded(call.remote);
    }
    let token = access::new_token();
    let ttl = chrono::Duration::from_std(access::session_ttl(&ctx.config.auth, role))
        .map_err(|_| ApiError::internal())?;
    let expires = call.now + ttl;
    ctx.store
        .add_session(&access::token_hash(&token), role, call.now, expires)?;
    log::info!(role = role.as_str(); "session opened");
    Ok(Reply::json(
        201,
        &json!({"token": token, "role": role.as_str(), "expires_at": ts(expires)}),
    ))
}

fn delete_session(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    if let Some(h) = &call.token_hash {
        ctx.store.revoke_session(h, call.now)?;
    }
    Ok(Reply::no_content())
}

fn get_questionnaire(ctx: &Context, _: &Call) -> Result<Reply, ApiError> {
    fn named<T: Copy>(
        all: &[T],
        id: fn(T) -> &'static str,
        names: fn(T) -> (&'static str, &'static str),
    ) -> Vec<Value> {
        all.iter()
            .map(|&x| {
                let (es, en) = names(x);
                json!({"id": id(x), "name": {"es": es, "en": en}})
            })
            .collect()
    }
    Ok(Reply::json(
        200,
        &json!({
            "energies": named(Energy::ALL, Energy::as_str, Energy::names),
            "elements": named(Element::ALL, Element::as_str, Element::names),
            "essences": ctx.config.questionnaire.essences.iter()
                .map(|e| json!({"id": e.id, "name": {"es": e.es, "en": e.en}})).collect::<Vec<_>>(),
            "languages": named(Language::ALL, Language::as_str, Language::names),
            "default_language": "es",
            "name_max_chars": show::NAME_MAX_CHARS,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestBody {
    name: Option<String>,
    email: Option<String>,
    energy: Option<String>,
    element: Option<String>,
    essence: Option<String>,
    language: Option<String>,
    consent: Option<bool>,
}

fn post_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: GuestBody = parse(&call.body)?;
    let draft = GuestDraft {
        name: b.name,
        email: b.email,
        energy: b.energy,
        element: b.element,
        essence: b.essence,
        language: b.language,
        consent: b.consent,
    };
    let new = show::validate_guest(&draft, &ctx.config.questionnaire.essences)?;
    let g = ctx.store.add_guest(&new, call.now)?;
    log::info!(guest = g.id.as_str(); "guest joined the waitlist");
    Ok(Reply::json(201, &guest_json(&g)))
}

fn list_guests(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let status = match call.query("status") {
        None | Some("") | Some("all") => None,
        Some(s) => Some(GuestStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "invalid_value",
                "status must be one of: waiting, assigned, done, cancelled, all",
            )
        })?),
    };
    let gs = ctx.store.guests(status)?;
    Ok(Reply::json(
        200,
        &items(gs.iter().map(guest_json).collect()),
    ))
}

fn get_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(200, &guest_json(&ctx.store.guest(id(call))?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestPatchBody {
    name: Option<String>,
    email: Option<String>,
}

fn patch_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: GuestPatchBody = parse(&call.body)?;
    if b.name.is_none() && b.email.is_none() {
        return Err(ApiError::new(
            422,
            "empty_patch",
            "give name and/or email to change",
        ));
    }
    let name = b.name.map(|n| show::validate_name(Some(&n))).transpose()?;
    let email = b
        .email
        .map(|e| show::validate_email(Some(&e)))
        .transpose()?;
    let g = ctx
        .store
        .update_guest(id(call), name.as_deref(), email.as_deref(), call.now)?;
    Ok(Reply::json(200, &guest_json(&g)))
}

fn delete_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let g = ctx.store.cancel_guest(id(call), call.now)?;
    log::info!(guest = g.id.as_str(); "guest cancelled");
    Ok(Reply::json(200, &guest_json(&g)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowBody {
    start_time: Option<String>,
    guest_ids: Option<Vec<String>>,
    duration_minutes: Option<i64>,
}

fn post_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: ShowBody = parse(&call.body)?;
    let rules = rules(ctx);
    let start = b.start_time.ok_or_else(|| {
        ApiError::invalid("start_time", "missing_field", "start_time is required")
    })?;
    let start = time_param("start_time", &start)?;
    show::validate_start(start, call.now)?;
    let guest_ids = b
        .guest_ids
        .ok_or_else(|| ApiError::invalid("guest_ids", "missing_field", "guest_ids is required"))?;
    let duration_minutes = show::validate_duration(b.duration_minutes, &rules)?;
    let s = ctx.store.create_show(
        &ShowDraft {
            start,
            duration_minutes,
            guest_ids,
        },
        &rules,
        call.now,
    )?;
    log::info!(show = s.id.as_str(), guests = s.guests.len(); "show scheduled");
    Ok(Reply::json(201, &show_json(&s)))
}

fn list_shows(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let from = call
        .query("from")
        .filter(|v| !v.is_empty())
        .map(|v| time_param("from", v))
        .transpose()?;
    let to = call
        .query("to")
        .filter(|v| !v.is_empty())
        .map(|v| time_param("to", v))
        .transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::invalid(
            "to",
            "invalid_value",
            "to must not be before from",
        ));
    }
    let shows = ctx.store.shows(from, to)?;
    Ok(Reply::json(
        200,
        &items(shows.iter().map(show_json).collect()),
    ))
}

fn get_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(200, &show_json(&ctx.store.show(id(call))?)))
}

fn patch_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: ShowBody = parse(&call.body)?;
    let rules = rules(ctx);
    if b.start_time.is_none() && b.guest_ids.is_none() && b.duration_minutes.is_none() {
        return Err(ApiError::new(
            422,
            "empty_patch",
            "give start_time, guest_ids and/or duration_minutes to change",
        ));
    }
    let start = b
        .start_time
        .map(|s| time_param("start_time", &s))
        .transpose()?;
    if let Some(s) = start {
        show::validate_start(s, call.now)?;
    }
    let duration_minutes = b
        .duration_minutes
        .map(|m| show::validate_duration(Some(m), &rules))
        .transpose()?;
    let s = ctx.store.patch_show(
        id(call),
        &ShowPatch {
            start,
            duration_minutes,
            guest_ids: b.guest_ids,
        },
        &rules,
        call.now,
    )?;
    log::info!(show = s.id.as_str(); "show changed");
    Ok(Reply::json(200, &show_json(&s)))
}

fn act(ctx: &Context, call: &Call, action: ShowAction) -> Result<Reply, ApiError> {
    let s = ctx.store.apply(id(call), action, call.now)?;
    if let (ShowAction::Start, Some(started)) = (action, s.started_at) {
        ctx.studio.arm_spontaneous(&s.id, started);
    }
    ctx.studio.show_changed(&s);
    log::info!(show = s.id.as_str(), action = action.as_str(), status = s.status.as_str(); "show {}", s.status.as_str());
    Ok(Reply::json(200, &show_json(&s)))
}

fn post_spontaneous(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let p = ctx.studio.take_spontaneous(id(call))?;
    Ok(Reply::json(201, &photo_json(&p)))
}

fn post_capture(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let p = ctx.studio.take_posed(id(call))?;
    Ok(Reply::json(201, &photo_json(&p)))
}

fn post_finish(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let (s, mails) = ctx.outbox.finish(id(call), call.now)?;
    ctx.studio.show_changed(&s);
    log::info!(show = s.id.as_str(), action = "finish", status = s.status.as_str(), queued = mails.len(); "show completed");
    let mut body = show_json(&s);
    body["message_ids"] = json!(mails.iter().map(|m| m.id.as_str()).collect::<Vec<_>>());
    Ok(Reply::json(200, &body))
}

fn get_photo(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(200, &photo_json(&ctx.store.photo(id(call))?)))
}

fn photo_file(ctx: &Context, call: &Call, v: Variant) -> Result<Reply, ApiError> {
    let p = ctx.store.photo(id(call))?;
    let path = ctx.studio.files().path(&p.show_id, &p.name, v);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Reply::raw(200, "image/jpeg", bytes)),
        Err(e) => {
            log::error!(photo = p.id.as_str(); "photo file unreadable: {e}");
            Err(ApiError::new(
                404,
                "photo_file_missing",
                "the photo's file is missing on the box",
            ))
        }
    }
}

fn approve_photo(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(
        200,
        &photo_json(&ctx.store.approve_photo(id(call), call.now)?),
    ))
}

fn delete_photo(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let p = ctx.studio.delete_photo(id(call))?;
    log::info!(photo = p.id.as_str(), show = p.show_id.as_str(); "photo discarded");
    Ok(Reply::no_content())
}

/// Opens the event stream; `Last-Event-ID` (or `?last_event_id=`) resumes after that event.
fn get_events(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let role = call.role.ok_or_else(ApiError::internal)?;
    let after = match call
        .query("last_event_id")
        .or(call.last_event_id.as_deref())
    {
        None | Some("") => ctx.events.last_id(),
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            ApiError::invalid(
                "last_event_id",
                "bad_event_id",
                "last_event_id is an event number",
            )
        })?,
    };
    Ok(Reply::events(role, after))
}

/// The earliest free start for a new show (now or later), for the host console.
fn get_next_start(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let rules = rules(ctx);
    let minutes = match call.query("duration_minutes").filter(|v| !v.is_empty()) {
        None => rules.default_minutes,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|m| (1..=show::MAX_SHOW_MINUTES).contains(m))
            .ok_or_else(|| {
                ApiError::invalid(
                    "duration_minutes",
                    "bad_duration",
                    "duration_minutes is a whole number from 1 to 240",
                )
            })?,
    };
    let from = call.now + chrono::Duration::minutes(1);
    let slots: Vec<show::Slot> = ctx
        .store
        .shows(Some(from), None)?
        .into_iter()
        .filter(|s| s.status != show::ShowStatus::Cancelled)
        .map(|s| s.slot)
        .collect();
    let start = show::next_free_start(
        from,
        chrono::Duration::minutes(minutes.into()),
        slots,
        rules.changeover,
    );
    Ok(Reply::json(
        200,
        &json!({
            "start_time": ts(start),
            "duration_minutes": minutes,
            "max_guests": rules.max_guests,
            "countdown_seconds": ctx.config.show.countdown_seconds,
        }),
    ))
}

fn list_outbox(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let status = call
        .query("status")
        .filter(|v| !v.is_empty())
        .map(|v| {
            MailStatus::parse(v).ok_or_else(|| {
                ApiError::invalid(
                    "status",
                    "bad_status",
                    "status is one of queued, sent, failed",
                )
            })
        })
        .transpose()?;
    let limit = match call.query("limit").filter(|v| !v.is_empty()) {
        None => 200,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    "bad_limit",
                    "limit is a whole number from 1 to 1000",
                )
            })?,
    };
    let list = ctx.outbox.list(status, limit)?;
    let counts = ctx.outbox.counts()?;
    Ok(Reply::json(
        200,
        &json!({
            "items": list.iter().map(mail_json).collect::<Vec<_>>(),
            "counts": {"queued": counts.queued, "sent": counts.sent, "failed": counts.failed},
            "uplink": uplink_json(&ctx.outbox.uplink()),
        }),
    ))
}

fn post_retry(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let m = ctx.outbox.retry(id(call), call.now)?;
    log::info!(message = m.id.as_str(); "mail queued again by the host");
    Ok(Reply::json(200, &mail_json(&m)))
}

fn post_flush(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let n = ctx.outbox.flush(call.now)?;
    log::info!(queued = n; "mail queue flush asked");
    Ok(Reply::json(202, &json!({"queued": n})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_found_with_their_params() {
        let (r, p) = find("GET", "/api/shows/shw_1").unwrap();
        assert_eq!(r.path, "/api/shows/{id}");
        assert_eq!(p, vec!["shw_1"]);
        let (r, _) = find("POST", "/api/shows/x/start").unwrap();
        assert_eq!(r.path, "/api/shows/{id}/start");
        assert_eq!(find("GET", "/api/nope").unwrap_err().status, 404);
        let e = find("PUT", "/api/guests").unwrap_err();
        assert_eq!(e.status, 405);
        assert!(
            e.headers
                .iter()
                .any(|(k, v)| *k == "Allow" && v.contains("POST"))
        );
    }

    #[test]
    fn every_route_is_in_the_openapi_document_and_nothing_else() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for m in ops.as_object().unwrap().keys() {
                if m != "parameters" {
                    documented.push((m.to_uppercase(), path.clone()));
                }
            }
        }
        documented.sort();
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        routed.sort();
        assert_eq!(documented, routed);
    }

    #[test]
    fn body_errors_are_classified() {
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            a: Option<bool>,
            list: Option<Vec<String>>,
        }
        assert_eq!(parse::<B>(b"{").unwrap_err().status, 400);
        assert_eq!(parse::<B>(b"").unwrap_err().code, "missing_body");
        assert_eq!(parse::<B>(b"{} x").unwrap_err().status, 400);
        let e = parse::<B>(br#"{"a": "yes"}"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (422, Some("a")));
        let e = parse::<B>(br#"{"list": ["x", 3]}"#).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (422, Some("list[1]")));
        let e = parse::<B>(br#"{"b": 1}"#).unwrap_err();
        assert_eq!(
            (e.status, e.code, e.field.as_deref()),
            (422, "unknown_field", Some("b"))
        );
        let e = parse::<B>(b"[]").unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (422, None));
    }
}
