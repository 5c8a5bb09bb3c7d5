//! The room's side of cross-instance fan-out: the `Fanout` trait a relay implements, what a
//! room publishes (`Publication`) and what it receives (`Relayed`). A room names no relay and
//! no wire format; instance heartbeats are not something it can publish.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::conn::ConnId;
use collab_core::doc_name::DocName;

/// Where rooms' publications go, and their subscriptions are made (`relay::Relay`).
pub trait Fanout: Send + Sync {
    /// Subscribes to `doc`'s messages; the room of `doc` is told `subscribed(token)` once the
    /// subscription is active.
    fn subscribe(&self, doc: DocName, token: u64);
    /// Ends the subscription `token` made (a newer one for the same document stays).
    fn unsubscribe(&self, doc: DocName, token: u64);
    /// Publishes to the other instances that have `doc` loaded; best effort.
    fn publish(&self, doc: &DocName, publication: Publication);
}

/// What a room tells the other instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publication {
    /// An update this instance applied and queued for storage.
    Update(Bytes),
    /// An awareness frame holding the presence of this instance's members.
    Awareness(Bytes),
    /// "I may have missed messages: resync from storage, and send me your presence."
    Resync,
    /// "I just loaded this document: send me your presence."
    AwarenessQuery,
}

/// A message from another instance, for one room.
#[derive(Debug)]
pub enum Relayed {
    Update(Vec<u8>),
    /// An awareness frame; `from` stands for the sending instance (it owns those states).
    Awareness {
        from: ConnId,
        frame: Bytes,
    },
    Resync,
    AwarenessQuery,
}

/// A subscription token never handed out before in this process.
pub fn next_subscription() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
