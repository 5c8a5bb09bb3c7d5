//! `Session`: one mounted widget — the yrs document and undo manager, the connection, the
//! textarea binding, presence — wired to DOM events, the socket and timers. Everything it
//! registers is owned here and removed when it is unmounted or dropped.

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::{Interval, Timeout};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, KeyboardEvent};
use yrs::encoding::read::Read;
use yrs::sync::{Message, SyncMessage};
use yrs::types::Delta;
use yrs::undo::UndoManager;
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::Encode;
use yrs::{
    Any, ClientID, Doc, GetString, Observable, OffsetKind, Origin, Out, ReadTxn, Text, TextRef,
    Transact, Update,
};

use collab_core::engine::TEXT_NAME;
use collab_core::wire::{MAX_CLIENT_ID, MSG_ACK, MSG_LIMITS};

use crate::binding::{self, DeltaRun, Splice};
use crate::connection::{self, Effect, Event, State, Status};
use crate::limits::{self, Limits};
use crate::options::{clean_name, Options};
use crate::pieces::{self, Carrier};
use crate::presence::{self, Peers, User};
use crate::save_line::{save_line, status_words};
use crate::shown::Shown;
use crate::socket::{Socket, SocketEvent};
use crate::view::{RemoteCursor, View};

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
    /// One entry per local change not yet durable: the message on the current socket that
    /// carried it, or `None` if it has not been sent on this socket (always the newest ones).
    unsaved: VecDeque<Option<u64>>,
    saved_at: Option<f64>,
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
    last_status: Option<(Status, u32)>,
    last_save: Option<SaveDetail>,
    /// Events to dispatch once the session is no longer borrowed.
    events: Vec<(&'static str, JsValue)>,
    me: Weak<RefCell<Session>>,
    unmounted: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct SaveDetail {
    state: &'static str,
    unsaved: usize,
    saved_at: Option<f64>,
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

fn random_client_id() -> u64 {
    // 53 bits, like Yjs; from Math.random (wasm has no OS randomness of its own).
    let high = (js_sys::Math::random() * f64::from(1u32 << 21)) as u64;
    let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    ((high << 32) | low).max(1)
}

impl Session {
    pub fn mount(host: HtmlElement, options: Options) -> Result<Shared, JsValue> {
        let view = View::mount(&host)?;
        let client_id = random_client_id();
        let doc = Doc::with_options(yrs::Options {
            client_id: ClientID::new(client_id),
            offset_kind: OffsetKind::Utf16,
            ..yrs::Options::default()
        });
        let text = doc.get_or_insert_text(TEXT_NAME);
        let mut undo = UndoManager::with_options(yrs::undo::Options {
            capture_timeout_millis: 500,
            tracked_origins: HashSet::from([Origin::from(INPUT)]),
            capture_transaction: None,
            timestamp: Arc::new(|| js_sys::Date::now() as u64),
            init_undo_stack: Vec::new(),
            init_redo_stack: Vec::new(),
        });
        undo.expand_scope(&doc, &text);

        let outbox: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
        let pending_splices: Rc<RefCell<Vec<Splice>>> = Rc::default();
        // yrs callbacks only push into these queues; they never touch the session, which is
        // borrowed while yrs runs them.
        observe_local_updates(&doc, &outbox).map_err(|e| JsValue::from_str(&e))?;
        {
            let pending = pending_splices.clone();
            let input = Origin::from(INPUT);
            text.observe(OBSERVER, move |txn, event| {
                if txn.origin() == Some(&input) {
                    return;
                }
                let runs: Vec<DeltaRun> = event
                    .delta(txn)
                    .iter()
                    .map(|delta| match delta {
                        Delta::Retain(len, _) => DeltaRun::Retain(*len),
                        Delta::Deleted(len) => DeltaRun::Delete(*len),
                        Delta::Inserted(Out::Any(Any::String(s)), _) => {
                            DeltaRun::Insert(s.to_string())
                        }
                        // Embeds (never made by a textarea) count one unit, like in Yjs.
                        Delta::Inserted(_, _) => DeltaRun::Insert("\u{fffc}".into()),
                    })
                    .collect();
                pending
                    .borrow_mut()
                    .extend(binding::splices_from_delta(runs));
            });
        }

        view.textarea.set_read_only(options.readonly);
        view.textarea.set_placeholder(&options.placeholder);
        let (state, effects) = State::start();
        let shared = Rc::new_cyclic(|me| {
            RefCell::new(Session {
                host,
                options,
                view,
                doc,
                text,
                client_id,
                undo,
                outbox,
                pending_splices,
                shown: Shown::default(),
                unchecked: false,
                composing: false,
                held_updates: Vec::new(),
                apply_soon: None,
                apply_cost_ms: 0.0,
                state,
                socket: None,
                socket_generation: 0,
                sent_messages: 0,
                limits: None,
                unsaved: VecDeque::new(),
                saved_at: None,
                peers: Peers::default(),
                awareness_clock: 0,
                awareness_sent_at: 0.0,
                sent_cursor: None,
                listeners: Vec::new(),
                debounce: None,
                cursor_soon: None,
                retry: None,
                ticker: None,
                resize: None,
                last_status: None,
                last_save: None,
                events: Vec::new(),
                me: me.clone(),
                unmounted: false,
            })
        });
        let me = Rc::downgrade(&shared);
        with(&me, |session| {
            session.listen();
            session.run(effects);
            session.refresh();
            session.emit_presence();
        });
        Ok(shared)
    }

    /// Registers every DOM listener, the ticker and the resize observer.
    fn listen(&mut self) {
        let textarea: &web_sys::EventTarget = self.view.textarea.as_ref();
        let me = self.me.clone();
        let on = |target: &web_sys::EventTarget,
                  name: &'static str,
                  f: fn(&mut Session, &web_sys::Event)| {
            // Not passive: some handlers cancel the browser's default (native undo, unload).
            let me = me.clone();
            EventListener::new_with_options(
                target,
                name,
                EventListenerOptions::enable_prevent_default(),
                move |event| with(&me, |s| f(s, event)),
            )
        };
        let mut listeners = vec![
            on(textarea, "input", |s, _| s.on_input()),
            on(textarea, "compositionstart", |s, _| s.composing = true),
            on(textarea, "compositionend", |s, _| {
                s.composing = false;
                s.on_input();
                s.apply_held();
            }),
            on(textarea, "keydown", |s, e| s.on_keydown(e)),
            // Undo from the browser's menu or a gesture: ours, not the textarea's native one
            // (which would also revert other people's edits).
            on(textarea, "beforeinput", |s, e| {
                let kind = js_sys::Reflect::get(e, &"inputType".into())
                    .ok()
                    .and_then(|v| v.as_string());
                match kind.as_deref() {
                    Some("historyUndo") => {
                        e.prevent_default();
                        s.undo_or_redo(true);
                    }
                    Some("historyRedo") => {
                        e.prevent_default();
                        s.undo_or_redo(false);
                    }
                    _ => {}
                }
            }),
            on(textarea, "select", |s, _| s.send_cursor()),
            on(textarea, "keyup", |s, _| s.send_cursor()),
            on(textarea, "mouseup", |s, _| s.send_cursor()),
            on(textarea, "focus", |s, _| s.send_cursor()),
            on(textarea, "blur", |s, _| s.send_cursor()),
            on(textarea, "scroll", |s, _| s.draw_cursors()),
            on(self.view.retry.as_ref(), "click", |s, _| {
                let effects = s.transition(Event::RetryNow);
                s.run(effects);
            }),
        ];
        if let Some(window) = web_sys::window() {
            listeners.push(on(window.as_ref(), "online", |s, _| {
                let effects = s.transition(Event::Online);
                s.run(effects);
            }));
            // Leaving the page with edits the server has not confirmed: let the browser ask.
            listeners.push(on(window.as_ref(), "beforeunload", |s, e| {
                if !s.unsaved.is_empty() {
                    e.prevent_default();
                }
            }));
        }
        self.listeners = listeners;

        let me = self.me.clone();
        self.ticker = Some(Interval::new(TICK_MS, move || with(&me, Session::tick)));

        let me = self.me.clone();
        let on_resize = Closure::<dyn FnMut(js_sys::Array)>::new(move |_entries: js_sys::Array| {
            with(&me, Session::draw_cursors)
        });
        if let Ok(observer) = web_sys::ResizeObserver::new(on_resize.as_ref().unchecked_ref()) {
            observer.observe(&self.view.textarea);
            self.resize = Some((observer, on_resize));
        }
    }

    // ----- connection --------------------------------------------------------------------

    fn transition(&mut self, event: Event) -> Vec<Effect> {
        let (state, effects) = connection::step(&self.state, event, js_sys::Math::random());
        self.state = state;
        effects
    }

    fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::OpenSocket => self.open_socket(),
                Effect::CloseSocket => self.socket = None,
                Effect::ScheduleRetry { delay_ms } => {
                    let me = self.me.clone();
                    self.retry = Some(Timeout::new(delay_ms, move || {
                        with(&me, |s| {
                            s.retry = None;
                            let effects = s.transition(Event::RetryDue);
                            s.run(effects);
                        })
                    }));
                }
                Effect::CancelRetry => self.retry = None,
            }
        }
        self.refresh();
    }

    fn open_socket(&mut self) {
        self.socket = None;
        self.socket_generation += 1;
        let generation = self.socket_generation;
        let me = self.me.clone();
        let on_event = move |event: SocketEvent| {
            with(&me, |s| {
                if s.socket_generation == generation {
                    s.on_socket(event);
                }
            })
        };
        match Socket::open(&self.options.url(), on_event) {
            Ok(socket) => self.socket = Some(socket),
            Err(err) => {
                web_sys::console::error_2(&"collab-textarea: cannot open WebSocket".into(), &err);
                let effects = self.transition(Event::SocketClosed { code: 1006 });
                self.run(effects);
            }
        }
    }

    fn on_socket(&mut self, event: SocketEvent) {
        match event {
            SocketEvent::Open => {
                self.sent_messages = 0;
                self.limits = None;
                let state_vector = self.doc.transact().state_vector();
                self.send(Message::Sync(SyncMessage::SyncStep1(state_vector)));
                self.send_awareness();
            }
            SocketEvent::Message(bytes) => self.on_message(&bytes),
            SocketEvent::Closed { code, reason } => {
                if code != 1000 && code != 1001 && code != 1006 {
                    web_sys::console::warn_1(
                        &format!("collab-textarea: connection closed ({code}) {reason}").into(),
                    );
                }
                self.socket = None;
                // Nothing sent on that socket is known to be durable: it will be re-sent by
                // the next handshake (SyncStep2 carries whatever the server lacks).
                self.unsaved.iter_mut().for_each(|entry| *entry = None);
                self.outbox.borrow_mut().clear();
                if self.peers.clear() {
                    self.emit_presence();
                    self.draw_cursors();
                }
                // Whether to retry depends on the code: a refusal that would recur stops here
                // (`connection::after_close`); the local text stays either way.
                let effects = self.transition(Event::SocketClosed { code });
                self.run(effects);
            }
        }
    }

    fn on_message(&mut self, bytes: &[u8]) {
        let mut decoder = DecoderV1::from(bytes);
        let messages: Vec<_> = yrs::sync::MessageReader::new(&mut decoder).collect();
        for message in messages {
            match message {
                Ok(Message::Sync(SyncMessage::SyncStep1(state_vector))) => {
                    let update = self.doc.transact().encode_state_as_update_v1(&state_vector);
                    self.outbox.borrow_mut().clear();
                    if let Some(carried) = self.send_update(update, Carrier::SyncStep2) {
                        self.unsaved
                            .iter_mut()
                            .for_each(|entry| *entry = Some(carried));
                    }
                }
                Ok(Message::Sync(SyncMessage::SyncStep2(update))) => {
                    // The server's SyncStep2 comes last: green means the textarea holds it all.
                    self.receive_update(update);
                    self.apply_held();
                    let effects = self.transition(Event::Synced);
                    self.run(effects);
                    self.send_cursor();
                }
                Ok(Message::Sync(SyncMessage::Update(update))) => self.receive_update(update),
                Ok(Message::Awareness(update)) => {
                    let now = now_ms();
                    let mut changed = false;
                    for (client, entry) in update.clients {
                        if client.get() != self.client_id {
                            changed |=
                                self.peers
                                    .apply(client.get(), entry.clock, &entry.json, now);
                        }
                    }
                    if changed {
                        self.emit_presence();
                        self.draw_cursors();
                    }
                }
                Ok(Message::Custom(MSG_LIMITS, payload)) => {
                    self.limits = Limits::parse(&payload);
                }
                Ok(Message::Custom(MSG_ACK, payload)) => {
                    let count = DecoderV1::from(payload.as_slice()).read_var::<u64>();
                    if let Ok(count) = count {
                        self.on_ack(count);
                    }
                }
                Ok(Message::Auth(Some(reason))) => {
                    web_sys::console::warn_1(
                        &format!("collab-textarea: permission denied: {reason}").into(),
                    );
                }
                Ok(_) => {}
                Err(err) => {
                    web_sys::console::warn_1(
                        &format!("collab-textarea: unreadable message: {err}").into(),
                    );
                    return;
                }
            }
        }
    }

    /// Queues a remote update; it is applied once the current burst of messages is read
    /// (after a timeout as long as the last batch took), with the server's SyncStep2 while
    /// the handshake runs (a document loads into the textarea in one change), or at the end
    /// of an IME composition.
    fn receive_update(&mut self, update: Vec<u8>) {
        self.held_updates.push(update);
        let synced = self.state.status() == Status::Connected;
        if synced && !self.composing && self.apply_soon.is_none() {
            let me = self.me.clone();
            let delay_ms = self.apply_cost_ms.clamp(0.0, APPLY_WAIT_MAX_MS) as u32;
            self.apply_soon = Some(Timeout::new(delay_ms, move || {
                with(&me, Session::apply_held)
            }));
        }
    }

    /// Applies every held remote update, then patches the textarea once.
    fn apply_held(&mut self) {
        self.apply_soon = None;
        if self.composing || self.held_updates.is_empty() {
            return;
        }
        let started = now_ms();
        // yrs encodes each transaction's update for an update observer before calling it, and
        // encoding a piece that was just merged into a long run of text scans that run: over
        // a large document's pieces, quadratic. Remote updates go to no outbox, so the
        // observer is off while they apply.
        let _ = self.doc.unobserve_update_v1(OBSERVER);
        for bytes in std::mem::take(&mut self.held_updates) {
            let result = Update::decode_v1(&bytes)
                .map_err(|err| format!("undecodable update: {err}"))
                .and_then(|update| {
                    self.doc
                        .transact_mut_with(REMOTE)
                        .apply_update(update)
                        .map_err(|err| format!("update not applied: {err}"))
                });
            if let Err(err) = result {
                web_sys::console::warn_1(&format!("collab-textarea: {err}").into());
            }
        }
        if let Err(err) = observe_local_updates(&self.doc, &self.outbox) {
            web_sys::console::error_1(&format!("collab-textarea: {err}").into());
        }
        self.patch_textarea(false);
        // The browser lays the text out again after a change, which for a large text costs
        // more than the change: do it now (it would come at the next frame anyway) so that
        // the cost measured, and the wait before the next batch, include it.
        let _ = self.view.textarea.scroll_height();
        self.apply_cost_ms = now_ms() - started;
    }

    fn on_ack(&mut self, count: u64) {
        let before = self.unsaved.len();
        while matches!(self.unsaved.front(), Some(Some(carried)) if *carried <= count) {
            self.unsaved.pop_front();
        }
        if self.unsaved.len() != before && self.unsaved.is_empty() {
            self.saved_at = Some(now_ms());
        }
        self.refresh();
    }

    /// Encodes and sends one message; `false` when there is no open socket.
    fn send(&self, message: Message) -> bool {
        self.socket
            .as_ref()
            .is_some_and(|socket| socket.send(&message.encode_v1()))
    }

    /// Sends `update` in pieces that fit the server's message limit, each its own message;
    /// the number of the last one (what the server's ack must reach), `None` if the socket
    /// was not open (the next handshake sends it all again).
    fn send_update(&mut self, update: Vec<u8>, carrier: Carrier) -> Option<u64> {
        let budget = limits::piece_budget(self.limits.as_ref());
        for message in pieces::messages(update, budget, carrier) {
            if !self
                .socket
                .as_ref()
                .is_some_and(|socket| socket.send(&message))
            {
                return None;
            }
            self.sent_messages += 1;
        }
        Some(self.sent_messages)
    }

    // ----- local edits -------------------------------------------------------------------

    fn on_input(&mut self) {
        if self.composing || self.options.readonly {
            return;
        }
        let value = Shown::read(&self.view.textarea);
        let caret = self.view.textarea.selection_end().ok().flatten();
        let Some(splice) = self.shown.diff(&value, caret) else {
            return;
        };
        {
            let mut txn = self.doc.transact_mut_with(INPUT);
            if splice.delete > 0 {
                self.text
                    .remove_range(&mut txn, splice.index, splice.delete);
            }
            if !splice.insert.is_empty() {
                self.text.insert(&mut txn, splice.index, &splice.insert);
            }
        }
        self.shown = value;
        self.local_change();
        self.send_cursor_soon();
    }

    fn on_keydown(&mut self, event: &web_sys::Event) {
        let Some(key) = event.dyn_ref::<KeyboardEvent>() else {
            return;
        };
        if !(key.ctrl_key() || key.meta_key()) || key.alt_key() || self.options.readonly {
            return;
        }
        let undo = key.key().eq_ignore_ascii_case("z") && !key.shift_key();
        let redo = (key.key().eq_ignore_ascii_case("z") && key.shift_key())
            || (key.key().eq_ignore_ascii_case("y") && key.ctrl_key());
        if !(undo || redo) {
            return;
        }
        event.prevent_default();
        self.undo_or_redo(undo);
    }

    fn undo_or_redo(&mut self, undo: bool) {
        if self.options.readonly {
            return;
        }
        let changed = if undo {
            self.undo.undo_blocking()
        } else {
            self.undo.redo_blocking()
        };
        if changed {
            self.patch_textarea(true);
            self.local_change();
        }
    }

    /// A local change was made (typing, undo, redo): count it and schedule sending it.
    fn local_change(&mut self) {
        self.unsaved.push_back(None);
        self.events
            .push(("collab-text", js_sys::Object::new().into()));
        if self.options.debounce_ms == 0 {
            self.flush();
        } else if self.debounce.is_none() {
            let me = self.me.clone();
            self.debounce = Some(Timeout::new(self.options.debounce_ms, move || {
                with(&me, Session::flush)
            }));
        }
        self.refresh();
    }

    /// Sends every local update made since the last flush, merged into one update (in as
    /// many messages as the server's limit needs).
    fn flush(&mut self) {
        self.debounce = None;
        let updates = std::mem::take(&mut *self.outbox.borrow_mut());
        if updates.is_empty() {
            return;
        }
        // Offline, there is nothing to do: the next handshake sends all of it.
        if !self.socket.as_ref().is_some_and(Socket::is_open) {
            return;
        }
        let update = match updates.len() {
            1 => updates.into_iter().next().unwrap_or_default(),
            _ => yrs::merge_updates_v1(&updates).unwrap_or_else(|_| updates.concat()),
        };
        if let Some(carried) = self.send_update(update, Carrier::Update) {
            // The unsent entries are the newest ones (every other change sets them all).
            for entry in self.unsaved.iter_mut().rev().take_while(|e| e.is_none()) {
                *entry = Some(carried);
            }
        }
        self.refresh();
    }

    /// Applies text changes that did not come from typing to the textarea, keeping the
    /// local selection where the user left it — or, for our own undo/redo
    /// (`caret_to_change`), putting the caret at the end of the change, as editors do.
    fn patch_textarea(&mut self, caret_to_change: bool) {
        let splices = binding::coalesce(std::mem::take(&mut *self.pending_splices.borrow_mut()));
        if !splices.is_empty() {
            let textarea = &self.view.textarea;
            let start = textarea.selection_start().ok().flatten().unwrap_or(0);
            let end = textarea.selection_end().ok().flatten().unwrap_or(start);
            let direction = textarea.selection_direction().ok().flatten();
            let mut selection = (start, end);
            for splice in &splices {
                let range_end = splice.index + splice.delete;
                let _ = textarea.set_range_text_with_start_and_end(
                    &splice.insert,
                    splice.index,
                    range_end,
                );
                self.shown.apply(splice);
                selection = binding::map_selection(selection, splice);
                if caret_to_change {
                    let end = splice.index + splice.insert_len();
                    selection = (end, end);
                }
            }
            let _ = match direction.as_deref() {
                Some(direction) => {
                    textarea.set_selection_range_with_direction(selection.0, selection.1, direction)
                }
                None => textarea.set_selection_range(selection.0, selection.1),
            };
            self.events
                .push(("collab-text", js_sys::Object::new().into()));
        }
        // Guard against the textarea disagreeing with the document: per change, the lengths
        // are compared; the whole text at the next tick.
        if self.text.len(&self.doc.transact()) == self.shown.len() {
            self.unchecked = true;
        } else if self.reset_shown() {
            return; // patched again, cursors drawn
        }
        self.draw_cursors();
    }

    /// Guard: if the textarea disagrees with the document, resets it (keeping the caret) and
    /// returns `true`.
    fn reset_shown(&mut self) -> bool {
        self.unchecked = false;
        let truth = self.text.get_string(&self.doc.transact());
        if self.shown.is(&truth) {
            return false;
        }
        let truth: Vec<u16> = truth.encode_utf16().collect();
        let Some(splice) = binding::diff(&self.shown.to_units(), &truth, None) else {
            return false;
        };
        self.pending_splices.borrow_mut().push(splice);
        self.patch_textarea(false);
        true
    }

    // ----- presence ----------------------------------------------------------------------

    fn local_cursor(&self) -> Option<(crate::json::Json, crate::json::Json)> {
        let (anchor, head) = self.sent_cursor?;
        let txn = self.doc.transact();
        // Finding a sticky index walks the text's items up to it: once for a plain caret.
        let at = |index| presence::sticky_to_json(&presence::sticky_at(&self.text, &txn, index));
        let anchor_json = at(anchor);
        let head_json = if head == anchor {
            anchor_json.clone()
        } else {
            at(head)
        };
        Some((anchor_json, head_json))
    }

    fn current_selection(&self) -> Option<(u32, u32)> {
        let textarea = &self.view.textarea;
        let focused = self
            .host
            .shadow_root()
            .and_then(|root| root.active_element())
            .is_some_and(|active| active == ***textarea);
        if !focused {
            return None;
        }
        let start = textarea.selection_start().ok().flatten()?;
        let end = textarea.selection_end().ok().flatten()?;
        let backward = textarea.selection_direction().ok().flatten().as_deref() == Some("backward");
        Some(if backward { (end, start) } else { (start, end) })
    }

    /// Sends the cursor once the current task is done: after an input the update goes out
    /// first, and inputs in one task (a paste of several events, a script) send one cursor.
    fn send_cursor_soon(&mut self) {
        if self.cursor_soon.is_none() {
            let me = self.me.clone();
            self.cursor_soon = Some(Timeout::new(0, move || {
                with(&me, |s| {
                    s.cursor_soon = None;
                    s.send_cursor();
                })
            }));
        }
    }

    fn send_cursor(&mut self) {
        let selection = self.current_selection();
        if selection != self.sent_cursor {
            self.sent_cursor = selection;
            self.send_awareness();
        }
    }

    fn send_awareness(&mut self) {
        self.awareness_clock += 1;
        self.awareness_sent_at = now_ms();
        let state =
            presence::local_state(&self.options.name, &self.options.color, self.local_cursor());
        let bytes = encode_awareness(self.client_id, self.awareness_clock, &state);
        if let Some(socket) = &self.socket {
            socket.send(&bytes);
        }
    }

    fn emit_presence(&mut self) {
        let mut users: Vec<User> = self
            .peers
            .iter()
            .map(|(client_id, peer)| User {
                client_id,
                name: peer.name.clone(),
                color: peer.color.clone(),
                is_self: false,
            })
            .collect();
        users.push(User {
            client_id: self.client_id,
            name: self.options.name.clone(),
            color: self.options.color.clone(),
            is_self: true,
        });
        let _ = self.view.set_users(&users);
        self.events
            .push(("collab-presence", presence_detail(&users)));
    }

    fn draw_cursors(&mut self) {
        let now = now_ms();
        let txn = self.doc.transact();
        let len = self.shown.len();
        let cursors: Vec<RemoteCursor> = self
            .peers
            .iter()
            .filter_map(|(client_id, peer)| {
                let (anchor, head) = peer.cursor.as_ref()?;
                let offset = |json| {
                    presence::sticky_from_json(json)
                        .and_then(|sticky| sticky.get_offset(&txn))
                        .map(|offset| offset.index.min(len))
                };
                Some(RemoteCursor {
                    client_id,
                    name: peer.name.clone(),
                    color: peer.color.clone(),
                    idle: now - peer.moved_at_ms > LABEL_IDLE_MS,
                    anchor: offset(anchor)?,
                    head: offset(head)?,
                })
            })
            .collect();
        drop(txn);
        if let Err(err) = self.view.draw_cursors(&self.shown, &cursors) {
            web_sys::console::warn_2(&"collab-textarea: cannot draw cursors".into(), &err);
        }
    }

    // ----- status and save line ----------------------------------------------------------

    fn tick(&mut self) {
        if self.unchecked && !self.composing {
            self.reset_shown();
        }
        let now = now_ms();
        if self.peers.sweep(now) {
            self.emit_presence();
            self.draw_cursors();
        } else if self
            .peers
            .labels_going_idle(now, LABEL_IDLE_MS, f64::from(TICK_MS))
        {
            self.draw_cursors();
        }
        if now - self.awareness_sent_at >= presence::RENEW_EVERY_MS {
            self.send_awareness();
        }
        self.refresh();
    }

    /// Brings the status dot and save line up to date, queueing events for what changed.
    fn refresh(&mut self) {
        let status = self.state.status();
        let attempt = self.state.attempt();
        if self.last_status != Some((status, attempt)) {
            self.last_status = Some((status, attempt));
            self.events.push((
                "collab-status",
                object(&[
                    ("status", status.as_str().into()),
                    ("attempt", attempt.into()),
                ]),
            ));
        }
        let words = status_words(&self.state);
        self.view.set_status(status, &words);

        let unsaved = self.unsaved.len();
        let online = self.socket.as_ref().is_some_and(Socket::is_open);
        let since_saved = self.saved_at.map(|at| now_ms() - at);
        let shown = save_line(
            &self.state,
            unsaved,
            online,
            since_saved,
            self.limits.as_ref(),
        );
        let state = shown.state;
        self.view.set_save(state, &shown.line);
        let detail = SaveDetail {
            state,
            unsaved,
            saved_at: self.saved_at,
        };
        if self.last_save.as_ref() != Some(&detail) {
            let saved_at = detail.saved_at.map_or(JsValue::NULL, JsValue::from);
            self.events.push((
                "collab-save",
                object(&[
                    ("state", detail.state.into()),
                    ("unsaved", (detail.unsaved as f64).into()),
                    ("savedAt", saved_at),
                ]),
            ));
            self.last_save = Some(detail);
        }
    }

    // ----- the JavaScript API ------------------------------------------------------------

    pub fn text(&self) -> String {
        self.text.get_string(&self.doc.transact())
    }

    pub fn status(&self) -> Status {
        self.state.status()
    }

    pub fn unsaved(&self) -> usize {
        self.unsaved.len()
    }

    pub fn retry_now(&mut self) {
        let effects = self.transition(Event::RetryNow);
        self.run(effects);
    }

    pub fn set_name(&mut self, name: &str) {
        self.options.name = clean_name(Some(name));
        self.send_awareness();
        self.emit_presence();
    }

    pub fn set_color(&mut self, color: &str) {
        if presence::is_safe_color(color) {
            self.options.color = color.to_owned();
            self.send_awareness();
            self.emit_presence();
        }
    }

    pub fn set_readonly(&mut self, readonly: bool) {
        self.options.readonly = readonly;
        self.view.textarea.set_read_only(readonly);
    }

    pub fn set_placeholder(&mut self, placeholder: &str) {
        self.view.textarea.set_placeholder(placeholder);
    }

    /// Says goodbye to peers, closes the socket, and removes every listener, timer and node.
    pub fn unmount(&mut self) {
        if self.unmounted {
            return;
        }
        self.flush();
        if let Some(socket) = &self.socket {
            self.awareness_clock += 1;
            socket.send(&encode_awareness_removal(
                self.client_id,
                self.awareness_clock,
            ));
        }
        let effects = self.transition(Event::Stop);
        for effect in effects {
            if effect == Effect::CloseSocket {
                self.socket = None;
            }
        }
        self.listeners.clear();
        self.debounce = None;
        self.cursor_soon = None;
        self.apply_soon = None;
        self.retry = None;
        self.ticker = None;
        if let Some((observer, _closure)) = self.resize.take() {
            observer.disconnect();
        }
        let _ = self.doc.unobserve_update_v1(OBSERVER);
        self.text.unobserve(OBSERVER);
        self.view.unmount();
        self.events.clear();
        self.unmounted = true;
    }
}

/// A plain object with these properties, in this order.
fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in entries {
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

/// `{ users: [{ clientId, name, color, self }] }`, or `null` if a client id is not a safe
/// JavaScript integer (as JSON-compatible serialization did).
fn presence_detail(users: &[User]) -> JsValue {
    if users.iter().any(|user| user.client_id > MAX_CLIENT_ID) {
        return JsValue::NULL;
    }
    let list = js_sys::Array::new();
    for user in users {
        list.push(&object(&[
            ("clientId", (user.client_id as f64).into()),
            ("name", user.name.as_str().into()),
            ("color", user.color.as_str().into()),
            ("self", user.is_self.into()),
        ]));
    }
    object(&[("users", list.into())])
}

/// An awareness message carrying one client's state.
fn encode_awareness(client: u64, clock: u32, json: &str) -> Vec<u8> {
    use yrs::encoding::write::Write;
    let mut payload = Vec::new();
    payload.write_var(1u32);
    payload.write_var(client);
    payload.write_var(clock);
    payload.write_string(json);
    let mut message = Vec::with_capacity(payload.len() + 4);
    message.write_var(1u32);
    message.write_buf(payload);
    message
}

fn encode_awareness_removal(client: u64, clock: u32) -> Vec<u8> {
    encode_awareness(client, clock, "null")
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
