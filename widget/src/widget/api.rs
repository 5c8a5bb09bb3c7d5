//! What the JavaScript `Widget` class calls: reads, setters, retry, unmount.

use yrs::{GetString, Observable, Transact};

use super::{Session, OBSERVER};
use crate::connection::{Effect, Event, Status};
use crate::options::clean_name;
use crate::presence;

impl Session {
    pub fn text(&self) -> String {
        self.text.get_string(&self.doc.transact())
    }

    pub fn status(&self) -> Status {
        self.state.status()
    }

    pub fn unsaved(&self) -> usize {
        self.edits.among(self.ledger.unsaved())
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
        self.draw_history();
    }

    pub fn set_placeholder(&mut self, placeholder: &str) {
        self.view.textarea.set_placeholder(placeholder);
    }

    /// Says goodbye to peers, closes the socket, and removes every listener, timer and node.
    pub fn unmount(&mut self) {
        if self.unmounted {
            return;
        }
        self.say_goodbye();
        let effects = self.transition(Event::Stop);
        for effect in effects {
            if effect == Effect::CloseSocket {
                self.socket = None;
            }
        }
        // The lock goes to the next tab in line, which connects in our place (our socket has
        // been closed first).
        self.channel = None;
        self.listeners.clear();
        self.history = Default::default();
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
