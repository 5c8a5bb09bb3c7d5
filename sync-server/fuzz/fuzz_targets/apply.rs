//! Validate → apply → encode, as a room does: whatever the validator accepts, the room's
//! apply path (`collab_core::engine::apply_update`, as a client's update) takes without
//! panicking, and what it keeps still encodes, and that encoding loads into a fresh
//! document with the same text and every character (deleted ones included) in the same
//! place. Runs on a thread with the room threads' stack size (256 MiB), so deep recursion in
//! yrs shows up as it would in the server.
#![no_main]

use collab_core::engine::{apply_update, Applied, Source};
use libfuzzer_sys::fuzz_target;
use sync_server_fuzz::order::Runs;
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
    let known = doc.transact().state_vector();
    // The room's own apply path: decode, the delete and waiting-bytes bounds, the items, the
    // order check, the deletions, the whole check when it is needed, the encode check. It
    // catches panics, but libFuzzer's panic hook aborts on any panic first, so one is still
    // a crash here.
    match apply_update(
        &doc,
        bytes,
        &shape,
        &known,
        Source::Client,
        &mut Runs::default(),
        &mut 0,
    ) {
        Applied::Changed | Applied::Unchanged => {}
        // Refused (the room closes the sender with 4400, nothing changes), or misplaced or
        // failed (the room reloads the document from storage).
        Applied::Refused(_) | Applied::Misplaced(_) | Applied::Broken(_) => return,
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
