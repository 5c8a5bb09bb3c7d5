//! The document API's changing endpoints against the real server, on SQLite and on
//! PostgreSQL: `PUT /api/docs/{doc}/text` merges with typing the server had not seen, export
//! then import into a fresh server gives the same text, and bad input (bad names, bodies,
//! updates, tokens) gets a 4xx with a reason and changes nothing.

use std::time::Duration;

use sync_server::auth::Access;
use sync_server::config::Config;
use sync_server::storage::PostgresUrl;
use yrs::sync::{Message, SyncMessage};
use yrs::{Text, Transact};

use crate::postgres::shared;
use crate::support::{self, http_get, http_send, stored_text, Client, HttpResponse, TestServer};

/// Which store a test server uses.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn start(dir: &std::path::Path, backend: Backend, test: &str) -> TestServer {
    start_with(dir, backend, test, |_| {}).await
}

async fn start_with(
    dir: &std::path::Path,
    backend: Backend,
    test: &str,
    adjust: impl FnOnce(&mut Config),
) -> TestServer {
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PostgresUrl::parse(&shared().database(test)).unwrap()),
    };
    TestServer::start_with(dir, |config| {
        config.postgres = postgres;
        adjust(config);
    })
    .await
}

async fn put_text(server: &TestServer, doc: &str, text: &str) -> HttpResponse {
    let path = format!("/api/docs/{doc}/text");
    http_send(server.addr, "PUT", &path, &[], text.as_bytes()).await
}

async fn merges_with_typing_it_had_not_seen(backend: Backend, test: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), backend, test).await;
    let mut typist = Client::connect(&server.url("notes")).await;
    typist.push("alpha beta gamma").await;
    typist.wait_saved().await;
    let mut watcher = Client::connect(&server.url("notes")).await;
    // The typist types inside "beta" while the request is under way: its update is sent only
    // once the server has answered, so the server's edit cannot have seen it.
    let typed = {
        let text = typist.doc.get_or_insert_text("content");
        let mut txn = typist.doc.transact_mut();
        text.insert(&mut txn, 8, "XX");
        txn.encode_update_v1()
    };
    let response = put_text(&server, "notes", "alpha beta delta").await;
    assert_eq!(response.status, 204, "{}", response.text());
    // Durable before the answer, and live clients see it at once.
    assert_eq!(
        stored_text(server.addr, "notes").await.as_deref(),
        Some("alpha beta delta")
    );
    watcher
        .wait_text("the server's edit", |t| t == "alpha beta delta")
        .await;
    typist
        .send_message(Message::Sync(SyncMessage::Update(typed)))
        .await;
    let merged = "alpha beXXta delta";
    typist.wait_text("both edits", |t| t == merged).await;
    watcher.wait_text("both edits", |t| t == merged).await;
    typist.wait_saved().await;
    assert_eq!(
        stored_text(server.addr, "notes").await.as_deref(),
        Some(merged)
    );
    // The same text again changes nothing; a new document is created.
    assert_eq!(put_text(&server, "notes", merged).await.status, 204);
    assert_eq!(put_text(&server, "fresh", "new text").await.status, 204);
    assert_eq!(
        stored_text(server.addr, "fresh").await.as_deref(),
        Some("new text")
    );
    server.stop().await;
}

#[tokio::test]
async fn put_text_merges_with_live_typing_on_sqlite() {
    merges_with_typing_it_had_not_seen(Backend::Sqlite, "put_text_sqlite").await;
}

#[tokio::test]
async fn put_text_merges_with_live_typing_on_postgres() {
    merges_with_typing_it_had_not_seen(Backend::Postgres, "put_text_pg").await;
}

/// Export from one store, import into a fresh server on the other.
async fn export_then_import(from: Backend, to: Backend, test: &str) {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(dir_a.path(), from, &format!("{test}_a")).await;
    let mut writer = Client::connect(&a.url("moving")).await;
    writer.push("héllo, wörld 😀\nsecond line").await;
    writer.delete(0, 1).await;
    writer.wait_saved().await;
    let exported = http_get_bytes(&a, "/api/docs/moving/update").await;
    assert_eq!(exported.status, 200);
    assert_eq!(
        exported.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(http_get(a.addr, "/api/docs/never/update").await.0, 404);
    a.stop().await;

    let b = start(dir_b.path(), to, &format!("{test}_b")).await;
    let mut reader = Client::connect(&b.url("moved")).await;
    let imported = http_send(
        b.addr,
        "POST",
        "/api/docs/moved/update",
        &[],
        &exported.body,
    )
    .await;
    assert_eq!(imported.status, 204, "{}", imported.text());
    let expected = "éllo, wörld 😀\nsecond line";
    assert_eq!(
        stored_text(b.addr, "moved").await.as_deref(),
        Some(expected)
    );
    reader.wait_text("the import", |t| t == expected).await;
    // Importing it again changes nothing.
    let again = http_send(
        b.addr,
        "POST",
        "/api/docs/moved/update",
        &[],
        &exported.body,
    )
    .await;
    assert_eq!(again.status, 204);
    assert_eq!(
        stored_text(b.addr, "moved").await.as_deref(),
        Some(expected)
    );
    b.stop().await;
}

#[tokio::test]
async fn export_then_import_into_a_fresh_server_gives_the_same_text() {
    export_then_import(Backend::Sqlite, Backend::Postgres, "export_sqlite_pg").await;
    export_then_import(Backend::Postgres, Backend::Sqlite, "export_pg_sqlite").await;
}

async fn http_get_bytes(server: &TestServer, path: &str) -> HttpResponse {
    http_send(server.addr, "GET", path, &[], &[]).await
}

/// Every bad request: its status and the start of its reason, and the text unchanged.
#[tokio::test]
async fn bad_input_gets_a_reason_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| c.max_message_size = 1024).await;
    let mut client = Client::connect(&server.url("kept")).await;
    client.push("kept text").await;
    client.wait_saved().await;
    let cases: [(&str, &str, &[u8], u16, &str); 9] = [
        (
            "PUT",
            "/api/docs/kept/text",
            &[0xff, 0xfe],
            400,
            "the body is not UTF-8",
        ),
        (
            "PUT",
            "/api/docs/kept/text",
            &[b'a'; 2000],
            413,
            "the body is over",
        ),
        (
            "PUT",
            "/api/docs/bad%20name/text",
            b"x",
            400,
            "document name",
        ),
        (
            "POST",
            "/api/docs/kept/update",
            b"",
            400,
            "the body is empty",
        ),
        (
            "POST",
            "/api/docs/kept/update",
            b"not an update",
            400,
            "invalid update",
        ),
        (
            "POST",
            "/api/docs/kept/update",
            &[0u8; 2000],
            413,
            "the body is over",
        ),
        // A delete of clocks nobody wrote: the apply checks refuse it.
        (
            "POST",
            "/api/docs/kept/update",
            &[0, 1, 99, 1, 0, 5],
            400,
            "nobody has written",
        ),
        ("POST", "/api/docs/../update", &[0, 0], 400, "document name"),
        (
            "GET",
            "/api/docs/absent/update",
            b"",
            404,
            "no such document",
        ),
    ];
    for (method, path, body, status, reason) in cases {
        let response = http_send(server.addr, method, path, &[], body).await;
        assert_eq!(
            response.status,
            status,
            "{method} {path}: {}",
            response.text()
        );
        assert!(
            response.text().contains(reason),
            "{method} {path}: {}",
            response.text()
        );
        assert_eq!(
            stored_text(server.addr, "kept").await.as_deref(),
            Some("kept text"),
            "{method} {path}"
        );
    }
    assert_eq!(stored_text(server.addr, "absent").await, None);
    // The live client was not disturbed.
    client.push("!").await;
    client.wait_saved().await;
    assert_eq!(client.closed_with, None);
    server.stop().await;
}

fn token(access: Access) -> String {
    support::token("api", &["notes"], access)
}

#[tokio::test]
async fn changing_a_document_needs_write_access() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.auth_secret = Some(support::secret());
        c.auth_timeout = Duration::from_millis(300);
    })
    .await;
    let write = format!("Authorization: Bearer {}", token(Access::Write));
    let read = format!("Authorization: Bearer {}", token(Access::Read));
    let put = |extra: Vec<String>, doc: &'static str, text: &'static str| {
        let addr = server.addr;
        async move {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let path = format!("/api/docs/{doc}/text");
            http_send(addr, "PUT", &path, &extra, text.as_bytes()).await
        }
    };
    assert_eq!(put(vec![write.clone()], "notes", "first").await.status, 204);
    let refused = put(vec![read.clone()], "notes", "second").await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().starts_with("forbidden"));
    assert_eq!(put(vec![], "notes", "third").await.status, 401);
    assert_eq!(put(vec![write.clone()], "other", "x").await.status, 403);
    let import = http_send(
        server.addr,
        "POST",
        "/api/docs/notes/update",
        &[&read],
        &[0, 0],
    )
    .await;
    assert_eq!(import.status, 403);
    let export = http_send(server.addr, "GET", "/api/docs/notes/update", &[&read], &[]).await;
    assert_eq!(export.status, 200);
    let text = http_send(server.addr, "GET", "/api/docs/notes/text", &[&read], &[]).await;
    assert_eq!(text.text(), "first");
    server.stop().await;
}
