//! `TabChannel`: the BroadcastChannel the tabs of one document share, and the Web Lock whose
//! holder is their leader. Thin glue: what the notes say is [`crate::tabs`]. Dropping it
//! closes the channel and gives the lock up (or, still queued for it, passes it on at once).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

/// What the channel reports.
pub enum ChannelEvent {
    /// A note from another tab (or another widget of this page).
    Note(Vec<u8>),
    /// Whether this tab leads: `false` once when another tab holds the lock, `true` when
    /// this one gets it (at once, or later when the leader goes).
    Leads(bool),
}

pub struct TabChannel {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    /// Resolving it releases the lock (set while this tab holds it).
    release: Rc<RefCell<Option<js_sys::Function>>>,
    alive: Rc<Cell<bool>>,
}

impl TabChannel {
    /// Opens channel `name` and asks for the lock of the same name; `None` where the browser
    /// has no BroadcastChannel or no Web Locks (each tab then goes on alone).
    pub fn open(
        name: &str,
        on_event: impl Fn(ChannelEvent) + Clone + 'static,
    ) -> Option<TabChannel> {
        let window = web_sys::window()?;
        if !js_sys::Reflect::has(&window, &"BroadcastChannel".into()).unwrap_or(false) {
            return None;
        }
        let locks = js_sys::Reflect::get(&window.navigator(), &"locks".into()).ok()?;
        let request: js_sys::Function = js_sys::Reflect::get(&locks, &"request".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let channel = BroadcastChannel::new(name).ok()?;
        let on_message = {
            let on_event = on_event.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if let Ok(bytes) = event.data().dyn_into::<js_sys::Uint8Array>() {
                    on_event(ChannelEvent::Note(bytes.to_vec()));
                }
            })
        };
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let tab = TabChannel {
            channel,
            _on_message: on_message,
            release: Rc::default(),
            alive: Rc::new(Cell::new(true)),
        };
        // First without waiting (to know at once whether another tab leads), then in the
        // queue, to lead when the leader goes.
        let name = JsValue::from_str(name);
        let hold_now = holder(&tab.release, &tab.alive, on_event.clone());
        let hold_later = holder(&tab.release, &tab.alive, on_event.clone());
        let alive = tab.alive.clone();
        let first = {
            let (locks, request, name) = (locks.clone(), request.clone(), name.clone());
            move |lock: JsValue| -> JsValue {
                if !alive.get() {
                    return JsValue::UNDEFINED;
                }
                if !lock.is_null() {
                    return hold_now(lock);
                }
                on_event(ChannelEvent::Leads(false));
                let later = Closure::once_into_js(hold_later);
                let _ = request.call2(&locks, &name, &later);
                JsValue::UNDEFINED
            }
        };
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"ifAvailable".into(), &true.into());
        // Refused outright (an opaque origin): no leader can be chosen, so no sharing.
        request
            .call3(&locks, &name, &options, &Closure::once_into_js(first))
            .ok()?;
        Some(tab)
    }

    /// Posts `bytes` to every other tab on the channel.
    pub fn post(&self, bytes: &[u8]) {
        let _ = self.channel.post_message(&js_sys::Uint8Array::from(bytes));
    }
}

/// The lock callback of a tab that got the lock: reports it, and holds the lock until the
/// returned promise resolves (on drop); a tab already gone gives it up at once.
fn holder(
    release: &Rc<RefCell<Option<js_sys::Function>>>,
    alive: &Rc<Cell<bool>>,
    on_event: impl Fn(ChannelEvent) + 'static,
) -> impl FnOnce(JsValue) -> JsValue + 'static {
    let (release, alive) = (release.clone(), alive.clone());
    move |_lock: JsValue| -> JsValue {
        if !alive.get() {
            return JsValue::UNDEFINED;
        }
        let held = js_sys::Promise::new(&mut |resolve, _reject| {
            *release.borrow_mut() = Some(resolve);
        });
        on_event(ChannelEvent::Leads(true));
        held.into()
    }
}

impl Drop for TabChannel {
    fn drop(&mut self) {
        self.alive.set(false);
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
