//! Validate → decode → apply → encode, as a room does: whatever the validator accepts, yrs
//! decodes and applies without panicking, and the document still encodes, and that encoding
//! loads into a fresh document (with the same text, when `FUZZ_TEXT_ROUND_TRIP=1`). Runs on a thread with the room threads'
//! stack size (256 MiB), so deep recursion in yrs shows up as it would in the server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_server_fuzz::validate::validate_update_v1;
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
    let Ok(update) = Update::decode_v1(bytes) else {
        // Refused by yrs: the room closes the sender with 4400, nothing changes.
        return;
    };
    {
        let mut txn = doc.transact_mut();
        if txn.apply_update(update).is_err() {
            // The room drops the document and reloads it from storage.
            return;
        }
        // What the room does right after applying.
        let _ = txn.encode_update_v1();
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
    // Known open defect: an item whose right origin lies before its left origin in the
    // document (e.g. `01 01 02 00 c4 01 06 01 05 03 58 37 5a 00` on the base document) is
    // placed one way live and another way after a reload. The validator cannot see document
    // order, so this check runs only when asked for (FUZZ_TEXT_ROUND_TRIP=1); see
    // ARCHITECTURE.md, known limits.
    if text_round_trip_checked() {
        let after = copy_text.get_string(&copy.transact());
        assert_eq!(before, after, "text changed across encode and reload");
    }
    // And it is again an update the validator accepts (a client may send it back as SyncStep2).
    validate_update_v1(&full, |_| {}).expect("the document's own encoding validates");
}

fn text_round_trip_checked() -> bool {
    static CHECKED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CHECKED.get_or_init(|| std::env::var_os("FUZZ_TEXT_ROUND_TRIP").is_some_and(|v| v == "1"))
}
