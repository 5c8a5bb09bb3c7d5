//! Server-made edits: [`edit_update`] turns a document's current text into a target text with
//! the smallest change it finds, as one v1 update written under a client id of the caller's
//! choosing. The change is a diff (lines first, then the characters of each changed block), so
//! text that both versions share stays the same items and concurrent typing anywhere in it
//! merges character by character; nothing is deleted and inserted again wholesale.

use std::panic::{catch_unwind, AssertUnwindSafe};

use yrs::updates::decoder::Decode;
use yrs::{ClientID, Doc, GetString, OffsetKind, Options, ReadTxn, Text, Transact, Update};

use super::{panic_message, TEXT_NAME};
use crate::wire::MAX_CLIENT_ID;

/// Most edit steps one diff pass looks for before it settles for replacing the block whole:
/// bounds the time and memory a diff pass may take (about `MAX_DIFF_STEPS`² trace cells).
pub const MAX_DIFF_STEPS: usize = 1_000;

/// One replacement in the old text, in chars: `old_len` chars from `old_start` become `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub old_start: usize,
    pub old_len: usize,
    pub new: String,
}

/// The v1 update that turns `doc`'s text into `target`, written by `client_id` (which must be
/// one `doc` has never seen, and at most `wire::MAX_CLIENT_ID`); `Ok(None)` when the text is
/// already `target`. `doc` itself is not changed: the edit is made on a copy, so the update can
/// go through the same checks and apply path as any client's.
pub fn edit_update(doc: &Doc, target: &str, client_id: u64) -> Result<Option<Vec<u8>>, String> {
    if client_id > MAX_CLIENT_ID {
        return Err(format!("client id {client_id} is over {MAX_CLIENT_ID}"));
    }
    catch_unwind(AssertUnwindSafe(|| {
        let (state, current) = {
            let txn = doc.transact();
            let text = txn.get_text(TEXT_NAME);
            let current = text.map(|t| t.get_string(&txn)).unwrap_or_default();
            (
                txn.encode_state_as_update_v1(&yrs::StateVector::default()),
                current,
            )
        };
        let splices = diff(&current, target);
        if splices.is_empty() {
            return Ok(None);
        }
        let copy = Doc::with_options(Options {
            client_id: ClientID::new(client_id),
            offset_kind: OffsetKind::Bytes,
            ..Options::default()
        });
        let text = copy.get_or_insert_text(TEXT_NAME);
        {
            let update = Update::decode_v1(&state).map_err(|e| e.to_string())?;
            copy.transact_mut()
                .apply_update(update)
                .map_err(|e| e.to_string())?;
        }
        // Byte offsets of each char of the old text (and its end), for the copy's offsets.
        let mut bytes_at: Vec<u32> = current.char_indices().map(|(i, _)| i as u32).collect();
        bytes_at.push(current.len() as u32);
        let mut txn = copy.transact_mut();
        // From the end, so each splice's offsets are still those of the old text.
        for splice in splices.iter().rev() {
            let start = bytes_at[splice.old_start];
            let end = bytes_at[splice.old_start + splice.old_len];
            if end > start {
                text.remove_range(&mut txn, start, end - start);
            }
            if !splice.new.is_empty() {
                text.insert(&mut txn, start, &splice.new);
            }
        }
        Ok(Some(txn.encode_update_v1()))
    }))
    .map_err(|panic| format!("yrs panicked: {}", panic_message(&panic)))?
}

/// The splices that turn `old` into `new`, in order, none overlapping: the common start and
/// end are kept, the rest is diffed by lines, and each changed block of lines by chars.
/// Either pass gives up on a block needing more than [`MAX_DIFF_STEPS`] steps and replaces it.
pub fn diff(old: &str, new: &str) -> Vec<Splice> {
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let mut out = Vec::new();
    let old_lines = lines(&old);
    let new_lines = lines(&new);
    let line_ops = diff_tokens(&old_lines, &new_lines);
    for (old_range, new_range) in line_ops {
        // Line ranges to char ranges.
        let old_start = old_lines[..old_range.start].iter().map(|l| l.len()).sum();
        let old_len = old_lines[old_range].iter().map(|l| l.len()).sum::<usize>();
        let new_start = new_lines[..new_range.start].iter().map(|l| l.len()).sum();
        let new_len = new_lines[new_range].iter().map(|l| l.len()).sum::<usize>();
        let old_block = &old[old_start..old_start + old_len];
        let new_block = &new[new_start..new_start + new_len];
        for (o, n) in diff_tokens(old_block, new_block) {
            out.push(Splice {
                old_start: old_start + o.start,
                old_len: o.len(),
                new: new_block[n].iter().collect(),
            });
        }
    }
    out
}

/// The text cut after each `\n` (the last line may lack one).
fn lines(chars: &[char]) -> Vec<&[char]> {
    chars.split_inclusive(|&c| c == '\n').collect()
}

/// The replaced ranges (old, new) that turn `old` into `new`: the common start and end
/// trimmed, then Myers' shortest edit script on the rest, or the whole rest replaced when it
/// needs more than [`MAX_DIFF_STEPS`] steps.
fn diff_tokens<T: PartialEq>(
    old: &[T],
    new: &[T],
) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (a, b) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    if a.is_empty() && b.is_empty() {
        return Vec::new();
    }
    let whole = || vec![(prefix..prefix + a.len(), prefix..prefix + b.len())];
    let Some(kept) = myers(a, b) else {
        return whole();
    };
    // Gaps between kept pairs are the replaced ranges.
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    for (x, y) in kept.into_iter().chain([(a.len(), b.len())]) {
        if x > i || y > j {
            out.push((prefix + i..prefix + x, prefix + j..prefix + y));
        }
        (i, j) = (x + 1, y + 1);
    }
    out
}

/// The pairs (i, j) with `a[i] == b[j]` a longest common subsequence keeps, in order (Myers'
/// greedy O(ND) search with its trace); `None` past [`MAX_DIFF_STEPS`].
fn myers<T: PartialEq>(a: &[T], b: &[T]) -> Option<Vec<(usize, usize)>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m).min(MAX_DIFF_STEPS as isize);
    let offset = max + 1;
    let mut v = vec![0isize; 2 * offset as usize + 1];
    // Before step d, the furthest x of each diagonal k in -d-1..=d+1 (what step d reads).
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let mut found = None;
    'search: for d in 0..=max {
        trace.push(v[(offset - d - 1) as usize..=(offset + d + 1) as usize].to_vec());
        let mut k = -d;
        while k <= d {
            let at = (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[at - 1] < v[at + 1]) {
                v[at + 1]
            } else {
                v[at - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[at] = x;
            if x >= n && y >= m {
                found = Some(d);
                break 'search;
            }
            k += 2;
        }
    }
    let found = found?;
    // Walk the trace back from the end, collecting the diagonal (kept) steps.
    let mut kept = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (0..=found).rev() {
        let row = &trace[d as usize];
        let v = |k: isize| row[(k + d + 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && v(k - 1) < v(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = if d == 0 { 0 } else { v(prev_k) };
        let prev_y = if d == 0 { 0 } else { prev_x - prev_k };
        let (start_x, start_y) = if d == 0 {
            (0, 0)
        } else if prev_k == k + 1 {
            (prev_x, prev_y + 1)
        } else {
            (prev_x + 1, prev_y)
        };
        while x > start_x && y > start_y {
            x -= 1;
            y -= 1;
            kept.push((x as usize, y as usize));
        }
        (x, y) = (prev_x, prev_y);
    }
    kept.reverse();
    Some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(old: &str, splices: &[Splice]) -> String {
        let chars: Vec<char> = old.chars().collect();
        let mut out = String::new();
        let mut at = 0;
        for s in splices {
            out.extend(&chars[at..s.old_start]);
            out.push_str(&s.new);
            at = s.old_start + s.old_len;
        }
        out.extend(&chars[at..]);
        out
    }

    fn doc_with(text: &str) -> Doc {
        let doc = Doc::with_client_id(1);
        let t = doc.get_or_insert_text(TEXT_NAME);
        t.insert(&mut doc.transact_mut(), 0, text);
        doc
    }

    fn text_of(doc: &Doc) -> String {
        let txn = doc.transact();
        txn.get_text(TEXT_NAME)
            .map(|t| t.get_string(&txn))
            .unwrap_or_default()
    }

    fn apply_to(doc: &Doc, update: &[u8]) {
        doc.transact_mut()
            .apply_update(Update::decode_v1(update).unwrap())
            .unwrap();
    }

    #[test]
    fn diffs_turn_old_into_new() {
        let cases = [
            ("", ""),
            ("", "abc"),
            ("abc", ""),
            ("abc", "abc"),
            ("hello world", "hello brave world"),
            ("one\ntwo\nthree\n", "one\n2\nthree\nfour\n"),
            ("αβγ😀δ", "αγ😀😀δε"),
            ("abcabba", "cbabac"),
            ("a\nb\nc", "c\nb\na"),
        ];
        for (old, new) in cases {
            assert_eq!(apply(old, &diff(old, new)), new, "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn a_diff_keeps_what_both_texts_share() {
        // Two separate changes: two small splices, not one spanning the middle.
        let old = "The quick brown fox jumps over the lazy dog";
        let new = "The quick red fox jumps over the lazy cat";
        let splices = diff(old, new);
        assert_eq!(apply(old, &splices), new);
        let replaced: usize = splices.iter().map(|s| s.old_len).sum();
        assert!(replaced <= 8, "{splices:?}");
    }

    #[test]
    fn a_huge_change_falls_back_to_replacing_the_block() {
        let old: String = (0..1500)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let new: String = (0..1500)
            .map(|i| char::from(b'A' + (i % 26) as u8))
            .collect();
        assert_eq!(apply(&old, &diff(&old, &new)), new);
    }

    #[test]
    fn the_update_turns_the_text_into_the_target() {
        let doc = doc_with("hello world");
        let update = edit_update(&doc, "hello brave new world!", 77)
            .unwrap()
            .unwrap();
        assert_eq!(
            text_of(&doc),
            "hello world",
            "the document itself is untouched"
        );
        apply_to(&doc, &update);
        assert_eq!(text_of(&doc), "hello brave new world!");
        assert_eq!(
            edit_update(&doc, "hello brave new world!", 78).unwrap(),
            None
        );
    }

    #[test]
    fn the_update_merges_with_concurrent_typing() {
        let base = doc_with("alpha beta gamma");
        let state = base
            .transact()
            .encode_state_as_update_v1(&yrs::StateVector::default());
        // A client types inside "beta" while the server replaces "gamma".
        let client = Doc::with_client_id(2);
        apply_to(&client, &state);
        let typed = {
            let t = client.get_or_insert_text(TEXT_NAME);
            let mut txn = client.transact_mut();
            t.insert(&mut txn, 8, "XX");
            txn.encode_update_v1()
        };
        let server = edit_update(&base, "alpha beta delta", 3).unwrap().unwrap();
        apply_to(&base, &typed);
        apply_to(&base, &server);
        apply_to(&client, &server);
        assert_eq!(text_of(&base), "alpha beXXta delta");
        assert_eq!(text_of(&client), "alpha beXXta delta");
    }
}
