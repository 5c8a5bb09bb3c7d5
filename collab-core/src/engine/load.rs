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
/// server instances wrote. A piece that does not decode or apply is skipped, passed to
/// `on_refused(index, reason)` and reported in `refused`; a panic in yrs fails the whole merge.
pub fn merge_stored(
    pieces: &[&[u8]],
    mut on_refused: impl FnMut(usize, &str),
) -> Result<Merged, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let doc = Doc::new();
        let text = doc.get_or_insert_text(TEXT_NAME);
        let mut refused = Vec::new();
        {
            let mut txn = doc.transact_mut();
            for (index, bytes) in pieces.iter().enumerate() {
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
