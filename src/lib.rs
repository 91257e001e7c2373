//! cosmosd: the daemon that runs the COSMOS show room.
//!
//! Crate map (see ARCHITECTURE.md for the invariants):
//! - [`config`]: TOML → validated [`config::Config`]; unknown keys and bad values are errors.
//! - [`show`]: the domain — guests, waitlist, shows, schedule, status machine. Pure.
//! - [`access`]: roles, PINs, session tokens, failed-login throttle. Pure.
//! - [`store`]: the only place that knows SQL; one SQLite connection, migrations.
//! - [`api`]: the only place that knows HTTP; tiny_http workers, routes, errors.
//! - [`photos`]: photo files (atomic writes) and their derivatives.
//! - [`alerts`]: the host's alerts, raised and cleared where a condition is found, persisted.
//! - [`health`]: the health report.
//! - [`reserve`]: the ballast file released so the host can log in on a full disk.
//! - [`oncall`]: the technician's alerts: conditions, alert mail and webhook calls.
//! - [`retention`]: the daily purge of guest data past `privacy.retention_days`.
//! - [`backup`]: `cosmosd backup` / `restore` (online SQLite backup + photos + manifest).
//! - [`upgrade`]: the pre-upgrade backups of the package and the rollback advice.
//! - [`camera`]: the camera trait-like device, its backends and its owner task.
//! - [`bodies`]: per-body counters (by serial) written behind the camera owner.
//! - [`clock`]: "now" as a value (the system clock; tests stop it with tokio's paused time).
//! - [`studio`]: the show timeline with the devices: spontaneous timer, captures → photos.
//! - [`daemon`]: wires everything and owns the lifecycle (`run(config, listener, shutdown)`).
//! - [`demo`]: the embedded default configuration of `cosmosd demo`.
//! - [`logging`]: journal or stderr.
//! - [`service`]: systemd readiness, watchdog pings (after our own health check), stop notice.

pub mod access;
pub mod alerts;
pub mod api;
pub mod backup;
pub mod bodies;
pub mod ca;
pub mod camera;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod events;
pub mod health;
pub mod lights;
pub mod logging;
pub mod metrics;
pub mod oncall;
pub mod outbox;
pub mod photos;
pub mod pi;
pub mod reserve;
pub mod retention;
pub mod selftest;
pub mod service;
pub mod show;
pub mod store;
pub mod studio;
pub mod upgrade;
