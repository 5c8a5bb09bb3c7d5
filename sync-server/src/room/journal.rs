//! `ApplyJournal`: the record of the update a room is applying, kept by the crash-loop guard
//! (`crash_guard::Journal`) so an update that kills the process is found on the next start.

use collab_core::doc_name::DocName;

/// Where a room records the update yrs is applying, and clears it afterwards.
pub trait ApplyJournal: Send + Sync {
    /// `update` for `doc` is about to be applied.
    fn record(&self, doc: &DocName, update: &[u8]);
    /// The apply ended, however it ended.
    fn clear(&self);
}

/// Clears the journal when dropped.
#[must_use = "the entry is cleared when the guard drops"]
pub(super) struct Recorded<'a>(&'a dyn ApplyJournal);

/// Records `update` for `doc` until the returned guard drops.
pub(super) fn record<'a>(
    journal: &'a dyn ApplyJournal,
    doc: &DocName,
    update: &[u8],
) -> Recorded<'a> {
    journal.record(doc, update);
    Recorded(journal)
}

impl Drop for Recorded<'_> {
    fn drop(&mut self) {
        self.0.clear();
    }
}
