//! The floor pose-marker lights: a [`Device`] with two backends chosen by config (`rppal`
//! GPIO and `simulated`), light [`program`]s, and the one task that plays them.
//!
//! Invariants:
//! - only the light task touches the device; others send it programs;
//! - a new program preempts the one playing; a countdown's end is signalled exactly when
//!   its last frame ends, and the studio fires the shutter on that signal;
//! - frames are scheduled on absolute deadlines (no drift), so a countdown lasts exactly
//!   its configured length on tokio's clock;
//! - the lights end dark: on shutdown the task turns them off; `cosmosd lights-off`
//!   and the panic hook force the pins off even if the task is gone.

pub mod gpio;
pub mod program;
pub mod simulated;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

pub use program::{PosingStyle, Program};

use crate::config::{LightsBackend, LightsConfig};
pub use simulated::{Change, SimLights, Simulated};

/// Why the lights cannot be used, by what the technician must do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LightsError {
    /// The GPIO cannot be opened (not a Pi, no permission, pin taken). The daemon refuses
    /// to start; the message names the config key to change.
    #[error("{0}")]
    Unavailable(String),
}

/// Drives the configured pins to their off level from scratch, when the light task may
/// be gone (`cosmosd lights-off`, the panic hook). `Ok(false)`: simulated, nothing to do.
pub fn force_off(config: &LightsConfig) -> Result<bool, LightsError> {
    match config.backend {
        LightsBackend::Rppal => gpio::force_off(&config.pins, config.active_low).map(|()| true),
        LightsBackend::Simulated => Ok(false),
    }
}

pub enum Device {
    Gpio(gpio::Gpio),
    Simulated(Simulated),
}

impl Device {
    /// Opens the configured backend: the GPIO pins of `[lights]`, or simulated markers as
    /// many as the pins listed. Fails off a Pi (or without permission), naming `lights.backend`.
    pub fn from_config(config: &LightsConfig) -> Result<Device, LightsError> {
        Ok(match config.backend {
            LightsBackend::Rppal => {
                Device::Gpio(gpio::Gpio::open(&config.pins, config.active_low)?)
            }
            LightsBackend::Simulated => Device::Simulated(Simulated::new(config.pins.len()).0),
        })
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Device::Gpio(_) => "rppal",
            Device::Simulated(_) => "simulated",
        }
    }
    pub fn markers(&self) -> usize {
        match self {
            Device::Gpio(d) => d.markers(),
            Device::Simulated(d) => d.markers(),
        }
    }
    fn set(&mut self, on: &[bool], program: &'static str) {
        match self {
            Device::Gpio(d) => d.set(on),
            Device::Simulated(d) => d.set(on, program),
        }
    }
}

/// What the lights are doing, for health and the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightsState {
    pub backend: &'static str,
    pub program: &'static str,
    pub on: Vec<bool>,
}

enum Cmd {
    Run(Program, Option<oneshot::Sender<()>>),
}

/// How the rest of the daemon reaches the light task.
#[derive(Clone)]
pub struct LightsHandle {
    tx: mpsc::UnboundedSender<Cmd>,
    /// Every change of program and markers.
    pub state: watch::Receiver<LightsState>,
}

impl LightsHandle {
    /// Switches to `program` now.
    pub fn run(&self, program: Program) {
        let _ = self.tx.send(Cmd::Run(program, None));
    }

    /// Starts a countdown; the receiver fires when it ends (fire the shutter then). If the
    /// light task is gone it fires at once, so a show never waits on broken lights.
    pub fn countdown(&self, markers: Vec<usize>, length: Duration) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Cmd::Run(_, Some(tx)))) = self
            .tx
            .send(Cmd::Run(Program::Countdown { markers, length }, Some(tx)))
        {
            let _ = tx.send(());
        }
        rx
    }

    pub fn state(&self) -> LightsState {
        self.state.borrow().clone()
    }
}

/// Starts the light task; it turns everything off when `stop` is cancelled.
pub fn spawn(
    device: Device,
    style: PosingStyle,
    stop: CancellationToken,
) -> (LightsHandle, tokio::task::JoinHandle<()>) {
    let n = device.markers();
    let (tx, rx) = mpsc::unbounded_channel();
    let (state_tx, state_rx) = watch::channel(LightsState {
        backend: device.backend(),
        program: "off",
        on: vec![false; n],
    });
    let task = tokio::spawn(play(device, style, rx, state_tx, stop));
    (
        LightsHandle {
            tx,
            state: state_rx,
        },
        task,
    )
}

async fn play(
    mut device: Device,
    style: PosingStyle,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    state: watch::Sender<LightsState>,
    stop: CancellationToken,
) {
    let n = device.markers();
    let show = |device: &mut Device, program: &'static str, on: &[bool]| {
        device.set(on, program);
        log::debug!(program = program, on = format!("{on:?}").as_str(); "lights");
        state.send_modify(|s| {
            s.program = program;
            s.on = on.to_vec();
        });
    };
    show(&mut device, "off", &vec![false; n]);
    let mut current = Program::Off;
    let mut done: Option<oneshot::Sender<()>> = None;
    'programs: loop {
        let plan = program::plan(&current, n, style);
        let name = current.name();
        let mut at = Instant::now();
        loop {
            for frame in &plan.frames {
                show(&mut device, name, &frame.on);
                if frame.hold.is_zero() {
                    continue;
                }
                at += frame.hold;
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => break 'programs,
                    cmd = rx.recv() => match cmd {
                        None => break 'programs,
                        Some(Cmd::Run(p, tx)) => {
                            current = p;
                            done = tx; // an interrupted countdown's waiter gets a closed channel
                            continue 'programs;
                        }
                    },
                    _ = sleep_until(at) => {}
                }
            }
            if let Some(tx) = done.take() {
                let _ = tx.send(());
            }
            match &plan.then {
                program::Then::Repeat if !plan.frames.iter().all(|f| f.hold.is_zero()) => continue,
                program::Then::Next(p) => {
                    current = p.clone();
                    continue 'programs;
                }
                _ => {}
            }
            // Hold: wait for the next program.
            tokio::select! {
                _ = stop.cancelled() => break 'programs,
                cmd = rx.recv() => match cmd {
                    None => break 'programs,
                    Some(Cmd::Run(p, tx)) => {
                        current = p;
                        done = tx;
                        continue 'programs;
                    }
                },
            }
        }
    }
    show(&mut device, "off", &vec![false; n]);
    log::info!("lights off");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// (ms since t0, states) for every recorded change.
    fn timeline(log: &SimLights, t0: Instant) -> Vec<(u64, Vec<bool>)> {
        let mut out: Vec<(u64, Vec<bool>)> = Vec::new();
        for c in log.changes() {
            if out.last().map(|(_, on)| on) != Some(&c.on) {
                out.push(((c.at - t0).as_millis() as u64, c.on));
            }
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_show_plays_the_exact_sequence() {
        let (sim, log) = Simulated::new(4);
        let stop = CancellationToken::new();
        let t0 = Instant::now();
        let (h, task) = spawn(Device::Simulated(sim), PosingStyle::Steady, stop.clone());
        tokio::task::yield_now().await;
        let guests = vec![0, 1];
        h.run(Program::Posing {
            markers: guests.clone(),
        });
        tokio::time::sleep(ms(1000)).await;
        // countdown of 3 s, then the shutter, then the captured flash
        let end = h.countdown(guests.clone(), Duration::from_secs(3));
        let started = Instant::now();
        end.await.unwrap();
        assert_eq!(
            Instant::now() - started,
            Duration::from_secs(3),
            "ends exactly on time"
        );
        h.run(Program::Captured {
            markers: guests.clone(),
        });
        tokio::time::sleep(ms(2000)).await;
        // a retake
        h.countdown(guests.clone(), Duration::from_secs(3))
            .await
            .unwrap();
        h.run(Program::Captured {
            markers: guests.clone(),
        });
        tokio::time::sleep(ms(2000)).await;
        h.run(Program::Off); // finish
        tokio::time::sleep(ms(10)).await;
        stop.cancel();
        task.await.unwrap();

        let on2 = vec![true, true, false, false];
        let off = vec![false; 4];
        let all = vec![true; 4];
        // after the first (invisible: same as posing) lit frame: 500/500, 400/400, 320/320,
        // then lit for the remaining 560 ms — 3000 ms in all
        let expected_countdown = |start: u64| {
            vec![
                (start + 500, off.clone()),
                (start + 1000, on2.clone()),
                (start + 1400, off.clone()),
                (start + 1800, on2.clone()),
                (start + 2120, off.clone()),
                (start + 2440, on2.clone()),
            ]
        };
        let flash = |start: u64| {
            vec![
                (start, all.clone()),
                (start + 150, off.clone()),
                (start + 250, all.clone()),
                (start + 400, off.clone()),
                (start + 500, on2.clone()),
            ]
        };
        let mut want = vec![(0, off.clone()), (0, on2.clone())];
        want.extend(expected_countdown(1000));
        want.extend(flash(4000));
        want.extend(expected_countdown(6000));
        want.extend(flash(9000));
        want.push((11000, off.clone()));
        let got = timeline(&log, t0);
        assert_eq!(got, want);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_and_camera_failure_patterns() {
        let (sim, log) = Simulated::new(4);
        let stop = CancellationToken::new();
        let (h, task) = spawn(Device::Simulated(sim), PosingStyle::Steady, stop.clone());
        tokio::task::yield_now().await;
        let t0 = Instant::now();
        h.run(Program::Posing { markers: vec![2] });
        tokio::time::sleep(ms(100)).await;
        // countdown interrupted by a cancel: the waiter is told (channel closed), lights off
        let end = h.countdown(vec![2], Duration::from_secs(5));
        tokio::time::sleep(ms(700)).await;
        h.run(Program::Off);
        assert!(
            end.await.is_err(),
            "an interrupted countdown never says 'fire'"
        );
        tokio::time::sleep(ms(100)).await;
        assert_eq!(log.current().unwrap(), vec![false; 4]);
        // camera failure: alternating pattern, then posing again
        h.run(Program::Error { markers: vec![2] });
        tokio::time::sleep(ms(2000)).await;
        let tl = timeline(&log, t0);
        let err: Vec<_> = tl.iter().filter(|(t, _)| *t >= 900).collect();
        assert_eq!(err[0], &(900, vec![true, false, true, false]));
        assert_eq!(err[1], &(1100, vec![false, true, false, true]));
        assert_eq!(
            log.current().unwrap(),
            vec![false, false, true, false],
            "back to posing"
        );
        stop.cancel();
        task.await.unwrap();
        assert_eq!(
            log.current().unwrap(),
            vec![false; 4],
            "dark after shutdown"
        );
    }
}
