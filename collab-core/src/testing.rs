//! Document logs for tests of the crates that build on this one (feature `test-support`):
//! the same edit history wherever a test needs a long log whose rows depend on each other.

use yrs::{Doc, Text, Transact};

use crate::engine::TEXT_NAME;

/// A log of `rows + 1` v1 updates, and the text they make: first a snapshot holding
/// "start ", then one row per edit, typed at positions that wander through the text and
/// deleting now and then, so items are split and later rows depend on rows before them.
pub fn wandering_log(rows: usize) -> (Vec<Vec<u8>>, String) {
    let writer = Doc::with_client_id(7);
    let text = writer.get_or_insert_text(TEXT_NAME);
    let mut expected = String::from("start ");
    let mut log = vec![{
        let mut txn = writer.transact_mut();
        text.insert(&mut txn, 0, &expected);
        txn.encode_update_v1()
    }];
    for i in 0..rows {
        let mut txn = writer.transact_mut();
        let at = (i * 7919) % (expected.len() + 1);
        if i % 5 == 4 && at < expected.len() {
            text.remove_range(&mut txn, at as u32, 1);
            expected.remove(at);
        } else {
            let c = char::from(b'a' + (i % 26) as u8);
            text.insert(&mut txn, at as u32, &c.to_string());
            expected.insert(at, c);
        }
        log.push(txn.encode_update_v1());
    }
    (log, expected)
}
