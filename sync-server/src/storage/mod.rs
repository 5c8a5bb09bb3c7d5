//! Durable storage: the `Store` trait, its SQLite and PostgreSQL implementations, and the
//! single writer thread that commits batches from every document (group commit) and then
//! reports which senders' updates are durable.
//!
//! - [`sqlite`]: `SqliteStore`, the only code that names rusqlite (the default).
//! - [`postgres`]: `PostgresStore`, the only code that names the postgres crate; safe with
//!   several server instances writing the same database.
//! - [`writer`]: `StorageWriter`, the queue in front of a `Store`.
//! - [`history`]: attribution, versions, the audit trail and retention.
//!
//! The log model: each document is an optional snapshot plus the updates appended since, in
//! order. Loading applies the snapshot, then the updates. Compaction replaces the snapshot and
//! deletes the updates it covers, in one transaction.

pub mod history;
pub mod postgres;
pub mod sqlite;
pub mod writer;

use std::time::Duration;

use collab_core::doc_name::DocName;

pub use self::history::{
    Attribution, Author, Change, Retention, Trashed, VersionInfo, VersionKind,
};
pub use self::postgres::{PostgresStore, PostgresUrl};
pub use sqlite::SqliteStore;
pub use writer::{now_ms, CommitWatcher, Receipt, StorageWriter};

/// A document as stored: a snapshot and the updates appended after it, oldest first.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StoredDoc {
    pub snapshot: Option<Vec<u8>>,
    pub updates: Vec<Vec<u8>>,
    /// Updates that killed the process while being applied (see `crash_guard`); never part
    /// of the document, kept so the room can refuse them if they are sent again.
    pub quarantined: Vec<Vec<u8>>,
}

impl StoredDoc {
    /// Whether anything was ever stored for this document.
    pub fn exists(&self) -> bool {
        self.snapshot.is_some() || !self.updates.is_empty()
    }
}

/// One line of the document list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSummary {
    pub name: String,
    /// Length of the document's text in UTF-8 bytes, as of its last write.
    pub text_bytes: u64,
    /// Milliseconds since the Unix epoch of the last committed write.
    pub updated_at_ms: i64,
}

/// Which part of the document list to read: names in order, those starting with `prefix`,
/// after the name `after` (the last one of the previous page), at most `limit` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub prefix: String,
    pub after: Option<String>,
    pub limit: usize,
}

impl ListQuery {
    /// Every stored document.
    pub fn all() -> ListQuery {
        ListQuery {
            limit: usize::MAX,
            ..ListQuery::default()
        }
    }

    /// The first name in byte order past every name that starts with `prefix` (`None`: no
    /// bound, as for the empty prefix), so a prefix is read as a range of the name index.
    pub fn prefix_end(&self) -> Option<String> {
        let mut chars: Vec<char> = self.prefix.chars().collect();
        while let Some(last) = chars.pop() {
            // The next scalar value; skipping the surrogate gap keeps it a char.
            let next = match last as u32 {
                0xD7FF => Some('\u{E000}'),
                n => char::from_u32(n + 1),
            };
            if let Some(next) = next {
                chars.push(next);
                return Some(chars.into_iter().collect());
            }
        }
        None
    }
}

/// One change to storage. A batch of them commits atomically, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Appends a v1 update to the document's log.
    Append {
        doc: DocName,
        update: Vec<u8>,
        /// Who wrote it (the token's subject, else the connection), for auditing.
        origin: String,
        text_bytes: u64,
        /// Who wrote it and what it changed, for the audit trail.
        by: Attribution,
    },
    /// Replaces the snapshot with `snapshot` and deletes every update appended before this
    /// write. The caller guarantees `snapshot` contains all of them.
    Compact {
        doc: DocName,
        snapshot: Vec<u8>,
        text_bytes: u64,
    },
    /// Saves a version: the whole document state `state` (a v1 update from an empty
    /// document), under `id` (unique per document, made by the room).
    Version {
        doc: DocName,
        info: VersionInfo,
        state: Vec<u8>,
    },
    /// Records an update that killed the process while it was being applied.
    Quarantine {
        doc: DocName,
        update: Vec<u8>,
        reason: String,
    },
}

/// Why storage failed. Only `sqlite` and `postgres` know what the backend error is.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("storage writer has stopped")]
    WriterStopped,
}

/// A place documents are kept. Implementations are used from the writer thread only.
pub trait Store: Send + 'static {
    /// Commits `writes` in one transaction, in order: all or none of them.
    fn commit(&mut self, writes: &[Write], now_ms: i64) -> Result<(), StorageError>;
    /// Reads a document's snapshot and log.
    fn load(&mut self, doc: &DocName) -> Result<StoredDoc, StorageError>;
    /// Lists stored documents in byte order of their names, as `query` selects.
    fn list(&mut self, query: &ListQuery) -> Result<Vec<DocSummary>, StorageError>;
    /// Deletes `doc`'s list entry, snapshot and log in one transaction (the quarantine keeps
    /// its record of updates that killed the process), so the name is free again. Without
    /// `purge` the snapshot and log go to the trash (see [`Store::trashed`]) and the history
    /// stays, both until retention drops them; the log's attribution is folded into change
    /// summaries first. With `purge` the history and the trash go too. Returns whether the
    /// document was stored.
    fn delete(&mut self, doc: &DocName, purge: bool, now_ms: i64) -> Result<bool, StorageError>;
    /// The last deletion of `doc` still in the trash: when, and its snapshot and log in
    /// order (what the document was).
    fn trashed(&mut self, _doc: &DocName) -> Result<Option<Trashed>, StorageError> {
        Ok(None)
    }
    /// Empties the trash of `doc`'s deletion at `deleted_at` (it was brought back).
    fn forget_trashed(&mut self, _doc: &DocName, _deleted_at: i64) -> Result<(), StorageError> {
        Ok(())
    }
    /// The versions of `doc`, oldest first. (The default: a store that keeps no history.)
    fn versions(&mut self, _doc: &DocName) -> Result<Vec<VersionInfo>, StorageError> {
        Ok(Vec::new())
    }
    /// The state saved as version `id` of `doc`, with its description.
    fn version_state(
        &mut self,
        _doc: &DocName,
        _id: &str,
    ) -> Result<Option<(VersionInfo, Vec<u8>)>, StorageError> {
        Ok(None)
    }
    /// The audit trail of `doc`: changes whose last batch is at or after `since_ms`, oldest
    /// first, at most `limit`.
    fn changes(
        &mut self,
        _doc: &DocName,
        _since_ms: i64,
        _limit: usize,
    ) -> Result<Vec<Change>, StorageError> {
        Ok(Vec::new())
    }
    /// Checks that the backend can be reached (reconnecting if needed). Called by the writer
    /// every [`Store::check_interval`] while idle, so readiness also fails when nothing is
    /// being written.
    fn check(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
    /// How often to `check`; `None` (a local file) means never.
    fn check_interval(&self) -> Option<Duration> {
        None
    }
}

impl Store for Box<dyn Store> {
    fn commit(&mut self, writes: &[Write], now_ms: i64) -> Result<(), StorageError> {
        (**self).commit(writes, now_ms)
    }
    fn load(&mut self, doc: &DocName) -> Result<StoredDoc, StorageError> {
        (**self).load(doc)
    }
    fn list(&mut self, query: &ListQuery) -> Result<Vec<DocSummary>, StorageError> {
        (**self).list(query)
    }
    fn delete(&mut self, doc: &DocName, purge: bool, now_ms: i64) -> Result<bool, StorageError> {
        (**self).delete(doc, purge, now_ms)
    }
    fn trashed(&mut self, doc: &DocName) -> Result<Option<Trashed>, StorageError> {
        (**self).trashed(doc)
    }
    fn forget_trashed(&mut self, doc: &DocName, deleted_at: i64) -> Result<(), StorageError> {
        (**self).forget_trashed(doc, deleted_at)
    }
    fn versions(&mut self, doc: &DocName) -> Result<Vec<VersionInfo>, StorageError> {
        (**self).versions(doc)
    }
    fn version_state(
        &mut self,
        doc: &DocName,
        id: &str,
    ) -> Result<Option<(VersionInfo, Vec<u8>)>, StorageError> {
        (**self).version_state(doc, id)
    }
    fn changes(
        &mut self,
        doc: &DocName,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<Change>, StorageError> {
        (**self).changes(doc, since_ms, limit)
    }
    fn check(&mut self) -> Result<(), StorageError> {
        (**self).check()
    }
    fn check_interval(&self) -> Option<Duration> {
        (**self).check_interval()
    }
}
