//! `Json`: a small JSON value, parsed and printed by hand — all the awareness states need.
//! It follows what `serde_json::Value` did here (strict RFC 8259 parsing, nesting limited to
//! 127, objects with sorted keys where a repeated key keeps its last value, printing with
//! sorted keys and the same escapes), without shipping serde_json and float parsing in the wasm.
//! Numbers keep their text unless they are integers: nothing here does arithmetic on them.

use std::fmt::{self, Write as _};

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    /// Sorted by key, keys unique.
    Object(Vec<(String, Json)>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    /// 0 and up.
    Unsigned(u64),
    /// Below 0.
    Negative(i64),
    /// Anything else (a fraction, an exponent, too large): its text.
    Other(String),
}

static NULL: Json = Json::Null;

/// How deep arrays and objects may nest (as in serde_json).
const MAX_DEPTH: u32 = 127;

impl Json {
    /// Parses one JSON text; `None` if it is not valid JSON.
    pub fn parse(text: &str) -> Option<Json> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
            depth: 0,
        };
        let value = parser.value()?;
        parser.skip_space();
        (parser.at == parser.bytes.len()).then_some(value)
    }

    /// An object from `(key, value)` pairs.
    pub fn object<const N: usize>(entries: [(&str, Json); N]) -> Json {
        let mut object = Json::Object(Vec::with_capacity(N));
        for (key, value) in entries {
            object.insert(key.to_owned(), value);
        }
        object
    }

    /// Sets `key` of an object (nothing for other values).
    pub fn insert(&mut self, key: String, value: Json) {
        if let Json::Object(entries) = self {
            match entries.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
                Ok(i) => entries[i].1 = value,
                Err(i) => entries.insert(i, (key, value)),
            }
        }
    }

    /// The value of `key`, or `Null` when this is not an object or has no such key.
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(entries) => entries
                .binary_search_by(|(k, _)| k.as_str().cmp(key))
                .map_or(&NULL, |i| &entries[i].1),
            _ => &NULL,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(Number::Unsigned(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(Number::Unsigned(n)) => i64::try_from(*n).ok(),
            Json::Number(Number::Negative(n)) => Some(*n),
            _ => None,
        }
    }
}

/// `value["key"]`, as with serde_json: `Null` when absent.
impl std::ops::Index<&str> for Json {
    type Output = Json;

    fn index(&self, key: &str) -> &Json {
        self.get(key)
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::String(s.to_owned())
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Number(Number::Unsigned(n))
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        match u64::try_from(n) {
            Ok(n) => Json::Number(Number::Unsigned(n)),
            Err(_) => Json::Number(Number::Negative(n)),
        }
    }
}

/// Compact JSON, keys sorted.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            Json::Number(Number::Unsigned(n)) => write!(f, "{n}"),
            Json::Number(Number::Negative(n)) => write!(f, "{n}"),
            Json::Number(Number::Other(text)) => f.write_str(text),
            Json::String(s) => write_string(f, s),
            Json::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Json::Object(entries) => {
                f.write_char('{')?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    f.write_char('"')?;
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        f.write_str(&s[start..i])?;
        start = i + 1;
        if short.is_empty() {
            f.write_str("\\u00")?;
            f.write_char(char::from(HEX[usize::from(byte >> 4)]))?;
            f.write_char(char::from(HEX[usize::from(byte & 15)]))?;
        } else {
            f.write_str(short)?;
        }
    }
    f.write_str(&s[start..])?;
    f.write_char('"')
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: u32,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Option<Json> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word.as_bytes()).then(|| {
            self.at = end;
            value
        })
    }

    fn value(&mut self) -> Option<Json> {
        self.skip_space();
        match self.peek()? {
            b'n' => self.literal("null", Json::Null),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'"' => self.string().map(Json::String),
            b'[' | b'{' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                let value = if self.next()? == b'[' {
                    self.array()
                } else {
                    self.object()
                };
                self.depth -= 1;
                value
            }
            _ => self.number(),
        }
    }

    /// After `[`.
    fn array(&mut self) -> Option<Json> {
        let mut items = Vec::new();
        self.skip_space();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_space();
            match self.next()? {
                b',' => {}
                b']' => return Some(Json::Array(items)),
                _ => return None,
            }
        }
    }

    /// After `{`.
    fn object(&mut self) -> Option<Json> {
        let mut object = Json::Object(Vec::new());
        self.skip_space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(object);
        }
        loop {
            self.skip_space();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.skip_space();
            if self.next()? != b':' {
                return None;
            }
            let value = self.value()?;
            object.insert(key, value);
            self.skip_space();
            match self.next()? {
                b',' => {}
                b'}' => return Some(object),
                _ => return None,
            }
        }
    }

    /// At `"`.
    fn string(&mut self) -> Option<String> {
        self.at += 1;
        let mut out = String::new();
        let mut start = self.at;
        loop {
            match self.next()? {
                b'"' => {
                    out.push_str(std::str::from_utf8(&self.bytes[start..self.at - 1]).ok()?);
                    return Some(out);
                }
                b'\\' => {
                    out.push_str(std::str::from_utf8(&self.bytes[start..self.at - 1]).ok()?);
                    let unescaped = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let unit = self.hex4()?;
                            let code = match unit {
                                0xD800..=0xDBFF => {
                                    if self.next()? != b'\\' || self.next()? != b'u' {
                                        return None;
                                    }
                                    let low = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return None;
                                    }
                                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return None,
                                _ => unit,
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    out.push(unescaped);
                    start = self.at;
                }
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = char::from(self.next()?).to_digit(16)?;
            value = value * 16 + digit;
        }
        Some(value)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let first = self.peek()?;
        let whole = self.digits();
        if whole == 0 || (first == b'0' && whole > 1) {
            return None;
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integer = false;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
        let number = match (integer, negative) {
            (true, false) => text.parse().ok().map(Number::Unsigned),
            // -0 is not an integer for serde_json either.
            (true, true) => text.parse().ok().filter(|n| *n < 0).map(Number::Negative),
            (false, _) => None,
        };
        Some(Json::Number(
            number.unwrap_or_else(|| Number::Other(text.to_owned())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever serde_json accepts, this accepts, and prints the same; and the other way round.
    #[test]
    fn agrees_with_serde_json() {
        let texts = [
            r##"{"user":{"name":"Ada","color":"#ff0000"},"cursor":null}"##,
            r#" { "b" : [1, -2, 3.5, 1e3, -0.0, true, false, null, "x\"\\\/\b\f\n\r\t\u0001\u00e9\ud83d\ude00"], "a": {} , "a": 7 } "#,
            r#"[]"#,
            r#""é😀 \u001f""#,
            r#"18446744073709551615"#,
            r#"-9223372036854775808"#,
            "{\"k\":\"\u{7f}\"}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\u{1}\"",
            "\"\\x\"",
            "nul",
            "null x",
            "",
            "{1:2}",
            &"[".repeat(128),
            &format!("{}{}", "[".repeat(127), "]".repeat(127)),
            &format!("{}{}", "[".repeat(128), "]".repeat(128)),
        ];
        for text in texts {
            let ours = Json::parse(text);
            let theirs = serde_json::from_str::<serde_json::Value>(text).ok();
            assert_eq!(ours.is_some(), theirs.is_some(), "{text}");
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                if !text.contains('.') && !text.contains("e3") {
                    assert_eq!(ours.to_string(), theirs.to_string(), "{text}");
                }
            }
        }
        let value = Json::parse(r#"{"a":1,"a":-2,"b":{"c":"d"}}"#).unwrap();
        assert_eq!(value.get("a").as_i64(), Some(-2));
        assert_eq!(value.get("a").as_u64(), None);
        assert_eq!(value.get("b").get("c").as_str(), Some("d"));
        assert!(value.get("x").get("y").is_null());
        assert_eq!(
            Json::parse(r#"{"b":1,"a":2}"#),
            Json::parse(r#"{"a":2,"b":1}"#)
        );
    }
}
