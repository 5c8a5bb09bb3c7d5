//! Durable storage: the `Store` trait, its SQLite and PostgreSQL implementations, and the
//! single writer thread that commits batches from every document (group commit) and then
//! reports which senders' updates are durable.
//!
//! - [`sqlite`]: `SqliteStore`, the only code that names rusqlite (the default).
//! - [`postgres`]: `PostgresStore`, the only code that names the postgres crate; safe with
//!   several server instances writing the same database.
//! - [`writer`]: `StorageWriter`, the queue in front of a `Store`.
//!
//! The log model: each document is an optional snapshot plus the updates appended since, in
//! order. Loading applies the snapshot, then the updates. Compaction replaces the snapshot and
//! deletes the updates it covers, in one transaction.

pub mod postgres;
pub mod sqlite;
pub mod writer;

use std::time::Duration;

use collab_core::doc_name::DocName;

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

/// Someone whose token vouches for an edit: the token's `sub` and `name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Author {
    pub id: String,
    pub name: Option<String>,
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
        /// The token's user, when there is one: webhooks name them. Not stored.
        author: Option<Author>,
    },
    /// Replaces the snapshot with `snapshot` and deletes every update appended before this
    /// write. The caller guarantees `snapshot` contains all of them.
    Compact {
        doc: DocName,
        snapshot: Vec<u8>,
        text_bytes: u64,
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
    /// Deletes everything stored for `doc` (its list entry, snapshot and log; the quarantine
    /// keeps its record of updates that killed the process), in one transaction. Returns
    /// whether anything was stored. A hard delete: nothing is kept to undo it.
    fn delete(&mut self, doc: &DocName) -> Result<bool, StorageError>;
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
    fn delete(&mut self, doc: &DocName) -> Result<bool, StorageError> {
        (**self).delete(doc)
    }
    fn check(&mut self) -> Result<(), StorageError> {
        (**self).check()
    }
    fn check_interval(&self) -> Option<Duration> {
        (**self).check_interval()
    }
}
