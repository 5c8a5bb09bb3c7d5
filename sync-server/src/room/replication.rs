//! Replication: a member's sync messages, and the one apply pipeline every update goes
//! through — a member's, one another instance relayed, or the difference a resync found in
//! storage: validated, checked against the quarantine, applied under the crash journal, then
//! broadcast; a member's update is also persisted, published and acknowledged.

use std::time::Instant;

use bytes::Bytes;
use yrs::{ReadTxn, Transact};

use super::membership::Owner;
use super::{Ack, Effect, Frames, Publication, Room, State};
use crate::conn::ConnId;
use crate::pieces::{piece_size, update_frames, PieceSize};
use crate::protocol::message::encode_permission_denied;
use crate::protocol::Incoming;
use crate::storage::{Attribution, Author, Write};
use collab_core::engine::{would_change, Applied, Source};
use collab_core::validate::{validate_update_v1_shape, Shape};
use collab_core::wire::close_code;

/// Where an update comes from.
pub(super) enum Origin {
    /// A member; `ack`: it asked to hear when its update is durable.
    Client { id: ConnId, ack: Option<Ack> },
    /// Another instance, which applied and stored it (`from_redis`), or the difference
    /// storage holds (a resync): applied and broadcast here, neither stored nor acknowledged.
    /// Client-id ownership is per instance, so it neither claims ids nor is refused by local
    /// claims.
    Relay { from_redis: bool },
    /// The server itself (`server_edit`: a new text, an import), already checked against the
    /// quarantine, the size limit and members' client ids: applied like a member's update
    /// (stored, broadcast, published); `reply` hears once it is durable, or why not. `by`: the
    /// token user who asked.
    Server {
        reply: super::ChangeReply,
        by: Option<Author>,
    },
}

impl Room {
    /// Handles one message; `false` when the rest of the frame must not be processed.
    pub(super) fn message(&mut self, id: ConnId, message: Incoming) -> bool {
        if !matches!(self.state, State::Ready(_)) {
            return false;
        }
        let Some(member) = self.members.get_mut(&id) else {
            return false;
        };
        match message {
            Incoming::SyncStep1(state_vector) => {
                // Whatever its size, the answer goes in pieces that fit (`pieces`); the whole
                // document, what every joiner asks for, is encoded once per version.
                let piece = piece_size(self.context.settings.max_message_size);
                let State::Ready(loaded) = &mut self.state else {
                    return false;
                };
                let frames = if state_vector.is_empty() {
                    loaded.whole_frames(piece)
                } else {
                    loaded.diff_frames(&state_vector, piece)
                };
                match frames {
                    Ok(frames) => self.out.push(Effect::Send {
                        to: member.conn.clone(),
                        frames: Frames::Pieces(frames),
                    }),
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
                return self.apply(update, Origin::Client { id, ack });
            }
            Incoming::Awareness(entries) => self.member_awareness(id, entries),
            Incoming::AwarenessQuery => self.awareness_query(id),
            Incoming::Auth => {
                tracing::debug!(doc = %self.name, conn = %id, "ignored auth message from a client");
            }
            Incoming::Unknown(tag) => {
                tracing::warn!(doc = %self.name, conn = %id, tag, "ignored message with unknown tag");
            }
        }
        true
    }

    /// An update from another instance (queued while loading).
    pub(super) fn relayed_update(&mut self, update: Vec<u8>) {
        match &mut self.state {
            State::Loading { queue } => queue.push(super::Deferred::Relayed(update)),
            State::Ready(_) => {
                self.apply(update, Origin::Relay { from_redis: true });
            }
        }
    }

    /// A change applied here from a member or the API: broadcast to the members, published
    /// to other instances (which apply it but do not store it), and the append that stores
    /// it here.
    fn spread(
        &mut self,
        update: Vec<u8>,
        text_bytes: u64,
        origin: String,
        by: Attribution,
    ) -> Write {
        let update = Bytes::from(update);
        self.broadcast_update(&update);
        self.publish(Publication::Update(update.clone()));
        Write::Append {
            doc: self.name.clone(),
            update: update.into(),
            origin,
            text_bytes,
            by,
        }
    }

    /// The apply pipeline. For a member's update, `false` when the rest of its frame must
    /// not be processed (it is being closed, or the document reloads).
    pub(super) fn apply(&mut self, update: Vec<u8>, origin: Origin) -> bool {
        // Check the bytes before yrs sees them, and who may write under which client id.
        let client = match &origin {
            Origin::Client { id, .. } => Some(*id),
            Origin::Relay { .. } | Origin::Server { .. } => None,
        };
        let Some(shape) = self.validate(client, &update) else {
            return false;
        };
        let ranges = &shape.ranges;
        let State::Ready(loaded) = &mut self.state else {
            return false;
        };
        if loaded.quarantine.holds(&update, ranges) {
            match client {
                Some(id) => {
                    tracing::warn!(doc = %self.name, conn = %id, "refused a quarantined update");
                    self.close_member(
                        id,
                        close_code::UPDATE_REJECTED,
                        "update is quarantined: it crashed the server before",
                    );
                }
                None => tracing::warn!(doc = %self.name, "refused a quarantined relayed update"),
            }
            return false;
        }
        let mut owner = None;
        if let Some(id) = client {
            let Some(member) = self.members.get(&id) else {
                return false;
            };
            owner = Some(Owner::of(&member.conn));
            let max = self.context.settings.max_document_size;
            if let Some(reason) = loaded.over_size_limit(&update, ranges, max) {
                tracing::warn!(doc = %self.name, conn = %id, %reason, "refused an update past the document size limit");
                self.close_member(id, close_code::DOCUMENT_TOO_LARGE, &reason);
                return false;
            }
        }
        // What the document holds per client, before this update: for ownership and deletes.
        let known = loaded.doc.transact().state_vector();
        if let (Some(id), Some(owner)) = (client, &owner) {
            if let Err(client) = self.client_ids.claim(owner, ranges, &known) {
                tracing::warn!(doc = %self.name, conn = %id, client, "refused an update writing under another connection's client id");
                self.close_member(
                    id,
                    close_code::NOT_YOUR_CLIENT_ID,
                    &format!("client id {client} belongs to another connection"),
                );
                return false;
            }
        }
        // What this update inserts and deletes is counted from here (see `attribute`).
        loaded.edits.take();
        let source = match origin {
            Origin::Client { .. } | Origin::Server { .. } => Source::Client,
            Origin::Relay { .. } => Source::Relay,
        };
        let (applied, cost) = loaded.apply_journaled(
            &*self.context.journal,
            &self.name,
            &update,
            &shape,
            &known,
            source,
        );
        // Position checks walk the document: what a connection may cost is bounded. The update
        // stays (it was valid); the connection is closed, as for other rates. Relayed: no
        // connection here to charge them to.
        if let Some(member) = client.and_then(|id| self.members.get_mut(&id)) {
            if !member.position_checks.take(cost, Instant::now()) {
                tracing::warn!(doc = %self.name, conn = %member.conn.id, cost, "closing a connection over its position-check rate");
                self.out.push(Effect::Close {
                    conn: member.conn.clone(),
                    code: close_code::RATE_LIMITED,
                    reason: "too many updates that need position checks".into(),
                });
            }
        }
        match (applied, origin) {
            (Applied::Changed, Origin::Client { id, ack }) => {
                let text_bytes = loaded.appended(update.len());
                let user = self.members.get(&id).and_then(|m| m.conn.user.clone());
                let origin = user.map_or_else(|| id.to_string(), |u| u.id.clone());
                let by = self.attribute(self.author_of_member(id), Instant::now());
                let write = self.spread(update, text_bytes, origin, by);
                self.out.push(Effect::Persist { write, ack });
                self.compact_if_due();
                true
            }
            (Applied::Changed, Origin::Server { reply, by }) => {
                let text_bytes = loaded.appended(update.len());
                let author = by.unwrap_or_else(|| Author {
                    id: "server".into(),
                    name: None,
                    verified: false,
                });
                let origin = author.id.clone();
                let by = self.attribute(author, Instant::now());
                let write = self.spread(update, text_bytes, origin, by);
                self.out.push(Effect::AfterCommit {
                    write: Some(write),
                    watcher: super::OnCommit::new(reply),
                });
                self.compact_if_due();
                true
            }
            (Applied::Unchanged, Origin::Server { reply, .. }) => {
                self.out.push(Effect::AfterCommit {
                    write: None,
                    watcher: super::OnCommit::new(reply),
                });
                true
            }
            (Applied::Refused(reason), Origin::Server { reply, .. }) => {
                self.answer(reply, super::ChangeRefused::Invalid(reason));
                false
            }
            (Applied::Misplaced(reason), Origin::Server { reply, .. }) => {
                self.answer(reply, super::ChangeRefused::Invalid(reason));
                self.reload();
                false
            }
            (Applied::Broken(reason), Origin::Server { reply, .. }) => {
                tracing::error!(doc = %self.name, %reason, "a server change broke the document; reloading it");
                self.answer(
                    reply,
                    super::ChangeRefused::Invalid(format!("update could not be applied: {reason}")),
                );
                self.reload();
                false
            }
            (Applied::Changed, Origin::Relay { .. }) => {
                loaded.changed(update.len());
                self.broadcast_update(&update);
                true
            }
            (Applied::Unchanged, Origin::Client { ack, .. }) => {
                self.out.extend(ack.map(Effect::Ack));
                true
            }
            (Applied::Unchanged, Origin::Relay { .. }) => true,
            (Applied::Refused(reason), Origin::Client { id, .. }) => {
                tracing::warn!(doc = %self.name, conn = %id, %reason, "refused update");
                self.close_member(id, close_code::UPDATE_REJECTED, &reason);
                false
            }
            (Applied::Refused(reason), Origin::Relay { from_redis }) => {
                // Most likely it depends on something missed in a gap: storage has it.
                tracing::warn!(doc = %self.name, %reason, "refused a relayed update");
                if from_redis {
                    self.resync_now(false);
                }
                false
            }
            (Applied::Misplaced(reason), Origin::Client { id, .. }) => {
                tracing::warn!(doc = %self.name, conn = %id, %reason, "refused update; reloading the document");
                self.close_member(id, close_code::UPDATE_REJECTED, &reason);
                self.reload();
                false
            }
            (Applied::Broken(reason), Origin::Client { id, .. }) => {
                tracing::error!(doc = %self.name, conn = %id, %reason, "update broke the document; dropping it and reloading");
                self.close_member(
                    id,
                    close_code::UPDATE_REJECTED,
                    "update could not be applied",
                );
                self.reload();
                false
            }
            (Applied::Misplaced(reason) | Applied::Broken(reason), Origin::Relay { .. }) => {
                tracing::error!(doc = %self.name, %reason, "a relayed update broke the document; reloading it");
                self.reload();
                false
            }
        }
    }

    /// An update from a read-only connection: accepted only if it changes nothing (a stock
    /// client's SyncStep2 repeating what we have, deletions included); otherwise refused with a
    /// permission-denied message, and the connection stays open.
    fn read_only_update(&mut self, id: ConnId, update: Vec<u8>, ack: Option<Ack>) -> bool {
        let Some(shape) = self.validate(Some(id), &update) else {
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
            let denied = encode_permission_denied("read-only access: edits are not accepted");
            let conn = member.conn.clone();
            self.send(conn, denied);
        } else if let Some(ack) = ack.filter(|_| !member.refused_edit) {
            self.out.push(Effect::Ack(ack));
        }
        true
    }

    /// Runs the pre-validator on an update: what it writes, or `None` after refusing it (a
    /// member's closes its connection, 4400).
    fn validate(&mut self, client: Option<ConnId>, update: &[u8]) -> Option<Shape> {
        let valid = match self.context.settings.skip_validation {
            false => validate_update_v1_shape(update),
            true => Ok(Shape::default()),
        };
        match (valid, client) {
            (Ok(shape), _) => Some(shape),
            (Err(err), Some(id)) => {
                let reason = format!("invalid update: {err}");
                tracing::warn!(doc = %self.name, conn = %id, %reason, "refused update");
                self.close_member(id, close_code::UPDATE_REJECTED, &reason);
                None
            }
            (Err(err), None) => {
                tracing::warn!(doc = %self.name, error = %err, "refused an invalid relayed update");
                None
            }
        }
    }

    /// An update to every member, in pieces if it is large (see `pieces`).
    fn broadcast_update(&mut self, update: &[u8]) {
        let frames = update_frames(update, self.piece_size());
        for member in self.members.values() {
            self.out.push(Effect::Send {
                to: member.conn.clone(),
                frames: Frames::Pieces(frames.clone()),
            });
        }
    }

    /// Most bytes of update in one frame sent to a client.
    pub(super) fn piece_size(&self) -> PieceSize {
        piece_size(self.context.settings.max_message_size)
    }
}
