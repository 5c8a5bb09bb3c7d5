//! `LocalCopy`, pure: the copy of the document this device keeps (IndexedDB), what a stored
//! record holds and how it reads back, and when to write it again.
//!
//! A record is the whole document (one v1 update), who wrote it, and per tab the number of
//! local changes in it the server has not durably acknowledged. It is rewritten after every
//! change (local or remote, and after an ack lowers the count), one write at a time: a change
//! during a write asks for one more write when it ends, after a pause if the write was slow
//! ([`pause_after`]). The copy holds every change once the write that started after it has
//! completed; only then does the save line say "kept on this device".

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

/// A record's first bytes: the format and its version. `CTX1` records (one count, no writer)
/// are still read.
const MAGIC: &[u8; 4] = b"CTX2";
const MAGIC_V1: &[u8; 4] = b"CTX1";

/// One stored record: the document, which tab wrote it, and per tab how many of its local
/// changes in it are not yet durable. Tabs of one browser share the record: each write reads
/// it first, and a tab that finds another's write since its own takes that document in
/// before writing its own (a superset), keeping the other tabs' counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The tab (its client id) that wrote it, and its count of writes: whether anyone wrote
    /// since a tab's own last write.
    pub writer: u64,
    pub stamp: u32,
    /// Per tab with some: its changes not durably acknowledged.
    pub unsaved: Vec<(u64, u32)>,
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
        let mut out = Vec::with_capacity(self.state.len() + 20 + 12 * self.unsaved.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.writer.to_le_bytes());
        out.extend_from_slice(&self.stamp.to_le_bytes());
        out.extend_from_slice(&(self.unsaved.len() as u32).to_le_bytes());
        for (tab, count) in &self.unsaved {
            out.extend_from_slice(&tab.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        out.extend_from_slice(&self.state);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        fn take<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], RecordError> {
            let (head, tail) = rest.split_at_checked(N).ok_or(RecordError::Truncated)?;
            *rest = tail;
            head.try_into().map_err(|_| RecordError::Truncated)
        }
        let (mut rest, v1) = match (bytes.strip_prefix(MAGIC), bytes.strip_prefix(MAGIC_V1)) {
            (Some(rest), _) => (rest, false),
            (None, Some(rest)) => (rest, true),
            (None, None) => {
                return Err(RecordError::NotARecord(
                    bytes.iter().take(4).copied().collect(),
                ))
            }
        };
        let mut record = Record {
            writer: 0,
            stamp: 0,
            unsaved: Vec::new(),
            state: Vec::new(),
        };
        if v1 {
            let count = u32::from_le_bytes(take(&mut rest)?);
            record.unsaved = (count > 0).then_some((0, count)).into_iter().collect();
        } else {
            record.writer = u64::from_le_bytes(take(&mut rest)?);
            record.stamp = u32::from_le_bytes(take(&mut rest)?);
            let tabs = u32::from_le_bytes(take(&mut rest)?);
            for _ in 0..tabs {
                let tab = u64::from_le_bytes(take(&mut rest)?);
                record
                    .unsaved
                    .push((tab, u32::from_le_bytes(take(&mut rest)?)));
            }
        }
        if rest.is_empty() {
            return Err(RecordError::Truncated);
        }
        record.state = rest.to_vec();
        Ok(record)
    }

    /// Every tab's unsaved changes together (what a page restoring the record takes on).
    pub fn unsaved_total(&self) -> u32 {
        self.unsaved
            .iter()
            .fold(0u32, |sum, (_, count)| sum.saturating_add(*count))
    }

    /// Whether the record is another write than the one `seen` (writer, stamp) names.
    pub fn written_since(&self, seen: (u64, u32)) -> bool {
        (self.writer, self.stamp) != seen
    }
}

/// The counts a tab `me` with `mine` unsaved changes writes over `stored`: the other tabs'
/// as they stored them, except those it `adopted` (took into its own count when it restored
/// the record), and its own.
pub fn unsaved_over(
    me: u64,
    mine: u32,
    adopted: &[u64],
    stored: Option<&Record>,
) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = stored
        .map(|record| {
            record
                .unsaved
                .iter()
                .filter(|(tab, _)| *tab != me && !adopted.contains(tab))
                .copied()
                .collect()
        })
        .unwrap_or_default();
    if mine > 0 {
        out.push((me, mine));
    }
    out
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
            writer: 77,
            stamp: 3,
            unsaved: vec![(77, 3), (1 << 52, 2)],
            state: vec![1, 2, 3, 0],
        };
        assert_eq!(Record::decode(&record.encode()), Ok(record.clone()));
        assert_eq!(record.unsaved_total(), 5);
        assert!(matches!(
            Record::decode(b"junk and more"),
            Err(RecordError::NotARecord(_))
        ));
        let bytes = record.encode();
        for cut in [6, 12, 20, 30, bytes.len() - 4] {
            assert_eq!(
                Record::decode(&bytes[..cut]),
                Err(RecordError::Truncated),
                "{cut}"
            );
        }
        assert!(Record::decode(&[]).is_err());
        assert_eq!(record_key("ws://h:1/sync", "notes"), "ws://h:1/sync/notes");
    }

    #[test]
    fn a_record_of_the_first_format_still_reads() {
        let mut v1 = b"CTX1".to_vec();
        v1.extend_from_slice(&4u32.to_le_bytes());
        v1.extend_from_slice(&[1, 2, 0]);
        let record = Record::decode(&v1).unwrap();
        assert_eq!((record.writer, record.stamp), (0, 0));
        assert_eq!(record.unsaved, vec![(0, 4)]);
        assert_eq!(record.state, vec![1, 2, 0]);
        assert_eq!(Record::decode(&v1[..8]), Err(RecordError::Truncated));
    }

    #[test]
    fn each_tab_keeps_the_others_counts_and_rewrites_its_own() {
        let stored = Record {
            writer: 2,
            stamp: 9,
            unsaved: vec![(1, 4), (2, 3), (5, 1)],
            state: vec![0, 0],
        };
        assert!(stored.written_since((1, 9)));
        assert!(!stored.written_since((2, 9)));
        // Tab 1 now has 2 unsaved; it restored the record that held tab 5's count.
        assert_eq!(
            unsaved_over(1, 2, &[5], Some(&stored)),
            vec![(2, 3), (1, 2)]
        );
        // Everything of tab 2 is durable: its entry goes.
        assert_eq!(unsaved_over(2, 0, &[], Some(&stored)), vec![(1, 4), (5, 1)]);
        assert_eq!(unsaved_over(3, 1, &[], None), vec![(3, 1)]);
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
