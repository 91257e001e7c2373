//! The daemon's lifecycle: open the store, start the API, wait for the shutdown signal,
//! then drain. `run` takes its socket and its shutdown signal as arguments so tests run
//! the real daemon on `127.0.0.1:0` in-process.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use crate::access::Throttle;
use crate::api;
use crate::config::Config;
use crate::store::Store;

/// The database file's name inside `storage.data_dir`.
pub const DB_FILE: &str = "cosmos.db";

/// Runs the daemon until `shutdown` resolves. `ready` is called with the bound address
/// once the API answers (the systemd notification hooks in here).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let data_dir = config.storage.data_dir.clone();
    // SQLite and the filesystem block: keep them off the async workers.
    let store = tokio::task::spawn_blocking(move || -> anyhow::Result<Store> {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        Store::open(&data_dir.join(DB_FILE))
    })
    .await
    .context("the store opener panicked")??;
    let store = Arc::new(store);

    let ctx = Arc::new(api::Context {
        throttle: Mutex::new(Throttle::new(
            config.auth.max_failed_logins,
            config.auth.lockout,
        )),
        config: config.clone(),
        store: store.clone(),
        started: Instant::now(),
    });
    let server = api::start(listener, ctx)?;
    let addr = server.local_addr();
    log::info!(listen = addr.to_string().as_str(), db = store.path().display().to_string().as_str();
        "cosmosd {} ready on http://{addr}", env!("CARGO_PKG_VERSION"));
    ready(addr);

    shutdown.await;
    log::info!("shutting down: draining requests");
    tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .context("the HTTP server panicked while stopping")?;
    log::info!("stopped");
    Ok(())
}
