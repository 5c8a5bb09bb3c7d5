//! `LocalCopy`, pure: the copy of the document this device keeps (IndexedDB), what a stored
//! record holds and how it reads back, and when to write it again.
//!
//! A record is the whole document (one v1 update) and the number of local changes in it the
//! server has not durably acknowledged. It is rewritten after every change (local or remote,
//! and after an ack lowers the count), one write at a time: a change during a write asks for
//! one more write when it ends, after a pause if the write was slow ([`pause_after`]). The copy holds every change once the write that started
//! after it has completed; only then does the save line say "kept on this device".

/// What the save line may say about where the unsaved changes are, besides the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeping {
    /// Every change so far is in the copy on this device.
    Device,
    /// The copy is being opened or written; the latest changes are not in it yet.
    Storing,
    /// Only in this tab's memory: persistence is off (`persist="none"`, or forgotten).
    MemoryOff,
    /// Only in this tab's memory: the browser refused the store (private window, quota, error).
    MemoryRefused,
}

impl Keeping {
    /// The `collab-save` event's `local`: `device`, `storing` or `memory`.
    pub fn as_str(self) -> &'static str {
        match self {
            Keeping::Device => "device",
            Keeping::Storing => "storing",
            Keeping::MemoryOff | Keeping::MemoryRefused => "memory",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Opening the store and reading the record.
    Loading,
    Ready,
    Off,
    Refused,
}

/// The state of this device's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCopy {
    mode: Mode,
    /// Changes counted since mount (anything the copy should hold).
    changes: u64,
    /// `changes` as of the start of the last write that completed.
    stored: u64,
    /// `changes` as of the start of the write in flight.
    writing: Option<u64>,
}

impl LocalCopy {
    /// A copy that is being loaded (`enabled`), or none at all.
    pub fn new(enabled: bool) -> LocalCopy {
        LocalCopy {
            mode: if enabled { Mode::Loading } else { Mode::Off },
            changes: 0,
            stored: 0,
            writing: None,
        }
    }

    pub fn is_loading(&self) -> bool {
        self.mode == Mode::Loading
    }

    /// Whether writes go to the store.
    pub fn is_ready(&self) -> bool {
        self.mode == Mode::Ready
    }

    /// The store is open and its record applied; `true`: write now (changes came meanwhile).
    pub fn loaded(&mut self) -> bool {
        if self.mode != Mode::Loading {
            return false;
        }
        self.mode = Mode::Ready;
        self.changes > self.stored
    }

    /// The browser refused the store, or a write failed: memory only from now on.
    pub fn refused(&mut self) {
        if self.mode != Mode::Off {
            self.mode = Mode::Refused;
        }
        self.writing = None;
    }

    /// Turned off (the page asked to forget the copy): nothing more is written.
    pub fn off(&mut self) {
        self.mode = Mode::Off;
        self.writing = None;
    }

    /// Something the copy should hold changed; `true`: start a write now.
    pub fn changed(&mut self) -> bool {
        self.changes += 1;
        self.mode == Mode::Ready && self.writing.is_none()
    }

    /// A write of everything so far starts.
    pub fn write_started(&mut self) {
        self.writing = Some(self.changes);
    }

    /// The write in flight completed; `true`: changes came during it, write again.
    pub fn write_done(&mut self) -> bool {
        if let Some(upto) = self.writing.take() {
            self.stored = self.stored.max(upto);
        }
        self.mode == Mode::Ready && self.changes > self.stored
    }

    /// Where the changes are, for the save line.
    pub fn keeping(&self) -> Keeping {
        match self.mode {
            Mode::Ready if self.stored == self.changes => Keeping::Device,
            Mode::Ready | Mode::Loading => Keeping::Storing,
            Mode::Off => Keeping::MemoryOff,
            Mode::Refused => Keeping::MemoryRefused,
        }
    }
}

/// Writes shorter than this follow each other at once.
const QUICK_WRITE_MS: f64 = 8.0;
/// The longest pause between two writes.
const MAX_PAUSE_MS: f64 = 5_000.0;

/// How long to wait before the next write, after one that took `write_ms`: none after a quick
/// one; otherwise four times its length (at most 5 s), so that rewriting a document of tens of
/// megabytes takes at most a fifth of the page's time instead of all of it.
pub fn pause_after(write_ms: f64) -> Option<u32> {
    (write_ms >= QUICK_WRITE_MS).then(|| (write_ms * 4.0).min(MAX_PAUSE_MS) as u32)
}

/// A record's first bytes: the format and its version.
const MAGIC: &[u8; 4] = b"CTX1";

/// One stored record: the document and how many of its local changes are not yet durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub unsaved: u32,
    /// The whole document as a v1 update.
    pub state: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a collab-textarea record (it starts with {0:02x?})")]
    NotARecord(Vec<u8>),
    #[error("the record is cut short")]
    Truncated,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.state.len() + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.unsaved.to_le_bytes());
        out.extend_from_slice(&self.state);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return Err(RecordError::NotARecord(
                bytes.iter().take(4).copied().collect(),
            ));
        };
        let (count, state) = rest.split_at_checked(4).ok_or(RecordError::Truncated)?;
        let unsaved = u32::from_le_bytes(count.try_into().map_err(|_| RecordError::Truncated)?);
        if state.is_empty() {
            return Err(RecordError::Truncated);
        }
        Ok(Record {
            unsaved,
            state: state.to_vec(),
        })
    }
}

/// The record's key: the server's URL (without token) and the document, so that two servers'
/// documents of the same name never share a copy.
pub fn record_key(server: &str, doc: &str) -> String {
    format!("{server}/{doc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_a_damaged_one_is_refused() {
        let record = Record {
            unsaved: 3,
            state: vec![1, 2, 3, 0],
        };
        assert_eq!(Record::decode(&record.encode()), Ok(record.clone()));
        assert!(matches!(
            Record::decode(b"junk and more"),
            Err(RecordError::NotARecord(_))
        ));
        let bytes = record.encode();
        assert_eq!(Record::decode(&bytes[..6]), Err(RecordError::Truncated));
        assert_eq!(Record::decode(&bytes[..8]), Err(RecordError::Truncated));
        assert!(Record::decode(&[]).is_err());
        assert_eq!(record_key("ws://h:1/sync", "notes"), "ws://h:1/sync/notes");
    }

    #[test]
    fn kept_on_this_device_only_once_a_write_after_the_last_change_completed() {
        let mut copy = LocalCopy::new(true);
        assert_eq!(copy.keeping(), Keeping::Storing);
        // Typed while the store opens: the write waits for the load, then runs.
        assert!(!copy.changed());
        assert!(copy.loaded());
        copy.write_started();
        // A change during the write: not kept yet, and one more write when it ends.
        assert!(!copy.changed());
        assert!(copy.write_done());
        assert_eq!(copy.keeping(), Keeping::Storing);
        copy.write_started();
        assert!(!copy.write_done());
        assert_eq!(copy.keeping(), Keeping::Device);
        assert!(copy.changed());
        assert_eq!(copy.keeping(), Keeping::Storing);
    }

    #[test]
    fn off_or_refused_means_memory_and_no_writes() {
        let mut off = LocalCopy::new(false);
        assert!(!off.changed());
        assert!(!off.loaded());
        assert_eq!(off.keeping(), Keeping::MemoryOff);

        let mut copy = LocalCopy::new(true);
        assert!(!copy.loaded());
        copy.write_started();
        // A quota error: memory only, no retry of the write.
        copy.refused();
        assert!(!copy.write_done());
        assert!(!copy.changed());
        assert_eq!(copy.keeping(), Keeping::MemoryRefused);
        assert_eq!(copy.keeping().as_str(), "memory");
        // Forgotten: off, whatever it was.
        copy.off();
        assert_eq!(copy.keeping(), Keeping::MemoryOff);
        // A load that never answered and then failed.
        let mut slow = LocalCopy::new(true);
        slow.refused();
        assert!(!slow.is_loading());
        assert!(!slow.loaded());
    }

    #[test]
    fn a_slow_write_is_followed_by_a_pause_four_times_as_long() {
        assert_eq!(pause_after(0.5), None);
        assert_eq!(pause_after(7.9), None);
        assert_eq!(pause_after(10.0), Some(40));
        assert_eq!(pause_after(800.0), Some(3_200));
        assert_eq!(pause_after(60_000.0), Some(5_000));
    }
}
