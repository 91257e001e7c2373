//! Logging: to the journal with structured fields when systemd connected our stderr to
//! it, to stderr (with the same key=value fields) otherwise. Level from `COSMOSD_LOG`
//! (error, warn, info, debug, trace; default info).
//!
//! Invariant kept by every caller: no guest name or email is ever logged — guests are
//! named by their id.

use log::LevelFilter;

pub fn init() {
    let level = std::env::var("COSMOSD_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Info);
    if systemd_journal_logger::connected_to_journal() {
        match systemd_journal_logger::JournalLog::new() {
            Ok(j) => {
                if j.with_syslog_identifier("cosmosd".into()).install().is_ok() {
                    log::set_max_level(level);
                    return;
                }
            }
            Err(e) => eprintln!("cosmosd: cannot reach the journal ({e}); logging to stderr"),
        }
    }
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp_millis()
        .try_init();
}
