//! Sharing links (a rotatable share key beside the stable secret, guests who name themselves)
//! and `DELETE /api/docs/{doc}` (admin access, live connections closed with 4410): what the
//! desktop app's Share on LAN and document list rely on.

use std::time::Duration;

use sync_server::auth::{self, Access, Audience, Claims, Secret, ShareKey};
use sync_server::storage::ListQuery;

use crate::support::{http_get_with, http_request, within, Client, TestServer};

fn owner_key() -> Secret {
    Secret::new(b"owner-key-of-the-desktop-app-32-bytes!".to_vec()).unwrap()
}

fn share_secret(n: u8) -> Secret {
    Secret::new(vec![n; 32]).unwrap()
}

fn claims(sub: &str, doc: &str, access: Access, guest: bool) -> Claims {
    Claims {
        sub: sub.into(),
        name: Some(if guest { "Guest" } else { "Owner" }.into()),
        color: None,
        docs: vec![doc.into()],
        access,
        aud: Audience::One(auth::DEFAULT_AUDIENCE.into()),
        exp: auth::unix_now() + 600,
        iat: None,
        nbf: None,
        guest,
    }
}

async fn start(dir: &std::path::Path, share: &ShareKey) -> TestServer {
    let share = share.clone();
    TestServer::start_with(dir, move |c| {
        c.auth_secret = Some(owner_key());
        c.auth_share_key = Some(share);
        c.auth_timeout = Duration::from_millis(300);
    })
    .await
}

fn url(server: &TestServer, doc: &str, token: &str) -> String {
    format!("{}?token={token}", server.url(doc))
}

async fn refused(url: &str) -> u16 {
    let mut client = Client::connect_raw(url).await;
    client.expect_close().await
}

#[tokio::test]
async fn rotating_the_share_key_ends_links_but_not_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let share = ShareKey::new(share_secret(1));
    let server = start(dir.path(), &share).await;
    let owner = auth::mint(&owner_key(), &claims("owner", "*", Access::Admin, false));
    let edit = auth::mint(&share_secret(1), &claims("g", "notes", Access::Write, true));
    let view = auth::mint(&share_secret(1), &claims("g", "notes", Access::Read, true));

    let mut window = Client::connect(&url(&server, "notes", &owner)).await;
    window.push("from the app").await;
    window.wait_saved().await;
    let mut editor = Client::connect(&url(&server, "notes", &edit)).await;
    editor.push(", and a guest").await;
    editor.wait_saved().await;
    let mut viewer = Client::connect(&url(&server, "notes", &view)).await;
    assert_eq!(viewer.text(), "from the app, and a guest");
    viewer.push(" (not allowed)").await;
    within("the refusal", viewer.pump_until(|c| !c.denied.is_empty())).await;
    assert!(
        viewer.denied[0].contains("read-only"),
        "{:?}",
        viewer.denied
    );
    // A link names one document: it opens no other.
    assert_eq!(refused(&url(&server, "other", &edit)).await, 4402);

    // A guest names themselves; others see the name marked as a guest's.
    editor
        .set_presence(1, r##"{"user":{"name":"Sam","color":"#123456"}}"##)
        .await;
    within(
        "the guest's presence",
        window.pump_until(|c| c.present_names().contains(&"Sam · guest".to_owned())),
    )
    .await;

    share.rotate(share_secret(2));
    assert_eq!(editor.expect_close().await, 4401);
    assert_eq!(viewer.expect_close().await, 4401);
    assert_eq!(refused(&url(&server, "notes", &edit)).await, 4401);
    assert_eq!(refused(&url(&server, "notes", &view)).await, 4401);
    let (status, _) = http_request(
        server.addr,
        &format!(
            "GET /api/docs/notes/text HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {view}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    )
    .await;
    assert_eq!(status, 401, "the HTTP API refuses a revoked link too");

    // The owner's connection never noticed.
    window.push(".").await;
    window.wait_saved().await;
    assert!(window.closed_with.is_none());
    // Links signed with the new key work.
    let fresh = auth::mint(&share_secret(2), &claims("g", "notes", Access::Read, true));
    let reader = Client::connect(&url(&server, "notes", &fresh)).await;
    assert_eq!(reader.text(), "from the app, and a guest.");
    server.stop().await;
}

async fn delete(server: &TestServer, doc: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    http_request(
        server.addr,
        &format!(
            "DELETE /api/docs/{doc} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
            server.addr
        ),
    )
    .await
}

#[tokio::test]
async fn delete_needs_admin_closes_connections_and_removes_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let share = ShareKey::new(share_secret(1));
    let server = start(dir.path(), &share).await;
    let admin = auth::mint(&owner_key(), &claims("owner", "*", Access::Admin, false));
    let write = auth::mint(&owner_key(), &claims("w", "doomed", Access::Write, false));
    let mut writer = Client::connect(&url(&server, "doomed", &write)).await;
    writer.push("soon gone").await;
    writer.wait_saved().await;
    let mut keeper = Client::connect(&url(&server, "kept", &admin)).await;
    keeper.push("stays").await;
    keeper.wait_saved().await;

    assert_eq!(delete(&server, "doomed", None).await.0, 401);
    let (status, body) = delete(&server, "doomed", Some(&write)).await;
    assert_eq!(status, 403, "write access may not delete: {body}");
    assert!(body.contains("admin"), "{body}");
    assert_eq!(delete(&server, "bad%20name", Some(&admin)).await.0, 400);

    assert_eq!(delete(&server, "doomed", Some(&admin)).await.0, 204);
    assert_eq!(writer.expect_close().await, 4410);
    let listed = http_get_with(
        server.addr,
        "/api/docs",
        &[&format!("Authorization: Bearer {admin}")],
    )
    .await;
    let names: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(&listed.body)
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(delete(&server, "doomed", Some(&admin)).await.0, 404);
    // A new connection finds it empty; the other document is untouched and still connected.
    let fresh = Client::connect(&url(&server, "doomed", &admin)).await;
    assert_eq!(fresh.text(), "");
    keeper.push("!").await;
    keeper.wait_saved().await;
    server.stop().await;

    // Gone from the file too, after a restart.
    let server = start(dir.path(), &share).await;
    let again = Client::connect(&url(&server, "doomed", &admin)).await;
    assert_eq!(again.text(), "");
    let kept = Client::connect(&url(&server, "kept", &admin)).await;
    assert_eq!(kept.text(), "stays!");
    server.stop().await;
}

/// The PostgreSQL store deletes one document's rows, in one transaction, and nothing else
/// (against the real PostgreSQL server the `postgres` tests start).
#[test]
fn the_postgres_store_deletes_one_document_and_nothing_else() {
    use sync_server::storage::{PostgresStore, PostgresUrl, Store as _, Write};
    use sync_server::DocName;
    let cluster = crate::postgres::shared();
    let url = PostgresUrl::parse(&cluster.database("deletes")).unwrap();
    let mut store = PostgresStore::open(&url).unwrap();
    let doc = |name: &str| DocName::parse(name).unwrap();
    let append = |name: &str, update: &[u8]| Write::Append {
        doc: doc(name),
        update: update.to_vec(),
        origin: "test".into(),
        text_bytes: update.len() as u64,
        by: Default::default(),
    };
    store
        .commit(
            &[append("a", b"1"), append("b", b"x"), append("a", b"2")],
            1,
        )
        .unwrap();
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
    // A document deleted and written again starts afresh.
    store.commit(&[append("a", b"3")], 2).unwrap();
    assert_eq!(store.load(&doc("a")).unwrap().updates, vec![b"3".to_vec()]);
}
