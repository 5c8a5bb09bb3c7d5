//! `Shown`: what the textarea shows, kept as a JavaScript string, so that typing and remote
//! splices cost what the edit costs, not a copy of the whole text into wasm.

use js_sys::JsString;
use wasm_bindgen::prelude::*;
use web_sys::HtmlTextAreaElement;

use crate::binding::{self, Splice, Units};

#[wasm_bindgen]
extern "C" {
    /// A textarea seen as something with a string `value`: web-sys' `value()` copies it into
    /// a Rust `String`, this reads it as a JavaScript string.
    type HasValue;
    #[wasm_bindgen(method, getter, structural)]
    fn value(this: &HasValue) -> JsString;
}

/// The textarea's value as the widget left it: equal to the `Y.Text` after every sync step.
pub struct Shown(JsString);

impl Default for Shown {
    fn default() -> Self {
        Shown(JsString::from(""))
    }
}

impl Shown {
    /// The textarea's current value.
    pub fn read(textarea: &HtmlTextAreaElement) -> Shown {
        Shown(textarea.unchecked_ref::<HasValue>().value())
    }

    /// Length in UTF-16 units.
    pub fn len(&self) -> u32 {
        self.0.length()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Units `start..end` as a Rust string (lone surrogates become U+FFFD).
    pub fn slice(&self, start: u32, end: u32) -> String {
        self.0.slice(start, end).into()
    }

    /// The whole text as UTF-16 units (through a Rust string, as `textarea.value()` reads).
    pub fn to_units(&self) -> Vec<u16> {
        String::from(&self.0).encode_utf16().collect()
    }

    /// The splice that turned `self` into `new`, `caret` being where the caret is in `new`
    /// (see `binding::diff`); `None` when they are equal. Costs the edit, plus two native string
    /// comparisons, when the edit ended at the caret; otherwise both texts are copied and
    /// scanned.
    pub fn diff(&self, new: &Shown, caret: Option<u32>) -> Option<Splice> {
        if self.0 == new.0 {
            return None;
        }
        let found = caret.and_then(|caret| binding::edit_at_caret(self, new, caret));
        match found {
            Some((prefix, suffix)) => {
                let (old_len, new_len) = (self.units(), new.units());
                Some(Splice {
                    index: prefix as u32,
                    delete: (old_len - prefix - suffix) as u32,
                    insert: new.slice(prefix as u32, (new_len - suffix) as u32),
                })
            }
            None => binding::diff(&self.to_units(), &new.to_units(), caret),
        }
    }

    /// Applies `splice` (indices clamped to the text, as `binding::apply` does).
    pub fn apply(&mut self, splice: &Splice) {
        let len = self.len();
        let start = splice.index.min(len);
        let end = start.saturating_add(splice.delete).min(len);
        let head = self.0.slice(0, start);
        let tail = self.0.slice(end, len);
        self.0 = head
            .concat(&JsValue::from_str(&splice.insert))
            .concat(&tail);
    }

    /// Whether this is exactly `text`.
    pub fn is(&self, text: &str) -> bool {
        self.0 == text
    }
}

impl Units for Shown {
    fn units(&self) -> usize {
        self.0.length() as usize
    }

    fn unit(&self, index: usize) -> u16 {
        self.0.char_code_at(index as u32) as u16
    }

    fn same_range(&self, start: usize, other: &Self, other_start: usize, len: usize) -> bool {
        let end = (start + len) as u32;
        let other_end = (other_start + len) as u32;
        // Slices of long strings share their characters; `===` compares them natively.
        self.0.slice(start as u32, end) == other.0.slice(other_start as u32, other_end)
    }
}
