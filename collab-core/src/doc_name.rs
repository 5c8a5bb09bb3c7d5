//! `DocName`: a validated document name, the key of a room and of its stored log.

use std::fmt;
use std::sync::Arc;

/// The longest document name accepted, in bytes (all accepted characters are ASCII).
pub const MAX_DOC_NAME_LEN: usize = 128;

/// A document name: 1–128 characters of `[A-Za-z0-9._-]`, and not `.` or `..`.
///
/// Names arrive in URLs from anyone, so the server validates them once, at the edge, and every
/// other part of it holds a `DocName` rather than a string. The widget applies the same rule
/// to its `doc` option.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocName(Arc<str>);

/// Why a string is not a valid [`DocName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDocName {
    #[error("document name is empty")]
    Empty,
    #[error("document name is longer than {MAX_DOC_NAME_LEN} characters")]
    TooLong,
    #[error("document name may only contain A-Z, a-z, 0-9, '.', '_' and '-'")]
    BadCharacter,
    #[error("document name may not be '.' or '..'")]
    DotsOnly,
}

impl DocName {
    /// Validates `name`.
    pub fn parse(name: &str) -> Result<Self, InvalidDocName> {
        if name.is_empty() {
            return Err(InvalidDocName::Empty);
        }
        if name.len() > MAX_DOC_NAME_LEN {
            return Err(InvalidDocName::TooLong);
        }
        let allowed = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
        if !name.bytes().all(allowed) {
            return Err(InvalidDocName::BadCharacter);
        }
        if name == "." || name == ".." {
            return Err(InvalidDocName::DotsOnly);
        }
        Ok(DocName(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for name in [
            "notes",
            "a",
            "Team_Notes-2026.v1",
            &"x".repeat(MAX_DOC_NAME_LEN),
        ] {
            assert_eq!(DocName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(DocName::parse(""), Err(InvalidDocName::Empty));
        assert_eq!(
            DocName::parse(&"x".repeat(MAX_DOC_NAME_LEN + 1)),
            Err(InvalidDocName::TooLong)
        );
        for name in [
            "../etc/passwd",
            "a/b",
            "a b",
            "ümlaut",
            "semi;colon",
            "nul\0",
        ] {
            assert_eq!(
                DocName::parse(name),
                Err(InvalidDocName::BadCharacter),
                "{name:?}"
            );
        }
        assert_eq!(DocName::parse(".."), Err(InvalidDocName::DotsOnly));
        assert_eq!(DocName::parse("."), Err(InvalidDocName::DotsOnly));
    }
}
