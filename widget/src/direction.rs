//! Pure: the direction of a text from its first strongly directional character, as `dir=auto`
//! decides it (Unicode's rule P2), but reading only the text's beginning: Chromium's
//! `dir="auto"` on a textarea rescans the whole value on every change, which stalls a page
//! holding a document of tens of megabytes.

/// How many UTF-16 units of the text's beginning decide its direction.
pub const PREFIX_UNITS: u32 = 4096;

/// Which way a text runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ltr,
    Rtl,
}

impl Direction {
    /// The `dir` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ltr => "ltr",
            Direction::Rtl => "rtl",
        }
    }
}

/// The direction of `text`'s first strong character, or `None` when it has none (digits,
/// punctuation and spaces only): then the page's direction applies.
pub fn of(text: &str) -> Option<Direction> {
    text.chars().find_map(|c| {
        if is_rtl(c) {
            Some(Direction::Rtl)
        } else if c.is_alphabetic() {
            Some(Direction::Ltr)
        } else {
            None
        }
    })
}

/// Letters of the right-to-left scripts (Hebrew, Arabic, Syriac, Thaana, N'Ko, Samaritan,
/// Mandaic, and their presentation forms), Unicode's bidi classes R and AL. Arabic-Indic
/// digits (class AN) are not strong and are skipped like other digits.
fn is_rtl(c: char) -> bool {
    let arabic_digit = matches!(c, '\u{0660}'..='\u{0669}' | '\u{06F0}'..='\u{06F9}');
    let rtl_block = matches!(
        c,
        '\u{0590}'..='\u{08FF}'
            | '\u{FB1D}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}'
            | '\u{10800}'..='\u{10FFF}'
            | '\u{1E800}'..='\u{1EFFF}'
    );
    rtl_block && !arabic_digit && c.is_alphabetic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_letter_decides() {
        assert_eq!(of("hello שלום"), Some(Direction::Ltr));
        assert_eq!(of("שלום hello"), Some(Direction::Rtl));
        assert_eq!(of("مرحبا بالعالم"), Some(Direction::Rtl));
        assert_eq!(of("  42. — «Привет»"), Some(Direction::Ltr));
        assert_eq!(
            of("١٢٣ مرحبا"),
            Some(Direction::Rtl),
            "Arabic-Indic digits are skipped"
        );
        assert_eq!(of("123 — ..."), None);
        assert_eq!(of(""), None);
        assert_eq!(of("日本語"), Some(Direction::Ltr));
    }
}
