//! Whether a text is one JSON value (RFC 8259), for the JSON inside updates (embeds, format
//! values): a syntax check that builds nothing.
//!
//! It accepts exactly what `serde_json::from_str::<serde::de::IgnoredAny>` accepts, which the
//! validator used before: whitespace around the value, any nesting depth (read with a stack,
//! not recursion), numbers checked for syntax only (`1e400` passes), string escapes checked
//! for form only (a lone `\ud800` passes), no control characters inside strings.

/// Whether `text` is one JSON value, optionally surrounded by whitespace.
pub fn is_json(text: &str) -> bool {
    Json {
        bytes: text.as_bytes(),
        at: 0,
    }
    .value()
    .is_some()
}

struct Json<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    /// The next byte that is not whitespace, not consumed.
    fn skip_whitespace(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
        self.peek()
    }

    fn literal(&mut self, rest: &[u8]) -> Option<()> {
        let end = self.at.checked_add(rest.len())?;
        (self.bytes.get(self.at..end)? == rest).then(|| self.at = end)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// After an optional `-`.
    fn number(&mut self) -> Option<()> {
        match self.next()? {
            b'0' => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// After the opening quote.
    fn string(&mut self) -> Option<()> {
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            if !self.next()?.is_ascii_hexdigit() {
                                return None;
                            }
                        }
                    }
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// One whole value and nothing after it but whitespace.
    fn value(&mut self) -> Option<()> {
        // The arrays (`false`) and objects (`true`) open around the current position.
        let mut open: Vec<bool> = Vec::new();
        loop {
            // A value.
            match self.skip_whitespace()? {
                b'n' => {
                    self.at += 1;
                    self.literal(b"ull")?;
                }
                b't' => {
                    self.at += 1;
                    self.literal(b"rue")?;
                }
                b'f' => {
                    self.at += 1;
                    self.literal(b"alse")?;
                }
                b'-' => {
                    self.at += 1;
                    self.number()?;
                }
                b'0'..=b'9' => self.number()?,
                b'"' => {
                    self.at += 1;
                    self.string()?;
                }
                bracket @ (b'[' | b'{') => {
                    self.at += 1;
                    let is_object = bracket == b'{';
                    let close = if is_object { b'}' } else { b']' };
                    if self.skip_whitespace()? == close {
                        // Empty: a complete value.
                        self.at += 1;
                    } else {
                        open.push(is_object);
                        if is_object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                _ => return None,
            }
            // After a complete value: a comma and the next one, or closing brackets.
            loop {
                let Some(&is_object) = open.last() else {
                    return self.skip_whitespace().is_none().then_some(());
                };
                match self.skip_whitespace()? {
                    b',' => {
                        self.at += 1;
                        if is_object {
                            self.key()?;
                        }
                        break;
                    }
                    b'}' if is_object => {
                        self.at += 1;
                        open.pop();
                    }
                    b']' if !is_object => {
                        self.at += 1;
                        open.pop();
                    }
                    _ => return None,
                }
            }
        }
    }

    /// An object's key and its colon.
    fn key(&mut self) -> Option<()> {
        if self.skip_whitespace()? != b'"' {
            return None;
        }
        self.at += 1;
        self.string()?;
        if self.skip_whitespace()? != b':' {
            return None;
        }
        self.at += 1;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn accepts_json_values() {
        for text in [
            "null",
            " true ",
            "false",
            "0",
            "-0",
            "1.5e+10",
            "1E400",
            "-12.25e-3",
            "\"\"",
            "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\ud800\"",
            "\"é😀\"",
            "[]",
            "{}",
            " [ 1 , [ ] , { } , \"x\" ] ",
            "{\"a\":{\"b\":[null,{\"c\":1}]},\"d\":[]}",
            "\n\t\r{\"k\" : \"v\"}\n",
        ] {
            assert!(is_json(text), "{text:?}");
        }
        // Any depth, without recursion.
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(is_json(&deep));
    }

    #[test]
    fn refuses_what_is_not_json() {
        for text in [
            "",
            " ",
            "nul",
            "nulll",
            "True",
            "01",
            "-",
            "-a",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "\"",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"tab\there\"",
            "[",
            "[1",
            "[1,",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{1:2}",
            "{\"a\" 1}",
            "[}",
            "{]",
            "[]]",
            "1 2",
            "null x",
            "NaN",
        ] {
            assert!(!is_json(text), "{text:?}");
        }
        let unclosed = "[".repeat(1000);
        assert!(!is_json(&unclosed));
    }
}
