//! The history panel's session side (the `history` option): the History button opens and
//! closes it; the REST requests — the list (on opening, every few seconds while open, after a
//! restore or a naming), a version's text, restore, naming — and what their answers show.
//! A failure is written in the panel and changes nothing else: editing goes on.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_events::EventListener;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{now_ms, object, with, Session};
use crate::history::{self, Failure, Version};
use crate::history_view::Panel;

/// While the panel is open, the list is fetched again after this many ticks (seconds).
const POLL_TICKS: u32 = 5;

/// What a request asked for, and what its answer needs.
enum Asked {
    /// The list, by the request's generation.
    List(u64),
    /// A version's text, by the request's generation.
    Text(u64),
    /// A restore of the version from `time` ("5m ago").
    Restore(String),
    /// A name for the current text.
    Name(String),
}

#[derive(Default)]
pub(super) struct History {
    panel: Option<Panel>,
    open: bool,
    versions: Vec<Version>,
    /// The list has been fetched once.
    loaded: bool,
    /// A list request is in flight (polls wait for it).
    listing: bool,
    selected: Option<String>,
    /// Bumped by each request of its kind: an older answer is dropped.
    list_generation: u64,
    preview_generation: u64,
    /// A restore or naming is in flight.
    busy: bool,
    /// What the status line says, and whether it is an error.
    note: (String, bool),
    /// The note is about what the user did (a preview, restore, naming): it stays until the
    /// next thing they do, whatever the list's polls bring.
    note_sticky: bool,
    /// The server refused an edit on the socket (a read-only token).
    pub edits_refused: bool,
    /// The server answered a restore or naming with 403.
    forbidden: bool,
    ticks: u32,
    listeners: Vec<EventListener>,
}

impl Session {
    /// Shows or hides the History button (the `history` option); hiding closes the panel.
    pub fn set_history(&mut self, on: bool) {
        self.options.history = on;
        self.view.history.set_hidden(!on);
        if !on && self.history.open {
            self.close_history(false);
        }
    }

    pub(super) fn toggle_history(&mut self) {
        if self.history.open {
            self.close_history(false);
        } else {
            self.open_history();
        }
    }

    fn open_history(&mut self) {
        if self.history.panel.is_none() {
            match Panel::new(&self.view.document(), &self.options.messages) {
                Ok(panel) => {
                    self.view.insert_panel(&panel.root);
                    self.history.listeners = self.panel_listeners(&panel);
                    self.history.panel = Some(panel);
                }
                Err(err) => {
                    web_sys::console::error_2(
                        &"collab-textarea: cannot build the history panel".into(),
                        &err,
                    );
                    return;
                }
            }
        }
        self.history.open = true;
        self.history.ticks = 0;
        let _ = self.view.history.set_attribute("aria-expanded", "true");
        if let Some(panel) = &self.history.panel {
            panel.set_open(true);
        }
        if !self.history.loaded {
            self.history.note = (self.options.messages.text("historyLoading", &[]), false);
        }
        self.draw_history();
        self.load_versions();
    }

    fn close_history(&mut self, focus_button: bool) {
        self.history.open = false;
        let _ = self.view.history.set_attribute("aria-expanded", "false");
        if let Some(panel) = &self.history.panel {
            panel.set_open(false);
        }
        if focus_button {
            let _ = self.view.history.focus();
        }
    }

    fn panel_listeners(&self, panel: &Panel) -> Vec<EventListener> {
        let target: &web_sys::EventTarget = panel.root.as_ref();
        let on = |name, f| self.on(target, name, f);
        vec![
            on("click", |s, event| {
                let Some(target) = event
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                else {
                    return;
                };
                let Some(panel) = &s.history.panel else {
                    return;
                };
                if panel.is_restore(&target) {
                    s.restore_selected();
                } else if let Some(id) = Panel::row_of(&target) {
                    s.show_version(id);
                }
            }),
            on("submit", |s, event| {
                event.prevent_default();
                s.name_version();
            }),
            on("keydown", |s, event| {
                let key = js_sys::Reflect::get(event, &"key".into()).ok();
                if key.and_then(|k| k.as_string()).as_deref() == Some("Escape") {
                    event.prevent_default();
                    s.close_history(true);
                }
            }),
        ]
    }

    /// Called every tick: the list again now and then while the panel is open.
    pub(super) fn history_tick(&mut self) {
        if !self.history.open {
            return;
        }
        self.history.ticks += 1;
        if self.history.ticks >= POLL_TICKS && !self.history.listing {
            self.history.ticks = 0;
            self.load_versions();
        }
    }

    /// Whether Restore and naming are offered: not read-only, no edit refused, no 403, and no
    /// token that only reads.
    fn can_write(&self) -> bool {
        !self.options.readonly
            && !self.history.edits_refused
            && !self.history.forbidden
            && !self
                .options
                .token
                .as_deref()
                .is_some_and(history::token_reads_only)
    }

    /// Brings the panel's rows, status line and buttons up to date.
    pub(super) fn draw_history(&mut self) {
        let can_write = self.can_write();
        let focused = self.view.focused().and_then(|e| Panel::row_of(&e));
        let words = self.view.words();
        let now = now_ms();
        let rows = self
            .history
            .versions
            .iter()
            .map(|v| history::row(v, now, words))
            .collect();
        let Some(panel) = &mut self.history.panel else {
            return;
        };
        if let Err(err) = panel.set_rows(rows, focused) {
            web_sys::console::error_2(&"collab-textarea: cannot draw the versions".into(), &err);
        }
        panel.set_note(&self.history.note.0, self.history.note.1);
        panel.set_controls(
            can_write,
            self.history.busy,
            self.history.selected.is_some(),
        );
    }

    fn load_versions(&mut self) {
        self.history.list_generation += 1;
        self.history.listing = true;
        let url = history::versions_url(&self.api_base(), &self.options.doc);
        self.request("GET", &url, None, Asked::List(self.history.list_generation));
    }

    /// Chooses version `id`: its row is marked and its text fetched into the preview.
    fn show_version(&mut self, id: String) {
        self.history.preview_generation += 1;
        if let Some(panel) = &mut self.history.panel {
            panel.select(Some(&id));
            panel.set_preview(None);
        }
        self.note("historyPreviewLoading", &[], false);
        let url = history::version_text_url(&self.api_base(), &self.options.doc, &id);
        self.history.selected = Some(id);
        self.draw_history();
        let asked = Asked::Text(self.history.preview_generation);
        self.request("GET", &url, None, asked);
    }

    fn restore_selected(&mut self) {
        let Some(id) = self.history.selected.clone() else {
            return;
        };
        if self.history.busy || !self.can_write() {
            return;
        }
        // Said before the list changes: "the version from 5m ago".
        let time = self
            .history
            .panel
            .as_ref()
            .and_then(|p| p.row(&id))
            .map(|row| row.time.clone())
            .unwrap_or_default();
        self.history.busy = true;
        self.note("historyRestoring", &[], false);
        self.draw_history();
        let url = history::restore_url(&self.api_base(), &self.options.doc);
        let body = history::json_body("version", &id);
        self.request("POST", &url, Some(body), Asked::Restore(time));
    }

    fn name_version(&mut self) {
        let Some(panel) = &self.history.panel else {
            return;
        };
        let label = panel.name_input.value().trim().to_owned();
        if label.is_empty() || self.history.busy || !self.can_write() {
            let _ = panel.name_input.focus();
            return;
        }
        self.history.busy = true;
        self.draw_history();
        let url = history::versions_url(&self.api_base(), &self.options.doc);
        let body = history::json_body("label", &label);
        self.request("POST", &url, Some(body), Asked::Name(label));
    }

    /// The answer to a request: the body of a 2xx, or why there is none.
    fn answered(&mut self, asked: Asked, answer: Result<String, Failure>) {
        match asked {
            Asked::List(generation) => {
                if generation != self.history.list_generation {
                    return;
                }
                self.history.listing = false;
                let listed = answer.and_then(|body| {
                    history::parse_versions(&body)
                        .map_err(|e| Failure::Status(200, format!("unreadable list: {e}")))
                });
                let note = match listed {
                    Ok(versions) => {
                        self.history.loaded = true;
                        let note = match versions.is_empty() {
                            true => self.options.messages.text("historyEmpty", &[]),
                            false => String::new(),
                        };
                        self.history.versions = versions;
                        (note, false)
                    }
                    Err(failure) => {
                        let reason = history::reason(&failure, self.view.words());
                        let text = self
                            .options
                            .messages
                            .text("historyLoadFailed", &[("reason", &reason)]);
                        (text, true)
                    }
                };
                if !self.history.note_sticky {
                    self.history.note = note;
                }
            }
            Asked::Text(generation) => {
                if generation != self.history.preview_generation {
                    return;
                }
                match answer {
                    Ok(text) => {
                        if let Some(panel) = &self.history.panel {
                            panel.set_preview(Some(&text));
                        }
                        self.history.note = (String::new(), false);
                        self.history.note_sticky = false;
                    }
                    Err(failure) => self.failed("historyPreviewFailed", &failure),
                }
            }
            Asked::Restore(time) => {
                self.history.busy = false;
                match answer {
                    Ok(_) => self.note("historyRestored", &[("time", &time)], false),
                    Err(failure) => self.failed("historyRestoreFailed", &failure),
                }
                self.load_versions();
            }
            Asked::Name(label) => {
                self.history.busy = false;
                match answer {
                    Ok(_) => {
                        if let Some(panel) = &self.history.panel {
                            panel.name_input.set_value("");
                        }
                        self.note("historyNamedDone", &[("label", &label)], false);
                    }
                    Err(failure) => self.failed("historyNameFailed", &failure),
                }
                self.load_versions();
            }
        }
        self.draw_history();
    }

    /// Writes message `key` with `vars` in the panel's status line: the outcome of what the
    /// user did (it stays until the next thing they do) or an error.
    fn note(&mut self, key: &str, vars: &[(&str, &str)], error: bool) {
        self.history.note = (self.options.messages.text(key, vars), error);
        self.history.note_sticky = true;
    }

    /// An error about what the user did, in the status line; a 403 hides what needs writing.
    fn failed(&mut self, key: &str, failure: &Failure) {
        if matches!(failure, Failure::Status(403, _)) && key != "historyPreviewFailed" {
            self.history.forbidden = true;
        }
        let reason = history::reason(failure, self.view.words());
        self.note(key, &[("reason", &reason)], true);
    }

    fn api_base(&self) -> String {
        history::api_base(&self.options.server)
    }

    /// One HTTP request with the token (`Authorization: Bearer`); its answer goes to
    /// `answered` if the session still exists.
    fn request(&self, method: &str, url: &str, body: Option<String>, asked: Asked) {
        let asked = RefCell::new(Some(asked));
        let me = self.me.clone();
        let finish: Rc<dyn Fn(Result<String, Failure>)> = Rc::new(move |answer| {
            if let Some(asked) = asked.borrow_mut().take() {
                with(&me, |s| s.answered(asked, answer));
            }
        });
        let mut headers = Vec::new();
        if let Some(token) = &self.options.token {
            headers.push(("authorization", format!("Bearer {token}").into()));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json".into()));
        }
        let mut init = vec![
            ("method", JsValue::from_str(method)),
            ("headers", object(&headers)),
            ("cache", "no-store".into()),
        ];
        if let Some(body) = body {
            init.push(("body", body.into()));
        }
        let Some(window) = web_sys::window() else {
            return finish(Err(Failure::Unreachable));
        };
        let init: web_sys::RequestInit = object(&init).unchecked_into();
        let fetched = window.fetch_with_str_and_init(url, &init);
        let unreachable = {
            let finish = finish.clone();
            move |_: JsValue| finish(Err(Failure::Unreachable))
        };
        let answered = {
            let unreachable = unreachable.clone();
            move |response: JsValue| {
                let response: web_sys::Response = response.unchecked_into();
                let status = response.status();
                let Ok(text) = response.text() else {
                    return finish(Err(Failure::Unreachable));
                };
                then(
                    &text,
                    Box::new(move |body| {
                        let body = body.as_string().unwrap_or_default();
                        finish(if (200..300).contains(&status) {
                            Ok(body)
                        } else {
                            Err(Failure::Status(status, body))
                        })
                    }),
                    Box::new(unreachable),
                );
            }
        };
        then(&fetched, Box::new(answered), Box::new(unreachable));
    }
}

/// What a promise calls with its value.
type Then = Box<dyn FnOnce(JsValue)>;

/// `promise.then(ok, err)` with closures JavaScript owns until one of them runs.
fn then(promise: &js_sys::Promise, ok: Then, err: Then) {
    let ok = Closure::once_into_js(ok);
    let err = Closure::once_into_js(err);
    if let Ok(then) = js_sys::Reflect::get(promise, &"then".into()) {
        let _ = then
            .unchecked_into::<js_sys::Function>()
            .call2(promise, &ok, &err);
    }
}
