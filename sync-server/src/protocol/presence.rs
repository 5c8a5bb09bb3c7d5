//! `Presence`: the awareness states of one document, which connection set each, and when.
//!
//! Follows y-protocols' rules: an entry wins when its clock is newer, or when it removes a
//! state at the same clock. States disappear when their connection closes or after they have
//! been silent for the awareness timeout (clients renew every 15 s; the timeout is 30 s).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::message::{encode_awareness, AwarenessEntry};
use crate::conn::ConnId;

/// How many client ids one connection may hold states for. A browser tab has one; a page
/// with several editors on one socket has a few.
pub const MAX_CLIENTS_PER_CONNECTION: usize = 16;

#[derive(Debug, Default)]
pub struct Presence {
    clients: HashMap<u64, ClientPresence>,
}

#[derive(Debug)]
struct ClientPresence {
    clock: u32,
    /// `None` once removed: the clock is remembered so a stale update cannot revive it.
    state: Option<Arc<str>>,
    owner: ConnId,
    last_seen: Instant,
}

impl Presence {
    /// Applies an awareness update sent by `owner`; returns the entries that took effect,
    /// which are what the room broadcasts.
    pub fn apply(
        &mut self,
        owner: ConnId,
        entries: Vec<AwarenessEntry>,
        now: Instant,
    ) -> Vec<AwarenessEntry> {
        self.apply_capped(owner, entries, now, MAX_CLIENTS_PER_CONNECTION)
    }

    /// Applies awareness entries relayed by another instance, `owner` standing for it: the
    /// same rules, but no per-connection cap (one instance relays many connections' states;
    /// each was capped where its connection is).
    pub fn apply_relayed(
        &mut self,
        owner: ConnId,
        entries: Vec<AwarenessEntry>,
        now: Instant,
    ) -> Vec<AwarenessEntry> {
        self.apply_capped(owner, entries, now, usize::MAX)
    }

    fn apply_capped(
        &mut self,
        owner: ConnId,
        entries: Vec<AwarenessEntry>,
        now: Instant,
        cap: usize,
    ) -> Vec<AwarenessEntry> {
        let mut applied = Vec::new();
        for entry in entries {
            let newer = match self.clients.get(&entry.client) {
                None => true,
                Some(current) => {
                    current.clock < entry.clock
                        || (current.clock == entry.clock
                            && entry.state.is_none()
                            && current.state.is_some())
                }
            };
            if !newer {
                continue;
            }
            // A live state belongs to the connection that set it: nobody else may change or
            // clear it (it goes when that connection closes or falls silent).
            let held_by_other = self
                .clients
                .get(&entry.client)
                .is_some_and(|c| c.owner != owner && c.state.is_some());
            if held_by_other {
                tracing::warn!(conn = %owner, client = entry.client, "awareness: refused a change to another connection's state");
                continue;
            }
            let owns_already = self
                .clients
                .get(&entry.client)
                .is_some_and(|c| c.owner == owner && c.state.is_some());
            if entry.state.is_some() && !owns_already && self.live_count(owner) >= cap {
                tracing::warn!(conn = %owner, client = entry.client, "awareness: too many clients on one connection, entry ignored");
                continue;
            }
            self.clients.insert(
                entry.client,
                ClientPresence {
                    clock: entry.clock,
                    state: entry.state.clone(),
                    owner,
                    last_seen: now,
                },
            );
            applied.push(entry);
        }
        applied
    }

    /// Removes every state `owner` holds (its socket closed); returns the removals to broadcast.
    pub fn remove_owner(&mut self, owner: ConnId) -> Vec<AwarenessEntry> {
        let mut removed = Vec::new();
        for (&client, presence) in self.clients.iter_mut() {
            if presence.owner == owner && presence.state.is_some() {
                presence.clock += 1;
                presence.state = None;
                removed.push(AwarenessEntry {
                    client,
                    clock: presence.clock,
                    state: None,
                });
            }
        }
        removed
    }

    /// Removes states silent for longer than `timeout`, forgets old removals; returns the
    /// removals to broadcast.
    pub fn sweep(&mut self, now: Instant, timeout: Duration) -> Vec<AwarenessEntry> {
        let mut removed = Vec::new();
        self.clients.retain(|&client, presence| {
            if now.saturating_duration_since(presence.last_seen) <= timeout {
                return true;
            }
            if presence.state.is_none() {
                return false;
            }
            presence.clock += 1;
            presence.state = None;
            presence.last_seen = now;
            removed.push(AwarenessEntry {
                client,
                clock: presence.clock,
                state: None,
            });
            true
        });
        removed
    }

    /// Every live state as one awareness message, for a newcomer; `None` when nobody is here.
    pub fn encode_all(&self) -> Option<Bytes> {
        let live: Vec<_> = self
            .clients
            .iter()
            .filter_map(|(&client, p)| p.state.as_deref().map(|s| (client, p.clock, Some(s))))
            .collect();
        (!live.is_empty()).then(|| encode_awareness(live.into_iter()))
    }

    /// The live states whose owner `keep` accepts, as one awareness message (for another
    /// instance asking for this one's users); `None` when there are none.
    pub fn encode_owned_by(&self, keep: impl Fn(ConnId) -> bool) -> Option<Bytes> {
        let live: Vec<_> = self
            .clients
            .iter()
            .filter(|(_, p)| keep(p.owner))
            .filter_map(|(&client, p)| p.state.as_deref().map(|s| (client, p.clock, Some(s))))
            .collect();
        (!live.is_empty()).then(|| encode_awareness(live.into_iter()))
    }

    /// How many clients currently have a state.
    pub fn live_len(&self) -> usize {
        self.clients.values().filter(|p| p.state.is_some()).count()
    }

    fn live_count(&self, owner: ConnId) -> usize {
        self.clients
            .values()
            .filter(|p| p.owner == owner && p.state.is_some())
            .count()
    }
}

/// Encodes entries that took effect, for broadcasting.
pub fn encode_entries(entries: &[AwarenessEntry]) -> Bytes {
    encode_awareness(
        entries
            .iter()
            .map(|e| (e.client, e.clock, e.state.as_deref())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(client: u64, clock: u32, state: Option<&str>) -> AwarenessEntry {
        AwarenessEntry {
            client,
            clock,
            state: state.map(Into::into),
        }
    }

    #[test]
    fn newer_clocks_win_and_stale_ones_are_ignored() {
        let (a, now) = (ConnId::next(), Instant::now());
        let mut presence = Presence::default();
        assert_eq!(
            presence.apply(a, vec![entry(1, 2, Some("{}"))], now).len(),
            1
        );
        assert!(presence
            .apply(a, vec![entry(1, 1, Some(r#"{"x":1}"#))], now)
            .is_empty());
        assert!(presence
            .apply(a, vec![entry(1, 2, Some(r#"{"x":1}"#))], now)
            .is_empty());
        // A removal at the same clock wins.
        assert_eq!(presence.apply(a, vec![entry(1, 2, None)], now).len(), 1);
        assert_eq!(presence.live_len(), 0);
        assert!(presence.encode_all().is_none());
    }

    #[test]
    fn closing_a_connection_removes_only_its_states() {
        let (a, b, now) = (ConnId::next(), ConnId::next(), Instant::now());
        let mut presence = Presence::default();
        presence.apply(a, vec![entry(1, 1, Some("{}"))], now);
        presence.apply(b, vec![entry(2, 1, Some("{}"))], now);
        assert_eq!(presence.remove_owner(a), vec![entry(1, 2, None)]);
        assert_eq!(presence.live_len(), 1);
        // Once a's state is gone, its client id can come back on a new socket.
        assert_eq!(
            presence.apply(b, vec![entry(1, 3, Some("{}"))], now).len(),
            1
        );
        assert!(presence.remove_owner(a).is_empty());
        assert_eq!(presence.live_len(), 2);
    }

    #[test]
    fn nobody_may_change_or_clear_another_connections_state() {
        let (a, b, now) = (ConnId::next(), ConnId::next(), Instant::now());
        let mut presence = Presence::default();
        presence.apply(
            a,
            vec![entry(1, 1, Some(r#"{"user":{"name":"Ada"}}"#))],
            now,
        );
        assert!(presence
            .apply(
                b,
                vec![entry(1, 2, Some(r#"{"user":{"name":"Eve"}}"#))],
                now
            )
            .is_empty());
        assert!(presence.apply(b, vec![entry(1, 2, None)], now).is_empty());
        assert_eq!(presence.live_len(), 1);
    }

    #[test]
    fn silent_states_are_swept() {
        let (a, start) = (ConnId::next(), Instant::now());
        let mut presence = Presence::default();
        presence.apply(a, vec![entry(1, 1, Some("{}"))], start);
        let timeout = Duration::from_secs(30);
        assert!(presence
            .sweep(start + Duration::from_secs(29), timeout)
            .is_empty());
        let removed = presence.sweep(start + Duration::from_secs(31), timeout);
        assert_eq!(removed, vec![entry(1, 2, None)]);
        assert_eq!(presence.live_len(), 0);
        // The removal itself is forgotten after another timeout.
        presence.sweep(start + Duration::from_secs(62), timeout);
        assert!(presence.clients.is_empty());
    }

    #[test]
    fn relayed_states_are_not_capped_and_stay_their_owners() {
        let (instance, local, now) = (ConnId::next(), ConnId::next(), Instant::now());
        let mut presence = Presence::default();
        let many = (0..100).map(|c| entry(c, 1, Some("{}"))).collect();
        assert_eq!(presence.apply_relayed(instance, many, now).len(), 100);
        // A local connection cannot clear them; the instance going away does.
        assert!(presence
            .apply(local, vec![entry(1, 2, None)], now)
            .is_empty());
        presence.apply(local, vec![entry(500, 1, Some("{}"))], now);
        assert!(presence.encode_owned_by(|o| o == local).is_some());
        assert_eq!(presence.remove_owner(instance).len(), 100);
        assert_eq!(presence.live_len(), 1);
    }

    #[test]
    fn one_connection_cannot_flood_presence() {
        let (a, now) = (ConnId::next(), Instant::now());
        let mut presence = Presence::default();
        let flood = (0..1000).map(|c| entry(c, 1, Some("{}"))).collect();
        let applied = presence.apply(a, flood, now);
        assert_eq!(applied.len(), MAX_CLIENTS_PER_CONNECTION);
        assert_eq!(presence.live_len(), MAX_CLIENTS_PER_CONNECTION);
    }
}
