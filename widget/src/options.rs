//! `Options`: what the page passes to `new Widget(host, options)`, checked and defaulted.

use collab_core::color::color_for;
use collab_core::doc_name::DocName;

use crate::messages::{Forms, Messages, MessagesError};
use crate::presence::is_safe_color;

/// The default delay before local edits are sent, in milliseconds.
pub const DEFAULT_DEBOUNCE_MS: u32 = 300;

/// Options as JavaScript passes them (read field by field in `lib.rs`: serde-wasm-bindgen
/// would add 13.6 kB gzip to the wasm for these fields).
#[derive(Debug, Default)]
pub struct RawOptions {
    pub server: Option<String>,
    pub doc: Option<String>,
    pub name: Option<String>,
    pub color: Option<String>,
    pub debounce: Option<f64>,
    pub readonly: Option<bool>,
    pub placeholder: Option<String>,
    pub token: Option<String>,
    pub persist: Option<String>,
    pub history: Option<bool>,
    /// The `messages` object: `(key, forms)`, a string being the `other` form.
    pub messages: Vec<(String, Forms)>,
}

/// Checked options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// WebSocket base URL, without the document name.
    pub server: String,
    pub doc: String,
    pub name: String,
    pub color: String,
    pub debounce_ms: u32,
    pub readonly: bool,
    pub placeholder: String,
    /// Access token for a server with `--auth-secret`, sent as `?token=`.
    pub token: Option<String>,
    /// Keep a copy of the document and its unsaved changes in IndexedDB (`persist`, default
    /// on; `"none"` turns it off).
    pub persist: bool,
    /// A History button in the header opens the history panel (`history`, default off).
    pub history: bool,
    /// The page's texts over the English defaults.
    pub messages: Messages,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OptionsError {
    #[error("collab-textarea: `doc` is required")]
    MissingDoc,
    #[error("collab-textarea: `doc` must be 1–128 characters of A-Z a-z 0-9 . _ - (got {0:?})")]
    BadDoc(String),
    #[error("collab-textarea: `server` must be a ws:// or wss:// URL (got {0:?})")]
    BadServer(String),
    #[error("collab-textarea: `debounce` must be a number of milliseconds ≥ 0")]
    BadDebounce,
    #[error("collab-textarea: `persist` must be \"indexeddb\" or \"none\" (got {0:?})")]
    BadPersist(String),
    #[error(transparent)]
    Messages(#[from] MessagesError),
}

impl Options {
    /// Checks `raw`; `page_server` is the default server (from the page's location).
    pub fn from_raw(raw: RawOptions, page_server: &str) -> Result<Options, OptionsError> {
        let doc = raw.doc.ok_or(OptionsError::MissingDoc)?;
        if DocName::parse(&doc).is_err() {
            return Err(OptionsError::BadDoc(doc));
        }
        let server = raw
            .server
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| page_server.to_owned());
        let server = server.trim().trim_end_matches('/').to_owned();
        if !(server.starts_with("ws://") || server.starts_with("wss://")) {
            return Err(OptionsError::BadServer(server));
        }
        let debounce_ms = match raw.debounce {
            None => DEFAULT_DEBOUNCE_MS,
            Some(ms) if ms.is_finite() && ms >= 0.0 => ms.min(60_000.0) as u32,
            Some(_) => return Err(OptionsError::BadDebounce),
        };
        let persist = match raw.persist.as_deref().map(str::trim) {
            None | Some("" | "indexeddb") => true,
            Some("none") => false,
            Some(other) => return Err(OptionsError::BadPersist(other.to_owned())),
        };
        let name = clean_name(raw.name.as_deref());
        let color = raw
            .color
            .filter(|c| is_safe_color(c))
            .unwrap_or_else(|| color_for(&name));
        Ok(Options {
            server,
            doc,
            name,
            color,
            debounce_ms,
            readonly: raw.readonly.unwrap_or(false),
            placeholder: raw.placeholder.unwrap_or_default(),
            token: raw.token.filter(|t| !t.trim().is_empty()),
            persist,
            history: raw.history.unwrap_or(false),
            messages: Messages::new(raw.messages)?,
        })
    }

    /// The WebSocket URL of the document, asking for our extension messages.
    pub fn url(&self) -> String {
        match &self.token {
            Some(token) => format!(
                "{}/{}?ext=1&token={}",
                self.server,
                self.doc,
                percent_encode(token)
            ),
            None => format!("{}/{}?ext=1", self.server, self.doc),
        }
    }
}

/// `text` with everything but RFC 3986 unreserved characters percent-encoded.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A display name: trimmed, at most 64 characters, "Anonymous" when empty.
pub fn clean_name(name: Option<&str>) -> String {
    let name: String = name.unwrap_or("").trim().chars().take(64).collect();
    if name.is_empty() {
        "Anonymous".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(doc: &str) -> RawOptions {
        RawOptions {
            doc: Some(doc.into()),
            ..RawOptions::default()
        }
    }

    #[test]
    fn defaults_fill_what_the_page_left_out() {
        let options = Options::from_raw(raw("notes"), "ws://example.test/sync").unwrap();
        assert_eq!(options.url(), "ws://example.test/sync/notes?ext=1");
        assert_eq!(options.debounce_ms, 300);
        assert_eq!(options.name, "Anonymous");
        assert!(is_safe_color(&options.color));
        assert!(!options.readonly);
        assert!(options.persist, "persistence is on by default");
        assert!(!options.history, "the history panel is off by default");
    }

    #[test]
    fn persist_is_indexeddb_or_none() {
        for (value, on) in [
            ("indexeddb", true),
            ("", true),
            ("none", false),
            (" none ", false),
        ] {
            let mut r = raw("notes");
            r.persist = Some(value.into());
            assert_eq!(
                Options::from_raw(r, "ws://h/sync").unwrap().persist,
                on,
                "{value:?}"
            );
        }
        let mut r = raw("notes");
        r.persist = Some("localStorage".into());
        assert_eq!(
            Options::from_raw(r, "ws://h/sync"),
            Err(OptionsError::BadPersist("localStorage".into()))
        );
    }

    #[test]
    fn the_token_goes_into_the_url_encoded() {
        let mut r = raw("notes");
        r.token = Some("a.b_c-d+e/f=".into());
        let options = Options::from_raw(r, "ws://h/sync").unwrap();
        assert_eq!(
            options.url(),
            "ws://h/sync/notes?ext=1&token=a.b_c-d%2Be%2Ff%3D"
        );
    }

    #[test]
    fn bad_options_are_refused_with_a_reason() {
        assert_eq!(
            Options::from_raw(RawOptions::default(), "ws://h/sync"),
            Err(OptionsError::MissingDoc)
        );
        assert!(matches!(
            Options::from_raw(raw("../x"), "ws://h/sync"),
            Err(OptionsError::BadDoc(_))
        ));
        let mut r = raw("ok");
        r.server = Some("http://h/sync".into());
        assert!(matches!(
            Options::from_raw(r, "ws://h/sync"),
            Err(OptionsError::BadServer(_))
        ));
        let mut r = raw("ok");
        r.debounce = Some(-1.0);
        assert_eq!(
            Options::from_raw(r, "ws://h/sync"),
            Err(OptionsError::BadDebounce)
        );
        let mut r = raw("ok");
        r.color = Some("red;x".into());
        r.name = Some("  Ada  ".into());
        r.debounce = Some(0.0);
        let options = Options::from_raw(r, "ws://h/sync/").unwrap();
        assert_eq!((options.name.as_str(), options.debounce_ms), ("Ada", 0));
        assert_eq!(options.color, color_for("Ada"));
        assert_eq!(options.server, "ws://h/sync");
    }

    #[test]
    fn messages_are_checked_by_key() {
        let mut r = raw("ok");
        r.messages = vec![("retry".into(), vec![("other".into(), "Nochmal".into())])];
        let options = Options::from_raw(r, "ws://h/sync").unwrap();
        assert_eq!(options.messages.text("retry", &[]), "Nochmal");
        let mut r = raw("ok");
        r.messages = vec![("retyr".into(), vec![("other".into(), "x".into())])];
        assert_eq!(
            Options::from_raw(r, "ws://h/sync"),
            Err(OptionsError::Messages(MessagesError::UnknownKey(
                "retyr".into()
            )))
        );
    }
}
