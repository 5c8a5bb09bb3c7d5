//! Crash-loop guard: the update being applied (a client's, or a stored row while a document
//! loads) is written to a small per-thread journal file first and cleared afterwards, so an
//! update that kills the whole process (something `catch_unwind` cannot contain, such as a
//! stack overflow or a panic while unwinding) is found on the next start, quarantined in
//! storage, and then refused when a client sends it again or skipped when its row is loaded.
//!
//! The journal lives beside the database: `{data}-inflight-{thread}`. It is written with
//! `pwrite` and never synced: it only has to survive the process, not the machine, and an
//! update is in it for as long as one apply takes.
//!
//! Entry layout (little endian): `b"CTQ1"`, `u32` name length, document name, `u32` update
//! length, update bytes. A cleared journal starts with four zero bytes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use crate::room::ApplyJournal;
use collab_core::doc_name::DocName;

const MAGIC: &[u8; 4] = b"CTQ1";
const CLEARED: &[u8; 4] = &[0; 4];

/// One room thread's journal of the update it is applying right now.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
}

/// An update found in a journal at start-up: it was being applied when the process died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Killer {
    pub doc: DocName,
    pub update: Vec<u8>,
}

/// Clears the journal entry when dropped, whatever way the apply ended (unless the process
/// ended with it).
#[must_use = "the entry is cleared when the guard drops"]
pub struct InFlight<'a> {
    journal: &'a Journal,
}

impl Journal {
    /// Creates (or empties) the journal of room thread `index` for the database at `data`.
    pub fn create(data: &Path, index: usize) -> io::Result<Journal> {
        let path = journal_path(data, index);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        Ok(Journal { file, path })
    }

    /// Records that `update` for `doc` is about to be applied, until the guard drops. If
    /// writing fails the update is still applied; the guard is lost for it, which is logged.
    pub fn begin(&self, doc: &DocName, update: &[u8]) -> InFlight<'_> {
        self.write_entry(doc, update);
        InFlight { journal: self }
    }

    fn write_entry(&self, doc: &DocName, update: &[u8]) {
        let name = doc.as_str().as_bytes();
        let mut entry = Vec::with_capacity(12 + name.len() + update.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&(name.len() as u32).to_le_bytes());
        entry.extend_from_slice(name);
        entry.extend_from_slice(&(update.len() as u32).to_le_bytes());
        entry.extend_from_slice(update);
        // One write: a process that dies is never stopped inside a system call, so the entry
        // is either all there or not at all.
        if let Err(err) = self.file.write_all_at(&entry, 0) {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot write the crash journal");
        }
    }

    fn clear_entry(&self) {
        if let Err(err) = self.file.write_all_at(CLEARED, 0) {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot clear the crash journal");
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.journal.clear_entry();
    }
}

/// What a room records while it applies an update.
impl ApplyJournal for Journal {
    fn record(&self, doc: &DocName, update: &[u8]) {
        self.write_entry(doc, update);
    }

    fn clear(&self) {
        self.clear_entry();
    }
}

/// The journal file of room thread `index`.
fn journal_path(data: &Path, index: usize) -> PathBuf {
    let mut name = data.file_name().unwrap_or_default().to_os_string();
    name.push(format!("-inflight-{index}"));
    data.with_file_name(name)
}

/// Reads and removes every journal left beside `data` by an earlier process (whatever its
/// thread count was), returning the updates that were being applied when it died.
pub fn recover(data: &Path) -> io::Result<Vec<Killer>> {
    let dir = match data.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    let mut prefix = data.file_name().unwrap_or_default().to_os_string();
    prefix.push("-inflight-");
    let prefix = prefix.to_string_lossy().into_owned();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut killers = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let bytes = std::fs::read(entry.path())?;
        match parse_entry(&bytes) {
            Some(killer) => killers.push(killer),
            None if bytes.starts_with(MAGIC) => {
                tracing::warn!(path = %entry.path().display(), "ignored an unreadable crash journal");
            }
            None => {}
        }
        std::fs::remove_file(entry.path())?;
    }
    Ok(killers)
}

fn parse_entry(bytes: &[u8]) -> Option<Killer> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (name, rest) = take_prefixed(rest)?;
    let (update, _) = take_prefixed(rest)?;
    let doc = DocName::parse(std::str::from_utf8(name).ok()?).ok()?;
    Some(Killer {
        doc,
        update: update.to_vec(),
    })
}

/// Splits a `u32`-length-prefixed field off `bytes`.
fn take_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let field = bytes.get(4..4 + len)?;
    Some((field, &bytes[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str) -> DocName {
        DocName::parse(name).unwrap()
    }

    #[test]
    fn an_entry_left_behind_is_recovered_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("store.sqlite3");
        let journal = Journal::create(&data, 3).unwrap();
        let inflight = journal.begin(&doc("notes"), b"\x01\x02\x03");
        // The process "dies" here: the guard is never dropped.
        std::mem::forget(inflight);
        drop(journal);
        let killers = recover(&data).unwrap();
        assert_eq!(
            killers,
            vec![Killer {
                doc: doc("notes"),
                update: vec![1, 2, 3]
            }]
        );
        assert!(recover(&data).unwrap().is_empty(), "journals are removed");
    }

    #[test]
    fn a_finished_apply_leaves_nothing_to_recover() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("store.sqlite3");
        let journal = Journal::create(&data, 0).unwrap();
        drop(journal.begin(&doc("a-much-longer-document-name"), &[7; 100]));
        drop(journal.begin(&doc("b"), &[1]));
        assert!(recover(&data).unwrap().is_empty());
    }

    #[test]
    fn torn_or_foreign_files_are_not_mistaken_for_entries() {
        assert_eq!(parse_entry(b"CTQ1\xff\xff\xff\xff"), None);
        assert_eq!(
            parse_entry(b"CTQ1\x01\x00\x00\x00a\x09\x00\x00\x00ab"),
            None
        );
        assert_eq!(parse_entry(b"\0\0\0\0\x01\x00\x00\x00a"), None);
        assert_eq!(parse_entry(b"CTQ1\x01\x00\x00\x00/\x00\x00\x00\x00"), None);
    }
}
