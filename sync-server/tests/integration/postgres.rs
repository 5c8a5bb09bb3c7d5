//! PostgreSQL storage (`--postgres`) against a real PostgreSQL server that these tests start
//! themselves: `initdb` into a temporary directory, `pg_ctl start` on a free 127.0.0.1 port
//! (its Unix socket in that directory, fsync on), stopped and removed when the test binary
//! exits. As root, initdb and postgres run as the `postgres` system user (they refuse root).
//! One cluster is shared by the tests, each on its own database; the outage test stops and
//! starts a private one.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use sync_server::storage::{ListQuery, PostgresStore, PostgresUrl, Store as _, Write};
use sync_server::DocName;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

use crate::support::{eventually, http_get, scrape, spawn_watchdog, within, Client, ServerProcess};

/// A PostgreSQL server in a temporary directory.
pub(crate) struct Cluster {
    bin: PathBuf,
    root: PathBuf,
    port: u16,
    /// Run the server's programs as the `postgres` user (we are root).
    as_postgres: bool,
    /// Closing it (at drop, or when this process ends however it ends) makes the watchdog
    /// stop the server and remove `root`.
    _watchdog: std::process::ChildStdin,
}

static SHARED: OnceLock<Cluster> = OnceLock::new();

/// The cluster most tests share (started on first use).
pub(crate) fn shared() -> &'static Cluster {
    SHARED.get_or_init(Cluster::start)
}

impl Cluster {
    fn start() -> Cluster {
        let bin = postgres_bin();
        let root = tempfile::Builder::new()
            .prefix("sync-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&root));
        }
        let data = root.join("data");
        let pg_ctl = bin.join("pg_ctl");
        // The watchdog waits for its stdin to close, then stops the server and removes it all.
        let mut watchdog = Command::new("sh");
        watchdog
            .args([
                "-c",
                r#"cat >/dev/null; root=$1; shift; "$@" >/dev/null 2>&1; rm -rf "$root""#,
                "sh",
            ])
            .arg(&root);
        if as_postgres {
            watchdog.args(["runuser", "-u", "postgres", "--"]);
        }
        watchdog
            .arg(&pg_ctl)
            .arg("-D")
            .arg(&data)
            .args(["stop", "-m", "immediate"]);
        let watchdog = spawn_watchdog(&mut watchdog);
        let mut cluster = Cluster {
            bin,
            root,
            port: 0,
            as_postgres,
            _watchdog: watchdog,
        };
        run(cluster.program("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]));
        // A free port can be taken between our probe and the server's bind: try a few.
        for _ in 0..5 {
            cluster.port = free_port();
            if cluster.pg_ctl_start() {
                return cluster;
            }
        }
        panic!(
            "PostgreSQL did not start; see {}",
            cluster.root.join("log").display()
        );
    }

    /// A command running `name` from the server's bin directory, as the right user.
    fn program(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }

    /// `pg_ctl start`, waiting until it accepts connections; `false` if it did not start.
    fn pg_ctl_start(&self) -> bool {
        let sockets = self.root.display();
        self.program("pg_ctl")
            .arg("-D")
            .arg(self.root.join("data"))
            .arg("-l")
            .arg(self.root.join("log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=on",
                self.port
            ))
            .arg("start")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("pg_ctl runs")
            .success()
    }

    /// Starts the stopped server again, on the same port.
    fn restart(&self) {
        assert!(self.pg_ctl_start(), "PostgreSQL starts again");
    }

    /// Stops the server (fast: open connections are ended).
    fn stop(&self) {
        run(self
            .program("pg_ctl")
            .arg("-D")
            .arg(self.root.join("data"))
            .args(["-w", "-m", "fast", "stop"]));
    }

    /// A new, empty database; its URL.
    pub(crate) fn database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `sql` in `database`; its output, unaligned, without headers.
    fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-X", "-A", "-t"])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// A number `sql` returns.
    fn count(&self, database: &str, sql: &str) -> i64 {
        self.psql(database, sql).parse().unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The watchdog, seeing its stdin close, stops the server and removes the directory.
        let _ = self
            .program("pg_ctl")
            .arg("-D")
            .arg(self.root.join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is not installed (scripts/setup.sh installs it: ensure_postgres)")
}

fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

fn run(command: &mut Command) {
    let output = command.output().expect("command starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
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
    let db = "two_instances";
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
    let db = "compaction_keeps";
    let url = cluster.database(db);
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

/// Store level: instances starting together migrate once; batches commit in order; a
/// compaction racing another store's appends never loses one.
#[test]
fn stores_sharing_a_database_migrate_once_and_compact_without_losing_rows() {
    let cluster = shared();
    let db = "stores";
    let url = PostgresUrl::parse(&cluster.database(db)).unwrap();
    let stores: Vec<PostgresStore> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PostgresStore::open(&url).expect("store opens")))
            .collect();
        opening.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(cluster.psql(db, "SELECT version FROM schema_version"), "1");
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
        cluster.count(db, "SELECT count(*) FROM updates WHERE doc = 'race'"),
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
