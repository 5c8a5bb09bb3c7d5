//! A JWT's payload claims, read without verifying them (only the server can): for choices
//! that merely spare a refused request or keep two users' tabs apart.

use serde_json::Value;

/// The claims of `token` if it is a JWT whose middle part is base64url JSON; else `None`.
pub fn claims(token: &str) -> Option<Value> {
    let payload = String::from_utf8(base64url(token.split('.').nth(1)?)?).ok()?;
    // `from_str`, as presence parses awareness states: one JSON reader in the wasm.
    serde_json::from_str(&payload).ok()
}

/// Unpadded (or padded) base64url to bytes; `None` on a character outside the alphabet.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0u32);
    for byte in text.trim_end_matches('=').bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_payload_is_read_and_anything_else_is_none() {
        // {"sub":"ann","access":"read"}, base64url.
        let read = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4iLCJhY2Nlc3MiOiJyZWFkIn0.sig";
        assert_eq!(claims(read).unwrap()["access"], "read");
        assert_eq!(claims("opaque-token"), None);
        assert_eq!(claims("a.!!!.c"), None);
        assert_eq!(claims("a.bm90IGpzb24.c"), None, "base64url, but not JSON");
        assert_eq!(base64url("QWRh").unwrap(), b"Ada");
        assert_eq!(base64url("QWQ").unwrap(), b"Ad");
        assert_eq!(base64url("QQ==").unwrap(), b"A");
        assert_eq!(base64url("aGk").as_deref(), Some(b"hi".as_slice()));
    }
}
