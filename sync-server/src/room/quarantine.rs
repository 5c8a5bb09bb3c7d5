//! `Quarantine`: updates that killed the process while being applied, refused when sent again.

use collab_core::validate::{validate_update_v1, ClientRange};

/// Updates that killed the process while being applied, found by the crash-loop guard. One is
/// refused when sent again byte for byte, or when it writes any clock range one of them wrote
/// (a reconnecting client resends its items as part of a differently encoded diff).
#[derive(Debug, Default)]
pub(super) struct Quarantine {
    updates: Vec<Vec<u8>>,
    ranges: Vec<ClientRange>,
}

impl Quarantine {
    pub fn new(updates: Vec<Vec<u8>>) -> Quarantine {
        let mut ranges = Vec::new();
        for update in &updates {
            // One the validator refuses cannot get in again anyway; its ranges don't matter.
            let mut found = Vec::new();
            if validate_update_v1(update, |range| found.push(range)).is_ok() {
                ranges.extend(found);
            }
        }
        Quarantine { updates, ranges }
    }

    pub fn holds(&self, update: &[u8], ranges: &[ClientRange]) -> bool {
        self.updates.iter().any(|q| q.as_slice() == update)
            || ranges.iter().any(|r| {
                self.ranges
                    .iter()
                    .any(|q| q.client == r.client && q.start < r.end && r.start < q.end)
            })
    }
}
