//! Presence: our cursor and name sent as awareness, the peers' list and carets drawn.

use gloo_timers::callback::Timeout;
use wasm_bindgen::prelude::*;
use yrs::sync::AwarenessUpdate;
use yrs::Transact;

use collab_core::wire::MAX_CLIENT_ID;

use super::{now_ms, object, with, Session, LABEL_IDLE_MS};
use crate::presence::{self, User};
use crate::tabs::Note;
use crate::view::RemoteCursor;

impl Session {
    fn local_cursor(&self) -> Option<(serde_json::Value, serde_json::Value)> {
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
    pub(super) fn send_cursor_soon(&mut self) {
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

    pub(super) fn send_cursor(&mut self) {
        let selection = self.current_selection();
        if selection != self.sent_cursor {
            self.sent_cursor = selection;
            self.send_awareness();
        }
    }

    pub(super) fn send_awareness(&mut self) {
        self.awareness_clock += 1;
        self.awareness_sent_at = now_ms();
        let state =
            presence::local_state(&self.options.name, &self.options.color, self.local_cursor());
        let bytes = encode_awareness_entries(&[(self.client_id, self.awareness_clock, &state)]);
        if let Some(socket) = &self.socket {
            socket.send(&bytes);
        }
        self.post(&Note::Awareness {
            from: self.client_id,
            message: bytes,
        });
    }

    /// Peers' states from the server, or (`from_tab`) from another tab of this browser.
    pub(super) fn apply_awareness(&mut self, update: AwarenessUpdate, from_tab: bool) {
        let now = now_ms();
        let mut changed = false;
        for (client, entry) in update.clients {
            let client = client.get();
            if client == self.client_id {
                continue;
            }
            if from_tab {
                self.tab_peers.retain(|&tab| tab != client);
                if &*entry.json != "null" {
                    self.tab_peers.push(client);
                }
            }
            changed |= self.peers.apply(client, entry.clock, &entry.json, now);
        }
        if changed {
            self.emit_presence();
            self.draw_cursors();
        }
    }

    pub(super) fn emit_presence(&mut self) {
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

    pub(super) fn draw_cursors(&mut self) {
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

/// An awareness message carrying these clients' states: (client, clock, JSON).
pub(super) fn encode_awareness_entries(entries: &[(u64, u32, &str)]) -> Vec<u8> {
    use yrs::encoding::write::Write;
    let mut payload = Vec::new();
    payload.write_var(entries.len() as u32);
    for (client, clock, json) in entries {
        payload.write_var(*client);
        payload.write_var(*clock);
        payload.write_string(json);
    }
    let mut message = Vec::with_capacity(payload.len() + 4);
    message.write_var(1u32);
    message.write_buf(payload);
    message
}

pub(super) fn encode_awareness_removal(client: u64, clock: u32) -> Vec<u8> {
    encode_awareness_entries(&[(client, clock, "null")])
}
