//! Presence in a room: awareness from members (stamped with their token's identity), from
//! other instances, and its expiry.

use std::time::Instant;

use bytes::Bytes;

use super::{Effects, Publication, Relayed, Room};
use crate::conn::ConnId;
use crate::protocol::message::AwarenessEntry;
use crate::protocol::presence::encode_entries;
use crate::protocol::{decode_frame, Incoming};

impl Room {
    /// Awareness entries from member `id`.
    pub(super) fn member_awareness(&mut self, id: ConnId, mut entries: Vec<AwarenessEntry>) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        // With a token, the name and colour others see are the token's; without one, the
        // name the member claims is who its edits are by (unverified).
        if let Some(user) = &member.conn.user {
            for entry in &mut entries {
                if let Some(state) = &entry.state {
                    entry.state = Some(user.stamp(state).into());
                }
            }
        } else {
            for state in entries.iter().filter_map(|e| e.state.as_deref()) {
                self.history.claim(id, state);
            }
        }
        let applied = self.presence.apply(id, entries, Instant::now());
        if !applied.is_empty() {
            self.broadcast_presence(encode_entries(&applied));
        }
    }

    /// Member `id` asked for everyone's presence.
    pub(super) fn awareness_query(&mut self, id: ConnId) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        if let Some(everyone) = self.presence.encode_all() {
            let conn = member.conn.clone();
            self.send(conn, everyone);
        }
    }

    /// Presence changes made here: to local members, and to other instances.
    pub(super) fn broadcast_presence(&mut self, frame: Bytes) {
        self.broadcast(frame.clone());
        self.publish(Publication::Awareness(frame));
    }

    /// Expires presence not renewed within the awareness timeout.
    pub(super) fn sweep_presence(&mut self, now: Instant) {
        let expired = self
            .presence
            .sweep(now, self.context.settings.awareness_timeout);
        if !expired.is_empty() {
            self.broadcast_presence(encode_entries(&expired));
        }
    }

    /// A message from another instance.
    pub fn relayed(&mut self, relayed: Relayed) -> Effects {
        match relayed {
            Relayed::Update(update) => self.relayed_update(update),
            Relayed::Awareness { from, frame } => self.relayed_awareness(from, &frame),
            Relayed::Resync => {
                self.resync_now(false);
                self.publish_local_presence();
            }
            Relayed::AwarenessQuery => self.publish_local_presence(),
        }
        self.take()
    }

    fn relayed_awareness(&mut self, from: ConnId, frame: &[u8]) {
        let entries = match decode_frame(frame) {
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

    /// Sends the presence of this instance's own members to the other instances.
    fn publish_local_presence(&mut self) {
        if let Some(frame) = self
            .presence
            .encode_owned_by(|owner| self.members.contains_key(&owner))
        {
            self.publish(Publication::Awareness(frame));
        }
    }

    /// Another instance is gone: the presence it relayed goes, for local members to see.
    pub fn instance_gone(&mut self, instance: ConnId) -> Effects {
        let removed = self.presence.remove_owner(instance);
        if !removed.is_empty() {
            self.broadcast(encode_entries(&removed));
        }
        self.take()
    }
}
