//! The status dot and the save line, refreshed every tick, and the events they emit.

use wasm_bindgen::JsValue;

use super::{now_ms, object, Session, LABEL_IDLE_MS, TICK_MS};
use crate::direction;
use crate::presence;
use crate::save_line::{header, Local};

impl Session {
    pub(super) fn tick(&mut self) {
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
        self.history_tick();
        self.refresh();
    }

    /// Brings the status dot and save line up to date, queueing events for what changed.
    pub(super) fn refresh(&mut self) {
        let start = self
            .shown
            .slice(0, self.shown.len().min(direction::PREFIX_UNITS));
        self.view.set_direction(direction::of(&start));
        self.post_link();
        let online = self.online();
        let local = Local {
            ledger: &self.ledger,
            edits: &self.edits,
            keeping: self.local.keeping(),
        };
        let header = header(
            &self.state,
            local,
            online,
            now_ms(),
            self.limits.as_ref(),
            self.view.words(),
        );
        let owed = self.reported.tell(&header);
        if owed.status {
            self.events.push((
                "collab-status",
                object(&[
                    ("status", header.status.as_str().into()),
                    ("attempt", header.attempt.into()),
                ]),
            ));
        }
        self.view.set_status(header.status, &header.words);
        self.view.set_save(header.save.state, &header.save.line);
        self.view.announce(&header);
        if owed.save {
            let detail = &header.detail;
            let saved_at = detail.saved_at_ms.map_or(JsValue::NULL, JsValue::from);
            self.events.push((
                "collab-save",
                object(&[
                    ("state", detail.state.into()),
                    ("unsaved", (detail.unsaved as f64).into()),
                    ("savedAt", saved_at),
                    ("local", detail.local.into()),
                ]),
            ));
        }
    }
}
