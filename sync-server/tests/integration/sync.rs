//! Live editing through the real server: convergence, catch-up, presence, unloading.

use std::time::Duration;

use crate::support::{http_get, stored_text, within, Client, TestServer};

#[tokio::test]
async fn concurrent_edits_from_several_clients_converge() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = server.url("converge");
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    let mut c = Client::connect(&url).await;

    // Everyone types at the same position before seeing anyone else's edit.
    a.insert(0, "alpha ").await;
    b.insert(0, "beta ").await;
    c.insert(0, "gamma ").await;
    for round in 0..20 {
        a.push(&format!("a{round} ")).await;
        b.insert(0, &format!("b{round} ")).await;
        c.push(&format!("c{round} ")).await;
    }
    // c deletes its first word, which nobody else has seen yet.
    c.delete(0, "gamma ".len() as u32).await;

    // Every update is broadcast to every connection, the sender included: once each client
    // has received all of them, all three must hold the same text.
    let total = a.sent + b.sent + c.sent - 3; // minus the empty initial SyncStep2 of each
    for client in [&mut a, &mut b, &mut c] {
        within(
            "all updates to arrive",
            client.pump_until(|cl| cl.updates_received >= total),
        )
        .await;
    }
    let text = a.text();
    assert_eq!(b.text(), text);
    assert_eq!(c.text(), text);
    let words: Vec<&str> = text.split_whitespace().collect();
    for round in 0..20 {
        for word in [
            format!("a{round}"),
            format!("b{round}"),
            format!("c{round}"),
        ] {
            assert!(
                words.contains(&word.as_str()),
                "{word:?} lost from {text:?}"
            );
        }
    }
    assert!(
        words.contains(&"alpha") && words.contains(&"beta"),
        "{text:?}"
    );
    assert!(
        !words.contains(&"gamma"),
        "a deleted word came back: {text:?}"
    );
    assert_eq!(words.len(), 62, "{text:?}");
    // And the server holds the same text.
    for client in [&mut a, &mut b, &mut c] {
        client.wait_saved().await;
    }
    assert_eq!(
        stored_text(server.addr, "converge").await.as_deref(),
        Some(text.as_str())
    );
    server.stop().await;
}

#[tokio::test]
async fn updates_reach_every_connection_including_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = server.url("echo");
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    a.push("hello").await;
    b.wait_text("b to see a's edit", |t| t == "hello").await;
    // The sender gets its own update back (y-websocket servers do; stock clients rely on it).
    within("the echo", a.pump_until(|c| c.updates_received == 1)).await;
    within("b's copy", b.pump_until(|c| c.updates_received == 1)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_missed_edits_catches_up_on_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = server.url("catch-up");
    let mut a = Client::connect(&url).await;
    a.push("first ").await;
    a.wait_saved().await;

    // b syncs, goes away, and edits offline while a keeps editing.
    let mut b = Client::connect(&url).await;
    b.wait_text("b to load", |t| t == "first ").await;
    let offline_doc = std::mem::replace(&mut b.doc, yrs::Doc::new());
    b.close().await;
    a.push("second ").await;
    a.wait_saved().await;
    {
        use yrs::{Text, Transact};
        let text = offline_doc.get_or_insert_text("content");
        let mut txn = offline_doc.transact_mut();
        text.insert(&mut txn, 0, "offline ");
    }

    // Reconnect with the offline document: the handshake exchanges what each side lacks.
    let mut b = Client::connect_with_doc(&url, offline_doc).await;
    b.wait_text("b to catch up", |t| {
        t.contains("second") && t.contains("offline")
    })
    .await;
    a.wait_text("a to get b's offline edit", |t| t.contains("offline"))
        .await;
    assert_eq!(a.text(), b.text());
    b.wait_saved().await;
    server.stop().await;
}

#[tokio::test]
async fn presence_is_shared_and_removed_when_a_client_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = server.url("presence");
    let mut ada = Client::connect(&url).await;
    let mut bob = Client::connect(&url).await;
    ada.set_presence(
        1,
        r##"{"user":{"name":"Ada","color":"#f00","colorLight":"#f003"}}"##,
    )
    .await;
    bob.set_presence(
        1,
        r##"{"user":{"name":"Bob","color":"#00f","colorLight":"#00f3"}}"##,
    )
    .await;
    within(
        "ada to see both",
        ada.pump_until(|c| c.present_names() == ["Ada", "Bob"]),
    )
    .await;
    within(
        "bob to see both",
        bob.pump_until(|c| c.present_names() == ["Ada", "Bob"]),
    )
    .await;

    // A newcomer gets everyone's presence with the handshake.
    let mut cy = Client::connect(&url).await;
    within(
        "cy to see both",
        cy.pump_until(|c| c.present_names() == ["Ada", "Bob"]),
    )
    .await;

    bob.close().await;
    within(
        "ada to see bob leave",
        ada.pump_until(|c| c.present_names() == ["Ada"]),
    )
    .await;
    within(
        "cy to see bob leave",
        cy.pump_until(|c| c.present_names() == ["Ada"]),
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn silent_presence_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.awareness_timeout = Duration::from_millis(300);
    })
    .await;
    let url = server.url("sweep");
    let mut ada = Client::connect(&url).await;
    let mut bob = Client::connect(&url).await;
    // Bob's socket stays open but his presence is never renewed.
    bob.set_presence(1, r#"{"user":{"name":"Bob"}}"#).await;
    within(
        "ada to see bob",
        ada.pump_until(|c| c.present_names() == ["Bob"]),
    )
    .await;
    within(
        "bob's presence to expire",
        ada.pump_until(|c| c.present_names().is_empty()),
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn empty_documents_unload_and_load_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.unload_after = Duration::from_millis(100);
    })
    .await;
    let url = server.url("unload");
    let mut a = Client::connect(&url).await;
    a.push("kept across unloads").await;
    a.wait_saved().await;
    assert_eq!(rooms(&server).await, 1);
    a.close().await;
    within("the room to unload", async {
        while rooms(&server).await != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let b = Client::connect(&url).await;
    assert_eq!(b.text(), "kept across unloads");
    server.stop().await;
}

async fn rooms(server: &TestServer) -> u64 {
    let (status, body) = http_get(server.addr, "/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    health["rooms"].as_u64().unwrap()
}
