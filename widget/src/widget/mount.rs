//! `Session::mount`: the document, undo manager, yrs observers and view of a new widget.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;
use yrs::types::Delta;
use yrs::undo::UndoManager;
use yrs::{Any, ClientID, Doc, Observable, OffsetKind, Origin, Out};

use collab_core::engine::TEXT_NAME;

use super::{observe_local_updates, with, Session, Shared, INPUT, OBSERVER};
use crate::binding::{self, DeltaRun, Splice};
use crate::connection::State;
use crate::ledger::Ledger;
use crate::local_copy::LocalCopy;
use crate::options::Options;
use crate::presence::Peers;
use crate::save_line::Reported;
use crate::shown::Shown;
use crate::tabs::{Forwarded, Role};
use crate::view::View;

impl Session {
    pub fn mount(
        host: HtmlElement,
        options: Options,
        token_fn: Option<js_sys::Function>,
    ) -> Result<Shared, JsValue> {
        let view = View::mount(&host, &options.messages)?;
        let client_id = random_client_id();
        let doc = Doc::with_options(yrs::Options {
            client_id: ClientID::new(client_id),
            offset_kind: OffsetKind::Utf16,
            ..yrs::Options::default()
        });
        let text = doc.get_or_insert_text(TEXT_NAME);
        let mut undo = UndoManager::with_options(yrs::undo::Options {
            capture_timeout_millis: 500,
            tracked_origins: HashSet::from([Origin::from(INPUT)]),
            capture_transaction: None,
            timestamp: Arc::new(|| js_sys::Date::now() as u64),
            init_undo_stack: Vec::new(),
            init_redo_stack: Vec::new(),
        });
        undo.expand_scope(&doc, &text);

        let outbox: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
        let pending_splices: Rc<RefCell<Vec<Splice>>> = Rc::default();
        // yrs callbacks only push into these queues; they never touch the session, which is
        // borrowed while yrs runs them.
        observe_local_updates(&doc, &outbox).map_err(|e| JsValue::from_str(&e))?;
        {
            let pending = pending_splices.clone();
            let input = Origin::from(INPUT);
            text.observe(OBSERVER, move |txn, event| {
                if txn.origin() == Some(&input) {
                    return;
                }
                let runs: Vec<DeltaRun> = event
                    .delta(txn)
                    .iter()
                    .map(|delta| match delta {
                        Delta::Retain(len, _) => DeltaRun::Retain(*len),
                        Delta::Deleted(len) => DeltaRun::Delete(*len),
                        Delta::Inserted(Out::Any(Any::String(s)), _) => {
                            DeltaRun::Insert(s.to_string())
                        }
                        // Embeds (never made by a textarea) count one unit, like in Yjs.
                        Delta::Inserted(_, _) => DeltaRun::Insert("\u{fffc}".into()),
                    })
                    .collect();
                pending
                    .borrow_mut()
                    .extend(binding::splices_from_delta(runs));
            });
        }

        view.textarea.set_read_only(options.readonly);
        view.textarea.set_placeholder(&options.placeholder);
        view.history.set_hidden(!options.history);
        let (state, effects) = State::start();
        let local = LocalCopy::new(options.persist);
        let shared = Rc::new_cyclic(|me| {
            RefCell::new(Session {
                host,
                options,
                view,
                doc,
                text,
                client_id,
                undo,
                outbox,
                pending_splices,
                shown: Shown::default(),
                unchecked: false,
                composing: false,
                held_updates: Vec::new(),
                apply_soon: None,
                apply_cost_ms: 0.0,
                state,
                socket: None,
                socket_generation: 0,
                sent_messages: 0,
                limits: None,
                ledger: Ledger::default(),
                local,
                store: None,
                store_wait: None,
                copy_started_ms: 0.0,
                copy_pause: None,
                connect_waiting: false,
                token_fn,
                token_renewed: false,
                edits: Default::default(),
                peers: Peers::default(),
                awareness_clock: 0,
                awareness_sent_at: 0.0,
                sent_cursor: None,
                listeners: Vec::new(),
                debounce: None,
                cursor_soon: None,
                retry: None,
                ticker: None,
                resize: None,
                reported: Reported::default(),
                history: Default::default(),
                events: Vec::new(),
                channel: None,
                role: Role::Alone,
                pushes: 0,
                leader_online: false,
                forwarded: Forwarded::default(),
                step2_sent: false,
                followed: false,
                link_posted: None,
                tab_peers: Vec::new(),
                copy_stamp: 0,
                copy_seen: (0, 0),
                adopted: Vec::new(),
                me: me.clone(),
                unmounted: false,
            })
        });
        let me = Rc::downgrade(&shared);
        with(&me, |session| {
            session.listen();
            // The other tabs on this document: whether this one leads decides who connects.
            session.join_tabs();
            // The stored text shows first; the socket opens once it is loaded.
            session.open_store();
            session.run(effects);
            session.refresh();
            session.emit_presence();
        });
        Ok(shared)
    }
}

fn random_client_id() -> u64 {
    // 53 bits, like Yjs; from Math.random (wasm has no OS randomness of its own).
    let high = (js_sys::Math::random() * f64::from(1u32 << 21)) as u64;
    let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    ((high << 32) | low).max(1)
}
