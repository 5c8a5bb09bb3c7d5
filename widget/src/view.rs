//! The widget's DOM, inside an open shadow root: header (status dot, save line, Retry,
//! avatars, a live region), the textarea, and an overlay where remote carets and selections
//! are drawn at positions measured with a hidden mirror of the textarea. Its words come from
//! the page's messages, in the element's language.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, HtmlElement, HtmlTextAreaElement, ShadowRoot};

use collab_core::color::text_color_on;

use crate::connection::Status;
use crate::direction::Direction;
use crate::locale::IntlLocale;
use crate::messages::Messages;
use crate::presence::{initials, User};
use crate::save_line::{Announcer, Header, Words};
use crate::shown::Shown;

const STYLE: &str = include_str!("style.css");
/// Avatars shown before "+N".
const MAX_AVATARS: usize = 6;

pub struct View {
    document: Document,
    shadow: ShadowRoot,
    root: HtmlElement,
    dot: HtmlElement,
    save: HtmlElement,
    pub retry: HtmlElement,
    /// The History button (hidden without the `history` option).
    pub history: HtmlElement,
    presence: HtmlElement,
    pub textarea: HtmlTextAreaElement,
    overlay: HtmlElement,
    mirror: HtmlElement,
    /// The live region: status changes are written here once (see [`Announcer`]).
    live: HtmlElement,
    announcer: Announcer,
    messages: Messages,
    locale: IntlLocale,
    /// What `set_status` and `set_save` last wrote (the DOM is left alone when unchanged).
    shown_status: Option<(Status, String)>,
    shown_save: Option<(&'static str, String)>,
    /// The textarea's `dir`, as `set_direction` last set it.
    shown_direction: Option<Direction>,
}

/// A remote peer's caret and selection, as UTF-16 offsets into the text.
pub struct RemoteCursor {
    pub client_id: u64,
    pub name: String,
    pub color: String,
    pub anchor: u32,
    pub head: u32,
    /// The cursor has not moved for a while: its name label fades out.
    pub idle: bool,
}

/// A point in the editor box: the top of a caret at a text position, and its line height.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
    height: f64,
}

impl View {
    /// Builds the DOM in `host`'s shadow root (reusing one left by an earlier mount), with
    /// the page's `messages` in the host's language.
    pub fn mount(host: &HtmlElement, messages: &Messages) -> Result<View, JsValue> {
        let locale = IntlLocale::for_element(host);
        let document = host
            .owner_document()
            .ok_or_else(|| JsValue::from_str("the host element is not in a document"))?;
        let shadow = match host.shadow_root() {
            Some(shadow) => shadow,
            None => {
                host.attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))?
            }
        };
        shadow.set_inner_html("");
        let style = document.create_element("style")?;
        style.set_text_content(Some(STYLE));
        shadow.append_child(&style)?;

        let el = |tag: &str, class: &str, part: &str| -> Result<HtmlElement, JsValue> {
            let element: HtmlElement = document.create_element(tag)?.dyn_into()?;
            element.set_class_name(class);
            element.set_attribute("part", part)?;
            Ok(element)
        };
        let root = el("div", "ct-root", "root")?;
        let header = el("div", "ct-header", "header")?;
        // The root follows the host's language (for hyphenation, voices), the text its own.
        root.set_attribute("lang", locale.lang())?;
        let dot = el("span", "ct-dot", "status-dot")?;
        dot.set_attribute("role", "img")?;
        // The save line changes every second ("Saved 5s ago"): not live. Changes worth
        // hearing go to the live region, once.
        let save = el("span", "ct-save", "save-line")?;
        save.set_attribute("dir", "auto")?;
        let live = el("span", "ct-live", "live")?;
        live.set_attribute("role", "status")?;
        let retry = el("button", "ct-retry", "retry")?;
        retry.set_attribute("type", "button")?;
        retry.set_text_content(Some(&messages.text("retry", &[])));
        retry.set_hidden(true);
        let history = el("button", "ct-button ct-history-button", "history-button")?;
        history.set_attribute("type", "button")?;
        history.set_attribute("aria-expanded", "false")?;
        history.set_attribute("aria-controls", crate::history_view::PANEL_ID)?;
        history.set_text_content(Some(&messages.text("history", &[])));
        history.set_hidden(true);
        let presence = el("div", "ct-presence", "presence")?;
        presence.set_attribute("aria-label", &messages.text("people", &[]))?;
        presence.set_attribute("role", "list")?;
        let editor = el("div", "ct-editor", "editor")?;
        let textarea: HtmlTextAreaElement =
            el("textarea", "ct-textarea", "textarea")?.unchecked_into();
        textarea.set_attribute("aria-label", &messages.text("textLabel", &[]))?;
        textarea.set_attribute("spellcheck", "true")?;
        let overlay = el("div", "ct-overlay", "overlay")?;
        overlay.set_attribute("aria-hidden", "true")?;
        let mirror: HtmlElement = document.create_element("div")?.dyn_into()?;
        mirror.set_class_name("ct-mirror");
        mirror.set_attribute("aria-hidden", "true")?;

        for child in [&dot, &save, &live, &retry, &history, &presence] {
            header.append_child(child)?;
        }
        editor.append_child(&textarea)?;
        editor.append_child(&overlay)?;
        editor.append_child(&mirror)?;
        root.append_child(&header)?;
        root.append_child(&editor)?;
        shadow.append_child(&root)?;
        Ok(View {
            document,
            shadow,
            root,
            dot,
            save,
            retry,
            history,
            presence,
            textarea,
            overlay,
            mirror,
            live,
            announcer: Announcer::default(),
            messages: messages.clone(),
            locale,
            shown_status: None,
            shown_save: None,
            shown_direction: None,
        })
    }

    /// Removes everything the widget put in the shadow root.
    pub fn unmount(&self) {
        self.shadow.set_inner_html("");
    }

    pub fn document(&self) -> Document {
        self.document.clone()
    }

    /// Puts the history panel between the header and the textarea.
    pub fn insert_panel(&self, panel: &HtmlElement) {
        let editor = self.textarea.parent_node();
        let _ = self.root.insert_before(panel, editor.as_ref());
    }

    /// The element inside the shadow root that has the focus.
    pub fn focused(&self) -> Option<web_sys::Element> {
        self.shadow.active_element()
    }

    /// The page's messages in the element's language.
    pub fn words(&self) -> Words<'_> {
        Words {
            messages: &self.messages,
            locale: &self.locale,
        }
    }

    /// Writes `header`'s news, if it has any, to the live region.
    pub fn announce(&mut self, header: &Header) {
        if let Some(words) = self.announcer.next(header) {
            self.live.set_text_content(Some(&words));
        }
    }

    pub fn set_status(&mut self, status: Status, words: &str) {
        if self
            .shown_status
            .as_ref()
            .is_some_and(|(s, w)| *s == status && w == words)
        {
            return;
        }
        let _ = self.root.set_attribute("data-status", status.as_str());
        let _ = self.dot.set_attribute("aria-label", words);
        let _ = self.dot.set_attribute("title", words);
        self.retry.set_hidden(status != Status::Disconnected);
        self.shown_status = Some((status, words.to_owned()));
    }

    pub fn set_save(&mut self, state: &'static str, line: &str) {
        if self
            .shown_save
            .as_ref()
            .is_some_and(|(s, l)| *s == state && l == line)
        {
            return;
        }
        let _ = self.root.set_attribute("data-save", state);
        if self.save.text_content().as_deref() != Some(line) {
            self.save.set_text_content(Some(line));
        }
        self.shown_save = Some((state, line.to_owned()));
    }

    /// Right-to-left text (Arabic, Hebrew) lays out right to left: `dir` follows the text's
    /// first strong letter, and without one the page's direction applies.
    pub fn set_direction(&mut self, direction: Option<Direction>) {
        if self.shown_direction == direction {
            return;
        }
        let _ = match direction {
            Some(direction) => self.textarea.set_attribute("dir", direction.as_str()),
            None => self.textarea.remove_attribute("dir"),
        };
        self.shown_direction = direction;
    }

    pub fn set_users(&self, users: &[User]) -> Result<(), JsValue> {
        self.presence.set_inner_html("");
        for user in users.iter().take(MAX_AVATARS) {
            let avatar: HtmlElement = self.document.create_element("span")?.dyn_into()?;
            avatar.set_class_name("ct-avatar");
            avatar.set_attribute("part", "avatar")?;
            avatar.set_attribute("role", "listitem")?;
            avatar.set_attribute("data-client-id", &user.client_id.to_string())?;
            let title = if user.is_self {
                avatar.set_attribute("data-self", "true")?;
                self.messages.text("you", &[("name", &user.name)])
            } else {
                user.name.clone()
            };
            avatar.set_attribute("title", &title)?;
            avatar.set_attribute("aria-label", &title)?;
            avatar.style().set_property("background", &user.color)?;
            avatar
                .style()
                .set_property("color", text_color_on(&user.color))?;
            avatar.set_text_content(Some(&initials(&user.name)));
            self.presence.append_child(&avatar)?;
        }
        if users.len() > MAX_AVATARS {
            let more: HtmlElement = self.document.create_element("span")?.dyn_into()?;
            more.set_class_name("ct-more");
            let count = (users.len() - MAX_AVATARS).to_string();
            more.set_text_content(Some(&self.messages.text("more", &[("count", &count)])));
            self.presence.append_child(&more)?;
        }
        Ok(())
    }

    /// Redraws every remote caret and selection for `text` (the textarea's value).
    pub fn draw_cursors(&self, text: &Shown, cursors: &[RemoteCursor]) -> Result<(), JsValue> {
        if cursors.is_empty() && !self.overlay.has_child_nodes() {
            return Ok(());
        }
        self.overlay.set_inner_html("");
        if cursors.is_empty() {
            return Ok(());
        }
        // A caret is placed by laying out the text before it in the mirror, which costs as
        // much as laying out that text: carets past `MEASURED_TEXT_MAX` are not drawn (the
        // user is still listed in the presence bar).
        let cursors: Vec<&RemoteCursor> = cursors
            .iter()
            .filter(|c| c.anchor.max(c.head) <= MEASURED_TEXT_MAX)
            .collect();
        if cursors.is_empty() {
            return Ok(());
        }
        let layout = self.layout()?;
        for cursor in cursors {
            let group: HtmlElement = self.document.create_element("div")?.dyn_into()?;
            group.set_class_name("ct-cursor");
            group.set_attribute("data-client-id", &cursor.client_id.to_string())?;
            group.set_attribute("data-name", &cursor.name)?;
            let (start, end) = (
                cursor.anchor.min(cursor.head),
                cursor.anchor.max(cursor.head),
            );
            if start != end {
                let from = self.measure(text, start, &layout)?;
                let to = self.measure(text, end, &layout)?;
                for rect in selection_rects(from, to, &layout) {
                    let tint = format!(
                        "color-mix(in srgb, {} var(--ct-selection-mix), transparent)",
                        cursor.color
                    );
                    let selection = self.block("ct-selection", rect, &tint)?;
                    group.append_child(&selection)?;
                }
            }
            let head = self.measure(text, cursor.head.min(text.len()), &layout)?;
            if head.y + head.height >= 0.0 && head.y <= layout.height {
                let caret = self.block(
                    "ct-caret",
                    (head.x, head.y, 2.0, head.height),
                    &cursor.color,
                )?;
                let label: HtmlElement = self.document.create_element("div")?.dyn_into()?;
                let mut class = String::from("ct-label");
                if head.y < 16.0 {
                    class.push_str(" ct-below");
                }
                if cursor.idle {
                    class.push_str(" ct-idle");
                }
                label.set_class_name(&class);
                label.set_text_content(Some(&cursor.name));
                let style = label.style();
                style.set_property("background", &cursor.color)?;
                style.set_property("color", text_color_on(&cursor.color))?;
                style.set_property("left", &px(head.x - 1.0))?;
                let top = if head.y < 16.0 {
                    head.y + head.height
                } else {
                    head.y
                };
                style.set_property("top", &px(top))?;
                group.append_child(&caret)?;
                group.append_child(&label)?;
            }
            self.overlay.append_child(&group)?;
        }
        Ok(())
    }

    fn block(
        &self,
        class: &str,
        rect: (f64, f64, f64, f64),
        color: &str,
    ) -> Result<HtmlElement, JsValue> {
        let block: HtmlElement = self.document.create_element("div")?.dyn_into()?;
        block.set_class_name(class);
        let style = block.style();
        style.set_property("left", &px(rect.0))?;
        style.set_property("top", &px(rect.1))?;
        style.set_property("width", &px(rect.2))?;
        style.set_property("height", &px(rect.3))?;
        style.set_property("background", color)?;
        Ok(block)
    }

    /// Copies the textarea's text layout onto the mirror and reads the geometry we need.
    fn layout(&self) -> Result<Layout, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let computed = window
            .get_computed_style(&self.textarea)?
            .ok_or("no computed style")?;
        let mirror = self.mirror.style();
        for property in [
            "font-family",
            "font-size",
            "font-weight",
            "font-style",
            "font-variant",
            "font-stretch",
            "line-height",
            "letter-spacing",
            "word-spacing",
            "text-transform",
            "text-indent",
            "tab-size",
            "padding-top",
            "padding-right",
            "padding-bottom",
            "padding-left",
            "white-space",
            "overflow-wrap",
            "word-break",
            "direction",
        ] {
            mirror.set_property(property, &computed.get_property_value(property)?)?;
        }
        let number = |name: &str| -> f64 {
            computed
                .get_property_value(name)
                .ok()
                .and_then(|v| parse_number(v.trim_end_matches("px")))
                .unwrap_or(0.0)
        };
        let textarea: &HtmlElement = self.textarea.unchecked_ref();
        mirror.set_property("box-sizing", "border-box")?;
        mirror.set_property("width", &px(f64::from(textarea.client_width())))?;
        let line_height = match parse_number(
            computed
                .get_property_value("line-height")?
                .trim_end_matches("px"),
        ) {
            Some(height) => height,
            None => number("font-size") * 1.2,
        };
        Ok(Layout {
            origin_x: f64::from(textarea.offset_left()) + number("border-left-width")
                - f64::from(self.textarea.scroll_left()),
            origin_y: f64::from(textarea.offset_top()) + number("border-top-width")
                - f64::from(self.textarea.scroll_top()),
            padding_left: number("padding-left"),
            content_right: f64::from(textarea.client_width()) - number("padding-right"),
            line_height,
            height: f64::from(textarea.client_height()),
        })
    }

    /// Where the caret before UTF-16 offset `index` is drawn, in overlay coordinates.
    fn measure(&self, text: &Shown, index: u32, layout: &Layout) -> Result<Point, JsValue> {
        let index = index.min(text.len());
        self.mirror.set_inner_html("");
        let before = text.slice(0, index);
        self.mirror
            .append_child(&self.document.create_text_node(&before))?;
        let marker: HtmlElement = self.document.create_element("span")?.dyn_into()?;
        marker.set_text_content(Some("\u{200b}"));
        self.mirror.append_child(&marker)?;
        Ok(Point {
            x: layout.origin_x + f64::from(marker.offset_left()),
            y: layout.origin_y + f64::from(marker.offset_top()),
            height: f64::from(marker.offset_height()).max(layout.line_height * 0.8),
        })
    }
}

/// The longest text before a remote caret (UTF-16 units) that is measured to draw it. In
/// headless Chromium on a 2-core machine, laying out 10 Mi characters of text takes 4-7 s,
/// so 256 Ki about 0.1-0.2 s per drawing, and 20 Mi about twenty seconds.
pub const MEASURED_TEXT_MAX: u32 = 256 * 1024;

struct Layout {
    /// Where the textarea's content box (plus padding) starts, scroll included.
    origin_x: f64,
    origin_y: f64,
    padding_left: f64,
    /// The right edge of the text area, relative to `origin_x`.
    content_right: f64,
    line_height: f64,
    height: f64,
}

/// Rectangles (x, y, width, height) covering a selection from `from` to `to`.
fn selection_rects(from: Point, to: Point, layout: &Layout) -> Vec<(f64, f64, f64, f64)> {
    if (from.y - to.y).abs() < 1.0 {
        return vec![(from.x, from.y, (to.x - from.x).max(1.0), from.height)];
    }
    let left = layout.origin_x + layout.padding_left;
    let right = layout.origin_x + layout.content_right;
    let mut rects = vec![(from.x, from.y, (right - from.x).max(1.0), from.height)];
    let middle_top = from.y + from.height;
    if to.y > middle_top {
        rects.push((left, middle_top, right - left, to.y - middle_top));
    }
    rects.push((left, to.y, (to.x - left).max(1.0), to.height));
    rects
}

/// `format!("{value:.1}px")` without Rust's float formatting (a large part of the wasm):
/// rounded to tenths as it rounds, from the exact binary value, ties to even.
fn px(value: f64) -> String {
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value.is_nan() {
        return "NaNpx".into();
    }
    match tenths(value.abs()) {
        Some(tenths) => format!("{sign}{}.{}px", tenths / 10, tenths % 10),
        // Infinite, or 2^67 px and beyond: nothing a layout produces.
        None if value.is_infinite() => format!("{sign}infpx"),
        None => format!(
            "{}px",
            js_sys::Number::from(value).to_fixed(1).unwrap_or_default()
        ),
    }
}

/// `value` (finite, ≥ 0) × 10, rounded to an integer, ties to even; `None` from 2^67 on.
fn tenths(value: f64) -> Option<u128> {
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let (mantissa, exponent) = match exponent {
        0x7ff => return None,
        0 => (bits & ((1 << 52) - 1), -1074),
        _ => ((bits & ((1 << 52) - 1)) | (1 << 52), exponent - 1075),
    };
    // value = mantissa × 2^exponent, so value × 10 = mantissa × 10 / 2^-exponent.
    let times_ten = u128::from(mantissa) * 10;
    if exponent >= 0 {
        return (exponent <= 14).then(|| times_ten << exponent);
    }
    let shift = -exponent;
    if shift >= 64 {
        return Some(0); // below 2^-8: rounds to 0.0
    }
    let quotient = times_ten >> shift;
    let remainder = times_ten & ((1 << shift) - 1);
    let half = 1u128 << (shift - 1);
    let up = remainder > half || (remainder == half && quotient % 2 == 1);
    Some(quotient + u128::from(up))
}

/// `text.parse::<f64>().ok()` without Rust's float parsing: the same syntax check, and the
/// value from JavaScript's `Number()`, which rounds correctly too.
fn parse_number(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let negative = text.starts_with('-');
    let special = match unsigned.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(value) = special {
        return Some(if negative { -value } else { value });
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid = digits(whole)
        && digits(fraction)
        && !(whole.is_empty() && fraction.is_empty())
        && exponent.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        });
    valid.then(|| js_sys::Number::from(JsValue::from_str(text)).value_of())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn px_rounds_like_rust_formatting() {
        let mut values = vec![
            0.0, -0.0, 0.25, 0.35, 0.75, 1.25, 2.5, -0.04, -0.05, 0.05, 0.15,
        ];
        let mut x = 0.123_456_789_f64;
        for i in 0..200_000 {
            x = (x * 1103.515245 + 0.12345).fract();
            values.push(x * 4000.0 - 1000.0);
            values.push(f64::from(i) / 20.0);
            values.push(f64::from(i) / 40.0 - 100.0);
            values.push(f64::from(i) * 0.05);
            values.push(f64::from(i) * 0.1 + 0.05);
            values.push(x * 1e16);
            values.push(x * 1e-3);
        }
        for value in values {
            assert_eq!(px(value), format!("{value:.1}px"), "{value:e}");
        }
    }
}
