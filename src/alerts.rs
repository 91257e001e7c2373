//! The host's alerts as the daemon raises them: the studio (camera, failed photos, disk
//! before a capture), the outbox sender (mail not going out) and the health report
//! (disk, missing photo files) say when a condition starts and ends; this writes it to
//! the store (deduplicated there: one open alert per kind and show) and tells the event
//! streams. Raising an alert never fails the work that found the condition: a store
//! error is logged and the work goes on.

use std::sync::Arc;

use crate::clock::Clock;
use crate::events::{AlertChange, Change, Events};
use crate::show::AlertKind;
use crate::store::{self, Alert, Store};

/// A cheap handle; the studio and the outbox each hold one.
#[derive(Clone)]
pub struct Alerts {
    store: Arc<Store>,
    events: Arc<Events>,
    clock: Clock,
}

impl Alerts {
    pub fn new(store: Arc<Store>, events: Arc<Events>, clock: Clock) -> Alerts {
        Alerts {
            store,
            events,
            clock,
        }
    }

    fn publish(&self, a: &Alert, change: AlertChange) {
        self.events.publish(Change::Alert {
            alert_id: a.id.clone(),
            kind: a.kind,
            change,
        });
    }

    /// The condition started (or goes on): raises an alert unless one is open.
    /// `message` is a plain sentence without guest data.
    pub fn raise(&self, kind: AlertKind, show_id: Option<&str>, message: &str) {
        match self
            .store
            .raise_alert(kind, show_id, message, self.clock.now())
        {
            Ok(Some(a)) => {
                log::error!(alert = a.id.as_str(), kind = kind.as_str(), show = show_id.unwrap_or("-"); "ALERT: {message}");
                self.publish(&a, AlertChange::Raised);
            }
            Ok(None) => {}
            Err(e) => {
                log::error!(kind = kind.as_str(); "recording an alert failed ({e}): {message}")
            }
        }
    }

    /// The condition ended: clears the open alert of `kind` (and show), if any.
    pub fn clear(&self, kind: AlertKind, show_id: Option<&str>) {
        match self.store.clear_alert(kind, show_id, self.clock.now()) {
            Ok(Some(a)) => {
                log::info!(alert = a.id.as_str(), kind = kind.as_str(), show = show_id.unwrap_or("-"); "alert cleared");
                self.publish(&a, AlertChange::Cleared);
            }
            Ok(None) => {}
            Err(e) => log::error!(kind = kind.as_str(); "clearing an alert failed: {e}"),
        }
    }

    /// Raises (`Some(message)`) or clears (`None`) as the condition is now.
    pub fn set(&self, kind: AlertKind, show_id: Option<&str>, condition: Option<&str>) {
        match condition {
            Some(m) => self.raise(kind, show_id, m),
            None => self.clear(kind, show_id),
        }
    }

    /// The host has seen it (idempotent); 404 for an unknown id.
    pub fn acknowledge(&self, id: &str) -> store::Result<Alert> {
        let before = self.store.alert(id)?;
        let a = self.store.ack_alert(id, self.clock.now())?;
        if before.acknowledged_at.is_none() {
            self.publish(&a, AlertChange::Acknowledged);
        }
        Ok(a)
    }

    /// Newest first: every alert (up to `limit`), or only the open ones.
    pub fn list(&self, open_only: bool, limit: u32) -> store::Result<Vec<Alert>> {
        self.store.alerts(open_only, limit)
    }
}
