//! Tabs of one browser on one document, pure: the notes they post each other (BroadcastChannel),
//! the channel's name, and the leader's bookkeeping of which socket message carried which
//! follower's changes.
//!
//! One tab per document is the *leader* (it holds a Web Lock): it alone has a socket, so one
//! connection writes every tab's client id and the server's ownership check holds. The others
//! are *followers*: they post their changes (`Push`, numbered by the follower) to the leader,
//! which applies them, sends them to the server and relays them (`Relay`), with the server's
//! updates and its own, to everyone. The server's acknowledgements go back as `Durable`. A
//! follower that (re)joins, or meets a new leader, says `Hello` with its state vector; the
//! leader answers `Welcome` with what the follower lacks and its own state vector, and the
//! follower pushes whatever the leader lacks. Presence goes straight from tab to tab.

use std::collections::VecDeque;

use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;

use crate::connection::{Refusal, State};
use crate::limits::Limits;

/// This tab's part among the tabs on its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No sharing (no BroadcastChannel or Web Locks): its own socket, as a lone tab.
    Alone,
    /// Waiting to hear whether another tab leads (nothing connects meanwhile).
    Deciding,
    /// Holds the lock and the socket.
    Leader,
    /// Another tab leads: changes go to it, the connection's state comes from it.
    Follower,
}

/// What one tab posts to the others.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// A follower (re)joins: its client id and state vector (v1).
    Hello { from: u64, state_vector: Vec<u8> },
    /// The leader's answer to `Hello`: what that tab lacks, and the leader's state vector.
    Welcome {
        to: u64,
        update: Vec<u8>,
        state_vector: Vec<u8>,
    },
    /// A follower's changes, its `seq`th push, for the leader to apply and send.
    Push {
        from: u64,
        seq: u64,
        update: Vec<u8>,
    },
    /// An update the leader holds (its own, a follower's, the server's); `from` is the tab
    /// whose change it is (0 for the server's), which need not apply it again.
    Relay { from: u64, update: Vec<u8> },
    /// The server acknowledged as durable tab `to`'s pushes up to `seq`.
    Durable { to: u64, seq: u64 },
    /// The leader's connection: its state, whether its socket is open, the server's limits.
    Link {
        state: State,
        online: bool,
        limits: Option<Limits>,
    },
    /// An awareness message as on the wire: tab `from`'s own state, or (`from` 0) the
    /// server's states, relayed by the leader.
    Awareness { from: u64, message: Vec<u8> },
    /// A follower's Retry button.
    Retry,
    /// Tab `from` has just become the leader.
    Leader { from: u64 },
    /// A tab's page forgot this device's copy (`forget()`, as at sign-out): every tab stops
    /// keeping it.
    Forget,
}

impl Note {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Note::Hello { from, state_vector } => {
                out.write_u8(0);
                out.write_var(*from);
                out.write_buf(state_vector);
            }
            Note::Welcome {
                to,
                update,
                state_vector,
            } => {
                out.write_u8(1);
                out.write_var(*to);
                out.write_buf(update);
                out.write_buf(state_vector);
            }
            Note::Push { from, seq, update } => {
                out.write_u8(2);
                out.write_var(*from);
                out.write_var(*seq);
                out.write_buf(update);
            }
            Note::Relay { from, update } => {
                out.write_u8(3);
                out.write_var(*from);
                out.write_buf(update);
            }
            Note::Durable { to, seq } => {
                out.write_u8(4);
                out.write_var(*to);
                out.write_var(*seq);
            }
            Note::Link {
                state,
                online,
                limits,
            } => {
                out.write_u8(5);
                let (kind, a, b) = match state {
                    State::Connecting { attempt } => (0, *attempt, 0),
                    State::Connected { attempt } => (1, *attempt, 0),
                    State::Waiting { attempt, delay_ms } => (2, *attempt, *delay_ms),
                    State::Refused(refusal) => (3, refusal_code(*refusal), 0),
                    State::Stopped => (4, 0, 0),
                };
                out.write_u8(kind);
                out.write_var(a);
                out.write_var(b);
                out.write_u8(u8::from(*online));
                if let Some(limits) = limits {
                    out.write_var(limits.max_message_size);
                    out.write_var(limits.max_document_size);
                }
            }
            Note::Awareness { from, message } => {
                out.write_u8(6);
                out.write_var(*from);
                out.write_buf(message);
            }
            Note::Retry => out.write_u8(7),
            Note::Leader { from } => {
                out.write_u8(8);
                out.write_var(*from);
            }
            Note::Forget => out.write_u8(9),
        }
        out
    }

    /// `None` for anything unreadable (a newer widget's note, a damaged one).
    pub fn decode(bytes: &[u8]) -> Option<Note> {
        let mut r = Cursor::new(bytes);
        let buf = |r: &mut Cursor| r.read_buf().ok().map(<[u8]>::to_vec);
        let var = |r: &mut Cursor| r.read_var::<u64>().ok();
        let note = match r.read_u8().ok()? {
            0 => Note::Hello {
                from: var(&mut r)?,
                state_vector: buf(&mut r)?,
            },
            1 => Note::Welcome {
                to: var(&mut r)?,
                update: buf(&mut r)?,
                state_vector: buf(&mut r)?,
            },
            2 => Note::Push {
                from: var(&mut r)?,
                seq: var(&mut r)?,
                update: buf(&mut r)?,
            },
            3 => Note::Relay {
                from: var(&mut r)?,
                update: buf(&mut r)?,
            },
            4 => Note::Durable {
                to: var(&mut r)?,
                seq: var(&mut r)?,
            },
            5 => {
                let kind = r.read_u8().ok()?;
                let a = r.read_var::<u32>().ok()?;
                let b = r.read_var::<u32>().ok()?;
                let state = match kind {
                    0 => State::Connecting { attempt: a },
                    1 => State::Connected { attempt: a },
                    2 => State::Waiting {
                        attempt: a,
                        delay_ms: b,
                    },
                    3 => State::Refused(refusal_from(a)?),
                    4 => State::Stopped,
                    _ => return None,
                };
                let online = r.read_u8().ok()? == 1;
                let limits = match (var(&mut r), var(&mut r)) {
                    (Some(max_message_size), Some(max_document_size)) => Some(Limits {
                        max_message_size,
                        max_document_size,
                    }),
                    _ => None,
                };
                Note::Link {
                    state,
                    online,
                    limits,
                }
            }
            6 => Note::Awareness {
                from: var(&mut r)?,
                message: buf(&mut r)?,
            },
            7 => Note::Retry,
            8 => Note::Leader { from: var(&mut r)? },
            9 => Note::Forget,
            _ => return None,
        };
        Some(note)
    }
}

fn refusal_code(refusal: Refusal) -> u32 {
    match refusal {
        Refusal::Unauthorized => 0,
        Refusal::DocumentTooLarge => 1,
        Refusal::MessageTooLarge => 2,
        Refusal::UpdateRejected => 3,
        Refusal::Malformed => 4,
        Refusal::Deleted => 5,
    }
}

fn refusal_from(code: u32) -> Option<Refusal> {
    Some(match code {
        0 => Refusal::Unauthorized,
        1 => Refusal::DocumentTooLarge,
        2 => Refusal::MessageTooLarge,
        3 => Refusal::UpdateRejected,
        4 => Refusal::Malformed,
        5 => Refusal::Deleted,
        _ => return None,
    })
}

/// The channel's (and the leader lock's) name: one per stored copy (server URL and document)
/// and per user. Tabs share one connection, so only tabs that would connect as the same user
/// share: none without a token, the token's `sub` with one (read, not verified: it only keeps
/// two users' tabs apart), and all tabs with a token function (one signed-in user's app).
pub fn channel_name(record_key: &str, token: Option<&str>, token_fn: bool) -> String {
    let user = match (token_fn, token) {
        (true, _) => "(token function)".to_owned(),
        (false, None) => String::new(),
        (false, Some(token)) => token_subject(token).unwrap_or_else(|| "(token)".to_owned()),
    };
    format!("collab-textarea\n{record_key}\n{user}")
}

/// The `sub` claim of a JWT, unverified.
fn token_subject(token: &str) -> Option<String> {
    crate::claims::claims(token)?["sub"]
        .as_str()
        .map(str::to_owned)
}

/// The leader's record of followers' pushes: the last one received from each tab, and which
/// message on the current socket carried which, so that the server's ack count tells each
/// follower how far its pushes are durable.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Forwarded {
    /// Per follower: its last push received (applied or held by the leader). A few tabs: a
    /// list (a map's code would cost the wasm more than the searches).
    received: Vec<(u64, u64)>,
    /// (message number on this socket, follower, push), in the order sent.
    carried: VecDeque<(u64, u64, u64)>,
}

impl Forwarded {
    /// Push `seq` of tab `tab` arrived.
    pub fn received(&mut self, tab: u64, seq: u64) {
        match self.received.iter_mut().find(|(id, _)| *id == tab) {
            Some((_, last)) => *last = (*last).max(seq),
            None => self.received.push((tab, seq)),
        }
    }

    /// Message `message` on the current socket carried push `seq` of `tab`.
    pub fn sent(&mut self, message: u64, tab: u64, seq: u64) {
        self.carried.push_back((message, tab, seq));
    }

    /// Message `message` (the handshake's SyncStep2, the whole document the server lacks)
    /// carried every push received so far.
    pub fn sent_all(&mut self, message: u64) {
        for &(tab, seq) in &self.received {
            self.carried.push_back((message, tab, seq));
        }
    }

    /// The socket closed: nothing it carried is known durable; the next SyncStep2 carries
    /// all of it again.
    pub fn socket_lost(&mut self) {
        self.carried.clear();
    }

    /// The server says the first `count` messages on this socket are durable: per follower,
    /// the last push that is durable now.
    pub fn ack(&mut self, count: u64) -> Vec<(u64, u64)> {
        let mut durable: Vec<(u64, u64)> = Vec::new();
        while let Some(&(message, tab, seq)) = self.carried.front() {
            if message > count {
                break;
            }
            self.carried.pop_front();
            match durable.iter_mut().find(|(id, _)| *id == tab) {
                Some((_, last)) => *last = (*last).max(seq),
                None => durable.push((tab, seq)),
            }
        }
        durable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_note_reads_back_and_junk_is_refused() {
        let limits = Limits {
            max_message_size: 4 << 20,
            max_document_size: 64 << 20,
        };
        let notes = [
            Note::Hello {
                from: (1 << 53) - 1,
                state_vector: vec![0],
            },
            Note::Welcome {
                to: 7,
                update: vec![0, 0],
                state_vector: vec![1, 2, 3],
            },
            Note::Push {
                from: 7,
                seq: 300,
                update: vec![9; 1000],
            },
            Note::Relay {
                from: 0,
                update: vec![0, 0],
            },
            Note::Durable { to: 7, seq: 300 },
            Note::Link {
                state: State::Waiting {
                    attempt: 3,
                    delay_ms: 1_250,
                },
                online: false,
                limits: Some(limits),
            },
            Note::Link {
                state: State::Refused(Refusal::DocumentTooLarge),
                online: false,
                limits: None,
            },
            Note::Link {
                state: State::Connected { attempt: 0 },
                online: true,
                limits: None,
            },
            Note::Awareness {
                from: 7,
                message: vec![1, 2],
            },
            Note::Retry,
            Note::Leader { from: 7 },
            Note::Forget,
        ];
        for note in notes {
            assert_eq!(Note::decode(&note.encode()), Some(note.clone()), "{note:?}");
        }
        assert_eq!(Note::decode(&[]), None);
        assert_eq!(Note::decode(&[99, 1, 2]), None);
        assert_eq!(Note::decode(&[2, 7]), None, "a push cut short");
        assert_eq!(Note::decode(&[5, 3, 17, 0, 0]), None, "an unknown refusal");
    }

    #[test]
    fn tabs_share_a_channel_per_document_and_user() {
        // {"sub":"ada","docs":["notes"]} and {"sub":"bob"}, as a JWT's middle part.
        let ada = "e30.eyJzdWIiOiJhZGEiLCJkb2NzIjpbIm5vdGVzIl19.sig";
        let bob = "e30.eyJzdWIiOiJib2IifQ.sig";
        let key = "ws://h/sync/notes";
        assert_eq!(
            channel_name(key, None, false),
            "collab-textarea\nws://h/sync/notes\n"
        );
        assert!(channel_name(key, Some(ada), false).ends_with("\nada"));
        assert_ne!(
            channel_name(key, Some(ada), false),
            channel_name(key, Some(bob), false)
        );
        assert_eq!(
            channel_name(key, Some("not a jwt"), false),
            channel_name(key, Some("x.%%%.y"), false)
        );
        assert_eq!(
            channel_name(key, Some(ada), true),
            channel_name(key, None, true)
        );
        assert_ne!(
            channel_name(key, None, false),
            channel_name("ws://h/sync/other", None, false)
        );
    }

    #[test]
    fn a_follower_hears_durable_only_for_pushes_a_message_the_server_acked_carried() {
        let mut f = Forwarded::default();
        // Pushes before the handshake: the SyncStep2 (message 1) carries them.
        f.received(7, 1);
        f.received(8, 4);
        f.sent_all(1);
        // Later pushes go as messages of their own.
        f.received(7, 2);
        f.sent(2, 7, 2);
        f.received(8, 5);
        f.sent(3, 8, 5);
        assert_eq!(f.ack(0), vec![]);
        assert_eq!(f.ack(2), vec![(7, 2), (8, 4)]);
        assert_eq!(f.ack(2), vec![], "a repeated ack says nothing new");
        assert_eq!(f.ack(3), vec![(8, 5)]);
    }

    #[test]
    fn after_a_lost_socket_the_next_sync_step_2_carries_every_push_again() {
        let mut f = Forwarded::default();
        f.received(7, 1);
        f.sent(4, 7, 1);
        f.received(7, 2);
        f.socket_lost();
        // The old socket's ack number means nothing now.
        assert_eq!(f.ack(4), vec![]);
        f.received(9, 1);
        f.sent_all(1);
        assert_eq!(f.ack(1), vec![(7, 2), (9, 1)]);
    }
}
