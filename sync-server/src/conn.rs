//! `Conn`: the room thread's handle on one WebSocket connection — an id, a bounded outbox and
//! a close signal. It carries out what rooms ask of a connection; `transport` turns the
//! storage writer's commit reports for it into ack frames.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
pub use tokio::sync::mpsc::error::TryRecvError;

use crate::auth::User;
use collab_core::wire::close_code;

/// Identifies one connection for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    /// A fresh id, never handed out before in this process.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
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
    outbox: Arc<OutboxShared>,
    close: Arc<CloseSignal>,
}

/// Set once by whoever closes a connection first; the socket task waits on it.
///
/// Polling it is two atomic operations (no mutex): it is polled on every turn of the socket
/// loop. Only one task may wait on it at a time (the connection's socket task).
#[derive(Default)]
pub struct CloseSignal {
    reason: OnceLock<CloseReason>,
    waker: AtomicWaker,
}

impl CloseSignal {
    /// Resolves when some part of the server asked to close the connection.
    pub async fn closed(&self) -> CloseReason {
        std::future::poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// `Ready` with the reason once the connection was asked to close.
    pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        if let Some(reason) = self.reason.get() {
            return Poll::Ready(reason.clone());
        }
        self.waker.register(cx.waker());
        // Checked again after registering, so a close between the two is not missed.
        match self.reason.get() {
            Some(reason) => Poll::Ready(reason.clone()),
            None => Poll::Pending,
        }
    }

    /// Whether the connection was asked to close.
    pub fn is_closed(&self) -> bool {
        self.reason.get().is_some()
    }

    /// Asks the socket task to close with `code`; the first reason given wins.
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self.reason.set(CloseReason {
            code,
            reason: reason.to_owned(),
        });
        self.waker.wake();
    }
}

/// A connection's send queue, shared by its `Conn` handles (senders) and its `Outbox`
/// (the socket task's receiving end). A `VecDeque` under a mutex instead of a tokio mpsc
/// channel: an idle connection's queue allocates nothing (the channel allocates a 32-slot
/// block up front, ~1 KB per connection), and a sender that finds it full learns so without
/// a semaphore.
struct OutboxShared {
    queue: Mutex<Queue>,
    /// The socket task, when it waits for a frame.
    waker: AtomicWaker,
    capacity: usize,
}

struct Queue {
    frames: VecDeque<Outgoing>,
    /// The `Outbox` was dropped: frames sent now go nowhere.
    receiver_gone: bool,
}

/// One entry of a send queue.
enum Outgoing {
    Frame(Bytes),
    /// A document sent in pieces ([`Conn::send_pieces`]): the frames are shared by every
    /// connection they were queued for, and go out one at a time from `next`.
    Pieces {
        frames: Arc<[Bytes]>,
        next: usize,
    },
}

/// Capacity (in frames) a drained queue may keep; a larger one is freed once empty, so a
/// burst does not leave every idle connection holding its high-water mark.
const KEEP_QUEUE_CAPACITY: usize = 16;

/// The receiving end of a connection's send queue, held by its socket task.
pub struct Outbox {
    shared: Arc<OutboxShared>,
}

impl Outbox {
    /// The next queued frame, waiting for one if the queue is empty. Never returns `None`
    /// (it has the shape of `mpsc::Receiver::recv` for `select!` patterns): with no sender
    /// left it simply never resolves.
    pub async fn recv(&mut self) -> Option<Bytes> {
        Some(std::future::poll_fn(|cx| self.poll_recv(cx)).await)
    }

    /// `Ready` with the next queued frame, or `Pending` (woken when one is queued).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        if let Ok(frame) = self.try_recv() {
            return Poll::Ready(frame);
        }
        self.shared.waker.register(cx.waker());
        // Checked again after registering, so a frame queued between the two is not missed.
        match self.try_recv() {
            Ok(frame) => Poll::Ready(frame),
            Err(_) => Poll::Pending,
        }
    }

    /// The next queued frame if there is one, without waiting.
    pub fn try_recv(&mut self) -> Result<Bytes, TryRecvError> {
        let mut queue = lock(&self.shared.queue);
        let frame = match queue.frames.front_mut().ok_or(TryRecvError::Empty)? {
            Outgoing::Pieces { frames, next } if *next + 1 < frames.len() => {
                *next += 1;
                frames[*next - 1].clone()
            }
            _ => match queue.frames.pop_front() {
                Some(Outgoing::Frame(frame)) => frame,
                Some(Outgoing::Pieces { frames, next }) => frames[next].clone(),
                None => return Err(TryRecvError::Empty),
            },
        };
        if queue.frames.is_empty() && queue.frames.capacity() > KEEP_QUEUE_CAPACITY {
            queue.frames = VecDeque::new();
        }
        Ok(frame)
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut queue = lock(&self.shared.queue);
        queue.receiver_gone = true;
        queue.frames = VecDeque::new();
    }
}

/// The queue's lock, even if a thread panicked holding it (the queue stays consistent: every
/// critical section is a single push or pop).
fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Conn {
    /// A handle plus the receiving end of its outbox and its close signal, for the socket task.
    pub fn new(id: ConnId, wants_ext: bool, outbox_len: usize) -> (Self, Outbox, Arc<CloseSignal>) {
        let shared = Arc::new(OutboxShared {
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                receiver_gone: false,
            }),
            waker: AtomicWaker::new(),
            capacity: outbox_len.max(1),
        });
        let close = Arc::new(CloseSignal::default());
        let conn = Conn {
            id,
            wants_ext,
            user: None,
            read_only: false,
            outbox: shared.clone(),
            close: close.clone(),
        };
        (conn, Outbox { shared }, close)
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
        self.queue(Outgoing::Frame(frame));
    }

    /// Queues frames that go out one after another, in order: a document sent in pieces.
    /// They take one place in the queue, and the frames themselves are shared, not copied,
    /// so many joiners waiting for one large document cost one copy of it.
    pub fn send_pieces(&self, frames: Arc<[Bytes]>) {
        match frames.len() {
            0 => {}
            1 => self.send(frames[0].clone()),
            _ => self.queue(Outgoing::Pieces { frames, next: 0 }),
        }
    }

    fn queue(&self, entry: Outgoing) {
        {
            let mut queue = lock(&self.outbox.queue);
            if queue.receiver_gone {
                // The socket task is gone; its room learns of it through `Leave`.
                return;
            }
            if queue.frames.len() < self.outbox.capacity {
                queue.frames.push_back(entry);
                drop(queue);
                self.outbox.waker.wake();
                return;
            }
        }
        if self.close.is_closed() {
            // Already being closed: say so once, not on every broadcast.
            return;
        }
        tracing::warn!(conn = %self.id, "send queue full, disconnecting slow client");
        self.close(
            close_code::TOO_SLOW,
            "send queue overflow: reading too slowly",
        );
    }

    /// Asks the socket task to close with `code`; the first reason given wins.
    pub fn close(&self, code: u16, reason: &str) {
        self.close.close(code, reason);
    }
}

/// The close signals of every open socket, so shutdown can close them all (with 1001) without
/// each socket task watching the shared shutdown token — whose every poll takes a mutex all
/// socket tasks share.
#[derive(Default)]
pub struct OpenSockets {
    inner: Mutex<OpenSocketsInner>,
}

#[derive(Default)]
struct OpenSocketsInner {
    /// Set by `close_all`: sockets registered later are closed at once.
    closing: Option<CloseReason>,
    signals: HashMap<ConnId, Arc<CloseSignal>>,
}

impl OpenSockets {
    /// Tracks `close` until the returned guard is dropped. If `close_all` was already called,
    /// the signal is closed right away with its reason.
    pub fn register(self: &Arc<Self>, id: ConnId, close: &Arc<CloseSignal>) -> Registered {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match &inner.closing {
            Some(reason) => close.close(reason.code, &reason.reason),
            None => {
                inner.signals.insert(id, close.clone());
            }
        }
        Registered {
            set: self.clone(),
            id,
        }
    }

    /// Closes every registered socket, and every one registered from now on, with `code`.
    pub fn close_all(&self, code: u16, reason: &str) {
        let signals = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.closing.get_or_insert_with(|| CloseReason {
                code,
                reason: reason.to_owned(),
            });
            std::mem::take(&mut inner.signals)
        };
        for signal in signals.values() {
            signal.close(code, reason);
        }
    }

    /// How many sockets are registered.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .signals
            .len()
    }

    /// Whether no socket is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps a socket in `OpenSockets` while it lives.
pub struct Registered {
    set: Arc<OpenSockets>,
    id: ConnId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut inner = self.set.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.signals.remove(&self.id);
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
