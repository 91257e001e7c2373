//! The mail templates: subject, plain text and HTML per language, and a content file per
//! language with one sentence (or more) for every questionnaire choice, so each message
//! reads as written for its guest. The venue edits copies in `mail.templates_dir`; the
//! defaults (in the repository's `templates/mail/`) are built into the binary.
//!
//! The content file also holds the venue's privacy texts (who keeps the data, how to reach
//! them, the kiosk's consent sentence and notice), so the kiosk and the mail say the same
//! thing, in both languages, with `privacy.retention_days` filled in.
//!
//! Everything is loaded and checked at start-up — every file present, a sentence for
//! every energy, element and configured essence, every template rendering for a sample
//! guest with undefined variables as errors — so a broken edit stops the daemon with the
//! file named, instead of failing a guest's mail at the end of a show.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use minijinja::{Environment, UndefinedBehavior, context};
use serde::Deserialize;

use crate::show::Essence;
use crate::show::{Element, Energy, Language};

/// The Content-ID of the inline logo; the HTML refers to it as `cid:{{ logo_cid }}`.
pub const LOGO_CID: &str = "logo@cosmos";

/// The Content-ID of the message's `index`-th photo (0-based, in attachment order); the
/// HTML shows them as `cid:{{ cid }}` for each in `photo_cids`.
pub fn photo_cid(index: usize) -> String {
    format!("photo-{}@cosmos", index + 1)
}

/// The default templates, compiled in.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "subject.es.txt",
        include_str!("../../templates/mail/subject.es.txt"),
    ),
    (
        "subject.en.txt",
        include_str!("../../templates/mail/subject.en.txt"),
    ),
    (
        "body.es.txt",
        include_str!("../../templates/mail/body.es.txt"),
    ),
    (
        "body.en.txt",
        include_str!("../../templates/mail/body.en.txt"),
    ),
    (
        "body.es.html",
        include_str!("../../templates/mail/body.es.html"),
    ),
    (
        "body.en.html",
        include_str!("../../templates/mail/body.en.html"),
    ),
    (
        "content.es.toml",
        include_str!("../../templates/mail/content.es.toml"),
    ),
    (
        "content.en.toml",
        include_str!("../../templates/mail/content.en.toml"),
    ),
];
const BUILT_IN_LOGO: &[u8] = include_bytes!("../../templates/mail/logo.png");

/// Writes the built-in templates into `dir` (for a venue to start editing from).
pub fn write_defaults(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in BUILT_IN {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    std::fs::write(dir.join("logo.png"), BUILT_IN_LOGO)
        .with_context(|| format!("writing {}", dir.join("logo.png").display()))?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Content {
    venue: Venue,
    privacy: PrivacyContent,
    energy: BTreeMap<String, String>,
    element: BTreeMap<String, String>,
    essence: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Venue {
    name: String,
    signature: String,
    /// Who keeps the guests' data (the data controller), as a guest should read it.
    keeper: String,
    /// Where a guest asks to see, fix or erase their data (an address or a desk).
    contact: String,
}

/// `[privacy]`: the kiosk's consent sentence and notice (templates: they may use
/// `venue.*` and `retention_days`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyContent {
    consent: String,
    notice: String,
}

/// The privacy texts the kiosk shows, in one language, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyText {
    /// The consent checkbox's sentence.
    pub consent: String,
    /// Who keeps the data, why, for how long, whom to ask.
    pub notice: String,
}

/// The venue's logo, attached inline.
#[derive(Debug, Clone)]
pub struct Logo {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// What a guest's message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The fields of a guest a message is written from.
#[derive(Debug, Clone)]
pub struct GuestView<'a> {
    pub name: &'a str,
    pub energy: Energy,
    pub element: Element,
    pub essence: &'a str,
    pub language: Language,
}

/// Loaded, checked templates.
pub struct Templates {
    env: Environment<'static>,
    content: BTreeMap<&'static str, Content>,
    essences: Vec<Essence>,
    logo: Logo,
    /// `privacy.retention_days`, said in the kiosk's notice and the mail's footer.
    retention_days: u32,
    /// Where they came from, for logs and errors ("built-in" or the folder).
    source: String,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("source", &self.source)
            .finish()
    }
}

fn lang_key(l: Language) -> &'static str {
    l.as_str()
}

impl Templates {
    /// Loads the templates from `dir`, or the built-in ones, and checks them against
    /// the configured essences.
    pub fn load(
        dir: Option<&Path>,
        essences: &[Essence],
        retention_days: u32,
    ) -> anyhow::Result<Templates> {
        let mut files: BTreeMap<&'static str, String> = BTreeMap::new();
        let (logo, source) = match dir {
            None => {
                for (name, text) in BUILT_IN {
                    files.insert(name, (*text).to_string());
                }
                (
                    Logo {
                        bytes: BUILT_IN_LOGO.to_vec(),
                        content_type: "image/png",
                    },
                    "built-in".to_string(),
                )
            }
            Some(dir) => {
                for (name, _) in BUILT_IN {
                    let path = dir.join(name);
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("mail template {}", path.display()))?;
                    files.insert(name, text);
                }
                (read_logo(dir)?, dir.display().to_string())
            }
        };
        let at = |name: &str| -> PathBuf { Path::new(&source).join(name) };

        let mut env = Environment::new();
        // A misspelt variable is an error at start-up, not an empty hole in a guest's mail.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut content = BTreeMap::new();
        for (name, text) in files {
            if name.ends_with(".toml") {
                let c: Content = toml::from_str(&text)
                    .map_err(|e| anyhow!("{}: {}", at(name).display(), e.message()))?;
                let lang = if name.contains(".es.") { "es" } else { "en" };
                check_content(&c, essences).map_err(|e| anyhow!("{}: {e}", at(name).display()))?;
                content.insert(lang, c);
            } else {
                env.add_template_owned(name, text)
                    .map_err(|e| anyhow!("{}: {e}", at(name).display()))?;
            }
        }
        let t = Templates {
            env,
            content,
            essences: essences.to_vec(),
            logo,
            retention_days,
            source,
        };
        for &language in Language::ALL {
            t.privacy(language).with_context(|| {
                format!(
                    "content.{}.toml [privacy] in {}",
                    language.as_str(),
                    t.source
                )
            })?;
        }
        // Render every language for a sample guest with each choice, so any template or
        // sentence error shows now.
        for &language in Language::ALL {
            for (i, e) in essences.iter().enumerate() {
                let g = GuestView {
                    name: "Ana <&> O'Brien",
                    energy: Energy::ALL[i % Energy::ALL.len()],
                    element: Element::ALL[i % Element::ALL.len()],
                    essence: &e.id,
                    language,
                };
                t.render(&g, i % 3)
                    .with_context(|| format!("mail templates in {}", t.source))?;
            }
        }
        Ok(t)
    }

    pub fn logo(&self) -> &Logo {
        &self.logo
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The kiosk's consent sentence and privacy notice in `language`.
    pub fn privacy(&self, language: Language) -> anyhow::Result<PrivacyText> {
        let c = &self.content[lang_key(language)];
        let ctx = context! { venue => c.venue.clone(), retention_days => self.retention_days };
        let render = |what: &str, s: &str| {
            self.env
                .render_str(s, ctx.clone())
                .map(|r| r.trim().to_string())
                .map_err(|e| anyhow!("{what}: {e}"))
        };
        Ok(PrivacyText {
            consent: render("consent", &c.privacy.consent)?,
            notice: render("notice", &c.privacy.notice)?,
        })
    }

    /// Writes a guest's message. `photos` is how many photos will be attached.
    pub fn render(&self, g: &GuestView<'_>, photos: usize) -> anyhow::Result<Rendered> {
        let lang = lang_key(g.language);
        let c = &self.content[lang];
        let pick = |names: (&'static str, &'static str)| match g.language {
            Language::Es => names.0,
            Language::En => names.1,
        };
        let essence_name = self
            .essences
            .iter()
            .find(|e| e.id == g.essence)
            .map(|e| match g.language {
                Language::Es => e.es.as_str(),
                Language::En => e.en.as_str(),
            })
            // An essence removed from the config after the guest registered: use the id.
            .unwrap_or(g.essence);
        let name = g.name.trim();
        let guest = context! {
            name => name,
            // The greeting's: the first word of what the guest typed.
            first_name => name.split_whitespace().next().unwrap_or(name),
            energy => pick(g.energy.names()),
            element => pick(g.element.names()),
            essence => essence_name,
        };
        let base = context! { guest => guest.clone(), venue => c.venue.clone() };
        let sentence = |map: &BTreeMap<String, String>, key: &str, what: &str| {
            let s = map.get(key).map(String::as_str).unwrap_or_default();
            self.env
                .render_str(s, base.clone())
                .map_err(|e| anyhow!("content.{lang}.toml [{what}] {key}: {e}"))
        };
        let text = context! {
            energy => sentence(&c.energy, g.energy.as_str(), "energy")?,
            element => sentence(&c.element, g.element.as_str(), "element")?,
            essence => sentence(&c.essence, g.essence, "essence")?,
        };
        let ctx = context! {
            guest => guest,
            venue => c.venue.clone(),
            text => text,
            photos => photos,
            photo_cids => (0..photos).map(photo_cid).collect::<Vec<_>>(),
            logo_cid => LOGO_CID,
            retention_days => self.retention_days,
        };
        let render = |name: String| -> anyhow::Result<String> {
            self.env
                .get_template(&name)
                .and_then(|t| t.render(ctx.clone()))
                .map_err(|e| anyhow!("{name}: {e}"))
        };
        let subject = render(format!("subject.{lang}.txt"))?;
        // A subject is one line, whatever the template's line breaks.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            bail!("subject.{lang}.txt renders an empty subject");
        }
        Ok(Rendered {
            subject,
            text: render(format!("body.{lang}.txt"))?,
            html: render(format!("body.{lang}.html"))?,
        })
    }
}

fn read_logo(dir: &Path) -> anyhow::Result<Logo> {
    for (name, content_type) in [("logo.png", "image/png"), ("logo.jpg", "image/jpeg")] {
        let path = dir.join(name);
        if path.exists() {
            let bytes =
                std::fs::read(&path).with_context(|| format!("mail logo {}", path.display()))?;
            return Ok(Logo {
                bytes,
                content_type,
            });
        }
    }
    bail!(
        "{}: no logo.png or logo.jpg (the mail's inline logo)",
        dir.display()
    )
}

fn check_content(c: &Content, essences: &[Essence]) -> anyhow::Result<()> {
    let missing =
        |map: &BTreeMap<String, String>, section: &str, keys: &mut dyn Iterator<Item = &str>| {
            for k in keys {
                if map.get(k).is_none_or(|s| s.trim().is_empty()) {
                    bail!("[{section}] has no sentence for `{k}`");
                }
            }
            Ok(())
        };
    missing(
        &c.energy,
        "energy",
        &mut Energy::ALL.iter().map(|e| e.as_str()),
    )?;
    missing(
        &c.element,
        "element",
        &mut Element::ALL.iter().map(|e| e.as_str()),
    )?;
    missing(
        &c.essence,
        "essence",
        &mut essences.iter().map(|e| e.id.as_str()),
    )?;
    for (key, value) in [
        ("[venue] name", &c.venue.name),
        ("[venue] keeper", &c.venue.keeper),
        ("[venue] contact", &c.venue.contact),
        ("[privacy] consent", &c.privacy.consent),
        ("[privacy] notice", &c.privacy.notice),
    ] {
        if value.trim().is_empty() {
            bail!("{key} is empty");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::default_essences;

    fn guest(language: Language) -> GuestView<'static> {
        GuestView {
            name: "  Lucía<b>  Pérez ",
            energy: Energy::Lunar,
            element: Element::Fuego,
            essence: "colibrí",
            language,
        }
    }

    #[test]
    fn built_in_templates_speak_to_the_guest_in_their_language() {
        let t = Templates::load(None, &default_essences(), 30).unwrap();
        let es = t.render(&guest(Language::Es), 2).unwrap();
        assert_eq!(
            es.subject,
            "Lucía<b> Pérez, tu viaje por COSMOS: Colibrí · Fuego"
        );
        // The greeting uses the first name only.
        assert!(es.text.starts_with("Hola, Lucía<b>:"), "{}", es.text);
        assert!(es.text.contains("esencia del colibrí"));
        assert!(es.text.contains("energía es lunar"));
        assert!(es.text.contains("elemento es el fuego"));
        assert!(es.text.contains("las 2 fotos"));
        // HTML escapes what the guest typed; the text part does not.
        assert!(es.html.contains("Hola, Lucía&lt;b&gt;:"), "{}", es.html);
        assert!(es.html.contains("cid:logo@cosmos"));
        // Both photos shown in the body, and the privacy footer.
        assert!(es.html.contains("cid:photo-1@cosmos") && es.html.contains("cid:photo-2@cosmos"));
        assert!(!es.html.contains("cid:photo-3@cosmos"));
        for part in [&es.text, &es.html] {
            assert!(part.contains("30 días después de tu visita"), "{part}");
        }

        let en = t.render(&guest(Language::En), 1).unwrap();
        assert_eq!(
            en.subject,
            "Lucía<b> Pérez, your journey through COSMOS: Hummingbird · Fire"
        );
        assert!(en.text.contains("essence of the hummingbird"));
        assert!(en.text.contains("The photo of your show is attached."));
        assert!(!en.text.contains("esencia"));
        assert!(en.text.contains("30 days after your visit"));
    }

    #[test]
    fn the_kiosk_privacy_texts_name_the_keeper_the_retention_and_the_contact() {
        let t = Templates::load(None, &default_essences(), 45).unwrap();
        let es = t.privacy(Language::Es).unwrap();
        assert!(es.consent.starts_with("Acepto"), "{}", es.consent);
        assert!(
            es.notice.contains("COSMOS, la sala del show guarda"),
            "{}",
            es.notice
        );
        assert!(es.notice.contains("45 días"), "{}", es.notice);
        assert!(es.notice.contains("privacidad@cosmos.example"));
        let en = t.privacy(Language::En).unwrap();
        assert!(en.notice.contains("45 days") && en.consent.starts_with("I agree"));

        // An empty privacy text stops the load, naming it.
        let dir = tempfile::tempdir().unwrap();
        write_defaults(dir.path()).unwrap();
        let path = dir.path().join("content.en.toml");
        let c = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            c.replace("contact = \"privacidad@cosmos.example\"", "contact = \" \""),
        )
        .unwrap();
        let e = format!(
            "{:#}",
            Templates::load(Some(dir.path()), &default_essences(), 30).unwrap_err()
        );
        assert!(e.contains("[venue] contact"), "{e}");

        // A folder from before the privacy texts: the load names the file and the section.
        let c = c.split("\n[privacy]").next().unwrap().to_string()
            + "\n[energy]"
            + c.split("\n[energy]").nth(1).unwrap();
        std::fs::write(&path, c).unwrap();
        let e = format!(
            "{:#}",
            Templates::load(Some(dir.path()), &default_essences(), 30).unwrap_err()
        );
        assert!(
            e.contains("content.en.toml") && e.contains("privacy"),
            "{e}"
        );
    }

    #[test]
    fn every_choice_has_its_own_sentence() {
        let t = Templates::load(None, &default_essences(), 30).unwrap();
        let mut seen = std::collections::HashSet::new();
        for e in default_essences() {
            let mut g = guest(Language::Es);
            g.essence = Box::leak(e.id.clone().into_boxed_str());
            let r = t.render(&g, 1).unwrap();
            assert!(seen.insert(r.text), "essence {} reads like another", e.id);
        }
    }

    #[test]
    fn a_venue_folder_is_checked_at_load_and_names_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        write_defaults(dir.path()).unwrap();
        let mut essences = default_essences();
        Templates::load(Some(dir.path()), &essences, 30).unwrap();

        // A configured essence without a sentence.
        essences.push(Essence {
            id: "luna".into(),
            es: "Luna".into(),
            en: "Moon".into(),
        });
        let e = format!(
            "{:#}",
            Templates::load(Some(dir.path()), &essences, 30).unwrap_err()
        );
        assert!(e.contains("content.e") && e.contains("`luna`"), "{e}");

        // A misspelt variable.
        let essences = default_essences();
        std::fs::write(dir.path().join("body.en.txt"), "Hi {{ guest.nmae }}").unwrap();
        let e = format!(
            "{:#}",
            Templates::load(Some(dir.path()), &essences, 30).unwrap_err()
        );
        assert!(e.contains("body.en.txt"), "{e}");

        // A missing file.
        write_defaults(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("logo.png")).unwrap();
        let e = format!(
            "{:#}",
            Templates::load(Some(dir.path()), &essences, 30).unwrap_err()
        );
        assert!(e.contains("logo.png"), "{e}");
        std::fs::remove_file(dir.path().join("subject.es.txt")).unwrap();
        let e = format!(
            "{:#}",
            Templates::load(Some(dir.path()), &essences, 30).unwrap_err()
        );
        assert!(e.contains("subject.es.txt"), "{e}");
    }

    #[test]
    fn an_edited_template_changes_the_mail_without_recompiling() {
        let dir = tempfile::tempdir().unwrap();
        write_defaults(dir.path()).unwrap();
        std::fs::write(
            dir.path().join("subject.en.txt"),
            "Your {{ guest.essence }} photos from {{ venue.name }}\n",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path()), &default_essences(), 30).unwrap();
        assert_eq!(
            t.render(&guest(Language::En), 2).unwrap().subject,
            "Your Hummingbird photos from COSMOS"
        );
    }
}
