//! Live updates for the tablets: a numbered log of recent changes that the Server-Sent
//! Events streams (`GET /api/events`) follow.
//!
//! Events carry ids and states only — never a guest's name or email — and tell a page
//! what to fetch again. The log keeps the last [`KEPT`] events so a reconnecting client
//! (`Last-Event-ID`) catches up; one that fell further behind gets a `reset` and
//! refetches everything. Kiosks only see the waitlist.
//!
//! What happened is a closed enum, [`Change`]: publishers say it in domain terms and only
//! `api/stream.rs` decides how it looks on the wire.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::access::Role;
use crate::show::{AlertKind, MailStatus, PhotoKind};

/// How many recent events are kept for reconnecting clients.
pub const KEPT: usize = 1000;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Waitlist,
    Show,
    Photo,
    Camera,
    Mail,
    /// The host's alerts (raised, cleared, acknowledged).
    Alerts,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Waitlist => "waitlist",
            Topic::Show => "show",
            Topic::Photo => "photo",
            Topic::Camera => "camera",
            Topic::Mail => "mail",
            Topic::Alerts => "alerts",
        }
    }

    /// Whether `role` receives this topic: kiosks only learn that the waitlist changed.
    pub fn for_role(self, role: Role) -> bool {
        match role {
            Role::Kiosk => self == Topic::Waitlist,
            Role::Host | Role::Technician => true,
            Role::ShowControl => matches!(self, Topic::Show | Topic::Camera),
        }
    }
}

/// What changed, in domain terms (ids and states only, never a guest's name or email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A successful API call changed `topic`; the pages refetch it.
    Api {
        topic: Topic,
        /// The route's method and path template (`/api/shows/{id}/start`).
        method: &'static str,
        route: &'static str,
    },
    /// A photo was stored (by a host's capture or the spontaneous timer).
    PhotoStored {
        show_id: String,
        photo_id: String,
        kind: PhotoKind,
    },
    /// The camera was connected or lost, or started or finished a capture.
    Camera { connected: bool, busy: bool },
    /// The mail relay became reachable (`up`) or unreachable.
    Uplink { up: bool },
    /// A message was tried: sent, queued again, or failed for good.
    Mail {
        message_id: String,
        status: MailStatus,
    },
    /// An alert to the host was raised, cleared or acknowledged.
    Alert {
        alert_id: String,
        kind: AlertKind,
        change: AlertChange,
    },
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    Raised,
    Cleared,
    Acknowledged,
}

impl Change {
    /// The stream a change belongs to (the SSE `event:` name, and who may see it).
    pub fn topic(&self) -> Topic {
        match self {
            Change::Api { topic, .. } => *topic,
            Change::PhotoStored { .. } => Topic::Photo,
            Change::Camera { .. } => Topic::Camera,
            Change::Uplink { .. } | Change::Mail { .. } => Topic::Mail,
            Change::Alert { .. } => Topic::Alerts,
        }
    }
}

#[derive(Debug)]
pub struct Event {
    /// Increasing from 1 for the daemon's lifetime (the SSE `id:`).
    pub id: u64,
    pub change: Change,
}

impl Event {
    pub fn topic(&self) -> Topic {
        self.change.topic()
    }
}

/// What a follower gets after the event it saw last.
#[derive(Debug)]
pub enum Catchup {
    Events(Vec<Arc<Event>>),
    /// The client's last event is older than the log: it must refetch everything.
    Reset,
    /// The daemon is stopping.
    Closed,
}

#[derive(Default)]
struct Log {
    next: u64,
    recent: VecDeque<Arc<Event>>,
    closed: bool,
    /// Bumped to wake every stream without an event (a token was revoked).
    nudges: u64,
}

/// The event log, shared by whoever publishes and every stream.
#[derive(Default)]
pub struct Events {
    log: Mutex<Log>,
    bell: Condvar,
}

impl Events {
    pub fn new() -> Events {
        Events::default()
    }

    pub fn publish(&self, change: Change) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.next += 1;
        let e = Arc::new(Event {
            id: log.next,
            change,
        });
        log.recent.push_back(e);
        while log.recent.len() > KEPT {
            log.recent.pop_front();
        }
        drop(log);
        self.bell.notify_all();
    }

    /// The id of the newest event (0 = none yet).
    pub fn last_id(&self) -> u64 {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).next
    }

    /// Events after `last`, waiting up to `wait` for one to come (empty = keep-alive time).
    pub fn after(&self, last: u64, wait: Duration) -> Catchup {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let nudges = log.nudges;
        let (log, _) = self
            .bell
            .wait_timeout_while(log, wait, |l| {
                !l.closed && l.next <= last && l.nudges == nudges
            })
            .unwrap_or_else(|p| p.into_inner());
        if log.closed {
            return Catchup::Closed;
        }
        if last > log.next {
            // An id from before a restart: the client's picture is stale.
            return Catchup::Reset;
        }
        if log
            .recent
            .front()
            .is_some_and(|oldest| last + 1 < oldest.id)
        {
            // Some of what the client missed is no longer kept.
            return Catchup::Reset;
        }
        Catchup::Events(log.recent.iter().filter(|e| e.id > last).cloned().collect())
    }

    /// Wakes every stream now (they answer as at a keep-alive and look at their token).
    pub fn nudge(&self) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).nudges += 1;
        self.bell.notify_all();
    }

    /// Ends every stream (shutdown).
    pub fn close(&self) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.bell.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(connected: bool) -> Change {
        Change::Camera {
            connected,
            busy: false,
        }
    }

    #[test]
    fn followers_catch_up_and_a_client_too_far_behind_is_reset() {
        let ev = Events::new();
        for i in 0..(KEPT + 5) {
            ev.publish(camera(i % 2 == 0));
        }
        let last = ev.last_id();
        match ev.after(last - 3, Duration::ZERO) {
            Catchup::Events(v) => assert_eq!(
                v.iter().map(|e| e.id).collect::<Vec<_>>(),
                vec![last - 2, last - 1, last]
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(ev.after(1, Duration::ZERO), Catchup::Reset),
            "evicted"
        );
        assert!(
            matches!(ev.after(last + 10, Duration::ZERO), Catchup::Reset),
            "from another run"
        );
        assert!(matches!(ev.after(last, Duration::ZERO), Catchup::Events(ref v) if v.is_empty()));
        ev.close();
        assert!(matches!(
            ev.after(last, Duration::from_secs(5)),
            Catchup::Closed
        ));
    }

    #[test]
    fn a_waiting_follower_is_woken_by_a_new_event() {
        let ev = Arc::new(Events::new());
        let e2 = ev.clone();
        let t = std::thread::spawn(move || e2.after(0, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        ev.publish(camera(true));
        assert!(matches!(t.join().unwrap(), Catchup::Events(ref v) if v.len() == 1));
    }

    #[test]
    fn kiosks_only_see_the_waitlist() {
        assert!(Topic::Waitlist.for_role(Role::Kiosk));
        for t in [
            Topic::Show,
            Topic::Photo,
            Topic::Camera,
            Topic::Mail,
            Topic::Alerts,
        ] {
            assert!(!t.for_role(Role::Kiosk));
            assert!(t.for_role(Role::Host));
        }
    }
}
