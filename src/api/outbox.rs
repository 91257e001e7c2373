//! `/api/outbox`: the guests' messages as the host sees them (addresses and states,
//! never the bodies), the relay's state, and "try again now".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::wire::{self, Language, MailStatus, UplinkState};
use super::{ApiError, Call, Context, ErrorBody, Reply, input};
use crate::outbox::Uplink;
use crate::store::Mail;

/// A message to a guest.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    pub id: String,
    /// RFC 5322 Message-ID, the same on every attempt.
    pub message_id: String,
    pub show_id: String,
    pub guest_id: String,
    #[schema(format = Email)]
    pub to: String,
    pub language: Language,
    pub subject: String,
    /// Ids of the attached photos, in order.
    pub attachments: Vec<String>,
    pub status: MailStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(serialize_with = "wire::time")]
    pub created_at: DateTime<Utc>,
    /// Only while queued.
    #[serde(serialize_with = "wire::time_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire::time")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::time_opt")]
    pub sent_at: Option<DateTime<Utc>>,
    /// The message this one sends again (the host's resend); that one stays as history.
    pub resend_of: Option<String>,
}

impl From<&Mail> for MessageOut {
    fn from(m: &Mail) -> Self {
        MessageOut {
            id: m.id.clone(),
            message_id: m.message_id.clone(),
            show_id: m.show_id.clone(),
            guest_id: m.guest_id.clone(),
            to: m.recipient.clone(),
            language: m.language.into(),
            subject: m.subject.clone(),
            attachments: m.attachments.iter().map(|p| p.id.clone()).collect(),
            status: m.status.into(),
            attempts: m.attempts,
            last_error: m.last_error.clone(),
            created_at: m.created_at,
            next_attempt_at: (m.status == crate::show::MailStatus::Queued)
                .then_some(m.next_attempt_at),
            expires_at: m.expires_at,
            sent_at: m.sent_at,
            resend_of: m.resend_of.clone(),
        }
    }
}

/// The relay as the sender last saw it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UplinkOut {
    pub state: UplinkState,
    #[serde(serialize_with = "wire::time")]
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "wire::time_opt")]
    pub next_try_at: Option<DateTime<Utc>>,
}

impl From<&Uplink> for UplinkOut {
    fn from(u: &Uplink) -> Self {
        UplinkOut {
            state: u.state.into(),
            since: u.since,
            last_error: u.last_error.clone(),
            next_try_at: u.next_try,
        }
    }
}

/// How many messages are in each state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Counts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
}

/// The outbox: newest messages first, the counts, and the relay.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxOut {
    pub items: Vec<MessageOut>,
    pub counts: Counts,
    pub uplink: UplinkOut,
}

/// How many messages are queued after a flush.
#[derive(Debug, Serialize, ToSchema)]
pub struct Flushed {
    pub queued: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only messages in this state.
    #[serde(default, deserialize_with = "input::opt_choice")]
    #[param(value_type = Option<MailStatus>)]
    status: Option<MailStatus>,
    /// At most this many (default 200).
    #[serde(default, deserialize_with = "input::opt_number::<_, 1, 1000>")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/outbox", tag = "outbox",
    summary = "Queued, sent and failed messages with attempts and last error; the relay's state",
    params(OutboxQuery),
    responses(
        (status = 200, description = "the outbox", body = OutboxOut),
        (status = 422, description = "a bad query parameter (named)", body = ErrorBody),
    ))]
pub fn list_outbox(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let q: OutboxQuery = call.query()?;
    let status = q.status.map(|s| match s {
        MailStatus::Queued => crate::show::MailStatus::Queued,
        MailStatus::Sent => crate::show::MailStatus::Sent,
        MailStatus::Failed => crate::show::MailStatus::Failed,
    });
    let list = ctx.outbox.list(status, q.limit.unwrap_or(200))?;
    let c = ctx.outbox.counts()?;
    Ok(Reply::json(
        200,
        &OutboxOut {
            items: list.iter().map(MessageOut::from).collect(),
            counts: Counts {
                queued: c.queued,
                sent: c.sent,
                failed: c.failed,
            },
            uplink: UplinkOut::from(&ctx.outbox.uplink()),
        },
    ))
}

#[utoipa::path(post, path = "/api/outbox/{id}/retry", tag = "outbox",
    summary = "Queue a failed message again, now",
    params(("id" = String, Path, description = "the message's id")),
    responses(
        (status = 200, description = "the message, queued", body = MessageOut),
        (status = 404, description = "no such message", body = ErrorBody),
        (status = 409, description = "the message is not failed", body = ErrorBody),
    ))]
pub fn post_retry(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let m = ctx.outbox.retry(call.id(), call.now)?;
    log::info!(message = m.id.as_str(); "mail queued again by the host");
    Ok(Reply::json(200, &MessageOut::from(&m)))
}

#[utoipa::path(post, path = "/api/outbox/{id}/resend", tag = "outbox",
    summary = "Send a message again: a new message (new id and Message-ID) with the same photos to the guest's current address; the old one stays as history",
    params(("id" = String, Path, description = "the message's id")),
    responses(
        (status = 201, description = "the new message, queued", body = MessageOut),
        (status = 404, description = "no such message (an erased guest's messages are erased with them)", body = ErrorBody),
        (status = 409, description = "the message is still queued (`mail_queued`)", body = ErrorBody),
    ))]
pub fn post_resend(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let m = ctx.outbox.resend(call.id(), call.now)?;
    log::info!(message = m.id.as_str(), resend_of = call.id(); "mail sent again by the host");
    Ok(Reply::json(201, &MessageOut::from(&m)))
}

#[utoipa::path(post, path = "/api/outbox/flush", tag = "outbox",
    summary = "Try the whole queue now (the relay's backoff too)",
    responses((status = 202, description = "the sender is on it", body = Flushed)))]
pub fn post_flush(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let n = ctx.outbox.flush(call.now)?;
    log::info!(queued = n; "mail queue flush asked");
    Ok(Reply::json(202, &Flushed { queued: n }))
}
