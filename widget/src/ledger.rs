//! `Ledger`, pure: the local changes the server has not yet acknowledged as durable, which
//! message on the current socket carried each, and when everything was last saved.
//!
//! One entry per local change (an input, an undo, a redo), oldest first. An entry is *sent*
//! once a message on the current socket carries it, tagged with that message's number in the
//! socket's count of update-carrying messages; the server's ack count (everything up to that
//! number is committed) removes the sent entries it covers. Unsent entries are always the
//! newest ones: every step below tags either the unsent tail or all of them.

use std::collections::VecDeque;

/// The unsaved local changes and the time of the last save.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// Per change: the message number that carried it on this socket, `None` if unsent.
    entries: VecDeque<Option<u64>>,
    saved_at_ms: Option<f64>,
}

/// What an ack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    /// It covered no entry.
    Nothing,
    /// It removed this many entries; some are still unsaved.
    Some(usize),
    /// It removed the last unsaved entries: everything is durable now.
    All(usize),
}

impl Ledger {
    /// A local change was made; it is unsent until [`Ledger::sent`] or
    /// [`Ledger::sent_all`] tags it.
    pub fn record(&mut self) {
        self.entries.push_back(None);
    }

    /// `count` changes kept on this device from an earlier page (not durable when it was
    /// stored): unsent, like changes typed now; the next handshake carries them.
    pub fn restored(&mut self, count: usize) {
        self.entries.extend(std::iter::repeat_n(None, count));
    }

    /// The message numbered `carried` (on the current socket) carried every change not yet
    /// sent (a flush of the queued updates).
    pub fn sent(&mut self, carried: u64) {
        for entry in self.entries.iter_mut().rev().take_while(|e| e.is_none()) {
            *entry = Some(carried);
        }
    }

    /// The message numbered `carried` carried every change there is (the handshake's
    /// SyncStep2, which holds everything the server lacks).
    pub fn sent_all(&mut self, carried: u64) {
        self.entries
            .iter_mut()
            .for_each(|entry| *entry = Some(carried));
    }

    /// The socket closed: nothing sent on it is known to be durable, so every change is
    /// unsent again (the next handshake carries them all).
    pub fn socket_lost(&mut self) {
        self.entries.iter_mut().for_each(|entry| *entry = None);
    }

    /// The server says the first `count` update-carrying messages on the current socket are
    /// durable, at `now_ms`: removes the changes they carried.
    pub fn ack(&mut self, count: u64, now_ms: f64) -> Acked {
        let before = self.entries.len();
        while matches!(self.entries.front(), Some(Some(carried)) if *carried <= count) {
            self.entries.pop_front();
        }
        let removed = before - self.entries.len();
        match removed {
            0 => Acked::Nothing,
            _ if self.entries.is_empty() => {
                self.saved_at_ms = Some(now_ms);
                Acked::All(removed)
            }
            _ => Acked::Some(removed),
        }
    }

    /// How many local changes are not yet durable.
    pub fn unsaved(&self) -> usize {
        self.entries.len()
    }

    pub fn is_saved(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many unsaved changes no message on the current socket has carried yet.
    pub fn unsent(&self) -> usize {
        self.entries
            .iter()
            .rev()
            .take_while(|e| e.is_none())
            .count()
    }

    /// When an ack last left nothing unsaved (`Date.now()` ms), if one has.
    pub fn saved_at_ms(&self) -> Option<f64> {
        self.saved_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_saved_only_when_an_ack_covers_the_message_that_carried_it() {
        let mut ledger = Ledger::default();
        assert!(ledger.is_saved());
        ledger.record();
        ledger.record();
        assert_eq!((ledger.unsaved(), ledger.unsent()), (2, 2));
        // An ack before anything was sent on this socket covers nothing.
        assert_eq!(ledger.ack(5, 1.0), Acked::Nothing);
        assert_eq!(ledger.unsaved(), 2);

        ledger.sent(3);
        ledger.record();
        ledger.sent(4);
        assert_eq!((ledger.unsaved(), ledger.unsent()), (3, 0));
        assert_eq!(ledger.ack(2, 10.0), Acked::Nothing);
        assert_eq!(ledger.ack(3, 20.0), Acked::Some(2));
        assert_eq!(ledger.saved_at_ms(), None);
        assert_eq!(ledger.ack(4, 30.0), Acked::All(1));
        assert!(ledger.is_saved());
        assert_eq!(ledger.saved_at_ms(), Some(30.0));
        // A repeated ack changes nothing, not even the time of the save.
        assert_eq!(ledger.ack(4, 40.0), Acked::Nothing);
        assert_eq!(ledger.saved_at_ms(), Some(30.0));
    }

    #[test]
    fn a_flush_tags_only_the_changes_not_yet_sent() {
        let mut ledger = Ledger::default();
        ledger.record();
        ledger.sent(1);
        ledger.record();
        ledger.record();
        ledger.sent(2);
        // Acking message 1 leaves the two changes message 2 carried.
        assert_eq!(ledger.ack(1, 0.0), Acked::Some(1));
        assert_eq!(ledger.unsaved(), 2);
        assert_eq!(ledger.ack(2, 0.0), Acked::All(2));
    }

    #[test]
    fn a_lost_socket_makes_every_change_unsent_and_the_handshake_carries_them_all() {
        let mut ledger = Ledger::default();
        ledger.record();
        ledger.sent(7);
        ledger.record();
        ledger.socket_lost();
        assert_eq!((ledger.unsaved(), ledger.unsent()), (2, 2));
        // The old socket's numbers mean nothing on the new one: its ack 7 must not count.
        assert_eq!(ledger.ack(7, 0.0), Acked::Nothing);
        // The new socket's SyncStep2 (its message 3) carries both.
        ledger.sent_all(3);
        assert_eq!(ledger.unsent(), 0);
        assert_eq!(ledger.ack(2, 0.0), Acked::Nothing);
        assert_eq!(ledger.ack(3, 5.0), Acked::All(2));
        assert_eq!(ledger.saved_at_ms(), Some(5.0));
    }

    #[test]
    fn changes_restored_from_this_device_wait_for_the_handshake_and_its_ack() {
        let mut ledger = Ledger::default();
        ledger.restored(3);
        ledger.record();
        assert_eq!((ledger.unsaved(), ledger.unsent()), (4, 4));
        ledger.sent_all(1);
        assert_eq!(ledger.ack(1, 9.0), Acked::All(4));
        assert_eq!(ledger.saved_at_ms(), Some(9.0));
        ledger.restored(0);
        assert!(ledger.is_saved());
    }

    #[test]
    fn changes_made_after_the_handshake_wait_for_their_own_message() {
        let mut ledger = Ledger::default();
        ledger.record();
        ledger.sent_all(1);
        ledger.record();
        assert_eq!(ledger.unsent(), 1);
        assert_eq!(ledger.ack(1, 0.0), Acked::Some(1));
        assert_eq!(ledger.unsaved(), 1);
        ledger.sent(2);
        assert_eq!(ledger.ack(2, 0.0), Acked::All(1));
    }
}
