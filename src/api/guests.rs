//! `/api/guests`: the kiosk's questionnaire, the waitlist, corrections, cancelling a
//! waiting guest, and erasing a guest on request.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::wire::{
    self, Element, ElementChoice, Energy, GuestFilter, GuestStatus, Items, Language,
};
use super::{ApiError, Call, Context, Reply, input};
use crate::show::{self, GuestDraft};
use crate::store::{Guest, Registration};

/// A guest as the host sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuestOut {
    pub id: String,
    pub name: String,
    #[schema(format = Email)]
    pub email: String,
    pub energy: Energy,
    pub element: Element,
    #[schema(schema_with = wire::essence_ref)]
    pub essence: String,
    pub language: Language,
    pub status: GuestStatus,
    /// The active (or completed) show holding the guest.
    pub show_id: Option<String>,
    #[serde(serialize_with = "wire::time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::time")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Guest> for GuestOut {
    fn from(g: &Guest) -> Self {
        GuestOut {
            id: g.id.clone(),
            name: g.name.clone(),
            email: g.email.clone(),
            energy: g.energy.into(),
            element: g.element.into(),
            essence: g.essence.clone(),
            language: g.language.into(),
            status: g.status.into(),
            show_id: g.show_id.clone(),
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

/// The questionnaire as a kiosk sends it. Fields are checked by the domain (so a
/// missing one is named like a wrong one); the schema says what is accepted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGuest {
    /// Not blank, no control characters.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    name: Option<String>,
    #[schema(value_type = String, required = true, format = Email, max_length = 254)]
    email: Option<String>,
    #[schema(value_type = Energy, required = true)]
    energy: Option<String>,
    #[schema(value_type = ElementChoice, required = true)]
    element: Option<String>,
    #[schema(schema_with = wire::essence_ref, required = true)]
    essence: Option<String>,
    /// Defaults to `es`.
    #[schema(value_type = Option<Language>)]
    language: Option<String>,
    /// The guest consents to be photographed and emailed: must be `true`.
    #[schema(value_type = bool, required = true)]
    consent: Option<bool>,
}

/// A correction of a guest's name and/or email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestPatch {
    /// Not blank, no control characters.
    #[schema(value_type = String, required = false, min_length = 1, max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    name: Option<String>,
    #[schema(value_type = String, required = false, format = Email, max_length = 254)]
    email: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GuestsQuery {
    /// Only guests in this status (`all` or absent: every guest).
    #[serde(default, deserialize_with = "input::opt_choice")]
    #[param(value_type = Option<GuestFilter>)]
    status: Option<GuestFilter>,
}

/// The header a kiosk sends with each registration attempt (a fresh UUID per guest).
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// A usable key: 1–255 visible ASCII characters (a UUID is 36).
fn idempotency_key(call: &Call) -> Result<Option<&str>, ApiError> {
    let Some(k) = call.idempotency_key.as_deref() else {
        return Ok(None);
    };
    let k = k.trim();
    if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            IDEMPOTENCY_KEY,
            "invalid_idempotency_key",
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(k))
}

#[utoipa::path(post, path = "/api/guests", tag = "guests",
    summary = "Register a guest (the questionnaire) on the waitlist",
    description = "With an `Idempotency-Key` header (a fresh random value per guest, e.g. a UUID), \
a repeat of the same key with the same questionnaire within 24 h answers 200 with the guest the \
first request made (as it is now), never a second guest and never a 409; the same key with \
different answers is refused with 422 `idempotency_key_reused`. Keys are forgotten after 24 h.",
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "one value per registration attempt; retry with the same value after a network failure"),
    ),
    request_body = NewGuest,
    responses(
        (status = 200, description = "a repeat of an earlier request with the same Idempotency-Key: the guest it made", body = GuestOut),
        (status = 201, description = "the guest, waiting", body = GuestOut),
        (status = 409, description = "this email is already waiting", body = super::ErrorBody),
        (status = 422, description = "a field is missing or invalid (named), or the Idempotency-Key was used with other answers (field `Idempotency-Key`)", body = super::ErrorBody),
    ))]
pub fn post_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let key = idempotency_key(call)?;
    let b: NewGuest = input::body(&call.body)?;
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
    let Some(key) = key else {
        let g = ctx.store.add_guest(&new, call.now)?;
        log::info!(guest = g.id.as_str(); "guest joined the waitlist");
        return Ok(Reply::json(201, &GuestOut::from(&g)));
    };
    match ctx.store.add_guest_once(key, &new, call.now)? {
        Registration::New(g) => {
            log::info!(guest = g.id.as_str(); "guest joined the waitlist");
            Ok(Reply::json(201, &GuestOut::from(&g)))
        }
        Registration::Repeat(g) => {
            log::info!(guest = g.id.as_str(); "a registration was repeated: the guest it made is answered");
            Ok(Reply::json(200, &GuestOut::from(&g)))
        }
        Registration::KeyReused => Err(ApiError::invalid(
            IDEMPOTENCY_KEY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with other answers; send a new key for a new registration",
        )),
    }
}

#[utoipa::path(get, path = "/api/guests", tag = "guests",
    summary = "Guests, oldest first (the waitlist with `?status=waiting`)",
    params(GuestsQuery),
    responses(
        (status = 200, description = "guests", body = Items<GuestOut>),
        (status = 422, description = "a bad query parameter (named)", body = super::ErrorBody),
    ))]
pub fn list_guests(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let q: GuestsQuery = call.query()?;
    let status = match q.status {
        None | Some(GuestFilter::All) => None,
        Some(GuestFilter::Waiting) => Some(show::GuestStatus::Waiting),
        Some(GuestFilter::Assigned) => Some(show::GuestStatus::Assigned),
        Some(GuestFilter::Done) => Some(show::GuestStatus::Done),
        Some(GuestFilter::Cancelled) => Some(show::GuestStatus::Cancelled),
    };
    let gs = ctx.store.guests(status)?;
    Ok(Reply::json(200, &Items::of(&gs, GuestOut::from)))
}

#[utoipa::path(get, path = "/api/guests/{id}", tag = "guests", summary = "One guest",
    params(("id" = String, Path, description = "the guest's id")),
    responses(
        (status = 200, description = "the guest", body = GuestOut),
        (status = 404, description = "no such guest", body = super::ErrorBody),
    ))]
pub fn get_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    Ok(Reply::json(
        200,
        &GuestOut::from(&ctx.store.guest(call.id())?),
    ))
}

#[utoipa::path(patch, path = "/api/guests/{id}", tag = "guests",
    summary = "Correct a guest's name or email (any status but cancelled); unsent mail follows the new address",
    params(("id" = String, Path, description = "the guest's id")),
    request_body = GuestPatch,
    responses(
        (status = 200, description = "the guest", body = GuestOut),
        (status = 404, description = "no such guest", body = super::ErrorBody),
        (status = 409, description = "the guest is cancelled (`guest_cancelled`), or the email is already waiting", body = super::ErrorBody),
        (status = 422, description = "a field is invalid (named), or nothing to change", body = super::ErrorBody),
    ))]
pub fn patch_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: GuestPatch = input::body(&call.body)?;
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
        .update_guest(call.id(), name.as_deref(), email.as_deref(), call.now)?;
    Ok(Reply::json(200, &GuestOut::from(&g)))
}

#[utoipa::path(post, path = "/api/guests/{id}/cancel", tag = "guests",
    summary = "A waiting guest leaves the waitlist",
    params(("id" = String, Path, description = "the guest's id")),
    responses(
        (status = 200, description = "the guest, cancelled", body = GuestOut),
        (status = 404, description = "no such guest", body = super::ErrorBody),
        (status = 409, description = "the guest is in an active show, done, or already cancelled", body = super::ErrorBody),
    ))]
pub fn cancel_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let g = ctx.store.cancel_guest(call.id(), call.now)?;
    log::info!(guest = g.id.as_str(); "guest cancelled");
    Ok(Reply::json(200, &GuestOut::from(&g)))
}

#[utoipa::path(delete, path = "/api/guests/{id}", tag = "guests",
    summary = "Erase a guest on request: their row, their place in a scheduled show and their messages, for good",
    params(("id" = String, Path, description = "the guest's id")),
    responses(
        (status = 204, description = "erased: the guest is gone (404 from now on)"),
        (status = 404, description = "no such guest", body = super::ErrorBody),
        (status = 409, description = "the guest is in the show using the room now", body = super::ErrorBody),
    ))]
pub fn erase_guest(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let e = crate::retention::erase_guest(&ctx.config, &ctx.store, call.id(), call.now)?;
    log::info!(guest = call.id(), messages = e.message_ids.len(), left_show = e.left_show.as_deref().unwrap_or("-");
        "guest erased on request");
    Ok(Reply::no_content())
}
