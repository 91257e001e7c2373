//! `/api/session` (log in with a PIN, log out) and `/api/questionnaire` (the choices a
//! kiosk offers): the two things a tablet asks before anything else.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wire::{self, Element, Energy, Language, Role};
use super::{ApiError, Call, Context, Reply, input};
use crate::access;
use crate::show;
use crate::store;

/// A login: the role and its PIN (or password, or the show-control token).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[schema(value_type = Role, required = true)]
    role: Option<String>,
    #[schema(value_type = String, required = true)]
    pin: Option<String>,
}

/// An open session: send `Authorization: Bearer <token>` from now on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub token: String,
    pub role: Role,
    #[serde(serialize_with = "wire::time")]
    pub expires_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/session", tag = "session",
    summary = "Log in: a role and its PIN give a bearer token",
    request_body = Login,
    responses(
        (status = 201, description = "the session", body = Session),
        (status = 401, description = "wrong PIN for this role", body = super::ErrorBody),
        (status = 422, description = "a field is missing or invalid (named)", body = super::ErrorBody),
        (status = 429, description = "too many failed logins from this address, or from every address within a minute (see Retry-After)", body = super::ErrorBody,
            headers(("Retry-After" = u64, description = "seconds to wait"))),
    ))]
pub fn post_session(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let b: Login = input::body(&call.body)?;
    let role_s = b
        .role
        .ok_or_else(|| ApiError::invalid("role", "missing_field", "role is required"))?;
    let role = access::Role::parse(&role_s).ok_or_else(|| {
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
            let was_flooded = t.flooded(now_i);
            let locked = t.failed(call.remote, now_i);
            ctx.studio.metrics().login_failed();
            if !was_flooded && t.flooded(now_i) {
                log::error!(budget = access::GLOBAL_FAILURES_PER_MINUTE as u64;
                    "many failed logins from several addresses within a minute: every login now waits (someone may be guessing PINs)");
            }
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
    let hash = access::token_hash(&token);
    match ctx.store.add_session(&hash, role, call.now, expires) {
        // A full disk must not keep the host (or the technician) out: the reserve goes,
        // once, and the login is written in the room it leaves.
        Err(store::Error::Full)
            if matches!(role, access::Role::Host | access::Role::Technician)
                && crate::reserve::release(&ctx.config.storage.data_dir) =>
        {
            log::error!(role = role.as_str(); "the data disk is full: the disk reserve was released so a login could be written");
            ctx.store.add_session(&hash, role, call.now, expires)?;
        }
        r => r?,
    }
    log::info!(role = role.as_str(); "session opened");
    Ok(Reply::json(
        201,
        &Session {
            token,
            role: role.into(),
            expires_at: expires,
        },
    ))
}

#[utoipa::path(delete, path = "/api/session", tag = "session",
    summary = "Log out: revoke the caller's token",
    responses(
        (status = 204, description = "revoked"),
        (status = 409, description = "`not_a_session`: the configured show-control token is not a session; it changes only in the config", body = super::ErrorBody),
    ))]
pub fn delete_session(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let Some(h) = &call.token_hash else {
        // Answering 204 would say it stopped working; it did not.
        return Err(ApiError::new(
            409,
            "not_a_session",
            "the show-control token is set in the config (auth.show_control_token), not a \
             session: change it there and restart cosmosd to revoke it",
        ));
    };
    ctx.store.revoke_session(h, call.now)?;
    // Its open event streams look at their token now, and end.
    ctx.events.nudge();
    Ok(Reply::no_content())
}

/// A display name in each language the kiosk speaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Names {
    pub es: String,
    pub en: String,
}

/// One choice with its display names; `T` is the id's type.
#[derive(Debug, Serialize, ToSchema)]
pub struct Choice<T: ToSchema> {
    pub id: T,
    pub name: Names,
}

/// One of the venue's essences (`id` is what a kiosk sends).
#[derive(Debug, Serialize, ToSchema)]
pub struct EssenceChoice {
    #[schema(schema_with = wire::essence_ref)]
    pub id: String,
    pub name: Names,
}

/// The venue's consent sentence and privacy notice in one language.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrivacyNotice {
    /// The consent checkbox's sentence.
    pub consent: String,
    /// Who keeps the data, why, for how long, and whom to ask.
    pub notice: String,
}

/// The venue's privacy texts (its editable mail content), in each language the kiosk speaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrivacyTexts {
    /// `privacy.retention_days`: guest data is erased this long after the visit.
    pub retention_days: u32,
    pub es: PrivacyNotice,
    pub en: PrivacyNotice,
}

/// What the kiosk offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Questionnaire {
    pub energies: Vec<Choice<Energy>>,
    pub elements: Vec<Choice<Element>>,
    pub essences: Vec<EssenceChoice>,
    pub languages: Vec<Choice<Language>>,
    pub default_language: Language,
    pub name_max_chars: usize,
    pub privacy: PrivacyTexts,
}

fn choices<D: Copy, W: ToSchema + From<D>>(
    all: &[D],
    names: fn(D) -> (&'static str, &'static str),
) -> Vec<Choice<W>> {
    all.iter()
        .map(|&d| {
            let (es, en) = names(d);
            Choice {
                id: d.into(),
                name: Names {
                    es: es.into(),
                    en: en.into(),
                },
            }
        })
        .collect()
}

#[utoipa::path(get, path = "/api/questionnaire", tag = "session",
    summary = "The kiosk's choices: energies, elements, the venue's essences, languages",
    responses((status = 200, description = "the choices", body = Questionnaire)))]
pub fn get_questionnaire(ctx: &Context, _: &Call) -> Result<Reply, ApiError> {
    let templates = ctx.outbox.templates();
    // Rendered and checked at start-up: a failure here is the box's fault (500, logged).
    let notice = |l: show::Language| {
        templates
            .privacy(l)
            .map(|p| PrivacyNotice {
                consent: p.consent,
                notice: p.notice,
            })
            .map_err(|e| {
                log::error!("the privacy texts do not render: {e:#}");
                ApiError::internal()
            })
    };
    let privacy = PrivacyTexts {
        retention_days: crate::outbox::retention_days(&ctx.config),
        es: notice(show::Language::Es)?,
        en: notice(show::Language::En)?,
    };
    Ok(Reply::json(
        200,
        &Questionnaire {
            energies: choices(show::Energy::ALL, show::Energy::names),
            elements: choices(show::Element::ALL, show::Element::names),
            essences: ctx
                .config
                .questionnaire
                .essences
                .iter()
                .map(|e| EssenceChoice {
                    id: e.id.clone(),
                    name: Names {
                        es: e.es.clone(),
                        en: e.en.clone(),
                    },
                })
                .collect(),
            languages: choices(show::Language::ALL, show::Language::names),
            default_language: Language::Es,
            name_max_chars: show::NAME_MAX_CHARS,
            privacy,
        },
    ))
}
