//! `/api/shows`: scheduling (create, change, list, the next free start) and the host's
//! moves through a show. Every move is the studio's (`Studio::act`, `Studio::finish`,
//! the captures): a handler here parses, calls one method, and answers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::guests::GuestOut;
use super::photos::PhotoOut;
use super::wire::{self, Items, ShowStatus, Spontaneous};
use super::{ApiError, Call, Context, ErrorBody, Reply, input};
use crate::show::{self, ScheduleRules, ShowAction};
use crate::store::{Show, ShowDraft, ShowPatch};

/// A guest of a show, with their floor marker.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowGuestOut {
    #[serde(flatten)]
    pub guest: GuestOut,
    /// 0-based floor marker.
    pub marker: u32,
}

/// One step of a show's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    #[serde(serialize_with = "wire::time")]
    pub at: DateTime<Utc>,
    /// What happened: a status reached, or a photo event.
    pub event: String,
}

/// A show with its guests, photos and timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowOut {
    pub id: String,
    #[serde(serialize_with = "wire::time_opt")]
    pub started_at: Option<DateTime<Utc>>,
    pub spontaneous: Spontaneous,
    pub photos: Vec<PhotoOut>,
    #[serde(serialize_with = "wire::time")]
    pub start_time: DateTime<Utc>,
    #[serde(serialize_with = "wire::time")]
    pub end_time: DateTime<Utc>,
    pub duration_minutes: u32,
    pub status: ShowStatus,
    /// In marker order.
    pub guests: Vec<ShowGuestOut>,
    pub timeline: Vec<TimelineEntry>,
    #[serde(serialize_with = "wire::time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::time")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Show> for ShowOut {
    fn from(s: &Show) -> Self {
        ShowOut {
            id: s.id.clone(),
            started_at: s.started_at,
            spontaneous: s.spontaneous.into(),
            photos: s.photos.iter().map(PhotoOut::from).collect(),
            start_time: s.slot.start,
            end_time: s.slot.end,
            duration_minutes: s.duration_minutes,
            status: s.status.into(),
            guests: s
                .guests
                .iter()
                .map(|sg| ShowGuestOut {
                    guest: GuestOut::from(&sg.guest),
                    marker: sg.marker,
                })
                .collect(),
            timeline: s
                .timeline
                .iter()
                .map(|t| TimelineEntry {
                    at: t.at,
                    event: t.event.clone(),
                })
                .collect(),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A completed show and the messages queued for its guests.
#[derive(Debug, Serialize, ToSchema)]
pub struct FinishedShow {
    #[serde(flatten)]
    pub show: ShowOut,
    pub message_ids: Vec<String>,
}

/// A new show.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShow {
    #[schema(value_type = DateTime<Utc>, required = true)]
    start_time: Option<String>,
    /// At most one per floor marker; the order gives each guest's marker.
    #[schema(value_type = Vec<String>, required = true, min_items = 1)]
    guest_ids: Option<Vec<String>>,
    /// Defaults to `show.duration_minutes`.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 240)]
    duration_minutes: Option<i64>,
}

/// A change to a scheduled show.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowChange {
    #[schema(value_type = Option<DateTime<Utc>>)]
    start_time: Option<String>,
    #[schema(min_items = 1)]
    guest_ids: Option<Vec<String>>,
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 240)]
    duration_minutes: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShowsQuery {
    /// Shows ending at or after this time.
    #[serde(default, deserialize_with = "input::opt_time")]
    #[param(value_type = Option<DateTime<Utc>>)]
    from: Option<DateTime<Utc>>,
    /// Shows starting at or before this time (not before `from`).
    #[serde(default, deserialize_with = "input::opt_time")]
    #[param(value_type = Option<DateTime<Utc>>)]
    to: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextStartQuery {
    /// The new show's length; defaults to `show.duration_minutes`.
    #[serde(default, deserialize_with = "input::opt_number::<_, 1, 240>")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 240)]
    duration_minutes: Option<u32>,
}

/// Where a new show fits, and what the host console needs to plan it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextStart {
    #[serde(serialize_with = "wire::time")]
    pub start_time: DateTime<Utc>,
    pub duration_minutes: u32,
    /// One guest per floor marker.
    pub max_guests: usize,
    pub countdown_seconds: u32,
}

fn rules(ctx: &Context) -> ScheduleRules {
    let s = &ctx.config.show;
    ScheduleRules {
        changeover: chrono::Duration::minutes(i64::from(s.changeover_minutes)),
        max_guests: ctx.config.lights.pins.len(),
        default_minutes: s.duration_minutes,
    }
}

#[utoipa::path(post, path = "/api/shows", tag = "shows", summary = "Schedule a show",
    request_body = NewShow,
    responses(
        (status = 201, description = "the show, scheduled", body = ShowOut),
        (status = 404, description = "a guest does not exist", body = ErrorBody),
        (status = 409, description = "overlap (`show_overlap`) or a guest is not waiting", body = ErrorBody),
        (status = 422, description = "a field is missing or invalid (named)", body = ErrorBody),
    ))]
pub fn post_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: NewShow = input::body(&call.body)?;
    let rules = rules(ctx);
    let start = b.start_time.ok_or_else(|| {
        ApiError::invalid("start_time", "missing_field", "start_time is required")
    })?;
    let start = input::time("start_time", &start)?;
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
    Ok(Reply::json(201, &ShowOut::from(&s)))
}

#[utoipa::path(get, path = "/api/shows", tag = "shows", summary = "Shows in a time window, with their guests",
    params(ShowsQuery),
    responses(
        (status = 200, description = "shows, by start time", body = Items<ShowOut>),
        (status = 422, description = "a bad query parameter (named)", body = ErrorBody),
    ))]
pub fn list_shows(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let q: ShowsQuery = call.query()?;
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f > t
    {
        return Err(ApiError::invalid(
            "to",
            "invalid_value",
            "to must not be before from",
        ));
    }
    let shows = ctx.store.shows(q.from, q.to)?;
    Ok(Reply::json(200, &Items::of(&shows, ShowOut::from)))
}

#[utoipa::path(get, path = "/api/shows/next-start", tag = "shows",
    summary = "The earliest free start for a new show (now or later)",
    params(NextStartQuery),
    responses(
        (status = 200, description = "the slot", body = NextStart),
        (status = 422, description = "a bad query parameter (named)", body = ErrorBody),
    ))]
pub fn get_next_start(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let q: NextStartQuery = call.query()?;
    let rules = rules(ctx);
    let minutes = q.duration_minutes.unwrap_or(rules.default_minutes);
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
        &NextStart {
            start_time: start,
            duration_minutes: minutes,
            max_guests: rules.max_guests,
            countdown_seconds: ctx.config.show.countdown_seconds,
        },
    ))
}

#[utoipa::path(get, path = "/api/shows/{id}", tag = "shows", summary = "One show with guests, photos, status and timeline",
    params(("id" = String, Path, description = "the show's id")),
    responses(
        (status = 200, description = "the show", body = ShowOut),
        (status = 404, description = "no such show", body = ErrorBody),
    ))]
pub fn get_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(
        200,
        &ShowOut::from(&ctx.store.show(call.id())?),
    ))
}

#[utoipa::path(patch, path = "/api/shows/{id}", tag = "shows",
    summary = "Change a scheduled show's start, guests or length",
    params(("id" = String, Path, description = "the show's id")),
    request_body = ShowChange,
    responses(
        (status = 200, description = "the show", body = ShowOut),
        (status = 404, description = "no such show or guest", body = ErrorBody),
        (status = 409, description = "not scheduled, overlap, or a guest is not waiting", body = ErrorBody),
        (status = 422, description = "a field is invalid (named), or nothing to change", body = ErrorBody),
    ))]
pub fn patch_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: ShowChange = input::body(&call.body)?;
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
        .map(|s| input::time("start_time", &s))
        .transpose()?;
    if let Some(s) = start {
        show::validate_start(s, call.now)?;
    }
    let duration_minutes = b
        .duration_minutes
        .map(|m| show::validate_duration(Some(m), &rules))
        .transpose()?;
    let s = ctx.store.patch_show(
        call.id(),
        &ShowPatch {
            start,
            duration_minutes,
            guest_ids: b.guest_ids,
        },
        &rules,
        call.now,
    )?;
    log::info!(show = s.id.as_str(); "show changed");
    Ok(Reply::json(200, &ShowOut::from(&s)))
}

fn act(ctx: &Context, call: &Call, action: ShowAction) -> Result<Reply, ApiError> {
    let s = ctx.studio.act(call.id(), action, call.now)?;
    Ok(Reply::json(200, &ShowOut::from(&s)))
}

#[utoipa::path(post, path = "/api/shows/{id}/cancel", tag = "shows",
    summary = "Cancel a show: its guests go back to waiting, the lights off",
    params(("id" = String, Path, description = "the show's id")),
    responses(
        (status = 200, description = "the show, cancelled", body = ShowOut),
        (status = 404, description = "no such show", body = ErrorBody),
        (status = 409, description = "the show is already over", body = ErrorBody),
    ))]
pub fn cancel_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    act(ctx, call, ShowAction::Cancel)
}

#[utoipa::path(post, path = "/api/shows/{id}/start", tag = "shows",
    summary = "Start a scheduled show; its spontaneous photo is timed from now",
    params(("id" = String, Path, description = "the show's id")),
    responses(
        (status = 200, description = "the show, running", body = ShowOut),
        (status = 404, description = "no such show", body = ErrorBody),
        (status = 409, description = "not scheduled, or another show is in the room", body = ErrorBody),
    ))]
pub fn start_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    act(ctx, call, ShowAction::Start)
}

#[utoipa::path(post, path = "/api/shows/{id}/pose", tag = "shows",
    summary = "The guests take their places: the show's floor markers light up",
    params(("id" = String, Path, description = "the show's id")),
    responses(
        (status = 200, description = "the show, posing", body = ShowOut),
        (status = 404, description = "no such show", body = ErrorBody),
        (status = 409, description = "the show is not running", body = ErrorBody),
    ))]
pub fn pose_show(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    act(ctx, call, ShowAction::Pose)
}

#[utoipa::path(post, path = "/api/shows/{id}/spontaneous", tag = "shows",
    summary = "Take the show's spontaneous photo now (once per show)",
    params(("id" = String, Path, description = "the show's id")),
    responses(
        (status = 201, description = "the photo", body = PhotoOut),
        (status = 404, description = "no such show", body = ErrorBody),
        (status = 409, description = "not running or posing, or already taken", body = ErrorBody),
        (status = 503, description = "the camera failed or is busy", body = ErrorBody),
        (status = 507, description = "the data disk is too full to keep a photo", body = ErrorBody),
    ))]
pub fn post_spontaneous(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let p = ctx.studio.take_spontaneous(call.id())?;
    Ok(Reply::json(201, &PhotoOut::from(&p)))
}

#[utoipa::path(post, path = "/api/shows/{id}/capture", tag = "shows",
    summary = "Countdown on the markers, then the posed photo; the show goes to review (again: a retake)",
    params(("id" = String, Path, description = "the show's id")),
    responses(
        (status = 201, description = "the photo", body = PhotoOut),
        (status = 404, description = "no such show", body = ErrorBody),
        (status = 409, description = "not posing or in review, or the countdown was interrupted", body = ErrorBody),
        (status = 503, description = "the camera failed or is busy", body = ErrorBody),
        (status = 507, description = "the data disk is too full to keep a photo", body = ErrorBody),
    ))]
pub fn post_capture(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let p = ctx.studio.take_posed(call.id())?;
    Ok(Reply::json(201, &PhotoOut::from(&p)))
}

#[utoipa::path(post, path = "/api/shows/{id}/finish", tag = "shows",
    summary = "Complete a show in review: one message per guest is queued",
    params(("id" = String, Path, description = "the show's id")),
    responses(
        (status = 200, description = "the show, completed, and the queued message ids", body = FinishedShow),
        (status = 404, description = "no such show", body = ErrorBody),
        (status = 409, description = "not in review, or photos still pending", body = ErrorBody),
    ))]
pub fn post_finish(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let (s, mails) = ctx.studio.finish(&ctx.outbox, call.id(), call.now)?;
    Ok(Reply::json(
        200,
        &FinishedShow {
            show: ShowOut::from(&s),
            message_ids: mails.into_iter().map(|m| m.id).collect(),
        },
    ))
}
