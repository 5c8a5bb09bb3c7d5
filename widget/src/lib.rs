//! The collaborative textarea, compiled to wasm; `README.md` documents the JavaScript API.
//!
//! # Layout
//! - `lib.rs`: the exported `Widget` class, and nothing else.
//! - [`widget`]: `Session`, one mounted widget wiring the parts below to DOM, socket, timers.
//! - [`binding`]: pure textarea ↔ `Y.Text` logic: diffs, caret mapping, UTF-16.
//! - [`direction`]: pure: a text's direction from its first strong letter (the textarea's `dir`).
//! - [`shown`]: the textarea's value as a JavaScript string, diffed and spliced in place.
//! - [`connection`]: the pure connection state machine, which close codes are retried, and
//!   the reconnect backoff.
//! - [`limits`]: the server's limits message and the update budget per message.
//! - [`pieces`]: an update cut into sync messages that fit that budget.
//! - [`ledger`]: the pure bookkeeping of local changes not yet durably acknowledged.
//! - [`history`]: pure: the versions JSON, the REST URLs, a version's row, failures in words.
//! - [`history_view`]: the history panel's DOM (list, preview, Restore, naming).
//! - [`local_copy`]: the pure rules of this device's copy (IndexedDB): records, when to write.
//! - [`store`]: the IndexedDB calls.
//! - [`save_line`]: the pure words of the status dot and the save line, the events owed,
//!   what the live region announces, and unsaved changes counted as edits.
//! - [`messages`]: the pure catalog of every text shown, the page's replacements, plurals.
//! - [`locale`]: the element's language and the `Intl` formatters for it.
//! - [`presence`]: peers from awareness, colours, initials, relative-position JSON.
//! - [`options`]: checking what the page passed.
//! - [`view`]: the DOM in the shadow root, cursor measurement.
//! - [`socket`]: a WebSocket whose handlers go away with it.
//! - [`tabs`]: pure: the notes tabs of one browser post each other, the leader's bookkeeping.
//! - [`channel`]: the BroadcastChannel and the leader's Web Lock.

pub mod binding;
pub mod channel;
pub mod claims;
pub mod connection;
pub mod direction;
pub mod history;
pub mod history_view;
pub mod ledger;
pub mod limits;
pub mod local_copy;
pub mod locale;
pub mod messages;
pub mod options;
pub mod pieces;
pub mod presence;
pub mod save_line;
pub mod shown;
pub mod socket;
pub mod store;
pub mod tabs;
pub mod view;
pub mod widget;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::options::{Options, RawOptions};
use crate::widget::{with, Session, Shared};

/// A mounted collaborative textarea (see `README.md`).
#[wasm_bindgen]
pub struct Widget {
    session: Shared,
}

#[wasm_bindgen]
impl Widget {
    /// Mounts into `host` (inside its shadow root) and connects.
    #[wasm_bindgen(constructor)]
    pub fn new(host: web_sys::HtmlElement, options: JsValue) -> Result<Widget, JsError> {
        let (raw, token_fn) = read_options(&options)
            .map_err(|e| JsError::new(&format!("collab-textarea: bad options: {e}")))?;
        let options =
            Options::from_raw(raw, &page_server()).map_err(|e| JsError::new(&e.to_string()))?;
        let session = Session::mount(host, options, token_fn).map_err(|e| {
            JsError::new(&format!(
                "collab-textarea: cannot mount: {}",
                e.as_string().unwrap_or_default()
            ))
        })?;
        Ok(Widget { session })
    }

    pub fn text(&self) -> String {
        self.session
            .try_borrow()
            .map(|s| s.text())
            .unwrap_or_default()
    }

    pub fn status(&self) -> String {
        self.session
            .try_borrow()
            .map(|s| s.status().as_str())
            .unwrap_or("disconnected")
            .to_owned()
    }

    pub fn unsaved(&self) -> u32 {
        self.session
            .try_borrow()
            .map(|s| s.unsaved() as u32)
            .unwrap_or(0)
    }

    pub fn retry(&self) {
        with(&self.weak(), Session::retry_now);
    }

    #[wasm_bindgen(js_name = setName)]
    pub fn set_name(&self, name: &str) {
        with(&self.weak(), |s| s.set_name(name));
    }

    #[wasm_bindgen(js_name = setColor)]
    pub fn set_color(&self, color: &str) {
        with(&self.weak(), |s| s.set_color(color));
    }

    #[wasm_bindgen(js_name = setReadonly)]
    pub fn set_readonly(&self, readonly: bool) {
        with(&self.weak(), |s| s.set_readonly(readonly));
    }

    /// Shows or hides the History button (and closes the panel when hiding it).
    #[wasm_bindgen(js_name = setHistory)]
    pub fn set_history(&self, on: bool) {
        with(&self.weak(), |s| s.set_history(on));
    }

    #[wasm_bindgen(js_name = setPlaceholder)]
    pub fn set_placeholder(&self, placeholder: &str) {
        with(&self.weak(), |s| s.set_placeholder(placeholder));
    }

    /// Deletes this device's copy of the document and stops keeping one (for sign-out); the
    /// promise settles when it is gone.
    pub fn forget(&self) -> js_sys::Promise {
        let mut forgotten = None;
        with(&self.weak(), |s| forgotten = Some(s.forget()));
        forgotten.unwrap_or_else(|| {
            js_sys::Promise::reject(&"collab-textarea: forget() after unmount()".into())
        })
    }

    /// Removes every node, listener, timer and socket this widget added. Idempotent.
    pub fn unmount(&self) {
        with(&self.weak(), Session::unmount);
    }

    fn weak(&self) -> std::rc::Weak<std::cell::RefCell<Session>> {
        std::rc::Rc::downgrade(&self.session)
    }
}

/// Reads the options object the page passed: `null` and `undefined` fields count as absent,
/// fields of another type are refused, unknown fields are ignored. `token` may be a function
/// (returned beside the options).
fn read_options(options: &JsValue) -> Result<(RawOptions, Option<js_sys::Function>), String> {
    if !options.is_object() {
        return Err("expected an object".into());
    }
    let field = |key: &str| -> Result<Option<JsValue>, String> {
        let value = js_sys::Reflect::get(options, &JsValue::from_str(key))
            .map_err(|_| format!("cannot read `{key}`"))?;
        Ok((!value.is_null() && !value.is_undefined()).then_some(value))
    };
    let string = |key: &str| -> Result<Option<String>, String> {
        field(key)?
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| format!("`{key}` must be a string"))
            })
            .transpose()
    };
    let token_fn = field("token")?.and_then(|v| v.dyn_into::<js_sys::Function>().ok());
    let token = match token_fn {
        Some(_) => None,
        None => string("token")?,
    };
    let raw = RawOptions {
        server: string("server")?,
        doc: string("doc")?,
        name: string("name")?,
        color: string("color")?,
        debounce: field("debounce")?
            .map(|v| v.as_f64().ok_or("`debounce` must be a number"))
            .transpose()?,
        readonly: field("readonly")?
            .map(|v| v.as_bool().ok_or("`readonly` must be a boolean"))
            .transpose()?,
        placeholder: string("placeholder")?,
        token,
        persist: string("persist")?,
        history: field("history")?
            .map(|v| v.as_bool().ok_or("`history` must be a boolean"))
            .transpose()?,
        messages: field("messages")?
            .map(|v| read_messages(&v))
            .transpose()?
            .unwrap_or_default(),
    };
    Ok((raw, token_fn))
}

/// The `messages` object: each own property a string, or an object of plural forms
/// (`{ one: "…", other: "…" }`) whose values are strings.
fn read_messages(messages: &JsValue) -> Result<Vec<(String, messages::Forms)>, String> {
    let object: &js_sys::Object = messages
        .dyn_ref()
        .ok_or("`messages` must be an object of strings")?;
    let mut out = Vec::new();
    for entry in js_sys::Object::entries(object).iter() {
        let entry: js_sys::Array = entry.unchecked_into();
        let key = entry.get(0).as_string().unwrap_or_default();
        let value = entry.get(1);
        let bad = || format!("`messages.{key}` must be a string or an object of plural forms");
        let forms = if let Some(text) = value.as_string() {
            vec![("other".to_owned(), text)]
        } else if let Some(forms) = value.dyn_ref::<js_sys::Object>() {
            let mut list = Vec::new();
            for form in js_sys::Object::entries(forms).iter() {
                let form: js_sys::Array = form.unchecked_into();
                let text = form.get(1).as_string().ok_or_else(bad)?;
                list.push((form.get(0).as_string().unwrap_or_default(), text));
            }
            if list.is_empty() {
                return Err(bad());
            }
            list
        } else if value.is_null() || value.is_undefined() {
            continue;
        } else {
            return Err(bad());
        };
        out.push((key, forms));
    }
    Ok(out)
}

/// `ws(s)://<page host>/sync`, the default server.
fn page_server() -> String {
    let location = web_sys::window().map(|w| w.location());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:8787".into());
    let secure = location
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    format!("{}://{host}/sync", if secure { "wss" } else { "ws" })
}
