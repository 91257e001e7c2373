//! The night's numbers, counted from what the tables already record: guests by when
//! they registered, the shows' timelines (completed, cancelled, photos taken, retakes,
//! deleted photos, failed captures) and the outbox (sent by when the relay took it;
//! failed and still queued by when they were queued). Days are UTC days. What the
//! retention purge removed is no longer counted.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::params;

use super::{Result, Store, ms};
use crate::show::{MailStatus, ShowStatus, TimelineEvent};

/// One day's (or a window's) counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub guests_registered: u64,
    pub shows_completed: u64,
    pub shows_cancelled: u64,
    /// Spontaneous and posed photos that reached the database (retakes included).
    pub photos_taken: u64,
    pub retakes: u64,
    pub photos_deleted: u64,
    pub mails_sent: u64,
    pub mails_failed: u64,
    pub mails_queued: u64,
    /// Spontaneous photos that failed after their retries, and posed captures that failed.
    pub capture_failures: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.guests_registered += o.guests_registered;
        self.shows_completed += o.shows_completed;
        self.shows_cancelled += o.shows_cancelled;
        self.photos_taken += o.photos_taken;
        self.retakes += o.retakes;
        self.photos_deleted += o.photos_deleted;
        self.mails_sent += o.mails_sent;
        self.mails_failed += o.mails_failed;
        self.mails_queued += o.mails_queued;
        self.capture_failures += o.capture_failures;
    }
}

/// Every day of a window (empty days too) and the window's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub days: Vec<(NaiveDate, Counts)>,
    pub totals: Counts,
}

const DAY_MS: i64 = 86_400_000;

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

impl Store {
    /// Counts per UTC day from `from` to `to`, both included (the window is the
    /// domain's to check).
    pub fn stats(&self, from: NaiveDate, to: NaiveDate) -> Result<Stats> {
        let start = day_start(from);
        let end = day_start(to) + Duration::days(1);
        let n = (to - from).num_days() + 1;
        let mut days: Vec<(NaiveDate, Counts)> = (0..n)
            .map(|i| (from + Duration::days(i), Counts::default()))
            .collect();
        let first_day = ms(start).div_euclid(DAY_MS);
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT created_at / 86400000, 'guests', count(*) FROM guests
                  WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1
                 UNION ALL
                 SELECT at / 86400000, kind, count(*) FROM show_events
                  WHERE at >= ?1 AND at < ?2 GROUP BY 1, 2
                 UNION ALL
                 SELECT sent_at / 86400000, 'mail_' || status, count(*) FROM outbox
                  WHERE status = ?3 AND sent_at >= ?1 AND sent_at < ?2 GROUP BY 1
                 UNION ALL
                 SELECT created_at / 86400000, 'mail_' || status, count(*) FROM outbox
                  WHERE status <> ?3 AND created_at >= ?1 AND created_at < ?2 GROUP BY 1, 2",
            )?;
            let rows = st.query_map(params![ms(start), ms(end), MailStatus::Sent], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?;
            for row in rows {
                let (day, what, n) = row?;
                let Some((_, c)) = usize::try_from(day - first_day)
                    .ok()
                    .and_then(|i| days.get_mut(i))
                else {
                    continue;
                };
                count(c, &what, n);
            }
            Ok(())
        })?;
        let mut totals = Counts::default();
        for (_, c) in &days {
            totals.add(c);
        }
        Ok(Stats { days, totals })
    }
}

/// Adds `n` occurrences of `what`: `guests`, a timeline event, or `mail_` and a status.
fn count(c: &mut Counts, what: &str, n: u64) {
    let ev = |e: TimelineEvent| e.as_str() == what;
    let mail = |s: MailStatus| what.strip_prefix("mail_") == Some(s.as_str());
    if what == "guests" {
        c.guests_registered += n;
    } else if ev(TimelineEvent::Status(ShowStatus::Completed)) {
        c.shows_completed += n;
    } else if ev(TimelineEvent::Status(ShowStatus::Cancelled)) {
        c.shows_cancelled += n;
    } else if ev(TimelineEvent::Captured) || ev(TimelineEvent::SpontaneousTaken) {
        c.photos_taken += n;
    } else if ev(TimelineEvent::Retaken) {
        c.photos_taken += n;
        c.retakes += n;
    } else if ev(TimelineEvent::PhotoDeleted) {
        c.photos_deleted += n;
    } else if ev(TimelineEvent::SpontaneousFailed) || ev(TimelineEvent::CaptureFailed) {
        c.capture_failures += n;
    } else if mail(MailStatus::Sent) {
        c.mails_sent += n;
    } else if mail(MailStatus::Failed) {
        c.mails_failed += n;
    } else if mail(MailStatus::Queued) {
        c.mails_queued += n;
    }
}
