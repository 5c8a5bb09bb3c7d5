//! Shared code of the fuzz targets: the validator and order checks from `collab-core`, the
//! server's frame decoder compiled from its source file (it names no other module of the
//! server, so the fuzz build skips the network and storage stack), and the document the
//! `apply` target starts from.

#[path = "../../src/protocol/message.rs"]
pub mod message;

pub use collab_core::{order, same_order, validate};

use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

/// The shared text every client edits, as in the server's rooms.
pub use collab_core::engine::TEXT_NAME;

/// A document with some history: "hello world" by client 1 with "ll" deleted, then client 2's
/// "ABC" inserted after "heo " with "B" deleted, so fuzzed updates can refer to existing,
/// deleted and split items of two clients, and to runs of deleted ones.
pub fn base_doc() -> Doc {
    let doc = Doc::with_client_id(1);
    let text = doc.get_or_insert_text(TEXT_NAME);
    {
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "hello world");
    }
    {
        let mut txn = doc.transact_mut();
        text.remove_range(&mut txn, 2, 2);
    }
    // Client 2's edits, made on its own document and merged as a server would.
    let other = Doc::with_client_id(2);
    let other_text = other.get_or_insert_text(TEXT_NAME);
    let state = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    other
        .transact_mut()
        .apply_update(Update::decode_v1(&state).expect("own encoding"))
        .expect("own encoding applies");
    let known = other.transact().state_vector();
    {
        let mut txn = other.transact_mut();
        other_text.insert(&mut txn, 4, "ABC");
    }
    {
        let mut txn = other.transact_mut();
        other_text.remove_range(&mut txn, 5, 1);
    }
    let edits = other.transact().encode_state_as_update_v1(&known);
    doc.transact_mut()
        .apply_update(Update::decode_v1(&edits).expect("own encoding"))
        .expect("own encoding applies");
    doc
}
