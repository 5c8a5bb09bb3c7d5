//! The history panel's pure side: the server's versions JSON, the REST URLs, a version as a
//! row of words (time, authors, label or kind), why a request failed, and whether a token
//! only reads.
//!
//! The server's API (`GET /api/docs/{doc}/versions`, `…/versions/{id}/text`, `POST
//! …/versions`, `POST …/restore`) lives on the same host as the WebSocket endpoint: the base
//! URL is the `server` option with `ws(s)` turned into `http(s)` and its final `/sync` left out.

use serde_json::Value;

use crate::messages::Unit;
use crate::options::percent_encode;
use crate::save_line::Words;

/// Authors named in a row before "+N".
pub const MAX_AUTHORS: usize = 3;
/// The most of a server's error text shown in the panel (characters).
const REASON_MAX: usize = 200;

/// The message key of the words for a version of `kind` (`auto`, `named`, `restore`; a kind
/// this widget does not know reads as `auto`).
fn kind_key(kind: &str) -> &'static str {
    match kind {
        "named" => "historyKindNamed",
        "restore" => "historyKindRestore",
        _ => "historyKindAuto",
    }
}

/// Someone who changed the document since the version before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub id: String,
    pub name: Option<String>,
    /// The name comes from a verified token (else the client claimed it).
    pub verified: bool,
}

impl Author {
    /// The name, else the id; `None` when both are empty.
    pub fn shown(&self) -> Option<&str> {
        [self.name.as_deref(), Some(self.id.as_str())]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|s| !s.is_empty())
    }
}

/// One saved version, as `GET /api/docs/{doc}/versions` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub id: String,
    /// RFC 3339, as the server wrote it.
    pub created_at: String,
    /// `created_at` in milliseconds since the epoch, when it parses.
    pub created_ms: Option<f64>,
    pub label: Option<String>,
    /// Why it was made: `auto`, `named`, `restore` (or a newer server's word).
    pub kind: String,
    pub size_bytes: u64,
    pub authors: Vec<Author>,
}

/// A version as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    /// `auto`, `named`, `restore` (or a newer server's kind).
    pub kind: String,
    /// The label, else the words for its kind.
    pub title: String,
    /// When, relative ("5m ago").
    pub time: String,
    /// When, as the server wrote it (RFC 3339, for `<time datetime>`).
    pub created_at: String,
    /// When, as a date and time in the locale's words (empty without `Intl`).
    pub at: String,
    /// The authors' names, "Ada, Bob, Cy +2".
    pub authors: String,
}

/// The versions array; entries without an id are left out, missing fields take defaults.
pub fn parse_versions(json: &str) -> Result<Vec<Version>, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let list = value.as_array().ok_or("not a JSON array")?;
    Ok(list.iter().filter_map(parse_version).collect())
}

/// One version object (also what `POST …/versions` and `POST …/restore` answer).
pub fn parse_version(value: &Value) -> Option<Version> {
    let id = value.get("id")?.as_str().filter(|id| !id.is_empty())?;
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    let created_at = text("created_at").unwrap_or_default().to_owned();
    let authors = value
        .get("authors")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|a| Author {
                    id: a.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
                    name: a.get("name").and_then(Value::as_str).map(str::to_owned),
                    verified: a.get("verified").and_then(Value::as_bool).unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Version {
        id: id.to_owned(),
        created_ms: parse_rfc3339_ms(&created_at),
        created_at,
        label: text("label")
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
        kind: text("kind").unwrap_or("auto").to_owned(),
        size_bytes: value.get("size_bytes").and_then(Value::as_u64).unwrap_or(0),
        authors,
    })
}

/// `2024-05-01T12:34:56.789Z` (UTC, as the server writes times) in milliseconds since the
/// epoch; `None` for anything else.
pub fn parse_rfc3339_ms(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let mut fields = [0i64; 7];
    let mut field = 0;
    let mut digits = 0;
    // Year-month-dayThour:minute:second, then milliseconds: the separators say where
    // each field ends.
    const ENDS: [u8; 6] = [b'-', b'-', b'T', b':', b':', b'.'];
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_digit() {
            if field < 6 || digits < 3 {
                fields[field] = fields[field] * 10 + i64::from(c - b'0');
            }
            digits += 1;
        } else if field < 6 && c.eq_ignore_ascii_case(&ENDS[field]) && digits > 0 {
            field += 1;
            digits = 0;
        } else if c.eq_ignore_ascii_case(&b'Z') && i + 1 == b.len() && field >= 5 && digits > 0 {
            if field == 6 {
                for _ in digits..3 {
                    fields[6] *= 10;
                }
            }
            let [year, month, day, hour, minute, second, millis] = fields;
            let sizes_ok = b.len() >= 20 && b[4] == b'-' && b[7] == b'-';
            let ranges_ok = (1..=12).contains(&month)
                && (1..=31).contains(&day)
                && hour < 24
                && minute < 60
                && second <= 60;
            if !(sizes_ok && ranges_ok) {
                return None;
            }
            let days = days_from_civil(year, month, day);
            let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
            return Some((seconds * 1_000 + millis) as f64);
        } else {
            return None;
        }
    }
    None
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The REST API's base (`http://host:port`, with any path before `/sync`) for the WebSocket
/// base URL `server` as [`crate::options::Options`] keeps it (`ws://host:port/sync`, no
/// trailing `/`).
pub fn api_base(server: &str) -> String {
    let (scheme, rest) = match server.strip_prefix("wss://") {
        Some(rest) => ("https", rest),
        None => ("http", server.strip_prefix("ws://").unwrap_or(server)),
    };
    let rest = match rest.strip_suffix("/sync") {
        Some(before) => before,
        None => rest.split('/').next().unwrap_or(rest),
    };
    format!("{scheme}://{rest}")
}

/// The versions of `doc`: listed (GET), or a new one named (POST).
pub fn versions_url(base: &str, doc: &str) -> String {
    format!("{base}/api/docs/{doc}/versions")
}

/// The text of one version.
pub fn version_text_url(base: &str, doc: &str, id: &str) -> String {
    format!("{base}/api/docs/{doc}/versions/{}/text", percent_encode(id))
}

pub fn restore_url(base: &str, doc: &str) -> String {
    format!("{base}/api/docs/{doc}/restore")
}

/// A JSON object of one string field, `{"key":"value"}` (`key` needs no escaping).
pub fn json_body(key: &str, value: &str) -> String {
    let mut out = format!("{{\"{key}\":\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push_str("\"}");
    out
}

/// `text` safe inside HTML text and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `version` in words, `now_ms` being the time now.
pub fn row(version: &Version, now_ms: f64, words: Words) -> Row {
    let title = match &version.label {
        Some(label) => label.clone(),
        None => words.messages.text(kind_key(&version.kind), &[]),
    };
    let (time, at) = match version.created_ms {
        Some(created) => (
            ago(now_ms - created, words),
            words.locale.date_time(created),
        ),
        None => (version.created_at.clone(), String::new()),
    };
    Row {
        id: version.id.clone(),
        kind: version.kind.clone(),
        title,
        time,
        created_at: version.created_at.clone(),
        at,
        authors: authors(&version.authors, words),
    }
}

/// "just now" under 3 s, then "12s ago", "3m ago", "2h ago", "4d ago" in the locale's words.
pub fn ago(elapsed_ms: f64, words: Words) -> String {
    let seconds = (elapsed_ms / 1000.0).floor().max(0.0) as u64;
    let (value, unit) = match seconds {
        0..=2 => return words.messages.text("historyJustNow", &[]),
        3..=59 => (seconds, Unit::Second),
        60..=3_599 => (seconds / 60, Unit::Minute),
        3_600..=86_399 => (seconds / 3_600, Unit::Hour),
        _ => (seconds / 86_400, Unit::Day),
    };
    words.locale.ago(value, unit)
}

/// The first [`MAX_AUTHORS`] names (each once), then "+N" for the rest.
fn authors(authors: &[Author], words: Words) -> String {
    let mut names: Vec<&str> = Vec::new();
    for name in authors.iter().filter_map(Author::shown) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let more = names.len().saturating_sub(MAX_AUTHORS);
    let mut text = names[..names.len().min(MAX_AUTHORS)].join(", ");
    if more > 0 {
        let count = more.to_string();
        text.push(' ');
        text.push_str(&words.messages.text("more", &[("count", &count)]));
    }
    text
}

/// How a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer: offline, refused, or a response that could not be read.
    Unreachable,
    /// An HTTP error status, with the server's plain-text reason.
    Status(u16, String),
}

/// Why, in words: the message for the common statuses, else the server's own reason.
pub fn reason(failure: &Failure, words: Words) -> String {
    let messages = words.messages;
    match failure {
        Failure::Unreachable => messages.text("historyUnreachable", &[]),
        Failure::Status(401, _) => messages.text("historyUnauthorized", &[]),
        Failure::Status(403, _) => messages.text("historyForbidden", &[]),
        Failure::Status(404, _) => messages.text("historyNotFound", &[]),
        Failure::Status(status, body) => {
            let body = body.trim();
            if body.is_empty() {
                messages.text("historyStatus", &[("status", &status.to_string())])
            } else {
                body.chars().take(REASON_MAX).collect()
            }
        }
    }
}

/// Whether `token` is a JWT whose (unverified) payload grants only `read` access: the panel
/// then offers no Restore (the server refuses it anyway; this only spares the attempt).
pub fn token_reads_only(token: &str) -> bool {
    crate::claims::claims(token)
        .and_then(|claims| claims.get("access")?.as_str().map(|a| a == "read"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{English, Messages};

    const LIST: &str = r#"[
      {"id": "v3", "created_at": "2026-05-01T12:00:00Z", "label": null, "kind": "restore",
       "size_bytes": 12, "authors": [{"id": "u1", "name": "Ada", "verified": true}]},
      {"id": "v2", "created_at": "2026-05-01T11:59:30.5Z", "label": "  Draft 1 ", "kind": "named",
       "size_bytes": 10, "authors": []},
      {"id": "v1", "created_at": "2026-05-01T13:00:00+02:00", "label": null, "kind": "auto",
       "size_bytes": 4, "authors": [
         {"id": "u1", "name": "Ada", "verified": true}, {"id": "bob", "name": null, "verified": false},
         {"id": "", "name": "", "verified": false}, {"id": "u3", "name": "Cy", "verified": true},
         {"id": "u4", "name": "Dee", "verified": true}, {"id": "u5", "name": "Eve", "verified": true}]},
      {"label": "no id"},
      {"id": "v0", "kind": "merge"}
    ]"#;

    #[test]
    fn versions_parse_newest_first_with_defaults_for_what_is_missing() {
        let versions = parse_versions(LIST).unwrap();
        let ids: Vec<&str> = versions.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(
            ids,
            ["v3", "v2", "v1", "v0"],
            "the entry without an id is left out"
        );
        assert_eq!(versions[0].kind, "restore");
        assert_eq!(versions[0].authors[0].name.as_deref(), Some("Ada"));
        assert!(versions[0].authors[0].verified);
        assert_eq!(versions[1].label.as_deref(), Some("Draft 1"));
        assert_eq!(versions[1].size_bytes, 10);
        assert_eq!(versions[3].kind, "merge");
        assert_eq!(versions[3].created_ms, None);
        assert_eq!(parse_versions("[]").unwrap(), vec![]);
        assert!(parse_versions("{}").is_err());
        assert!(parse_versions("not json").is_err());
    }

    #[test]
    fn rfc3339_times_parse_to_epoch_milliseconds() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_rfc3339_ms("2026-05-01T12:00:00Z"),
            Some(1_777_636_800_000.0)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-05-01T12:00:00.25Z"),
            Some(1_777_636_800_250.0)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29t23:59:59.999999z"),
            Some(951_868_799_999.0)
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59Z"), Some(-1_000.0));
        for bad in [
            "",
            "2026-05-01",
            "2026-05-01T12:00:00",
            "2026-13-01T12:00:00Z",
            "2026-05-01T24:00:00Z",
            "2026-05-01T12:00:00.Z",
            "2026-05-01T12:00:00Zjunk",
            "2026-05-01T12:00:00+02:00",
            "2026-05-01T12:00Z",
            "2026-05-01T12:00:00.1.2Z",
            "26-05-01T12:00:00Z",
            "２026-05-01T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_row_says_label_or_kind_when_and_who() {
        let versions = parse_versions(LIST).unwrap();
        let now = parse_rfc3339_ms("2026-05-01T12:05:00Z").unwrap();
        let words = Words::english();
        let rows: Vec<Row> = versions.iter().map(|v| row(v, now, words)).collect();
        assert_eq!(
            rows[0],
            Row {
                id: "v3".into(),
                kind: "restore".into(),
                title: "Restored version".into(),
                time: "5m ago".into(),
                created_at: "2026-05-01T12:00:00Z".into(),
                at: String::new(),
                authors: "Ada".into(),
            }
        );
        assert_eq!(rows[1].title, "Draft 1");
        assert_eq!(rows[1].time, "5m ago");
        assert_eq!(rows[1].authors, "");
        // Names once each, the id for a missing name, nobody for an empty entry; then "+N".
        assert_eq!(rows[2].title, "Autosave");
        assert_eq!(rows[2].authors, "Ada, bob, Cy +2");
        // No time the widget can read: the server's text.
        assert_eq!(rows[3].time, "");
        assert_eq!(
            rows[3].title, "Autosave",
            "an unknown kind reads as a version"
        );
    }

    #[test]
    fn times_are_relative_in_the_largest_whole_unit() {
        let words = Words::english();
        for (ms, expected) in [
            (-5_000.0, "just now"),
            (2_999.0, "just now"),
            (3_000.0, "3s ago"),
            (59_999.0, "59s ago"),
            (60_000.0, "1m ago"),
            (3_600_000.0, "1h ago"),
            (86_399_999.0, "23h ago"),
            (86_400_000.0 * 9.5, "9d ago"),
        ] {
            assert_eq!(ago(ms, words), expected, "{ms}");
        }
        let german = Messages::new(vec![(
            "historyKindAuto".into(),
            vec![("other".into(), "Automatisch".into())],
        )])
        .unwrap();
        let words = Words {
            messages: &german,
            locale: &English,
        };
        let version = &parse_versions(LIST).unwrap()[2];
        assert_eq!(row(version, 0.0, words).title, "Automatisch");
    }

    #[test]
    fn the_api_lives_beside_the_websocket_endpoint() {
        assert_eq!(
            api_base("ws://127.0.0.1:8787/sync"),
            "http://127.0.0.1:8787"
        );
        assert_eq!(api_base("wss://example.com/sync"), "https://example.com");
        assert_eq!(
            api_base("wss://example.com/collab/sync"),
            "https://example.com/collab"
        );
        assert_eq!(api_base("ws://h:1/other/path"), "http://h:1");
        assert_eq!(api_base("ws://h:1"), "http://h:1");
        let base = api_base("ws://h/sync");
        assert_eq!(
            versions_url(&base, "notes"),
            "http://h/api/docs/notes/versions"
        );
        assert_eq!(
            version_text_url(&base, "notes", "a/b c"),
            "http://h/api/docs/notes/versions/a%2Fb%20c/text"
        );
        assert_eq!(restore_url(&base, "n.1"), "http://h/api/docs/n.1/restore");
        for label in ["Ada's \"draft\"\n", "tab\t\\ back\u{1}", "ünï 😀"] {
            let body = json_body("label", label);
            let parsed: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(parsed["label"], label, "{body}");
        }
        assert_eq!(
            escape_html(r#"<b a="1" b='2'>&amp;</b>"#),
            "&lt;b a=&quot;1&quot; b=&#39;2&#39;&gt;&amp;amp;&lt;/b&gt;"
        );
    }

    #[test]
    fn failures_read_as_words() {
        let words = Words::english();
        let reason = |f: Failure| reason(&f, words);
        assert_eq!(reason(Failure::Unreachable), "the server cannot be reached");
        assert_eq!(reason(Failure::Status(401, "x".into())), "not authorized");
        assert_eq!(
            reason(Failure::Status(403, "forbidden: read".into())),
            "your access does not allow it"
        );
        assert_eq!(
            reason(Failure::Status(404, String::new())),
            "it no longer exists"
        );
        assert_eq!(
            reason(Failure::Status(503, " storage unavailable \n".into())),
            "storage unavailable"
        );
        assert_eq!(
            reason(Failure::Status(500, String::new())),
            "the server answered 500"
        );
        assert_eq!(
            reason(Failure::Status(400, "x".repeat(500)))
                .chars()
                .count(),
            REASON_MAX
        );
    }

    #[test]
    fn a_read_token_is_recognised_from_its_payload() {
        // {"sub":"ann","access":"read"} and {"sub":"ann","access":"write"}, base64url.
        let read = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4iLCJhY2Nlc3MiOiJyZWFkIn0.sig";
        let write = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4iLCJhY2Nlc3MiOiJ3cml0ZSJ9.sig";
        assert!(token_reads_only(read));
        assert!(!token_reads_only(write));
        assert!(!token_reads_only("opaque-token"));
        assert!(!token_reads_only("a.!!!.c"));
    }
}
