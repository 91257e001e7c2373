//! The daily retention purge: guest data untouched for `privacy.retention_days` is
//! deleted — database rows (see [`crate::store::Purged`] for what and why it leaves no
//! copy behind), the photo files, and the `.eml` copies of the file transport.
//!
//! Runs at start-up and then every 24 hours, off the async workers. One journal line per
//! run, with counts only.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::photos::PhotoFiles;
use crate::store::{Purged, Store};

/// How often the purge runs.
pub const EVERY: Duration = Duration::from_secs(24 * 3600);

/// The last run, for the health report.
#[derive(Debug, Default)]
pub struct Retention {
    last: Mutex<Option<LastRun>>,
}

#[derive(Debug, Clone)]
pub struct LastRun {
    pub at: DateTime<Utc>,
    pub outcome: Result<Purged, String>,
}

impl Retention {
    pub fn last(&self) -> Option<LastRun> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, run: LastRun) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(run);
    }
}

/// One purge: rows first (one transaction), then the files the removed rows named. A
/// crash between the two leaves orphan photo files, which the start-up sweep removes.
pub fn purge(config: &Config, store: &Store, now: DateTime<Utc>) -> anyhow::Result<Purged> {
    let cutoff =
        now - chrono::Duration::from_std(config.privacy.retention).unwrap_or(chrono::Duration::MAX);
    let purged = store.purge(cutoff)?;
    // The kiosk's idempotency keys live a day, whatever the retention.
    store.purge_registration_keys(now)?;
    let data_dir = &config.storage.data_dir;
    let files = PhotoFiles::new(data_dir);
    for (show_id, name) in &purged.photo_files {
        files.remove(show_id, name);
    }
    for show_id in purged.photo_files.iter().map(|(s, _)| s) {
        // Only empty folders go; anything else in there stays for the technician.
        let _ = std::fs::remove_dir(files.root().join(show_id));
    }
    remove_eml(&data_dir.join("mail"), &purged.message_ids);
    Ok(purged)
}

/// Erases a guest on request: their rows (see `Store::erase_guest`), then the `.eml`
/// copies of their messages.
pub fn erase_guest(
    config: &Config,
    store: &Store,
    id: &str,
    now: DateTime<Utc>,
) -> Result<crate::store::Erased, crate::store::Error> {
    let erased = store.erase_guest(id, now)?;
    remove_eml(&config.storage.data_dir.join("mail"), &erased.message_ids);
    Ok(erased)
}

fn remove_eml(dir: &Path, ids: &[String]) {
    for id in ids {
        let p = dir.join(format!("{id}.eml"));
        if let Err(e) = std::fs::remove_file(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!(file = p.display().to_string().as_str(); "retention: could not remove a mail file: {e}");
        }
    }
}

/// The daily task: runs [`purge`] now and every [`EVERY`] until `stop`.
pub async fn run(
    config: Arc<Config>,
    store: Arc<Store>,
    state: Arc<Retention>,
    stop: CancellationToken,
) {
    loop {
        let (c, s) = (config.clone(), store.clone());
        let now = Utc::now();
        let outcome = match tokio::task::spawn_blocking(move || purge(&c, &s, now)).await {
            Ok(Ok(p)) => {
                log::info!(
                    guests = p.guests, shows = p.shows, photos = p.photos, messages = p.messages,
                    sessions = p.sessions, wal_truncated = p.wal_truncated,
                    retention_days = config.privacy.retention.as_secs() / 86_400;
                    "retention purge: {} guests, {} shows, {} photos, {} messages removed",
                    p.guests, p.shows, p.photos, p.messages
                );
                Ok(p)
            }
            Ok(Err(e)) => {
                log::error!(error = format!("{e:#}").as_str(); "retention purge failed: {e:#}");
                Err(format!("{e:#}"))
            }
            Err(e) => {
                log::error!("retention purge panicked: {e}");
                Err(e.to_string())
            }
        };
        state.record(LastRun { at: now, outcome });
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
