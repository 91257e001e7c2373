//! Logging: to the journal with structured fields when systemd connected our stderr to
//! it, to stderr (with the same key=value fields) otherwise. Level from `COSMOSD_LOG`
//! (error, warn, info, debug, trace; default info).
//!
//! Invariant kept by every caller: no guest name or email is ever logged — guests are
//! named by their id.

use log::{LevelFilter, Log, Metadata, Record};

/// tiny_http logs an ended accept thread at error level ("Error accepting new client");
/// the API renews the acceptor and says so itself (`api::renew`), so that one record is
/// dropped. Everything else tiny_http logs goes through.
struct Quiet<L>(L);

impl<L: Log> Log for Quiet<L> {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn log(&self, r: &Record<'_>) {
        let renewed = r.target().starts_with("tiny_http")
            && r.args()
                .as_str()
                .map_or_else(|| r.args().to_string(), str::to_string)
                .starts_with("Error accepting new client");
        if !renewed && self.enabled(r.metadata()) {
            self.0.log(r);
        }
    }
    fn flush(&self) {
        self.0.flush();
    }
}

pub fn init() {
    let level = std::env::var("COSMOSD_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Info);
    if systemd_journal_logger::connected_to_journal() {
        match systemd_journal_logger::JournalLog::new() {
            Ok(j) => {
                let j = Quiet(j.with_syslog_identifier("cosmosd".into()));
                if log::set_boxed_logger(Box::new(j)).is_ok() {
                    log::set_max_level(level);
                    return;
                }
            }
            Err(e) => eprintln!("cosmosd: cannot reach the journal ({e}); logging to stderr"),
        }
    }
    let logger = env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp_millis()
        .build();
    if log::set_boxed_logger(Box::new(Quiet(logger))).is_ok() {
        log::set_max_level(level);
    }
}
