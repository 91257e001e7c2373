//! `[show]` and `[questionnaire]`: the show's timing and the venue's essence list (the
//! domain's [`Essence`] type, filled from the file or the built-in default list).

use serde::Deserialize;

use super::{ConfigError, bad, in_range};
use crate::show::{Essence, default_essences};

#[derive(Debug, Clone)]
pub struct ShowConfig {
    pub duration_minutes: u32,
    pub changeover_minutes: u32,
    pub spontaneous_offset_seconds: u32,
    /// Length of the light countdown before the posed photo.
    pub countdown_seconds: u32,
}

#[derive(Debug, Clone)]
pub struct QuestionnaireConfig {
    pub essences: Vec<Essence>,
}

/// `[show]` as written; every key may be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawShow {
    duration_minutes: u32,
    changeover_minutes: u32,
    spontaneous_offset_seconds: u32,
    countdown_seconds: u32,
}

impl Default for RawShow {
    fn default() -> Self {
        RawShow {
            duration_minutes: 15,
            changeover_minutes: 5,
            spontaneous_offset_seconds: 540,
            countdown_seconds: 5,
        }
    }
}

/// `[questionnaire]` as written; without `essences` the built-in list applies.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuestionnaire {
    essences: Option<Vec<RawEssence>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEssence {
    id: String,
    es: String,
    en: String,
}

pub(super) fn show(r: RawShow) -> Result<ShowConfig, ConfigError> {
    let duration = in_range(r.duration_minutes, "show.duration_minutes", 1..=240)?;
    let changeover = in_range(r.changeover_minutes, "show.changeover_minutes", 0..=240)?;
    let offset = r.spontaneous_offset_seconds;
    if offset >= duration * 60 {
        return Err(bad(
            "show.spontaneous_offset_seconds",
            format!(
                "must be less than the show's length ({} s), got {offset}",
                duration * 60
            ),
        ));
    }
    Ok(ShowConfig {
        duration_minutes: duration,
        changeover_minutes: changeover,
        spontaneous_offset_seconds: offset,
        countdown_seconds: in_range(r.countdown_seconds, "show.countdown_seconds", 0..=30)?,
    })
}

pub(super) fn questionnaire(r: RawQuestionnaire) -> Result<QuestionnaireConfig, ConfigError> {
    let Some(list) = r.essences else {
        return Ok(QuestionnaireConfig {
            essences: default_essences(),
        });
    };
    if list.is_empty() {
        return Err(bad(
            "questionnaire.essences",
            "must list at least one essence",
        ));
    }
    let mut essences: Vec<Essence> = Vec::with_capacity(list.len());
    for (i, e) in list.into_iter().enumerate() {
        let id = e.id.trim().to_lowercase();
        if id.is_empty() || e.es.trim().is_empty() || e.en.trim().is_empty() {
            return Err(bad(
                &format!("questionnaire.essences[{i}]"),
                "id, es and en must not be empty",
            ));
        }
        if essences.iter().any(|o| o.id == id) {
            return Err(bad(
                &format!("questionnaire.essences[{i}].id"),
                format!("`{id}` is listed twice"),
            ));
        }
        essences.push(Essence {
            id,
            es: e.es.trim().into(),
            en: e.en.trim().into(),
        });
    }
    Ok(QuestionnaireConfig { essences })
}

#[cfg(test)]
mod tests {
    use super::super::{MINIMAL, assert_refused, parse};

    #[test]
    fn show_timing_is_checked_by_name() {
        assert_eq!(parse(MINIMAL).unwrap().show.countdown_seconds, 5);
        for (line, key) in [
            ("duration_minutes = 0", "show.duration_minutes"),
            ("duration_minutes = 241", "show.duration_minutes"),
            ("changeover_minutes = 241", "show.changeover_minutes"),
            ("changeover_minutes = -5", "show.changeover_minutes"),
            (
                "duration_minutes = 5\nspontaneous_offset_seconds = 300",
                "show.spontaneous_offset_seconds",
            ),
            ("countdown_seconds = 31", "show.countdown_seconds"),
            ("length = 3", "show.length"),
        ] {
            assert_refused(&format!("{MINIMAL}[show]\n{line}\n"), key);
        }
        let s = parse(&format!(
            "{MINIMAL}[show]\nduration_minutes = 5\nspontaneous_offset_seconds = 299\nchangeover_minutes = 0\n"
        ))
        .unwrap()
        .show;
        assert_eq!(
            (
                s.duration_minutes,
                s.spontaneous_offset_seconds,
                s.changeover_minutes
            ),
            (5, 299, 0)
        );
    }

    #[test]
    fn essences_are_checked_by_index() {
        let one = "{ id = \"Sol \", es = \"Sol\", en = \"Sun\" }";
        let q = parse(&format!("{MINIMAL}[questionnaire]\nessences = [{one}]\n"))
            .unwrap()
            .questionnaire;
        assert_eq!(q.essences.len(), 1);
        assert_eq!(q.essences[0].id, "sol", "trimmed and lower-cased");
        for (list, key) in [
            ("[]".to_string(), "questionnaire.essences".to_string()),
            (
                format!("[{one}, {{ id = \"luna\", es = \"\", en = \"Moon\" }}]"),
                "questionnaire.essences[1]".into(),
            ),
            (
                format!("[{one}, {{ id = \"SOL\", es = \"S\", en = \"S\" }}]"),
                "questionnaire.essences[1].id".into(),
            ),
            (
                "[{ id = \"x\", es = \"X\" }]".into(),
                "questionnaire.essences[0]".into(),
            ),
        ] {
            assert_refused(
                &format!("{MINIMAL}[questionnaire]\nessences = {list}\n"),
                &key,
            );
        }
    }
}
