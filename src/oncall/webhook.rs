//! `[alerts] webhook`: each technician notice is also POSTed there as JSON
//! (`{"box", "condition", "event", "since", "detail", "subject", "text"}`), from the
//! technician outbox, so a webhook that is down is tried again with backoff like mail:
//! 2xx is delivered; 408, 429 and 5xx or no answer are tried again; other 4xx are failed
//! for good (the URL or the receiver is wrong: waiting does not help).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{Channel, Store, TechMail};

/// Every call is bounded: the health round waits for it.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Calls per round, so a backlog cannot hold the round for long.
const PER_ROUND: u32 = 5;

pub struct Client(ureq::Agent);

impl Client {
    pub fn new() -> Client {
        let cfg = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build();
        Client(ureq::Agent::new_with_config(cfg))
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "box")]
    box_name: &'a str,
    condition: &'a str,
    event: &'a str,
    since: String,
    detail: &'a str,
    subject: &'a str,
    text: &'a str,
}

enum Outcome {
    Sent,
    Deferred(String),
    Failed(String),
}

fn call(client: &Client, m: &TechMail, box_name: &str) -> Outcome {
    let body = Body {
        box_name,
        condition: &m.condition,
        event: &m.event,
        since: m.since.to_rfc3339(),
        detail: &m.detail,
        subject: &m.subject,
        text: &m.text,
    };
    let json = match serde_json::to_vec(&body) {
        Ok(j) => j,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    match client
        .0
        .post(&m.recipient)
        .content_type("application/json")
        .send(&json[..])
    {
        Ok(r) => {
            let s = r.status().as_u16();
            match s {
                200..=299 => Outcome::Sent,
                408 | 429 | 500..=599 => Outcome::Deferred(format!("the webhook answered {s}")),
                _ => Outcome::Failed(format!("the webhook answered {s}")),
            }
        }
        Err(e) => Outcome::Deferred(format!("calling the webhook: {e}")),
    }
}

/// Calls the webhook for the due notices (a few per round).
/// Retries wait as mail does (`mail.retry_initial_seconds`, `mail.retry_max_seconds`).
pub fn drain(
    store: &Store,
    client: &Client,
    box_name: &str,
    now: DateTime<Utc>,
    retry: (Duration, Duration),
) {
    let due = match store.due_technician(Channel::Webhook, now, PER_ROUND) {
        Ok(d) => d,
        Err(e) => {
            log::error!("alerts: reading the webhook queue failed: {e}");
            return;
        }
    };
    for m in due {
        let id = m.id.as_str();
        let r = match call(client, &m, box_name) {
            Outcome::Sent => {
                log::info!(message = id, result = "sent", channel = "webhook"; "technician webhook called");
                store.technician_sent(id, Utc::now())
            }
            Outcome::Deferred(e) => {
                let wait = crate::outbox::backoff(m.attempts + 1, retry.0, retry.1, 0.5);
                log::warn!(message = id, result = "deferred", channel = "webhook"; "technician webhook: {e}");
                store.technician_deferred(
                    id,
                    &e,
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                )
            }
            Outcome::Failed(e) => {
                log::error!(message = id, result = "failed", channel = "webhook"; "technician webhook: {e}");
                store.technician_failed(id, &e)
            }
        };
        if let Err(e) = r {
            log::error!(message = id; "alerts: recording a webhook call failed: {e}");
        }
    }
}
