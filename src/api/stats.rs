//! `GET /api/stats`: the night's numbers per day and in total, as JSON or as CSV for a
//! spreadsheet. Days are UTC days (the config has no venue time zone). The camera bodies'
//! lifetime counters come along in JSON (`cameras`) and as their own CSV
//! (`section=cameras`), so the per-day CSV keeps its columns and rows.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, Call, Context, ErrorBody, Reply};
use crate::store::Counts;

/// The counts of one day, or of the whole window.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsOut {
    /// Guests who filled in the questionnaire.
    pub guests_registered: u64,
    pub shows_completed: u64,
    pub shows_cancelled: u64,
    /// Spontaneous and posed photos taken (retakes included).
    pub photos_taken: u64,
    pub retakes: u64,
    /// Photos the host discarded.
    pub photos_deleted: u64,
    /// Messages the relay accepted that day.
    pub mails_sent: u64,
    /// Messages queued that day that failed for good.
    pub mails_failed: u64,
    /// Messages queued that day that still wait.
    pub mails_queued: u64,
    /// Spontaneous photos that failed after their retries, and posed captures that failed.
    pub capture_failures: u64,
}

impl From<&Counts> for CountsOut {
    fn from(c: &Counts) -> Self {
        CountsOut {
            guests_registered: c.guests_registered,
            shows_completed: c.shows_completed,
            shows_cancelled: c.shows_cancelled,
            photos_taken: c.photos_taken,
            retakes: c.retakes,
            photos_deleted: c.photos_deleted,
            mails_sent: c.mails_sent,
            mails_failed: c.mails_failed,
            mails_queued: c.mails_queued,
            capture_failures: c.capture_failures,
        }
    }
}

/// One day's row.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayOut {
    /// `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    #[serde(flatten)]
    pub counts: CountsOut,
}

/// Every day of the window (empty days too), oldest first, and the totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// The time zone the days are counted in.
    pub timezone: String,
    pub days: Vec<DayOut>,
    pub totals: CountsOut,
    /// Every camera body the box has seen, the most recently seen first, with its
    /// lifetime counters (not limited to the window).
    pub cameras: Vec<super::bodies::CameraBodyOut>,
}

/// How the numbers come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsFormat {
    Json,
    /// `text/csv; charset=utf-8`: a header row, a row per day, then `total`.
    Csv,
}

/// Which table the CSV holds (JSON always has both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsSection {
    /// The per-day counts (the default).
    Days,
    /// The camera bodies and their lifetime counters.
    Cameras,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day, `YYYY-MM-DD` (default: six days before `to`).
    #[serde(default, deserialize_with = "super::input::opt_date")]
    #[param(value_type = Option<String>, format = Date)]
    from: Option<NaiveDate>,
    /// Last day, included, `YYYY-MM-DD` (default: today, or six days after `from` when
    /// only `from` is given). At most 366 days in all.
    #[serde(default, deserialize_with = "super::input::opt_date")]
    #[param(value_type = Option<String>, format = Date)]
    to: Option<NaiveDate>,
    /// `json` (default) or `csv`.
    #[serde(default, deserialize_with = "super::input::opt_choice")]
    #[param(value_type = Option<StatsFormat>)]
    format: Option<StatsFormat>,
    /// With `format=csv`: `days` (default) or `cameras` (a row per camera body). JSON
    /// always carries both.
    #[serde(default, deserialize_with = "super::input::opt_choice")]
    #[param(value_type = Option<StatsSection>)]
    section: Option<StatsSection>,
}

const COLUMNS: &str = "day,guests_registered,shows_completed,shows_cancelled,photos_taken,\
retakes,photos_deleted,mails_sent,mails_failed,mails_queued,capture_failures";

fn csv_row(label: &str, c: &Counts) -> String {
    format!(
        "{label},{},{},{},{},{},{},{},{},{},{}\r\n",
        c.guests_registered,
        c.shows_completed,
        c.shows_cancelled,
        c.photos_taken,
        c.retakes,
        c.photos_deleted,
        c.mails_sent,
        c.mails_failed,
        c.mails_queued,
        c.capture_failures
    )
}

#[utoipa::path(get, path = "/api/stats", tag = "stats",
    summary = "The night's numbers: a row per day and the totals (JSON, or CSV with `format=csv`)",
    params(StatsQuery),
    responses(
        (status = 200, description = "the numbers", content(
            (StatsOut = "application/json"),
            (String = "text/csv"),
        )),
        (status = 422, description = "a bad `from`, `to`, `format` or `section` (named)", body = ErrorBody),
    ))]
pub fn get_stats(ctx: &Context, call: &Call) -> Result<Reply, ApiError> {
    let q: StatsQuery = call.query()?;
    // A week by default: the seven days up to `to` (today), or from `from` on.
    let week = Duration::days(6);
    let (from, to) = match (q.from, q.to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, f + week),
        (None, t) => {
            let t = t.unwrap_or_else(|| call.now.date_naive());
            (t - week, t)
        }
    };
    crate::show::check_stats_window(from, to)?;
    let s = ctx.store.stats(from, to)?;
    let cameras = ctx.store.camera_bodies()?;
    if q.format == Some(StatsFormat::Csv) && q.section == Some(StatsSection::Cameras) {
        let out = super::bodies::csv(&cameras);
        return Ok(Reply::raw(200, "text/csv; charset=utf-8", out.into_bytes()));
    }
    if q.format == Some(StatsFormat::Csv) {
        let mut out = format!("{COLUMNS}\r\n");
        for (day, c) in &s.days {
            out.push_str(&csv_row(&day.to_string(), c));
        }
        out.push_str(&csv_row("total", &s.totals));
        return Ok(Reply::raw(200, "text/csv; charset=utf-8", out.into_bytes()));
    }
    Ok(Reply::json(
        200,
        &StatsOut {
            from,
            to,
            timezone: "UTC".into(),
            days: s
                .days
                .iter()
                .map(|(day, c)| DayOut {
                    day: *day,
                    counts: c.into(),
                })
                .collect(),
            totals: (&s.totals).into(),
            cameras: cameras.iter().map(Into::into).collect(),
        },
    ))
}
