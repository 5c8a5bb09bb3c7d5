//! `Room`: one loaded document — its yrs `Doc`, presence and members — and the protocol rules
//! applied to it. A room lives on one room thread and is never shared, so it needs no locks.
//!
//! Every yrs call that touches client bytes runs inside `catch_unwind` on that thread (which
//! has a large stack). An update is broadcast and persisted only after yrs applied it without
//! error; after a failed apply or a panic the document is dropped and reloaded from storage.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, TextRef, Transact};

use crate::conn::{Conn, ConnId};
use crate::crash_guard::Journal;
use crate::limits::TokenBucket;
use crate::pieces::{piece_size, sync_step2_frames, update_frames, PieceSize};
use crate::protocol::message::{encode_limits, encode_permission_denied, encode_sync_step1};
use crate::protocol::presence::encode_entries;
use crate::protocol::{decode_frame, Incoming, Presence};
use crate::relay::{Kind, Relay, Relayed};
use crate::storage::{Ack, StorageError, StorageWriter, StoredDoc, Write};
use collab_core::doc_name::DocName;
use collab_core::engine::{self, apply_update, panic_message, would_change, Applied, Source};
use collab_core::order::Runs;
use collab_core::validate::{validate_update_v1, validate_update_v1_shape, ClientRange, Shape};
use collab_core::wire::close_code;

/// What every room on a thread shares.
#[derive(Clone)]
pub struct RoomContext {
    pub storage: StorageWriter,
    /// Where load results go: the owning room thread's event queue.
    pub loaded: mpsc::UnboundedSender<LoadResult>,
    pub settings: Arc<RoomSettings>,
    /// This thread's record of the update being applied (the crash-loop guard).
    pub journal: Arc<Journal>,
    /// Fan-out to other instances (`--redis`), if any.
    pub relay: Option<Relay>,
}

/// Tunables of a room, from the server's `Config`.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// Updates appended to the log before the room writes a snapshot and drops them.
    pub compact_after: usize,
    /// How long an awareness state lives without renewal.
    pub awareness_timeout: Duration,
    /// How long an empty room stays loaded.
    pub unload_after: Duration,
    /// Debug builds only, for testing the crash-loop guard: let updates reach yrs without
    /// the pre-validator (`SYNC_SERVER_TESTING_SKIP_VALIDATION`).
    pub skip_validation: bool,
    /// Position checks per second and burst, per connection (`Limits`).
    pub position_checks: (f64, u32),
    /// The server's message limit: told to extension clients, and what pieces sent to
    /// clients stay under.
    pub max_message_size: usize,
    /// Largest encoded state a document may reach (0: no limit), see `Config`.
    pub max_document_size: usize,
}

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

/// Whether the room thread should keep a room after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Yes,
    /// The room is empty and idle, or failed to load: drop it.
    No,
}

pub struct Room {
    name: DocName,
    context: RoomContext,
    state: State,
    presence: Presence,
    members: HashMap<ConnId, Member>,
    /// Which connection may write new items under which client id.
    client_ids: ClientIds,
    /// When the last member left; `None` while anyone is here.
    idle_since: Option<Instant>,
    generation: u64,
    /// The token of this room's relay subscription; the first load waits for it to be active,
    /// so nothing another instance publishes falls between the load and the subscription.
    subscription: Option<u64>,
}

enum State {
    /// Waiting for storage; everything that arrives meanwhile is replayed once loaded.
    Loading {
        queue: Vec<Deferred>,
    },
    Ready(LoadedDoc),
}

struct LoadedDoc {
    doc: Doc,
    text: TextRef,
    /// Whether storage holds anything for this document (for 404s on the text endpoint).
    exists: bool,
    /// Updates appended to the log since the last snapshot.
    log_len: usize,
    /// Updates that once killed the process while being applied: refused if sent again.
    quarantine: Quarantine,
    /// Typing runs whose order is known (`collab_core::order`), for this `doc` only.
    runs: Runs,
    /// Counts changes to `doc`: what `whole` was encoded from.
    version: u64,
    /// The whole document in frames for joiners (a SyncStep1 with an empty state vector), as
    /// of `version`: encoded once per version and shared by every joiner's queue.
    whole: Option<Whole>,
    /// An upper bound of the document's encoded size in bytes: exact after each encoding of
    /// the whole document, plus the bytes of every update applied since.
    size: u64,
}

/// The whole document as frames, for a version of it.
struct Whole {
    version: u64,
    frames: Arc<[Bytes]>,
    /// Asked for since the last tick; an unused one is dropped, so an idle room does not keep
    /// a second copy of its document.
    used: bool,
}

impl LoadedDoc {
    /// Records a change: the encoded whole is stale, and the document grew by at most
    /// `bytes`.
    fn changed(&mut self, bytes: usize) {
        self.version += 1;
        self.whole = None;
        self.size += bytes as u64;
        self.exists = true;
    }

    /// The whole document as frames for a joiner, from the cache when it is current.
    fn whole_frames(&mut self, piece: PieceSize) -> Result<Arc<[Bytes]>, String> {
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

    /// The document's exact encoded size (encoding it), remembered as `size`.
    fn measure(&mut self) -> Result<u64, String> {
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
}

impl LoadedDoc {
    /// Applies a validated update (`apply_update`), journaled for the crash-loop guard while
    /// yrs has it; also returns what its position checks cost.
    fn apply_journaled(
        &mut self,
        journal: &Journal,
        name: &DocName,
        update: &[u8],
        shape: &Shape,
        known: &StateVector,
        source: Source,
    ) -> (Applied, usize) {
        let _in_flight = journal.begin(name, update);
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
}

enum Deferred {
    Join(Conn),
    Frame(ConnId, Bytes),
    ReadText(oneshot::Sender<Option<String>>),
    /// An update from another instance.
    Relayed(Vec<u8>),
}

struct Member {
    conn: Conn,
    /// How many update-carrying messages (SyncStep2, Update) this connection has sent.
    updates_received: u64,
    /// A read-only connection had an edit refused: it is never acknowledged again, since its
    /// count would cover what was not saved.
    refused_edit: bool,
    /// What its updates may cost in position checks (`collab_core::order`).
    position_checks: TokenBucket,
}

impl Room {
    /// A room for `name`, loading its document from storage.
    pub fn load(name: DocName, context: &RoomContext) -> Room {
        let mut room = Room {
            name,
            context: context.clone(),
            state: State::Loading { queue: Vec::new() },
            presence: Presence::default(),
            members: HashMap::new(),
            client_ids: ClientIds::default(),
            idle_since: Some(Instant::now()),
            generation: 0,
            subscription: None,
        };
        match &context.relay {
            Some(relay) => room.subscription = Some(relay.subscribe(room.name.clone())),
            None => room.request_load(),
        }
        room
    }

    fn request_load(&mut self) {
        self.generation += 1;
        self.read_storage(LoadPurpose::Load);
    }

    fn read_storage(&mut self, purpose: LoadPurpose) {
        let (doc, generation, loaded) = (
            self.name.clone(),
            self.generation,
            self.context.loaded.clone(),
        );
        self.context.storage.load(
            self.name.clone(),
            Box::new(move |result| {
                let _ = loaded.send(LoadResult {
                    doc,
                    generation,
                    result,
                    purpose,
                });
            }),
        );
    }

    /// Drops the in-memory document and loads it again; members stay connected.
    fn reload(&mut self) {
        tracing::warn!(doc = %self.name, "reloading document from storage");
        self.state = State::Loading { queue: Vec::new() };
        self.request_load();
    }

    pub fn on_loaded(&mut self, loaded: LoadResult) -> Keep {
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
            (queue, answered) = answer_from_snapshot(queue, snapshot, piece);
            whole = answered.filter(|_| stored.quarantined.is_empty());
        }
        let size = stored
            .snapshot
            .iter()
            .chain(&stored.updates)
            .map(|bytes| bytes.len() as u64)
            .sum();
        match build_doc(&self.name, &stored, &self.context.journal) {
            Ok((doc, text)) => {
                let started = Instant::now();
                self.state = State::Ready(LoadedDoc {
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
        if self.log_len() >= self.context.settings.compact_after {
            self.compact();
        }
        for deferred in queue {
            match deferred {
                Deferred::Join(conn) => self.join(conn),
                Deferred::Frame(id, frame) => self.frame(id, frame),
                Deferred::ReadText(reply) => self.read_text(reply),
                Deferred::Relayed(update) => self.relayed_update(update, true),
            }
        }
        Keep::Yes
    }

    /// Closes everyone waiting on a document that cannot be loaded.
    fn fail(&mut self, queue: Vec<Deferred>, reason: &str) {
        for member in self.members.values() {
            member.conn.close(close_code::INTERNAL_ERROR, reason);
        }
        for deferred in queue {
            match deferred {
                Deferred::Join(conn) => conn.close(close_code::INTERNAL_ERROR, reason),
                Deferred::ReadText(reply) => {
                    let _ = reply.send(None);
                }
                Deferred::Frame(..) | Deferred::Relayed(_) => {}
            }
        }
    }

    /// A new connection: it gets our state vector and everyone's presence.
    pub fn join(&mut self, conn: Conn) {
        let loaded = match &mut self.state {
            State::Loading { queue } => return queue.push(Deferred::Join(conn)),
            State::Ready(loaded) => loaded,
        };
        let state_vector = loaded.doc.transact().state_vector();
        if conn.wants_ext {
            let settings = &self.context.settings;
            conn.send(encode_limits(
                settings.max_message_size as u64,
                settings.max_document_size as u64,
            ));
        }
        conn.send(encode_sync_step1(&state_vector));
        if let Some(everyone) = self.presence.encode_all() {
            conn.send(everyone);
        }
        tracing::debug!(doc = %self.name, conn = %conn.id, "joined");
        self.members.insert(
            conn.id,
            Member {
                conn,
                updates_received: 0,
                refused_edit: false,
                position_checks: TokenBucket::new(
                    self.context.settings.position_checks.0,
                    self.context.settings.position_checks.1,
                    Instant::now(),
                ),
            },
        );
        self.idle_since = None;
    }

    /// A connection closed: its presence goes with it.
    pub fn leave(&mut self, id: ConnId, now: Instant) {
        if let State::Loading { queue } = &mut self.state {
            queue.retain(|d| match d {
                Deferred::Join(conn) => conn.id != id,
                Deferred::Frame(from, _) => *from != id,
                Deferred::ReadText(_) | Deferred::Relayed(_) => true,
            });
        }
        if let Some(member) = self.members.remove(&id) {
            // A user's client ids stay theirs while any of their connections is here.
            let owner = Owner::of(&member.conn);
            if !self.members.values().any(|m| Owner::of(&m.conn) == owner) {
                self.client_ids.release(&owner);
            }
        }
        let removed = self.presence.remove_owner(id);
        if !removed.is_empty() {
            self.broadcast_presence(encode_entries(&removed));
        }
        if self.members.is_empty() {
            self.idle_since = Some(now);
        }
        tracing::debug!(doc = %self.name, conn = %id, "left");
    }

    /// The document's text, or `None` when nothing was ever stored for it.
    pub fn read_text(&mut self, reply: oneshot::Sender<Option<String>>) {
        let loaded = match &mut self.state {
            State::Loading { queue } => return queue.push(Deferred::ReadText(reply)),
            State::Ready(loaded) => loaded,
        };
        let text = loaded
            .exists
            .then(|| loaded.text.get_string(&loaded.doc.transact()));
        let _ = reply.send(text);
    }

    /// One binary frame from a member.
    pub fn frame(&mut self, id: ConnId, frame: Bytes) {
        if let State::Loading { queue } = &mut self.state {
            return queue.push(Deferred::Frame(id, frame));
        }
        let Some(member) = self.members.get(&id) else {
            return;
        };
        let messages = match decode_frame(&frame) {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(doc = %self.name, conn = %id, error = %err, "refused malformed frame");
                member
                    .conn
                    .close(close_code::INVALID_PAYLOAD, &err.to_string());
                return;
            }
        };
        for message in messages {
            if !self.message(id, message) {
                // The connection is being closed, or the document is reloading: the rest of
                // this frame is dropped with it.
                return;
            }
        }
    }

    /// Handles one message; `false` when the rest of the frame must not be processed.
    fn message(&mut self, id: ConnId, message: Incoming) -> bool {
        let State::Ready(loaded) = &mut self.state else {
            return false;
        };
        let Some(member) = self.members.get_mut(&id) else {
            return false;
        };
        match message {
            Incoming::SyncStep1(state_vector) => {
                // Whatever its size, the answer goes in pieces that fit (`pieces`); the whole
                // document, what every joiner asks for, is encoded once per version.
                let piece = piece_size(self.context.settings.max_message_size);
                let frames = if state_vector.is_empty() {
                    loaded.whole_frames(piece)
                } else {
                    let doc = &loaded.doc;
                    catch_unwind(AssertUnwindSafe(|| {
                        doc.transact().encode_state_as_update_v1(&state_vector)
                    }))
                    .map(|update| sync_step2_frames(&update, piece))
                    .map_err(|panic| panic_message(&panic))
                };
                match frames {
                    Ok(frames) => member.conn.send_pieces(frames),
                    Err(panic) => {
                        tracing::error!(doc = %self.name, %panic, "encoding the document panicked");
                        self.reload();
                        return false;
                    }
                }
            }
            Incoming::SyncStep2(update) | Incoming::Update(update) => {
                member.updates_received += 1;
                let ack = member.conn.wants_ext.then(|| Ack {
                    conn: member.conn.clone(),
                    count: member.updates_received,
                });
                if member.conn.read_only {
                    return self.read_only_update(id, update, ack);
                }
                return self.update(id, update, ack);
            }
            Incoming::Awareness(mut entries) => {
                // With a token, the name and colour others see are the token's.
                if let Some(user) = &member.conn.user {
                    for entry in &mut entries {
                        if let Some(state) = &entry.state {
                            entry.state = Some(user.stamp(state).into());
                        }
                    }
                }
                let applied = self.presence.apply(id, entries, Instant::now());
                if !applied.is_empty() {
                    self.broadcast_presence(encode_entries(&applied));
                }
            }
            Incoming::AwarenessQuery => {
                if let Some(everyone) = self.presence.encode_all() {
                    member.conn.send(everyone);
                }
            }
            Incoming::Auth => {
                tracing::debug!(doc = %self.name, conn = %id, "ignored auth message from a client");
            }
            Incoming::Unknown(tag) => {
                tracing::warn!(doc = %self.name, conn = %id, tag, "ignored message with unknown tag");
            }
        }
        true
    }

    fn update(&mut self, id: ConnId, update: Vec<u8>, ack: Option<Ack>) -> bool {
        // Check the bytes before yrs sees them, and who may write under which client id.
        let Some(shape) = self.validate(id, &update) else {
            return false;
        };
        let ranges = &shape.ranges;
        let State::Ready(loaded) = &mut self.state else {
            return false;
        };
        if loaded.quarantine.holds(&update, ranges) {
            tracing::warn!(doc = %self.name, conn = %id, "refused a quarantined update");
            self.close_member(
                id,
                close_code::UPDATE_REJECTED,
                "update is quarantined: it crashed the server before",
            );
            return false;
        }
        let owner = match self.members.get(&id) {
            Some(member) => Owner::of(&member.conn),
            None => return false,
        };
        if let Some(reason) = over_size_limit(
            loaded,
            &update,
            ranges,
            self.context.settings.max_document_size,
        ) {
            tracing::warn!(doc = %self.name, conn = %id, %reason, "refused an update past the document size limit");
            self.close_member(id, close_code::DOCUMENT_TOO_LARGE, &reason);
            return false;
        }
        // What the document holds per client, before this update: for ownership and deletes.
        let known = loaded.doc.transact().state_vector();
        if let Err(client) = self.client_ids.claim(&owner, ranges, &known) {
            tracing::warn!(doc = %self.name, conn = %id, client, "refused an update writing under another connection's client id");
            self.close_member(
                id,
                close_code::NOT_YOUR_CLIENT_ID,
                &format!("client id {client} belongs to another connection"),
            );
            return false;
        }
        let (applied, cost) = loaded.apply_journaled(
            &self.context.journal,
            &self.name,
            &update,
            &shape,
            &known,
            Source::Client,
        );
        // Position checks walk the document: what a connection may cost is bounded. The update
        // stays (it was valid); the connection is closed, as for other rates.
        if let Some(member) = self.members.get_mut(&id) {
            if !member.position_checks.take(cost, Instant::now()) {
                tracing::warn!(doc = %self.name, conn = %id, cost, "closing a connection over its position-check rate");
                member.conn.close(
                    close_code::RATE_LIMITED,
                    "too many updates that need position checks",
                );
            }
        }
        match applied {
            Applied::Changed => {
                loaded.changed(update.len());
                loaded.log_len += 1;
                let text_bytes = loaded.text.len(&loaded.doc.transact()) as u64;
                self.broadcast_update(&update);
                // Other instances apply it but do not store it: this one does, just below.
                self.publish(Kind::Update, Bytes::from(update.clone()));
                self.context.storage.write(
                    Write::Append {
                        doc: self.name.clone(),
                        update,
                        origin: id.to_string(),
                        text_bytes,
                    },
                    ack,
                );
                if self.log_len() >= self.context.settings.compact_after {
                    self.compact();
                }
                true
            }
            Applied::Unchanged => {
                if let Some(ack) = ack {
                    self.context.storage.ack(ack);
                }
                true
            }
            Applied::Refused(reason) => {
                tracing::warn!(doc = %self.name, conn = %id, %reason, "refused update");
                self.close_member(id, close_code::UPDATE_REJECTED, &reason);
                false
            }
            Applied::Misplaced(reason) => {
                tracing::warn!(doc = %self.name, conn = %id, %reason, "refused update; reloading the document");
                self.close_member(id, close_code::UPDATE_REJECTED, &reason);
                self.reload();
                false
            }
            Applied::Broken(reason) => {
                tracing::error!(doc = %self.name, conn = %id, %reason, "update broke the document; dropping it and reloading");
                self.close_member(
                    id,
                    close_code::UPDATE_REJECTED,
                    "update could not be applied",
                );
                self.reload();
                false
            }
        }
    }

    /// An update from a read-only connection: accepted only if it changes nothing (a stock
    /// client's SyncStep2 repeating what we have, deletions included); otherwise refused with a
    /// permission-denied message, and the connection stays open.
    fn read_only_update(&mut self, id: ConnId, update: Vec<u8>, ack: Option<Ack>) -> bool {
        let Some(shape) = self.validate(id, &update) else {
            return false;
        };
        let State::Ready(loaded) = &self.state else {
            return false;
        };
        let changes = would_change(&loaded.doc, &update, &shape.ranges);
        let Some(member) = self.members.get_mut(&id) else {
            return false;
        };
        if changes {
            tracing::info!(doc = %self.name, conn = %id, "refused an edit from a read-only connection");
            member.refused_edit = true;
            member.conn.send(encode_permission_denied(
                "read-only access: edits are not accepted",
            ));
        } else if let Some(ack) = ack.filter(|_| !member.refused_edit) {
            self.context.storage.ack(ack);
        }
        true
    }

    /// Runs the pre-validator on a client's update: what it writes, or `None` after
    /// closing the sender (4400).
    fn validate(&self, id: ConnId, update: &[u8]) -> Option<Shape> {
        let valid = match self.context.settings.skip_validation {
            false => validate_update_v1_shape(update),
            true => Ok(Shape::default()),
        };
        match valid {
            Ok(shape) => Some(shape),
            Err(err) => {
                let reason = format!("invalid update: {err}");
                tracing::warn!(doc = %self.name, conn = %id, %reason, "refused update");
                self.close_member(id, close_code::UPDATE_REJECTED, &reason);
                None
            }
        }
    }

    fn close_member(&self, id: ConnId, code: u16, reason: &str) {
        if let Some(member) = self.members.get(&id) {
            member.conn.close(code, reason);
        }
    }

    fn log_len(&self) -> usize {
        match &self.state {
            State::Ready(loaded) => loaded.log_len,
            State::Loading { .. } => 0,
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
                self.context.storage.write(
                    Write::Compact {
                        doc: self.name.clone(),
                        snapshot,
                        text_bytes,
                    },
                    None,
                );
            }
            Err(panic) => {
                tracing::error!(doc = %self.name, panic = panic_message(&panic), "encoding a snapshot panicked");
                self.reload();
            }
        }
    }

    /// An update to every member, in pieces if it is large (see `pieces`).
    fn broadcast_update(&self, update: &[u8]) {
        let frames = update_frames(update, self.piece_size());
        for member in self.members.values() {
            member.conn.send_pieces(frames.clone());
        }
    }

    /// Most bytes of update in one frame sent to a client.
    fn piece_size(&self) -> PieceSize {
        piece_size(self.context.settings.max_message_size)
    }

    fn broadcast(&self, frame: Bytes) {
        for member in self.members.values() {
            member.conn.send(frame.clone());
        }
    }

    /// Presence changes made here: to local members, and to other instances.
    fn broadcast_presence(&self, frame: Bytes) {
        self.broadcast(frame.clone());
        self.publish(Kind::Awareness, frame);
    }

    fn publish(&self, kind: Kind, payload: Bytes) {
        if let Some(relay) = &self.context.relay {
            relay.publish(&self.name, kind, payload);
        }
    }

    /// The relay subscription `token` is active: the first load may start, and the other
    /// instances are asked for their users' presence.
    pub fn subscribed(&mut self, token: u64) {
        if self.subscription != Some(token) {
            return;
        }
        if self.generation == 0 {
            self.request_load();
        }
        self.publish(Kind::AwarenessQuery, Bytes::new());
    }

    /// A message from another instance.
    pub fn relayed(&mut self, relayed: Relayed) {
        match relayed {
            Relayed::Update(update) => match &mut self.state {
                State::Loading { queue } => queue.push(Deferred::Relayed(update)),
                State::Ready(_) => self.relayed_update(update, true),
            },
            Relayed::Awareness { from, frame } => {
                let entries = match decode_frame(&frame) {
                    Ok(messages) => messages.into_iter().flat_map(|m| match m {
                        Incoming::Awareness(entries) => entries,
                        _ => Vec::new(),
                    }),
                    Err(err) => {
                        tracing::warn!(doc = %self.name, error = %err, "ignored a malformed relayed awareness message");
                        return;
                    }
                };
                let applied = self
                    .presence
                    .apply_relayed(from, entries.collect(), Instant::now());
                if !applied.is_empty() {
                    self.broadcast(encode_entries(&applied));
                }
            }
            Relayed::Resync => {
                self.resync(false);
                self.publish_local_presence();
            }
            Relayed::AwarenessQuery => self.publish_local_presence(),
        }
    }

    /// Sends the presence of this instance's own members to the other instances.
    fn publish_local_presence(&self) {
        if let Some(frame) = self
            .presence
            .encode_owned_by(|owner| self.members.contains_key(&owner))
        {
            self.publish(Kind::Awareness, frame);
        }
    }

    /// Another instance is gone: the presence it relayed goes, for local members to see.
    pub fn instance_gone(&mut self, instance: ConnId) {
        let removed = self.presence.remove_owner(instance);
        if !removed.is_empty() {
            self.broadcast(encode_entries(&removed));
        }
    }

    /// Reads storage again and merges what other instances stored (relaying had a gap).
    /// A room still loading needs nothing: its load reads storage anyway.
    pub fn resync(&mut self, announce: bool) {
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
        let diff = build_doc(&self.name, stored, &self.context.journal).and_then(|(doc, _)| {
            catch_unwind(AssertUnwindSafe(|| {
                doc.transact().encode_state_as_update_v1(&known)
            }))
            .map_err(|panic| format!("yrs panicked: {}", panic_message(&panic)))
        });
        match diff {
            Ok(diff) => self.relayed_update(diff, false),
            Err(reason) => {
                tracing::error!(doc = %self.name, %reason, "stored document does not load for a resync")
            }
        }
        if announce {
            self.publish(Kind::Resync, Bytes::new());
        }
    }

    /// Applies an update another instance applied and stored (or, with `from_redis` false,
    /// the difference storage holds): validated and applied like a client's, broadcast to
    /// local members, but neither stored (its origin did that) nor acknowledged. Client-id
    /// ownership is per instance, so it neither claims ids nor is refused by local claims.
    fn relayed_update(&mut self, update: Vec<u8>, from_redis: bool) {
        let shape = match self.context.settings.skip_validation {
            false => validate_update_v1_shape(&update),
            true => Ok(Shape::default()),
        };
        let shape = match shape {
            Ok(shape) => shape,
            Err(err) => {
                tracing::warn!(doc = %self.name, error = %err, "refused an invalid relayed update");
                return;
            }
        };
        let State::Ready(loaded) = &mut self.state else {
            return;
        };
        if loaded.quarantine.holds(&update, &shape.ranges) {
            tracing::warn!(doc = %self.name, "refused a quarantined relayed update");
            return;
        }
        let known = loaded.doc.transact().state_vector();
        // Relayed: no connection here to charge the position checks to.
        let (applied, _cost) = loaded.apply_journaled(
            &self.context.journal,
            &self.name,
            &update,
            &shape,
            &known,
            Source::Relay,
        );
        match applied {
            Applied::Changed => {
                loaded.changed(update.len());
                self.broadcast_update(&update);
            }
            Applied::Unchanged => {}
            Applied::Refused(reason) => {
                // Most likely it depends on something missed in a gap: storage has it.
                tracing::warn!(doc = %self.name, %reason, "refused a relayed update");
                if from_redis {
                    self.resync(false);
                }
            }
            Applied::Misplaced(reason) | Applied::Broken(reason) => {
                tracing::error!(doc = %self.name, %reason, "a relayed update broke the document; reloading it");
                self.reload();
            }
        }
    }

    /// Periodic upkeep: expires silent presence; says whether an idle room should unload.
    pub fn tick(&mut self, now: Instant) -> Keep {
        if let State::Ready(loaded) = &mut self.state {
            match &mut loaded.whole {
                Some(whole) if whole.used => whole.used = false,
                Some(_) => loaded.whole = None,
                None => {}
            }
        }
        let expired = self
            .presence
            .sweep(now, self.context.settings.awareness_timeout);
        if !expired.is_empty() {
            self.broadcast_presence(encode_entries(&expired));
        }
        let idle_long_enough = self.idle_since.is_some_and(|since| {
            now.saturating_duration_since(since) >= self.context.settings.unload_after
        });
        if idle_long_enough && matches!(self.state, State::Ready(_)) {
            self.unload();
            return Keep::No;
        }
        Keep::Yes
    }

    /// Compacts what was appended since the last snapshot so the next load is one row.
    pub fn unload(&mut self) {
        if self.log_len() > 0 {
            self.compact();
        }
        tracing::debug!(doc = %self.name, "unloaded");
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The document is being deleted: closes every member, and every connection waiting for
    /// the load, with `code`. Nothing is compacted; the caller drops the room.
    pub fn close_all(&mut self, code: u16, reason: &str) {
        for member in self.members.values() {
            member.conn.close(code, reason);
        }
        if let State::Loading { queue } = &self.state {
            for deferred in queue {
                if let Deferred::Join(conn) = deferred {
                    conn.close(code, reason);
                }
            }
        }
    }
}

impl Drop for Room {
    /// However a room goes (unloaded, failed to load, shutdown), its channel goes with it.
    fn drop(&mut self) {
        if let (Some(relay), Some(token)) = (&self.context.relay, self.subscription) {
            relay.unsubscribe(self.name.clone(), token);
        }
    }
}

/// Who owns a client id: the user a token names, or (without tokens) one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Conn(ConnId),
    User(String),
}

impl Owner {
    fn of(conn: &Conn) -> Owner {
        match &conn.user {
            Some(user) => Owner::User(user.id.clone()),
            None => Owner::Conn(conn.id),
        }
    }
}

/// Client-id ownership: a connection may only introduce items under client ids its owner
/// holds. An id is bound to the owner of the first connection that writes new items under it
/// (its token's subject, or the connection itself without tokens) and freed when the owner's
/// last connection leaves, so nobody can write ahead of an honest client's clock ("clock
/// squatting") while it is connected, and a user reconnecting is not locked out by their own
/// lingering socket.
#[derive(Debug, Default)]
struct ClientIds {
    owners: HashMap<u64, Owner>,
}

impl ClientIds {
    /// Binds the ids `ranges` introduce new items under to `owner`; `Err(client)` when one is
    /// owned by someone else. Ranges the document already holds (a resend) need no claim.
    /// `known` is the document's state vector.
    fn claim(
        &mut self,
        owner: &Owner,
        ranges: &[ClientRange],
        known: &StateVector,
    ) -> Result<(), u64> {
        let introduces =
            |range: &&ClientRange| range.end > known.get(&yrs::ClientID::new(range.client));
        for range in ranges.iter().filter(introduces) {
            if self
                .owners
                .get(&range.client)
                .is_some_and(|current| current != owner)
            {
                return Err(range.client);
            }
        }
        for range in ranges.iter().filter(introduces) {
            self.owners.insert(range.client, owner.clone());
        }
        Ok(())
    }

    fn release(&mut self, owner: &Owner) {
        self.owners.retain(|_, current| current != owner);
    }
}

/// Updates that killed the process while being applied, found by the crash-loop guard. One is
/// refused when sent again byte for byte, or when it writes any clock range one of them wrote
/// (a reconnecting client resends its items as part of a differently encoded diff).
#[derive(Debug, Default)]
struct Quarantine {
    updates: Vec<Vec<u8>>,
    ranges: Vec<ClientRange>,
}

impl Quarantine {
    fn new(updates: Vec<Vec<u8>>) -> Quarantine {
        let mut ranges = Vec::new();
        for update in &updates {
            // One the validator refuses cannot get in again anyway; its ranges don't matter.
            let mut found = Vec::new();
            if validate_update_v1(update, |range| found.push(range)).is_ok() {
                ranges.extend(found);
            }
        }
        Quarantine { updates, ranges }
    }

    fn holds(&self, update: &[u8], ranges: &[ClientRange]) -> bool {
        self.updates.iter().any(|q| q.as_slice() == update)
            || ranges.iter().any(|r| {
                self.ranges
                    .iter()
                    .any(|q| q.client == r.client && q.start < r.end && r.start < q.end)
            })
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
                        conn.send_pieces(reply.clone());
                        continue;
                    }
                    _ => answering = false,
                },
                Deferred::ReadText(_) => {}
                Deferred::Relayed(_) => answering = false,
            }
        }
        rest.push(deferred);
    }
    (rest, reply)
}

/// Why `update` may not be applied under the document size limit `max` (0: none), if it may
/// not: the document's size plus the update's bytes (an upper bound of what it adds) would
/// pass it, measured exactly before refusing, and the update would change the document (a
/// client resending what the document holds is never refused).
fn over_size_limit(
    loaded: &mut LoadedDoc,
    update: &[u8],
    ranges: &[ClientRange],
    max: usize,
) -> Option<String> {
    let (max, bytes) = (max as u64, update.len() as u64);
    if max == 0 || loaded.size + bytes <= max {
        return None;
    }
    // The size is an upper bound: measure before refusing. A panic here counts as over.
    let size = loaded.measure().unwrap_or(u64::MAX);
    if size.saturating_add(bytes) <= max || !would_change(&loaded.doc, update, ranges) {
        return None;
    }
    Some(format!(
        "this change would take the document over the server's {} MB limit",
        max.div_ceil(1024 * 1024)
    ))
}

/// Builds a document from its stored snapshot and log (`engine::build_doc`, in transactions
/// of `LOAD_BATCH_ROWS` rows). Rows yrs refuses are logged and skipped, and so are
/// quarantined ones; a panic fails the load.
fn build_doc(
    name: &DocName,
    stored: &StoredDoc,
    journal: &Journal,
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
            Some(journal.begin(name, bytes))
        },
        |row, reason| {
            tracing::error!(doc = %name, row, %reason, "skipped a stored update yrs refuses");
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::writer::WriterThread;
    use crate::storage::SqliteStore;
    use collab_core::engine::{LOAD_BATCH_ROWS, TEXT_NAME};
    use yrs::sync::{Message, SyncMessage};
    use yrs::updates::decoder::Decode;
    use yrs::updates::encoder::Encode;
    use yrs::Update;

    struct Harness {
        room: Room,
        loaded: mpsc::UnboundedReceiver<LoadResult>,
        storage: StorageWriter,
        _writer: WriterThread,
        _dir: tempfile::TempDir,
    }

    impl Harness {
        fn new() -> Harness {
            Harness::stored(None)
        }

        /// A room whose document was stored as one snapshot holding `text`.
        fn stored(text: Option<&str>) -> Harness {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("room.sqlite3")).unwrap();
            let (storage, writer) = StorageWriter::start(store).unwrap();
            if let Some(text) = text {
                // Storage is FIFO: the room's load below sees this write.
                let write = Write::Compact {
                    doc: DocName::parse("doc").unwrap(),
                    snapshot: insert_update(text),
                    text_bytes: text.len() as u64,
                };
                storage.write(write, None);
            }
            let (loaded_tx, loaded) = mpsc::unbounded_channel();
            let context = RoomContext {
                storage: storage.clone(),
                loaded: loaded_tx,
                settings: Arc::new(RoomSettings {
                    compact_after: 1000,
                    awareness_timeout: Duration::from_secs(30),
                    unload_after: Duration::from_secs(10),
                    skip_validation: false,
                    position_checks: (0.0, 1),
                    max_message_size: 4 << 20,
                    max_document_size: 0,
                }),
                journal: Arc::new(Journal::create(&dir.path().join("room.sqlite3"), 0).unwrap()),
                relay: None,
            };
            let room = Room::load(DocName::parse("doc").unwrap(), &context);
            Harness {
                room,
                loaded,
                storage,
                _writer: writer,
                _dir: dir,
            }
        }

        async fn finish_loading(&mut self) {
            let result = self.loaded.recv().await.unwrap();
            assert_eq!(self.room.on_loaded(result), Keep::Yes);
        }
    }

    fn member(wants_ext: bool) -> (Conn, crate::conn::Outbox) {
        let (conn, outbox, _close) = Conn::new(ConnId::next(), wants_ext, 64);
        (conn, outbox)
    }

    fn insert_update(text: &str) -> Vec<u8> {
        let doc = Doc::new();
        let shared = doc.get_or_insert_text(TEXT_NAME);
        let mut txn = doc.transact_mut();
        shared.insert(&mut txn, 0, text);
        txn.encode_update_v1()
    }

    fn decode(frame: &Bytes) -> Message {
        Message::decode_v1(frame).unwrap()
    }

    #[tokio::test]
    async fn frames_that_arrive_while_loading_are_replayed_in_order() {
        let mut h = Harness::new();
        let (conn, mut outbox) = member(false);
        let id = conn.id;
        h.room.join(conn);
        let update = Message::Sync(SyncMessage::Update(insert_update("early"))).encode_v1();
        h.room.frame(id, update.into());
        assert!(
            outbox.try_recv().is_err(),
            "nothing is answered before the load"
        );
        h.finish_loading().await;
        assert!(matches!(
            decode(&outbox.recv().await.unwrap()),
            Message::Sync(SyncMessage::SyncStep1(_))
        ));
        assert!(matches!(
            decode(&outbox.recv().await.unwrap()),
            Message::Sync(SyncMessage::Update(_))
        ));
        let (reply, text) = oneshot::channel();
        h.room.read_text(reply);
        assert_eq!(text.await.unwrap().as_deref(), Some("early"));
    }

    fn text_of(update: &[u8]) -> String {
        let doc = Doc::new();
        let text = doc.get_or_insert_text(TEXT_NAME);
        doc.transact_mut()
            .apply_update(Update::decode_v1(update).unwrap())
            .unwrap();
        let out = text.get_string(&doc.transact());
        out
    }

    #[tokio::test]
    async fn a_cold_request_for_everything_is_answered_from_the_snapshot_first() {
        let mut h = Harness::stored(Some("stored text"));
        let (conn, mut outbox) = member(false);
        let id = conn.id;
        h.room.join(conn);
        let everything = Message::Sync(SyncMessage::SyncStep1(StateVector::default()));
        h.room.frame(id, everything.encode_v1().into());
        h.finish_loading().await;
        // The answer comes before the room's own SyncStep1, which needs the loaded document.
        match decode(&outbox.recv().await.unwrap()) {
            Message::Sync(SyncMessage::SyncStep2(update)) => {
                assert_eq!(text_of(&update), "stored text")
            }
            other => panic!("expected the snapshot first, got {other:?}"),
        }
        assert!(matches!(
            decode(&outbox.recv().await.unwrap()),
            Message::Sync(SyncMessage::SyncStep1(_))
        ));
        assert!(outbox.try_recv().is_err(), "answered once");
    }

    #[tokio::test]
    async fn a_cold_request_queued_after_an_update_gets_the_updated_document() {
        let mut h = Harness::stored(Some("stored"));
        let (a, mut a_out) = member(false);
        let (b, _b_out) = member(false);
        let (a_id, b_id) = (a.id, b.id);
        h.room.join(a);
        h.room.join(b);
        let update = Message::Sync(SyncMessage::Update(insert_update("new, ")));
        h.room.frame(b_id, update.encode_v1().into());
        let everything = Message::Sync(SyncMessage::SyncStep1(StateVector::default()));
        h.room.frame(a_id, everything.encode_v1().into());
        h.finish_loading().await;
        let answer = loop {
            match decode(&a_out.recv().await.unwrap()) {
                Message::Sync(SyncMessage::SyncStep2(update)) => break update,
                _ => continue,
            }
        };
        // Both, in whichever order the two client ids put them.
        let text = text_of(&answer);
        assert!(
            text.len() == "new, stored".len() && text.contains("new, ") && text.contains("stored"),
            "{text:?}"
        );
    }

    #[tokio::test]
    async fn updates_go_to_every_member_and_are_acked_after_commit() {
        let mut h = Harness::new();
        h.finish_loading().await;
        let (a, mut a_out) = member(true);
        let (b, mut b_out) = member(false);
        let a_id = a.id;
        h.room.join(a);
        h.room.join(b);
        // An extension client hears the server's limits first (4 MiB messages, no document
        // limit in this harness); a stock client does not.
        assert_eq!(
            decode(&a_out.recv().await.unwrap()),
            Message::Custom(
                crate::protocol::message::MSG_LIMITS,
                vec![0x80, 0x80, 0x80, 0x02, 0]
            )
        );
        a_out.recv().await.unwrap(); // SyncStep1
        assert!(matches!(
            decode(&b_out.recv().await.unwrap()),
            Message::Sync(SyncMessage::SyncStep1(_))
        ));
        let update = insert_update("hi");
        let frame = Message::Sync(SyncMessage::Update(update.clone())).encode_v1();
        h.room.frame(a_id, frame.into());
        let echo = Message::Sync(SyncMessage::Update(update));
        assert_eq!(decode(&a_out.recv().await.unwrap()), echo);
        assert_eq!(decode(&b_out.recv().await.unwrap()), echo);
        // The ack follows the commit; by then storage holds the update.
        assert_eq!(
            decode(&a_out.recv().await.unwrap()),
            Message::Custom(crate::protocol::message::MSG_ACK, vec![1])
        );
        let stored = h
            .storage
            .list(crate::storage::ListQuery::all())
            .await
            .unwrap();
        assert_eq!(stored[0].text_bytes, 2);
        assert!(
            b_out.try_recv().is_err(),
            "no ack for a client that did not ask"
        );
    }

    #[tokio::test]
    async fn a_refused_update_closes_only_its_sender_and_changes_nothing() {
        let mut h = Harness::new();
        h.finish_loading().await;
        let (a, mut a_out, a_closed) = Conn::new(ConnId::next(), false, 64);
        let (b, mut b_out) = member(false);
        let a_id = a.id;
        h.room.join(a);
        h.room.join(b);
        a_out.recv().await.unwrap();
        b_out.recv().await.unwrap();
        let garbage = Message::Sync(SyncMessage::Update(vec![0xff; 8])).encode_v1();
        h.room.frame(a_id, garbage.into());
        let reason = a_closed.closed().await;
        assert_eq!(reason.code, close_code::UPDATE_REJECTED);
        assert!(b_out.try_recv().is_err(), "nothing was broadcast");
        let (reply, text) = oneshot::channel();
        h.room.read_text(reply);
        assert_eq!(text.await.unwrap(), None, "nothing was stored");
    }

    #[tokio::test]
    async fn relayed_updates_reach_members_but_are_neither_stored_nor_acked() {
        let mut h = Harness::new();
        h.finish_loading().await;
        let (a, mut a_out) = member(true);
        h.room.join(a);
        a_out.recv().await.unwrap(); // limits
        a_out.recv().await.unwrap(); // SyncStep1
        let update = insert_update("from elsewhere");
        h.room.relayed(Relayed::Update(update.clone()));
        assert_eq!(
            decode(&a_out.recv().await.unwrap()),
            Message::Sync(SyncMessage::Update(update))
        );
        // Junk from another instance is dropped; nobody here is closed for it.
        h.room.relayed(Relayed::Update(vec![0xff; 8]));
        let (reply, text) = oneshot::channel();
        h.room.read_text(reply);
        assert_eq!(text.await.unwrap().as_deref(), Some("from elsewhere"));
        assert!(
            h.storage
                .list(crate::storage::ListQuery::all())
                .await
                .unwrap()
                .is_empty(),
            "the origin instance stores it, not this one"
        );
        assert!(a_out.try_recv().is_err(), "no ack, no other frame");
    }

    #[tokio::test]
    async fn relayed_updates_neither_claim_nor_are_refused_by_local_client_ids() {
        let mut h = Harness::new();
        h.finish_loading().await;
        let (a, mut a_out, a_closed) = Conn::new(ConnId::next(), false, 64);
        let a_id = a.id;
        h.room.join(a);
        a_out.recv().await.unwrap();
        // `a` claims the client id of `writer` by sending its first edit.
        let writer = Doc::new();
        let text = writer.get_or_insert_text(TEXT_NAME);
        let first = {
            let mut txn = writer.transact_mut();
            text.insert(&mut txn, 0, "a");
            txn.encode_update_v1()
        };
        let frame = Message::Sync(SyncMessage::Update(first)).encode_v1();
        h.room.frame(a_id, frame.into());
        a_out.recv().await.unwrap();
        // The same id writing through another instance is applied, not refused.
        let second = {
            let mut txn = writer.transact_mut();
            text.insert(&mut txn, 1, "b");
            txn.encode_update_v1()
        };
        h.room.relayed(Relayed::Update(second));
        a_out.recv().await.unwrap();
        let (reply, text) = oneshot::channel();
        h.room.read_text(reply);
        assert_eq!(text.await.unwrap().as_deref(), Some("ab"));
        assert!(!a_closed.is_closed(), "the local owner keeps its id");
    }

    /// A long uncompacted log loads in batches of rows: every row counts, whichever batch
    /// holds it, and a quarantined row is skipped wherever it falls.
    #[test]
    fn a_long_log_builds_across_load_batches() {
        let writer = Doc::with_client_id(7);
        let text = writer.get_or_insert_text(TEXT_NAME);
        let mut expected = String::new();
        let snapshot = {
            let mut txn = writer.transact_mut();
            text.insert(&mut txn, 0, "start ");
            expected.push_str("start ");
            txn.encode_update_v1()
        };
        // Typing at positions that wander through the text, and deleting now and then, so
        // items are split and later rows depend on rows of earlier batches.
        let mut rows = Vec::new();
        for i in 0..(3 * LOAD_BATCH_ROWS + 17) {
            let mut txn = writer.transact_mut();
            let at = (i * 7919) % (expected.len() + 1);
            if i % 5 == 4 && at < expected.len() {
                text.remove_range(&mut txn, at as u32, 1);
                expected.remove(at);
            } else {
                let c = char::from(b'a' + (i % 26) as u8);
                text.insert(&mut txn, at as u32, &c.to_string());
                expected.insert(at, c);
            }
            rows.push(txn.encode_update_v1());
        }
        assert_eq!(text.get_string(&writer.transact()), expected);

        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(&dir.path().join("room.sqlite3"), 0).unwrap();
        let name = DocName::parse("doc").unwrap();
        let whole = StoredDoc {
            snapshot: Some(snapshot.clone()),
            updates: rows.clone(),
            quarantined: Vec::new(),
        };
        let (doc, built) = build_doc(&name, &whole, &journal).unwrap();
        assert_eq!(built.get_string(&doc.transact()), expected);

        // A quarantined row inside the second batch: only its edit is missing.
        let skipped = LOAD_BATCH_ROWS + 40;
        let without = {
            let doc = Doc::new();
            let text = doc.get_or_insert_text(TEXT_NAME);
            let mut txn = doc.transact_mut();
            for row in std::iter::once(&snapshot)
                .chain(&rows)
                .enumerate()
                .filter(|(i, _)| *i != skipped + 1)
                .map(|(_, r)| r)
            {
                txn.apply_update(Update::decode_v1(row).unwrap()).unwrap();
            }
            drop(txn);
            let out = text.get_string(&doc.transact());
            out
        };
        let quarantined = StoredDoc {
            quarantined: vec![rows[skipped].clone()],
            ..whole
        };
        let (doc, built) = build_doc(&name, &quarantined, &journal).unwrap();
        assert_eq!(built.get_string(&doc.transact()), without);
        assert_ne!(without, expected, "the skipped row held an edit");
    }
}
