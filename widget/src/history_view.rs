//! The history panel's DOM: a labelled region between the header and the textarea, with the
//! list of versions (one button each), a status line, a read-only preview of the chosen
//! version's text, Restore, and a form to name the current text. Built on first opening.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

use crate::history::{escape_html, Row};
use crate::messages::{fill, Messages};

pub struct Panel {
    pub root: HtmlElement,
    note: HtmlElement,
    list: HtmlElement,
    pub name_form: HtmlElement,
    pub name_input: HtmlInputElement,
    name_button: HtmlButtonElement,
    preview: HtmlTextAreaElement,
    restore: HtmlButtonElement,
    /// The rows drawn, and their buttons, in order.
    rows: Vec<(Row, HtmlElement)>,
    selected: Option<String>,
    /// What the status line says, and whether it is an error.
    note_shown: (String, bool),
}

/// The id of the panel (`aria-controls` of the History button; ids are the shadow root's).
pub const PANEL_ID: &str = "ct-history";

impl Panel {
    pub fn new(document: &web_sys::Document, messages: &Messages) -> Result<Panel, JsValue> {
        // A <section> with a name is a region landmark. Built from markup in one go: a
        // fraction of the code that creating each node would take.
        let root: HtmlElement = document.create_element("section")?.dyn_into()?;
        root.set_class_name("ct-history");
        root.set_id(PANEL_ID);
        root.set_attribute("part", "history")?;
        root.set_attribute("aria-labelledby", "ct-history-title")?;
        root.set_inner_html(&fill_escaped(
            PANEL_HTML,
            &PANEL_TEXTS.map(|key| (key, messages.text(key, &[]))),
        ));
        let find = |selector: &str| -> Result<JsValue, JsValue> {
            root.query_selector(selector)?
                .map(JsValue::from)
                .ok_or_else(|| JsValue::from_str(selector))
        };
        Ok(Panel {
            note: find(".ct-history-note")?.unchecked_into(),
            list: find("ul")?.unchecked_into(),
            name_form: find("form")?.unchecked_into(),
            name_input: find("input")?.unchecked_into(),
            name_button: find("form button")?.unchecked_into(),
            preview: find("textarea")?.unchecked_into(),
            restore: find("[part=history-restore]")?.unchecked_into(),
            root,
            rows: Vec::new(),
            selected: None,
            note_shown: (String::new(), false),
        })
    }

    pub fn set_open(&self, open: bool) {
        self.root.set_hidden(!open);
    }

    /// Draws `rows`: the list is rebuilt when the versions changed (the focused row keeps the
    /// focus), else only the times are brought up to date.
    pub fn set_rows(&mut self, rows: Vec<Row>, focused: Option<String>) -> Result<(), JsValue> {
        let same = rows.len() == self.rows.len()
            && rows.iter().zip(&self.rows).all(|(new, (old, _))| {
                (&new.id, &new.title, &new.authors) == (&old.id, &old.title, &old.authors)
            });
        if same {
            for (new, (old, button)) in rows.into_iter().zip(self.rows.iter_mut()) {
                if new.time != old.time {
                    if let Some(time) = button.query_selector("time")? {
                        time.set_text_content(Some(&new.time));
                    }
                }
                *old = new;
            }
            return Ok(());
        }
        let mut html = String::new();
        for row in &rows {
            html.push_str(&row_html(row));
        }
        self.list.set_inner_html(&html);
        self.rows.clear();
        let mut item = self.list.first_element_child();
        for row in rows {
            let Some(button) = item
                .as_ref()
                .and_then(|li| li.first_element_child())
                .and_then(|b| b.dyn_into::<HtmlElement>().ok())
            else {
                break;
            };
            if focused.as_deref() == Some(row.id.as_str()) {
                button.focus()?;
            }
            item = item.and_then(|li| li.next_element_sibling());
            self.rows.push((row, button));
        }
        let selected = self.selected.take();
        self.select(selected.as_deref());
        Ok(())
    }

    /// Marks the row of version `id` as the chosen one (`aria-current`).
    pub fn select(&mut self, id: Option<&str>) {
        for (row, button) in &self.rows {
            let _ = if Some(row.id.as_str()) == id {
                button.set_attribute("aria-current", "true")
            } else {
                button.remove_attribute("aria-current")
            };
        }
        self.selected = id.map(str::to_owned);
    }

    /// The row (its title and time) of version `id`, if it is listed.
    pub fn row(&self, id: &str) -> Option<&Row> {
        self.rows
            .iter()
            .map(|(row, _)| row)
            .find(|row| row.id == id)
    }

    /// The preview's text; `None` empties it (its placeholder asks to choose a version).
    pub fn set_preview(&self, text: Option<&str>) {
        self.preview.set_value(text.unwrap_or(""));
        self.preview.set_scroll_top(0);
    }

    /// The status line: news, or an error (`data-error`, red).
    pub fn set_note(&mut self, text: &str, error: bool) {
        if self.note_shown.0 == text && self.note_shown.1 == error {
            return;
        }
        self.note.set_text_content(Some(text));
        let _ = if error {
            self.note.set_attribute("data-error", "")
        } else {
            self.note.remove_attribute("data-error")
        };
        self.note_shown = (text.to_owned(), error);
    }

    /// Restore and naming are shown only to those who may write; while a request of theirs
    /// runs (`busy`), or with no version chosen, Restore is disabled.
    pub fn set_controls(&self, can_write: bool, busy: bool, chosen: bool) {
        self.restore.set_hidden(!can_write);
        self.name_form.set_hidden(!can_write);
        self.restore.set_disabled(busy || !chosen);
        self.name_button.set_disabled(busy);
    }

    pub fn is_restore(&self, target: &web_sys::Element) -> bool {
        let restore: &web_sys::Element = self.restore.as_ref();
        target == restore
    }

    /// The version id of the row `target` is in, if any.
    pub fn row_of(target: &web_sys::Element) -> Option<String> {
        target
            .closest("[data-version-id]")
            .ok()
            .flatten()
            .and_then(|row| row.get_attribute("data-version-id"))
    }
}

/// The panel's markup; each `{key}` is that message's text.
const PANEL_HTML: &str = concat!(
    r#"<div class="ct-history-side"><div class="ct-history-title" id="ct-history-title">{historyTitle}</div>"#,
    r#"<p part="history-note" class="ct-history-note" role="status"></p>"#,
    r#"<ul part="history-list" class="ct-history-list" aria-label="{historyList}"></ul>"#,
    r#"<form part="history-name" class="ct-history-name"><input class="ct-history-input" type="text" maxlength="200" aria-label="{historyNameLabel}" placeholder="{historyNameLabel}">"#,
    r#"<button part="history-name-button" class="ct-button" type="submit">{historyName}</button></form></div>"#,
    r#"<div class="ct-history-show"><textarea part="history-preview" class="ct-history-text" readonly dir="auto" aria-label="{historyPreview}" placeholder="{historyPick}"></textarea>"#,
    r#"<button part="history-restore" class="ct-button" type="button" disabled>{historyRestore}</button></div>"#,
);
const PANEL_TEXTS: [&str; 7] = [
    "historyTitle",
    "historyList",
    "historyNameLabel",
    "historyName",
    "historyPreview",
    "historyPick",
    "historyRestore",
];

/// One row: a button (its name reads "Autosave 5m ago Ada") in a list item.
const ROW_HTML: &str = concat!(
    r#"<li><button type="button" part="history-row" class="ct-version" data-version-id="{id}" data-kind="{kind}">"#,
    r#"<span class="ct-version-title" dir="auto">{title}</span> "#,
    r#"<time class="ct-version-time" datetime="{created}" title="{at}">{time}</time> "#,
    r#"<span class="ct-version-authors" dir="auto">{authors}</span></button></li>"#,
);

fn row_html(row: &Row) -> String {
    fill_escaped(
        ROW_HTML,
        &[
            ("id", row.id.clone()),
            ("kind", row.kind.clone()),
            ("title", row.title.clone()),
            ("created", row.created_at.clone()),
            ("at", row.at.clone()),
            ("time", row.time.clone()),
            ("authors", row.authors.clone()),
        ],
    )
}

/// `template` with each `{name}` of `vars` replaced by its value, HTML-escaped.
fn fill_escaped(template: &str, vars: &[(&str, String)]) -> String {
    let escaped: Vec<(&str, String)> = vars
        .iter()
        .map(|(name, value)| (*name, escape_html(value)))
        .collect();
    let vars: Vec<(&str, &str)> = escaped.iter().map(|(n, v)| (*n, v.as_str())).collect();
    fill(template, &vars)
}
