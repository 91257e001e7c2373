//! Light programs: small pure descriptions of what the floor markers do, turned into
//! timed frames. No IO and no clock: the light task plays the frames.

use std::time::Duration;

/// What the markers should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// Everything dark.
    Off,
    /// The markers of this show's guests on (marker i for guest i).
    Posing { markers: Vec<usize> },
    /// A blink that speeds up over `length` and ends exactly when the shutter fires.
    Countdown {
        markers: Vec<usize>,
        length: Duration,
    },
    /// A short flash of every marker, then posing again (for a possible retake).
    Captured { markers: Vec<usize> },
    /// The camera failed: a distinct alternating pattern, then posing again.
    Error { markers: Vec<usize> },
    /// Each marker in turn, then all, then off (for `selftest lights`).
    Selftest,
}

impl Program {
    pub fn name(&self) -> &'static str {
        match self {
            Program::Off => "off",
            Program::Posing { .. } => "posing",
            Program::Countdown { .. } => "countdown",
            Program::Captured { .. } => "captured",
            Program::Error { .. } => "error",
            Program::Selftest => "selftest",
        }
    }
}

/// How posing looks (`lights.posing`): a closed choice of the config file.
pub use crate::config::PosingStyle;

/// One state of all markers, held for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub on: Vec<bool>,
    pub hold: Duration,
}

/// What happens after the last frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Keep the last frame until told otherwise.
    Hold,
    /// Play the frames again.
    Repeat,
    /// Switch to another program.
    Next(Program),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub frames: Vec<Frame>,
    pub then: Then,
}

fn lit(n: usize, markers: &[usize]) -> Vec<bool> {
    (0..n).map(|i| markers.contains(&i)).collect()
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Countdown blink: on/off cycles whose period shrinks from 1 s by a fifth each time (down
/// to 120 ms), then the markers stay on for what is left, so the frames add up to
/// exactly `length`.
fn countdown(n: usize, markers: &[usize], length: Duration) -> Vec<Frame> {
    let on = lit(n, markers);
    let off = vec![false; n];
    let mut frames = Vec::new();
    let mut left = length;
    let mut period = ms(1000);
    while left >= period + ms(200) {
        frames.push(Frame {
            on: on.clone(),
            hold: period / 2,
        });
        frames.push(Frame {
            on: off.clone(),
            hold: period / 2,
        });
        left -= period;
        period = (period * 4 / 5).max(ms(120));
    }
    if !left.is_zero() {
        frames.push(Frame { on, hold: left });
    }
    frames
}

/// The frames of `program` for `n` markers.
pub fn plan(program: &Program, n: usize, style: PosingStyle) -> Plan {
    let all: Vec<usize> = (0..n).collect();
    match program {
        Program::Off => Plan {
            frames: vec![Frame {
                on: vec![false; n],
                hold: Duration::ZERO,
            }],
            then: Then::Hold,
        },
        Program::Posing { markers } => match style {
            PosingStyle::Steady => Plan {
                frames: vec![Frame {
                    on: lit(n, markers),
                    hold: Duration::ZERO,
                }],
                then: Then::Hold,
            },
            PosingStyle::Pulse => Plan {
                frames: vec![
                    Frame {
                        on: lit(n, markers),
                        hold: ms(1500),
                    },
                    Frame {
                        on: vec![false; n],
                        hold: ms(500),
                    },
                ],
                then: Then::Repeat,
            },
        },
        Program::Countdown { markers, length } => Plan {
            frames: countdown(n, markers, *length),
            then: Then::Hold,
        },
        Program::Captured { markers } => Plan {
            frames: vec![
                Frame {
                    on: lit(n, &all),
                    hold: ms(150),
                },
                Frame {
                    on: vec![false; n],
                    hold: ms(100),
                },
                Frame {
                    on: lit(n, &all),
                    hold: ms(150),
                },
                Frame {
                    on: vec![false; n],
                    hold: ms(100),
                },
            ],
            then: Then::Next(Program::Posing {
                markers: markers.clone(),
            }),
        },
        Program::Error { markers } => {
            let even: Vec<usize> = all.iter().copied().filter(|i| i % 2 == 0).collect();
            let odd: Vec<usize> = all.iter().copied().filter(|i| i % 2 == 1).collect();
            let mut frames = Vec::new();
            for _ in 0..4 {
                frames.push(Frame {
                    on: lit(n, &even),
                    hold: ms(200),
                });
                frames.push(Frame {
                    on: lit(n, &odd),
                    hold: ms(200),
                });
            }
            Plan {
                frames,
                then: Then::Next(Program::Posing {
                    markers: markers.clone(),
                }),
            }
        }
        Program::Selftest => {
            let mut frames: Vec<Frame> = all
                .iter()
                .map(|&i| Frame {
                    on: lit(n, &[i]),
                    hold: ms(400),
                })
                .collect();
            frames.push(Frame {
                on: lit(n, &all),
                hold: ms(800),
            });
            Plan {
                frames,
                then: Then::Next(Program::Off),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_countdown_speeds_up_and_lasts_exactly_its_length() {
        for secs in [1u64, 3, 5, 10] {
            let length = Duration::from_secs(secs);
            let p = plan(
                &Program::Countdown {
                    markers: vec![0, 2],
                    length,
                },
                4,
                PosingStyle::Steady,
            );
            let total: Duration = p.frames.iter().map(|f| f.hold).sum();
            assert_eq!(total, length, "{secs} s");
            let ons: Vec<Duration> = p.frames.iter().step_by(2).map(|f| f.hold).collect();
            assert!(
                ons.windows(2)
                    .take(ons.len().saturating_sub(2))
                    .all(|w| w[1] <= w[0]),
                "speeds up: {ons:?}"
            );
            let last = p.frames.last().unwrap();
            assert_eq!(
                last.on,
                vec![true, false, true, false],
                "markers lit when the shutter fires"
            );
        }
        assert!(
            plan(
                &Program::Countdown {
                    markers: vec![0],
                    length: Duration::ZERO
                },
                4,
                PosingStyle::Steady
            )
            .frames
            .is_empty()
        );
    }

    #[test]
    fn posing_lights_the_guests_markers_and_captured_returns_to_posing() {
        let p = plan(
            &Program::Posing {
                markers: vec![0, 1],
            },
            4,
            PosingStyle::Steady,
        );
        assert_eq!(p.frames[0].on, vec![true, true, false, false]);
        assert_eq!(p.then, Then::Hold);
        let c = plan(
            &Program::Captured {
                markers: vec![0, 1],
            },
            4,
            PosingStyle::Steady,
        );
        assert_eq!(c.frames[0].on, vec![true; 4]);
        assert_eq!(
            c.then,
            Then::Next(Program::Posing {
                markers: vec![0, 1]
            })
        );
        let pulse = plan(&Program::Posing { markers: vec![1] }, 2, PosingStyle::Pulse);
        assert_eq!(pulse.then, Then::Repeat);
    }

    #[test]
    fn the_error_pattern_differs_from_everything_else() {
        let e = plan(&Program::Error { markers: vec![0] }, 4, PosingStyle::Steady);
        assert_eq!(e.frames[0].on, vec![true, false, true, false]);
        assert_eq!(e.frames[1].on, vec![false, true, false, true]);
        let chase = plan(&Program::Selftest, 3, PosingStyle::Steady);
        assert_eq!(chase.frames.len(), 4);
        assert_eq!(chase.frames[1].on, vec![false, true, false]);
    }
}
