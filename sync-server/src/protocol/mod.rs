//! The Yjs sync and awareness protocol, sans I/O: bytes in, typed messages out, and back.
//!
//! - [`message`]: splits an incoming frame into [`Incoming`] messages, with the bounds checks
//!   that must happen before yrs sees the bytes, and encodes every outgoing message.
//! - [`presence`]: the awareness states of one document and which connection owns each.
//!
//! The update validator and the order checks are in `collab-core` (`collab_core::validate`,
//! `collab_core::order`, `collab_core::same_order`). Nothing here knows about sockets,
//! threads or storage.

pub mod message;
pub mod presence;

pub use message::{decode_frame, AwarenessEntry, Incoming, ProtocolError};
pub use presence::Presence;

#[cfg(test)]
mod tests {
    /// `collab_core::json::is_json`, the validator's JSON check, accepts exactly what
    /// `serde_json` reads as one ignored value (what the validator ran before it moved to
    /// `collab-core`, which has no JSON library): random texts made of JSON's pieces.
    #[test]
    fn the_json_check_agrees_with_serde_json() {
        const PIECES: &[&str] = &[
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            " ",
            "\n",
            "\"",
            "\"k\"",
            "\\",
            "\\u",
            "\\n",
            "0",
            "1",
            "-",
            ".",
            "e",
            "E",
            "+",
            "12",
            "null",
            "true",
            "fals",
            "e",
            "n",
            "\t",
            "\u{1}",
            "é",
            "a",
            "\"\\ud800\"",
            "1e999",
        ];
        let mut rng = fastrand::Rng::with_seed(13);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..200_000 {
            let mut text = String::new();
            for _ in 0..rng.usize(0..12) {
                text.push_str(PIECES[rng.usize(0..PIECES.len())]);
            }
            let expected = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
            assert_eq!(collab_core::json::is_json(&text), expected, "{text:?}");
            if expected {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(accepted > 1000 && refused > 1000, "{accepted} {refused}");
    }
}
