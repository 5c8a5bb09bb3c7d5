//! Local edits: input, undo and redo turned into `Y.Text` transactions and sent after the
//! debounce; changes not made by typing patched into the textarea, and the check that it
//! still shows the document.

use gloo_timers::callback::Timeout;
use wasm_bindgen::JsCast;
use web_sys::KeyboardEvent;
use yrs::{GetString, Text, Transact};

use super::{with, Session, INPUT};
use crate::binding;
use crate::pieces::Carrier;
use crate::shown::Shown;
use crate::socket::Socket;
use crate::tabs::{Note, Role};

impl Session {
    pub(super) fn on_input(&mut self) {
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
        let at = (splice.index, splice.delete, splice.insert_len());
        self.local_change(Some(at));
        self.send_cursor_soon();
    }

    pub(super) fn on_keydown(&mut self, event: &web_sys::Event) {
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

    pub(super) fn undo_or_redo(&mut self, undo: bool) {
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
            self.local_change(None);
        }
    }

    /// A local change was made (typing at `at`, or an undo or redo): count it and schedule
    /// sending it.
    fn local_change(&mut self, at: Option<(u32, u32, u32)>) {
        self.ledger.record();
        self.edits
            .change(at, super::now_ms(), self.ledger.unsaved());
        self.copy_changed();
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
    /// many messages as the server's limit needs); a follower pushes it to the leader, and a
    /// leader relays it to the other tabs.
    pub(super) fn flush(&mut self) {
        self.debounce = None;
        let updates = std::mem::take(&mut *self.outbox.borrow_mut());
        if updates.is_empty() {
            return;
        }
        let follower = self.role == Role::Follower;
        // Offline and alone, there is nothing to do: the next handshake sends all of it.
        if !follower && !self.relays() && !self.socket.as_ref().is_some_and(Socket::is_open) {
            return;
        }
        let update = match updates.len() {
            1 => updates.into_iter().next().unwrap_or_default(),
            _ => yrs::merge_updates_v1(&updates).unwrap_or_else(|_| updates.concat()),
        };
        if follower {
            self.push(update);
            let pushed = self.pushes;
            self.ledger.sent(pushed);
        } else {
            if self.relays() {
                self.post(&Note::Relay {
                    from: self.client_id,
                    update: update.clone(),
                });
            }
            if self.socket.as_ref().is_some_and(Socket::is_open) {
                if let Some(carried) = self.send_update(update, Carrier::Update) {
                    self.ledger.sent(carried);
                }
            }
        }
        self.refresh();
    }

    /// Applies text changes that did not come from typing to the textarea, keeping the
    /// local selection where the user left it — or, for our own undo/redo
    /// (`caret_to_change`), putting the caret at the end of the change, as editors do.
    pub(super) fn patch_textarea(&mut self, caret_to_change: bool) {
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
    pub(super) fn reset_shown(&mut self) -> bool {
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
}
