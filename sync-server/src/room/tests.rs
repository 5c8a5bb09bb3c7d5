//! Room unit tests: events in, effects out. No storage, no writer thread, no sockets: a load
//! is answered with a `StoredDoc`, and what the room asks for is read from its effects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, StateVector, Text, Transact, Update};

use super::loading::build_doc;
use super::*;
use crate::storage::{StoredDoc, Write};
use collab_core::engine::{LOAD_BATCH_ROWS, TEXT_NAME};

/// A journal that remembers what it was asked to record, and checks each record is cleared
/// before the next.
#[derive(Default)]
struct TestJournal {
    recorded: Mutex<Vec<Vec<u8>>>,
    open: AtomicBool,
}

impl ApplyJournal for TestJournal {
    fn record(&self, _doc: &DocName, update: &[u8]) {
        assert!(
            !self.open.swap(true, Ordering::SeqCst),
            "recorded twice without a clear"
        );
        self.recorded.lock().unwrap().push(update.to_vec());
    }
    fn clear(&self) {
        assert!(
            self.open.swap(false, Ordering::SeqCst),
            "cleared without a record"
        );
    }
}

fn settings() -> Arc<RoomSettings> {
    Arc::new(RoomSettings {
        compact_after: 1000,
        awareness_timeout: Duration::from_secs(30),
        unload_after: Duration::from_secs(10),
        skip_validation: false,
        position_checks: (0.0, 1),
        max_message_size: 4 << 20,
        max_document_size: 0,
        version_idle: Duration::from_secs(60),
        version_max_interval: Duration::from_secs(600),
    })
}

fn doc_name() -> DocName {
    DocName::parse("doc").unwrap()
}

struct Harness {
    room: Room,
    stored: StoredDoc,
    journal: Arc<TestJournal>,
    /// The generation of the room's first load.
    generation: u64,
}

impl Harness {
    fn new() -> Harness {
        Harness::stored(None)
    }

    /// A room whose document was stored as one snapshot holding `text`.
    fn stored(text: Option<&str>) -> Harness {
        let journal = Arc::new(TestJournal::default());
        let context = RoomContext {
            settings: settings(),
            journal: journal.clone(),
            fanout: false,
        };
        let (room, effects) = Room::load(doc_name(), &context);
        let generation = match &effects[..] {
            [Effect::Load {
                generation,
                purpose: LoadPurpose::Load,
            }] => *generation,
            _ => panic!("{effects:?}"),
        };
        let stored = StoredDoc {
            snapshot: text.map(insert_update),
            ..StoredDoc::default()
        };
        Harness {
            room,
            stored,
            journal,
            generation,
        }
    }

    fn finish_loading(&mut self) -> Effects {
        let (keep, effects) = self.room.on_loaded(LoadResult {
            doc: doc_name(),
            generation: self.generation,
            result: Ok(self.stored.clone()),
            purpose: LoadPurpose::Load,
        });
        assert_eq!(keep, Keep::Yes);
        effects
    }

    /// The text a read gets.
    fn text(&mut self) -> Option<String> {
        let (reply, _rx) = oneshot::channel();
        let effects = self.room.read_text(reply);
        match &effects[..] {
            [Effect::Text { text, .. }] => text.clone(),
            other => panic!("expected the text, got {other:?}"),
        }
    }
}

fn member(wants_ext: bool) -> Conn {
    Conn::new(ConnId::next(), wants_ext, 64).0
}

fn insert_update(text: &str) -> Vec<u8> {
    let doc = Doc::new();
    let shared = doc.get_or_insert_text(TEXT_NAME);
    let mut txn = doc.transact_mut();
    shared.insert(&mut txn, 0, text);
    txn.encode_update_v1()
}

fn update_frame(update: Vec<u8>) -> Bytes {
    Message::Sync(SyncMessage::Update(update))
        .encode_v1()
        .into()
}

/// Every frame the effects queue to `conn`, decoded, in order.
fn sent_to(effects: &[Effect], conn: ConnId) -> Vec<Message> {
    let mut out = Vec::new();
    for effect in effects {
        if let Effect::Send { to, frames } = effect {
            if to.id == conn {
                match frames {
                    Frames::One(frame) => out.push(decode(frame)),
                    Frames::Pieces(frames) => out.extend(frames.iter().map(decode)),
                }
            }
        }
    }
    out
}

/// The close code the effects give `conn`, if any.
fn close_of(effects: &[Effect], conn: ConnId) -> Option<u16> {
    effects.iter().find_map(|effect| match effect {
        Effect::Close { conn: c, code, .. } if c.id == conn => Some(*code),
        _ => None,
    })
}

/// Whether the effects write or acknowledge anything.
fn stores_or_acks(effects: &[Effect]) -> bool {
    effects
        .iter()
        .any(|e| matches!(e, Effect::Persist { .. } | Effect::Ack(_)))
}

fn decode(frame: &Bytes) -> Message {
    Message::decode_v1(frame).unwrap()
}

fn text_of(update: &[u8]) -> String {
    let doc = Doc::new();
    let text = doc.get_or_insert_text(TEXT_NAME);
    doc.transact_mut()
        .apply_update(Update::decode_v1(update).unwrap())
        .unwrap();
    let out = text.get_string(&doc.transact());
    out
}

#[test]
fn a_room_made_after_a_delete_never_takes_the_dropped_rooms_load() {
    // The dropped room's load was queued before the delete, so it read the deleted text.
    let dropped = Harness::stored(Some("deleted text"));
    let mut fresh = Harness::new();
    assert_ne!(dropped.generation, fresh.generation);
    let (keep, effects) = fresh.room.on_loaded(LoadResult {
        doc: doc_name(),
        generation: dropped.generation,
        result: Ok(dropped.stored.clone()),
        purpose: LoadPurpose::Load,
    });
    assert_eq!(keep, Keep::Yes);
    assert!(effects.is_empty(), "{effects:?}");
    fresh.finish_loading();
    assert_eq!(
        fresh.text(),
        None,
        "the fresh room holds only what storage holds now"
    );
}

#[test]
fn frames_that_arrive_while_loading_are_replayed_in_order() {
    let mut h = Harness::new();
    let conn = member(false);
    let id = conn.id;
    let mut early = h.room.join(conn);
    early.extend(h.room.frame(id, update_frame(insert_update("early"))));
    assert!(
        early.is_empty(),
        "nothing is answered before the load: {early:?}"
    );
    let effects = h.finish_loading();
    let sent = sent_to(&effects, id);
    assert!(
        matches!(
            &sent[..],
            [
                Message::Sync(SyncMessage::SyncStep1(_)),
                Message::Sync(SyncMessage::Update(_))
            ]
        ),
        "{sent:?}"
    );
    assert_eq!(h.text().as_deref(), Some("early"));
}

#[test]
fn a_cold_request_for_everything_is_answered_from_the_snapshot_first() {
    let mut h = Harness::stored(Some("stored text"));
    let conn = member(false);
    let id = conn.id;
    h.room.join(conn);
    let everything = Message::Sync(SyncMessage::SyncStep1(StateVector::default()));
    h.room.frame(id, everything.encode_v1().into());
    let effects = h.finish_loading();
    let sent = sent_to(&effects, id);
    // The answer comes before the room's own SyncStep1, which needs the loaded document.
    match &sent[..] {
        [Message::Sync(SyncMessage::SyncStep2(update)), Message::Sync(SyncMessage::SyncStep1(_))] =>
        {
            assert_eq!(text_of(update), "stored text")
        }
        other => panic!("expected the snapshot, then SyncStep1, answered once; got {other:?}"),
    }
}

#[test]
fn a_cold_request_queued_after_an_update_gets_the_updated_document() {
    let mut h = Harness::stored(Some("stored"));
    let (a, b) = (member(false), member(false));
    let (a_id, b_id) = (a.id, b.id);
    h.room.join(a);
    h.room.join(b);
    h.room.frame(b_id, update_frame(insert_update("new, ")));
    let everything = Message::Sync(SyncMessage::SyncStep1(StateVector::default()));
    h.room.frame(a_id, everything.encode_v1().into());
    let effects = h.finish_loading();
    let answer = sent_to(&effects, a_id)
        .into_iter()
        .find_map(|m| match m {
            Message::Sync(SyncMessage::SyncStep2(update)) => Some(update),
            _ => None,
        })
        .expect("a SyncStep2 for a");
    // Both, in whichever order the two client ids put them.
    let text = text_of(&answer);
    assert!(
        text.len() == "new, stored".len() && text.contains("new, ") && text.contains("stored"),
        "{text:?}"
    );
}

#[test]
fn updates_go_to_every_member_and_are_persisted_with_an_ack_request() {
    let mut h = Harness::new();
    h.finish_loading();
    let (a, b) = (member(true), member(false));
    let (a_id, b_id) = (a.id, b.id);
    let joined_a = h.room.join(a);
    let joined_b = h.room.join(b);
    // An extension client hears the server's limits first (4 MiB messages, no document
    // limit in this harness); a stock client does not.
    let to_a = sent_to(&joined_a, a_id);
    assert_eq!(
        to_a[0],
        Message::Custom(
            crate::protocol::message::MSG_LIMITS,
            vec![0x80, 0x80, 0x80, 0x02, 0]
        )
    );
    assert!(matches!(to_a[1], Message::Sync(SyncMessage::SyncStep1(_))));
    assert!(matches!(
        &sent_to(&joined_b, b_id)[..],
        [Message::Sync(SyncMessage::SyncStep1(_))]
    ));
    let update = insert_update("hi");
    let effects = h.room.frame(a_id, update_frame(update.clone()));
    assert_eq!(
        h.journal.recorded.lock().unwrap().last(),
        Some(&update),
        "journaled while applied"
    );
    let echo = Message::Sync(SyncMessage::Update(update.clone()));
    // Echoed to both; no ack frame is sent by the room: the writer reports the commit.
    assert_eq!(sent_to(&effects, a_id), std::slice::from_ref(&echo));
    assert_eq!(sent_to(&effects, b_id), [echo]);
    let persists: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist { write, ack } => Some((write, ack)),
            _ => None,
        })
        .collect();
    match &persists[..] {
        [(
            Write::Append {
                update: stored,
                text_bytes: 2,
                ..
            },
            Some(Ack { conn, count: 1 }),
        )] => {
            assert_eq!(stored, &update);
            assert_eq!(conn.id, a_id);
        }
        other => panic!("expected one append acked to a, got {other:?}"),
    }
    assert!(
        matches!(effects.last(), Some(Effect::Persist { .. })),
        "persisted after the broadcast"
    );
    // A client that did not ask gets no ack for its update.
    let effects = h.room.frame(b_id, update_frame(insert_update("yo")));
    assert!(matches!(
        &effects
            .iter()
            .filter_map(|e| match e {
                Effect::Persist { ack, .. } => Some(ack.is_some()),
                Effect::Ack(_) => Some(true),
                _ => None,
            })
            .collect::<Vec<_>>()[..],
        [false]
    ));
}

#[test]
fn a_refused_update_closes_only_its_sender_and_changes_nothing() {
    let mut h = Harness::new();
    h.finish_loading();
    let (a, b) = (member(false), member(false));
    let (a_id, b_id) = (a.id, b.id);
    h.room.join(a);
    h.room.join(b);
    let garbage = Message::Sync(SyncMessage::Update(vec![0xff; 8])).encode_v1();
    let effects = h.room.frame(a_id, garbage.into());
    assert_eq!(close_of(&effects, a_id), Some(close_code::UPDATE_REJECTED));
    assert_eq!(close_of(&effects, b_id), None);
    assert!(sent_to(&effects, b_id).is_empty(), "nothing was broadcast");
    assert!(!stores_or_acks(&effects), "nothing was stored");
    assert_eq!(h.text(), None, "the document holds nothing");
}

#[test]
fn relayed_updates_reach_members_but_are_neither_stored_nor_acked() {
    let mut h = Harness::new();
    h.finish_loading();
    let a = member(true);
    let a_id = a.id;
    h.room.join(a);
    let update = insert_update("from elsewhere");
    let effects = h.room.relayed(Relayed::Update(update.clone()));
    assert_eq!(
        sent_to(&effects, a_id),
        [Message::Sync(SyncMessage::Update(update))],
        "the update and no other frame"
    );
    assert!(
        !stores_or_acks(&effects),
        "the origin instance stores it, not this one; no ack"
    );
    // Junk from another instance is dropped; nobody here is closed for it.
    let effects = h.room.relayed(Relayed::Update(vec![0xff; 8]));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(h.text().as_deref(), Some("from elsewhere"));
}

#[test]
fn relayed_updates_neither_claim_nor_are_refused_by_local_client_ids() {
    let mut h = Harness::new();
    h.finish_loading();
    let a = member(false);
    let a_id = a.id;
    h.room.join(a);
    // `a` claims the client id of `writer` by sending its first edit.
    let writer = Doc::new();
    let text = writer.get_or_insert_text(TEXT_NAME);
    let first = {
        let mut txn = writer.transact_mut();
        text.insert(&mut txn, 0, "a");
        txn.encode_update_v1()
    };
    let effects = h.room.frame(a_id, update_frame(first));
    assert_eq!(close_of(&effects, a_id), None);
    // The same id writing through another instance is applied, not refused.
    let second = {
        let mut txn = writer.transact_mut();
        text.insert(&mut txn, 1, "b");
        txn.encode_update_v1()
    };
    let effects = h.room.relayed(Relayed::Update(second));
    assert_eq!(sent_to(&effects, a_id).len(), 1);
    assert_eq!(h.text().as_deref(), Some("ab"));
    assert_eq!(
        close_of(&effects, a_id),
        None,
        "the local owner keeps its id"
    );
}

#[test]
fn with_fanout_a_room_loads_once_subscribed_and_publishes_what_it_changes() {
    let context = RoomContext {
        settings: settings(),
        journal: Arc::new(TestJournal::default()),
        fanout: true,
    };
    let (mut room, effects) = Room::load(doc_name(), &context);
    let [Effect::Subscribe { token }] = effects[..] else {
        panic!("expected only a subscription first, got {effects:?}");
    };
    assert!(
        room.subscribed(token + 1).is_empty(),
        "another subscription's news"
    );
    let effects = room.subscribed(token);
    let generation = match &effects[..] {
        [Effect::Load { generation, .. }, Effect::Publish(Publication::AwarenessQuery)] => {
            *generation
        }
        _ => panic!("{effects:?}"),
    };
    let (_, _) = room.on_loaded(LoadResult {
        doc: doc_name(),
        generation,
        result: Ok(StoredDoc::default()),
        purpose: LoadPurpose::Load,
    });
    let a = member(false);
    let a_id = a.id;
    room.join(a);
    let update = insert_update("x");
    let effects = room.frame(a_id, update_frame(update.clone()));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Publish(Publication::Update(u)) if u[..] == update[..])));
    assert!(matches!(
        &room.release()[..],
        [Effect::Unsubscribe { token: t }] if *t == token
    ));
}

/// A long uncompacted log loads in batches of rows: every row counts, whichever batch
/// holds it, and a quarantined row is skipped wherever it falls.
#[test]
fn a_long_log_builds_across_load_batches() {
    // A snapshot, then rows typed at wandering positions: later rows depend on rows of
    // earlier batches.
    let (mut rows, expected) = collab_core::testing::wandering_log(3 * LOAD_BATCH_ROWS + 17);
    let snapshot = rows.remove(0);

    let journal = TestJournal::default();
    let name = doc_name();
    let whole = StoredDoc {
        snapshot: Some(snapshot.clone()),
        updates: rows.clone(),
        quarantined: Vec::new(),
    };
    let (doc, built) = build_doc(&name, &whole, &journal).unwrap();
    assert_eq!(built.get_string(&doc.transact()), expected);
    // Every row was journaled while it was applied.
    assert_eq!(journal.recorded.lock().unwrap().len(), rows.len() + 1);

    // A quarantined row inside the second batch: only its edit is missing.
    let skipped = LOAD_BATCH_ROWS + 40;
    let without = {
        let doc = Doc::new();
        let text = doc.get_or_insert_text(TEXT_NAME);
        let mut txn = doc.transact_mut();
        for row in std::iter::once(&snapshot)
            .chain(&rows)
            .enumerate()
            .filter(|(i, _)| *i != skipped + 1)
            .map(|(_, r)| r)
        {
            txn.apply_update(Update::decode_v1(row).unwrap()).unwrap();
        }
        drop(txn);
        let out = text.get_string(&doc.transact());
        out
    };
    let quarantined = StoredDoc {
        quarantined: vec![rows[skipped].clone()],
        ..whole
    };
    let (doc, built) = build_doc(&name, &quarantined, &journal).unwrap();
    assert_eq!(built.get_string(&doc.transact()), without);
    assert_ne!(without, expected, "the skipped row held an edit");
}
