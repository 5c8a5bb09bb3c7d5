//! This device's copy of the document: loaded on mount (before the socket opens), rewritten
//! after changes, forgotten on request. When to write is [`crate::local_copy`]; the IndexedDB
//! calls are [`crate::store`].

use gloo_timers::callback::Timeout;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, StateVector, Transact, Update};

use super::{now_ms, with, Session, REMOTE};
use crate::local_copy::{pause_after, record_key, unsaved_over, Record};
use crate::store::{self, Opened, Store};
use crate::tabs::Note;

/// How long the socket waits for the store to open before connecting without it.
const LOAD_WAIT_MS: u32 = 1_500;

impl Session {
    fn record_key(&self) -> String {
        record_key(&self.options.server, &self.options.doc)
    }

    /// Starts loading the copy (if persistence is on); the socket waits for it.
    pub(super) fn open_store(&mut self) {
        if !self.local.is_loading() {
            return;
        }
        let me = self.me.clone();
        let opened = store::open(&self.record_key(), move |result| {
            with(&me, |s| s.on_store_opened(result))
        });
        if let Err(reason) = opened {
            self.store_refused(&reason);
            return;
        }
        let me = self.me.clone();
        self.store_wait = Some(Timeout::new(LOAD_WAIT_MS, move || {
            with(&me, |s| {
                s.on_store_opened(Err(format!(
                    "IndexedDB did not answer within {LOAD_WAIT_MS} ms"
                )))
            })
        }));
    }

    fn on_store_opened(&mut self, result: Result<Opened, String>) {
        self.store_wait = None;
        // Late (after the wait ran out) or forgotten meanwhile: the page has moved on.
        if !self.local.is_loading() {
            if let Ok(opened) = result {
                opened.db.close();
            }
            return;
        }
        match result {
            Ok(Opened { db, record }) => {
                let me = self.me.clone();
                let me_failed = self.me.clone();
                self.store = Some(Store::new(
                    db,
                    &self.record_key(),
                    move || with(&me, Session::on_copy_written),
                    move |reason| with(&me_failed, |s| s.store_refused(&reason)),
                ));
                let restored = record.map(|bytes| self.restore(&bytes));
                if self.local.loaded() || restored == Some(false) {
                    self.write_copy();
                }
            }
            Err(reason) => self.store_refused(&reason),
        }
        if std::mem::take(&mut self.connect_waiting) {
            self.open_socket();
        }
        self.refresh();
    }

    /// Shows the stored document and counts its unsaved changes; `false` if the record was
    /// unreadable (it is then overwritten with what this page holds).
    fn restore(&mut self, bytes: &[u8]) -> bool {
        let applied = Record::decode(bytes)
            .map_err(|err| err.to_string())
            .and_then(|record| {
                let update = Update::decode_v1(&record.state)
                    .map_err(|err| format!("undecodable document: {err}"))?;
                self.doc
                    .transact_mut_with(REMOTE)
                    .apply_update(update)
                    .map_err(|err| format!("document not applied: {err}"))?;
                let adopted = record.unsaved.iter().map(|(tab, _)| *tab).collect();
                Ok((
                    record.unsaved_total(),
                    (record.writer, record.stamp),
                    adopted,
                ))
            });
        match applied {
            Ok((unsaved, seen, adopted)) => {
                // Every tab's count in it is ours now: this tab's handshake carries them all.
                self.ledger.restored(unsaved as usize);
                self.copy_seen = seen;
                self.adopted = adopted;
                self.patch_textarea(false);
                true
            }
            Err(err) => {
                web_sys::console::error_1(
                    &format!(
                        "collab-textarea: the copy of this document kept on this device is \
                         unreadable ({err}); it is replaced by what the server has"
                    )
                    .into(),
                );
                false
            }
        }
    }

    /// Something the copy should hold changed (an edit, a remote update, an ack).
    pub(super) fn copy_changed(&mut self) {
        // During a pause after a slow write, the write that ends it takes this change along.
        if self.local.changed() && self.copy_pause.is_none() {
            self.write_copy();
        }
    }

    fn write_copy(&mut self) {
        self.copy_pause = None;
        let Some(store) = &self.store else { return };
        self.copy_started_ms = now_ms();
        self.local.write_started();
        let me = self.me.clone();
        let written = store.write(move |stored| {
            let mut record = None;
            with(&me, |s| record = Some(s.record_over(stored)));
            record
        });
        if let Err(reason) = written {
            self.store_refused(&reason);
        }
    }

    /// The record to write over `stored` (read in the same transaction). Where another tab
    /// wrote since this one last did, its document is taken in first, so that what goes back
    /// holds both; its count stays beside ours.
    fn record_over(&mut self, stored: Option<Vec<u8>>) -> Vec<u8> {
        let stored = stored.and_then(|bytes| Record::decode(&bytes).ok());
        let mut state = None;
        if let Some(record) = &stored {
            // Alone (no channel), tabs keep today's rule: the last write wins.
            if self.channel.is_some() && record.written_since(self.copy_seen) {
                state = self.take_in(&record.state);
            }
        }
        self.copy_stamp += 1;
        self.copy_seen = (self.client_id, self.copy_stamp);
        let state = state.unwrap_or_else(|| {
            self.doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default())
        });
        let mine = u32::try_from(self.ledger.unsaved()).unwrap_or(u32::MAX);
        Record {
            writer: self.client_id,
            stamp: self.copy_stamp,
            unsaved: unsaved_over(self.client_id, mine, &self.adopted, stored.as_ref()),
            state,
        }
        .encode()
    }

    /// Takes another tab's stored document into this one. During an IME composition (which
    /// a change of the textarea would break) it waits with the remote updates, and the merged
    /// document to write is returned instead.
    fn take_in(&mut self, state: &[u8]) -> Option<Vec<u8>> {
        self.held_updates.push(state.to_vec());
        if !self.composing {
            self.apply_held();
            return None;
        }
        let ours = self
            .doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        yrs::merge_updates_v1([ours.as_slice(), state]).ok()
    }

    fn on_copy_written(&mut self) {
        if self.local.write_done() {
            match pause_after(now_ms() - self.copy_started_ms) {
                None => self.write_copy(),
                Some(pause_ms) => {
                    let me = self.me.clone();
                    self.copy_pause = Some(Timeout::new(pause_ms, move || {
                        with(&me, Session::write_copy)
                    }));
                }
            }
        }
        self.refresh();
    }

    /// The browser refused to open or write the store: memory only, said once, editing goes on.
    fn store_refused(&mut self, reason: &str) {
        web_sys::console::error_1(
            &format!(
                "collab-textarea: cannot keep changes on this device ({reason}); \
                 unsaved changes stay in this tab's memory only"
            )
            .into(),
        );
        self.local.refused();
        self.store = None;
        self.refresh();
    }

    /// Deletes this device's copy and stops keeping one (for sign-out).
    pub fn forget(&mut self) -> js_sys::Promise {
        self.forget_copy(true)
    }

    /// Stops keeping the copy and deletes it; `tell`: the other tabs that share it stop too
    /// (a sign-out in one tab leaves no copy behind in another's next write).
    pub(super) fn forget_copy(&mut self, tell: bool) -> js_sys::Promise {
        if tell {
            self.post(&Note::Forget);
        }
        self.local.off();
        self.store = None;
        self.store_wait = None;
        self.copy_pause = None;
        if std::mem::take(&mut self.connect_waiting) {
            self.open_socket();
        }
        self.refresh();
        store::forget(&self.record_key())
    }
}
