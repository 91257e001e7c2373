//! `/api/alerts`: what the host must know about, persisted — raised when a condition
//! starts, cleared when it ends, acknowledged by the host or the technician.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::wire::{self, AlertKind, Items};
use super::{ApiError, Call, Context, ErrorBody, Reply, input};
use crate::store::Alert;

/// An alert to the host: a plain sentence, never a guest's name or email.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    pub id: String,
    pub kind: AlertKind,
    /// The show it is about (`spontaneous_failed`, `capture_failed`).
    pub show_id: Option<String>,
    pub message: String,
    #[serde(serialize_with = "wire::time")]
    pub raised_at: DateTime<Utc>,
    /// When the condition ended; `null` while it goes on.
    #[serde(serialize_with = "wire::time_opt")]
    pub cleared_at: Option<DateTime<Utc>>,
    /// When the host (or technician) acknowledged it; `null` until then.
    #[serde(serialize_with = "wire::time_opt")]
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl From<&Alert> for AlertOut {
    fn from(a: &Alert) -> Self {
        AlertOut {
            id: a.id.clone(),
            kind: a.kind.into(),
            show_id: a.show_id.clone(),
            message: a.message.clone(),
            raised_at: a.raised_at,
            cleared_at: a.cleared_at,
            acknowledged_at: a.acknowledged_at,
        }
    }
}

/// Which alerts: all, or only those still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertFilter {
    All,
    Open,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// `open`: only alerts not cleared yet; `all` (default): the history too.
    #[serde(default, deserialize_with = "input::opt_choice")]
    #[param(value_type = Option<AlertFilter>)]
    status: Option<AlertFilter>,
    /// At most this many, newest first (default 200).
    #[serde(default, deserialize_with = "input::opt_number::<_, 1, 1000>")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/alerts", tag = "alerts",
    summary = "Alerts, newest first: raised, cleared when the condition ended, acknowledged",
    params(AlertsQuery),
    responses(
        (status = 200, description = "alerts", body = Items<AlertOut>),
        (status = 422, description = "a bad query parameter (named)", body = ErrorBody),
    ))]
pub fn list_alerts(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let q: AlertsQuery = call.query()?;
    let open = q.status == Some(AlertFilter::Open);
    let list = ctx.studio.alerts().list(open, q.limit.unwrap_or(200))?;
    Ok(Reply::json(200, &Items::of(&list, AlertOut::from)))
}

#[utoipa::path(post, path = "/api/alerts/{id}/ack", tag = "alerts",
    summary = "Acknowledge an alert (idempotent: the first time stays); it leaves health's problems",
    params(("id" = String, Path, description = "the alert's id")),
    responses(
        (status = 200, description = "the alert", body = AlertOut),
        (status = 404, description = "no such alert", body = ErrorBody),
    ))]
pub fn post_ack(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let a = ctx.studio.alerts().acknowledge(call.id())?;
    log::info!(alert = a.id.as_str(), role = call.role.map_or("-", |r| r.as_str()); "alert acknowledged");
    Ok(Reply::json(200, &AlertOut::from(&a)))
}
