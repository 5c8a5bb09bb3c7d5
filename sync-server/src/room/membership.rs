//! Membership: who is in a room (`Member`), joining and leaving, and client-id ownership
//! (`Owner`, `ClientIds`).

use std::collections::HashMap;
use std::time::Instant;

use yrs::{ReadTxn, StateVector, Transact};

use super::{Deferred, Effects, Room, State};
use crate::conn::{Conn, ConnId};
use crate::limits::TokenBucket;
use crate::protocol::message::{encode_limits, encode_sync_step1};
use crate::protocol::presence::encode_entries;
use collab_core::validate::ClientRange;

pub(super) struct Member {
    pub conn: Conn,
    /// How many update-carrying messages (SyncStep2, Update) this connection has sent.
    pub updates_received: u64,
    /// A read-only connection had an edit refused: it is never acknowledged again, since its
    /// count would cover what was not saved.
    pub refused_edit: bool,
    /// What its updates may cost in position checks (`collab_core::order`).
    pub position_checks: TokenBucket,
}

impl Room {
    /// A new connection: it gets our state vector and everyone's presence.
    pub fn join(&mut self, conn: Conn) -> Effects {
        self.join_now(conn);
        self.take()
    }

    pub(super) fn join_now(&mut self, conn: Conn) {
        let loaded = match &mut self.state {
            State::Loading { queue } => return queue.push(Deferred::Join(conn)),
            State::Ready(loaded) => loaded,
        };
        let state_vector = loaded.doc.transact().state_vector();
        if conn.wants_ext {
            let settings = &self.context.settings;
            let limits = encode_limits(
                settings.max_message_size as u64,
                settings.max_document_size as u64,
            );
            self.send(conn.clone(), limits);
        }
        self.send(conn.clone(), encode_sync_step1(&state_vector));
        if let Some(everyone) = self.presence.encode_all() {
            self.send(conn.clone(), everyone);
        }
        tracing::debug!(doc = %self.name, conn = %conn.id, "joined");
        let settings = &self.context.settings;
        self.members.insert(
            conn.id,
            Member {
                conn,
                updates_received: 0,
                refused_edit: false,
                position_checks: TokenBucket::new(
                    settings.position_checks.0,
                    settings.position_checks.1,
                    Instant::now(),
                ),
            },
        );
        self.idle_since = None;
    }

    /// A connection closed: its presence goes with it.
    pub fn leave(&mut self, id: ConnId, now: Instant) -> Effects {
        if let State::Loading { queue } = &mut self.state {
            queue.retain(|d| match d {
                Deferred::Join(conn) => conn.id != id,
                Deferred::Frame(from, _) => *from != id,
                Deferred::ReadText(_)
                | Deferred::Relayed(_)
                | Deferred::ServerChange(..)
                | Deferred::Export(_)
                | Deferred::History(_) => true,
            });
        }
        self.history.forget(id);
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
        self.take()
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }
}

/// Who owns a client id: the user a token names, or (without tokens) one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Owner {
    Conn(ConnId),
    User(String),
}

impl Owner {
    pub fn of(conn: &Conn) -> Owner {
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
pub(super) struct ClientIds {
    owners: HashMap<u64, Owner>,
}

impl ClientIds {
    /// Binds the ids `ranges` introduce new items under to `owner`; `Err(client)` when one is
    /// owned by someone else. Ranges the document already holds (a resend) need no claim.
    /// `known` is the document's state vector.
    pub fn claim(
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

    /// Whether some owner holds `client` (a server edit picks one nobody does).
    pub fn is_claimed(&self, client: u64) -> bool {
        self.owners.contains_key(&client)
    }

    pub fn release(&mut self, owner: &Owner) {
        self.owners.retain(|_, current| current != owner);
    }
}
