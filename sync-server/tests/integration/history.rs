//! History against the real server, on SQLite and on PostgreSQL: checkpoints and named
//! versions appear with their authors, a restore merges with typing it had not seen and is a
//! version itself, the audit trail names the token's users and survives compaction, delete
//! closes live clients and frees the name, undelete brings the text back, purge forgets it,
//! retention drops only what is older, and access levels are enforced.

use std::time::Duration;

use collab_core::doc_name::DocName;
use serde_json::Value;
use sync_server::auth::Access;
use sync_server::config::Config;
use sync_server::storage::{
    PostgresStore, PostgresUrl, Retention, SqliteStore, Store, VersionInfo, VersionKind, Write,
};
use yrs::sync::{Message, SyncMessage};
use yrs::{Text, Transact};

use crate::postgres::shared;
use crate::support::{self, eventually, http_send, token, Client, HttpResponse, TestServer};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A server with a secret, quick checkpoints and compaction after every few updates.
async fn start(dir: &std::path::Path, backend: Backend, test: &str) -> TestServer {
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PostgresUrl::parse(&shared().database(test)).unwrap()),
    };
    TestServer::start_with(dir, |config: &mut Config| {
        config.postgres = postgres;
        config.auth_secret = Some(support::secret());
        config.checkpoint_idle = Duration::from_millis(200);
        config.compact_after = 4;
    })
    .await
}

async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> HttpResponse {
    let auth = format!("Authorization: Bearer {token}");
    http_send(
        server.addr,
        method,
        path,
        &[&auth, "Content-Type: application/json"],
        body.as_bytes(),
    )
    .await
}

async fn json(server: &TestServer, path: &str, token: &str) -> Value {
    let response = call(server, "GET", path, token, "").await;
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    serde_json::from_slice(&response.body).unwrap()
}

async fn versions(server: &TestServer, doc: &str, token: &str) -> Vec<Value> {
    let list = json(server, &format!("/api/docs/{doc}/versions"), token).await;
    list.as_array().unwrap().clone()
}

/// Waits until `doc` has `count` versions; returns them, newest first.
async fn wait_versions(server: &TestServer, doc: &str, token: &str, count: usize) -> Vec<Value> {
    eventually(&format!("{count} versions of {doc}"), || async {
        versions(server, doc, token).await.len() >= count
    })
    .await;
    versions(server, doc, token).await
}

/// The stored text of `doc`, read with an admin token; `None` if it is not stored.
async fn stored(server: &TestServer, doc: &str) -> Option<String> {
    let admin = token("ada", &["*"], Access::Admin);
    let response = call(server, "GET", &format!("/api/docs/{doc}/text"), &admin, "").await;
    match response.status {
        200 => Some(response.text()),
        404 => None,
        status => panic!("GET text: {status} {}", response.text()),
    }
}

fn author_ids(version: &Value) -> Vec<String> {
    version["authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn versions_restore_and_attribution(backend: Backend, test: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), backend, test).await;
    let ann = token("ann", &["*"], Access::Write);
    let bob = token("bob", &["*"], Access::Write);
    let reader = token("rita", &["*"], Access::Read);

    let mut typist = Client::connect(&format!("{}?token={ann}", server.url("essay"))).await;
    typist.push("first draft").await;
    typist.wait_saved().await;
    // A checkpoint after the idle time, by ann.
    let first = wait_versions(&server, "essay", &reader, 1).await;
    assert_eq!(first[0]["kind"], "auto");
    assert_eq!(author_ids(&first[0]), ["ann"]);
    assert_eq!(first[0]["authors"][0]["name"], "User ann");
    assert_eq!(first[0]["authors"][0]["verified"], true);
    assert_eq!(first[0]["size_bytes"], 11);
    let first_id = first[0]["id"].as_str().unwrap().to_owned();

    // Named versions need write access; a read token may list but not name or restore.
    let denied = call(
        &server,
        "POST",
        "/api/docs/essay/versions",
        &reader,
        r#"{"label":"x"}"#,
    )
    .await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    let named = call(
        &server,
        "POST",
        "/api/docs/essay/versions",
        &bob,
        r#"{"label":"Sent to Eve"}"#,
    )
    .await;
    assert_eq!(named.status, 201, "{}", named.text());
    let named: Value = serde_json::from_slice(&named.body).unwrap();
    assert_eq!(named["label"], "Sent to Eve");
    assert_eq!(named["kind"], "named");

    typist.push(", then a second paragraph").await;
    typist.wait_saved().await;
    let listed = wait_versions(&server, "essay", &reader, 3).await;
    assert_eq!(listed[1]["id"], named["id"], "newest first");
    let text = call(
        &server,
        "GET",
        &format!("/api/docs/essay/versions/{first_id}/text"),
        &reader,
        "",
    )
    .await;
    assert_eq!((text.status, text.text()), (200, "first draft".to_owned()));

    // Bob restores the first draft while ann types at the start: both survive.
    let typed = {
        let text = typist.doc.get_or_insert_text("content");
        let mut txn = typist.doc.transact_mut();
        text.insert(&mut txn, 0, ">> ");
        txn.encode_update_v1()
    };
    let body = format!(r#"{{"version":"{first_id}"}}"#);
    assert_eq!(
        call(&server, "POST", "/api/docs/essay/restore", &reader, &body)
            .await
            .status,
        403
    );
    let restored = call(&server, "POST", "/api/docs/essay/restore", &bob, &body).await;
    assert_eq!(restored.status, 200, "{}", restored.text());
    let restored: Value = serde_json::from_slice(&restored.body).unwrap();
    assert_eq!(restored["kind"], "restore");
    assert_eq!(restored["restored_from"], first_id.as_str());
    assert_eq!(restored["label"], Value::Null);
    assert!(
        author_ids(&restored).contains(&"bob".to_owned()),
        "{restored}"
    );
    assert_eq!(
        stored(&server, "essay").await.as_deref(),
        Some("first draft")
    );
    typist
        .send_message(Message::Sync(SyncMessage::Update(typed)))
        .await;
    typist
        .wait_text("the restore merged with typing", |t| t == ">> first draft")
        .await;
    typist.wait_saved().await;
    assert_eq!(
        stored(&server, "essay").await.as_deref(),
        Some(">> first draft")
    );
    // The restore is a version: restoring the one before it undoes it.
    let restored_id = restored["id"].as_str().unwrap();
    let text = call(
        &server,
        "GET",
        &format!("/api/docs/essay/versions/{restored_id}/text"),
        &reader,
        "",
    )
    .await;
    assert_eq!(text.text(), "first draft");

    // Bad input changes nothing.
    for (body, status) in [
        (r#"{"version":"nope"}"#, 404),
        ("not json", 400),
        (r#"{"label":"x"}"#, 400),
    ] {
        let response = call(&server, "POST", "/api/docs/essay/restore", &bob, body).await;
        assert_eq!(response.status, status, "{body}: {}", response.text());
    }
    let none = call(
        &server,
        "GET",
        "/api/docs/essay/versions/nope/text",
        &reader,
        "",
    )
    .await;
    assert_eq!(none.status, 404);

    // The audit trail names who did what, also for the rows compaction folded.
    let trail = json(&server, "/api/docs/essay/changes", &reader).await;
    let trail = trail.as_array().unwrap();
    let by = |id: &str| {
        trail
            .iter()
            .filter(|c| c["author"]["id"] == id)
            .collect::<Vec<_>>()
    };
    let inserted: u64 = by("ann")
        .iter()
        .map(|c| c["inserted"].as_u64().unwrap())
        .sum();
    assert_eq!(
        inserted,
        ("first draft".len() + ", then a second paragraph".len() + 3) as u64
    );
    let bob_deleted: u64 = by("bob")
        .iter()
        .map(|c| c["deleted"].as_u64().unwrap())
        .sum();
    assert_eq!(
        bob_deleted,
        ", then a second paragraph".len() as u64,
        "{trail:?}"
    );
    let future = json(
        &server,
        "/api/docs/essay/changes?since=2999-01-01T00:00:00Z",
        &reader,
    )
    .await;
    assert_eq!(future, Value::Array(Vec::new()));
    let bad = call(
        &server,
        "GET",
        "/api/docs/essay/changes?since=yesterday",
        &reader,
        "",
    )
    .await;
    assert_eq!(bad.status, 400);
    server.stop().await;
}

#[tokio::test]
async fn versions_restore_and_attribution_on_sqlite() {
    versions_restore_and_attribution(Backend::Sqlite, "history_sqlite").await;
}

#[tokio::test]
async fn versions_restore_and_attribution_on_postgres() {
    versions_restore_and_attribution(Backend::Postgres, "history_pg").await;
}

async fn delete_undelete_and_purge(backend: Backend, test: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), backend, test).await;
    let admin = token("ada", &["*"], Access::Admin);
    let writer = token("wes", &["*"], Access::Write);
    let mut live = Client::connect(&format!("{}?token={writer}", server.url("plans"))).await;
    live.push("keep this").await;
    live.wait_saved().await;
    wait_versions(&server, "plans", &admin, 1).await;

    assert_eq!(
        call(&server, "DELETE", "/api/docs/plans", &writer, "")
            .await
            .status,
        403
    );
    assert_eq!(
        call(&server, "DELETE", "/api/docs/plans", &admin, "")
            .await
            .status,
        204
    );
    assert_eq!(live.expect_close().await, 4410);
    // The name is free: nothing to read, and the history stays.
    assert_eq!(stored(&server, "plans").await, None);
    assert_eq!(versions(&server, "plans", &admin).await.len(), 1);
    assert_eq!(
        call(&server, "POST", "/api/docs/plans/undelete", &writer, "")
            .await
            .status,
        403
    );
    let back = call(&server, "POST", "/api/docs/plans/undelete", &admin, "").await;
    assert_eq!(back.status, 204, "{}", back.text());
    assert_eq!(stored(&server, "plans").await.as_deref(), Some("keep this"));
    let again = call(&server, "POST", "/api/docs/plans/undelete", &admin, "").await;
    assert_eq!(again.status, 404, "the trash is empty once it is back");

    // Deleted, then a new document of that name: undelete would overwrite it, so it refuses.
    assert_eq!(
        call(&server, "DELETE", "/api/docs/plans", &admin, "")
            .await
            .status,
        204
    );
    let mut fresh = Client::connect(&format!("{}?token={writer}", server.url("plans"))).await;
    fresh.push("new plans").await;
    fresh.wait_saved().await;
    let conflict = call(&server, "POST", "/api/docs/plans/undelete", &admin, "").await;
    assert_eq!(conflict.status, 409, "{}", conflict.text());
    assert_eq!(stored(&server, "plans").await.as_deref(), Some("new plans"));

    // Purged: the history and the trash go too.
    let purged = call(&server, "DELETE", "/api/docs/plans?purge=1", &admin, "").await;
    assert_eq!(purged.status, 204);
    assert_eq!(fresh.expect_close().await, 4410);
    assert!(versions(&server, "plans", &admin).await.is_empty());
    assert_eq!(
        call(&server, "POST", "/api/docs/plans/undelete", &admin, "")
            .await
            .status,
        404
    );
    assert_eq!(
        call(&server, "DELETE", "/api/docs/plans?purge=maybe", &admin, "")
            .await
            .status,
        400
    );
    server.stop().await;
}

#[tokio::test]
async fn delete_undelete_and_purge_on_sqlite() {
    delete_undelete_and_purge(Backend::Sqlite, "undelete_sqlite").await;
}

#[tokio::test]
async fn delete_undelete_and_purge_on_postgres() {
    delete_undelete_and_purge(Backend::Postgres, "undelete_pg").await;
}

#[tokio::test]
async fn a_restore_or_a_put_first_saves_what_no_version_holds() {
    let dir = tempfile::tempdir().unwrap();
    // No checkpoint would come during the test: only the restore and the PUT make versions.
    let server = TestServer::start_with(dir.path(), |config: &mut Config| {
        config.auth_secret = Some(support::secret());
        config.checkpoint_idle = Duration::from_secs(3600);
        config.checkpoint_max = Duration::from_secs(3600);
    })
    .await;
    let ann = token("ann", &["*"], Access::Write);
    let bob = token("bob", &["*"], Access::Write);
    let mut typist = Client::connect(&format!("{}?token={ann}", server.url("draft"))).await;
    typist.push("first draft").await;
    typist.wait_saved().await;
    let named = call(
        &server,
        "POST",
        "/api/docs/draft/versions",
        &bob,
        r#"{"label":"v1"}"#,
    )
    .await;
    assert_eq!(named.status, 201, "{}", named.text());
    let named: Value = serde_json::from_slice(&named.body).unwrap();
    typist.push(", and an hour of work").await;
    typist.wait_saved().await;
    assert_eq!(versions(&server, "draft", &bob).await.len(), 1);

    let body = format!(r#"{{"version":"{}"}}"#, named["id"].as_str().unwrap());
    let restored = call(&server, "POST", "/api/docs/draft/restore", &bob, &body).await;
    assert_eq!(restored.status, 200, "{}", restored.text());
    let listed = versions(&server, "draft", &bob).await;
    let kinds: Vec<&str> = listed.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["restore", "auto", "named"], "newest first");
    assert_eq!(author_ids(&listed[1]), ["ann"]);
    let text_of = |id: &Value| format!("/api/docs/draft/versions/{}/text", id.as_str().unwrap());
    let kept = call(&server, "GET", &text_of(&listed[1]["id"]), &bob, "").await;
    assert_eq!(kept.text(), "first draft, and an hour of work");
    typist
        .wait_text("the restore", |t| t == "first draft")
        .await;

    // The same for a PUT of the text over new typing.
    typist.push(" again").await;
    typist.wait_saved().await;
    let put = call(&server, "PUT", "/api/docs/draft/text", &bob, "replaced").await;
    assert_eq!(put.status, 204, "{}", put.text());
    let listed = versions(&server, "draft", &bob).await;
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0]["kind"], "auto");
    let kept = call(&server, "GET", &text_of(&listed[0]["id"]), &bob, "").await;
    assert_eq!(kept.text(), "first draft again");
    assert_eq!(stored(&server, "draft").await.as_deref(), Some("replaced"));
    server.stop().await;
}

#[tokio::test]
async fn open_mode_edits_are_by_the_claimed_name_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |config| {
        config.checkpoint_idle = Duration::from_millis(200);
    })
    .await;
    let mut zoe = Client::connect(&server.url("open")).await;
    zoe.set_presence(1, r##"{"user":{"name":"Zoë","color":"#123456"}}"##)
        .await;
    zoe.push("hi").await;
    zoe.wait_saved().await;
    let listed = wait_versions(&server, "open", "", 1).await;
    assert_eq!(listed[0]["authors"][0]["id"], "Zoë");
    assert_eq!(listed[0]["authors"][0]["verified"], false);
    let trail = json(&server, "/api/docs/open/changes", "").await;
    assert_eq!(trail[0]["author"]["name"], "Zoë");
    assert_eq!(trail[0]["inserted"], 2);
    server.stop().await;
}

/// Retention through a store itself, with the commit times given: compaction drops versions
/// older than the retention and keeps every younger one.
fn retention_drops_only_what_is_older(mut store: impl Store) {
    let doc = DocName::parse("kept").unwrap();
    let version = |id: &str, at: i64| Write::Version {
        doc: doc.clone(),
        info: VersionInfo {
            id: id.into(),
            created_at_ms: at,
            label: None,
            kind: VersionKind::Auto,
            text_bytes: 0,
            authors: Vec::new(),
            restored_from: None,
        },
        state: vec![0, 0],
    };
    let day = 86_400_000;
    store
        .commit(
            &[version("old", 1_000), version("young", 1_000 + 2 * day)],
            1_000,
        )
        .unwrap();
    let compact = Write::Compact {
        doc: doc.clone(),
        snapshot: vec![0, 0],
        text_bytes: 0,
    };
    // Retention of two days, at three days and one millisecond: only "old" is older.
    store.commit(&[compact], 1_001 + 3 * day).unwrap();
    let ids: Vec<String> = store
        .versions(&doc)
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, ["young"]);
}

#[test]
fn retention_drops_only_what_is_older_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("r.sqlite3"))
        .unwrap()
        .with_retention(Retention::parse("2d").unwrap());
    retention_drops_only_what_is_older(store);
}

#[test]
fn retention_drops_only_what_is_older_on_postgres() {
    let url = PostgresUrl::parse(&shared().database("retention_pg")).unwrap();
    let store = PostgresStore::open(&url)
        .unwrap()
        .with_retention(Retention::parse("2d").unwrap());
    retention_drops_only_what_is_older(store);
}
