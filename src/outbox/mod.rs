//! Personalised mail: templates, the durable queue, the sender, the uplink's state.
//!
//! Invariants:
//! - `finish` renders every guest's message and commits them in the transaction that
//!   completes the show ([`Store::finish_show`]): the host hears "done" only once the
//!   messages are on disk, and a show is never completed without them;
//! - a message's bytes are rebuilt from its row on each attempt with the row's
//!   Message-ID and Date, so a message sent twice (a crash between the relay's OK and our
//!   commit) carries the same Message-ID both times; nothing is marked sent before the
//!   relay (or the file system) has it;
//! - one sender thread owns all delivery; the HTTP side only writes rows and wakes it, so
//!   mail never blocks the API;
//! - no address or name reaches the journal: messages are logged by id, and the relay's
//!   replies are logged with addresses masked.

pub mod message;
mod sender;
pub mod templates;

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use lettre::message::Mailbox;

use crate::config::Config;
use crate::photos::PhotoFiles;
use crate::show::{MailStatus, RefusalCode, RefusalKind};
use crate::store::{self, Mail, MailCounts, MailDraft, Show, Store};
pub use sender::backoff;
pub use templates::{GuestView, Rendered, Templates};

/// Whether the relay answered the last time we tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UplinkState {
    /// Nothing tried since start-up.
    Unknown,
    Up,
    Down,
}

impl UplinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            UplinkState::Unknown => "unknown",
            UplinkState::Up => "up",
            UplinkState::Down => "down",
        }
    }
}

/// The relay as the sender last saw it, for health and the host's console.
#[derive(Debug, Clone)]
pub struct Uplink {
    pub state: UplinkState,
    pub since: DateTime<Utc>,
    /// Why the last connection failed (addresses masked).
    pub last_error: Option<String>,
    /// When the sender will try the relay again while it is down.
    pub next_try: Option<DateTime<Utc>>,
}

/// Why a message was not sent again.
#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    /// Refused (404, 409) or the database failed: as any store call.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The templates failed for this guest. They are checked at start-up, so this is a
    /// bug: log it, 500.
    #[error("rendering the message failed: {0}")]
    Render(String),
}

/// What the sender thread is asked to do, under one mutex with a condvar.
#[derive(Debug, Default)]
struct Signal {
    /// Something changed (a show finished, a retry): look at the queue now.
    woken: bool,
    /// The host asked to try now: forget the uplink's backoff too.
    flush: bool,
    stop: bool,
}

/// State shared between the handle and the sender thread.
struct Shared {
    config: Arc<Config>,
    store: Arc<Store>,
    templates: Templates,
    files: PhotoFiles,
    signal: Mutex<Signal>,
    bell: Condvar,
    uplink: Mutex<Uplink>,
    /// Tells the host's console that a message moved.
    events: Arc<crate::events::Events>,
    /// Mail not going out (relay unreachable, a message refused) until one goes out.
    alerts: crate::alerts::Alerts,
}

/// The outbox handle: cheap to clone, used by the API and the daemon.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

impl Outbox {
    /// Loads and checks the templates (an error names the file) and prepares the sender;
    /// nothing is sent before [`Outbox::start`]. `alerts` is the daemon's one alerts
    /// handle (the studio's), so mail alerts carry the same clock as the others.
    pub fn new(
        config: Arc<Config>,
        store: Arc<Store>,
        events: Arc<crate::events::Events>,
        alerts: crate::alerts::Alerts,
    ) -> anyhow::Result<Outbox> {
        let templates = Templates::load(
            config.mail.templates_dir.as_deref(),
            &config.questionnaire.essences,
            retention_days(&config),
        )?;
        let files = PhotoFiles::new(&config.storage.data_dir);
        Ok(Outbox {
            shared: Arc::new(Shared {
                alerts,
                config,
                store,
                templates,
                files,
                events,
                signal: Mutex::new(Signal::default()),
                bell: Condvar::new(),
                uplink: Mutex::new(Uplink {
                    state: UplinkState::Unknown,
                    since: Utc::now(),
                    last_error: None,
                    next_try: None,
                }),
            }),
        })
    }

    /// Starts the sender thread; it runs until [`Outbox::stop`].
    pub fn start(&self) -> std::io::Result<JoinHandle<()>> {
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("outbox-sender".into())
            .spawn(move || sender::run(&shared))
    }

    /// Asks the sender to stop after the message in hand (each SMTP stage is bounded by
    /// `mail.timeout_seconds`).
    pub fn stop(&self) {
        self.signal(|s| s.stop = true);
    }

    fn signal(&self, f: impl FnOnce(&mut Signal)) {
        let mut s = self.shared.signal.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        self.shared.bell.notify_all();
    }

    pub fn templates(&self) -> &Templates {
        &self.shared.templates
    }

    pub fn uplink(&self) -> Uplink {
        self.shared
            .uplink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn counts(&self) -> store::Result<MailCounts> {
        self.shared.store.mail_counts()
    }

    /// Completes a show in `review` and queues its guests' messages; returns the show and
    /// the queued messages. Renders outside the transaction and lets the store check
    /// that the show did not change meanwhile (once more if it did).
    pub fn finish(&self, show_id: &str, now: DateTime<Utc>) -> store::Result<(Show, Vec<Mail>)> {
        let sh = &self.shared;
        let mut tries = 0;
        let out = loop {
            tries += 1;
            let show = sh.store.show(show_id)?;
            let drafts = self.drafts(&show);
            match sh
                .store
                .finish_show(&show, &drafts, sh.config.mail.queue_lifetime, now)
            {
                Err(store::Error::Refused(r))
                    if r.kind == RefusalKind::Conflict
                        && r.code == RefusalCode::ShowChanged
                        && tries < 3 =>
                {
                    continue;
                }
                other => break other?,
            }
        };
        self.signal(|s| s.woken = true);
        Ok(out)
    }

    fn drafts(&self, show: &Show) -> Vec<MailDraft> {
        show.guests
            .iter()
            // Templates were checked at start-up for every choice; a failure here is a
            // bug, and leaving the draft out makes finish refuse (the drafts no longer
            // match the guests) rather than complete a show without mail.
            .filter_map(|sg| self.draft(&sg.guest, &show.id, show.photos.len()).ok())
            .collect()
    }

    /// One guest's message, rendered in their language, with a fresh id and Message-ID.
    fn draft(&self, g: &store::Guest, show_id: &str, photos: usize) -> anyhow::Result<MailDraft> {
        let sh = &self.shared;
        let view = GuestView {
            name: &g.name,
            energy: g.energy,
            element: g.element,
            essence: &g.essence,
            language: g.language,
        };
        let r = sh.templates.render(&view, photos).inspect_err(|e| {
            log::error!(guest = g.id.as_str(), show = show_id; "rendering a guest's mail failed: {e:#}");
        })?;
        let id = store::new_id("m");
        Ok(MailDraft {
            message_id: format!("<{id}@{}>", sh.config.mail.from.email.domain()),
            id,
            guest_id: g.id.clone(),
            recipient: g.email.clone(),
            language: g.language,
            subject: r.subject,
            text: r.text,
            html: r.html,
        })
    }

    /// The host sends a message again: a new message (new id and Message-ID), rendered
    /// for the guest as they are now, to their current address with the same photos;
    /// the old one stays as history. Renders outside the transaction (again if the guest
    /// changed meanwhile).
    pub fn resend(&self, id: &str, now: DateTime<Utc>) -> Result<Mail, ResendError> {
        let sh = &self.shared;
        let mut tries = 0;
        let m = loop {
            tries += 1;
            let old = sh.store.mail(id)?;
            let guest = sh.store.guest(&old.guest_id)?;
            let draft = self
                .draft(&guest, &old.show_id, old.attachments.len())
                .map_err(|e| ResendError::Render(format!("{e:#}")))?;
            match sh
                .store
                .resend_mail(id, &guest, &draft, sh.config.mail.queue_lifetime, now)
            {
                Err(store::Error::Refused(r))
                    if r.code == RefusalCode::GuestChanged && tries < 3 =>
                {
                    continue;
                }
                other => break other?,
            }
        };
        self.signal(|s| s.woken = true);
        Ok(m)
    }

    /// The host queues a failed message again.
    pub fn retry(&self, id: &str, now: DateTime<Utc>) -> store::Result<Mail> {
        let m = self
            .shared
            .store
            .retry_mail(id, self.shared.config.mail.queue_lifetime, now)?;
        self.signal(|s| s.woken = true);
        Ok(m)
    }

    /// Makes every queued message due and tries the relay now; returns how many are queued.
    pub fn flush(&self, now: DateTime<Utc>) -> store::Result<u64> {
        let n = self.shared.store.flush_mails(now)?;
        self.signal(|s| {
            s.woken = true;
            s.flush = true;
        });
        Ok(n)
    }

    /// Something new is queued (a technician alert): the sender looks now.
    pub fn wake(&self) {
        self.signal(|s| s.woken = true);
    }

    pub fn list(&self, status: Option<MailStatus>, limit: u32) -> store::Result<Vec<Mail>> {
        self.shared.store.mails(status, limit)
    }
}

/// `privacy.retention_days` as the guest reads it.
pub fn retention_days(config: &Config) -> u32 {
    (config.privacy.retention.as_secs() / 86_400) as u32
}

/// Masks anything that looks like an address in a relay's reply before it is logged.
pub fn mask_addresses(s: &str) -> String {
    s.split(' ')
        .map(|w| if w.contains('@') { "<address>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How long the sender sleeps at most when nothing is due (it is woken on changes).
const IDLE_WAIT: Duration = Duration::from_secs(60);

/// `cosmosd preview-mail`: renders a sample guest's message with the given templates and
/// two test photos, and writes it as an .eml file a mail program opens. Returns the subject.
pub fn preview(
    templates: &Templates,
    from: &Mailbox,
    guest: &GuestView<'_>,
    out: &std::path::Path,
) -> anyhow::Result<String> {
    let r = templates.render(guest, 2)?;
    let dir = std::env::temp_dir().join(format!("cosmosd-preview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut parts = Vec::new();
    for (i, orientation) in [1u16, 6].into_iter().enumerate() {
        let d = crate::photos::derive(&crate::photos::test_pattern(3000, 2000, orientation))?;
        let path = dir.join(format!("{i}.jpg"));
        std::fs::write(&path, &d.email).with_context(|| format!("writing {}", path.display()))?;
        parts.push(message::Part {
            filename: format!("cosmos-{}.jpg", i + 1),
            path,
        });
    }
    let now = Utc::now();
    let mail = Mail {
        id: "m_preview".into(),
        message_id: format!("<m_preview@{}>", from.email.domain()),
        show_id: "shw_preview".into(),
        guest_id: "gst_preview".into(),
        recipient: "guest@example.org".into(),
        language: guest.language,
        subject: r.subject.clone(),
        text: r.text,
        html: r.html,
        attachments: Vec::new(),
        status: MailStatus::Queued,
        attempts: 0,
        last_error: None,
        created_at: now,
        next_attempt_at: now,
        expires_at: now,
        sent_at: None,
        resend_of: None,
    };
    let built = message::build(&mail, from, templates.logo(), &parts);
    let _ = std::fs::remove_dir_all(&dir);
    let (_, bytes) = built?;
    crate::photos::write_atomic(out, &bytes)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(r.subject)
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_masked_in_replies() {
        assert_eq!(
            super::mask_addresses("550 5.1.1 <ana@example.com>: Recipient address rejected"),
            "550 5.1.1 <address> Recipient address rejected"
        );
    }
}
