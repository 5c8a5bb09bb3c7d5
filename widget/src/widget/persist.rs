//! This device's copy of the document: loaded on mount (before the socket opens), rewritten
//! after changes, forgotten on request. When to write is [`crate::local_copy`]; the IndexedDB
//! calls are [`crate::store`].

use gloo_timers::callback::Timeout;
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, StateVector, Transact, Update};

use super::{now_ms, with, Session, REMOTE};
use crate::local_copy::{pause_after, record_key, Record};
use crate::store::{self, Opened, Store};

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
                Ok(record.unsaved)
            });
        match applied {
            Ok(unsaved) => {
                self.ledger.restored(unsaved as usize);
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
        let state = self
            .doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let record = Record {
            unsaved: u32::try_from(self.ledger.unsaved()).unwrap_or(u32::MAX),
            state,
        };
        self.local.write_started();
        if let Err(reason) = store.write(&record.encode()) {
            self.store_refused(&reason);
        }
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
