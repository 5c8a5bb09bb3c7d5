//! The whole-document order check: whether the items a document gained since a state vector
//! lie, among *all* its characters (deleted ones and formatting marks included), where a fresh
//! load of the document puts them.
//!
//! [`crate::order`] checks items one by one through the only position yrs exposes, the
//! visible text before an item; when an invisible item's two origins are both invisible with
//! the same text before them, their order cannot be seen that way. Such an item with inverted
//! origins lands one way live and another way after a reload, invisibly at first; text later
//! anchored next to it then differs between clients that were there and clients that load the
//! document later.
//!
//! This check makes every item visible and tells each apart. The document is encoded once and
//! rewritten three ways, with no deletions, and every item (every block of the encoding, as
//! yrs split them) cut in two as yrs cuts items: its first character becomes a mark derived
//! from its id (a keyed hash, fresh per check, so nobody can pick ids whose marks collide),
//! the rest deleted content of the same clock length. The characters of a block stay
//! together, so the marks' order is the order of every character; and the work is per block,
//! not per character (a deleted run millions of characters long costs what a letter does):
//! - `before`: what the document held at `known`, which (as every update applied before was
//!   checked) a fresh load orders exactly as the live document did;
//! - `after`: what it gained since, with the same origins yrs gave the items when it
//!   integrated them;
//! - `all`: both at once.
//!
//! Loading `before` and then applying `after` replays what the live document did; loading
//! `all` is what a later client does. Their texts of marks are equal exactly when every
//! character is in the same place in both. O(document): for the rare updates the per-item check
//! cannot decide, and for those with too many items to check one by one.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use yrs::encoding::write::Write;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Transact, Update};

use crate::validate::{content_len, Reader};

/// A document as it is now, encoded once for the whole-document checks.
pub struct Encoded {
    /// Its full v1 state.
    pub full: Vec<u8>,
    /// The names of its root types.
    pub names: Vec<String>,
}

impl Encoded {
    pub fn of(doc: &Doc) -> Encoded {
        let txn = doc.transact();
        Encoded {
            full: txn.encode_state_as_update_v1(&StateVector::default()),
            names: txn.root_refs().map(|(name, _)| name.to_owned()).collect(),
        }
    }
}

/// Whether the items `doc` gained since `known` lie where a fresh load of the document puts
/// them, among all its characters (see the module docs).
pub fn same_order(doc: &Doc, known: &StateVector) -> bool {
    same_order_of(&Encoded::of(doc), known)
}

/// [`same_order`] of a document already encoded. `false` also when the document's own
/// encoding cannot be read back (which would be a bug, and is refused like a misplaced item).
pub fn same_order_of(encoded: &Encoded, known: &StateVector) -> bool {
    let Some(parts) = rewrite(&encoded.full, known, &RandomState::new()) else {
        return false;
    };
    let replayed = load(&encoded.names, &[&parts.before, &parts.after]);
    let fresh = load(&encoded.names, &[&parts.all]);
    replayed.is_some() && replayed == fresh
}

/// The text of every root type after applying `updates` to a fresh document, one transaction
/// each; `None` if one does not decode or apply.
pub fn load(names: &[String], updates: &[&[u8]]) -> Option<Vec<String>> {
    let copy = Doc::new();
    for name in names {
        copy.get_or_insert_text(name.as_str());
    }
    for bytes in updates {
        let update = Update::decode_v1(bytes).ok()?;
        copy.transact_mut().apply_update(update).ok()?;
    }
    let texts = texts(&copy.transact(), names);
    Some(texts)
}

/// The text of each root type in `names` ("" for one that is not a text).
pub fn texts<T: ReadTxn>(txn: &T, names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|name| {
            txn.get_text(name.as_str())
                .map(|text| text.get_string(txn))
                .unwrap_or_default()
        })
        .collect()
}

/// The three rewritten updates (see the module docs).
#[derive(Debug, Default)]
struct Parts {
    before: Vec<u8>,
    after: Vec<u8>,
    all: Vec<u8>,
}

/// One output update being written: its client sections, each counted as it is filled.
#[derive(Default)]
struct Out {
    sections: Vec<u8>,
    count: u64,
    /// The current client's structs and their number, and its first clock.
    structs: Vec<u8>,
    struct_count: u64,
    first_clock: Option<u64>,
}

impl Out {
    fn end_client(&mut self, client: u64) {
        if let Some(first_clock) = self.first_clock.take() {
            self.sections.write_var(self.struct_count);
            self.sections.write_var(client);
            self.sections.write_var(first_clock);
            self.sections.append(&mut self.structs);
            self.count += 1;
        }
        self.struct_count = 0;
        self.structs.clear();
    }

    fn finish(self) -> Vec<u8> {
        let mut update = Vec::with_capacity(self.sections.len() + 8);
        update.write_var(self.count);
        update.extend_from_slice(&self.sections);
        // No deletions: every character stays in the text.
        update.write_var(0);
        update
    }
}

/// What one struct of the encoding is.
enum Struct<'a> {
    Gc,
    /// A gap in the client's clocks (yrs writes one before items it keeps waiting).
    Skip,
    Item {
        info: u8,
        origin: Option<(u64, u64)>,
        right_origin: Option<(u64, u64)>,
        /// The parent as written (a root name, or an item id), with its key in a map.
        parent: Option<Parent<'a>>,
        parent_sub: Option<&'a str>,
    },
}

enum Parent<'a> {
    Root(&'a str),
    Item((u64, u64)),
}

/// Rewrites a full v1 encoding (see the module docs); `None` if it is not one.
fn rewrite(full: &[u8], known: &StateVector, key: &RandomState) -> Option<Parts> {
    let mut r = Reader::new(full);
    let mut outs = [Out::default(), Out::default(), Out::default()];
    let clients = r.var().ok()?;
    for _ in 0..clients {
        let structs = r.var().ok()?;
        let client = r.var().ok()?;
        let mut clock = r.var().ok()?;
        let held = u64::from(known.get(&yrs::ClientID::new(client)));
        for _ in 0..structs {
            let (what, len) = read_struct(&mut r)?;
            let end = clock.checked_add(len)?;
            // Cut at `held`: [clock, held) goes to `before`, [held, end) to `after`, and
            // both to `all`, cut the same way (each part gets its own mark).
            let split = held.clamp(clock, end);
            for (out, from, to) in [
                (0, clock, split),
                (1, split, end),
                (2, clock, split),
                (2, split, end),
            ] {
                if from < to {
                    write_part(&mut outs[out], &what, client, clock, from, to, key);
                }
            }
            clock = end;
        }
        for out in &mut outs {
            out.end_client(client);
        }
    }
    let [before, after, all] = outs;
    Some(Parts {
        before: before.finish(),
        after: after.finish(),
        all: all.finish(),
    })
}

/// Reads one struct: what it is and its clock length.
fn read_struct<'a>(r: &mut Reader<'a>) -> Option<(Struct<'a>, u64)> {
    let info = r.u8().ok()?;
    match info {
        0 => return Some((Struct::Gc, r.var().ok()?)),
        10 => return Some((Struct::Skip, r.var().ok()?)),
        _ => {}
    }
    let origin = (info & 0x80 != 0).then(|| r.id()).transpose().ok()?;
    let right_origin = (info & 0x40 != 0).then(|| r.id()).transpose().ok()?;
    let (mut parent, mut parent_sub) = (None, None);
    if info & 0xc0 == 0 {
        parent = Some(if r.var().ok()? == 1 {
            Parent::Root(r.string().ok()?)
        } else {
            Parent::Item(r.id().ok()?)
        });
        if info & 0x20 != 0 {
            parent_sub = Some(r.string().ok()?);
        }
    }
    let len = content_len(r, info).ok()?;
    let item = Struct::Item {
        info,
        origin,
        right_origin,
        parent,
        parent_sub,
    };
    Some((item, len))
}

/// Writes the part `[from, to)` of the struct that starts at `start`: an item as its first
/// character's mark and, for the rest, deleted content. A part that does not start at the
/// item's start has the character before it as its left origin, as yrs gives the rest of an
/// item it cuts.
fn write_part(
    out: &mut Out,
    what: &Struct<'_>,
    client: u64,
    start: u64,
    from: u64,
    to: u64,
    key: &RandomState,
) {
    out.first_clock.get_or_insert(from);
    out.struct_count += 1;
    let w = &mut out.structs;
    let (info, origin, right_origin, parent, parent_sub) = match what {
        Struct::Gc | Struct::Skip => {
            w.push(if matches!(what, Struct::Skip) { 10 } else { 0 });
            w.write_var(to - from);
            return;
        }
        Struct::Item {
            info,
            origin,
            right_origin,
            parent,
            parent_sub,
        } => (info, origin, right_origin, parent, parent_sub),
    };
    const STRING: u8 = 4;
    let origin = if from == start {
        *origin
    } else {
        Some((client, from - 1))
    };
    let info = (info & 0x20)
        | if origin.is_some() { 0x80 } else { 0 }
        | if right_origin.is_some() { 0x40 } else { 0 }
        | STRING;
    w.push(info);
    for id in [origin, *right_origin].into_iter().flatten() {
        w.write_var(id.0);
        w.write_var(id.1);
    }
    if info & 0xc0 == 0 {
        match parent {
            Some(Parent::Root(name)) => {
                w.write_var(1);
                w.write_string(name);
            }
            Some(Parent::Item(id)) => {
                w.write_var(0);
                w.write_var(id.0);
                w.write_var(id.1);
            }
            None => {}
        }
        if let (true, Some(sub)) = (info & 0x20 != 0, parent_sub) {
            w.write_string(sub);
        }
    }
    let mut mark_bytes = [0; 4];
    w.write_string(mark(key, client, from).encode_utf8(&mut mark_bytes));
    if to - from > 1 {
        // The rest, cut off as yrs cuts: after the mark, with the same right origin.
        const DELETED: u8 = 1;
        out.struct_count += 1;
        w.push(0x80 | if right_origin.is_some() { 0x40 } else { 0 } | DELETED);
        for id in [Some((client, from)), *right_origin].into_iter().flatten() {
            w.write_var(id.0);
            w.write_var(id.1);
        }
        w.write_var(to - from - 1);
    }
}

/// The mark for character `clock` of `client`: one of 32,164 CJK and Hangul characters (one
/// UTF-16 unit each, so a mark is one clock long), chosen by a keyed hash.
fn mark(key: &RandomState, client: u64, clock: u64) -> char {
    const CJK: u32 = 0x9fff - 0x4e00 + 1;
    const HANGUL: u32 = 0xd7a3 - 0xac00 + 1;
    let i = (key.hash_one((client, clock)) % u64::from(CJK + HANGUL)) as u32;
    let code = if i < CJK {
        0x4e00 + i
    } else {
        0xac00 + i - CJK
    };
    char::from_u32(code).unwrap_or('\u{fffd}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{check_placed, reorders, Placement, Runs};
    use crate::validate::validate_update_v1_shape;
    use yrs::{Text, Transact};

    /// A document with deleted runs of two clients: `order`'s base ("heo world" by client 1)
    /// and client 2's "ABC" after "heo " with "B" deleted (the `apply` fuzz target's).
    fn doc() -> Doc {
        let doc = crate::order::tests::base();
        let other = Doc::with_client_id(2);
        let state = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        other
            .transact_mut()
            .apply_update(Update::decode_v1(&state).unwrap())
            .unwrap();
        let known = other.transact().state_vector();
        let other_text = other.get_or_insert_text("content");
        other_text.insert(&mut other.transact_mut(), 4, "ABC");
        other_text.remove_range(&mut other.transact_mut(), 5, 1);
        let edits = other.transact().encode_state_as_update_v1(&known);
        doc.transact_mut()
            .apply_update(Update::decode_v1(&edits).unwrap())
            .unwrap();
        doc
    }

    #[test]
    fn honest_edits_keep_their_order() {
        let doc = doc();
        let text = doc.get_or_insert_text("content");
        let known = doc.transact().state_vector();
        text.insert(&mut doc.transact_mut(), 3, "xyz");
        text.remove_range(&mut doc.transact_mut(), 0, 4);
        assert!(same_order(&doc, &known));
        // Nothing new at all, and everything new.
        assert!(same_order(&doc, &doc.transact().state_vector()));
        assert!(same_order(&doc, &StateVector::default()));
    }

    #[test]
    fn every_character_is_kept_and_told_apart() {
        let doc = doc();
        let full = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let known = doc.transact().state_vector();
        let parts = rewrite(&full, &known, &RandomState::new()).unwrap();
        let names = vec!["content".to_owned()];
        let all = load(&names, &[&parts.all]).unwrap();
        // A mark for each block: at least "he", "ll" (deleted), "o world", "A", "B" (deleted),
        // "C".
        assert!(all[0].chars().count() >= 6);
        assert_eq!(load(&names, &[&parts.before, &parts.after]).unwrap(), all);
        // Split anywhere, it replays to the same order.
        let mid = StateVector::from_iter([(yrs::ClientID::new(1), 5)]);
        let parts = rewrite(&full, &mid, &RandomState::new()).unwrap();
        assert_eq!(
            load(&names, &[&parts.before, &parts.after]),
            load(&names, &[&parts.all])
        );
    }

    /// Found by the `apply` fuzz target (minimized): on its base document (`doc` here), a deleted run of
    /// client 1 that yrs cuts at what it holds, a deleted item of client 2 whose origins are
    /// both inside that run in inverted order, and visible characters anchored in the run.
    /// Positions cannot order the deleted item's origins; the whole-document check does.
    #[test]
    fn inverted_origins_among_deleted_text_are_found() {
        let bytes = [
            2, 13, 2, 1, 0, 3, 0, 20, 0, 1, 193, 1, 67, 1, 65, 50, 132, 1, 1, 1, 8, 0, 100, 132, 1,
            68, 1, 0, 0, 7, 0, 1, 0, 100, 0, 1, 0, 1, 0, 120, 2, 1, 8, 1, 1, 7, 99, 111, 110, 116,
            101, 110, 116, 100, 0, 1, 0,
        ];
        let doc = doc();
        let shape = validate_update_v1_shape(&bytes).unwrap();
        let known = doc.transact().state_vector();
        let items = [&bytes[..shape.delete_set_at], &[0]].concat();
        let deletions = [&[0], &bytes[shape.delete_set_at..]].concat();
        let mut txn = doc.transact_mut();
        txn.apply_update(Update::decode_v1(&items).unwrap())
            .unwrap();
        let placement = check_placed(&txn, &known, &shape.placed, &mut Runs::default(), &mut 0);
        txn.apply_update(Update::decode_v1(&deletions).unwrap())
            .unwrap();
        drop(txn);
        match placement {
            Placement::Misplaced(_) => {}
            Placement::Unseen | Placement::TooManyLookups => assert!(reorders(&doc, &known)),
            Placement::Fine => panic!("accepted without a whole-document check"),
        }
    }

    /// Found by the `apply` fuzz target: formatting marks of client 2 after a gap in its clocks,
    /// the first with a right origin nobody wrote, so yrs keeps them all waiting and writes a
    /// skip before them in its encoding. The rewrite keeps the skip a skip (as a GC block they
    /// would have been placed, differently in each replay).
    #[test]
    fn waiting_items_stay_waiting() {
        let bytes = [
            1, 3, 2, 7, 70, 2, 3, 4, 98, 111, 108, 100, 4, 116, 114, 117, 101, 198, 2, 2, 2, 1, 4,
            98, 111, 108, 100, 4, 110, 117, 108, 108, 228, 3, 136, 2, 2, 4, 7, 34, 105, 109, 97,
            103, 101, 34, 0,
        ];
        let doc = doc();
        let shape = validate_update_v1_shape(&bytes).unwrap();
        let known = doc.transact().state_vector();
        let mut txn = doc.transact_mut();
        txn.apply_update(Update::decode_v1(&bytes).unwrap())
            .unwrap();
        assert!(txn.store().pending_update().is_some());
        let placement = check_placed(&txn, &known, &shape.placed, &mut Runs::default(), &mut 0);
        assert_eq!(placement, Placement::Fine);
        drop(txn);
        assert!(!reorders(&doc, &known));
    }
}
