//! The sync client: the connection state machine's effects, the socket, the server's
//! messages, remote updates held and applied, updates sent in pieces, and acks counted.

use gloo_timers::callback::Timeout;
use yrs::encoding::read::Read;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Transact, Update};

use collab_core::wire::{close_code, MSG_ACK, MSG_LIMITS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{now_ms, observe_local_updates, with, Session, APPLY_WAIT_MAX_MS, OBSERVER, REMOTE};
use crate::connection::{self, Effect, Event, Status};
use crate::ledger::Acked;
use crate::limits::{self, Limits};
use crate::pieces::{self, Carrier};
use crate::socket::{Socket, SocketEvent};
use crate::tabs::{Note, Role};

impl Session {
    pub(super) fn transition(&mut self, event: Event) -> Vec<Effect> {
        // A follower's connection is the leader's: its Retry asks the leader.
        if self.role == Role::Follower && event != Event::Stop {
            if event == Event::RetryNow {
                self.post(&Note::Retry);
            }
            return Vec::new();
        }
        let (state, effects) = connection::step(&self.state, event, js_sys::Math::random());
        self.state = state;
        effects
    }

    pub(super) fn run(&mut self, effects: Vec<Effect>) {
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

    /// Opens a socket once the stored copy is loaded and, with a token function, once it
    /// has given a token.
    pub(super) fn open_socket(&mut self) {
        self.socket = None;
        self.socket_generation += 1;
        if self.local.is_loading() || self.role == Role::Deciding {
            self.connect_waiting = true;
            return;
        }
        if self.role == Role::Follower {
            return self.hello();
        }
        let Some(token_fn) = self.token_fn.clone() else {
            self.connect();
            return;
        };
        let generation = self.socket_generation;
        let answer = match token_fn.call0(&JsValue::NULL) {
            Ok(answer) => js_sys::Promise::resolve(&answer),
            Err(err) => return self.token_failed(&err),
        };
        let me = self.me.clone();
        let got = Closure::once_into_js(move |token: JsValue| {
            with(&me, |s| {
                if s.socket_generation != generation || s.socket.is_some() {
                    return;
                }
                match token.as_string().filter(|t| !t.trim().is_empty()) {
                    Some(token) => {
                        s.options.token = Some(token);
                        s.connect();
                    }
                    None => s.token_failed(&"it did not give a string".into()),
                }
            })
        });
        let me = self.me.clone();
        let refused = Closure::once_into_js(move |err: JsValue| {
            with(&me, |s| {
                if s.socket_generation == generation && s.socket.is_none() {
                    s.token_failed(&err);
                }
            })
        });
        // `then` through Reflect: js-sys's typed `then` wants borrowed closures, these are
        // owned by JavaScript until one of them runs.
        if let Ok(then) = js_sys::Reflect::get(&answer, &"then".into()) {
            let _ = then
                .unchecked_into::<js_sys::Function>()
                .call2(&answer, &got, &refused);
        }
    }

    /// The token function threw, rejected or gave no token: as a server's 4401.
    fn token_failed(&mut self, err: &JsValue) {
        web_sys::console::error_2(&"collab-textarea: the token function failed:".into(), err);
        let effects = self.transition(Event::SocketClosed {
            code: close_code::UNAUTHORIZED,
        });
        self.run(effects);
    }

    fn connect(&mut self) {
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
                self.step2_sent = false;
                let state_vector = self.doc.transact().state_vector();
                self.send(Message::Sync(SyncMessage::SyncStep1(state_vector)));
                // A server that saw our last socket close took our presence one clock on.
                self.awareness_clock += 1;
                self.send_awareness();
                self.refresh();
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
                self.ledger.socket_lost();
                self.forwarded.socket_lost();
                self.step2_sent = false;
                self.drop_outbox();
                self.forget_server_peers();
                // An expired token, with a function to get a new one: reconnect with a new
                // token at once, as after a dropped connection (once per sync, so a function
                // that keeps giving bad tokens ends in "Not authorized").
                let code = if code == close_code::UNAUTHORIZED
                    && self.token_fn.is_some()
                    && !std::mem::replace(&mut self.token_renewed, true)
                {
                    close_code::GOING_AWAY
                } else {
                    code
                };
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
                    // A leader's also carries the other tabs' changes it holds.
                    let update = self.whole_update(&state_vector);
                    self.drop_outbox();
                    if let Some(carried) = self.send_update(update, Carrier::SyncStep2) {
                        self.ledger.sent_all(carried);
                        self.forwarded.sent_all(carried);
                        self.step2_sent = true;
                    }
                }
                Ok(Message::Sync(SyncMessage::SyncStep2(update))) => {
                    // The server's SyncStep2 comes last: green means the textarea holds it all.
                    self.relay_server(&update);
                    self.receive_update(update, false);
                    self.apply_held();
                    self.token_renewed = false;
                    let effects = self.transition(Event::Synced);
                    self.run(effects);
                    self.send_cursor();
                }
                Ok(Message::Sync(SyncMessage::Update(update))) => {
                    self.relay_server(&update);
                    self.receive_update(update, false);
                }
                Ok(Message::Awareness(update)) => {
                    self.relay_awareness(bytes);
                    self.apply_awareness(update, false);
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
                    // Edits are refused: the history panel offers no Restore.
                    self.history.edits_refused = true;
                    self.draw_history();
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
    /// of an IME composition. Another tab's (`from_tab`) needs no handshake.
    pub(super) fn receive_update(&mut self, update: Vec<u8>, from_tab: bool) {
        self.held_updates.push(update);
        let synced = from_tab || self.state.status() == Status::Connected;
        if synced && !self.composing && self.apply_soon.is_none() {
            let me = self.me.clone();
            let delay_ms = self.apply_cost_ms.clamp(0.0, APPLY_WAIT_MAX_MS) as u32;
            self.apply_soon = Some(Timeout::new(delay_ms, move || {
                with(&me, Session::apply_held)
            }));
        }
    }

    /// Applies every held remote update, then patches the textarea once.
    pub(super) fn apply_held(&mut self) {
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
        self.copy_changed();
        // The browser lays the text out again after a change, which for a large text costs
        // more than the change: do it now (it would come at the next frame anyway) so that
        // the cost measured, and the wait before the next batch, include it.
        let _ = self.view.textarea.scroll_height();
        self.apply_cost_ms = now_ms() - started;
    }

    fn on_ack(&mut self, count: u64) {
        self.pass_acks(count);
        if self.ledger.ack(count, now_ms()) != Acked::Nothing {
            // The copy's count of unsaved changes goes down with it.
            self.copy_changed();
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
    pub(super) fn send_update(&mut self, update: Vec<u8>, carrier: Carrier) -> Option<u64> {
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
}
