//! The other tabs on this document ([`crate::tabs`]): joining the channel, leading (one
//! socket for all: pushes applied, sent and relayed, acks passed back, the link's state
//! posted) or following (changes pushed to the leader, its relays applied, its link shown).

use yrs::sync::Message;
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, StateVector, Transact};

use super::awareness::encode_awareness_entries;
use super::{now_ms, with, Session};
use crate::channel::{ChannelEvent, TabChannel};
use crate::connection::State;
use crate::ledger::Acked;
use crate::local_copy::record_key;
use crate::pieces::Carrier;
use crate::socket::Socket;
use crate::tabs::{channel_name, Note, Role};

impl Session {
    /// Opens the channel of this document's tabs and asks for the leader's lock; where the
    /// browser cannot, this tab goes on alone.
    pub(super) fn join_tabs(&mut self) {
        let name = channel_name(
            &record_key(&self.options.server, &self.options.doc),
            self.options.token.as_deref(),
            self.token_fn.is_some(),
        );
        let me = self.me.clone();
        let on_event = move |event: ChannelEvent| with(&me, |s| s.on_channel(event));
        self.channel = TabChannel::open(&name, on_event);
        if self.channel.is_some() {
            self.role = Role::Deciding;
        }
    }

    pub(super) fn post(&self, note: &Note) {
        if let Some(channel) = &self.channel {
            channel.post(&note.encode());
        }
    }

    /// Whether the connection that carries this tab's changes is open: its own socket, or
    /// for a follower the leader's.
    pub(super) fn online(&self) -> bool {
        match self.role {
            Role::Follower => self.leader_online,
            _ => self.socket.as_ref().is_some_and(Socket::is_open),
        }
    }

    fn on_channel(&mut self, event: ChannelEvent) {
        match event {
            ChannelEvent::Leads(true) => self.lead(),
            ChannelEvent::Leads(false) => {
                self.role = Role::Follower;
                if std::mem::take(&mut self.connect_waiting) {
                    self.open_socket();
                }
            }
            ChannelEvent::Note(bytes) => {
                if let Some(note) = Note::decode(&bytes) {
                    self.on_note(note);
                }
            }
        }
        self.refresh();
    }

    /// This tab got the lock: it connects, for every tab.
    fn lead(&mut self) {
        let was = std::mem::replace(&mut self.role, Role::Leader);
        self.post(&Note::Leader {
            from: self.client_id,
        });
        if was == Role::Follower {
            // The old leader's socket carried our changes: ours now carries them, from the
            // handshake on; the people it heard of come again from the server.
            self.ledger.socket_lost();
            self.leader_online = false;
            self.forget_server_peers();
            let (state, effects) = State::start();
            self.state = state;
            self.run(effects);
        } else if std::mem::take(&mut self.connect_waiting) {
            self.open_socket();
        }
    }

    /// A follower's "connect": tell the leader what we hold (once the copy is loaded).
    pub(super) fn hello(&mut self) {
        let state_vector = self.doc.transact().state_vector().encode_v1();
        self.post(&Note::Hello {
            from: self.client_id,
            state_vector,
        });
    }

    fn on_note(&mut self, note: Note) {
        let me = self.client_id;
        match (self.role, note) {
            (role, Note::Hello { from, state_vector }) => {
                // Everyone shows the newcomer who is here at once.
                self.send_awareness();
                if role == Role::Leader {
                    self.welcome(from, &state_vector);
                }
            }
            (
                Role::Follower,
                Note::Welcome {
                    to,
                    update,
                    state_vector,
                },
            ) if to == me => {
                self.receive_update(update, true);
                let Ok(theirs) = StateVector::decode_v1(&state_vector) else {
                    return;
                };
                // Whatever the leader lacks, ours or kept from a tab gone meanwhile: every
                // unsaved change is in it.
                let update = self.doc.transact().encode_state_as_update_v1(&theirs);
                self.outbox.borrow_mut().clear();
                self.push(update);
                let pushed = self.pushes;
                self.ledger.sent_all(pushed);
            }
            (Role::Leader, Note::Push { from, seq, update }) => self.on_push(from, seq, update),
            (Role::Follower, Note::Relay { from, update }) if from != me => {
                self.receive_update(update, true)
            }
            (Role::Follower, Note::Durable { to, seq }) if to == me => {
                let acked = self.ledger.ack(seq, now_ms());
                // The copy's count of unsaved changes goes down with it.
                if acked != Acked::Nothing {
                    self.copy_changed();
                }
            }
            (
                Role::Follower,
                Note::Link {
                    state,
                    online,
                    limits,
                },
            ) => self.follow_link(state, online, limits),
            (role, Note::Awareness { from, message }) => {
                // The leader passes the other tabs' presence on to the server.
                if role == Role::Leader && from != 0 {
                    if let Some(socket) = &self.socket {
                        socket.send(&message);
                    }
                }
                let mut decoder = DecoderV1::from(message.as_slice());
                for message in yrs::sync::MessageReader::new(&mut decoder).flatten() {
                    if let Message::Awareness(update) = message {
                        self.apply_awareness(update, from != 0);
                    }
                }
            }
            (Role::Leader, Note::Retry) => self.retry_now(),
            (_, Note::Forget) => {
                // It deletes the record too, after any write of ours still queued.
                let _ = self.forget_copy(false);
            }
            (Role::Follower | Role::Deciding, Note::Leader { .. }) => {
                // A new leader: what the old one told us of the server goes, and we join it.
                self.forget_server_peers();
                if self.role == Role::Follower && !self.local.is_loading() {
                    self.hello();
                }
            }
            _ => {}
        }
    }

    /// The leader's answer to a hello: what that tab lacks, the link, the people online.
    fn welcome(&mut self, to: u64, state_vector: &[u8]) {
        let Ok(theirs) = StateVector::decode_v1(state_vector) else {
            return;
        };
        self.followed = true;
        self.link_posted = None;
        let update = self.whole_update(&theirs);
        let state_vector = self.doc.transact().state_vector().encode_v1();
        self.post(&Note::Welcome {
            to,
            update,
            state_vector,
        });
        let online: Vec<(u64, u32, &str)> = self
            .peers
            .iter()
            .filter(|(id, _)| !self.tab_peers.contains(id))
            .map(|(id, peer)| (id, peer.clock, peer.json.as_str()))
            .collect();
        if !online.is_empty() {
            let message = encode_awareness_entries(&online);
            self.post(&Note::Awareness { from: 0, message });
        }
    }

    /// What this tab holds beyond `state_vector`, with the updates it has not applied yet
    /// (a follower's push held through an IME composition is still the leader's to send).
    pub(super) fn whole_update(&self, state_vector: &StateVector) -> Vec<u8> {
        let update = self.doc.transact().encode_state_as_update_v1(state_vector);
        if self.held_updates.is_empty() || self.role != Role::Leader {
            return update;
        }
        let mut all = vec![update.clone()];
        all.extend(self.held_updates.iter().cloned());
        yrs::merge_updates_v1(&all).unwrap_or(update)
    }

    /// A follower's push: applied here, sent on this socket once its handshake has gone
    /// (before, the SyncStep2 carries it), and relayed to the other tabs.
    fn on_push(&mut self, from: u64, seq: u64, update: Vec<u8>) {
        self.followed = true;
        self.forwarded.received(from, seq);
        if self.step2_sent {
            if let Some(carried) = self.send_update(update.clone(), Carrier::Update) {
                self.forwarded.sent(carried, from, seq);
            }
        }
        self.post(&Note::Relay {
            from,
            update: update.clone(),
        });
        self.receive_update(update, true);
    }

    /// Posts a follower's changes to the leader as its next push.
    pub(super) fn push(&mut self, update: Vec<u8>) {
        self.pushes += 1;
        self.post(&Note::Push {
            from: self.client_id,
            seq: self.pushes,
            update,
        });
    }

    /// The leader's socket's acks: each follower hears how far its pushes are durable.
    pub(super) fn pass_acks(&mut self, count: u64) {
        for (to, seq) in self.forwarded.ack(count) {
            self.post(&Note::Durable { to, seq });
        }
    }

    /// The leader's link, posted when it changed (or a tab said hello).
    pub(super) fn post_link(&mut self) {
        if self.role != Role::Leader || !self.followed {
            return;
        }
        let note = Note::Link {
            state: self.state.clone(),
            online: self.online(),
            limits: self.limits,
        }
        .encode();
        if self.link_posted.as_ref() != Some(&note) {
            if let Some(channel) = &self.channel {
                channel.post(&note);
            }
            self.link_posted = Some(note);
        }
    }

    /// A follower shows the leader's connection as its own.
    fn follow_link(&mut self, state: State, online: bool, limits: Option<crate::limits::Limits>) {
        let was_online = std::mem::replace(&mut self.leader_online, online);
        self.state = state;
        self.limits = limits;
        if was_online && !online {
            self.forget_server_peers();
        }
        if online && !was_online {
            // The server dropped our presence with the old socket, one clock on: renew it
            // past that.
            self.awareness_clock += 1;
            self.send_awareness();
        }
    }

    /// The people the server told of go (its socket dropped); the other tabs stay.
    pub(super) fn forget_server_peers(&mut self) {
        let tabs = &self.tab_peers;
        if self.peers.clear_except(|id| tabs.contains(&id)) {
            self.emit_presence();
            self.draw_cursors();
        }
    }

    /// The page came back from the back-forward cache: a follower asks the leader for what it
    /// missed, and every tab shows itself again.
    pub(super) fn rejoin(&mut self) {
        if self.role == Role::Follower && !self.local.is_loading() {
            self.hello();
        }
        self.send_awareness();
    }

    /// Leaving (unmount, or the page going away): the last changes go out, and the server
    /// and the other tabs hear that we left.
    pub(super) fn say_goodbye(&mut self) {
        self.flush();
        self.awareness_clock += 1;
        let message =
            super::awareness::encode_awareness_removal(self.client_id, self.awareness_clock);
        if let Some(socket) = &self.socket {
            socket.send(&message);
        }
        self.post(&Note::Awareness {
            from: self.client_id,
            message,
        });
    }

    /// Empties the queue of local updates the handshake's SyncStep2 carries instead (or the
    /// next one's); the other tabs still get them.
    pub(super) fn drop_outbox(&mut self) {
        let updates = std::mem::take(&mut *self.outbox.borrow_mut());
        if self.relays() && !updates.is_empty() {
            if let Ok(update) = yrs::merge_updates_v1(&updates) {
                self.post(&Note::Relay {
                    from: self.client_id,
                    update,
                });
            }
        }
    }

    /// Whether an incoming Sync message from the server should reach the other tabs.
    pub(super) fn relays(&self) -> bool {
        self.role == Role::Leader && self.followed
    }

    /// Relays an update from the server to the other tabs.
    pub(super) fn relay_server(&self, update: &[u8]) {
        if self.relays() {
            self.post(&Note::Relay {
                from: 0,
                update: update.to_vec(),
            });
        }
    }

    /// Relays the server's presence to the other tabs: the frame it came in (the server
    /// sends each message alone; the tabs read only the awareness in a note).
    pub(super) fn relay_awareness(&self, frame: &[u8]) {
        if self.relays() {
            self.post(&Note::Awareness {
                from: 0,
                message: frame.to_vec(),
            });
        }
    }
}
