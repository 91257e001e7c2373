//! The route table (method, path, roles, body, what a success changes, handler) and the
//! lookup of a request's route. The handlers live with their resource (`guests.rs`,
//! `shows.rs`, …); the OpenAPI document is checked against this table.

use super::{ApiError, Call, Context, Reply};
use super::{
    alerts, camera, guests, health, liveview, metrics, openapi, outbox, photos, session, shows,
    stats, stream,
};
use crate::access::Role;
use crate::events::Topic;

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
const HOST_TECH: &[Role] = &[Role::Host, Role::Technician];
const SHOW_CONTROL: &[Role] = &[Role::ShowControl, Role::Host];
const KIOSK: &[Role] = &[Role::Kiosk];
const TECH: &[Role] = &[Role::Technician];
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
    route!("GET" "/api/health" PUBLIC, false => health::get_health),
    route!("GET" "/api/openapi.json" PUBLIC, false => openapi::get_openapi),
    route!("POST" "/api/session" PUBLIC, true => session::post_session),
    route!("DELETE" "/api/session" ANY, false => session::delete_session),
    route!("GET" "/api/questionnaire" PUBLIC, false => session::get_questionnaire),
    route!("POST" "/api/guests" KIOSK, true => guests::post_guest; [Waitlist]),
    route!("GET" "/api/guests" HOST, false => guests::list_guests),
    route!("GET" "/api/guests/{id}" HOST, false => guests::get_guest),
    route!("PATCH" "/api/guests/{id}" HOST, true => guests::patch_guest; [Waitlist, Mail]),
    route!("DELETE" "/api/guests/{id}" HOST, false => guests::erase_guest; [Waitlist, Show]),
    route!("POST" "/api/guests/{id}/cancel" HOST, false => guests::cancel_guest; [Waitlist]),
    route!("POST" "/api/shows" HOST, true => shows::post_show; [Show, Waitlist]),
    route!("GET" "/api/shows" HOST, false => shows::list_shows),
    // Before `/api/shows/{id}`, which would take "next-start" for an id.
    route!("GET" "/api/shows/next-start" HOST, false => shows::get_next_start),
    route!("GET" "/api/shows/{id}" HOST, false => shows::get_show),
    route!("PATCH" "/api/shows/{id}" HOST, true => shows::patch_show; [Show, Waitlist]),
    route!("POST" "/api/shows/{id}/cancel" HOST, false => shows::cancel_show; [Show, Waitlist]),
    route!("POST" "/api/shows/{id}/start" HOST, false => shows::start_show; [Show]),
    route!("POST" "/api/shows/{id}/pose" HOST, false => shows::pose_show; [Show]),
    route!("POST" "/api/shows/{id}/spontaneous" SHOW_CONTROL, false => shows::post_spontaneous; [Show]),
    route!("POST" "/api/shows/{id}/capture" HOST, false => shows::post_capture; [Show]),
    route!("POST" "/api/shows/{id}/finish" HOST, false => shows::post_finish; [Show, Waitlist]),
    route!("GET" "/api/photos/{id}" HOST, false => photos::get_photo),
    route!("GET" "/api/photos/{id}/preview" HOST, false => photos::get_preview),
    route!("GET" "/api/photos/{id}/email" HOST, false => photos::get_email_size),
    route!("GET" "/api/photos/{id}/original" HOST, false => photos::get_original),
    route!("POST" "/api/photos/{id}/approve" HOST, false => photos::approve_photo; [Photo]),
    route!("DELETE" "/api/photos/{id}" HOST, false => photos::delete_photo; [Photo]),
    route!("GET" "/api/outbox" HOST, false => outbox::list_outbox),
    route!("POST" "/api/outbox/flush" HOST, false => outbox::post_flush; [Mail]),
    route!("POST" "/api/outbox/{id}/retry" HOST, false => outbox::post_retry; [Mail]),
    route!("POST" "/api/outbox/{id}/resend" HOST, false => outbox::post_resend; [Mail]),
    route!("GET" "/api/alerts" HOST_TECH, false => alerts::list_alerts),
    route!("POST" "/api/alerts/{id}/ack" HOST_TECH, false => alerts::post_ack; [Alerts]),
    route!("GET" "/api/stats" HOST_TECH, false => stats::get_stats),
    route!("GET" "/api/events" KIOSK, false => stream::get_events),
    route!("GET" "/api/camera/liveview" HOST, false => liveview::get_liveview),
    route!("POST" "/api/camera/check" HOST_TECH, false => camera::post_check),
    route!("GET" "/api/camera/check/frame" HOST_TECH, false => camera::get_check_frame),
    // Also open without a token from loopback (see `metrics::open_to`).
    route!("GET" "/metrics" TECH, false => metrics::get_metrics),
];

/// Finds the route for `method path`, with its path parameters; 404 or 405 otherwise.
///
/// The first path pattern (in table order) that matches decides: a literal segment
/// (`/api/shows/next-start`) wins over a parameter (`/api/shows/{id}`), and a 405's
/// `Allow` lists exactly the methods documented for that path.
pub fn find(method: &str, path: &str) -> Result<(&'static Route, Vec<String>), ApiError> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let Some((pattern, params)) = ROUTES
        .iter()
        .find_map(|r| matches(r.path, &segs).map(|params| (r.path, params)))
    else {
        return Err(ApiError::new(404, "not_found", format!("no route {path}")));
    };
    let same: Vec<&'static Route> = ROUTES.iter().filter(|r| r.path == pattern).collect();
    if let Some(r) = same.iter().find(|r| r.method == method) {
        return Ok((r, params));
    }
    let allowed: Vec<&str> = same.iter().map(|r| r.method).collect();
    let mut e = ApiError::new(
        405,
        "method_not_allowed",
        format!("{method} is not allowed here; use {}", allowed.join(", ")),
    );
    e.headers.push(("Allow", allowed.join(", ")));
    Err(e)
}

/// The `{id}` values if `pattern` matches the path's segments.
fn matches(pattern: &str, segs: &[&str]) -> Option<Vec<String>> {
    let pat: Vec<&str> = pattern.split('/').collect();
    if pat.len() != segs.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in pat.iter().zip(segs) {
        if *p == "{id}" {
            if s.is_empty() {
                return None;
            }
            params.push(percent_decode(s));
        } else if p != s {
            return None;
        }
    }
    Some(params)
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(method: &str, path: &str) -> String {
        let e = find(method, path).unwrap_err();
        assert_eq!(e.status, 405, "{method} {path}");
        e.headers
            .iter()
            .find(|(k, _)| *k == "Allow")
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    #[test]
    fn routes_are_found_with_their_params() {
        let (r, p) = find("GET", "/api/shows/shw_1").unwrap();
        assert_eq!(r.path, "/api/shows/{id}");
        assert_eq!(p, vec!["shw_1"]);
        let (r, _) = find("POST", "/api/shows/x/start").unwrap();
        assert_eq!(r.path, "/api/shows/{id}/start");
        let (r, _) = find("GET", "/api/shows/next-start").unwrap();
        assert_eq!(r.path, "/api/shows/next-start");
        assert_eq!(find("GET", "/api/nope").unwrap_err().status, 404);
        assert_eq!(allow("PUT", "/api/guests"), "POST, GET");
        assert_eq!(allow("POST", "/api/guests/g1"), "GET, PATCH, DELETE");
    }

    #[test]
    fn allow_lists_exactly_the_methods_of_the_matched_path() {
        // Not the `{id}` route's GET and PATCH as well.
        assert_eq!(allow("DELETE", "/api/shows/next-start"), "GET");
        assert_eq!(allow("GET", "/api/outbox/flush"), "POST");
    }
}
