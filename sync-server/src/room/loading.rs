//! Loading a room's document: the first load (after the relay subscription, if any), reloads
//! after a failure, resync merges of what other instances stored, the cold-load shortcut, and
//! building a `Doc` from stored rows.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use yrs::{Doc, ReadTxn, TextRef, Transact};

use super::document::{LoadedDoc, Whole};
use super::journal::{self, ApplyJournal};
use super::quarantine::Quarantine;
use super::replication::Origin;
use super::{Deferred, Effect, Effects, Frames, Keep, Publication, Room, State};
use crate::conn::{Conn, ConnId};
use crate::pieces::{sync_step2_frames, PieceSize};
use crate::protocol::{decode_frame, Incoming};
use crate::storage::{StorageError, StoredDoc};
use collab_core::doc_name::DocName;
use collab_core::engine::{self, panic_message};
use collab_core::order::Runs;
use collab_core::wire::close_code;

/// A storage load, delivered back to the room that asked for it.
pub struct LoadResult {
    pub doc: DocName,
    /// Matches `Room::generation`; a result for an older load is ignored.
    pub generation: u64,
    pub result: Result<StoredDoc, StorageError>,
    /// What the load is for.
    pub purpose: LoadPurpose,
}

/// Why a room read its document from storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPurpose {
    /// To build the in-memory document (first load, or a reload).
    Load,
    /// To merge what other instances stored while relaying had a gap; `announce`: then ask
    /// the other instances to do the same (this instance's relay reconnected).
    Resync { announce: bool },
}

/// A load generation no room of this process has used: a room made for a document after
/// another room of it was dropped (a delete) never takes the dropped room's load result.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Room {
    pub(super) fn request_load(&mut self) {
        self.generation = next_generation();
        self.read_storage(LoadPurpose::Load);
    }

    fn read_storage(&mut self, purpose: LoadPurpose) {
        self.out.push(Effect::Load {
            generation: self.generation,
            purpose,
        });
    }

    /// Drops the in-memory document and loads it again; members stay connected.
    pub(super) fn reload(&mut self) {
        tracing::warn!(doc = %self.name, "reloading document from storage");
        self.state = State::Loading { queue: Vec::new() };
        self.request_load();
    }

    /// A load this room asked for is done. `Keep::No` when the document cannot be loaded:
    /// everyone waiting was closed, and the caller drops the room (after `release`).
    pub fn on_loaded(&mut self, loaded: LoadResult) -> (Keep, Effects) {
        let keep = self.loaded(loaded);
        (keep, self.take())
    }

    fn loaded(&mut self, loaded: LoadResult) -> Keep {
        if loaded.generation != self.generation {
            return Keep::Yes;
        }
        if let LoadPurpose::Resync { announce } = loaded.purpose {
            match loaded.result {
                Ok(stored) => self.merge_stored_doc(&stored, announce),
                Err(err) => {
                    tracing::error!(doc = %self.name, error = %err, "cannot read the document to resync it")
                }
            }
            return Keep::Yes;
        }
        let State::Loading { queue } = &mut self.state else {
            return Keep::Yes;
        };
        let mut queue = std::mem::take(queue);
        let stored = match loaded.result {
            Ok(stored) => stored,
            Err(err) => {
                tracing::error!(doc = %self.name, error = %err, "cannot load document");
                self.fail(queue, "document could not be loaded");
                return Keep::No;
            }
        };
        let piece = self.piece_size();
        let mut whole = None;
        if let (Some(snapshot), true) = (&stored.snapshot, stored.updates.is_empty()) {
            let answered;
            (queue, answered) = answer_from_snapshot(queue, snapshot, piece, &mut self.out);
            whole = answered.filter(|_| stored.quarantined.is_empty());
        }
        let size = stored
            .snapshot
            .iter()
            .chain(&stored.updates)
            .map(|bytes| bytes.len() as u64)
            .sum();
        match build_doc(&self.name, &stored, &*self.context.journal) {
            Ok((doc, text)) => {
                let started = Instant::now();
                let edits = super::history::EditCounts::watch(&doc);
                self.state = State::Ready(LoadedDoc {
                    edits,
                    doc,
                    text,
                    exists: stored.exists(),
                    log_len: stored.updates.len(),
                    quarantine: Quarantine::new(stored.quarantined),
                    runs: Runs::default(),
                    version: 0,
                    // The snapshot answered the first joiners: later ones get the same frames.
                    whole: whole.map(|frames| Whole {
                        version: 0,
                        frames,
                        used: true,
                    }),
                    size,
                });
                tracing::debug!(doc = %self.name, log_len = stored.updates.len(), elapsed = ?started.elapsed(), "document loaded");
            }
            Err(reason) => {
                tracing::error!(doc = %self.name, %reason, "stored document does not load");
                self.fail(queue, "document could not be loaded");
                return Keep::No;
            }
        }
        self.compact_if_due();
        for deferred in queue {
            match deferred {
                Deferred::Join(conn) => self.join_now(conn),
                Deferred::Frame(id, frame) => self.frame_now(id, frame),
                Deferred::ReadText(reply) => self.read_text_now(reply),
                Deferred::Relayed(update) => {
                    self.apply(update, Origin::Relay { from_redis: true });
                }
                Deferred::ServerChange(change, reply) => self.server_change_now(change, reply),
                Deferred::Export(reply) => self.export_now(reply),
                Deferred::History(command) => self.history_now(command),
            }
        }
        Keep::Yes
    }

    /// Closes everyone waiting on a document that cannot be loaded.
    fn fail(&mut self, queue: Vec<Deferred>, reason: &str) {
        let members: Vec<Conn> = self.members.values().map(|m| m.conn.clone()).collect();
        for conn in members {
            self.close(conn, close_code::INTERNAL_ERROR, reason);
        }
        for deferred in queue {
            match deferred {
                Deferred::Join(conn) => self.close(conn, close_code::INTERNAL_ERROR, reason),
                Deferred::ReadText(reply) => self.out.push(Effect::Text { reply, text: None }),
                Deferred::ServerChange(_, reply) => {
                    self.answer(reply, super::ChangeRefused::Failed(reason.to_owned()))
                }
                // Dropped: the request hears the server is unavailable.
                Deferred::Export(_) | Deferred::History(_) => {}
                Deferred::Frame(..) | Deferred::Relayed(_) => {}
            }
        }
    }

    /// The relay subscription `token` is active: the first load may start, and the other
    /// instances are asked for their users' presence.
    pub fn subscribed(&mut self, token: u64) -> Effects {
        if self.subscription == Some(token) {
            if self.generation == 0 {
                self.request_load();
            }
            self.publish(Publication::AwarenessQuery);
        }
        self.take()
    }

    /// Reads storage again and merges what other instances stored (relaying had a gap).
    /// A room still loading needs nothing: its load reads storage anyway.
    pub fn resync(&mut self, announce: bool) -> Effects {
        self.resync_now(announce);
        self.take()
    }

    pub(super) fn resync_now(&mut self, announce: bool) {
        if matches!(self.state, State::Ready(_)) {
            self.read_storage(LoadPurpose::Resync { announce });
        }
    }

    /// Merges a stored document into the loaded one: the difference goes through the same
    /// checks as a relayed update, and local members get it. Storage is FIFO, so this read
    /// came after this instance's own earlier writes: when `announce`, the other instances
    /// are asked to resync now, and will find them.
    fn merge_stored_doc(&mut self, stored: &StoredDoc, announce: bool) {
        let State::Ready(loaded) = &self.state else {
            return;
        };
        let known = loaded.doc.transact().state_vector();
        let diff = build_doc(&self.name, stored, &*self.context.journal).and_then(|(doc, _)| {
            catch_unwind(AssertUnwindSafe(|| {
                doc.transact().encode_state_as_update_v1(&known)
            }))
            .map_err(|panic| format!("yrs panicked: {}", panic_message(&panic)))
        });
        match diff {
            Ok(diff) => {
                self.apply(diff, Origin::Relay { from_redis: false });
            }
            Err(reason) => {
                tracing::error!(doc = %self.name, %reason, "stored document does not load for a resync")
            }
        }
        if announce {
            self.publish(Publication::Resync);
        }
    }
}

/// The cold-load shortcut. While a document is loading, the usual first thing in its queue is
/// clients joining and asking for everything (a SyncStep1 with an empty state vector). When the
/// stored document is one snapshot (no log rows), that snapshot *is* the answer, so it is sent
/// right away, before yrs decodes it (most of a cold load). Only the leading run of such joins
/// and requests is answered: anything else (an update, say) might change the document before a
/// later request, so from there on everything waits for the loaded document as usual. Returns
/// the queue without the frames it answered.
fn answer_from_snapshot(
    queue: Vec<Deferred>,
    snapshot: &[u8],
    piece: PieceSize,
    out: &mut Effects,
) -> (Vec<Deferred>, Option<Arc<[Bytes]>>) {
    let mut joined: HashMap<ConnId, Conn> = HashMap::new();
    let mut rest = Vec::with_capacity(queue.len());
    let mut answering = true;
    let mut reply = None;
    for deferred in queue {
        if answering {
            match &deferred {
                Deferred::Join(conn) => {
                    joined.insert(conn.id, conn.clone());
                }
                Deferred::Frame(id, frame) => match (joined.get(id), decode_frame(frame)) {
                    (Some(conn), Ok(messages)) if matches!(&messages[..], [Incoming::SyncStep1(sv)] if sv.is_empty()) =>
                    {
                        let reply = reply.get_or_insert_with(|| sync_step2_frames(snapshot, piece));
                        out.push(Effect::Send {
                            to: conn.clone(),
                            frames: Frames::Pieces(reply.clone()),
                        });
                        continue;
                    }
                    _ => answering = false,
                },
                Deferred::ReadText(_) | Deferred::Export(_) | Deferred::History(_) => {}
                Deferred::Relayed(_) | Deferred::ServerChange(..) => answering = false,
            }
        }
        rest.push(deferred);
    }
    (rest, reply)
}

/// Builds a document from its stored snapshot and log (`engine::build_doc`, in transactions
/// of `LOAD_BATCH_ROWS` rows). Rows yrs refuses are logged and skipped, and so are
/// quarantined ones; a panic fails the load.
pub(super) fn build_doc(
    name: &DocName,
    stored: &StoredDoc,
    journal: &dyn ApplyJournal,
) -> Result<(Doc, TextRef), String> {
    let rows: Vec<&[u8]> = stored
        .snapshot
        .iter()
        .chain(&stored.updates)
        .map(Vec::as_slice)
        .collect();
    engine::build_doc(
        &rows,
        |row, bytes| {
            // A stored row that once killed the process while loading is not replayed.
            if stored.quarantined.iter().any(|q| q == bytes) {
                tracing::error!(doc = %name, row, "skipped a stored update that is quarantined");
                return None;
            }
            // Journaled like a live update, so a row that kills the process is found on
            // the next start and quarantined instead of killing it again.
            Some(journal::record(journal, name, bytes))
        },
        |row, reason| {
            tracing::error!(doc = %name, row, %reason, "skipped a stored update yrs refuses");
        },
    )
}
