//! History kept beside each document's log: who wrote each update batch and when
//! ([`Attribution`], [`Author`]), saved versions ([`VersionInfo`], written by
//! [`super::Write::Version`]) and the audit trail of changes ([`Change`]).
//!
//! Attribution is stored on each log row; compaction folds the rows it drops into per-author,
//! per-minute change summaries first, so the trail outlives the rows. Retention (see
//! [`Retention`]) is applied by compaction: versions and change summaries older than it go,
//! nothing younger ever does.

use std::time::Duration;

use serde::Serialize;

/// Who wrote something, as the server knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct Author {
    /// The token's `sub`; in open mode (no tokens) the name the client claimed.
    pub id: String,
    /// The token's `name`; in open mode the name the client's awareness state claimed.
    pub name: Option<String>,
    /// `true` when a verified token says so; `false` for a claimed name (open mode) and for
    /// rows written before attribution existed (empty id and name).
    pub verified: bool,
}

/// What one stored update batch carries for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    pub author: Author,
    /// Characters the update inserted (UTF-16 code units, as Yjs counts them).
    pub inserted: u64,
    /// Characters it deleted.
    pub deleted: u64,
}

/// Why a version was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionKind {
    /// A checkpoint: edits stopped for a while, or went on for long.
    Auto,
    /// Someone named the state (`POST /api/docs/{doc}/versions`).
    Named,
    /// The state right after a restore.
    Restore,
}

impl VersionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionKind::Auto => "auto",
            VersionKind::Named => "named",
            VersionKind::Restore => "restore",
        }
    }

    pub fn parse(text: &str) -> VersionKind {
        match text {
            "named" => VersionKind::Named,
            "restore" => VersionKind::Restore,
            _ => VersionKind::Auto,
        }
    }
}

/// One saved version, without its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub id: String,
    /// Milliseconds since the Unix epoch (server time).
    pub created_at_ms: i64,
    pub label: Option<String>,
    pub kind: VersionKind,
    /// Length of the version's text in UTF-8 bytes.
    pub text_bytes: u64,
    /// Who changed the document since the version before, in order of their first change.
    pub authors: Vec<Author>,
    /// For a restore: the id of the version it restored.
    pub restored_from: Option<String>,
}

/// One line of the audit trail: one update batch, or (after compaction) the batches of one
/// author within one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub author: Author,
    /// Server time of the first and the last batch, in milliseconds since the Unix epoch.
    pub first_at_ms: i64,
    pub last_at_ms: i64,
    /// Update batches it covers.
    pub updates: u64,
    pub inserted: u64,
    pub deleted: u64,
}

/// What the trash keeps of a deleted document: when it was deleted, and its snapshot and log
/// in order.
pub type Trashed = (i64, Vec<Vec<u8>>);

/// Most changes one read returns.
pub const CHANGES_LIMIT: usize = 10_000;

/// How long versions and change summaries are kept (`--history-retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

impl Retention {
    /// 30 days, the server's default.
    pub const DEFAULT: Retention = Retention(Some(Duration::from_secs(30 * 24 * 3600)));

    /// From a duration, where zero means keep everything.
    pub fn from_duration(keep: Duration) -> Retention {
        Retention((!keep.is_zero()).then_some(keep))
    }

    /// From `30d`, `12h`, `90m`, `45s` or a bare number of seconds; `0` keeps everything.
    pub fn parse(text: &str) -> Result<Retention, String> {
        let text = text.trim();
        let (number, unit) = match text.char_indices().last() {
            Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c),
            _ => (text, 's'),
        };
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
        };
        let count: u64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a whole number with a unit, such as 30d"))?;
        let seconds = count
            .checked_mul(scale)
            .ok_or_else(|| format!("{text:?} is too long"))?;
        Ok(Retention::from_duration(Duration::from_secs(seconds)))
    }

    /// Rows older than this (milliseconds since the epoch) may go, as of `now_ms`; `None`:
    /// keep everything.
    pub fn cutoff(self, now_ms: i64) -> Option<i64> {
        self.0
            .map(|keep| now_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX)))
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention::DEFAULT
    }
}

/// The authors as stored (a JSON array).
pub(super) fn authors_json(authors: &[Author]) -> String {
    serde_json::to_string(authors).unwrap_or_else(|_| "[]".to_owned())
}

/// The authors read back; a row that does not parse names nobody.
pub(super) fn authors_from_json(json: &str) -> Vec<Author> {
    serde_json::from_str(json).unwrap_or_default()
}

/// Length of a minute in milliseconds: change summaries are per author and minute.
pub(super) const SUMMARY_PERIOD_MS: i64 = 60_000;

/// A read of a document's history, queued to the writer like a load.
#[derive(Debug)]
pub(super) enum HistoryRead {
    Versions,
    Version(String),
    Changes { since_ms: i64, limit: usize },
    Trashed,
    ForgetTrashed(i64),
}

/// What a [`HistoryRead`] found.
#[derive(Debug)]
pub(super) enum HistoryAnswer {
    Versions(Vec<VersionInfo>),
    Version(Option<(VersionInfo, Vec<u8>)>),
    Changes(Vec<Change>),
    Trashed(Option<Trashed>),
    Forgot,
}

pub(super) type HistoryReply =
    tokio::sync::oneshot::Sender<Result<HistoryAnswer, super::StorageError>>;

impl HistoryRead {
    /// Runs the read on `store` (on the writer thread).
    pub(super) fn run(
        self,
        store: &mut impl super::Store,
        doc: &collab_core::doc_name::DocName,
    ) -> Result<HistoryAnswer, super::StorageError> {
        Ok(match self {
            HistoryRead::Versions => HistoryAnswer::Versions(store.versions(doc)?),
            HistoryRead::Version(id) => HistoryAnswer::Version(store.version_state(doc, &id)?),
            HistoryRead::Changes { since_ms, limit } => {
                HistoryAnswer::Changes(store.changes(doc, since_ms, limit)?)
            }
            HistoryRead::Trashed => HistoryAnswer::Trashed(store.trashed(doc)?),
            HistoryRead::ForgetTrashed(deleted_at) => {
                store.forget_trashed(doc, deleted_at)?;
                HistoryAnswer::Forgot
            }
        })
    }
}
