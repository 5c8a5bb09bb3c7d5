//! The IndexedDB glue, thin: open the database, read one record, write it (read, then put, in
//! one transaction), delete it. What a
//! record holds and when to write it is [`crate::local_copy`].
//!
//! One database (`collab-textarea`, version 1) with one object store (`docs`) of byte records
//! keyed by server URL and document. Every failure comes back as a sentence for the console.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbDatabase, IdbRequest, IdbTransaction, IdbTransactionMode};

const DATABASE: &str = "collab-textarea";
const VERSION: u32 = 1;
const DOCS: &str = "docs";

type Callback = Closure<dyn FnMut(web_sys::Event)>;

/// An open store for one record, writing one write at a time.
pub struct Store {
    db: IdbDatabase,
    key: JsValue,
    /// The write in flight, whose handlers are removed if the store goes first.
    writing: RefCell<Option<IdbTransaction>>,
    on_written: Callback,
    on_failed: Callback,
}

/// The store and the record it held, if any.
pub struct Opened {
    pub db: IdbDatabase,
    pub record: Option<Vec<u8>>,
}

impl Store {
    /// The store for record `key` in `db`: `written` is called when a write completes,
    /// `failed` with the reason when one fails (quota, the browser's refusal).
    pub fn new(
        db: IdbDatabase,
        key: &str,
        written: impl FnMut() + 'static,
        failed: impl FnMut(String) + 'static,
    ) -> Store {
        let mut written = written;
        let mut failed = failed;
        Store {
            db,
            key: JsValue::from_str(key),
            writing: RefCell::new(None),
            on_written: Closure::new(move |_: web_sys::Event| written()),
            on_failed: Closure::new(move |event: web_sys::Event| failed(event_error(&event))),
        }
    }

    /// Starts a write of the record: reads what is stored, gives it to `make`, and puts what
    /// `make` returns (nothing: no put), in one transaction, so that no other tab's write
    /// comes between the read and the put. The outcome comes to `written` or `failed`.
    pub fn write(
        &self,
        make: impl FnOnce(Option<Vec<u8>>) -> Option<Vec<u8>> + 'static,
    ) -> Result<(), String> {
        let txn = self
            .db
            .transaction_with_str_and_mode(DOCS, IdbTransactionMode::Readwrite)
            .map_err(|e| describe(&e))?;
        let read = txn
            .object_store(DOCS)
            .and_then(|docs| docs.get(&self.key))
            .map_err(|e| describe(&e))?;
        let (got, key, putting) = (read.clone(), self.key.clone(), txn.clone());
        read.set_onsuccess(Some(
            &Closure::once_into_js(move |_: web_sys::Event| {
                let stored = got
                    .result()
                    .ok()
                    .and_then(|value| value.dyn_into::<js_sys::Uint8Array>().ok())
                    .map(|bytes| bytes.to_vec());
                if let Some(bytes) = make(stored) {
                    let put = putting.object_store(DOCS).and_then(|docs| {
                        docs.put_with_key(&js_sys::Uint8Array::from(bytes.as_slice()), &key)
                    });
                    if put.is_err() {
                        let _ = putting.abort();
                    }
                }
            })
            .unchecked_into(),
        ));
        txn.set_oncomplete(Some(self.on_written.as_ref().unchecked_ref()));
        // A failed put aborts its transaction (a quota error surfaces only here).
        txn.set_onabort(Some(self.on_failed.as_ref().unchecked_ref()));
        *self.writing.borrow_mut() = Some(txn);
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // A write in flight still completes (closing waits for it); nobody is told.
        if let Some(txn) = self.writing.take() {
            txn.set_oncomplete(None);
            txn.set_onabort(None);
        }
        self.db.close();
    }
}

/// Opens the database and reads record `key`; `done` gets the outcome. Fails at once (and
/// never calls `done`) where the browser has no IndexedDB or refuses to open it.
pub fn open(key: &str, done: impl FnOnce(Result<Opened, String>) + 'static) -> Result<(), String> {
    let key = JsValue::from_str(key);
    let done = once(done);
    open_db(
        {
            let done = done.clone();
            move |db| {
                let read = db
                    .transaction_with_str(DOCS)
                    .and_then(|txn| txn.object_store(DOCS))
                    .and_then(|docs| docs.get(&key));
                let request = match read {
                    Ok(request) => request,
                    Err(err) => return call(&done, Err(describe(&err))),
                };
                let got = request.clone();
                let done_ok = done.clone();
                on_request(
                    &request,
                    move || {
                        let record = got
                            .result()
                            .ok()
                            .and_then(|value| value.dyn_into::<js_sys::Uint8Array>().ok())
                            .map(|bytes| bytes.to_vec());
                        call(&done_ok, Ok(Opened { db, record }));
                    },
                    move |reason| call(&done, Err(reason)),
                );
            }
        },
        move |reason| call(&done, Err(reason)),
    )
}

/// Deletes record `key` (the page asked to forget this device's copy); the promise resolves
/// when it is gone (or there was no database), and rejects with the reason it could not be.
pub fn forget(key: &str) -> js_sys::Promise {
    let key = JsValue::from_str(key);
    js_sys::Promise::new(&mut |resolve: js_sys::Function, reject: js_sys::Function| {
        let fail = {
            let reject = reject.clone();
            move |reason: String| {
                let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(&reason));
            }
        };
        let fail_open = fail.clone();
        let key = key.clone();
        let opened = open_db(
            move |db| {
                let deleted = db
                    .transaction_with_str_and_mode(DOCS, IdbTransactionMode::Readwrite)
                    .and_then(|txn| txn.object_store(DOCS).map(|docs| (txn, docs)))
                    .and_then(|(txn, docs)| docs.delete(&key).map(|_| txn));
                match deleted {
                    Ok(txn) => {
                        let closing = db.clone();
                        let resolve = resolve.clone();
                        txn.set_oncomplete(Some(
                            &Closure::once_into_js(move |_: web_sys::Event| {
                                closing.close();
                                let _ = resolve.call0(&JsValue::NULL);
                            })
                            .unchecked_into(),
                        ));
                        let fail = fail.clone();
                        txn.set_onabort(Some(
                            &Closure::once_into_js(move |event: web_sys::Event| {
                                db.close();
                                fail(event_error(&event));
                            })
                            .unchecked_into(),
                        ));
                    }
                    Err(err) => {
                        db.close();
                        fail(describe(&err));
                    }
                }
            },
            fail_open.clone(),
        );
        if let Err(reason) = opened {
            fail_open(reason);
        }
    })
}

/// Opens (creating on first use) the database; `ready` or `failed` is called later.
fn open_db(
    ready: impl FnOnce(IdbDatabase) + 'static,
    failed: impl FnOnce(String) + 'static,
) -> Result<(), String> {
    let factory = web_sys::window()
        .ok_or("no window")?
        .indexed_db()
        .map_err(|e| describe(&e))?
        .ok_or("this browser has no IndexedDB")?;
    let request = factory
        .open_with_u32(DATABASE, VERSION)
        .map_err(|e| describe(&e))?;
    let upgrading = request.clone();
    request.set_onupgradeneeded(Some(
        &Closure::once_into_js(move |_: web_sys::Event| {
            if let Ok(db) = upgrading
                .result()
                .and_then(|db| db.dyn_into::<IdbDatabase>())
            {
                // Version 1 is the first: there is nothing older to carry over.
                let _ = db.create_object_store(DOCS);
            }
        })
        .unchecked_into(),
    ));
    let opened = request.clone();
    let failed = once(failed);
    let failed_shape = failed.clone();
    on_request(
        &request,
        move || match opened.result().and_then(|db| db.dyn_into::<IdbDatabase>()) {
            Ok(db) => ready(db),
            Err(err) => call(&failed_shape, describe(&err)),
        },
        move |reason| call(&failed, reason),
    );
    Ok(())
}

/// Calls `ok` when `request` succeeds, `failed` with the reason when it fails.
fn on_request(
    request: &IdbRequest,
    ok: impl FnOnce() + 'static,
    failed: impl FnOnce(String) + 'static,
) {
    request.set_onsuccess(Some(
        &Closure::once_into_js(move |_: web_sys::Event| ok()).unchecked_into(),
    ));
    request.set_onerror(Some(
        &Closure::once_into_js(move |event: web_sys::Event| {
            // Handled here: it must not also abort a transaction and reach the page.
            event.prevent_default();
            failed(event_error(&event));
        })
        .unchecked_into(),
    ));
}

/// A callback that may be reached from several handlers but runs once.
type Once<T> = Rc<RefCell<Option<Box<dyn FnOnce(T)>>>>;

fn once<T>(f: impl FnOnce(T) + 'static) -> Once<T> {
    Rc::new(RefCell::new(Some(Box::new(f))))
}

fn call<T>(f: &Once<T>, value: T) {
    let f = f.borrow_mut().take();
    if let Some(f) = f {
        f(value);
    }
}

/// The `error` of an IndexedDB event's target (request or transaction), as `Name: message`.
fn event_error(event: &web_sys::Event) -> String {
    event
        .target()
        .and_then(|target| js_sys::Reflect::get(&target, &"error".into()).ok())
        .filter(|error| !error.is_null() && !error.is_undefined())
        .map(|error| describe(&error))
        .unwrap_or_else(|| "the transaction was aborted".to_owned())
}

/// A thrown value or `DOMException` as `Name: message`.
fn describe(error: &JsValue) -> String {
    let field = |name: &str| {
        js_sys::Reflect::get(error, &name.into())
            .ok()
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty())
    };
    match (field("name"), field("message")) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => error.as_string().unwrap_or_else(|| format!("{error:?}")),
    }
}
