//! Simulated floor markers: record every change with its time and keep the current
//! state. Built always: they run the demo and are the test double at the GPIO edge.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// One recorded change of the markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// On tokio's clock, so paused-clock tests see virtual time.
    pub at: Instant,
    pub on: Vec<bool>,
    /// The program that set it (a program switch is recorded even when the markers stay).
    pub program: &'static str,
}

/// Reads what a [`Simulated`] set of lights did.
#[derive(Clone)]
pub struct SimLights(Arc<Mutex<Vec<Change>>>);

impl SimLights {
    pub fn changes(&self) -> Vec<Change> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn current(&self) -> Option<Vec<bool>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .map(|c| c.on.clone())
    }
}

pub struct Simulated {
    log: Arc<Mutex<Vec<Change>>>,
    markers: usize,
}

impl Simulated {
    pub fn new(markers: usize) -> (Simulated, SimLights) {
        let log = Arc::new(Mutex::new(Vec::new()));
        (
            Simulated {
                log: log.clone(),
                markers,
            },
            SimLights(log),
        )
    }

    pub fn markers(&self) -> usize {
        self.markers
    }

    /// Another reader of this device's record (for a device built from config).
    pub fn log(&self) -> SimLights {
        SimLights(self.log.clone())
    }

    pub(super) fn set(&mut self, on: &[bool], program: &'static str) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        // Record changes only (writing the same level again is invisible on real pins),
        // plus program switches, so tests can see when a countdown began.
        if log.last().map(|c| (c.on.as_slice(), c.program)) != Some((on, program)) {
            log.push(Change {
                at: Instant::now(),
                on: on.to_vec(),
                program,
            });
        }
    }
}
