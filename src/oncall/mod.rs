//! Telling the technician: the conditions that need a person, looked at on every health
//! round (`alerts.check_seconds`), and the mail (and webhook calls) that say when one
//! starts, reminds every `alerts.repeat_hours` while it lasts, and ends.
//!
//! Conditions ([`Condition`]), each with its threshold in `[alerts]`: the camera lost
//! while a show is scheduled today (running, or starting within 12 hours), the data disk below its floor, guest mail failed for
//! good (and not sent again), the relay unreachable for hours, no good backup for 48 h, the
//! last backup or purge failed, the daemon restarted after an unclean stop (a crash, a
//! `kill -9`, a watchdog abort: the run marker was left behind), the board under-volted
//! or throttled, the SoC too hot, and wrong PINs from many addresses (someone guessing).
//!
//! Invariants:
//! - whether a condition is on is decided by [`evaluate`], a pure function of what the
//!   health report (and a few store counts) say, so it is unit-tested without a box;
//! - a condition's start, reminder or end is written with its messages in one store
//!   transaction (`Store::technician_notice`): nothing is lost in a crash, and a
//!   condition is never announced twice;
//! - alert mail goes through the outbox's sender as its own kind (`technician_outbox`):
//!   never counted as a guest's mail, never purged with guest data, and it waits for the
//!   uplink like any message (what a mail cannot say while the relay is down, the webhook
//!   may);
//! - messages carry the box's name, the condition, since when, a plain detail and what to
//!   do; never a guest's name or address (details come from counts and device errors).

mod text;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::health::{Disk, Report};
use crate::outbox::UplinkState;
use crate::retention::LastRun;
use crate::show::ShowStatus;
use crate::store::{Channel, Notice, OpenCondition, Store, TechDraft};

/// The run marker in the data folder: written at start-up, removed by a clean stop.
pub const RUN_MARKER: &str = "cosmosd.running";

/// A lost camera matters when a show runs or starts within this many hours.
pub const SHOW_HORIZON_HOURS: i64 = 12;
/// How long a technician message is retried before it is given up.
const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Sent or failed technician messages are kept this long (then the journal has them).
const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// What can need the technician.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    CameraLost,
    DiskLow,
    MailFailed,
    UplinkDown,
    BackupStale,
    BackupFailed,
    PurgeFailed,
    UncleanRestart,
    Undervoltage,
    TooHot,
    LoginFlood,
}

impl Condition {
    pub const ALL: [Condition; 11] = [
        Condition::CameraLost,
        Condition::DiskLow,
        Condition::MailFailed,
        Condition::UplinkDown,
        Condition::BackupStale,
        Condition::BackupFailed,
        Condition::PurgeFailed,
        Condition::UncleanRestart,
        Condition::Undervoltage,
        Condition::TooHot,
        Condition::LoginFlood,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::CameraLost => "camera_lost",
            Condition::DiskLow => "disk_low",
            Condition::MailFailed => "mail_failed",
            Condition::UplinkDown => "uplink_down",
            Condition::BackupStale => "backup_stale",
            Condition::BackupFailed => "backup_failed",
            Condition::PurgeFailed => "purge_failed",
            Condition::UncleanRestart => "unclean_restart",
            Condition::Undervoltage => "undervoltage",
            Condition::TooHot => "too_hot",
            Condition::LoginFlood => "login_flood",
        }
    }

    pub fn parse(s: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A condition that is on: since when, and a plain sentence (no guest data).
#[derive(Debug, Clone, PartialEq)]
pub struct On {
    pub since: DateTime<Utc>,
    pub detail: String,
}

/// What the conditions are decided from: the health report and what it does not hold.
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    pub report: &'a Report,
    /// A show running or still to run in the next [`SHOW_HORIZON_HOURS`].
    pub show_today: bool,
    /// Guest messages failed for good and not sent again.
    pub failed_mail: u64,
    /// The start of this run, when the previous one ended uncleanly.
    pub unclean_restart: Option<DateTime<Utc>>,
    /// Whether scheduled backups are configured.
    pub backups: bool,
}

/// Which conditions are on now. Pure: everything comes in `f`.
pub fn evaluate(cfg: &crate::config::AlertsConfig, f: &Facts<'_>) -> Vec<(Condition, On)> {
    let r = f.report;
    let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or_default();
    let mut on = Vec::new();
    let mut push = |c, since, detail: String| on.push((c, On { since, detail }));
    if !r.camera.connected && f.show_today && f.now - r.camera.since >= span(cfg.camera_lost) {
        let why = r.camera.last_error.clone().unwrap_or_default();
        push(Condition::CameraLost, r.camera.since, why);
    }
    if let Disk::Low {
        free_bytes,
        min_free_bytes,
        ..
    } = r.disk
    {
        push(
            Condition::DiskLow,
            f.now,
            format!(
                "{} MB free, floor {} MB",
                free_bytes / 1_000_000,
                min_free_bytes / 1_000_000
            ),
        );
    }
    if f.failed_mail > 0 {
        push(
            Condition::MailFailed,
            f.now,
            format!("{} guest messages failed for good", f.failed_mail),
        );
    }
    if r.mail.uplink.state == UplinkState::Down
        && f.now - r.mail.uplink.since >= span(cfg.uplink_down)
    {
        let why = r.mail.uplink.last_error.clone().unwrap_or_default();
        push(Condition::UplinkDown, r.mail.uplink.since, why);
    }
    if f.backups && r.backup.stale {
        let since = r.backup.status.last_ok_at.unwrap_or(f.now);
        push(
            Condition::BackupStale,
            since,
            match r.backup.status.last_ok_at {
                Some(t) => format!("last good backup {}", t.to_rfc3339()),
                None => "no good backup yet".into(),
            },
        );
    }
    if f.backups
        && let Some(e) = &r.backup.status.last_error
    {
        let since = r.backup.status.last_attempt_at.unwrap_or(f.now);
        push(Condition::BackupFailed, since, e.clone());
    }
    if let Some(LastRun {
        at,
        outcome: Err(e),
    }) = &r.privacy.last_purge
    {
        push(Condition::PurgeFailed, *at, e.clone());
    }
    if let Some(t) = f.unclean_restart
        && f.now - t < span(cfg.restart_settled)
    {
        push(
            Condition::UncleanRestart,
            t,
            "the previous run did not stop cleanly (a crash, a kill or the watchdog)".into(),
        );
    }
    if let Some(t) = r.board.throttled.filter(|t| t.now()) {
        let flags: Vec<&str> = t
            .flags()
            .iter()
            .take(4)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect();
        push(Condition::Undervoltage, f.now, flags.join(", "));
    }
    if let Some(c) = r.board.temperature_c.filter(|c| *c > cfg.max_temp_c) {
        push(
            Condition::TooHot,
            f.now,
            format!("SoC at {c:.1} °C, limit {:.0} °C", cfg.max_temp_c),
        );
    }
    if r.login_flood {
        push(
            Condition::LoginFlood,
            f.now,
            "more than 30 wrong PINs in a minute from several addresses".into(),
        );
    }
    on
}

/// What to do about the conditions, for the daemon's health round.
pub struct Oncall {
    config: Arc<Config>,
    store: Arc<Store>,
    box_name: String,
    domain: String,
    unclean_restart: Option<DateTime<Utc>>,
    http: webhook::Client,
}

impl Oncall {
    /// `unclean_restart`: this run's start, when the previous run left its marker.
    pub fn new(
        config: Arc<Config>,
        store: Arc<Store>,
        unclean_restart: Option<DateTime<Utc>>,
    ) -> Oncall {
        let box_name = config.alerts.box_name.clone().unwrap_or_else(hostname);
        let domain = config.mail.from.email.domain().to_string();
        Oncall {
            config,
            store,
            box_name,
            domain,
            unclean_restart,
            http: webhook::Client::new(),
        }
    }

    /// One round: decides the conditions from `report`, records starts, reminders and
    /// ends with their messages, then calls the webhook for what is due. Returns whether
    /// alert mail was queued (the sender is to be woken). Blocks (store, webhook): run
    /// off the async workers.
    pub fn round(&self, report: &Report, now: DateTime<Utc>) -> bool {
        let facts = match self.facts(report, now) {
            Ok(f) => f,
            Err(e) => {
                log::error!("alerts: reading the store failed: {e}");
                return false;
            }
        };
        let on = evaluate(&self.config.alerts, &facts);
        let open = match self.store.technician_conditions() {
            Ok(o) => o,
            Err(e) => {
                log::error!("alerts: reading the open conditions failed: {e}");
                return false;
            }
        };
        let repeat = chrono::Duration::from_std(self.config.alerts.repeat).unwrap_or_default();
        let mut queued = false;
        for (c, state) in &on {
            queued |= match open.iter().find(|o| o.condition == c.as_str()) {
                None => self.notice(*c, Notice::Started, state.since, &state.detail, now),
                Some(o) if now - o.last_notified_at >= repeat => {
                    self.notice(*c, Notice::Reminder, o.started_at, &state.detail, now)
                }
                Some(_) => false,
            };
        }
        for o in &open {
            let still = on.iter().any(|(c, _)| c.as_str() == o.condition);
            if !still {
                queued |= self.notice_open(o, now);
            }
        }
        match self.store.tidy_technician(now, KEEP) {
            // The file transport's copies of the removed alerts go with them.
            Ok((_, removed)) => {
                let dir = self.config.storage.data_dir.join("mail").join("technician");
                for id in removed {
                    let _ = std::fs::remove_file(dir.join(format!("{id}.eml")));
                }
            }
            Err(e) => log::error!("alerts: tidying the technician outbox failed: {e}"),
        }
        let m = &self.config.mail;
        webhook::drain(
            &self.store,
            &self.http,
            &self.box_name,
            now,
            (m.retry_initial, m.retry_max),
        );
        queued && !self.config.alerts.email.is_empty()
    }

    fn facts<'a>(&self, report: &'a Report, now: DateTime<Utc>) -> crate::store::Result<Facts<'a>> {
        // "Today" is the next 12 hours (a venue's evening, whatever the clock's zone).
        let show_today = self
            .store
            .shows(
                Some(now),
                Some(now + chrono::Duration::hours(SHOW_HORIZON_HOURS)),
            )?
            .iter()
            .any(|s| !matches!(s.status, ShowStatus::Completed | ShowStatus::Cancelled));
        Ok(Facts {
            now,
            report,
            show_today,
            failed_mail: self.store.unresolved_failed_mails()?,
            unclean_restart: self.unclean_restart,
            backups: self.config.backup.destination.is_some(),
        })
    }

    /// An open condition that is no longer on.
    fn notice_open(&self, o: &OpenCondition, now: DateTime<Utc>) -> bool {
        match Condition::parse(&o.condition) {
            Some(c) => self.notice(c, Notice::Ended, o.started_at, &o.detail, now),
            None => {
                log::warn!(condition = o.condition.as_str(); "alerts: unknown open condition");
                false
            }
        }
    }

    fn notice(
        &self,
        c: Condition,
        notice: Notice,
        since: DateTime<Utc>,
        detail: &str,
        now: DateTime<Utc>,
    ) -> bool {
        let a = &self.config.alerts;
        let msg = text::message(a.language, &self.box_name, c, notice, since, detail);
        let mut drafts: Vec<TechDraft> = a
            .email
            .iter()
            .map(|to| TechDraft {
                channel: Channel::Email,
                recipient: to.clone(),
                language: a.language,
                subject: msg.subject.clone(),
                text: msg.text.clone(),
                domain: self.domain.clone(),
            })
            .collect();
        if let Some(url) = &a.webhook {
            drafts.push(TechDraft {
                channel: Channel::Webhook,
                recipient: url.clone(),
                language: a.language,
                subject: msg.subject.clone(),
                text: msg.text.clone(),
                domain: self.domain.clone(),
            });
        }
        match self.store.technician_notice(
            c.as_str(),
            notice,
            since,
            detail,
            &drafts,
            now,
            LIFETIME,
        ) {
            Ok(written) if !written => false,
            Ok(_) => {
                let line = format!("technician alert {}: {}", notice.as_str(), c.as_str());
                match notice {
                    Notice::Ended => log::info!(condition = c.as_str(), notice = notice.as_str(),
                        messages = drafts.len(); "{line}"),
                    _ => log::warn!(condition = c.as_str(), notice = notice.as_str(),
                        messages = drafts.len(), since = since.to_rfc3339().as_str(); "{line}: {detail}"),
                }
                true
            }
            Err(e) => {
                log::error!(condition = c.as_str(); "alerts: recording a technician alert failed: {e}");
                false
            }
        }
    }
}

/// Marks this run as started; returns when the previous run was, if it never stopped
/// cleanly (its marker is still there).
pub fn mark_running(data_dir: &Path, now: DateTime<Utc>) -> std::io::Result<Option<String>> {
    let p = marker(data_dir);
    let previous = std::fs::read_to_string(&p).ok();
    crate::photos::write_atomic(&p, now.to_rfc3339().as_bytes())?;
    Ok(previous.map(|s| s.trim().to_string()))
}

/// A clean stop: the marker goes.
pub fn mark_stopped(data_dir: &Path) {
    if let Err(e) = std::fs::remove_file(marker(data_dir))
        && e.kind() != std::io::ErrorKind::NotFound
    {
        log::warn!("removing the run marker failed: {e}");
    }
}

fn marker(data_dir: &Path) -> PathBuf {
    data_dir.join(RUN_MARKER)
}

/// The kernel's host name (the box's name by default).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "cosmos".into())
}

#[cfg(test)]
mod tests;
