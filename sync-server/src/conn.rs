//! `Conn`: the room's handle on one WebSocket connection — an id, a bounded outbox and a
//! close signal. Rooms and the storage writer talk to connections only through it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::User;

/// Identifies one connection for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    /// A fresh id, never handed out before in this process.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A WebSocket close code and reason, chosen by whoever ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

/// The close codes this server sends (also listed in ARCHITECTURE.md).
pub mod close_code {
    /// Server shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A text frame: the protocol is binary.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame that does not decode as y-protocols messages.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message larger than the configured maximum.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The document could not be loaded from storage.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// An update that failed validation, or that yrs refused to decode or apply.
    pub const UPDATE_REJECTED: u16 = 4400;
    /// No valid token: missing, malformed, badly signed, wrong algorithm or audience, expired
    /// (also while connected), or none within the auth timeout.
    pub const UNAUTHORIZED: u16 = 4401;
    /// A valid token that does not grant this document (4403 was taken before auth came).
    pub const FORBIDDEN: u16 = 4402;
    /// An update writing new items under a client id another connection (or, with tokens,
    /// another user) owns.
    pub const NOT_YOUR_CLIENT_ID: u16 = 4403;
    /// No pong or other traffic within the liveness timeout.
    pub const TIMEOUT: u16 = 4408;
    /// The client sent messages or sync requests faster than its rate limits allow.
    pub const RATE_LIMITED: u16 = 4420;
    /// The connection's send queue overflowed, or a write to it stalled: it reads too slowly.
    pub const TOO_SLOW: u16 = 4429;
}

/// The handle rooms and storage hold for a connection. Cloning it is cheap.
#[derive(Clone)]
pub struct Conn {
    pub id: ConnId,
    /// Whether the client asked for our extension messages (`?ext=1`).
    pub wants_ext: bool,
    /// Who the token says this is; `None` on an open server.
    pub user: Option<Arc<User>>,
    /// A read-only token: updates that would change the document are refused.
    pub read_only: bool,
    outbox: mpsc::Sender<Bytes>,
    close: Arc<CloseSignal>,
}

/// Set once by whoever closes a connection first; the socket task waits on it.
#[derive(Default)]
pub struct CloseSignal {
    reason: OnceLock<CloseReason>,
    token: CancellationToken,
}

impl CloseSignal {
    /// Resolves when some part of the server asked to close the connection.
    pub async fn closed(&self) -> CloseReason {
        self.token.cancelled().await;
        self.reason.get().cloned().unwrap_or(CloseReason {
            code: close_code::INTERNAL_ERROR,
            reason: String::new(),
        })
    }
}

impl Conn {
    /// A handle plus the receiving end of its outbox and its close signal, for the socket task.
    pub fn new(
        id: ConnId,
        wants_ext: bool,
        outbox_len: usize,
    ) -> (Self, mpsc::Receiver<Bytes>, Arc<CloseSignal>) {
        let (outbox, rx) = mpsc::channel(outbox_len.max(1));
        let close = Arc::new(CloseSignal::default());
        let conn = Conn {
            id,
            wants_ext,
            user: None,
            read_only: false,
            outbox,
            close: close.clone(),
        };
        (conn, rx, close)
    }

    /// The same handle, for a user authenticated by a token.
    pub fn with_user(mut self, user: Arc<User>, read_only: bool) -> Self {
        self.user = Some(user);
        self.read_only = read_only;
        self
    }

    /// Queues one message frame. A full queue means the client reads too slowly: it is
    /// disconnected rather than allowed to stall the room (it resyncs when it reconnects).
    pub fn send(&self, frame: Bytes) {
        match self.outbox.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.close.token.is_cancelled() {
                    // Already being closed: say so once, not on every broadcast.
                    return;
                }
                tracing::warn!(conn = %self.id, "send queue full, disconnecting slow client");
                self.close(
                    close_code::TOO_SLOW,
                    "send queue overflow: reading too slowly",
                );
            }
            // The socket task is gone; its room learns of it through `Leave`.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Asks the socket task to close with `code`; the first reason given wins.
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self.close.reason.set(CloseReason {
            code,
            reason: reason.to_owned(),
        });
        self.close.token.cancel();
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("wants_ext", &self.wants_ext)
            .field("user", &self.user.as_ref().map(|u| &u.id))
            .field("read_only", &self.read_only)
            .finish()
    }
}
