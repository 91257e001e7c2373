//! The integration tests, one binary with a module per area (as ripgrep does): the daemon,
//! lettre, libjpeg-turbo and libgphoto2 are linked once instead of once per area. Every
//! test drives the real daemon over real HTTP on `127.0.0.1:0` with a temp data folder;
//! the harness is `tests/common/`. Run one area with `cargo test --test it guests::`.

#[path = "../common/mod.rs"]
mod common;

mod alerts;
mod auth;
mod backup_bench;
mod backup_remote;
mod browser;
mod camera_bodies;
mod camera_check;
mod camera_recovery;
mod cli;
mod concurrency;
mod corrections;
mod door;
mod email;
mod events;
mod full_disk;
mod gphoto2;
mod guests;
mod hardening;
mod invariants;
mod lights;
mod limits;
mod liveview;
mod mail;
mod metrics;
mod oncall;
mod ops;
mod photos;
mod rebuild;
mod service;
mod shows;
mod stats;
mod supply_chain;
mod tls;
mod upgrade;
