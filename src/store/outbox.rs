//! The outbox tables: finishing a show queues its messages in the same transaction, and
//! the sender moves each message queued → sent | failed. Only the sender and the host's
//! retry/flush change a message after it is queued.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::guests::guest_in;
use super::photos::photo_row;
use super::shows::{event, release_guests, show_in};
use super::{Guest, Photo, Result, Show, Store, ms, time};
use crate::show::{
    self, GuestStatus, Language, MailStatus, PhotoState, Refusal, ShowStatus, TimelineEvent,
};

/// One personalised message, rendered at queueing time, waiting in (or gone from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub id: String,
    /// RFC 5322 Message-ID (with the angle brackets), the same on every attempt.
    pub message_id: String,
    pub show_id: String,
    pub guest_id: String,
    pub recipient: String,
    pub language: Language,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The photos whose email-size JPEGs are attached, in order.
    pub attachments: Vec<Photo>,
    pub status: MailStatus,
    /// Attempts the relay answered (or that broke mid-transfer); uplink-down waits do not count.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    /// After this the message is no longer retried (the queue lifetime).
    pub expires_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The message this one sends again (the host's resend), kept as history.
    pub resend_of: Option<String>,
}

/// A rendered message for one guest of a show being finished.
#[derive(Debug, Clone)]
pub struct MailDraft {
    pub id: String,
    pub message_id: String,
    pub guest_id: String,
    pub recipient: String,
    pub language: Language,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// How many messages are in each state, for health and the host's banner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailCounts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub oldest_queued: Option<DateTime<Utc>>,
}

const MAIL_COLUMNS: &str =
    "id, message_id, show_id, guest_id, recipient, language, subject, body_text, body_html,
     status, attempts, last_error, created_at, next_attempt_at, expires_at, sent_at, resend_of";

fn mail_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Mail> {
    Ok(Mail {
        id: r.get(0)?,
        message_id: r.get(1)?,
        show_id: r.get(2)?,
        guest_id: r.get(3)?,
        recipient: r.get(4)?,
        language: r.get(5)?,
        subject: r.get(6)?,
        text: r.get(7)?,
        html: r.get(8)?,
        attachments: Vec::new(),
        status: r.get(9)?,
        attempts: r.get(10)?,
        last_error: r.get(11)?,
        created_at: time(r.get(12)?),
        next_attempt_at: time(r.get(13)?),
        expires_at: time(r.get(14)?),
        sent_at: r.get::<_, Option<i64>>(15)?.map(time),
        resend_of: r.get(16)?,
    })
}

fn with_attachments(c: &Connection, mut m: Mail) -> Result<Mail> {
    m.attachments = c
        .prepare_cached(
            "SELECT p.id, p.show_id, p.kind, p.state, p.name, p.captured_at, p.width, p.height, p.bytes
             FROM outbox_attachments a JOIN photos p ON p.id = a.photo_id
             WHERE a.outbox_id = ?1 ORDER BY a.position",
        )?
        .query_map([&m.id], photo_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(m)
}

fn mails_where(c: &Connection, cond: &str, p: impl rusqlite::Params) -> Result<Vec<Mail>> {
    let list: Vec<Mail> = c
        .prepare_cached(&format!("SELECT {MAIL_COLUMNS} FROM outbox WHERE {cond}"))?
        .query_map(p, mail_row)?
        .collect::<rusqlite::Result<_>>()?;
    list.into_iter().map(|m| with_attachments(c, m)).collect()
}

fn mail_in(c: &Connection, id: &str) -> Result<Mail> {
    let m = c
        .prepare_cached(&format!("SELECT {MAIL_COLUMNS} FROM outbox WHERE id = ?1"))?
        .query_row([id], mail_row)
        .optional()?
        .ok_or_else(|| Refusal::not_found("message"))?;
    with_attachments(c, m)
}

fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Queues one rendered message (its attachments are the caller's).
fn insert_mail(
    c: &Connection,
    show_id: &str,
    d: &MailDraft,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
    resend_of: Option<&str>,
) -> Result<()> {
    c.execute(
        "INSERT INTO outbox (id, message_id, show_id, guest_id, recipient, language, subject,
                             body_text, body_html, status, created_at, next_attempt_at, expires_at,
                             resend_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?12, ?10, ?10, ?11, ?13)",
        params![
            d.id,
            d.message_id,
            show_id,
            d.guest_id,
            d.recipient,
            d.language,
            d.subject,
            d.text,
            d.html,
            ms(now),
            ms(expires),
            MailStatus::Queued,
            resend_of
        ],
    )?;
    Ok(())
}

impl Store {
    /// Completes a show and queues one message per guest, in one transaction: when this
    /// returns, the messages are on disk. `seen` is the show the drafts were rendered
    /// from; if it changed since (a guest's name corrected, a photo approved), nothing is
    /// written and the caller renders again.
    pub fn finish_show(
        &self,
        seen: &Show,
        drafts: &[MailDraft],
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Result<(Show, Vec<Mail>)> {
        self.write(|tx| {
            let cur = show_in(tx, &seen.id)?;
            let pending = cur
                .photos
                .iter()
                .filter(|p| p.state == PhotoState::Pending)
                .count();
            show::check_finishable(cur.status, pending)?;
            show::check_mail_drafts(
                cur == *seen,
                cur.guests.iter().map(|g| g.guest.id.as_str()),
                drafts.iter().map(|d| d.guest_id.as_str()),
            )?;
            let expires = add(now, lifetime);
            for d in drafts {
                insert_mail(tx, &cur.id, d, expires, now, None)?;
                for (i, p) in cur.photos.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO outbox_attachments (outbox_id, photo_id, position) VALUES (?1, ?2, ?3)",
                        params![d.id, p.id, i as i64],
                    )?;
                }
            }
            tx.execute(
                "UPDATE shows SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![cur.id, ShowStatus::Completed, ms(now)],
            )?;
            release_guests(tx, &cur.id, GuestStatus::Done, now)?;
            event(tx, &cur.id, now, TimelineEvent::Status(ShowStatus::Completed))?;
            let mails = drafts
                .iter()
                .map(|d| mail_in(tx, &d.id))
                .collect::<Result<Vec<_>>>()?;
            Ok((show_in(tx, &cur.id)?, mails))
        })
    }

    pub fn mail(&self, id: &str) -> Result<Mail> {
        self.read(|c| mail_in(c, id))
    }

    /// The outbox, newest first, optionally one status only.
    pub fn mails(&self, status: Option<MailStatus>, limit: u32) -> Result<Vec<Mail>> {
        self.read(|c| match status {
            Some(s) => mails_where(
                c,
                "status = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2",
                params![s, limit],
            ),
            None => mails_where(
                c,
                "1 ORDER BY created_at DESC, rowid DESC LIMIT ?1",
                [limit],
            ),
        })
    }

    /// Queued messages whose next attempt is due, oldest first.
    pub fn due_mails(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Mail>> {
        self.read(|c| {
            mails_where(
                c,
                "status = ?3 AND next_attempt_at <= ?1 ORDER BY next_attempt_at, created_at, rowid LIMIT ?2",
                params![ms(now), limit, MailStatus::Queued],
            )
        })
    }

    /// When the next queued message (or lifetime end) is due, if any is queued.
    pub fn next_mail_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(|c| {
            let t: Option<i64> = c.query_row(
                "SELECT min(min(next_attempt_at, expires_at)) FROM outbox WHERE status = ?1",
                [MailStatus::Queued],
                |r| r.get(0),
            )?;
            Ok(t.map(time))
        })
    }

    /// Queued messages past their lifetime become failed; returns their ids.
    pub fn expire_mails(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
        self.write(|tx| {
            let ids: Vec<String> = tx
                .prepare_cached("SELECT id FROM outbox WHERE status = ?2 AND expires_at <= ?1")?
                .query_map(params![ms(now), MailStatus::Queued], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            tx.execute(
                "UPDATE outbox SET status = ?3,
                        last_error = 'queue lifetime ended' || coalesce('; last error: ' || last_error, '')
                 WHERE status = ?2 AND expires_at <= ?1",
                params![ms(now), MailStatus::Queued, MailStatus::Failed],
            )?;
            Ok(ids)
        })
    }

    /// The relay accepted the message, sent to `recipient`. If the guest's address was
    /// corrected meanwhile (the row names another recipient now), the message stays
    /// queued and goes again, to the corrected address; returns whether it was marked sent.
    pub fn mail_sent(&self, id: &str, recipient: &str, now: DateTime<Utc>) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE outbox SET status = ?4, attempts = attempts + 1, sent_at = ?2, last_error = NULL
                 WHERE id = ?1 AND status = ?3 AND recipient = ?5",
                params![id, ms(now), MailStatus::Queued, MailStatus::Sent, recipient],
            )?;
            Ok(n == 1)
        })
    }

    /// A temporary failure: try again at `next`.
    pub fn mail_deferred(&self, id: &str, error: &str, next: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
                 WHERE id = ?1 AND status = ?4",
                params![id, error, ms(next), MailStatus::Queued],
            )?;
            Ok(())
        })
    }

    /// A permanent failure: the relay refused the message for good.
    pub fn mail_failed(&self, id: &str, error: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET status = ?4, attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1 AND status = ?3",
                params![id, error, MailStatus::Queued, MailStatus::Failed],
            )?;
            Ok(())
        })
    }

    /// The host queues a failed message again, now, with a fresh lifetime.
    pub fn retry_mail(&self, id: &str, lifetime: Duration, now: DateTime<Utc>) -> Result<Mail> {
        self.write(|tx| {
            let m = mail_in(tx, id)?;
            show::check_mail_retry(m.status)?;
            tx.execute(
                "UPDATE outbox SET status = ?4, next_attempt_at = ?2, expires_at = ?3 WHERE id = ?1",
                params![id, ms(now), ms(add(now, lifetime)), MailStatus::Queued],
            )?;
            mail_in(tx, id)
        })
    }

    /// The host sends message `old_id` again: a new message (the draft, rendered from
    /// `seen`) to the guest's current address with the same photos, queued now; the old
    /// one stays as it is. If the guest changed since `seen`, nothing is written and the
    /// caller renders again.
    pub fn resend_mail(
        &self,
        old_id: &str,
        seen: &Guest,
        draft: &MailDraft,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Result<Mail> {
        self.write(|tx| {
            let old = mail_in(tx, old_id)?;
            show::check_mail_resend(old.status)?;
            let guest = guest_in(tx, &old.guest_id)?;
            show::check_resend_draft(guest == *seen && draft.guest_id == guest.id)?;
            let d = MailDraft {
                recipient: guest.email.clone(),
                ..draft.clone()
            };
            insert_mail(tx, &old.show_id, &d, add(now, lifetime), now, Some(&old.id))?;
            tx.execute(
                "INSERT INTO outbox_attachments (outbox_id, photo_id, position)
                 SELECT ?1, photo_id, position FROM outbox_attachments WHERE outbox_id = ?2",
                params![d.id, old.id],
            )?;
            mail_in(tx, &d.id)
        })
    }

    /// Makes every queued message due now; returns how many.
    pub fn flush_mails(&self, now: DateTime<Utc>) -> Result<u64> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET next_attempt_at = ?1 WHERE status = ?2 AND next_attempt_at > ?1",
                params![ms(now), MailStatus::Queued],
            )?;
            let queued: i64 = tx.query_row(
                "SELECT count(*) FROM outbox WHERE status = ?1",
                [MailStatus::Queued],
                |r| r.get(0),
            )?;
            Ok(queued as u64)
        })
    }

    pub fn mail_counts(&self) -> Result<MailCounts> {
        self.read(|c| {
            let mut out = MailCounts::default();
            let mut st = c.prepare_cached(
                "SELECT status, count(*), min(created_at) FROM outbox GROUP BY status",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, MailStatus>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })?;
            for row in rows {
                let (s, n, oldest) = row?;
                match s {
                    MailStatus::Queued => {
                        out.queued = n;
                        out.oldest_queued = oldest.map(time);
                    }
                    MailStatus::Sent => out.sent = n,
                    MailStatus::Failed => out.failed = n,
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::{Element, Energy, NewGuest, PhotoKind, ScheduleRules, ShowAction};
    use crate::store::{NewPhoto, ShowDraft, new_id};

    /// A store with one show in review holding two guests and one approved photo.
    fn show_in_review() -> (tempfile::TempDir, Store, Show) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        let now = Utc::now();
        let ids: Vec<String> = (0..2)
            .map(|i| {
                let g = NewGuest {
                    name: format!("Guest {i}"),
                    email: format!("g{i}@example.org"),
                    energy: Energy::Solar,
                    element: Element::Aire,
                    essence: "flor".into(),
                    language: Language::Es,
                };
                s.add_guest(&g, now).unwrap().id
            })
            .collect();
        let rules = ScheduleRules {
            changeover: chrono::Duration::minutes(5),
            max_guests: 4,
            default_minutes: 15,
        };
        let draft = ShowDraft {
            start: now,
            duration_minutes: 15,
            guest_ids: ids,
        };
        let show = s.create_show(&draft, &rules, now).unwrap();
        s.apply(&show.id, ShowAction::Start, now).unwrap();
        s.apply(&show.id, ShowAction::Pose, now).unwrap();
        let (p, _) = s
            .add_photo(
                &NewPhoto {
                    id: new_id("ph"),
                    show_id: show.id.clone(),
                    kind: PhotoKind::Posed,
                    name: "x-posed".into(),
                    captured_at: now,
                    width: 30,
                    height: 20,
                    bytes: 1,
                },
                now,
            )
            .unwrap();
        let show = s.show(&show.id).unwrap();
        assert!(
            show::check_finishable(show.status, 1).is_err(),
            "a pending photo blocks finish"
        );
        s.approve_photo(&p.id, now).unwrap();
        let show = s.show(&show.id).unwrap();
        (dir, s, show)
    }

    fn drafts(show: &Show) -> Vec<MailDraft> {
        show.guests
            .iter()
            .map(|g| MailDraft {
                id: new_id("m"),
                message_id: format!("<{}@example.com>", new_id("x")),
                guest_id: g.guest.id.clone(),
                recipient: g.guest.email.clone(),
                language: Language::Es,
                subject: "s".into(),
                text: "t".into(),
                html: "h".into(),
            })
            .collect()
    }

    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

    #[test]
    fn finishing_queues_in_the_same_transaction_and_messages_move_through_their_states() {
        let (_d, s, show) = show_in_review();
        let now = time(ms(Utc::now())); // the store keeps milliseconds

        // Drafts for other guests than the show's: nothing is written.
        let mut wrong = drafts(&show);
        wrong.pop();
        let before = s.show(&show.id).unwrap();
        assert!(s.finish_show(&show, &wrong, WEEK, now).is_err());
        assert_eq!(s.show(&show.id).unwrap(), before);
        assert_eq!(s.mail_counts().unwrap(), MailCounts::default());

        let (done, mails) = s.finish_show(&show, &drafts(&show), WEEK, now).unwrap();
        assert_eq!(done.status, ShowStatus::Completed);
        assert_eq!(mails.len(), 2);
        assert!(
            mails
                .iter()
                .all(|m| m.attachments.len() == 1 && m.status == MailStatus::Queued)
        );
        // Finishing twice is a wrong-state refusal, and queues nothing more.
        assert!(s.finish_show(&done, &drafts(&done), WEEK, now).is_err());
        assert_eq!(s.mail_counts().unwrap().queued, 2);

        let (a, b) = (&mails[0].id, &mails[1].id);
        assert_eq!(s.due_mails(now, 10).unwrap().len(), 2);
        s.mail_deferred(a, "451 later", now + chrono::Duration::minutes(1))
            .unwrap();
        assert_eq!(
            s.due_mails(now, 10).unwrap().len(),
            1,
            "a deferred message is not due"
        );
        assert_eq!(s.next_mail_due().unwrap(), Some(now), "b is still due now");
        s.mail_failed(b, "550 no such user").unwrap();
        assert_eq!(
            s.next_mail_due().unwrap(),
            Some(now + chrono::Duration::minutes(1))
        );
        // Flush makes the deferred one due again.
        assert_eq!(s.flush_mails(now).unwrap(), 1);
        assert_eq!(s.due_mails(now, 10).unwrap()[0].id, *a);

        // Past its lifetime a queued message fails, keeping the last error.
        let later = now + chrono::Duration::days(8);
        assert_eq!(s.expire_mails(later).unwrap(), vec![a.clone()]);
        let m = s.mail(a).unwrap();
        assert_eq!(m.status, MailStatus::Failed);
        assert_eq!(m.attempts, 1);
        assert_eq!(
            m.last_error.as_deref(),
            Some("queue lifetime ended; last error: 451 later")
        );

        // The host's retry gives it a fresh lifetime; a retry of a queued one is refused.
        let m = s.retry_mail(a, WEEK, later).unwrap();
        assert_eq!(m.status, MailStatus::Queued);
        assert!(m.expires_at > later);
        assert!(s.retry_mail(a, WEEK, later).is_err());
        let to = s.mail(a).unwrap().recipient;
        assert!(
            !s.mail_sent(a, "old@example.org", later).unwrap(),
            "sent to an address since corrected: it stays queued"
        );
        assert_eq!(s.mail(a).unwrap().status, MailStatus::Queued);
        assert!(s.mail_sent(a, &to, later).unwrap());
        let m = s.mail(a).unwrap();
        assert_eq!(
            (m.status, m.attempts, m.last_error),
            (MailStatus::Sent, 2, None)
        );
        assert!(
            s.retry_mail(a, WEEK, later).is_err(),
            "a sent message is not retried"
        );
        let c = s.mail_counts().unwrap();
        assert_eq!((c.queued, c.sent, c.failed), (0, 1, 1));
    }

    #[test]
    fn a_show_that_changed_since_rendering_is_not_finished() {
        let (_d, s, show) = show_in_review();
        let g = &show.guests[0].guest;
        s.update_guest(&g.id, Some("Renamed"), None, Utc::now())
            .unwrap();
        let e = s
            .finish_show(&show, &drafts(&show), WEEK, Utc::now())
            .unwrap_err();
        assert!(
            matches!(e, crate::store::Error::Refused(ref r) if r.code == show::RefusalCode::ShowChanged),
            "{e}"
        );
        assert_eq!(s.mail_counts().unwrap().queued, 0);
    }
}
