//! The DOM listeners, the ticker and the resize observer a session registers.

use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::Interval;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{with, Session, TICK_MS};
use crate::connection::Event;
use crate::local_copy::Keeping;

impl Session {
    /// A listener calling `f` on this session. Not passive: some handlers cancel the
    /// browser's default (native undo, unload, a form's submission).
    pub(super) fn on(
        &self,
        target: &web_sys::EventTarget,
        name: &'static str,
        f: fn(&mut Session, &web_sys::Event),
    ) -> EventListener {
        let me = self.me.clone();
        EventListener::new_with_options(
            target,
            name,
            EventListenerOptions::enable_prevent_default(),
            move |event| with(&me, |s| f(s, event)),
        )
    }

    /// Registers every DOM listener, the ticker and the resize observer.
    pub(super) fn listen(&mut self) {
        let textarea: &web_sys::EventTarget = self.view.textarea.as_ref();
        let on = |target: &web_sys::EventTarget, name, f| self.on(target, name, f);
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
            on(self.view.history.as_ref(), "click", |s, _| {
                s.toggle_history()
            }),
        ];
        if let Some(window) = web_sys::window() {
            listeners.push(on(window.as_ref(), "online", |s, _| {
                let effects = s.transition(Event::Online);
                s.run(effects);
            }));
            // The page goes away (closed, reloaded, navigated): no unmount comes, so the last
            // changes go now, and the other tabs hear we left.
            listeners.push(on(window.as_ref(), "pagehide", |s, _| s.say_goodbye()));
            // Back from the back-forward cache: what the other tabs said meanwhile was missed.
            listeners.push(on(window.as_ref(), "pageshow", |s, e| {
                let persisted = js_sys::Reflect::get(e, &"persisted".into())
                    .ok()
                    .and_then(|v| v.as_bool());
                if persisted == Some(true) {
                    s.rejoin();
                }
            }));
            // Leaving the page with edits neither the server nor this device holds yet: let
            // the browser ask.
            listeners.push(on(window.as_ref(), "beforeunload", |s, e| {
                if !s.ledger.is_saved() && s.local.keeping() != Keeping::Device {
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
}
