//! The pre-validator on arbitrary bytes: `validate_update_v1` as an update and
//! `decode_frame` as a whole WebSocket frame never panic, and every client range the
//! validator reports is inside the limits it promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_server_fuzz::message::{decode_frame, Incoming};
use collab_core::wire::MAX_CLIENT_ID;
use sync_server_fuzz::validate::{validate_update_v1, MAX_CLOCK};

fuzz_target!(|data: &[u8]| {
    check_update(data);
    // The same bytes as a frame: whatever it carries as updates goes through the validator,
    // as in a room.
    if let Ok(messages) = decode_frame(data) {
        for message in messages {
            if let Incoming::Update(update) | Incoming::SyncStep2(update) = message {
                check_update(&update);
            }
        }
    }
});

fn check_update(update: &[u8]) {
    let _ = validate_update_v1(update, |range| {
        assert!(range.client <= MAX_CLIENT_ID, "reported {range:?}");
        assert!(range.start < range.end, "reported {range:?}");
        assert!(u64::from(range.end) <= MAX_CLOCK, "reported {range:?}");
    });
}
