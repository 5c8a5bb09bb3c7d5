//! `Session`: one mounted widget — the yrs document and undo manager, the connection, the
//! textarea binding, presence — wired to DOM events, the socket and timers. Everything it
//! registers is owned here and removed when it is unmounted or dropped.
//!
//! The session's methods are split by what they do: `mount` (building one),
//! `listeners` (DOM events, ticker, resize), `sync` (socket, messages, acks), `edits`
//! (local changes, patching the textarea), `awareness` (cursors, peers), `status` (the
//! header and its events), `history` (the history panel's requests), `api` (what the
//! `Widget` class calls), `group` (the other tabs on this document: leading or following,
//! [`crate::tabs`]). The bookkeeping of unsaved
//! changes is [`crate::ledger`], the header's words [`crate::save_line`]; both pure.

mod api;
mod awareness;
mod edits;
mod group;
mod history;
mod listeners;
mod mount;
mod persist;
mod status;
mod sync;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;
use yrs::undo::UndoManager;
use yrs::{Doc, Origin, TextRef};

use crate::binding::Splice;
use crate::channel::TabChannel;
use crate::connection::State;
use crate::ledger::Ledger;
use crate::limits::Limits;
use crate::local_copy::LocalCopy;
use crate::options::Options;
use crate::presence::Peers;
use crate::save_line::{Edits, Reported};
use crate::shown::Shown;
use crate::socket::Socket;
use crate::store::Store;
use crate::tabs::{Forwarded, Role};
use crate::view::View;

/// The longest wait before applying the next batch of remote updates (see `apply_cost_ms`):
/// a textarea holding tens of megabytes takes seconds to lay out after each change.
const APPLY_WAIT_MAX_MS: f64 = 10_000.0;

/// Key of our yrs observers (for unobserving them).
const OBSERVER: &str = "collab-textarea";
/// Origin of transactions made from the textarea's input (the only ones undo tracks).
const INPUT: &str = "input";
/// Origin of updates received from the server (never sent back).
const REMOTE: &str = "remote";
/// How often the save line and presence are refreshed.
const TICK_MS: u32 = 1_000;
/// A peer's name label fades this long after their cursor last moved.
const LABEL_IDLE_MS: f64 = 3_000.0;

pub type Shared = Rc<RefCell<Session>>;

/// A resize observer on the textarea and the callback it calls.
type ResizeWatch = (web_sys::ResizeObserver, Closure<dyn FnMut(js_sys::Array)>);

pub struct Session {
    host: HtmlElement,
    options: Options,
    view: View,
    doc: Doc,
    text: TextRef,
    client_id: u64,
    undo: UndoManager<()>,
    /// Updates made here (typing, undo) not yet sent.
    outbox: Rc<RefCell<Vec<Vec<u8>>>>,
    /// Text changes not made by typing (remote, undo) still to be applied to the textarea.
    pending_splices: Rc<RefCell<Vec<Splice>>>,
    /// What the textarea shows: equal to the `Y.Text` after every sync step.
    shown: Shown,
    /// Text changes were applied to the textarea since `shown` was last compared with the
    /// whole `Y.Text` (see `reset_shown`).
    unchecked: bool,
    composing: bool,
    /// Remote updates not applied yet: held while an IME composition is open, or until
    /// `apply_soon` fires, so that a burst of them (a large document arriving in pieces)
    /// changes the textarea once, not once per piece.
    held_updates: Vec<Vec<u8>>,
    apply_soon: Option<Timeout>,
    /// How long applying the last batch of remote updates took (ms): the next batch waits
    /// that long, so a textarea that is slow to change spends at most half its time on it.
    apply_cost_ms: f64,
    state: State,
    socket: Option<Socket>,
    socket_generation: u64,
    /// Update-carrying messages sent on the current socket.
    sent_messages: u64,
    /// What the server on the current socket said it accepts (`None` until it says).
    limits: Option<Limits>,
    /// The local changes not yet durable, and which message on this socket carried each.
    ledger: Ledger,
    /// This device's copy of the document (IndexedDB), and the store it is written to.
    local: LocalCopy,
    store: Option<Store>,
    /// Gives up waiting for the store to open.
    store_wait: Option<Timeout>,
    /// When the write in flight started, and the pause after a slow one (see `pause_after`).
    copy_started_ms: f64,
    copy_pause: Option<Timeout>,
    /// A connect waits for the store to load or the token function to answer.
    connect_waiting: bool,
    /// The page's token function (`token: () => Promise<string>`), called before each connect.
    token_fn: Option<js_sys::Function>,
    /// A 4401 was answered with a new token since the last sync (the next 4401 stops).
    token_renewed: bool,
    /// The local changes grouped into edits, which the save line counts.
    edits: Edits,
    peers: Peers,
    awareness_clock: u32,
    awareness_sent_at: f64,
    sent_cursor: Option<(u32, u32)>,
    listeners: Vec<EventListener>,
    debounce: Option<Timeout>,
    /// The cursor is sent when this fires (see `send_cursor_soon`).
    cursor_soon: Option<Timeout>,
    retry: Option<Timeout>,
    ticker: Option<Interval>,
    resize: Option<ResizeWatch>,
    /// What the status and save events last said.
    reported: Reported,
    /// The history panel (the `history` option) and its requests.
    history: history::History,
    /// Events to dispatch once the session is no longer borrowed.
    events: Vec<(&'static str, JsValue)>,
    /// The other tabs on this document (`None`: alone, the browser cannot share).
    channel: Option<TabChannel>,
    role: Role,
    /// A follower's pushes posted so far (its own numbering).
    pushes: u64,
    /// A follower: whether the leader's socket is open (its last `Link`).
    leader_online: bool,
    /// The leader: which of its socket's messages carried which follower's push.
    forwarded: Forwarded,
    /// The leader: the SyncStep2 went out on the current socket, so a push can go on its own.
    step2_sent: bool,
    /// The leader: a follower has said hello (relays and links are owed), and the link note
    /// last posted.
    followed: bool,
    link_posted: Option<Vec<u8>>,
    /// Client ids of the other tabs heard on the channel (their presence outlives a socket).
    tab_peers: Vec<u64>,
    /// This tab's count of writes of the copy, the write it last saw there (writer, stamp),
    /// and the tabs whose counts it took on when it restored the copy.
    copy_stamp: u32,
    copy_seen: (u64, u32),
    adopted: Vec<u64>,
    me: Weak<RefCell<Session>>,
    unmounted: bool,
}

/// Runs `f` on the session behind `me` (if it still exists), then dispatches the events it
/// queued — after the borrow ends, so page listeners may call back into the widget.
pub fn with(me: &Weak<RefCell<Session>>, f: impl FnOnce(&mut Session)) {
    let Some(shared) = me.upgrade() else { return };
    let (host, events) = {
        let Ok(mut session) = shared.try_borrow_mut() else {
            return;
        };
        if session.unmounted {
            return;
        }
        f(&mut session);
        (session.host.clone(), std::mem::take(&mut session.events))
    };
    dispatch(&host, events);
}

/// Dispatches queued events on the host (not generic: `with` is, once per caller).
#[inline(never)]
fn dispatch(host: &HtmlElement, events: Vec<(&'static str, JsValue)>) {
    for (name, detail) in events {
        let init = web_sys::CustomEventInit::new();
        init.set_detail(&detail);
        if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(name, &init) {
            let _ = host.dispatch_event(&event);
        }
    }
}

/// Collects the update of every local transaction (typing, undo, redo) into `outbox`.
fn observe_local_updates(doc: &Doc, outbox: &Rc<RefCell<Vec<Vec<u8>>>>) -> Result<(), String> {
    let outbox = outbox.clone();
    let remote = Origin::from(REMOTE);
    doc.observe_update_v1(
        OBSERVER,
        move |txn: &yrs::TransactionMut, event: &yrs::UpdateEvent| {
            if txn.origin() != Some(&remote) {
                outbox.borrow_mut().push(event.update.clone());
            }
        },
    )
    .map_err(|e| e.to_string())
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A plain object with these properties, in this order.
fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in entries {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

impl Drop for Session {
    /// Freed without `unmount()`: at least stop the observer whose callback is going away
    /// (listeners, timers and the socket remove themselves when dropped).
    fn drop(&mut self) {
        if let Some((observer, _callback)) = self.resize.take() {
            observer.disconnect();
        }
    }
}
