//! `Messages`, pure: every text the widget shows, by key, with its English default; the
//! page's replacements (the `messages` option), plural forms, and `{placeholder}` filling.
//!
//! A message is one text, or one text per plural category (`zero`, `one`, `two`, `few`,
//! `many`, `other`, as `Intl.PluralRules` names them) for the messages that carry a count.
//! Which category a count falls in, and how "5 seconds ago" is said, is the [`Locale`]'s
//! business: `Intl` in the browser (`crate::locale`), [`English`] without it.

/// A message's forms: `(plural category, text)`; a single text is the `other` form.
pub type Forms = Vec<(String, String)>;

/// Every key, its placeholders, and its English default (plural forms for counted ones).
pub const CATALOG: &[(&str, &[(&str, &str)])] = &[
    ("connected", &[("other", "Connected")]),
    ("connecting", &[("other", "Connecting…")]),
    ("reconnecting", &[("other", "Reconnecting…")]),
    (
        "retrying",
        &[("other", "Disconnected — retrying in {seconds} s")],
    ),
    ("disconnected", &[("other", "Disconnected")]),
    ("notAuthorized", &[("other", "Not authorized")]),
    ("deleted", &[("other", "This document was deleted")]),
    (
        "refusedByServer",
        &[("other", "Disconnected — refused by the server")],
    ),
    ("allSaved", &[("other", "All changes saved")]),
    ("savedJustNow", &[("other", "Saved just now")]),
    ("savedAgo", &[("other", "Saved {time}")]),
    ("saving", &[("other", "Saving…")]),
    (
        "offline",
        &[
            ("one", "Offline — {count} change kept on this device"),
            ("other", "Offline — {count} changes kept on this device"),
        ],
    ),
    (
        "offlineStoring",
        &[
            ("one", "Offline — storing {count} change on this device…"),
            ("other", "Offline — storing {count} changes on this device…"),
        ],
    ),
    (
        "offlineTabOnly",
        &[
            (
                "one",
                "Offline — {count} unsaved change only in this tab, lost if it closes",
            ),
            (
                "other",
                "Offline — {count} unsaved changes only in this tab, lost if it closes",
            ),
        ],
    ),
    (
        "offlineStorageRefused",
        &[
            (
                "one",
                "Offline — {count} unsaved change only in this tab: the browser refused to store it",
            ),
            (
                "other",
                "Offline — {count} unsaved changes only in this tab: the browser refused to store them",
            ),
        ],
    ),
    (
        "notSavedOverLimit",
        &[(
            "other",
            "Not saved: this document is over the server's {limit} limit",
        )],
    ),
    (
        "notSavedTooLarge",
        &[(
            "other",
            "Not saved: this document is over the server's size limit",
        )],
    ),
    (
        "notSavedMessageTooLarge",
        &[(
            "other",
            "Not saved: a change is over the server's message size limit",
        )],
    ),
    (
        "notSavedRejected",
        &[("other", "Not saved: the server refused a change")],
    ),
    (
        "notSavedMalformed",
        &[("other", "Not saved: the server could not read a message")],
    ),
    (
        "notSavedUnauthorized",
        &[("other", "Not saved: not authorized")],
    ),
    (
        "notSavedDeleted",
        &[("other", "Not saved: this document was deleted")],
    ),
    ("retry", &[("other", "Retry")]),
    ("people", &[("other", "People here")]),
    ("you", &[("other", "{name} (you)")]),
    ("more", &[("other", "+{count}")]),
    ("textLabel", &[("other", "Shared text")]),
    ("history", &[("other", "History")]),
    ("historyTitle", &[("other", "Version history")]),
    ("historyList", &[("other", "Versions")]),
    ("historyLoading", &[("other", "Loading versions…")]),
    (
        "historyEmpty",
        &[(
            "other",
            "No versions yet: one is kept after each pause in editing.",
        )],
    ),
    ("historyJustNow", &[("other", "just now")]),
    ("historyKindAuto", &[("other", "Autosave")]),
    ("historyKindNamed", &[("other", "Named version")]),
    ("historyKindRestore", &[("other", "Restored version")]),
    ("historyPreview", &[("other", "Text of the chosen version")]),
    ("historyPick", &[("other", "Choose a version to see its text.")]),
    ("historyPreviewLoading", &[("other", "Loading this version…")]),
    ("historyRestore", &[("other", "Restore this version")]),
    ("historyRestoring", &[("other", "Restoring…")]),
    (
        "historyRestored",
        &[("other", "Restored the version from {time}.")],
    ),
    ("historyNameLabel", &[("other", "Name for the current text")]),
    ("historyName", &[("other", "Name this version")]),
    ("historyNamedDone", &[("other", "Named the current text “{label}”.")]),
    (
        "historyLoadFailed",
        &[("other", "Could not load the versions: {reason}")],
    ),
    (
        "historyPreviewFailed",
        &[("other", "Could not load this version: {reason}")],
    ),
    (
        "historyRestoreFailed",
        &[("other", "Could not restore this version: {reason}")],
    ),
    (
        "historyNameFailed",
        &[("other", "Could not name this version: {reason}")],
    ),
    ("historyUnreachable", &[("other", "the server cannot be reached")]),
    ("historyUnauthorized", &[("other", "not authorized")]),
    ("historyForbidden", &[("other", "your access does not allow it")]),
    ("historyNotFound", &[("other", "it no longer exists")]),
    ("historyStatus", &[("other", "the server answered {status}")]),
];

/// Units of a relative time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Second,
    Minute,
    Hour,
    Day,
}

impl Unit {
    /// The name `Intl.RelativeTimeFormat` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Second => "second",
            Unit::Minute => "minute",
            Unit::Hour => "hour",
            Unit::Day => "day",
        }
    }
}

/// What depends on the language beyond the words: plural categories and relative times.
pub trait Locale {
    /// The plural category of `count` (`one`, `other`, …).
    fn plural(&self, count: f64) -> String;
    /// `value` `unit`s in the past, as words ("5s ago").
    fn ago(&self, value: u64, unit: Unit) -> String;
    /// A moment (ms since the epoch) as a date and time; empty where there is no way to say it.
    fn date_time(&self, _ms: f64) -> String {
        String::new()
    }
}

/// English rules, for tests and when the browser has no `Intl`.
pub struct English;

impl Locale for English {
    fn plural(&self, count: f64) -> String {
        if count == 1.0 { "one" } else { "other" }.to_owned()
    }

    fn ago(&self, value: u64, unit: Unit) -> String {
        let unit = match unit {
            Unit::Second => "s",
            Unit::Minute => "m",
            Unit::Hour => "h",
            Unit::Day => "d",
        };
        format!("{value}{unit} ago")
    }
}

/// The page's messages over the defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Messages {
    /// The page's messages, by key (one entry per key, the last given wins).
    given: Vec<(&'static str, Forms)>,
}

/// The defaults alone.
pub static DEFAULTS: Messages = Messages { given: Vec::new() };

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MessagesError {
    #[error("collab-textarea: `messages` has no key {0:?} (known keys: {known})", known = known_keys())]
    UnknownKey(String),
    #[error("collab-textarea: `messages.{0}` has no text for plural category {1:?} (use zero, one, two, few, many, other)")]
    UnknownCategory(String, String),
}

fn known_keys() -> String {
    CATALOG
        .iter()
        .map(|(key, _)| *key)
        .collect::<Vec<_>>()
        .join(", ")
}

const CATEGORIES: [&str; 6] = ["zero", "one", "two", "few", "many", "other"];

impl Messages {
    /// The page's replacements, `(key, forms)`: unknown keys and categories are refused.
    pub fn new(given: Vec<(String, Forms)>) -> Result<Messages, MessagesError> {
        let mut out: Vec<(&'static str, Forms)> = Vec::new();
        for (key, forms) in given {
            let Some((known, _)) = CATALOG.iter().find(|(k, _)| *k == key) else {
                return Err(MessagesError::UnknownKey(key));
            };
            if let Some((category, _)) = forms
                .iter()
                .find(|(category, _)| !CATEGORIES.contains(&category.as_str()))
            {
                return Err(MessagesError::UnknownCategory(key, category.clone()));
            }
            out.retain(|(k, _)| k != known);
            out.push((*known, forms));
        }
        Ok(Messages { given: out })
    }

    /// Message `key` with `vars` filled in (no plural choice: the `other` form).
    pub fn text(&self, key: &str, vars: &[(&str, &str)]) -> String {
        fill(&self.form(key, "other"), vars)
    }

    /// Message `key` for `count` (as `{count}`, and choosing the plural form) with `vars`.
    pub fn count(
        &self,
        key: &str,
        count: usize,
        locale: &dyn Locale,
        vars: &[(&str, &str)],
    ) -> String {
        let category = locale.plural(count as f64);
        let count = count.to_string();
        let mut all = vec![("count", count.as_str())];
        all.extend_from_slice(vars);
        fill(&self.form(key, &category), &all)
    }

    /// The text of `key` in `category`, else its `other` form, else its first; the page's
    /// forms first, then the default's.
    fn form(&self, key: &str, category: &str) -> String {
        let pick = |forms: &mut dyn Iterator<Item = (&str, &str)>| -> Option<String> {
            let forms: Vec<(&str, &str)> = forms.collect();
            forms
                .iter()
                .find(|(c, _)| *c == category)
                .or_else(|| forms.iter().find(|(c, _)| *c == "other"))
                .or_else(|| forms.first())
                .map(|(_, text)| (*text).to_owned())
        };
        if let Some((_, forms)) = self.given.iter().find(|(k, _)| *k == key) {
            if let Some(text) = pick(&mut forms.iter().map(|(c, t)| (c.as_str(), t.as_str()))) {
                return text;
            }
        }
        CATALOG
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, forms)| pick(&mut forms.iter().copied()))
            .unwrap_or_else(|| key.to_owned())
    }
}

/// `text` with every `{name}` of `vars` replaced by its value (other braces stay).
pub fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(pairs: &[(&str, &str)]) -> Forms {
        pairs
            .iter()
            .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_english_and_placeholders_are_filled() {
        let messages = Messages::default();
        assert_eq!(messages.text("retry", &[]), "Retry");
        assert_eq!(
            messages.text("retrying", &[("seconds", "2")]),
            "Disconnected — retrying in 2 s"
        );
        assert_eq!(
            messages.count("offline", 1, &English, &[]),
            "Offline — 1 change kept on this device"
        );
        assert_eq!(
            messages.count("offline", 3, &English, &[]),
            "Offline — 3 changes kept on this device"
        );
        // Every key has an `other` form.
        for (key, forms) in CATALOG {
            assert!(forms.iter().any(|(c, _)| *c == "other"), "{key}");
        }
    }

    #[test]
    fn the_pages_messages_replace_the_defaults_with_their_plural_forms() {
        let messages = Messages::new(vec![
            ("retry".into(), forms(&[("other", "Erneut versuchen")])),
            (
                "offline".into(),
                forms(&[
                    ("one", "Offline – {count} Änderung behalten"),
                    ("other", "Offline – {count} Änderungen behalten"),
                ]),
            ),
            ("you".into(), forms(&[("few", "{name} (ty)")])),
        ])
        .unwrap();
        assert_eq!(messages.text("retry", &[]), "Erneut versuchen");
        assert_eq!(
            messages.count("offline", 1, &English, &[]),
            "Offline – 1 Änderung behalten"
        );
        assert_eq!(
            messages.count("offline", 2, &English, &[]),
            "Offline – 2 Änderungen behalten"
        );
        // No `other` form: the first one there is.
        assert_eq!(messages.text("you", &[("name", "Ada")]), "Ada (ty)");
        // Keys not given keep their default.
        assert_eq!(messages.text("saving", &[]), "Saving…");
    }

    #[test]
    fn unknown_keys_and_categories_are_refused_by_name() {
        let error = Messages::new(vec![("Retry".into(), forms(&[("other", "x")]))]).unwrap_err();
        assert_eq!(error, MessagesError::UnknownKey("Retry".into()));
        assert!(
            error.to_string().contains("known keys: connected,"),
            "{error}"
        );
        assert_eq!(
            Messages::new(vec![("offline".into(), forms(&[("plural", "x")]))]),
            Err(MessagesError::UnknownCategory(
                "offline".into(),
                "plural".into()
            ))
        );
    }

    #[test]
    fn fill_leaves_unknown_and_unclosed_braces() {
        assert_eq!(fill("{a} and {b}", &[("a", "1")]), "1 and {b}");
        assert_eq!(fill("{a", &[("a", "1")]), "{a");
        assert_eq!(fill("{{a}}", &[("a", "1")]), "{1}");
        assert_eq!(fill("ü{a}ü", &[("a", "{a}")]), "ü{a}ü");
        assert_eq!(English.ago(5, Unit::Second), "5s ago");
    }
}
