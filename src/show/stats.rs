//! The night's numbers: which days a report may cover. Pure.

use chrono::NaiveDate;

use super::{Refusal, RefusalCode};

/// The longest report, in days (a year and a day: a whole leap year fits).
pub const MAX_STATS_DAYS: i64 = 366;

/// A report runs from day `from` to day `to`, both included, at most
/// [`MAX_STATS_DAYS`] long.
pub fn check_stats_window(from: NaiveDate, to: NaiveDate) -> Result<(), Refusal> {
    if from > to {
        return Err(Refusal::invalid(
            "from",
            RefusalCode::InvalidValue,
            "from must be on or before to",
        ));
    }
    if (to - from).num_days() >= MAX_STATS_DAYS {
        return Err(Refusal::invalid(
            "to",
            RefusalCode::InvalidValue,
            format!("a report covers at most {MAX_STATS_DAYS} days"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_runs_forward_and_is_at_most_a_year_and_a_day() {
        assert!(check_stats_window(d("2026-11-23"), d("2026-11-23")).is_ok());
        assert!(check_stats_window(d("2024-01-01"), d("2024-12-31")).is_ok());
        let e = check_stats_window(d("2026-11-24"), d("2026-11-23")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("from"));
        let e = check_stats_window(d("2024-01-01"), d("2025-01-01")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("to"));
    }
}
