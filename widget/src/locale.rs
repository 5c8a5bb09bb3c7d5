//! The element's language (its nearest `lang`, the page's, the browser's) and the
//! `Intl.PluralRules` / `Intl.RelativeTimeFormat` that speak it, as a [`Locale`].

use js_sys::{Array, Function, Intl, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::HtmlElement;

use crate::messages::{English, Locale, Unit};

/// `Intl` in one language; English where the browser lacks `Intl` or refuses the tag.
pub struct IntlLocale {
    lang: String,
    plurals: Option<Intl::PluralRules>,
    times: Option<Intl::RelativeTimeFormat>,
}

impl IntlLocale {
    /// For `host`: the `lang` of the host or its nearest ancestor, else `<html lang>`, else
    /// `navigator.language`, else English.
    pub fn for_element(host: &HtmlElement) -> IntlLocale {
        let lang = element_lang(host)
            .or_else(|| {
                let html = host.owner_document()?.document_element()?;
                non_empty(html.get_attribute("lang"))
            })
            .or_else(|| non_empty(web_sys::window()?.navigator().language()))
            .unwrap_or_else(|| "en".to_owned());
        IntlLocale::new(&lang)
    }

    pub fn new(lang: &str) -> IntlLocale {
        let options = Object::new();
        let _ = Reflect::set(&options, &"style".into(), &"narrow".into());
        IntlLocale {
            lang: lang.to_owned(),
            plurals: construct("PluralRules", lang, &Object::new()).map(JsCast::unchecked_into),
            times: construct("RelativeTimeFormat", lang, &options).map(JsCast::unchecked_into),
        }
    }

    /// The language tag it was made for.
    pub fn lang(&self) -> &str {
        &self.lang
    }
}

impl Locale for IntlLocale {
    fn plural(&self, count: f64) -> String {
        match &self.plurals {
            Some(rules) => String::from(rules.select(count)),
            None => English.plural(count),
        }
    }

    fn ago(&self, value: u64, unit: Unit) -> String {
        match &self.times {
            Some(format) => String::from(format.format(-(value as f64), unit.as_str())),
            None => English.ago(value, unit),
        }
    }

    fn date_time(&self, ms: f64) -> String {
        let options = Object::new();
        let _ = Reflect::set(&options, &"dateStyle".into(), &"medium".into());
        let _ = Reflect::set(&options, &"timeStyle".into(), &"short".into());
        // `toLocaleString` falls back to the browser's language for a tag `Intl` refuses.
        let lang = if self.times.is_some() {
            self.lang.as_str()
        } else {
            "en"
        };
        String::from(js_sys::Date::new(&ms.into()).to_locale_string(lang, &options))
    }
}

/// `new Intl[name](lang, options)`, or `None` when there is no such constructor or it throws
/// (a malformed language tag is a `RangeError`).
fn construct(name: &str, lang: &str, options: &Object) -> Option<JsValue> {
    let intl = Reflect::get(&js_sys::global(), &"Intl".into()).ok()?;
    let constructor: Function = Reflect::get(&intl, &name.into()).ok()?.dyn_into().ok()?;
    let args = Array::of2(&Array::of1(&lang.into()), options);
    Reflect::construct(&constructor, &args).ok()
}

/// The `lang` of `host` or its nearest ancestor that has one (an empty `lang` means
/// "unknown": no language).
fn element_lang(host: &HtmlElement) -> Option<String> {
    let element = host.closest("[lang]").ok()??;
    non_empty(element.get_attribute("lang"))
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}
