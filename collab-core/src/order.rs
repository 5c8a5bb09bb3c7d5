//! Whether items landed where their origins say: an item's right origin must lie after its
//! left origin ("origin inversion"), and both in one shared type.
//!
//! yrs (like Yjs) places an item right of its left origin and scans right, at most up to its
//! right origin. Yjs always writes a right origin that lies after the left one. An update
//! whose right origin lies *before* its left origin is placed one way when it arrives and
//! another way when the document is encoded and loaded again, so clients that were there and
//! clients that load it later see different texts. The validator cannot see document order,
//! so rooms check it here, after applying an update's items and before its deletions.
//!
//! (Where it lands then depends on how yrs happens to split the blocks holding the two
//! origins: it can even land before both.)
//!
//! yrs gives no access to an item's neighbours; what it gives is `StickyIndex::get_offset`,
//! the amount of visible text before an item. The check runs before the update's own
//! deletions, so a new string, embed or value item is visible: then its origins are in order
//! exactly when the right one has more text before it than the left one (the item's own text
//! lies between them). For a new item whose content does not count (deleted content,
//! formatting marks) the comparison is exact unless both origins are invisible with the same
//! amount of text before them: that order cannot be seen by position, and such an update is
//! checked as a whole instead, once applied ([`reorders`]: with every character made visible,
//! [`crate::same_order`]). Items carried over from an earlier update that waited for what
//! they depend on are compared as invisible, since deletions may have reached them.
//!
//! One more way an item lands elsewhere after a reload: when the document already holds its
//! first clocks, yrs keeps only the rest, with the last held character as its new left
//! origin, but keeps the parent the update named. If that character is in another shared
//! type, a reload places the item by the origin instead. Such an item is refused too.

use std::collections::HashMap;

use yrs::branch::{Branch, BranchPtr};
use yrs::{Assoc, ClientID, Doc, Offset, ReadTxn, StateVector, StickyIndex, Transact, ID};

use crate::same_order::{load, same_order_of, texts, Encoded};
use crate::validate::PlacedItem;

/// Items known to be in order, for the common case that needs no position lookup: a client
/// typing on. Per client, where its last checked item ended and that item's right origin. A
/// new item that continues it (its left origin is that item's last character, same right
/// origin) lies between the same two characters, so its origins are in order too. Only items
/// whose order was seen (not the undecidable case) are remembered. Reset it whenever the
/// document is rebuilt.
#[derive(Debug, Default)]
pub struct Runs {
    last: HashMap<u64, (u32, (u64, u32))>,
}

/// Most clients `Runs` remembers; past this it starts over (a miss only costs a lookup).
const MAX_RUNS: usize = 4096;

impl Runs {
    fn continues(&self, item: &PlacedItem, origin: (u64, u32), start: u32) -> bool {
        self.last
            .get(&item.client)
            .is_some_and(|&(end, right_origin)| {
                end == start
                    && origin == (item.client, end - 1)
                    && item.right_origin == Some(right_origin)
            })
    }

    fn remember(&mut self, item: &PlacedItem, right_origin: (u64, u32)) {
        if self.last.len() >= MAX_RUNS && !self.last.contains_key(&item.client) {
            self.last.clear();
        }
        let end = item.clock + item.len;
        self.last.insert(item.client, (end, right_origin));
    }

    /// How many clients it remembers (for tests).
    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

/// Most items of one update checked by position (three lookups each, each walking the document
/// from an item to its start: together about 0.6 ms on a 100 KB text typed in 10,000 places,
/// in a release build); an update that needs more (a whole document uploaded, say) is checked as a whole
/// instead, by [`reloads_the_same`] (about 20 ms for that text).
pub const MAX_LOOKED_UP: usize = 16;

/// What [`check_placed`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement<'a> {
    /// Every item is where its origins say (or undecidably so).
    Fine,
    /// This one is not.
    Misplaced(&'a PlacedItem),
    /// More than [`MAX_LOOKED_UP`] items needed lookups (a whole document uploaded, say): check
    /// the result with [`reorders`] after the update is fully applied.
    TooManyLookups,
    /// No item is misplaced as far as positions show, but some item's order cannot be seen by
    /// position (an invisible item between two invisible origins with the same text before
    /// them): check the result with [`reorders`] after the update is fully applied.
    Unseen,
}

/// Checks the items of `placed` that this transaction integrated (clocks past `before`, now in
/// the document): whether each is where its origins say. Call it after applying an update's
/// items, before its delete set. `looked_up` counts the items that needed position lookups
/// (what the check cost).
pub fn check_placed<'a, T: ReadTxn>(
    txn: &T,
    before: &StateVector,
    placed: &'a [PlacedItem],
    runs: &mut Runs,
    looked_up: &mut usize,
) -> Placement<'a> {
    let mut unseen = false;
    for item in placed {
        match misplaced(txn, before, item, runs, looked_up) {
            Verdict::Misplaced => return Placement::Misplaced(item),
            Verdict::Fine => {}
            Verdict::Unseen => unseen = true,
            Verdict::OverBudget => return Placement::TooManyLookups,
        }
    }
    if unseen {
        Placement::Unseen
    } else {
        Placement::Fine
    }
}

/// For [`Placement::TooManyLookups`] and [`Placement::Unseen`], once the update is fully
/// applied: whether it put something where a fresh load of the document does not (`known`:
/// the document's state vector before it). Checks the visible text ([`reloads_the_same`];
/// this also covers an item yrs cut in a type its origin is not in, which an encoding
/// cannot show) and the order of every character, invisible ones included
/// ([`same_order`](crate::same_order::same_order)). O(document).
pub fn reorders(doc: &Doc, known: &StateVector) -> bool {
    let encoded = Encoded::of(doc);
    !reloads_as(doc, &encoded) || !same_order_of(&encoded, known)
}

/// Whether the document, encoded and loaded into a fresh one, has the same content in every
/// root type: what clients that load it later will see. O(document).
pub fn reloads_the_same(doc: &Doc) -> bool {
    reloads_as(doc, &Encoded::of(doc))
}

/// [`reloads_the_same`], given the document's encoding.
fn reloads_as(doc: &Doc, encoded: &Encoded) -> bool {
    load(&encoded.names, &[&encoded.full])
        .is_some_and(|copy| copy == texts(&doc.transact(), &encoded.names))
}

/// What [`misplaced`] found for one item.
enum Verdict {
    Fine,
    Misplaced,
    /// Its order cannot be seen by position.
    Unseen,
    /// Not looked up: [`MAX_LOOKED_UP`] items were already.
    OverBudget,
}

impl From<bool> for Verdict {
    fn from(misplaced: bool) -> Self {
        if misplaced {
            Verdict::Misplaced
        } else {
            Verdict::Fine
        }
    }
}

/// Whether `item` is misplaced, as far as positions show.
fn misplaced<T: ReadTxn>(
    txn: &T,
    before: &StateVector,
    item: &PlacedItem,
    runs: &mut Runs,
    lookups: &mut usize,
) -> Verdict {
    let end = item.clock.saturating_add(item.len);
    let held = before.get(&ClientID::new(item.client));
    if end <= held {
        // Held already: a repeat.
        return Verdict::Fine;
    }
    // yrs integrates only the part past what the document held, with the character before
    // it as its left origin.
    let start = item.clock.max(held);
    let cut = start > item.clock;
    let origin = if cut {
        Some((item.client, start - 1))
    } else {
        item.origin
    };
    if let (Some(origin), false) = (origin, item.root.is_some() && cut) {
        if runs.continues(item, origin, start) {
            if let Some(right_origin) = item.right_origin {
                runs.remember(item, right_origin);
            }
            return Verdict::Fine;
        }
    }
    *lookups += 1;
    if *lookups > MAX_LOOKED_UP {
        return Verdict::OverBudget;
    }
    if position(txn, (item.client, start)).is_none() {
        // Not integrated: waiting for what it depends on, or dropped by yrs. (The state
        // vector cannot tell: yrs integrates an item past a gap in its client's clocks when it
        // depends on nothing missing, and the state vector stops at the gap.)
        return Verdict::Fine;
    }
    if let (true, Some(root), Some(origin)) = (cut, &item.root, origin) {
        // A cut item keeps the parent it named; its new left origin must be in that type.
        let named = txn
            .get_text(&**root)
            .map(|text| BranchPtr::from(AsRef::<Branch>::as_ref(&text)));
        let actual = position(txn, origin).map(|offset| offset.branch);
        if named.is_none() || named != actual {
            return Verdict::Misplaced;
        }
    }
    let (Some(origin), Some(right_origin)) = (origin, item.right_origin) else {
        return Verdict::Fine;
    };
    let (Some(left), Some(right)) = (position(txn, origin), position(txn, right_origin)) else {
        // An origin yrs does not hold as an item (a GC block): yrs drops the item itself.
        return Verdict::Fine;
    };
    if left.branch != right.branch {
        // Origins in two different shared types.
        return Verdict::Misplaced;
    }
    let (left, right) = (left.index, right.index);
    let misplaced = if item.countable {
        // The item is visible now and lies between its origins when they are in order, so
        // the right origin has more text before it than the left one.
        left >= right
    } else if left == right && !visible(txn, origin) && !visible(txn, right_origin) {
        // Invisible, and so are both origins, with the same text before them: either order is
        // possible, and cannot be seen by position. Not remembered as a run.
        return Verdict::Unseen;
    } else {
        // The item is invisible. With the origins in order, the right one has at least as
        // much text before it as the left one, and more if the left one is visible.
        left > right || (left == right && visible(txn, origin))
    };
    if !misplaced {
        runs.remember(item, right_origin);
    }
    misplaced.into()
}

/// Where the character `id` is: its shared type, and how much visible text (in the
/// document's offset units) precedes it.
fn position<T: ReadTxn>(txn: &T, id: (u64, u32)) -> Option<Offset> {
    StickyIndex::from_id(ID::new(ClientID::new(id.0), id.1), Assoc::After).get_offset(txn)
}

/// Whether the character `id` counts in the text (not deleted, countable content).
fn visible<T: ReadTxn>(txn: &T, id: (u64, u32)) -> bool {
    let before = StickyIndex::from_id(ID::new(ClientID::new(id.0), id.1), Assoc::Before)
        .get_offset(txn)
        .map(|offset| offset.index);
    matches!((position(txn, id), before), (Some(after), Some(before)) if before > after.index)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::same_order::same_order;
    use crate::validate::validate_update_v1_shape;
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, OffsetKind, Options, Text, Transact, Update};

    /// "hello world" by client 1, then "ll" deleted: "heo world".
    pub(crate) fn base() -> Doc {
        let doc = Doc::with_client_id(1);
        let text = doc.get_or_insert_text("content");
        text.insert(&mut doc.transact_mut(), 0, "hello world");
        text.remove_range(&mut doc.transact_mut(), 2, 2);
        doc
    }

    #[test]
    fn inverted_origins_are_found() {
        let doc = base();
        let text = doc.get_or_insert_text("content");
        // "XYZ" by client 2 with left origin 'w' (1, 6) and right origin ' ' (1, 5).
        let bytes = [1, 1, 2, 0, 0xc4, 1, 6, 1, 5, 3, b'X', b'Y', b'Z', 0];
        let shape = validate_update_v1_shape(&bytes).unwrap();
        let mut txn = doc.transact_mut();
        let known = txn.state_vector();
        txn.apply_update(Update::decode_v1(&bytes).unwrap())
            .unwrap();
        // yrs put it before both origins; after a reload it lands elsewhere.
        assert_eq!(text.get_string(&txn), "heoXYZ world");
        assert_eq!(
            check_placed(&txn, &known, &shape.placed, &mut Runs::default(), &mut 0),
            Placement::Misplaced(&shape.placed[0])
        );
    }

    /// A small seeded generator (xorshift), so this file needs no crate the fuzz build lacks.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn usize(&mut self, range: std::ops::Range<usize>) -> usize {
            range.start + self.below((range.end - range.start) as u64) as usize
        }
        fn bool(&mut self) -> bool {
            self.next() & 1 == 1
        }
    }

    /// Clients editing at random places, online and offline, with the server applying each
    /// update as it arrives: nothing honest is ever refused (and the server's document
    /// reloads the same).
    #[test]
    fn honest_edits_are_never_refused() {
        for seed in 0..20 {
            let mut rng = Rng(seed * 2 + 1);
            let server = Doc::new();
            let _ = server.get_or_insert_text("content");
            let mut runs = Runs::default();
            // UTF-16 offsets, as the widget uses (random offsets never split "é" then).
            let clients: Vec<Doc> = (1..=3)
                .map(|id| {
                    Doc::with_options(Options {
                        client_id: ClientID::new(id),
                        offset_kind: OffsetKind::Utf16,
                        ..Options::default()
                    })
                })
                .collect();
            for round in 0..60 {
                let doc = &clients[rng.usize(0..clients.len())];
                let text = doc.get_or_insert_text("content");
                // Catch up with the server now and then (an offline client does not).
                if rng.bool() {
                    let missing = server
                        .transact()
                        .encode_state_as_update_v1(&doc.transact().state_vector());
                    doc.transact_mut()
                        .apply_update(Update::decode_v1(&missing).unwrap())
                        .unwrap();
                }
                let before = doc.transact().state_vector();
                for _ in 0..rng.usize(1..4) {
                    let mut txn = doc.transact_mut();
                    let len = text.len(&txn);
                    if len > 0 && rng.below(3) == 0 {
                        let at = rng.below(len.into()) as u32;
                        let most = (len - at).min(5);
                        text.remove_range(&mut txn, at, 1 + rng.below(most.into()) as u32);
                    } else {
                        let at = if rng.bool() {
                            len
                        } else {
                            rng.below(u64::from(len) + 1) as u32
                        };
                        text.insert(&mut txn, at, ["a", "bc", "dé"][rng.usize(0..3)]);
                    }
                }
                // What the client sends: its edits since `before` (a SyncStep2 after being
                // offline, or a live update).
                let update = doc.transact().encode_state_as_update_v1(&before);
                let shape = validate_update_v1_shape(&update).unwrap();
                let mut txn = server.transact_mut();
                let known = txn.state_vector();
                txn.apply_update(Update::decode_v1(&update).unwrap())
                    .unwrap();
                let placement = check_placed(&txn, &known, &shape.placed, &mut runs, &mut 0);
                assert!(
                    !matches!(placement, Placement::Misplaced(_)),
                    "seed {seed} round {round}: {placement:?}"
                );
                drop(txn);
                // And the whole-document check agrees, whether or not it would have run.
                assert!(
                    reloads_the_same(&server),
                    "reload seed {seed} round {round}"
                );
                assert!(
                    same_order(&server, &known),
                    "order seed {seed} round {round}"
                );
            }
            assert!(reloads_the_same(&server), "seed {seed}");
        }
    }

    #[test]
    fn a_whole_document_is_checked_by_reloading_it() {
        let doc = Doc::with_client_id(1);
        let text = doc.get_or_insert_text("content");
        // Typed in many places, so its items are not one typing run.
        for k in 0..(MAX_LOOKED_UP as u32 * 4) {
            let at = (k * 7) % (text.len(&doc.transact()) + 1);
            text.insert(&mut doc.transact_mut(), at, "ab");
        }
        let whole = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let shape = validate_update_v1_shape(&whole).unwrap();
        let server = Doc::new();
        let mut txn = server.transact_mut();
        let known = txn.state_vector();
        txn.apply_update(Update::decode_v1(&whole).unwrap())
            .unwrap();
        let mut looked_up = 0;
        assert_eq!(
            check_placed(
                &txn,
                &known,
                &shape.placed,
                &mut Runs::default(),
                &mut looked_up
            ),
            Placement::TooManyLookups
        );
        assert_eq!(looked_up, MAX_LOOKED_UP + 1);
        drop(txn);
        assert!(!reorders(&server, &known));
    }
}
