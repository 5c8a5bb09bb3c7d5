//! Compaction: the whole document written as the new snapshot, replacing the log before it,
//! when the log grows long and when an idle room unloads.

use std::panic::{catch_unwind, AssertUnwindSafe};

use yrs::{ReadTxn, StateVector, Text, Transact};

use super::{Effect, Effects, Room, State};
use crate::storage::Write;
use collab_core::engine::panic_message;

impl Room {
    fn log_len(&self) -> usize {
        match &self.state {
            State::Ready(loaded) => loaded.log_len,
            State::Loading { .. } => 0,
        }
    }

    /// Compacts once the log holds `compact_after` updates.
    pub(super) fn compact_if_due(&mut self) {
        if self.log_len() >= self.context.settings.compact_after {
            self.compact();
        }
    }

    /// Writes the whole document as the new snapshot, replacing the log before it.
    fn compact(&mut self) {
        let State::Ready(loaded) = &mut self.state else {
            return;
        };
        let doc = &loaded.doc;
        let encoded = catch_unwind(AssertUnwindSafe(|| {
            let txn = doc.transact();
            let text_bytes = loaded.text.len(&txn) as u64;
            (
                txn.encode_state_as_update_v1(&StateVector::default()),
                text_bytes,
            )
        }));
        match encoded {
            Ok((snapshot, text_bytes)) => {
                loaded.log_len = 0;
                loaded.size = snapshot.len() as u64;
                self.out.push(Effect::Persist {
                    write: Write::Compact {
                        doc: self.name.clone(),
                        snapshot,
                        text_bytes,
                    },
                    ack: None,
                });
            }
            Err(panic) => {
                tracing::error!(doc = %self.name, panic = panic_message(&panic), "encoding a snapshot panicked");
                self.reload();
            }
        }
    }

    /// Compacts what was appended since the last snapshot so the next load is one row. The
    /// caller drops the room (after `release`).
    pub fn unload(&mut self) -> Effects {
        self.unload_now();
        self.take()
    }

    pub(super) fn unload_now(&mut self) {
        self.checkpoint_pending();
        if self.log_len() > 0 {
            self.compact();
        }
        tracing::debug!(doc = %self.name, "unloaded");
    }
}
