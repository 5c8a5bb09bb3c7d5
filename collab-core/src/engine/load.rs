//! Building a document from stored rows (a snapshot and log rows, in batches of
//! [`LOAD_BATCH_ROWS`] per transaction), and merging stored rows into one snapshot for a
//! compaction.

use std::panic::{catch_unwind, AssertUnwindSafe};

use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, TextRef, Transact, Update};

use super::{panic_message, TEXT_NAME};

/// Stored rows applied in one yrs transaction when a document is built. yrs merges adjacent
/// items (a run of typed characters) only when a transaction commits: one transaction for a
/// whole long log keeps every keystroke its own block, and each insertion inside the text
/// then moves the whole block list. Committing every 256 rows builds the 259,778-row
/// automerge-paper log with about a tenth of the CPU of one transaction, and its whole cold
/// load is about three times faster (BENCHMARKS.md, (d)); 64 to 1,024 rows are equally good,
/// and far larger batches slow down again.
pub const LOAD_BATCH_ROWS: usize = 256;

/// Builds a document from its stored rows (snapshot first, then the log), in transactions of
/// [`LOAD_BATCH_ROWS`] rows. Before each row, `begin_row(row, bytes)` says whether to apply it:
/// `None` skips it, `Some(guard)` applies it and drops the guard once yrs is done with it (a
/// crash-guard journal entry, say). Rows yrs refuses are passed to `refused(row, reason)` and
/// skipped; a panic fails the load.
pub fn build_doc<G>(
    rows: &[&[u8]],
    mut begin_row: impl FnMut(usize, &[u8]) -> Option<G>,
    mut refused: impl FnMut(usize, String),
) -> Result<(Doc, TextRef), String> {
    catch_unwind(AssertUnwindSafe(|| {
        let doc = Doc::new();
        let text = doc.get_or_insert_text(TEXT_NAME);
        for (batch, chunk) in rows.chunks(LOAD_BATCH_ROWS).enumerate() {
            let mut txn = doc.transact_mut();
            for (i, &bytes) in chunk.iter().enumerate() {
                let row = batch * LOAD_BATCH_ROWS + i;
                let Some(_guard) = begin_row(row, bytes) else {
                    continue;
                };
                let applied = Update::decode_v1(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|update| txn.apply_update(update).map_err(|e| e.to_string()));
                if let Err(reason) = applied {
                    refused(row, reason);
                }
            }
        }
        (doc, text)
    }))
    .map_err(|panic| format!("yrs panicked: {}", panic_message(&panic)))
}

/// Stored rows merged into one snapshot (see [`merge_stored`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The whole merged document as one v1 update.
    pub snapshot: Vec<u8>,
    /// Length of its text in UTF-8 bytes.
    pub text_bytes: u64,
    /// Indices (into the input) of the pieces yrs refused: they are not in `snapshot`.
    pub refused: Vec<usize>,
}

/// Merges stored v1 updates (snapshots and log rows, in any order: the CRDT merge is
/// idempotent and commutative) into one snapshot, for a compaction that must keep rows other
/// server instances wrote, in transactions of [`LOAD_BATCH_ROWS`] pieces. A piece that does
/// not decode or apply is skipped, passed to
/// `on_refused(index, reason)` and reported in `refused`; a panic in yrs fails the whole merge.
pub fn merge_stored(
    pieces: &[&[u8]],
    mut on_refused: impl FnMut(usize, &str),
) -> Result<Merged, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let doc = Doc::new();
        let text = doc.get_or_insert_text(TEXT_NAME);
        let mut refused = Vec::new();
        // In transactions of `LOAD_BATCH_ROWS` pieces, as `build_doc` loads: a compaction of a
        // long log merges as fast as a load builds it.
        for (batch, chunk) in pieces.chunks(LOAD_BATCH_ROWS).enumerate() {
            let mut txn = doc.transact_mut();
            for (i, bytes) in chunk.iter().enumerate() {
                let index = batch * LOAD_BATCH_ROWS + i;
                let applied = Update::decode_v1(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|update| txn.apply_update(update).map_err(|e| e.to_string()));
                if let Err(reason) = applied {
                    on_refused(index, &reason);
                    refused.push(index);
                }
            }
        }
        let txn = doc.transact();
        Merged {
            snapshot: txn.encode_state_as_update_v1(&StateVector::default()),
            text_bytes: text.len(&txn) as u64,
            refused,
        }
    }))
    .map_err(|panic| format!("yrs panicked: {}", panic_message(&panic)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::wandering_log;
    use yrs::GetString;

    #[test]
    fn a_long_log_merges_across_batches_and_reports_what_it_refused() {
        let (mut pieces, expected) = wandering_log(3 * LOAD_BATCH_ROWS + 17);
        // Garbage in the second batch and at the very end: reported, the rest merged.
        let garbage = LOAD_BATCH_ROWS + 3;
        pieces.insert(garbage, vec![0xff, 0xff]);
        pieces.push(vec![1, 2, 3]);
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let mut reported = Vec::new();
        let merged = merge_stored(&refs, |index, _| reported.push(index)).unwrap();
        let last = pieces.len() - 1;
        assert_eq!(merged.refused, vec![garbage, last]);
        assert_eq!(reported, merged.refused);
        assert_eq!(merged.text_bytes, expected.len() as u64);
        // The snapshot holds it all, and the same pieces in reverse merge to the same text.
        let (reloaded, _) = build_doc(&[&merged.snapshot], |_, _| Some(()), |_, _| {}).unwrap();
        let text = reloaded.get_or_insert_text(TEXT_NAME);
        assert_eq!(text.get_string(&reloaded.transact()), expected);
        let reversed: Vec<&[u8]> = refs.iter().rev().copied().collect();
        let again = merge_stored(&reversed, |_, _| {}).unwrap();
        assert_eq!(again.text_bytes, merged.text_bytes);
    }

    #[test]
    fn build_doc_skips_what_the_caller_skips_and_reports_what_yrs_refuses() {
        let (mut rows, expected) = wandering_log(2 * LOAD_BATCH_ROWS);
        rows.insert(LOAD_BATCH_ROWS + 1, vec![0xff]);
        let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        let mut refused = Vec::new();
        let (doc, text) = build_doc(&refs, |_, _| Some(()), |row, _| refused.push(row)).unwrap();
        assert_eq!(refused, vec![LOAD_BATCH_ROWS + 1]);
        assert_eq!(text.get_string(&doc.transact()), expected);
        // Skipping the snapshot leaves the rows that build on it waiting: no text.
        let (doc, text) = build_doc(&refs, |row, _| (row > 0).then_some(()), |_, _| {}).unwrap();
        assert_eq!(text.get_string(&doc.transact()), "");
    }
}
