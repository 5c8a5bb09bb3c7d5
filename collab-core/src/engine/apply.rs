//! Applying one client's (or another instance's) update to a live document: decode, the
//! delete-squatting and waiting-bytes bounds, items, the order check, deletions, all under
//! `catch_unwind`; and whether an update would change a document at all.

use std::panic::{catch_unwind, AssertUnwindSafe};

use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use super::panic_message;
use crate::order::{check_placed, reorders, Placement, Runs, MAX_LOOKED_UP};
use crate::validate::{validate_update_v1_shape, ClientRange, PlacedItem, Shape};

/// Most bytes of items that wait for clocks the document lacks (yrs' pending update) that a
/// client's update may leave in a room.
pub const MAX_WAITING_BYTES: usize = 64 * 1024;

/// Where an update comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client of this instance: what its updates leave waiting for clocks the document lacks
    /// is bounded ([`MAX_WAITING_BYTES`]).
    Client,
    /// Another instance, through the relay: it may arrive before what it depends on (after a
    /// gap), which yrs keeps waiting until storage fills it in.
    Relay,
}

/// What applying one client update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied, and the document changed.
    Changed,
    /// Nothing new (already held, or empty).
    Unchanged,
    /// Refused before touching the document.
    Refused(String),
    /// Failed or panicked while applying: the in-memory document can no longer be trusted.
    Broken(String),
    /// Applied, then found unacceptable (an item that does not lie before its right origin):
    /// the in-memory document must be reloaded.
    Misplaced(String),
}

/// Decodes and applies one v1 update from a client; `shape` is what the validator found in
/// it, and `known` is the document's state vector before it.
///
/// Items must land where their origins say ([`crate::order`]). That is checked after the
/// update's items are applied and before its delete set, so new text is still visible: the
/// update is applied in two steps, items then deletions, in one transaction. An update that
/// needs too many position lookups (a whole document uploaded), or whose order positions
/// cannot show, is checked as a whole instead, once applied ([`crate::order::reorders`]).
pub fn apply_update(
    doc: &Doc,
    bytes: &[u8],
    shape: &Shape,
    known: &StateVector,
    source: Source,
    runs: &mut Runs,
    cost: &mut usize,
) -> Applied {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let update = match Update::decode_v1(bytes) {
            Ok(update) => update,
            Err(err) => return Applied::Refused(format!("update does not decode: {err}")),
        };
        if update.is_empty() {
            return Applied::Unchanged;
        }
        if let Some(client) = deletes_ahead(known, &update, &shape.ranges) {
            return Applied::Refused(format!(
                "update deletes clocks of client {client} that nobody has written yet"
            ));
        }
        let mut whole_check = false;
        let mut txn = doc.transact_mut();
        let placed = placed_items(&txn, shape);
        let deletes = &bytes[shape.delete_set_at..];
        let (items, deletions) = if placed.is_empty() || deletes == [0] {
            (update, None)
        } else {
            let mut items = bytes[..shape.delete_set_at].to_vec();
            items.push(0);
            let mut deletions = vec![0];
            deletions.extend_from_slice(deletes);
            match (Update::decode_v1(&items), Update::decode_v1(&deletions)) {
                (Ok(items), Ok(deletions)) => (items, Some(deletions)),
                _ => {
                    return Applied::Refused(
                        "update does not split into items and deletions".into(),
                    )
                }
            }
        };
        if let Err(err) = txn.apply_update(items) {
            return Applied::Broken(format!("update failed to apply: {err}"));
        }
        if source == Source::Client {
            // yrs keeps items that depend on clocks the document lacks waiting, in memory, and
            // they are re-read with every later update. Honest clients cause a little of it (an
            // edit sent live just before the handshake sends the offline edits it follows);
            // more than one message's worth is refused, or a client could pile them up.
            if let Some(waiting) = txn.store().pending_update() {
                let bytes = yrs::updates::encoder::Encode::encode_v1(&waiting.update).len();
                if bytes > MAX_WAITING_BYTES {
                    return Applied::Misplaced(format!(
                        "update leaves {bytes} bytes waiting for clocks nobody has written"
                    ));
                }
            }
        }
        match check_placed(&txn, known, &placed, runs, cost) {
            Placement::Fine => {}
            Placement::Misplaced(item) => {
                return Applied::Misplaced(format!(
                    "item {}@{} is not where its origins say (origin {:?}, right origin {:?})",
                    item.client, item.clock, item.origin, item.right_origin
                ))
            }
            Placement::TooManyLookups | Placement::Unseen => whole_check = true,
        }
        if let Some(deletions) = deletions {
            if let Err(err) = txn.apply_update(deletions) {
                return Applied::Broken(format!("update failed to apply: {err}"));
            }
        }
        // The document must still encode what this update changed; a panic here means it is
        // poisoned, and the caller reloads it.
        let _ = txn.encode_update_v1();
        let changed = txn.before_state() != txn.after_state()
            || !txn.delete_set().is_empty()
            || txn.has_missing_updates();
        drop(txn);
        if !changed {
            return Applied::Unchanged;
        }
        if whole_check {
            // Charged like twice as many lookups again (it loads the document three times).
            *cost += 2 * MAX_LOOKED_UP;
        }
        if whole_check && reorders(doc, known) {
            return Applied::Misplaced(
                "an item is not where its origins say (the document reloads differently)".into(),
            );
        }
        Applied::Changed
    }));
    outcome
        .unwrap_or_else(|panic| Applied::Broken(format!("yrs panicked: {}", panic_message(&panic))))
}

/// The update's items whose place is checked after applying ([`crate::order`]), and those of
/// earlier updates still waiting for what they depend on (they may land with this one).
/// Deletions may have reached the waiting ones already, so they are compared as invisible.
fn placed_items(txn: &yrs::TransactionMut<'_>, shape: &Shape) -> Vec<PlacedItem> {
    let mut placed = shape.placed.clone();
    if let Some(pending) = txn.store().pending_update() {
        let waiting = yrs::updates::encoder::Encode::encode_v1(&pending.update);
        if let Ok(waiting) = validate_update_v1_shape(&waiting) {
            placed.extend(waiting.placed.into_iter().map(|item| PlacedItem {
                countable: false,
                ..item
            }));
        }
    }
    placed
}

/// The first client whose delete ranges reach past what the document holds for it (`known`) and what the
/// update itself writes for it. yrs keeps such deletes pending and applies them to whatever is
/// written at those clocks later, so they would silently delete another client's next edit
/// ("delete squatting"). A client only deletes what it has seen, which came through this server
/// or is in the same update, so honest updates never do this.
fn deletes_ahead(known: &StateVector, update: &Update, ranges: &[ClientRange]) -> Option<u64> {
    update.delete_set().iter().find_map(|(client, deleted)| {
        let written = ranges
            .iter()
            .filter(|range| range.client == client.get())
            .map(|range| range.end)
            .max()
            .unwrap_or(0);
        let held = known.get(client).max(written);
        deleted
            .iter()
            .any(|range| range.end > held)
            .then(|| client.get())
    })
}

/// Whether applying `update` would change `doc`: new items, or deletions it does not hold.
/// Decoding runs under `catch_unwind`; a panic counts as a change (refused).
pub fn would_change(doc: &Doc, update: &[u8], ranges: &[ClientRange]) -> bool {
    let txn = doc.transact();
    let known = txn.state_vector();
    if ranges
        .iter()
        .any(|range| range.end > known.get(&yrs::ClientID::new(range.client)))
    {
        return true;
    }
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(update) = Update::decode_v1(update) else {
            return true;
        };
        let deletes = update.delete_set();
        !deletes.is_empty()
            && deletes
                .diff(&txn.snapshot().delete_set)
                .iter()
                .any(|(_, ranges)| !ranges.is_empty())
    }))
    .unwrap_or(true)
}
