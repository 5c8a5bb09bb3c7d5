//! `Room`: one loaded document — its yrs `Doc`, presence and members — and the protocol rules
//! applied to it, as a state machine that does no I/O. Each handler takes an event (a join, a
//! frame, a load result, a relayed message, a tick) and returns the [`Effect`]s the room
//! thread carries out: frames to send, connections to close, writes, loads, publications.
//! A room lives on one room thread and is never shared, so it needs no locks.
//!
//! Every yrs call that touches client bytes runs inside `catch_unwind` on that thread (which
//! has a large stack). An update is broadcast and persisted only after yrs applied it without
//! error; after a failed apply or a panic the document is dropped and reloaded from storage.
//!
//! - [`effects`]: `Effect`, `Frames`, `Ack`.
//! - [`fanout`]: the `Fanout` trait a relay implements; `Publication`, `Relayed`.
//! - [`journal`]: `ApplyJournal`, the crash-loop guard's record of the update being applied.
//! - `loading`: load, reload, resync merges, the cold-load shortcut, building from rows.
//! - `document`: the loaded `Doc`, its cached encoding and size, the size limit.
//! - `membership`: members, joining and leaving, client-id ownership.
//! - `replication`: the one apply pipeline for client, relayed and resynced updates.
//! - `presence`: awareness from members and other instances.
//! - `compaction`: snapshots, unloading.
//! - `quarantine`: updates that once killed the process.
//! - `server_edit`: changes the server makes (a new text, an import) and the export.
//! - `history`: attribution of each update, checkpoints and named versions.

mod compaction;
mod document;
pub mod effects;
pub mod fanout;
mod history;
pub mod journal;
mod loading;
mod membership;
mod presence;
mod quarantine;
mod replication;
mod server_edit;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::conn::{Conn, ConnId};
use crate::protocol::{decode_frame, Presence};
use collab_core::doc_name::DocName;
use collab_core::wire::close_code;

use self::document::LoadedDoc;
pub use self::effects::{Ack, Effect, Effects, Frames};
pub use self::fanout::{Fanout, Publication, Relayed};
pub use self::history::{text_of_state, HistoryCommand, HistoryRefusal, VersionReply};
pub use self::journal::ApplyJournal;
pub use self::loading::{LoadPurpose, LoadResult};
use self::membership::{ClientIds, Member};
pub use self::server_edit::{
    Answer, ChangeRefused, ChangeReply, ExportReply, OnCommit, ServerChange, ServerEdit,
};

/// What every room on a thread shares.
#[derive(Clone)]
pub struct RoomContext {
    pub settings: Arc<RoomSettings>,
    /// This thread's record of the update being applied (the crash-loop guard).
    pub journal: Arc<dyn ApplyJournal>,
    /// Whether other instances are relayed to (`--redis`): rooms then subscribe before they
    /// load, and publish what they change.
    pub fanout: bool,
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
    /// A version is saved after this long without edits.
    pub version_idle: Duration,
    /// Editing that never pauses still gets a version this often.
    pub version_max_interval: Duration,
}

/// Whether the room thread should keep a room after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Yes,
    /// The room is empty and idle, or failed to load: drop it (after `release`).
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
    /// The load this room waits for or last took (unique in the process; 0: none yet).
    generation: u64,
    /// The token of this room's relay subscription; the first load waits for it to be active,
    /// so nothing another instance publishes falls between the load and the subscription.
    subscription: Option<u64>,
    /// Authors and times of changes since the last version; names claimed in open mode.
    history: self::history::History,
    /// What the handler running now has asked for so far.
    out: Effects,
}

enum State {
    /// Waiting for storage; everything that arrives meanwhile is replayed once loaded.
    Loading {
        queue: Vec<Deferred>,
    },
    Ready(LoadedDoc),
}

enum Deferred {
    Join(Conn),
    Frame(ConnId, Bytes),
    ReadText(oneshot::Sender<Option<String>>),
    /// An update from another instance.
    Relayed(Vec<u8>),
    ServerChange(ServerChange, ChangeReply),
    Export(ExportReply),
    History(HistoryCommand),
}

impl Room {
    /// A room for `name`: it subscribes to other instances first if there are any, and
    /// asks for its document from storage.
    pub fn load(name: DocName, context: &RoomContext) -> (Room, Effects) {
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
            history: Default::default(),
            out: Vec::new(),
        };
        if context.fanout {
            let token = fanout::next_subscription();
            room.subscription = Some(token);
            room.out.push(Effect::Subscribe { token });
        } else {
            room.request_load();
        }
        let effects = room.take();
        (room, effects)
    }

    /// The document's text, or `None` when nothing was ever stored for it.
    pub fn read_text(&mut self, reply: oneshot::Sender<Option<String>>) -> Effects {
        self.read_text_now(reply);
        self.take()
    }

    fn read_text_now(&mut self, reply: oneshot::Sender<Option<String>>) {
        let loaded = match &mut self.state {
            State::Loading { queue } => return queue.push(Deferred::ReadText(reply)),
            State::Ready(loaded) => loaded,
        };
        let text = loaded.text();
        self.out.push(Effect::Text { reply, text });
    }

    /// One binary frame from a member.
    pub fn frame(&mut self, id: ConnId, frame: Bytes) -> Effects {
        self.frame_now(id, frame);
        self.take()
    }

    fn frame_now(&mut self, id: ConnId, frame: Bytes) {
        if let State::Loading { queue } = &mut self.state {
            return queue.push(Deferred::Frame(id, frame));
        }
        if !self.members.contains_key(&id) {
            return;
        }
        let messages = match decode_frame(&frame) {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(doc = %self.name, conn = %id, error = %err, "refused malformed frame");
                self.close_member(id, close_code::INVALID_PAYLOAD, &err.to_string());
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

    /// Periodic upkeep: expires silent presence; says whether an idle room should unload
    /// (then it has compacted, and the caller drops it after `release`).
    pub fn tick(&mut self, now: Instant) -> (Keep, Effects) {
        if let State::Ready(loaded) = &mut self.state {
            loaded.tick();
            self.checkpoint_if_due(now);
        }
        self.sweep_presence(now);
        let idle_long_enough = self.idle_since.is_some_and(|since| {
            now.saturating_duration_since(since) >= self.context.settings.unload_after
        });
        if idle_long_enough && matches!(self.state, State::Ready(_)) {
            self.unload_now();
            return (Keep::No, self.take());
        }
        (Keep::Yes, self.take())
    }

    /// The room is being dropped, however it goes (unloaded, failed to load, deleted,
    /// shutdown): its relay subscription goes with it.
    pub fn release(&mut self) -> Effects {
        if let Some(token) = self.subscription.take() {
            self.out.push(Effect::Unsubscribe { token });
        }
        self.take()
    }

    /// The document is being deleted: closes every member, and every connection waiting for
    /// the load, with `code`. Nothing is compacted; the caller drops the room.
    pub fn close_all(&mut self, code: u16, reason: &str) -> Effects {
        let mut closing: Vec<Conn> = self.members.values().map(|m| m.conn.clone()).collect();
        if let State::Loading { queue } = &self.state {
            closing.extend(queue.iter().filter_map(|deferred| match deferred {
                Deferred::Join(conn) => Some(conn.clone()),
                _ => None,
            }));
        }
        for conn in closing {
            self.close(conn, code, reason);
        }
        self.take()
    }

    /// What the handler asked for, leaving none behind.
    fn take(&mut self) -> Effects {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, to: Conn, frame: Bytes) {
        self.out.push(Effect::Send {
            to,
            frames: Frames::One(frame),
        });
    }

    fn close(&mut self, conn: Conn, code: u16, reason: &str) {
        self.out.push(Effect::Close {
            conn,
            code,
            reason: reason.to_owned(),
        });
    }

    fn close_member(&mut self, id: ConnId, code: u16, reason: &str) {
        if let Some(member) = self.members.get(&id) {
            let conn = member.conn.clone();
            self.close(conn, code, reason);
        }
    }

    /// One frame to every member.
    fn broadcast(&mut self, frame: Bytes) {
        for member in self.members.values() {
            self.out.push(Effect::Send {
                to: member.conn.clone(),
                frames: Frames::One(frame.clone()),
            });
        }
    }

    /// To the other instances, if there are any.
    fn publish(&mut self, publication: Publication) {
        if self.context.fanout {
            self.out.push(Effect::Publish(publication));
        }
    }
}
