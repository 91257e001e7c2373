//! The sender thread: takes due messages oldest first, carries a batch over one SMTP
//! connection (or writes .eml files), and records each outcome before the next message.
//!
//! Failure classes, by what happens next:
//! - the relay cannot be reached (refused, timeout, TLS, auth): the uplink is down; no
//!   message is charged an attempt, the thread waits with capped exponential backoff and
//!   jitter and tries the relay again (a flush tries at once);
//! - the relay answers 4xx, or the connection breaks mid-message: that message is
//!   deferred with its own backoff, the others go on;
//! - the relay answers 5xx, or the message cannot be built (bad address, photo file
//!   gone): that message is failed for good, with the reason, for the host to see;
//! - a queued message older than the queue lifetime is failed ("queue lifetime ended").

use std::time::{Duration, Instant};

use chrono::Utc;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    Certificate, SmtpConnection, TlsParameters, TlsParametersBuilder,
};
use lettre::transport::smtp::extension::ClientId;

use super::message::{self, Part};
use super::{IDLE_WAIT, Shared, Signal, UplinkState, mask_addresses};
use crate::config::{MailTls, MailTransport, SmtpConfig};
use crate::photos::{self, Variant};
use crate::show::{AlertKind, MailStatus};
use crate::store::{Channel, Mail, TechMail};

/// The wait before attempt `n + 1` after `n` failures: `initial · 2^(n-1)` capped at
/// `max`, with "equal jitter" (half fixed, half random) so a venue's messages, and
/// venues behind one relay, do not retry in lockstep. Never more than `max`.
pub fn backoff(failures: u32, initial: Duration, max: Duration, random: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = initial.saturating_mul(1u32 << exp).min(max);
    base / 2 + base.mul_f64(random.clamp(0.0, 1.0) / 2.0)
}

fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    // Jitter only; a failing random source must not stop the mail.
    let _ = getrandom::fill(&mut b);
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// What one message's attempt came to.
enum Outcome {
    Sent,
    /// Worth trying again later (4xx, broken connection).
    Deferred(String),
    /// Will never go through as it is (5xx, bad address, missing photo).
    Failed(String),
}

pub(super) fn run(sh: &Shared) {
    let cfg = &sh.config.mail;
    let mut uplink_failures = 0u32;
    let mut uplink_retry: Option<Instant> = None;
    log::info!(transport = cfg.transport.name(), templates = sh.templates.source(); "outbox sender started");
    loop {
        let (stop, flush) = {
            let mut s = sh.signal.lock().unwrap_or_else(|p| p.into_inner());
            let out = (s.stop, s.flush);
            s.woken = false;
            s.flush = false;
            out
        };
        if stop {
            break;
        }
        if flush {
            uplink_retry = None;
        }
        let now = Utc::now();
        match sh.store.expire_mails(now) {
            Ok(ids) => {
                for id in &ids {
                    log::warn!(message = id.as_str(), result = "failed"; "mail failed: its queue lifetime ended");
                }
                if !ids.is_empty() {
                    sh.alerts.raise(AlertKind::MailFailing, None, EXPIRED);
                }
            }
            Err(e) => log::error!("outbox: expiring messages failed: {e}"),
        }
        if let Some(t) = uplink_retry
            && t > Instant::now()
        {
            wait(sh, t.saturating_duration_since(Instant::now()));
            continue;
        }
        let due = sh
            .store
            .due_technician(Channel::Email, now, cfg.batch_size)
            .and_then(|t| Ok((t, sh.store.due_mails(now, cfg.batch_size)?)));
        let (tech, due) = match due {
            Ok(d) => d,
            Err(e) => {
                log::error!("outbox: reading the queue failed: {e}");
                wait(sh, Duration::from_secs(5));
                continue;
            }
        };
        if due.is_empty() && tech.is_empty() {
            let next = [
                sh.store.next_mail_due(),
                sh.store.next_technician_due(Channel::Email),
            ]
            .into_iter()
            .filter_map(|t| t.ok().flatten())
            .min();
            let sleep = match next {
                Some(t) => (t - Utc::now()).to_std().unwrap_or_default().min(IDLE_WAIT),
                None => IDLE_WAIT,
            };
            wait(sh, sleep);
            continue;
        }
        match deliver(sh, &tech, &due) {
            Ok(()) => {
                uplink_failures = 0;
                uplink_retry = None;
                set_uplink(sh, UplinkState::Up, None, None);
            }
            Err(reason) => {
                uplink_failures += 1;
                let delay = backoff(
                    uplink_failures,
                    cfg.retry_initial,
                    cfg.retry_max,
                    random_unit(),
                );
                uplink_retry = Some(Instant::now() + delay);
                let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                log::warn!(
                    result = "uplink_down", queued = due.len() + tech.len(), failures = uplink_failures,
                    next_try = next.to_rfc3339().as_str();
                    "mail relay unreachable, next try in {} s: {reason}", delay.as_secs()
                );
                set_uplink(sh, UplinkState::Down, Some(reason), Some(next));
                sh.alerts.raise(AlertKind::MailFailing, None, UNREACHABLE);
            }
        }
    }
    log::info!("outbox sender stopped");
}

// The host's alert sentences (no address: the outbox names the messages).
const UNREACHABLE: &str =
    "Mail is not going out: the mail relay cannot be reached. Messages wait in the queue.";
const REFUSED: &str = "A message could not be delivered (refused for good): see the outbox.";
const EXPIRED: &str = "Messages waited too long and were given up: see the outbox.";

/// Sleeps until `d` has passed or the thread is woken.
fn wait(sh: &Shared, d: Duration) {
    let s = sh.signal.lock().unwrap_or_else(|p| p.into_inner());
    let _ = sh
        .bell
        .wait_timeout_while(s, d, |s: &mut Signal| !(s.woken || s.flush || s.stop))
        .unwrap_or_else(|p| p.into_inner());
}

fn stopping(sh: &Shared) -> bool {
    sh.signal.lock().unwrap_or_else(|p| p.into_inner()).stop
}

fn set_uplink(
    sh: &Shared,
    state: UplinkState,
    error: Option<String>,
    next: Option<chrono::DateTime<Utc>>,
) {
    let mut u = sh.uplink.lock().unwrap_or_else(|p| p.into_inner());
    if u.state != state {
        if state == UplinkState::Up && u.state == UplinkState::Down {
            log::info!(result = "uplink_up"; "mail relay reachable again");
        }
        u.state = state;
        u.since = Utc::now();
        if state != UplinkState::Unknown {
            sh.events.publish(crate::events::Change::Uplink {
                up: state == UplinkState::Up,
            });
        }
    }
    u.last_error = error;
    u.next_try = next;
}

/// Builds a message's envelope and bytes from its row and its photos' email-size files.
fn build(sh: &Shared, m: &Mail) -> Result<(Envelope, Vec<u8>), message::BuildError> {
    let parts: Vec<Part> = m
        .attachments
        .iter()
        .enumerate()
        .map(|(i, p)| Part {
            filename: format!("cosmos-{}.jpg", i + 1),
            path: sh.files.path(&p.show_id, &p.name, Variant::Email),
        })
        .collect();
    message::build(m, &sh.config.mail.from, sh.templates.logo(), &parts)
}

/// Delivers a batch: the technician's alerts first (few and short), then the guests'
/// messages. `Err` = the relay could not be reached at all (nothing charged).
fn deliver(sh: &Shared, tech: &[TechMail], due: &[Mail]) -> Result<(), String> {
    match &sh.config.mail.transport {
        MailTransport::File => {
            for m in tech {
                let outcome = match message::build_technician(m, &sh.config.mail.from) {
                    Ok((_, bytes)) => {
                        let dir = sh.config.storage.data_dir.join("mail").join("technician");
                        match std::fs::create_dir_all(&dir).and_then(|_| {
                            photos::write_atomic(&dir.join(format!("{}.eml", m.id)), &bytes)
                        }) {
                            Ok(()) => Outcome::Sent,
                            Err(e) => Outcome::Deferred(format!("writing the .eml file: {e}")),
                        }
                    }
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                record_technician(sh, m, outcome);
            }
            for m in due {
                let outcome = match build(sh, m) {
                    Ok((_, bytes)) => {
                        let dir = sh.config.storage.data_dir.join("mail");
                        match std::fs::create_dir_all(&dir).and_then(|_| {
                            photos::write_atomic(&dir.join(format!("{}.eml", m.id)), &bytes)
                        }) {
                            Ok(()) => Outcome::Sent,
                            Err(e) => Outcome::Deferred(format!("writing the .eml file: {e}")),
                        }
                    }
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                record(sh, m, outcome);
            }
            Ok(())
        }
        MailTransport::Smtp(smtp) => {
            let mut conn = connect(smtp).map_err(|e| mask_addresses(&e))?;
            set_uplink(sh, UplinkState::Up, None, None);
            let tech_build = |m: &TechMail| message::build_technician(m, &sh.config.mail.from);
            let tech_record = |m: &TechMail, o| record_technician(sh, m, o);
            if send_all(sh, &mut conn, tech, tech_build, tech_record)
                && send_all(
                    sh,
                    &mut conn,
                    due,
                    |m| build(sh, m),
                    |m, o| record(sh, m, o),
                )
            {
                let _ = conn.quit();
            }
            Ok(())
        }
    }
}

/// Sends `items` over `conn`, recording each outcome; false when the connection broke
/// (lettre has closed it: the next round reconnects for the rest).
fn send_all<T>(
    sh: &Shared,
    conn: &mut SmtpConnection,
    items: &[T],
    build: impl Fn(&T) -> Result<(Envelope, Vec<u8>), message::BuildError>,
    record: impl Fn(&T, Outcome),
) -> bool {
    for m in items {
        if stopping(sh) {
            break;
        }
        let (envelope, bytes) = match build(m) {
            Ok(b) => b,
            Err(e) => {
                record(m, Outcome::Failed(e.to_string()));
                continue;
            }
        };
        if let Err(e) = conn.send(&envelope, &bytes) {
            let text = e.to_string();
            let outcome = if e.is_permanent() || e.is_client() {
                Outcome::Failed(text)
            } else {
                Outcome::Deferred(text)
            };
            record(m, outcome);
            return false;
        }
        record(m, Outcome::Sent);
    }
    true
}

/// Records one attempt and logs one line for it.
fn record(sh: &Shared, m: &Mail, outcome: Outcome) {
    let cfg = &sh.config.mail;
    let attempt = m.attempts + 1;
    let now = Utc::now();
    let id = m.id.as_str();
    let res = match &outcome {
        Outcome::Sent => {
            log::info!(message = id, result = "sent", attempt = attempt; "mail sent");
            let r = sh.store.mail_sent(id, &m.recipient, now);
            if let Ok(false) = r {
                log::info!(message = id; "the guest's address was corrected during the attempt: the message goes again");
            }
            sh.alerts.clear(AlertKind::MailFailing, None);
            r.map(|_| ())
        }
        Outcome::Deferred(err) => {
            let delay = backoff(attempt, cfg.retry_initial, cfg.retry_max, random_unit());
            let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
            log::warn!(message = id, result = "deferred", attempt = attempt, next_try = next.to_rfc3339().as_str();
                "mail deferred: {}", mask_addresses(err));
            sh.store.mail_deferred(id, err, next)
        }
        Outcome::Failed(err) => {
            log::error!(message = id, result = "failed", attempt = attempt;
                "mail failed for good: {}", mask_addresses(err));
            let r = sh.store.mail_failed(id, err);
            sh.alerts.raise(AlertKind::MailFailing, None, REFUSED);
            r
        }
    };
    let status = match outcome {
        Outcome::Sent => MailStatus::Sent,
        Outcome::Deferred(_) => MailStatus::Queued,
        Outcome::Failed(_) => MailStatus::Failed,
    };
    sh.events.publish(crate::events::Change::Mail {
        message_id: id.to_string(),
        status,
    });
    if let Err(e) = res {
        // The relay has the message but we could not note it: it will be sent again,
        // with the same Message-ID.
        log::error!(message = id; "recording a mail attempt failed: {e}");
    }
}

/// Records one attempt of a technician alert (no host alert: the host's outbox does not
/// list these; the journal and the technician's next notice do).
fn record_technician(sh: &Shared, m: &TechMail, outcome: Outcome) {
    let cfg = &sh.config.mail;
    let attempt = m.attempts + 1;
    let id = m.id.as_str();
    let res = match outcome {
        Outcome::Sent => {
            log::info!(message = id, result = "sent", attempt = attempt, kind = "technician"; "technician alert mail sent");
            sh.store.technician_sent(id, Utc::now())
        }
        Outcome::Deferred(err) => {
            let delay = backoff(attempt, cfg.retry_initial, cfg.retry_max, random_unit());
            let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            log::warn!(message = id, result = "deferred", attempt = attempt, kind = "technician";
                "technician alert mail deferred: {}", mask_addresses(&err));
            sh.store.technician_deferred(id, &err, next)
        }
        Outcome::Failed(err) => {
            log::error!(message = id, result = "failed", attempt = attempt, kind = "technician";
                "technician alert mail failed for good: {}", mask_addresses(&err));
            sh.store.technician_failed(id, &err)
        }
    };
    if let Err(e) = res {
        log::error!(message = id; "recording a technician mail attempt failed: {e}");
    }
}

fn tls_parameters(smtp: &SmtpConfig) -> Result<TlsParameters, String> {
    let mut b = TlsParametersBuilder::new(smtp.host.clone());
    if let Some(ca) = &smtp.ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| format!("reading mail.ca_file {}: {e}", ca.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "mail.ca_file {} is not a PEM certificate: {e}",
                ca.display()
            )
        })?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| format!("TLS setup: {e}"))
}

/// Opens an authenticated connection with every stage bounded by `mail.timeout_seconds`.
fn connect(smtp: &SmtpConfig) -> Result<SmtpConnection, String> {
    let hello = ClientId::default();
    let timeout = Some(smtp.timeout);
    let addr = (smtp.host.as_str(), smtp.port);
    let stage = |what: &str, e: lettre::transport::smtp::Error| {
        format!("{what} {}:{}: {e}", smtp.host, smtp.port)
    };
    let mut conn = match smtp.tls {
        MailTls::Tls => {
            let p = tls_parameters(smtp)?;
            SmtpConnection::connect(addr, timeout, &hello, Some(&p), None)
                .map_err(|e| stage("connecting (TLS) to", e))?
        }
        MailTls::StartTls => {
            let p = tls_parameters(smtp)?;
            let mut c = SmtpConnection::connect(addr, timeout, &hello, None, None)
                .map_err(|e| stage("connecting to", e))?;
            if !c.can_starttls() {
                c.abort();
                return Err(format!(
                    "{}:{} does not offer STARTTLS (set mail.tls = \"tls\" for port 465)",
                    smtp.host, smtp.port
                ));
            }
            c.starttls(&p, &hello)
                .map_err(|e| stage("STARTTLS with", e))?;
            c
        }
        MailTls::None => SmtpConnection::connect(addr, timeout, &hello, None, None)
            .map_err(|e| stage("connecting to", e))?,
    };
    if let Some((user, pass)) = &smtp.credentials {
        let creds = Credentials::new(user.clone(), pass.expose().to_string());
        conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
            .map_err(|e| stage("logging in to", e))?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_bounds() {
        let (i, m) = (Duration::from_secs(30), Duration::from_secs(1800));
        assert_eq!(backoff(1, i, m, 1.0), Duration::from_secs(30));
        assert_eq!(backoff(1, i, m, 0.0), Duration::from_secs(15));
        assert_eq!(backoff(2, i, m, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(3, i, m, 1.0), Duration::from_secs(120));
        for n in 7..200 {
            let d = backoff(n, i, m, 1.0);
            assert_eq!(d, m, "attempt {n} is capped");
            assert!(backoff(n, i, m, 0.0) >= m / 2);
        }
        assert_eq!(
            backoff(0, i, m, 1.0),
            i,
            "no failure yet counts as the first"
        );
    }
}
