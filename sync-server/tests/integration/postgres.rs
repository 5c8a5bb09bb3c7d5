//! PostgreSQL storage (`--postgres`) against a real PostgreSQL server: the one
//! `scripts/test.sh` starts (`COLLAB_TEST_POSTGRES_URL`), or else one `scripts/services.sh`
//! starts for this test binary (fsync on, on a free 127.0.0.1 port, under the target
//! directory), stopped and removed when the binary exits. Each test has a database of its own;
//! the outage tests stop and start a private server.

use std::net::TcpListener;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use sync_server::storage::{ListQuery, PostgresStore, PostgresUrl, Store as _, Write};
use sync_server::DocName;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

use crate::support::{
    database, eventually, http_get, psql, scrape, shared_postgres_url, within, Client,
    ServerProcess, Services,
};

/// A PostgreSQL server: the shared one, or a private one a test may stop and start.
pub(crate) struct Cluster {
    /// The server's maintenance database.
    url: String,
    private: Option<Services>,
}

/// The server most tests share.
pub(crate) fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| Cluster {
        url: shared_postgres_url().to_owned(),
        private: None,
    })
}

impl Cluster {
    /// A private server, for a test that stops it.
    fn start() -> Cluster {
        let private = Services::start(&["postgres"]);
        Cluster {
            url: private.postgres_url().to_owned(),
            private: Some(private),
        }
    }

    fn private(&self) -> &Services {
        self.private
            .as_ref()
            .expect("only a private server is stopped")
    }

    /// Starts the stopped server again, on the same port.
    fn restart(&self) {
        self.private().resume("postgres");
    }

    /// Stops the server (fast: open connections are ended).
    fn stop(&self) {
        self.private().halt("postgres");
    }

    /// A new, empty database (named for `name`); its URL.
    pub(crate) fn database(&self, name: &str) -> String {
        database(&self.url, name)
    }

    /// A number `sql` returns in the database of `url`.
    fn count(&self, url: &str, sql: &str) -> i64 {
        psql(url, sql).parse().unwrap()
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A sync server binary on `url`, its crash journals in `dir`.
async fn start_server(dir: &Path, url: &str, args: &[&str]) -> ServerProcess {
    let mut all = vec!["--postgres", url];
    all.extend_from_slice(args);
    ServerProcess::start_with(&dir.join("collab.sqlite3"), &all, &[]).await
}

/// The text of a document holding every update of `docs` (what storage must give back).
fn merged_text(docs: &[&Doc]) -> String {
    let merged = Doc::new();
    let text = merged.get_or_insert_text("content");
    for doc in docs {
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        merged
            .transact_mut()
            .apply_update(Update::decode_v1(&update).unwrap())
            .unwrap();
    }
    let txn = merged.transact();
    text.get_string(&txn)
}

#[tokio::test]
async fn an_acknowledged_edit_survives_sigkill() {
    let cluster = shared();
    let url = cluster.database("sigkill");
    let dir = tempfile::tempdir().unwrap();
    // The URL through the environment variable, as a deployment would pass it.
    let data = dir.path().join("collab.sqlite3");
    let env = [("SYNC_SERVER_POSTGRES", url.as_str())];
    let server = ServerProcess::start_with(&data, &[], &env).await;
    let mut a = Client::connect(&server.url("killed")).await;
    for i in 0..300 {
        a.push(&format!("w{i} ")).await;
    }
    a.pump_until(|c| c.acked >= 150).await;
    let acked = a.acked;
    server.kill_9().await;
    // Nothing was written to the SQLite path.
    assert!(!data.exists());

    let server = ServerProcess::start_with(&data, &[], &env).await;
    let b = Client::connect(&server.url("killed")).await;
    let restored = b.text();
    let durable = &a.text_after[acked as usize];
    assert!(
        restored.starts_with(durable.as_str()),
        "acknowledged text {durable:?} is not a prefix of the restored {restored:?}"
    );
    assert!(a.text_after.contains(&restored));
    assert!(server.terminate().await.success());
}

/// Two instances on one database, a client on each editing the same document at once (no
/// fan-out between instances yet, so each sees only its own client's edits). Both compact
/// often while the other appends; after both stop, a third instance loads every
/// acknowledged edit of both.
#[tokio::test]
async fn two_instances_editing_one_document_lose_no_acknowledged_edit() {
    let cluster = shared();
    let url = cluster.database("two_instances");
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let compact = ["--compact-after", "3"];
    let server_a = start_server(dir_a.path(), &url, &compact).await;
    let server_b = start_server(dir_b.path(), &url, &compact).await;
    let mut a = Client::connect(&server_a.url("shared")).await;
    let mut b = Client::connect(&server_b.url("shared")).await;
    for round in 0..10 {
        for i in 0..10 {
            a.push(&format!("a{round}.{i} ")).await;
            b.insert(0, &format!("b{round}.{i} ")).await;
        }
        // Each round waits for durability on both, so compactions interleave with the
        // other instance's committed appends.
        a.wait_saved().await;
        b.wait_saved().await;
    }
    let expected = merged_text(&[&a.doc, &b.doc]);
    assert!(expected.contains("a9.9") && expected.contains("b9.9"));
    drop((a, b));
    // SIGTERM: each unloads the document, compacting what it has left.
    assert!(server_a.terminate().await.success());
    assert!(server_b.terminate().await.success());
    let db = url.as_str();
    assert_eq!(
        cluster.count(db, "SELECT count(*) FROM updates WHERE doc = 'shared'"),
        0,
        "the last compaction merged every row"
    );
    assert_eq!(
        cluster.count(db, "SELECT count(*) FROM snapshots WHERE doc = 'shared'"),
        1
    );

    let server_c = start_server(dir_c.path(), &url, &[]).await;
    let c = Client::connect(&server_c.url("shared")).await;
    assert_eq!(c.text(), expected);
    assert!(server_c.terminate().await.success());
}

/// One instance compacts after the other committed rows it never saw: those rows are merged
/// into the snapshot, not deleted with the rest.
#[tokio::test]
async fn compaction_by_one_instance_keeps_the_rows_of_another() {
    let cluster = shared();
    let url = cluster.database("compaction_keeps");
    let db = url.as_str();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server_a = start_server(dir_a.path(), &url, &["--compact-after", "3"]).await;
    let server_b = start_server(dir_b.path(), &url, &["--compact-after", "1000"]).await;
    let mut a = Client::connect(&server_a.url("doc")).await;
    let mut b = Client::connect(&server_b.url("doc")).await;
    b.push("from B, never seen by A. ").await;
    b.push("Still B. ").await;
    b.wait_saved().await;
    assert_eq!(
        cluster.count(db, "SELECT count(*) FROM updates WHERE doc = 'doc'"),
        2
    );
    // Three appends make A compact; the fourth one's ack means the compaction (queued
    // before it) is committed.
    for word in ["A1 ", "A2 ", "A3 ", "A4 "] {
        a.push(word).await;
    }
    a.wait_saved().await;
    assert_eq!(
        cluster.count(db, "SELECT count(*) FROM snapshots WHERE doc = 'doc'"),
        1,
        "A compacted"
    );
    // B's two rows and A's first three went into the snapshot; A's fourth is after it.
    assert_eq!(
        cluster.count(db, "SELECT count(*) FROM updates WHERE doc = 'doc'"),
        1
    );
    // And B keeps appending after A's compaction.
    b.push("B again.").await;
    b.wait_saved().await;
    let expected = merged_text(&[&a.doc, &b.doc]);
    assert!(expected.contains("never seen by A") && expected.contains("A4"));

    let dir_c = tempfile::tempdir().unwrap();
    let server_c = start_server(dir_c.path(), &url, &[]).await;
    let c = Client::connect(&server_c.url("doc")).await;
    assert_eq!(c.text(), expected);
    for server in [server_a, server_b, server_c] {
        assert!(server.terminate().await.success());
    }
}

/// PostgreSQL stops while a client edits: no ack while it is down and `/readyz` says not
/// ready; once it is back the ack arrives, `/readyz` is ready again, and the edit is stored.
#[tokio::test]
async fn an_edit_made_while_postgres_is_down_is_acknowledged_once_it_is_back() {
    let cluster = Cluster::start();
    let url = cluster.database("outage");
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &url, &[]).await;
    let addr = server.addr;
    let mut a = Client::connect(&server.url("outage")).await;
    a.push("before. ").await;
    a.wait_saved().await;
    assert_eq!(http_get(addr, "/readyz").await.0, 200);

    cluster.stop();
    a.push("during.").await;
    let failures = |samples: &std::collections::HashMap<String, f64>| {
        samples["collab_storage_commit_failures_total"]
    };
    // The commit is attempted and fails (twice, so the writer is retrying), and meanwhile
    // no ack comes.
    eventually("commits to fail", || async {
        failures(&scrape(addr).await) >= 2.0
    })
    .await;
    assert_eq!(http_get(addr, "/readyz").await.0, 503);
    let early = tokio::time::timeout(
        Duration::from_millis(300),
        a.pump_until(|c| c.acked >= c.sent),
    )
    .await;
    assert!(early.is_err(), "no ack while PostgreSQL is down");
    assert_eq!(a.acked, a.sent - 1);

    cluster.restart();
    a.wait_saved().await;
    eventually("/readyz to be ready", || async {
        http_get(addr, "/readyz").await.0 == 200
    })
    .await;
    assert!(server.terminate().await.success());

    let server = start_server(dir.path(), &url, &[]).await;
    let b = Client::connect(&server.url("outage")).await;
    assert_eq!(b.text(), "before. during.");
    assert!(server.terminate().await.success());
}

/// An idle server (nothing to commit) still reports not ready while PostgreSQL is down, and
/// the server does not start at all if PostgreSQL cannot be reached.
#[tokio::test]
async fn readiness_follows_postgres_even_when_idle_and_start_fails_fast_without_it() {
    let cluster = Cluster::start();
    let url = cluster.database("idle");
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &url, &[]).await;
    let addr = server.addr;
    assert_eq!(http_get(addr, "/readyz").await.0, 200);
    cluster.stop();
    eventually("/readyz to fail", || async {
        http_get(addr, "/readyz").await.0 == 503
    })
    .await;
    let (status, reason) = http_get(addr, "/readyz").await;
    assert_eq!(
        (status, reason.trim()),
        (503, "storage commits are failing")
    );

    // A new instance refuses to start, and says why without the password.
    let secret_url = url.replace("postgres@", "postgres:hunter2@");
    let output = within(
        "the server to give up",
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("other.sqlite3"))
            .args(["--postgres", &secret_url])
            .output(),
    )
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot use PostgreSQL at"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    cluster.restart();
    eventually("/readyz to be ready", || async {
        http_get(addr, "/readyz").await.0 == 200
    })
    .await;
    assert!(server.terminate().await.success());
}

fn doc(name: &str) -> DocName {
    DocName::parse(name).unwrap()
}

/// One client's edit as a v1 update.
fn edit(doc: &Doc, chunk: &str) -> Vec<u8> {
    let text = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    let end = text.len(&txn);
    text.insert(&mut txn, end, chunk);
    txn.encode_update_v1()
}

fn append(name: &str, update: Vec<u8>) -> Write {
    Write::Append {
        doc: doc(name),
        update,
        origin: "test".into(),
        text_bytes: 0,
        by: Default::default(),
    }
}

fn compact_write(name: &str, from: &Doc) -> Write {
    Write::Compact {
        doc: doc(name),
        snapshot: from
            .transact()
            .encode_state_as_update_v1(&StateVector::default()),
        text_bytes: 0,
    }
}

/// The text a stored document loads as.
fn stored_text(store: &mut PostgresStore, name: &str) -> String {
    let stored = store.load(&doc(name)).unwrap();
    let loaded = Doc::new();
    let text = loaded.get_or_insert_text("content");
    let mut txn = loaded.transact_mut();
    for bytes in stored.snapshot.iter().chain(&stored.updates) {
        txn.apply_update(Update::decode_v1(bytes).unwrap()).unwrap();
    }
    text.get_string(&txn)
}

/// The document list reads pages in byte order, by prefix and after a cursor, as SQLite does
/// (PostgreSQL's default collation would sort "team-a" after "teamz" and case-insensitively).
#[test]
fn the_document_list_pages_in_byte_order_like_sqlite() {
    let db = shared().database("list");
    let mut store = PostgresStore::open(&PostgresUrl::parse(&db).unwrap()).unwrap();
    for name in [
        "team-b", "Team", "team-a", "team", "team-c", "teamz", "other",
    ] {
        store
            .commit(&[append(name, edit(&Doc::new(), name))], 1)
            .unwrap();
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
    assert_eq!(page("", None, 4), ["Team", "other", "team", "team-a"]);
    assert_eq!(page("", Some("team-c"), 10), ["teamz"]);
    assert_eq!(page("T", None, 10), ["Team"]);
}

/// Store level: instances starting together migrate once; batches commit in order; a
/// compaction racing another store's appends never loses one.
#[test]
fn stores_sharing_a_database_migrate_once_and_compact_without_losing_rows() {
    let cluster = shared();
    let db = cluster.database("stores");
    let url = PostgresUrl::parse(&db).unwrap();
    let stores: Vec<PostgresStore> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PostgresStore::open(&url).expect("store opens")))
            .collect();
        opening.into_iter().map(|t| t.join().unwrap()).collect()
    });
    // Two steps: the documents, then their history.
    assert_eq!(psql(&db, "SELECT version FROM schema_version"), "2");
    let [mut a, mut b, ..] = <[PostgresStore; 4]>::try_from(stores).ok().unwrap();

    // In order, all in one batch, other documents untouched.
    let (x, y) = (Doc::new(), Doc::new());
    let (one, two) = (edit(&x, "1"), edit(&x, "2"));
    let batch = [
        append("x", one.clone()),
        append("y", edit(&y, "y")),
        append("x", two.clone()),
    ];
    a.commit(&batch, 1).unwrap();
    assert_eq!(a.load(&doc("x")).unwrap().updates, vec![one, two]);
    assert_eq!(stored_text(&mut b, "y"), "y");

    let (writer_a, writer_b) = (Doc::new(), Doc::new());

    // B appends while A compacts over and over from a document that never sees B's edits.
    let rounds = 200;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..rounds {
                b.commit(&[append("race", edit(&writer_b, &format!("b{i} ")))], 2)
                    .unwrap();
            }
        });
        for i in 0..rounds {
            a.commit(
                &[
                    append("race", edit(&writer_a, &format!("a{i} "))),
                    compact_write("race", &writer_a),
                ],
                3,
            )
            .unwrap();
        }
    });
    a.commit(&[compact_write("race", &writer_a)], 4).unwrap();
    let text = stored_text(&mut b, "race");
    assert_eq!(text, merged_text(&[&writer_a, &writer_b]));
    for i in 0..rounds {
        assert!(text.contains(&format!("b{i} ")), "b{i} was lost");
    }
    assert_eq!(
        cluster.count(&db, "SELECT count(*) FROM updates WHERE doc = 'race'"),
        0
    );
    let listed = a.list(&ListQuery::all()).unwrap();
    let race = listed.iter().find(|d| d.name == "race").unwrap();
    assert_eq!(race.text_bytes, text.len() as u64);
}

/// What differs with PostgreSQL for large documents is storage: a 12 MB document (three
/// times the message limit) is stored as rows and a snapshot there, and loads whole for a
/// joiner after a restart; the size limit refuses the same way.
#[tokio::test]
async fn a_twelve_megabyte_document_loads_after_a_restart_and_the_size_limit_holds() {
    use crate::large::{text_of_size, upload};
    let cluster = shared();
    let url = cluster.database("large");
    let dir = tempfile::tempdir().unwrap();
    let args = ["--max-document-size", "16777216"];
    let server = start_server(dir.path(), &url, &args).await;
    let text = text_of_size(12 << 20, 5);
    upload(&server.url("big"), &text, 1 << 20).await;
    assert!(server.terminate().await.success());
    let server = start_server(dir.path(), &url, &args).await;
    let mut joiner = Client::connect(&server.url("big")).await;
    assert!(joiner.text() == text, "the joiner's text differs");
    // 3 MB fits under 16 MiB, 3 MB more would pass it: refused, the rest kept.
    joiner.push(&text_of_size(3 << 20, 6)).await;
    joiner.wait_saved().await;
    joiner.push(&text_of_size(3 << 20, 7)).await;
    assert_eq!(joiner.expect_close().await, 4413);
    let after = Client::connect(&server.url("big")).await;
    assert!(after.text().starts_with(&text), "the document lost text");
    assert!(after.text().len() <= 16 << 20);
    assert!(server.terminate().await.success());
}
