//! `LoadedDoc`: a room's loaded yrs `Doc`, its text, log length and quarantine, the whole
//! document encoded once per version for joiners, an upper bound of its size, and the
//! document size limit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use bytes::Bytes;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, TextRef, Transact};

use super::journal::{self, ApplyJournal};
use super::quarantine::Quarantine;
use crate::pieces::{sync_step2_frames, PieceSize};
use collab_core::doc_name::DocName;
use collab_core::engine::{apply_update, panic_message, would_change, Applied, Source};
use collab_core::order::Runs;
use collab_core::validate::{ClientRange, Shape};

pub(super) struct LoadedDoc {
    pub doc: Doc,
    pub text: TextRef,
    /// Whether storage holds anything for this document (for 404s on the text endpoint).
    pub exists: bool,
    /// Updates appended to the log since the last snapshot.
    pub log_len: usize,
    /// Updates that once killed the process while being applied: refused if sent again.
    pub quarantine: Quarantine,
    /// Typing runs whose order is known (`collab_core::order`), for this `doc` only.
    pub runs: Runs,
    /// Counts changes to `doc`: what `whole` was encoded from.
    pub version: u64,
    /// The whole document in frames for joiners (a SyncStep1 with an empty state vector), as
    /// of `version`: encoded once per version and shared by every joiner's queue.
    pub whole: Option<Whole>,
    /// An upper bound of the document's encoded size in bytes: exact after each encoding of
    /// the whole document, plus the bytes of every update applied since.
    pub size: u64,
    /// What the transactions on `doc` inserted and deleted, for attribution.
    pub edits: Arc<super::history::EditCounts>,
}

/// The whole document as frames, for a version of it.
pub(super) struct Whole {
    pub version: u64,
    pub frames: Arc<[Bytes]>,
    /// Asked for since the last tick; an unused one is dropped, so an idle room does not keep
    /// a second copy of its document.
    pub used: bool,
}

impl LoadedDoc {
    /// Records a change: the encoded whole is stale, and the document grew by at most
    /// `bytes`.
    pub fn changed(&mut self, bytes: usize) {
        self.version += 1;
        self.whole = None;
        self.size += bytes as u64;
        self.exists = true;
    }

    /// Records a change that will be appended to the stored log; returns the text's size in
    /// UTF-8 bytes after it.
    pub fn appended(&mut self, bytes: usize) -> u64 {
        self.changed(bytes);
        self.log_len += 1;
        self.text.len(&self.doc.transact()) as u64
    }

    /// The text, or `None` when nothing was ever stored.
    pub fn text(&self) -> Option<String> {
        self.exists
            .then(|| self.text.get_string(&self.doc.transact()))
    }

    /// Drops the encoded whole if nobody asked for it since the last tick.
    pub fn tick(&mut self) {
        match &mut self.whole {
            Some(whole) if whole.used => whole.used = false,
            Some(_) => self.whole = None,
            None => {}
        }
    }

    /// The whole document as frames for a joiner, from the cache when it is current.
    pub fn whole_frames(&mut self, piece: PieceSize) -> Result<Arc<[Bytes]>, String> {
        if let Some(whole) = self.whole.as_mut().filter(|w| w.version == self.version) {
            whole.used = true;
            return Ok(whole.frames.clone());
        }
        let doc = &self.doc;
        let state = catch_unwind(AssertUnwindSafe(|| {
            doc.transact()
                .encode_state_as_update_v1(&StateVector::default())
        }))
        .map_err(|panic| panic_message(&panic))?;
        self.size = state.len() as u64;
        let frames = sync_step2_frames(&state, piece);
        self.whole = Some(Whole {
            version: self.version,
            frames: frames.clone(),
            used: true,
        });
        Ok(frames)
    }

    /// What a client with `state_vector` lacks, as frames.
    pub fn diff_frames(
        &self,
        state_vector: &StateVector,
        piece: PieceSize,
    ) -> Result<Arc<[Bytes]>, String> {
        let doc = &self.doc;
        catch_unwind(AssertUnwindSafe(|| {
            doc.transact().encode_state_as_update_v1(state_vector)
        }))
        .map(|update| sync_step2_frames(&update, piece))
        .map_err(|panic| panic_message(&panic))
    }

    /// The document's exact encoded size (encoding it), remembered as `size`.
    pub fn measure(&mut self) -> Result<u64, String> {
        let doc = &self.doc;
        let len = catch_unwind(AssertUnwindSafe(|| {
            doc.transact()
                .encode_state_as_update_v1(&StateVector::default())
                .len()
        }))
        .map_err(|panic| panic_message(&panic))?;
        self.size = len as u64;
        Ok(self.size)
    }

    /// Applies a validated update (`apply_update`), journaled for the crash-loop guard while
    /// yrs has it; also returns what its position checks cost.
    pub fn apply_journaled(
        &mut self,
        journal: &dyn ApplyJournal,
        name: &DocName,
        update: &[u8],
        shape: &Shape,
        known: &StateVector,
        source: Source,
    ) -> (Applied, usize) {
        let _in_flight = journal::record(journal, name, update);
        let mut cost = 0;
        let applied = apply_update(
            &self.doc,
            update,
            shape,
            known,
            source,
            &mut self.runs,
            &mut cost,
        );
        (applied, cost)
    }

    /// Why `update` may not be applied under the document size limit `max` (0: none), if it
    /// may not: the document's size plus the update's bytes (an upper bound of what it adds)
    /// would pass it, measured exactly before refusing, and the update would change the
    /// document (a client resending what the document holds is never refused).
    pub fn over_size_limit(
        &mut self,
        update: &[u8],
        ranges: &[ClientRange],
        max: usize,
    ) -> Option<String> {
        let (max, bytes) = (max as u64, update.len() as u64);
        if max == 0 || self.size + bytes <= max {
            return None;
        }
        // The size is an upper bound: measure before refusing. A panic here counts as over.
        let size = self.measure().unwrap_or(u64::MAX);
        if size.saturating_add(bytes) <= max || !would_change(&self.doc, update, ranges) {
            return None;
        }
        Some(format!(
            "this change would take the document over the server's {} MB limit",
            max.div_ceil(1024 * 1024)
        ))
    }
}
