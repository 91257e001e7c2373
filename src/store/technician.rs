//! The technician's alerts: the conditions on now (`technician_conditions`) and the
//! outbox's second kind of message, alert mail and webhook calls to the technical team
//! (`technician_outbox`). A condition's start, reminder or end and the messages that say
//! so are written in one transaction: a crash never loses the notice nor sends it for a
//! condition that was not recorded. Nothing here holds guest data, so the guests' mail
//! counts, stats and purge never read these tables.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};

use super::{Result, Store, ms, new_id, time};
use crate::show::{Language, MailStatus};

/// A condition that is on now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCondition {
    pub condition: String,
    pub started_at: DateTime<Utc>,
    pub detail: String,
    pub last_notified_at: DateTime<Utc>,
    pub reminders: u32,
}

/// How a technician message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

/// A message to the technical team, as queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TechMail {
    pub id: String,
    pub message_id: String,
    pub condition: String,
    /// `started`, `reminder` or `ended`.
    pub event: String,
    pub channel: Channel,
    pub recipient: String,
    pub language: Language,
    pub subject: String,
    pub text: String,
    /// The condition's plain detail.
    pub detail: String,
    /// When the condition started.
    pub since: DateTime<Utc>,
    pub status: MailStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// One message to queue with a condition's change.
#[derive(Debug, Clone)]
pub struct TechDraft {
    pub channel: Channel,
    pub recipient: String,
    pub language: Language,
    pub subject: String,
    pub text: String,
    /// The domain of the Message-ID (the sender's).
    pub domain: String,
}

/// What changes with a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Started,
    Reminder,
    Ended,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Started => "started",
            Notice::Reminder => "reminder",
            Notice::Ended => "ended",
        }
    }
}

const COLUMNS: &str = "id, message_id, condition, event, channel, recipient, language, subject,
     body_text, detail, since, status, attempts, last_error, created_at, next_attempt_at, expires_at, sent_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TechMail> {
    let channel: String = r.get(4)?;
    Ok(TechMail {
        id: r.get(0)?,
        message_id: r.get(1)?,
        condition: r.get(2)?,
        event: r.get(3)?,
        channel: if channel == "webhook" {
            Channel::Webhook
        } else {
            Channel::Email
        },
        recipient: r.get(5)?,
        language: r.get(6)?,
        subject: r.get(7)?,
        text: r.get(8)?,
        detail: r.get(9)?,
        since: time(r.get(10)?),
        status: r.get(11)?,
        attempts: r.get(12)?,
        last_error: r.get(13)?,
        created_at: time(r.get(14)?),
        next_attempt_at: time(r.get(15)?),
        expires_at: time(r.get(16)?),
        sent_at: r.get::<_, Option<i64>>(17)?.map(time),
    })
}

fn open_in(c: &Connection, condition: &str) -> Result<Option<OpenCondition>> {
    use rusqlite::OptionalExtension;
    Ok(c.prepare_cached(
        "SELECT condition, started_at, detail, last_notified_at, reminders
         FROM technician_conditions WHERE condition = ?1",
    )?
    .query_row([condition], |r| {
        Ok(OpenCondition {
            condition: r.get(0)?,
            started_at: time(r.get(1)?),
            detail: r.get(2)?,
            last_notified_at: time(r.get(3)?),
            reminders: r.get(4)?,
        })
    })
    .optional()?)
}

#[allow(clippy::too_many_arguments)]
fn queue(
    tx: &Transaction<'_>,
    condition: &str,
    notice: Notice,
    since: DateTime<Utc>,
    detail: &str,
    drafts: &[TechDraft],
    now: DateTime<Utc>,
    lifetime: Duration,
) -> Result<()> {
    let expires = now + chrono::Duration::from_std(lifetime).unwrap_or_default();
    for d in drafts {
        let id = new_id("tal");
        tx.execute(
            "INSERT INTO technician_outbox (id, message_id, condition, event, channel, recipient,
                 language, subject, body_text, detail, since, status, created_at, next_attempt_at,
                 expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14)",
            params![
                id,
                format!("<{id}@{}>", d.domain),
                condition,
                notice.as_str(),
                d.channel.as_str(),
                d.recipient,
                d.language,
                d.subject,
                d.text,
                detail,
                ms(since),
                MailStatus::Queued,
                ms(now),
                ms(expires)
            ],
        )?;
    }
    Ok(())
}

impl Store {
    /// The conditions on now, oldest first.
    pub fn technician_conditions(&self) -> Result<Vec<OpenCondition>> {
        self.read(|c| {
            let names: Vec<String> = c
                .prepare_cached(
                    "SELECT condition FROM technician_conditions ORDER BY started_at, condition",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(names
                .iter()
                .filter_map(|n| open_in(c, n).ok().flatten())
                .collect())
        })
    }

    /// Records a condition's start (or a reminder, or its end) with the messages saying
    /// so, in one transaction. A start of a condition already on, or the end or reminder
    /// of one that is not, writes nothing and returns false.
    #[allow(clippy::too_many_arguments)]
    pub fn technician_notice(
        &self,
        condition: &str,
        notice: Notice,
        since: DateTime<Utc>,
        detail: &str,
        drafts: &[TechDraft],
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<bool> {
        self.write(|tx| {
            let open = open_in(tx, condition)?;
            match (notice, open) {
                (Notice::Started, None) => {
                    tx.execute(
                        "INSERT INTO technician_conditions (condition, started_at, detail, last_notified_at)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![condition, ms(since), detail, ms(now)],
                    )?;
                }
                (Notice::Reminder, Some(_)) => {
                    tx.execute(
                        "UPDATE technician_conditions SET last_notified_at = ?2,
                                reminders = reminders + 1, detail = ?3 WHERE condition = ?1",
                        params![condition, ms(now), detail],
                    )?;
                }
                (Notice::Ended, Some(_)) => {
                    tx.execute(
                        "DELETE FROM technician_conditions WHERE condition = ?1",
                        [condition],
                    )?;
                }
                _ => return Ok(false),
            }
            queue(tx, condition, notice, since, detail, drafts, now, lifetime)?;
            Ok(true)
        })
    }

    /// Queued technician messages of `channel` whose next attempt is due, oldest first.
    pub fn due_technician(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TechMail>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM technician_outbox
                 WHERE channel = ?1 AND status = ?2 AND next_attempt_at <= ?3
                 ORDER BY next_attempt_at, created_at, rowid LIMIT ?4"
            ))?
            .query_map(
                params![channel.as_str(), MailStatus::Queued, ms(now), limit],
                row,
            )?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    /// When the next queued technician message of `channel` is due, if any.
    pub fn next_technician_due(&self, channel: Channel) -> Result<Option<DateTime<Utc>>> {
        self.read(|c| {
            let t: Option<i64> = c.query_row(
                "SELECT min(min(next_attempt_at, expires_at)) FROM technician_outbox
                 WHERE channel = ?1 AND status = ?2",
                params![channel.as_str(), MailStatus::Queued],
                |r| r.get(0),
            )?;
            Ok(t.map(time))
        })
    }

    /// Newest first (for health and tests).
    pub fn technician_mails(&self, limit: u32) -> Result<Vec<TechMail>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM technician_outbox ORDER BY created_at DESC, rowid DESC LIMIT ?1"
            ))?
            .query_map([limit], row)?
            .collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Queued technician messages, and when the oldest was queued.
    pub fn technician_queued(&self) -> Result<(u64, Option<DateTime<Utc>>)> {
        self.read(|c| {
            let (n, oldest): (i64, Option<i64>) = c.query_row(
                "SELECT count(*), min(created_at) FROM technician_outbox WHERE status = ?1",
                [MailStatus::Queued],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((n as u64, oldest.map(time)))
        })
    }

    /// The relay (or the webhook) took it.
    pub fn technician_sent(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE technician_outbox SET status = ?3, attempts = attempts + 1, sent_at = ?2,
                        last_error = NULL WHERE id = ?1 AND status = ?4",
                params![id, ms(now), MailStatus::Sent, MailStatus::Queued],
            )?;
            Ok(())
        })
    }

    /// A temporary failure: try again at `next`.
    pub fn technician_deferred(&self, id: &str, error: &str, next: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE technician_outbox SET attempts = attempts + 1, last_error = ?2,
                        next_attempt_at = ?3 WHERE id = ?1 AND status = ?4",
                params![id, error, ms(next), MailStatus::Queued],
            )?;
            Ok(())
        })
    }

    /// Refused for good.
    pub fn technician_failed(&self, id: &str, error: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE technician_outbox SET status = ?3, attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1 AND status = ?4",
                params![id, error, MailStatus::Failed, MailStatus::Queued],
            )?;
            Ok(())
        })
    }

    /// Queued technician messages past their lifetime fail. Sent and failed ones older
    /// than `keep` are removed (the journal keeps the history). Returns how many failed,
    /// and the ids removed (their `.eml` copies go too).
    pub fn tidy_technician(
        &self,
        now: DateTime<Utc>,
        keep: Duration,
    ) -> Result<(u64, Vec<String>)> {
        let before = now - chrono::Duration::from_std(keep).unwrap_or_default();
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE technician_outbox SET status = ?3,
                        last_error = 'queue lifetime ended' || coalesce('; last error: ' || last_error, '')
                 WHERE status = ?2 AND expires_at <= ?1",
                params![ms(now), MailStatus::Queued, MailStatus::Failed],
            )?;
            let removed = tx
                .prepare(
                    "DELETE FROM technician_outbox WHERE status != ?1 AND created_at < ?2
                     RETURNING id",
                )?
                .query_map(params![MailStatus::Queued, ms(before)], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok((n as u64, removed))
        })
    }

    /// Guest messages failed for good and not sent again by the host (a resend).
    pub fn unresolved_failed_mails(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT count(*) FROM outbox o WHERE o.status = ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox r WHERE r.resend_of = o.id)",
                [MailStatus::Failed],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(to: &str) -> TechDraft {
        TechDraft {
            channel: Channel::Email,
            recipient: to.into(),
            language: Language::Es,
            subject: "s".into(),
            text: "t".into(),
            domain: "example.com".into(),
        }
    }

    #[test]
    fn a_condition_starts_once_reminds_and_ends_with_its_messages_in_one_go() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        let t0 = Utc::now();
        let life = Duration::from_secs(3600);
        let d = [draft("a@example.com"), draft("b@example.com")];
        assert!(
            s.technician_notice("disk_low", Notice::Started, t0, "x", &d, t0, life)
                .unwrap()
        );
        assert!(
            !s.technician_notice("disk_low", Notice::Started, t0, "x", &d, t0, life)
                .unwrap(),
            "a condition on is not started twice"
        );
        assert!(
            !s.technician_notice("camera_lost", Notice::Ended, t0, "x", &d, t0, life)
                .unwrap(),
            "a condition off does not end"
        );
        assert!(
            s.technician_notice("disk_low", Notice::Reminder, t0, "y", &d, t0, life)
                .unwrap()
        );
        let open = s.technician_conditions().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].reminders, open[0].detail.as_str()), (1, "y"));
        assert!(
            s.technician_notice("disk_low", Notice::Ended, t0, "y", &d, t0, life)
                .unwrap()
        );
        assert!(s.technician_conditions().unwrap().is_empty());
        let due = s.due_technician(Channel::Email, t0, 100).unwrap();
        assert_eq!(due.len(), 6, "two recipients × started, reminder, ended");
        assert_eq!(
            s.due_technician(Channel::Webhook, t0, 100).unwrap().len(),
            0
        );
        assert_eq!(s.mail_counts().unwrap().queued, 0, "not a guest's mail");
        s.technician_sent(&due[0].id, t0).unwrap();
        assert_eq!(s.technician_queued().unwrap().0, 5);
        let later = t0 + chrono::Duration::hours(2);
        let (failed, removed) = s.tidy_technician(later, Duration::from_secs(60)).unwrap();
        assert_eq!(failed, 5);
        assert_eq!(removed.len(), 6, "the sent one and the five failed");
        assert!(removed.contains(&due[0].id));
        assert!(
            s.technician_mails(100).unwrap().is_empty(),
            "old ones tidied"
        );
    }
}
