//! The pages' languages: Fluent messages (English, German and French built
//! in; an operator's `translations_dir` adds languages and overrides
//! messages), chosen per request by OIDC Core §3.1.2.1 `ui_locales`, then
//! the browser's `Accept-Language` (RFC 9110 §12.5.4), then English.
//!
//! Both inputs come from the user agent: at most [`MAX_REQUESTED`] tags
//! are read from at most [`MAX_HEADER`] bytes, so a hostile header costs a
//! bounded parse.

use std::collections::BTreeMap;
use std::path::Path;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use fluent_langneg::{negotiate_languages, NegotiationStrategy};
use unic_langid::LanguageIdentifier;

use super::PagesError;

/// The built-in messages, per language; English first (the fallback).
const BUILT_IN: &[(&str, &str)] = &[
    ("en", include_str!("../../locales/en/pages.ftl")),
    ("de", include_str!("../../locales/de/pages.ftl")),
    ("fr", include_str!("../../locales/fr/pages.ftl")),
];

/// The most language tags read from `ui_locales` or `Accept-Language`.
pub const MAX_REQUESTED: usize = 16;
/// The longest `Accept-Language` (or `ui_locales`) read; past it, the
/// input is ignored.
pub const MAX_HEADER: usize = 1024;
/// The most `.ftl` files read from `translations_dir` (all languages).
const MAX_FILES: usize = 256;
/// The largest `.ftl` file read.
const MAX_FILE: u64 = 256 * 1024;

/// One of the available languages (an index into [`Translations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lang(pub(crate) usize);

impl Lang {
    /// English, the fallback of every message.
    pub const FALLBACK: Lang = Lang(0);
}

/// Every language's messages, and the scope descriptions of the
/// configuration.
pub struct Translations {
    langs: Vec<LanguageIdentifier>,
    bundles: Vec<FluentBundle<FluentResource>>,
    /// scope → language tag → text.
    scopes: BTreeMap<String, BTreeMap<String, String>>,
}

impl std::fmt::Debug for Translations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translations")
            .field("langs", &self.langs)
            .finish_non_exhaustive()
    }
}

fn new_bundle(lang: &LanguageIdentifier) -> FluentBundle<FluentResource> {
    let mut bundle = FluentBundle::new_concurrent(vec![lang.clone()]);
    // The pages are HTML, escaped by minijinja; Unicode isolation marks
    // around arguments would only show up in copied text.
    bundle.set_use_isolating(false);
    bundle
}

fn parse(source: String, origin: &str) -> Result<FluentResource, PagesError> {
    FluentResource::try_new(source).map_err(|(_, errors)| {
        PagesError::Translation(format!(
            "{origin}: {}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

impl Translations {
    /// The built-in languages, then `dir`'s `LANG/*.ftl` files over them
    /// (a new directory is a new language), and the configured scope
    /// descriptions. A file that does not parse is an error, naming it.
    pub fn load(
        dir: Option<&Path>,
        scopes: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Self, PagesError> {
        let mut langs: Vec<LanguageIdentifier> = Vec::new();
        let mut bundles = Vec::new();
        for (tag, source) in BUILT_IN {
            let lang: LanguageIdentifier = tag
                .parse()
                .map_err(|_| PagesError::Translation(format!("built-in language {tag}")))?;
            let mut bundle = new_bundle(&lang);
            let resource = parse((*source).to_owned(), &format!("built-in {tag}/pages.ftl"))?;
            bundle
                .add_resource(resource)
                .map_err(|e| PagesError::Translation(format!("built-in {tag}: {e:?}")))?;
            langs.push(lang);
            bundles.push(bundle);
        }
        if let Some(dir) = dir {
            for (lang, file) in operator_files(dir)? {
                let source = read_bounded(&file)?;
                let resource = parse(source, &file.display().to_string())?;
                let i = match langs.iter().position(|l| *l == lang) {
                    Some(i) => i,
                    None => {
                        langs.push(lang.clone());
                        bundles.push(new_bundle(&lang));
                        langs.len() - 1
                    }
                };
                bundles[i].add_resource_overriding(resource);
            }
        }
        Ok(Self {
            langs,
            bundles,
            scopes: scopes.clone(),
        })
    }

    /// English without messages: what is left if even the built-in
    /// messages do not load (a unit test shows they do).
    pub fn empty() -> Self {
        let en: LanguageIdentifier = LanguageIdentifier::default();
        Self {
            bundles: vec![new_bundle(&en)],
            langs: vec![en],
            scopes: BTreeMap::new(),
        }
    }

    /// The language for a request: the first of `ui_locales` (space
    /// separated, OIDC Core §3.1.2.1) that is available, else of
    /// `Accept-Language` by its weights, else English.
    pub fn negotiate(&self, ui_locales: Option<&str>, accept_language: Option<&str>) -> Lang {
        for requested in [
            ui_locales.map(parse_ui_locales),
            accept_language.map(parse_accept_language),
        ]
        .into_iter()
        .flatten()
        {
            let found =
                negotiate_languages(&requested, &self.langs, None, NegotiationStrategy::Lookup);
            if let Some(best) = found.first() {
                if let Some(i) = self.langs.iter().position(|l| l == *best) {
                    return Lang(i);
                }
            }
        }
        Lang::FALLBACK
    }

    /// The language's tag (`en`, `de`, ...), for `<html lang>`.
    pub fn tag(&self, lang: Lang) -> String {
        self.langs
            .get(lang.0)
            .map(ToString::to_string)
            .unwrap_or_else(|| "en".to_owned())
    }

    /// Every available language's tag.
    pub fn tags(&self) -> Vec<String> {
        self.langs.iter().map(ToString::to_string).collect()
    }

    /// Message `id` in `lang`, else in English; `None` if neither has it.
    pub fn message(&self, lang: Lang, id: &str, args: Option<&FluentArgs<'_>>) -> Option<String> {
        [lang.0, Lang::FALLBACK.0].into_iter().find_map(|i| {
            let bundle = self.bundles.get(i)?;
            let pattern = bundle.get_message(id)?.value()?;
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, args, &mut errors);
            if !errors.is_empty() {
                tracing::warn!(
                    message = id,
                    ?errors,
                    "a page message did not format cleanly"
                );
            }
            Some(text.into_owned())
        })
    }

    /// What `scope` allows, for a consent page in `lang`: the
    /// configuration's `scope_descriptions` in that language (or its
    /// primary language), then the messages' `scope-NAME` (scope names
    /// that are Fluent identifiers), then English of both, else nothing.
    pub fn scope(&self, lang: Lang, scope: &str) -> Option<String> {
        let configured = |l: Lang| {
            let by_lang = self.scopes.get(scope)?;
            let tag = self.langs.get(l.0)?;
            by_lang
                .get(&tag.to_string())
                .or_else(|| by_lang.get(tag.language.as_str()))
                .cloned()
        };
        let from_messages = |l: Lang| {
            let identifier = scope
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !identifier || scope.is_empty() {
                return None;
            }
            let bundle = self.bundles.get(l.0)?;
            let pattern = bundle.get_message(&format!("scope-{scope}"))?.value()?;
            Some(
                bundle
                    .format_pattern(pattern, None, &mut Vec::new())
                    .into_owned(),
            )
        };
        configured(lang)
            .or_else(|| from_messages(lang))
            .or_else(|| configured(Lang::FALLBACK))
            .or_else(|| from_messages(Lang::FALLBACK))
    }
}

/// `LANG/*.ftl` under `dir`, sorted (so overrides apply in a stable
/// order), bounded in number.
fn operator_files(dir: &Path) -> Result<Vec<(LanguageIdentifier, std::path::PathBuf)>, PagesError> {
    let io = |e: std::io::Error| PagesError::Translation(format!("{}: {e}", dir.display()));
    let mut found = Vec::new();
    for entry in super::sorted_entries(dir).map_err(io)? {
        // Followed symlinks: a Kubernetes ConfigMap mounts its files so.
        if !std::fs::metadata(entry.path()).map_err(io)?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let lang: LanguageIdentifier = name.parse().map_err(|_| {
            PagesError::Translation(format!(
                "{}: {name:?} is not a language tag like en, de or pt-BR",
                entry.path().display()
            ))
        })?;
        for file in super::sorted_entries(&entry.path()).map_err(io)? {
            if file.path().extension().and_then(|e| e.to_str()) == Some("ftl") {
                found.push((lang.clone(), file.path()));
                if found.len() > MAX_FILES {
                    return Err(PagesError::Translation(format!(
                        "{}: more than {MAX_FILES} .ftl files",
                        dir.display()
                    )));
                }
            }
        }
    }
    Ok(found)
}

fn read_bounded(path: &Path) -> Result<String, PagesError> {
    super::read_file(path, MAX_FILE).map_err(PagesError::Translation)
}

fn parse_ui_locales(v: &str) -> Vec<LanguageIdentifier> {
    if v.len() > MAX_HEADER {
        return Vec::new();
    }
    v.split_ascii_whitespace()
        .take(MAX_REQUESTED)
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// `Accept-Language` (RFC 9110 §12.5.4): tags by descending weight (a
/// stable sort: equal weights keep their order); `q=0` means "not this";
/// `*` is left to the fallback.
fn parse_accept_language(v: &str) -> Vec<LanguageIdentifier> {
    if v.len() > MAX_HEADER {
        return Vec::new();
    }
    let mut weighted: Vec<(u16, LanguageIdentifier)> = v
        .split(',')
        .take(MAX_REQUESTED)
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .or_else(|| p.trim().strip_prefix("Q="))
                })
                .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                .unwrap_or(1.0);
            if q <= 0.0 || tag == "*" {
                return None;
            }
            // Weights have three decimals at most (RFC 9110 §12.4.2).
            let weight = (q.min(1.0) * 1000.0) as u16;
            Some((weight, tag.parse().ok()?))
        })
        .collect();
    weighted.sort_by_key(|w| std::cmp::Reverse(w.0));
    weighted.into_iter().map(|(_, l)| l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built_in() -> Translations {
        Translations::load(None, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn every_built_in_language_has_every_english_message() {
        let en = BUILT_IN[0].1;
        let ids: Vec<&str> = en
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(id, _)| id.trim()))
            .filter(|id| !id.starts_with('#') && !id.is_empty() && !id.starts_with(' '))
            .collect();
        assert!(ids.len() > 40, "{}", ids.len());
        for (tag, source) in &BUILT_IN[1..] {
            for id in &ids {
                assert!(
                    source.lines().any(|l| l.starts_with(&format!("{id} ="))),
                    "{tag} lacks {id}"
                );
            }
        }
    }

    #[test]
    fn ui_locales_come_first_then_accept_language_by_weight() {
        let t = built_in();
        let tag = |ui: Option<&str>, al: Option<&str>| t.tag(t.negotiate(ui, al));
        assert_eq!(tag(None, None), "en");
        assert_eq!(tag(None, Some("de-DE,de;q=0.9,en;q=0.8")), "de");
        assert_eq!(tag(None, Some("en;q=0.5, fr;q=0.9")), "fr");
        assert_eq!(tag(None, Some("fr;q=0, de")), "de");
        assert_eq!(tag(Some("fr-CA en"), Some("de")), "fr");
        assert_eq!(
            tag(Some("ja"), Some("de")),
            "de",
            "nothing of ui_locales is available"
        );
        assert_eq!(tag(Some("%%% ???"), None), "en");
        assert_eq!(tag(None, Some("*")), "en");
    }

    #[test]
    fn hostile_inputs_are_bounded() {
        let t = built_in();
        let long = "xx-XX,".repeat(10_000) + "de";
        assert_eq!(
            t.tag(t.negotiate(None, Some(&long))),
            "en",
            "ignored past MAX_HEADER"
        );
        let many = "xx,".repeat(100) + "de";
        assert!(many.len() <= MAX_HEADER);
        assert_eq!(parse_accept_language(&many).len(), MAX_REQUESTED);
    }

    #[test]
    fn messages_fall_back_to_english_and_scopes_to_configuration() {
        let mut scopes = BTreeMap::new();
        scopes.insert(
            "mcp:tools".to_owned(),
            BTreeMap::from([
                ("en".to_owned(), "use your tools".to_owned()),
                ("de".to_owned(), "deine Werkzeuge benutzen".to_owned()),
            ]),
        );
        let t = Translations::load(None, &scopes).unwrap();
        let de = t.negotiate(Some("de-AT"), None);
        let fr = t.negotiate(Some("fr"), None);
        assert_eq!(
            t.scope(de, "mcp:tools").as_deref(),
            Some("deine Werkzeuge benutzen")
        );
        assert_eq!(t.scope(fr, "mcp:tools").as_deref(), Some("use your tools"));
        assert!(t.scope(de, "email").is_some_and(|s| s.contains("E-Mail")));
        assert_eq!(t.scope(de, "unknown-scope"), None);
        assert_eq!(t.message(de, "no-such-message", None), None);
    }

    #[test]
    fn an_operator_directory_overrides_and_adds_languages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("en")).unwrap();
        std::fs::write(dir.path().join("en/brand.ftl"), "login-submit = Log in\n").unwrap();
        std::fs::create_dir(dir.path().join("nl")).unwrap();
        std::fs::write(dir.path().join("nl/pages.ftl"), "login-submit = Inloggen\n").unwrap();
        let t = Translations::load(Some(dir.path()), &BTreeMap::new()).unwrap();
        assert_eq!(
            t.message(Lang::FALLBACK, "login-submit", None).as_deref(),
            Some("Log in")
        );
        let nl = t.negotiate(None, Some("nl-BE"));
        assert_eq!(t.tag(nl), "nl");
        assert_eq!(
            t.message(nl, "login-submit", None).as_deref(),
            Some("Inloggen")
        );
        // What Dutch lacks comes in English.
        assert!(t.message(nl, "login-username", None).is_some());

        std::fs::write(dir.path().join("nl/broken.ftl"), "this is { not fluent\n").unwrap();
        let e = Translations::load(Some(dir.path()), &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("broken.ftl"), "{e}");
    }
}
