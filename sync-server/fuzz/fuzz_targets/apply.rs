//! Validate → decode → apply → encode, as a room does: whatever the validator accepts, yrs
//! decodes and applies without panicking, and the document still encodes, and that encoding
//! loads into a fresh document with the same text and every character (deleted ones
//! included) in the same place. Applies as a room does: the update's items,
//! the order check (`protocol::order`), then its deletions. Runs on a thread with the room
//! threads' stack size (256 MiB), so deep recursion in yrs shows up as it would in the server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_server_fuzz::order::{check_placed, reorders, Placement, Runs};
use sync_server_fuzz::same_order::same_order;
use sync_server_fuzz::validate::{validate_update_v1, validate_update_v1_shape};
use sync_server_fuzz::{base_doc, TEXT_NAME};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Transact, Update};

const ROOM_STACK: usize = 256 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    if validate_update_v1(data, |_| {}).is_err() {
        return;
    }
    let update = data.to_vec();
    let outcome = std::thread::Builder::new()
        .stack_size(ROOM_STACK)
        .spawn(move || apply_and_round_trip(&update))
        .expect("spawn a room-sized thread")
        .join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
});

fn apply_and_round_trip(bytes: &[u8]) {
    let doc = base_doc();
    let text = doc.get_or_insert_text(TEXT_NAME);
    let shape = validate_update_v1_shape(bytes).expect("validated above");
    let (Ok(items), Ok(deletions)) = (
        Update::decode_v1(&[&bytes[..shape.delete_set_at], &[0]].concat()),
        Update::decode_v1(&[&[0], &bytes[shape.delete_set_at..]].concat()),
    ) else {
        // Refused by yrs: the room closes the sender with 4400, nothing changes.
        return;
    };
    let mut whole_check = false;
    let known = doc.transact().state_vector();
    {
        // As the room does: items, the order check, then deletions.
        let mut txn = doc.transact_mut();
        if txn.apply_update(items).is_err() {
            // The room drops the document and reloads it from storage.
            return;
        }
        match check_placed(&txn, &known, &shape.placed, &mut Runs::default(), &mut 0) {
            // Refused; the room reloads the document.
            Placement::Misplaced(_) => return,
            Placement::TooManyLookups | Placement::Unseen => whole_check = true,
            Placement::Fine => {}
        }
        if txn.apply_update(deletions).is_err() {
            return;
        }
        // What the room does right after applying.
        let _ = txn.encode_update_v1();
    }
    if whole_check && reorders(&doc, &known) {
        // Refused; the room reloads the document.
        return;
    }
    let before = text.get_string(&doc.transact());
    let full = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    // A snapshot the server writes must load again (that is how rooms come back).
    let copy = Doc::new();
    let copy_text = copy.get_or_insert_text(TEXT_NAME);
    {
        let reloaded = Update::decode_v1(&full).expect("the document's own encoding decodes");
        copy.transact_mut()
            .apply_update(reloaded)
            .expect("the document's own encoding applies");
    }
    // Clients that were there and clients that load the document later see the same text.
    let after = copy_text.get_string(&copy.transact());
    assert_eq!(before, after, "text changed across encode and reload");
    // And every character, deleted ones included, is where a reload puts it: text typed later
    // next to any of them lands in the same place for everyone.
    assert!(
        same_order(&doc, &known),
        "a character is elsewhere after encode and reload"
    );
    // And it is again an update the validator accepts (a client may send it back as SyncStep2).
    validate_update_v1(&full, |_| {}).expect("the document's own encoding validates");
}
