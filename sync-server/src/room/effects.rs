//! `Effect`: what a room's handler asks the room thread to do. A room does no I/O itself; its
//! handlers return these, in the order they must be carried out.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::fanout::Publication;
use super::loading::LoadPurpose;
use super::server_edit::{Answer, OnCommit};
use crate::conn::Conn;
use crate::storage::Write;

/// One thing to do, for the room that returned it.
#[derive(Debug)]
pub enum Effect {
    /// Queue frames to one connection, in order.
    Send { to: Conn, frames: Frames },
    /// Close one connection.
    Close {
        conn: Conn,
        code: u16,
        reason: String,
    },
    /// Queue a write to storage; with `ack`, its sender hears its count once the commit
    /// holding the write is done.
    Persist { write: Write, ack: Option<Ack> },
    /// An acknowledgement that needs no write of its own: due once every write queued before
    /// it is committed.
    Ack(Ack),
    /// Read the document from storage; the result comes back as a `LoadResult`.
    Load {
        generation: u64,
        purpose: LoadPurpose,
    },
    /// Hand a message to the other instances (`--redis`).
    Publish(Publication),
    /// Subscribe to what other instances publish for this document; the room hears
    /// `subscribed(token)` once the subscription is active.
    Subscribe { token: u64 },
    /// End the subscription `token` made.
    Unsubscribe { token: u64 },
    /// Queue `write` (or none: only wait for the writes queued before); `watcher` hears once
    /// the commit holding it is done (a server change's HTTP answer).
    AfterCommit {
        write: Option<Write>,
        watcher: OnCommit,
    },
    /// Answer an HTTP request now (a refused server change, an export).
    Answer(Answer),
    /// The answer to a text read: `None` when nothing was ever stored for the document.
    Text {
        reply: oneshot::Sender<Option<String>>,
        text: Option<String>,
    },
}

/// The frames of one `Send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frames {
    One(Bytes),
    /// A document or update in pieces, shared by every connection they go to (`pieces`).
    Pieces(Arc<[Bytes]>),
}

/// A sender waiting to hear that `count` of its update-carrying messages are durable.
#[derive(Debug)]
pub struct Ack {
    pub conn: Conn,
    pub count: u64,
}

/// The effects of one handler, in order.
pub type Effects = Vec<Effect>;
