//! The textarea ↔ `Y.Text` binding, as pure functions on UTF-16 code units (what textarea
//! indices count): the one splice a local edit made, and where a caret lands after a splice.

/// One change to a text: replace `delete` UTF-16 units at `index` with `insert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub index: u32,
    pub delete: u32,
    pub insert: String,
}

impl Splice {
    /// Length of the inserted text in UTF-16 units.
    pub fn insert_len(&self) -> u32 {
        utf16_len(&self.insert)
    }
}

/// `splices` (applied one after the other) with each insertion that continues the one before
/// it merged into it: a document arriving in many pieces is one change to the textarea.
pub fn coalesce(splices: Vec<Splice>) -> Vec<Splice> {
    let mut out: Vec<(Splice, u32)> = Vec::with_capacity(splices.len());
    for splice in splices {
        let len = splice.insert_len();
        match out.last_mut() {
            Some((last, last_len))
                if splice.delete == 0 && splice.index == last.index + *last_len =>
            {
                last.insert.push_str(&splice.insert);
                *last_len += len;
            }
            _ => out.push((splice, len)),
        }
    }
    out.into_iter().map(|(splice, _)| splice).collect()
}

pub fn utf16_len(text: &str) -> u32 {
    text.encode_utf16().count() as u32
}

/// The single splice that turns `old` into `new`, or `None` when they are equal.
///
/// `caret` is where the caret is in `new` after the edit; typing ends at the caret, so the
/// unchanged tail is taken to start no earlier than the caret. That keeps "aa" → "aaa" with the
/// caret at 1 an insertion at 0 (what the user did), not at 2. The result never splits a
/// surrogate pair, so the inserted text is always valid.
pub fn diff(old: &[u16], new: &[u16], caret: Option<u32>) -> Option<Splice> {
    if old == new {
        return None;
    }
    let shorter = old.len().min(new.len());
    let common_prefix = |limit: usize| {
        old.iter()
            .zip(new.iter())
            .take(limit)
            .take_while(|(a, b)| a == b)
            .count()
    };
    let common_suffix = |limit: usize| {
        old.iter()
            .rev()
            .zip(new.iter().rev())
            .take(limit)
            .take_while(|(a, b)| a == b)
            .count()
    };
    let (mut prefix, mut suffix) = match caret {
        // The tail from the caret on is unchanged (as far as it is common at all).
        Some(caret) => {
            let tail = new.len().saturating_sub(caret as usize);
            let suffix = common_suffix(shorter.min(tail));
            (common_prefix(shorter - suffix), suffix)
        }
        None => {
            let prefix = common_prefix(shorter);
            (prefix, common_suffix(shorter - prefix))
        }
    };
    (prefix, suffix) = whole_pairs(new, prefix, suffix);
    let inserted = &new[prefix..new.len() - suffix];
    Some(Splice {
        index: prefix as u32,
        delete: (old.len() - prefix - suffix) as u32,
        insert: String::from_utf16_lossy(inserted),
    })
}

/// A UTF-16 text that can be read by unit and compared by range without copying it whole: the
/// textarea's value as a JavaScript string in the widget, a slice in tests.
pub trait Units {
    fn units(&self) -> usize;
    fn unit(&self, index: usize) -> u16;
    /// Whether `self[start..start + len]` equals `other[other_start..other_start + len]`.
    fn same_range(&self, start: usize, other: &Self, other_start: usize, len: usize) -> bool;
}

impl Units for [u16] {
    fn units(&self) -> usize {
        self.len()
    }

    fn unit(&self, index: usize) -> u16 {
        self[index]
    }

    fn same_range(&self, start: usize, other: &Self, other_start: usize, len: usize) -> bool {
        self[start..start + len] == other[other_start..other_start + len]
    }
}

/// The unchanged head and tail `(prefix, suffix)` of the splice `diff(old, new, Some(caret))`
/// finds, when the edit ended at the caret (as typing, deleting and pasting do): the text after
/// the caret and the text before the edit are each checked with one range comparison instead
/// of a scan. `None` when that does not hold (the caller then runs `diff`) or the texts are
/// equal.
pub fn edit_at_caret<T: Units + ?Sized>(old: &T, new: &T, caret: u32) -> Option<(usize, usize)> {
    let (old_len, new_len) = (old.units(), new.units());
    if old_len == new_len {
        // Equal texts, or a replacement: its extent is unknown, so `diff` scans for it.
        return None;
    }
    // What `diff` finds when its two scans run to their limits: a pure insertion ending at
    // the caret, or a pure deletion there.
    let shorter = old_len.min(new_len);
    let suffix = shorter.min(new_len.saturating_sub(caret as usize));
    let prefix = shorter - suffix;
    if !old.same_range(old_len - suffix, new, new_len - suffix, suffix)
        || !old.same_range(0, new, 0, prefix)
    {
        return None;
    }
    Some(whole_pairs(new, prefix, suffix))
}

/// Never split a surrogate pair: narrows the unchanged head and tail of `new` so that the
/// splice between them takes whole pairs.
fn whole_pairs<T: Units + ?Sized>(new: &T, mut prefix: usize, mut suffix: usize) -> (usize, usize) {
    if prefix > 0 && is_high_surrogate(new.unit(prefix - 1)) {
        prefix -= 1;
    }
    if suffix > 0 && is_low_surrogate(new.unit(new.units() - suffix)) {
        suffix -= 1;
    }
    (prefix, suffix)
}

fn is_high_surrogate(unit: u16) -> bool {
    (0xD800..0xDC00).contains(&unit)
}

fn is_low_surrogate(unit: u16) -> bool {
    (0xDC00..0xE000).contains(&unit)
}

/// Where `position` is after `splice`: unchanged before it (and at its start, so text a peer
/// inserts exactly at your caret goes after your caret), shifted after it, and at the start
/// of the splice when its text was deleted.
pub fn map_position(position: u32, splice: &Splice) -> u32 {
    let end = splice.index + splice.delete;
    if position <= splice.index {
        position
    } else if position >= end {
        position - splice.delete + splice.insert_len()
    } else {
        splice.index
    }
}

/// A selection (`start <= end`) after `splice`.
pub fn map_selection(selection: (u32, u32), splice: &Splice) -> (u32, u32) {
    (
        map_position(selection.0, splice),
        map_position(selection.1, splice),
    )
}

/// Turns a `Y.Text` change (retain / insert / delete runs, in order) into splices, each
/// relative to the text as the previous ones left it.
pub fn splices_from_delta(delta: impl IntoIterator<Item = DeltaRun>) -> Vec<Splice> {
    let mut position = 0;
    let mut splices: Vec<Splice> = Vec::new();
    for run in delta {
        match run {
            DeltaRun::Retain(len) => position += len,
            DeltaRun::Insert(text) => {
                let len = utf16_len(&text);
                // An insertion right after a deletion at the same place is one replacement.
                match splices.last_mut() {
                    Some(last) if last.index == position && last.insert.is_empty() => {
                        last.insert = text;
                    }
                    _ => splices.push(Splice {
                        index: position,
                        delete: 0,
                        insert: text,
                    }),
                }
                position += len;
            }
            DeltaRun::Delete(len) => splices.push(Splice {
                index: position,
                delete: len,
                insert: String::new(),
            }),
        }
    }
    splices
}

/// One run of a text change, in UTF-16 units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaRun {
    Retain(u32),
    Insert(String),
    Delete(u32),
}

/// Applies `splice` to `text` (UTF-16 units); used to keep the mirror of the textarea value.
pub fn apply(text: &mut Vec<u16>, splice: &Splice) {
    let start = (splice.index as usize).min(text.len());
    let end = (start + splice.delete as usize).min(text.len());
    text.splice(start..end, splice.insert.encode_utf16());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    fn splice(index: u32, delete: u32, insert: &str) -> Splice {
        Splice {
            index,
            delete,
            insert: insert.into(),
        }
    }

    #[test]
    fn insertions_that_continue_each_other_become_one_splice() {
        let pieces = vec![
            splice(2, 1, "ab"),
            splice(4, 0, "😀"),
            splice(6, 0, "c"),
            // Not a continuation: kept apart, and what follows it merges into it.
            splice(0, 0, "x"),
            splice(1, 0, "y"),
            splice(9, 2, "z"),
        ];
        let merged = coalesce(pieces.clone());
        assert_eq!(
            merged,
            vec![splice(2, 1, "ab😀c"), splice(0, 0, "xy"), splice(9, 2, "z")]
        );
        // Same result as applying them one by one.
        let start = u("0123456789abcdef");
        let (mut one_by_one, mut at_once) = (start.clone(), start);
        pieces.iter().for_each(|p| apply(&mut one_by_one, p));
        merged.iter().for_each(|p| apply(&mut at_once, p));
        assert_eq!(one_by_one, at_once);
    }

    fn roundtrip(old: &str, new: &str, caret: Option<u32>) -> Splice {
        let s = diff(&u(old), &u(new), caret).expect("texts differ");
        let mut text = u(old);
        apply(&mut text, &s);
        assert_eq!(String::from_utf16(&text).unwrap(), new, "{s:?}");
        s
    }

    #[test]
    fn typing_deleting_and_replacing_are_one_minimal_splice() {
        assert_eq!(diff(&u("same"), &u("same"), Some(2)), None);
        assert_eq!(roundtrip("helo", "hello", Some(4)), splice(3, 0, "l"));
        assert_eq!(roundtrip("hello", "hllo", Some(1)), splice(1, 1, ""));
        assert_eq!(
            roundtrip("hello world", "hello there", Some(11)),
            splice(6, 5, "there")
        );
        assert_eq!(roundtrip("", "abc", Some(3)), splice(0, 0, "abc"));
        assert_eq!(roundtrip("abc", "", Some(0)), splice(0, 3, ""));
    }

    #[test]
    fn the_caret_decides_where_a_repeated_character_went() {
        // Typing "a" at the start of "aa": the caret is at 1.
        assert_eq!(roundtrip("aa", "aaa", Some(1)), splice(0, 0, "a"));
        // The same text change typed at the end.
        assert_eq!(roundtrip("aa", "aaa", Some(3)), splice(2, 0, "a"));
        // Without a caret, the longest common prefix wins.
        assert_eq!(roundtrip("aa", "aaa", None), splice(2, 0, "a"));
        // Backspace in a run of spaces, caret at 2.
        assert_eq!(roundtrip("a   b", "a  b", Some(2)), splice(2, 1, ""));
        // A caret that lies (programmatic change elsewhere) still yields a correct splice.
        roundtrip("abcdef", "abXdef", Some(0));
        roundtrip("abcdef", "abcdefgh", Some(1));
    }

    #[test]
    fn surrogate_pairs_and_emoji_are_never_split() {
        // 😀 (D83D DE00) → 😃 (D83D DE03): same high surrogate.
        let s = roundtrip("a😀b", "a😃b", Some(3));
        assert_eq!(s, splice(1, 2, "😃"));
        // 🙂 (D83D DE42) typed before 😀: shared high surrogate at the boundary.
        let s = roundtrip("😀", "🙂😀", Some(2));
        assert_eq!(s, splice(0, 0, "🙂"));
        // Deleting one of two identical emoji.
        assert_eq!(roundtrip("😀😀", "😀", Some(2)), splice(2, 2, ""));
        // Family emoji with zero-width joiners, replaced by a flag.
        roundtrip("x👨‍👩‍👧y", "x🇫🇷y", Some(5));
        // Every inserted string is valid UTF-16 (from_utf16 would fail on a lone surrogate).
        for (old, new, caret) in [("😀", "😁", 2), ("a😀", "a😀😀", 5), ("😀😀😀", "😀😀", 2)]
        {
            let s = diff(&u(old), &u(new), Some(caret)).unwrap();
            assert!(String::from_utf16(&u(&s.insert)).is_ok());
            let mut text = u(old);
            apply(&mut text, &s);
            assert_eq!(String::from_utf16(&text).unwrap(), new);
        }
    }

    #[test]
    fn the_edit_at_the_caret_is_what_diff_finds() {
        let texts = [
            "",
            "a",
            "aa",
            "aaa",
            "ab",
            "ba",
            "abc",
            "a😀",
            "😀a",
            "😀😀",
            "x😀y",
            "😀x😀",
        ];
        let mut checked = 0;
        for old in texts {
            for new in texts {
                let (old, new) = (u(old), u(new));
                for caret in 0..=new.len() as u32 + 1 {
                    let Some((prefix, suffix)) = edit_at_caret(&old[..], &new[..], caret) else {
                        continue;
                    };
                    let expected = diff(&old, &new, Some(caret)).expect("texts differ");
                    assert_eq!(expected.index as usize, prefix, "{old:?} {new:?} {caret}");
                    assert_eq!(expected.delete as usize, old.len() - prefix - suffix);
                    assert_eq!(u(&expected.insert), new[prefix..new.len() - suffix]);
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
        // Typing and deleting in a long text are found without `diff`.
        let long = u(&"abc".repeat(1000));
        let mut typed = long.clone();
        typed.insert(1500, u16::from(b'x'));
        assert_eq!(
            edit_at_caret(&long[..], &typed[..], 1501),
            Some((1500, 1500))
        );
        assert_eq!(
            edit_at_caret(&typed[..], &long[..], 1500),
            Some((1500, 1500))
        );
        // A caret elsewhere (a programmatic change) is left to `diff`.
        assert_eq!(edit_at_caret(&long[..], &typed[..], 10), None);
    }

    #[test]
    fn carets_stay_put_when_text_changes_before_or_after_them() {
        // Caret at 5; a peer inserts 3 units at 2: caret moves to 8.
        assert_eq!(map_position(5, &splice(2, 0, "abc")), 8);
        // A peer deletes 2 units at 1: caret moves to 3.
        assert_eq!(map_position(5, &splice(1, 2, "")), 3);
        // Changes after the caret leave it alone.
        assert_eq!(map_position(5, &splice(7, 2, "xyz")), 5);
        // An insertion exactly at the caret goes after the caret.
        assert_eq!(map_position(5, &splice(5, 0, "x")), 5);
        // The caret inside deleted text lands where the text was.
        assert_eq!(map_position(5, &splice(3, 4, "")), 3);
        assert_eq!(map_position(5, &splice(3, 4, "Z")), 3);
        // A selection around an insertion grows with it.
        assert_eq!(map_selection((2, 6), &splice(4, 0, "ab")), (2, 8));
        // Emoji count two units.
        assert_eq!(map_position(4, &splice(0, 0, "😀")), 6);
    }

    #[test]
    fn deltas_become_sequential_splices() {
        let splices = splices_from_delta([
            DeltaRun::Retain(2),
            DeltaRun::Delete(3),
            DeltaRun::Insert("xy".into()),
            DeltaRun::Retain(4),
            DeltaRun::Insert("😀".into()),
        ]);
        assert_eq!(splices, vec![splice(2, 3, "xy"), splice(8, 0, "😀")]);
        let mut text = u("abcdefghijk");
        for s in &splices {
            apply(&mut text, s);
        }
        assert_eq!(String::from_utf16(&text).unwrap(), "abxyfghi😀jk");
    }
}
