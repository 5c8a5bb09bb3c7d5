//! `PostgresStore`: documents in a PostgreSQL database that several server instances may share.
//! The only module that names the postgres crate.
//!
//! - Schema: created and migrated at start, inside one transaction holding a transaction-level
//!   advisory lock, so instances starting together wait for each other instead of failing. The
//!   version is kept in `schema_version`.
//! - Durability: a batch is one transaction (all or nothing, in order), acknowledged only after
//!   PostgreSQL's commit returns (with its default `synchronous_commit = on`).
//! - Several instances: a batch first upserts the `documents` row of every document it writes,
//!   in name order (a row lock, taken in the same order by everyone, so batches never
//!   deadlock). A compaction, holding that lock, reads the stored snapshot and every log row,
//!   merges them with its own snapshot (yrs, in `collab_core::engine::merge_stored`), and
//!   deletes exactly the rows it read: a row another instance appended is either merged or
//!   left in place, never dropped. Loads read in one `REPEATABLE READ` transaction, so a compaction committing
//!   meanwhile cannot hide rows from them.
//! - Failures: any error drops the connection; the next call (the writer's retry, or its
//!   periodic [`Store::check`]) connects again, waiting at most [`CONNECT_TIMEOUT`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr as _;
use std::time::Duration;

use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::history::{authors_from_json, authors_json, Trashed, SUMMARY_PERIOD_MS};
use super::{
    Author, Change, DocSummary, ListQuery, Retention, StorageError, Store, StoredDoc, VersionInfo,
    VersionKind, Write,
};
use collab_core::doc_name::DocName;
use collab_core::engine::merge_stored;

/// How long connecting may take unless the URL says otherwise (`connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Unacknowledged data older than this breaks the connection (unless the URL sets
/// `tcp_user_timeout`), so a server that vanished does not hang a commit for long.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Store::check`] waits for its trivial query.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the writer checks the connection while idle (for `/readyz`).
const CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// Key of the advisory lock held while the schema is created or migrated.
const MIGRATION_LOCK: i64 = 0x636f_6c6c_6162_0001;

/// Schema migrations, in order; the version is the number of them applied.
const MIGRATIONS: &[&str] = &[SCHEMA_1, HISTORY_2];

/// Step 1: documents, snapshots, the log, the quarantine.
const SCHEMA_1: &str = "
CREATE TABLE documents (
    name        text PRIMARY KEY,
    text_bytes  bigint NOT NULL,
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL
);
CREATE TABLE snapshots (
    doc          text PRIMARY KEY,
    data         bytea NOT NULL,
    compacted_at bigint NOT NULL
);
CREATE TABLE updates (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc        text NOT NULL,
    data       bytea NOT NULL,
    origin     text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX updates_by_doc ON updates (doc, id);
CREATE TABLE quarantine (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc        text NOT NULL,
    data       bytea NOT NULL,
    reason     text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX quarantine_by_doc ON quarantine (doc, id);
";

/// Step 2: history. Who wrote each log row and what it changed; change summaries that
/// compaction folds dropped rows into; saved versions (see `storage::history`).
const HISTORY_2: &str = "
ALTER TABLE updates ADD COLUMN author_id text NOT NULL DEFAULT '';
ALTER TABLE updates ADD COLUMN author_name text;
ALTER TABLE updates ADD COLUMN verified boolean NOT NULL DEFAULT false;
ALTER TABLE updates ADD COLUMN inserted bigint NOT NULL DEFAULT 0;
ALTER TABLE updates ADD COLUMN deleted bigint NOT NULL DEFAULT 0;
CREATE TABLE changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc         text NOT NULL,
    author_id   text NOT NULL,
    author_name text,
    verified    boolean NOT NULL,
    first_at    bigint NOT NULL,
    last_at     bigint NOT NULL,
    updates     bigint NOT NULL,
    inserted    bigint NOT NULL,
    deleted     bigint NOT NULL
);
CREATE INDEX changes_by_doc ON changes (doc, last_at);
CREATE INDEX changes_by_age ON changes (last_at);
CREATE TABLE versions (
    doc        text NOT NULL,
    id         text NOT NULL,
    created_at bigint NOT NULL,
    label      text,
    kind       text NOT NULL,
    text_bytes bigint NOT NULL,
    authors    text NOT NULL,
    restored_from text,
    data       bytea NOT NULL,
    PRIMARY KEY (doc, id)
);
CREATE INDEX versions_by_time ON versions (doc, created_at);
CREATE INDEX versions_by_age ON versions (created_at);
CREATE TABLE trash (
    doc        text NOT NULL,
    deleted_at bigint NOT NULL,
    seq        bigint NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (doc, deleted_at, seq)
);
CREATE INDEX trash_by_age ON trash (deleted_at);
";

/// A PostgreSQL connection URL (`postgres://user:password@host:port/dbname` or the
/// `key=value` form). Its `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct PostgresUrl {
    url: String,
    shown: String,
}

impl PostgresUrl {
    /// Checks that `url` is a connection string the client understands.
    pub fn parse(url: &str) -> Result<PostgresUrl, StorageError> {
        let config = postgres::Config::from_str(url)
            .map_err(|err| StorageError::Backend(format!("invalid PostgreSQL URL: {err}")))?;
        Ok(PostgresUrl {
            url: url.to_owned(),
            shown: describe(&config),
        })
    }

    fn config(&self) -> Result<postgres::Config, StorageError> {
        let mut config = postgres::Config::from_str(&self.url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sync-server");
        }
        Ok(config)
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({})", self.shown)
    }
}

/// `postgres://user@host:port/dbname`, without the password, for logs and errors.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let mut shown = String::from("postgres://");
    if let Some(user) = config.get_user() {
        shown.push_str(user);
        shown.push('@');
    }
    shown.push_str(&hosts.join(","));
    if !ports.is_empty() {
        shown.push(':');
        shown.push_str(&ports.join(","));
    }
    shown.push('/');
    shown.push_str(config.get_dbname().unwrap_or(""));
    shown
}

impl From<postgres::Error> for StorageError {
    fn from(err: postgres::Error) -> Self {
        // The error and its causes ("db error: ERROR: …", "error connecting to server:
        // Connection refused"); the client's messages name no connection parameters, so
        // never the password.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        StorageError::Backend(message)
    }
}

pub struct PostgresStore {
    url: PostgresUrl,
    /// `None` after any error: the next call connects again.
    client: Option<Client>,
    /// How long versions and change summaries are kept; compaction drops older ones.
    retention: Retention,
}

impl PostgresStore {
    /// Connects (failing after [`CONNECT_TIMEOUT`] if the server does not answer) and creates
    /// or migrates the schema.
    pub fn open(url: &PostgresUrl) -> Result<PostgresStore, StorageError> {
        let mut store = PostgresStore {
            url: url.clone(),
            client: None,
            retention: Retention::DEFAULT,
        };
        store.with_client(migrate)?;
        Ok(store)
    }

    /// Keeps versions and change summaries for `retention` (default 30 days).
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Runs `f` on a connected client, connecting first if needed; on error the client is
    /// dropped, so the next call starts on a fresh connection.
    fn with_client<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let client = self.url.config()?.connect(NoTls)?;
            tracing::info!(database = %self.url, "connected to PostgreSQL");
            self.client = Some(client);
        }
        let client = self.client.as_mut().expect("connected just above");
        let result = f(client);
        if result.is_err() {
            self.client = None;
        }
        result
    }
}

/// Creates the tables, or brings them up to [`MIGRATIONS`], under the migration lock.
fn migrate(client: &mut Client) -> Result<(), StorageError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")?;
    let current: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_version", &[])?
        .get(0);
    let current = usize::try_from(current.unwrap_or(0)).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StorageError::Backend(format!(
            "the database schema is version {current}, newer than this server's {}",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        tracing::info!(version = index + 1, "migrating the PostgreSQL schema");
        tx.batch_execute(migration)?;
    }
    if current < MIGRATIONS.len() {
        tx.execute("DELETE FROM schema_version", &[])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(MIGRATIONS.len() as i32)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Commits `writes` in one transaction.
fn commit_batch(
    client: &mut Client,
    writes: &[Write],
    now_ms: i64,
    retention: Retention,
) -> Result<(), StorageError> {
    let mut tx = client.transaction()?;
    lock_documents(&mut tx, writes, now_ms)?;
    let mut next = 0;
    while next < writes.len() {
        match &writes[next] {
            Write::Append { .. } => {
                let run = writes[next..]
                    .iter()
                    .take_while(|w| matches!(w, Write::Append { .. }))
                    .count();
                append(&mut tx, &writes[next..next + run], now_ms)?;
                next += run;
            }
            Write::Compact { doc, snapshot, .. } => {
                compact(&mut tx, doc, snapshot, now_ms)?;
                if let Some(cutoff) = retention.cutoff(now_ms) {
                    apply_retention(&mut tx, cutoff)?;
                }
                next += 1;
            }
            Write::Version { doc, info, state } => {
                let text_bytes = i64::try_from(info.text_bytes).unwrap_or(i64::MAX);
                tx.execute(
                    "INSERT INTO versions (doc, id, created_at, label, kind, text_bytes, authors,
                                           restored_from, data)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &doc.as_str(),
                        &info.id,
                        &info.created_at_ms,
                        &info.label,
                        &info.kind.as_str(),
                        &text_bytes,
                        &authors_json(&info.authors),
                        &info.restored_from,
                        state,
                    ],
                )?;
                next += 1;
            }
            Write::Quarantine {
                doc,
                update,
                reason,
            } => {
                tx.execute(
                    "INSERT INTO quarantine (doc, data, reason, created_at) VALUES ($1, $2, $3, $4)",
                    &[&doc.as_str(), update, reason, &now_ms],
                )?;
                next += 1;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Upserts the `documents` row of every document the batch appends to or compacts, in name
/// order: each row stays locked until the transaction ends, and taking the locks in one
/// global order means two instances' batches wait for each other instead of deadlocking.
fn lock_documents(
    tx: &mut Transaction<'_>,
    writes: &[Write],
    now_ms: i64,
) -> Result<(), StorageError> {
    // The last write of each document sets its size, as if each write had set it in turn.
    let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
    for write in writes {
        match write {
            Write::Append {
                doc, text_bytes, ..
            }
            | Write::Compact {
                doc, text_bytes, ..
            } => {
                sizes.insert(doc.as_str(), *text_bytes);
            }
            Write::Quarantine { .. } | Write::Version { .. } => {}
        }
    }
    if sizes.is_empty() {
        return Ok(());
    }
    let upsert = tx.prepare(
        "INSERT INTO documents (name, text_bytes, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (name) DO UPDATE
         SET text_bytes = excluded.text_bytes,
             updated_at = greatest(documents.updated_at, excluded.updated_at)",
    )?;
    for (name, text_bytes) in sizes {
        let text_bytes = i64::try_from(text_bytes).unwrap_or(i64::MAX);
        tx.execute(&upsert, &[&name, &text_bytes, &now_ms])?;
    }
    Ok(())
}

/// Appends a run of updates to the log in one statement, in order (the identity column
/// numbers them in the order of `ordinality`).
fn append(tx: &mut Transaction<'_>, run: &[Write], now_ms: i64) -> Result<(), StorageError> {
    let mut docs = Vec::with_capacity(run.len());
    let mut data = Vec::with_capacity(run.len());
    let mut origins = Vec::with_capacity(run.len());
    let (mut ids, mut names, mut verified) = (Vec::new(), Vec::new(), Vec::new());
    let (mut inserted, mut deleted) = (Vec::new(), Vec::new());
    for write in run {
        if let Write::Append {
            doc,
            update,
            origin,
            by,
            ..
        } = write
        {
            docs.push(doc.as_str());
            data.push(update.as_slice());
            origins.push(origin.as_str());
            ids.push(by.author.id.as_str());
            names.push(by.author.name.as_deref());
            verified.push(by.author.verified);
            inserted.push(i64::try_from(by.inserted).unwrap_or(i64::MAX));
            deleted.push(i64::try_from(by.deleted).unwrap_or(i64::MAX));
        }
    }
    tx.execute(
        "INSERT INTO updates (doc, data, origin, created_at, author_id, author_name, verified,
                              inserted, deleted)
         SELECT doc, data, origin, $4, author_id, author_name, verified, inserted, deleted
         FROM unnest($1::text[], $2::bytea[], $3::text[], $5::text[], $6::text[], $7::bool[],
                     $8::bigint[], $9::bigint[])
              WITH ORDINALITY AS t(doc, data, origin, author_id, author_name, verified, inserted,
                                   deleted, n)
         ORDER BY n",
        &[
            &docs, &data, &origins, &now_ms, &ids, &names, &verified, &inserted, &deleted,
        ],
    )?;
    Ok(())
}

/// Replaces the snapshot of `doc` with `snapshot` merged with everything stored for it, and
/// deletes exactly the log rows merged. Rows another instance commits meanwhile wait on the
/// `documents` row lock and are not touched; rows yrs refuses, and quarantined rows, are kept.
fn compact(
    tx: &mut Transaction<'_>,
    doc: &DocName,
    snapshot: &[u8],
    now_ms: i64,
) -> Result<(), StorageError> {
    let name = doc.as_str();
    // Already locked by `lock_documents`; repeated so this rule does not depend on it.
    tx.execute(
        "SELECT 1 FROM documents WHERE name = $1 FOR UPDATE",
        &[&name],
    )?;
    let stored: Option<Vec<u8>> = tx
        .query_opt("SELECT data FROM snapshots WHERE doc = $1", &[&name])?
        .map(|row| row.get(0));
    let quarantined: Vec<Vec<u8>> = tx
        .query("SELECT data FROM quarantine WHERE doc = $1", &[&name])?
        .into_iter()
        .map(|row| row.get(0))
        .collect();
    let rows: Vec<(i64, Vec<u8>)> = tx
        .query(
            "SELECT id, data FROM updates WHERE doc = $1 ORDER BY id",
            &[&name],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .filter(|(_, data)| !quarantined.contains(data))
        .collect();
    // Pieces: the stored snapshot, the rows, and last the caller's snapshot.
    let mut pieces: Vec<&[u8]> = Vec::with_capacity(rows.len() + 2);
    pieces.extend(stored.as_deref());
    let first_row = pieces.len();
    pieces.extend(rows.iter().map(|(_, data)| data.as_slice()));
    pieces.push(snapshot);
    let merged = merge_stored(&pieces, |index, reason| {
        tracing::error!(index, %reason, "a stored update does not merge");
    })
    .and_then(|merged| {
        // Losing the stored snapshot or our own would drop data: keep everything instead.
        let lost_snapshot = merged
            .refused
            .iter()
            .any(|&i| i < first_row || i == pieces.len() - 1);
        if lost_snapshot {
            Err("a snapshot does not merge".to_owned())
        } else {
            Ok(merged)
        }
    });
    let merged = match merged {
        Ok(merged) => merged,
        Err(reason) => {
            tracing::error!(doc = %doc, %reason, "cannot compact; the snapshot is appended to the log instead and nothing is deleted");
            tx.execute(
                "INSERT INTO updates (doc, data, origin, created_at) VALUES ($1, $2, 'compaction', $3)",
                &[&name, &snapshot, &now_ms],
            )?;
            return Ok(());
        }
    };
    let merged_ids: Vec<i64> = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| !merged.refused.contains(&(first_row + i)))
        .map(|(_, (id, _))| *id)
        .collect();
    tx.execute(
        "INSERT INTO snapshots (doc, data, compacted_at) VALUES ($1, $2, $3)
         ON CONFLICT (doc) DO UPDATE SET data = excluded.data, compacted_at = excluded.compacted_at",
        &[&name, &merged.snapshot, &now_ms],
    )?;
    // The rows' attribution outlives them, folded per author and minute.
    tx.execute(
        "INSERT INTO changes (doc, author_id, author_name, verified, first_at, last_at, updates,
                              inserted, deleted)
         SELECT doc, author_id, author_name, verified, min(created_at), max(created_at), count(*),
                sum(inserted), sum(deleted)
         FROM updates WHERE id = ANY($1)
         GROUP BY doc, author_id, author_name, verified, created_at / $2
         ORDER BY min(id)",
        &[&merged_ids, &SUMMARY_PERIOD_MS],
    )?;
    tx.execute("DELETE FROM updates WHERE id = ANY($1)", &[&merged_ids])?;
    let text_bytes = i64::try_from(merged.text_bytes).unwrap_or(i64::MAX);
    tx.execute(
        "UPDATE documents SET text_bytes = $2 WHERE name = $1",
        &[&name, &text_bytes],
    )?;
    Ok(())
}

/// Drops every version, change summary and deleted document older than `cutoff` (indexed
/// by age, so a compaction with nothing to drop reads three empty index ranges).
fn apply_retention(tx: &mut Transaction<'_>, cutoff: i64) -> Result<(), StorageError> {
    for sql in [
        "DELETE FROM versions WHERE created_at < $1",
        "DELETE FROM changes WHERE last_at < $1",
        "DELETE FROM trash WHERE deleted_at < $1",
    ] {
        tx.execute(sql, &[&cutoff])?;
    }
    Ok(())
}

fn version_info(row: &postgres::Row) -> VersionInfo {
    VersionInfo {
        id: row.get(0),
        created_at_ms: row.get(1),
        label: row.get(2),
        kind: VersionKind::parse(row.get(3)),
        text_bytes: row.get::<_, i64>(4).max(0) as u64,
        authors: authors_from_json(row.get(5)),
        restored_from: row.get(6),
    }
}

fn read_changes(
    client: &mut Client,
    doc: &DocName,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<Change>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client.query(
        "SELECT author_id, author_name, verified, first_at, last_at, updates, inserted, deleted
         FROM (SELECT 0 AS part, id, author_id, author_name, verified, first_at, last_at,
                      updates, inserted, deleted
               FROM changes WHERE doc = $1 AND last_at >= $2
               UNION ALL
               SELECT 1, id, author_id, author_name, verified, created_at, created_at, 1,
                      inserted, deleted
               FROM updates WHERE doc = $1 AND created_at >= $2) AS trail
         ORDER BY part, id LIMIT $3",
        &[&doc.as_str(), &since_ms, &limit],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| Change {
            author: Author {
                id: row.get(0),
                name: row.get(1),
                verified: row.get(2),
            },
            first_at_ms: row.get(3),
            last_at_ms: row.get(4),
            updates: row.get::<_, i64>(5).max(0) as u64,
            inserted: row.get::<_, i64>(6).max(0) as u64,
            deleted: row.get::<_, i64>(7).max(0) as u64,
        })
        .collect())
}

/// Snapshot, log and quarantine of `doc`, as of one moment.
fn load_doc(client: &mut Client, doc: &DocName) -> Result<StoredDoc, StorageError> {
    let name = doc.as_str();
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let snapshot = tx
        .query_opt("SELECT data FROM snapshots WHERE doc = $1", &[&name])?
        .map(|row| row.get(0));
    let updates = tx
        .query(
            "SELECT data FROM updates WHERE doc = $1 ORDER BY id",
            &[&name],
        )?
        .into_iter()
        .map(|row| row.get(0))
        .collect();
    let quarantined = tx
        .query(
            "SELECT data FROM quarantine WHERE doc = $1 ORDER BY id",
            &[&name],
        )?
        .into_iter()
        .map(|row| row.get(0))
        .collect();
    tx.commit()?;
    Ok(StoredDoc {
        snapshot,
        updates,
        quarantined,
    })
}

impl Store for PostgresStore {
    fn commit(&mut self, writes: &[Write], now_ms: i64) -> Result<(), StorageError> {
        let retention = self.retention;
        self.with_client(|client| commit_batch(client, writes, now_ms, retention))
    }

    fn load(&mut self, doc: &DocName) -> Result<StoredDoc, StorageError> {
        self.with_client(|client| load_doc(client, doc))
    }

    fn list(&mut self, query: &ListQuery) -> Result<Vec<DocSummary>, StorageError> {
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let end = query.prefix_end();
        self.with_client(|client| {
            // Byte order (COLLATE "C"), as SQLite's; NULL bounds select everything on that side.
            let rows = client.query(
                "SELECT name, text_bytes, updated_at FROM documents \
                 WHERE name COLLATE \"C\" >= $1 \
                 AND ($2::text IS NULL OR name COLLATE \"C\" > $2) \
                 AND ($3::text IS NULL OR name COLLATE \"C\" < $3) \
                 ORDER BY name COLLATE \"C\" LIMIT $4",
                &[&query.prefix, &query.after, &end, &limit],
            )?;
            Ok(rows
                .into_iter()
                .map(|row| DocSummary {
                    name: row.get(0),
                    text_bytes: row.get::<_, i64>(1).max(0) as u64,
                    updated_at_ms: row.get(2),
                })
                .collect())
        })
    }

    fn delete(&mut self, doc: &DocName, purge: bool, now_ms: i64) -> Result<bool, StorageError> {
        self.with_client(|client| {
            let mut tx = client.transaction()?;
            let name = doc.as_str();
            // The document row's lock first, as a batch takes it: a batch of another
            // instance appending to this document waits for the delete, or the delete for it.
            tx.query(
                "SELECT name FROM documents WHERE name = $1 FOR UPDATE",
                &[&name],
            )?;
            if purge {
                for sql in [
                    "DELETE FROM versions WHERE doc = $1",
                    "DELETE FROM changes WHERE doc = $1",
                    "DELETE FROM trash WHERE doc = $1",
                ] {
                    tx.execute(sql, &[&name])?;
                }
            } else {
                // The snapshot (seq 0) and the log, in order, kept for `undelete`.
                tx.execute(
                    "INSERT INTO trash (doc, deleted_at, seq, data)
                     SELECT doc, $2::bigint, 0, data FROM snapshots WHERE doc = $1
                     UNION ALL SELECT doc, $2::bigint, id, data FROM updates WHERE doc = $1",
                    &[&name, &now_ms],
                )?;
                tx.execute(
                    "INSERT INTO changes (doc, author_id, author_name, verified, first_at, last_at,
                                          updates, inserted, deleted)
                     SELECT doc, author_id, author_name, verified, min(created_at),
                            max(created_at), count(*), sum(inserted), sum(deleted)
                     FROM updates WHERE doc = $1
                     GROUP BY doc, author_id, author_name, verified, created_at / $2
                     ORDER BY min(id)",
                    &[&name, &SUMMARY_PERIOD_MS],
                )?;
            }
            let mut removed = 0;
            for sql in [
                "DELETE FROM updates WHERE doc = $1",
                "DELETE FROM snapshots WHERE doc = $1",
                "DELETE FROM documents WHERE name = $1",
            ] {
                removed += tx.execute(sql, &[&name])?;
            }
            tx.commit()?;
            Ok(removed > 0)
        })
    }

    fn trashed(&mut self, doc: &DocName) -> Result<Option<Trashed>, StorageError> {
        self.with_client(|client| {
            let row = client.query_one(
                "SELECT max(deleted_at) FROM trash WHERE doc = $1",
                &[&doc.as_str()],
            )?;
            let Some(deleted_at) = row.get::<_, Option<i64>>(0) else {
                return Ok(None);
            };
            let parts = client
                .query(
                    "SELECT data FROM trash WHERE doc = $1 AND deleted_at = $2 ORDER BY seq",
                    &[&doc.as_str(), &deleted_at],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect();
            Ok(Some((deleted_at, parts)))
        })
    }

    fn forget_trashed(&mut self, doc: &DocName, deleted_at: i64) -> Result<(), StorageError> {
        self.with_client(|client| {
            client.execute(
                "DELETE FROM trash WHERE doc = $1 AND deleted_at = $2",
                &[&doc.as_str(), &deleted_at],
            )?;
            Ok(())
        })
    }

    fn versions(&mut self, doc: &DocName) -> Result<Vec<VersionInfo>, StorageError> {
        self.with_client(|client| {
            let rows = client.query(
                "SELECT id, created_at, label, kind, text_bytes, authors, restored_from FROM versions
                 WHERE doc = $1 ORDER BY created_at, id",
                &[&doc.as_str()],
            )?;
            Ok(rows.iter().map(version_info).collect())
        })
    }

    fn version_state(
        &mut self,
        doc: &DocName,
        id: &str,
    ) -> Result<Option<(VersionInfo, Vec<u8>)>, StorageError> {
        self.with_client(|client| {
            let row = client.query_opt(
                "SELECT id, created_at, label, kind, text_bytes, authors, restored_from, data
                 FROM versions
                 WHERE doc = $1 AND id = $2",
                &[&doc.as_str(), &id],
            )?;
            Ok(row.map(|row| (version_info(&row), row.get(7))))
        })
    }

    fn changes(
        &mut self,
        doc: &DocName,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<Change>, StorageError> {
        self.with_client(|client| read_changes(client, doc, since_ms, limit))
    }

    fn check(&mut self) -> Result<(), StorageError> {
        self.with_client(|client| Ok(client.is_valid(CHECK_TIMEOUT)?))
    }

    fn check_interval(&self) -> Option<Duration> {
        Some(CHECK_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        let url = PostgresUrl::parse("postgres://app:s3cret@db.example:6543/collab").unwrap();
        assert_eq!(url.to_string(), "postgres://app@db.example:6543/collab");
        assert!(!format!("{url:?}").contains("s3cret"));
        let url = PostgresUrl::parse("host=/run/pg user=app password=s3cret dbname=c").unwrap();
        assert_eq!(url.to_string(), "postgres://app@/run/pg/c");
        let err = PostgresUrl::parse("postgres://app:s3cret@db:notaport/c").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn the_url_can_override_the_connect_timeout() {
        let default = PostgresUrl::parse("postgres://a@h/d")
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(default.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let own = PostgresUrl::parse("postgres://a@h/d?connect_timeout=1")
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(own.get_connect_timeout(), Some(&Duration::from_secs(1)));
    }
}
