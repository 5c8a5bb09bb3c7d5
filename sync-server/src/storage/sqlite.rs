//! `SqliteStore`: documents in one SQLite file, WAL mode, `synchronous=FULL`, immediate
//! transactions. The only module that names rusqlite.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::history::{authors_from_json, authors_json, Trashed, SUMMARY_PERIOD_MS};
use super::{
    Author, Change, DocSummary, ListQuery, Retention, StorageError, Store, StoredDoc, VersionInfo,
    VersionKind, Write,
};
use collab_core::doc_name::DocName;

/// Schema steps, applied in order: the file's `PRAGMA user_version` is how many it has.
/// Each runs in a transaction of its own with the version it brings the file to.
const MIGRATIONS: &[&str] = &[SCHEMA_1, HISTORY_2];

/// Step 1: documents, snapshots, the log, the quarantine. (`IF NOT EXISTS`: files made
/// before the version was kept already have them.)
const SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS documents (
    name        TEXT PRIMARY KEY,
    text_bytes  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS snapshots (
    doc          TEXT PRIMARY KEY,
    data         BLOB NOT NULL,
    compacted_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS updates (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    doc        TEXT NOT NULL,
    data       BLOB NOT NULL,
    origin     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS updates_by_doc ON updates (doc, id);
CREATE TABLE IF NOT EXISTS quarantine (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    doc        TEXT NOT NULL,
    data       BLOB NOT NULL,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS quarantine_by_doc ON quarantine (doc);
";

/// Step 2: history. Who wrote each log row and what it changed; change summaries that
/// compaction folds dropped rows into; saved versions (see `storage::history`).
const HISTORY_2: &str = "
ALTER TABLE updates ADD COLUMN author_id TEXT NOT NULL DEFAULT '';
ALTER TABLE updates ADD COLUMN author_name TEXT;
ALTER TABLE updates ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE updates ADD COLUMN inserted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE updates ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
CREATE TABLE changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    doc         TEXT NOT NULL,
    author_id   TEXT NOT NULL,
    author_name TEXT,
    verified    INTEGER NOT NULL,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    updates     INTEGER NOT NULL,
    inserted    INTEGER NOT NULL,
    deleted     INTEGER NOT NULL
) STRICT;
CREATE INDEX changes_by_doc ON changes (doc, last_at);
CREATE INDEX changes_by_age ON changes (last_at);
CREATE TABLE versions (
    doc        TEXT NOT NULL,
    id         TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    label      TEXT,
    kind       TEXT NOT NULL,
    text_bytes INTEGER NOT NULL,
    authors    TEXT NOT NULL,
    restored_from TEXT,
    data       BLOB NOT NULL,
    PRIMARY KEY (doc, id)
) STRICT;
CREATE INDEX versions_by_time ON versions (doc, created_at);
CREATE INDEX versions_by_age ON versions (created_at);
CREATE TABLE trash (
    doc        TEXT NOT NULL,
    deleted_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (doc, deleted_at, seq)
) STRICT;
CREATE INDEX trash_by_age ON trash (deleted_at);
";

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    path: PathBuf,
    /// `None` after a failed commit: the connection is reopened before the next attempt,
    /// because SQLite's state after an fsync failure cannot be trusted.
    conn: Option<Connection>,
    /// How long versions and change summaries are kept; compaction drops older ones.
    retention: Retention,
}

impl From<rusqlite::Error> for StorageError {
    fn from(err: rusqlite::Error) -> Self {
        StorageError::Backend(err.to_string())
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, and its parent directory.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = open_connection(path)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conn: Some(conn),
            retention: Retention::DEFAULT,
        })
    }

    /// Keeps versions and change summaries for `retention` (default 30 days).
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    fn conn(&mut self) -> Result<&mut Connection, StorageError> {
        if self.conn.is_none() {
            tracing::info!(path = %self.path.display(), "reopening database");
            self.conn = Some(open_connection(&self.path)?);
        }
        Ok(self.conn.as_mut().expect("connection was just opened"))
    }

    fn try_commit(&mut self, writes: &[Write], now_ms: i64) -> Result<(), StorageError> {
        let retention = self.retention;
        let conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for write in writes {
            match write {
                Write::Append {
                    doc,
                    update,
                    origin,
                    text_bytes,
                    by,
                } => {
                    touch_document(&tx, doc, *text_bytes, now_ms)?;
                    tx.prepare_cached(
                        "INSERT INTO updates (doc, data, origin, created_at, author_id, author_name,
                                              verified, inserted, deleted)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?
                    .execute(params![
                        doc.as_str(),
                        update,
                        origin,
                        now_ms,
                        by.author.id,
                        by.author.name,
                        by.author.verified,
                        by.inserted as i64,
                        by.deleted as i64
                    ])?;
                }
                Write::Version { doc, info, state } => {
                    tx.prepare_cached(
                        "INSERT INTO versions (doc, id, created_at, label, kind, text_bytes, authors,
                                               restored_from, data)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?
                    .execute(params![
                        doc.as_str(),
                        info.id,
                        info.created_at_ms,
                        info.label,
                        info.kind.as_str(),
                        info.text_bytes as i64,
                        authors_json(&info.authors),
                        info.restored_from,
                        state
                    ])?;
                }
                Write::Compact {
                    doc,
                    snapshot,
                    text_bytes,
                } => {
                    touch_document(&tx, doc, *text_bytes, now_ms)?;
                    tx.prepare_cached(
                        "INSERT INTO snapshots (doc, data, compacted_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (doc) DO UPDATE SET data = excluded.data,
                                                         compacted_at = excluded.compacted_at",
                    )?
                    .execute(params![doc.as_str(), snapshot, now_ms])?;
                    summarise_log(&tx, doc)?;
                    tx.prepare_cached("DELETE FROM updates WHERE doc = ?1")?
                        .execute(params![doc.as_str()])?;
                    if let Some(cutoff) = retention.cutoff(now_ms) {
                        apply_retention(&tx, cutoff)?;
                    }
                }
                Write::Quarantine {
                    doc,
                    update,
                    reason,
                } => {
                    tx.prepare_cached(
                        "INSERT INTO quarantine (doc, data, reason, created_at) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![doc.as_str(), update, reason, now_ms])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

fn open_connection(path: &Path) -> Result<Connection, StorageError> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers never block the writer. FULL: a commit survives power loss, not only a
    // process crash, which is what "Saved" promises.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Backend(format!(
            "could not switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Applies the schema steps the file lacks, in order, each with its version.
fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StorageError::Backend(format!(
            "the database schema is version {current}, newer than this server's {}",
            MIGRATIONS.len()
        )));
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated meanwhile: read the version again under the lock.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if usize::try_from(now).unwrap_or(0) > index {
            continue;
        }
        if index > 0 {
            tracing::info!(version = index + 1, "migrating the SQLite schema");
        }
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Folds the log rows of `doc` into change summaries (one per author and minute), before
/// compaction deletes them.
fn summarise_log(tx: &rusqlite::Transaction<'_>, doc: &DocName) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO changes (doc, author_id, author_name, verified, first_at, last_at, updates,
                              inserted, deleted)
         SELECT doc, author_id, author_name, verified, MIN(created_at), MAX(created_at), COUNT(*),
                SUM(inserted), SUM(deleted)
         FROM updates WHERE doc = ?1
         GROUP BY author_id, author_name, verified, created_at / ?2
         ORDER BY MIN(id)",
    )?
    .execute(params![doc.as_str(), SUMMARY_PERIOD_MS])?;
    Ok(())
}

/// Drops every version, change summary and deleted document older than `cutoff` (indexed
/// by age, so a compaction with nothing to drop reads three empty index ranges).
fn apply_retention(tx: &rusqlite::Transaction<'_>, cutoff: i64) -> Result<(), StorageError> {
    for sql in [
        "DELETE FROM versions WHERE created_at < ?1",
        "DELETE FROM changes WHERE last_at < ?1",
        "DELETE FROM trash WHERE deleted_at < ?1",
    ] {
        tx.prepare_cached(sql)?.execute(params![cutoff])?;
    }
    Ok(())
}

fn version_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionInfo> {
    Ok(VersionInfo {
        id: row.get(0)?,
        created_at_ms: row.get(1)?,
        label: row.get(2)?,
        kind: VersionKind::parse(&row.get::<_, String>(3)?),
        text_bytes: row.get::<_, i64>(4)?.max(0) as u64,
        authors: authors_from_json(&row.get::<_, String>(5)?),
        restored_from: row.get(6)?,
    })
}

fn touch_document(
    tx: &rusqlite::Transaction<'_>,
    doc: &DocName,
    text_bytes: u64,
    now_ms: i64,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO documents (name, text_bytes, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (name) DO UPDATE SET text_bytes = excluded.text_bytes,
                                          updated_at = excluded.updated_at",
    )?
    .execute(params![doc.as_str(), text_bytes as i64, now_ms])?;
    Ok(())
}

impl Store for SqliteStore {
    fn commit(&mut self, writes: &[Write], now_ms: i64) -> Result<(), StorageError> {
        let result = self.try_commit(writes, now_ms);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn load(&mut self, doc: &DocName) -> Result<StoredDoc, StorageError> {
        let conn = self.conn()?;
        let snapshot = conn
            .prepare_cached("SELECT data FROM snapshots WHERE doc = ?1")?
            .query_row(params![doc.as_str()], |row| row.get(0))
            .optional()?;
        let updates = conn
            .prepare_cached("SELECT data FROM updates WHERE doc = ?1 ORDER BY id")?
            .query_map(params![doc.as_str()], |row| row.get(0))?
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        let quarantined = conn
            .prepare_cached("SELECT data FROM quarantine WHERE doc = ?1 ORDER BY id")?
            .query_map(params![doc.as_str()], |row| row.get(0))?
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        Ok(StoredDoc {
            snapshot,
            updates,
            quarantined,
        })
    }

    fn list(&mut self, query: &ListQuery) -> Result<Vec<DocSummary>, StorageError> {
        let conn = self.conn()?;
        // Names compare as BINARY (byte order); a prefix is a range of the primary key, and
        // NULL bounds (no cursor, no prefix end) select everything on that side.
        let mut stmt = conn.prepare_cached(
            "SELECT name, text_bytes, updated_at FROM documents \
             WHERE name >= ?1 AND (?2 IS NULL OR name > ?2) AND (?3 IS NULL OR name < ?3) \
             ORDER BY name LIMIT ?4",
        )?;
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let end = query.prefix_end();
        let rows = stmt.query_map(params![query.prefix, query.after, end, limit], |row| {
            Ok(DocSummary {
                name: row.get(0)?,
                text_bytes: row.get::<_, i64>(1)?.max(0) as u64,
                updated_at_ms: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn versions(&mut self, doc: &DocName) -> Result<Vec<VersionInfo>, StorageError> {
        self.read_versions(doc)
    }

    fn version_state(
        &mut self,
        doc: &DocName,
        id: &str,
    ) -> Result<Option<(VersionInfo, Vec<u8>)>, StorageError> {
        self.read_version(doc, id)
    }

    fn changes(
        &mut self,
        doc: &DocName,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<Change>, StorageError> {
        self.read_changes(doc, since_ms, limit)
    }

    fn delete(&mut self, doc: &DocName, purge: bool, now_ms: i64) -> Result<bool, StorageError> {
        let result = (|| {
            let conn = self.conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let name = doc.as_str();
            if purge {
                for sql in [
                    "DELETE FROM versions WHERE doc = ?1",
                    "DELETE FROM changes WHERE doc = ?1",
                    "DELETE FROM trash WHERE doc = ?1",
                ] {
                    tx.prepare_cached(sql)?.execute(params![name])?;
                }
            } else {
                // The snapshot (seq 0) and the log, in order, kept for `undelete`.
                tx.prepare_cached(
                    "INSERT INTO trash (doc, deleted_at, seq, data)
                     SELECT doc, ?2, 0, data FROM snapshots WHERE doc = ?1
                     UNION ALL SELECT doc, ?2, id, data FROM updates WHERE doc = ?1",
                )?
                .execute(params![name, now_ms])?;
                summarise_log(&tx, doc)?;
            }
            let mut removed = 0;
            for sql in [
                "DELETE FROM updates WHERE doc = ?1",
                "DELETE FROM snapshots WHERE doc = ?1",
                "DELETE FROM documents WHERE name = ?1",
            ] {
                removed += tx.prepare_cached(sql)?.execute(params![name])?;
            }
            tx.commit()?;
            Ok(removed > 0)
        })();
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn trashed(&mut self, doc: &DocName) -> Result<Option<Trashed>, StorageError> {
        let conn = self.conn()?;
        let Some(deleted_at) = conn
            .prepare_cached("SELECT MAX(deleted_at) FROM trash WHERE doc = ?1")?
            .query_row(params![doc.as_str()], |row| row.get::<_, Option<i64>>(0))?
        else {
            return Ok(None);
        };
        let parts = conn
            .prepare_cached(
                "SELECT data FROM trash WHERE doc = ?1 AND deleted_at = ?2 ORDER BY seq",
            )?
            .query_map(params![doc.as_str(), deleted_at], |row| row.get(0))?
            .collect::<Result<Vec<Vec<u8>>, _>>()?;
        Ok(Some((deleted_at, parts)))
    }

    fn forget_trashed(&mut self, doc: &DocName, deleted_at: i64) -> Result<(), StorageError> {
        let conn = self.conn()?;
        conn.prepare_cached("DELETE FROM trash WHERE doc = ?1 AND deleted_at = ?2")?
            .execute(params![doc.as_str(), deleted_at])?;
        Ok(())
    }
}

impl SqliteStore {
    fn read_versions(&mut self, doc: &DocName) -> Result<Vec<VersionInfo>, StorageError> {
        let conn = self.conn()?;
        let rows = conn
            .prepare_cached(
                "SELECT id, created_at, label, kind, text_bytes, authors, restored_from FROM versions
                 WHERE doc = ?1 ORDER BY created_at, id",
            )?
            .query_map(params![doc.as_str()], version_info)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn read_version(
        &mut self,
        doc: &DocName,
        id: &str,
    ) -> Result<Option<(VersionInfo, Vec<u8>)>, StorageError> {
        let conn = self.conn()?;
        let found = conn
            .prepare_cached(
                "SELECT id, created_at, label, kind, text_bytes, authors, restored_from, data
                 FROM versions
                 WHERE doc = ?1 AND id = ?2",
            )?
            .query_row(params![doc.as_str(), id], |row| {
                Ok((version_info(row)?, row.get(7)?))
            })
            .optional()?;
        Ok(found)
    }

    fn read_changes(
        &mut self,
        doc: &DocName,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<Change>, StorageError> {
        let conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Summaries first (they are older than every row still in the log), then the log.
        let rows = conn
            .prepare_cached(
                "SELECT author_id, author_name, verified, first_at, last_at, updates, inserted, deleted
                 FROM (SELECT 0 AS part, id, author_id, author_name, verified, first_at, last_at,
                              updates, inserted, deleted
                       FROM changes WHERE doc = ?1 AND last_at >= ?2
                       UNION ALL
                       SELECT 1, id, author_id, author_name, verified, created_at, created_at, 1,
                              inserted, deleted
                       FROM updates WHERE doc = ?1 AND created_at >= ?2)
                 ORDER BY part, id LIMIT ?3",
            )?
            .query_map(params![doc.as_str(), since_ms, limit], |row| {
                Ok(Change {
                    author: Author {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        verified: row.get(2)?,
                    },
                    first_at_ms: row.get(3)?,
                    last_at_ms: row.get(4)?,
                    updates: row.get::<_, i64>(5)?.max(0) as u64,
                    inserted: row.get::<_, i64>(6)?.max(0) as u64,
                    deleted: row.get::<_, i64>(7)?.max(0) as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str) -> DocName {
        DocName::parse(name).unwrap()
    }

    fn append(name: &str, update: &[u8]) -> Write {
        Write::Append {
            doc: doc(name),
            update: update.to_vec(),
            origin: "test".into(),
            text_bytes: update.len() as u64,
            by: Default::default(),
        }
    }

    #[test]
    fn appends_load_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/store.sqlite3");
        let mut store = SqliteStore::open(&path).unwrap();
        store
            .commit(
                &[append("a", b"1"), append("b", b"x"), append("a", b"2")],
                10,
            )
            .unwrap();
        drop(store);
        let mut store = SqliteStore::open(&path).unwrap();
        let loaded = store.load(&doc("a")).unwrap();
        assert_eq!(loaded.snapshot, None);
        assert_eq!(loaded.updates, vec![b"1".to_vec(), b"2".to_vec()]);
        assert!(!store.load(&doc("missing")).unwrap().exists());
    }

    #[test]
    fn compaction_replaces_exactly_the_updates_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
        store
            .commit(&[append("a", b"1"), append("b", b"x")], 1)
            .unwrap();
        let compact = Write::Compact {
            doc: doc("a"),
            snapshot: b"S".to_vec(),
            text_bytes: 1,
        };
        store
            .commit(&[append("a", b"2"), compact, append("a", b"3")], 2)
            .unwrap();
        let a = store.load(&doc("a")).unwrap();
        assert_eq!(a.snapshot.as_deref(), Some(&b"S"[..]));
        assert_eq!(a.updates, vec![b"3".to_vec()]);
        // Other documents are untouched.
        assert_eq!(store.load(&doc("b")).unwrap().updates, vec![b"x".to_vec()]);
    }

    #[test]
    fn lists_a_page_by_prefix_after_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
        for name in ["team-b", "team-a", "team", "teamz", "other", "team-c"] {
            store.commit(&[append(name, b"x")], 1).unwrap();
        }
        let mut page = |prefix: &str, after: Option<&str>, limit| {
            let query = ListQuery {
                prefix: prefix.into(),
                after: after.map(Into::into),
                limit,
            };
            let list = store.list(&query).unwrap();
            list.into_iter().map(|d| d.name).collect::<Vec<_>>()
        };
        assert_eq!(page("team-", None, 2), ["team-a", "team-b"]);
        assert_eq!(page("team-", Some("team-b"), 2), ["team-c"]);
        assert_eq!(page("team-", Some("team-c"), 2), Vec::<String>::new());
        assert_eq!(page("", Some("team-c"), 10), ["teamz"]);
        assert_eq!(page("", None, 3), ["other", "team", "team-a"]);
        assert_eq!(page("nothing", None, 3), Vec::<String>::new());
    }

    #[test]
    fn a_prefix_ends_at_the_next_name_in_byte_order() {
        let end = |prefix: &str| {
            ListQuery {
                prefix: prefix.into(),
                ..ListQuery::default()
            }
            .prefix_end()
        };
        assert_eq!(end(""), None);
        assert_eq!(end("team/").as_deref(), Some("team0"));
        assert_eq!(end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(end("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn lists_documents_with_their_last_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
        store.commit(&[append("b", b"xy")], 5).unwrap();
        store
            .commit(&[append("a", b"1"), append("a", b"123")], 7)
            .unwrap();
        let list = store.list(&ListQuery::all()).unwrap();
        let names: Vec<_> = list.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!((list[0].text_bytes, list[0].updated_at_ms), (3, 7));
        assert_eq!((list[1].text_bytes, list[1].updated_at_ms), (2, 5));
    }

    #[test]
    fn delete_removes_one_document_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
        let compact = Write::Compact {
            doc: doc("a"),
            snapshot: b"S".to_vec(),
            text_bytes: 1,
        };
        store
            .commit(&[append("a", b"1"), compact, append("a", b"2")], 1)
            .unwrap();
        store.commit(&[append("b", b"x")], 2).unwrap();
        assert!(store.delete(&doc("a"), true, 0).unwrap());
        assert!(!store.load(&doc("a")).unwrap().exists());
        let names: Vec<_> = store
            .list(&ListQuery::all())
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["b"]);
        assert_eq!(store.load(&doc("b")).unwrap().updates, vec![b"x".to_vec()]);
        assert!(
            !store.delete(&doc("a"), true, 0).unwrap(),
            "nothing left to delete"
        );
    }

    #[test]
    fn the_file_is_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
        let conn = store.conn().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "synchronous=FULL");
    }
}
