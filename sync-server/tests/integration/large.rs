//! Documents far larger than one message: every stored document loads for every joiner
//! (sent in pieces), many joiners of one document at once all hold it exactly, and the
//! document size limit refuses what would pass it, with its own close code, losing nothing.

use std::time::Duration;

use yrs::{ReadTxn, Transact};

use crate::support::*;

/// A text of `bytes` bytes, different at every position (so a piece lost, doubled or out of
/// place shows), in lines of 64.
pub(crate) fn text_of_size(bytes: usize, seed: u64) -> String {
    let mut text = String::with_capacity(bytes + 64);
    let mut line = 0u64;
    while text.len() < bytes {
        let n = line.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
        text.push_str(&format!("{line:>10} {n:>20x} ¶ the quick brown fox 😀\n"));
        line += 1;
    }
    text
}

/// Uploads `text` in changes of at most `chunk` bytes (each its own update, under the
/// message limit) and waits until all are saved.
pub(crate) async fn upload(url: &str, text: &str, chunk: usize) {
    let mut writer = Client::connect(url).await;
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(chunk);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        writer.push(&rest[..end]).await;
        rest = &rest[end..];
        // Saved before the next one, reading the echoes meanwhile (a client that only
        // writes and never reads is closed as too slow, as it should be).
        writer.wait_saved().await;
    }
    writer.close().await;
}

/// Joins and waits for the sync step 2, which comes after every other piece.
async fn join(url: String) -> Client {
    Client::connect(&url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forty_megabyte_document_loads_for_a_joiner_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("big.sqlite3");
    let text = text_of_size(40 << 20, 1);
    let server = ServerProcess::start(&data).await;
    upload(&server.url("big"), &text, 1 << 20).await;
    // A joiner while it is loaded, from the room's encoding of it.
    let warm = tokio::time::timeout(Duration::from_secs(300), join(server.url("big")))
        .await
        .expect("the warm joiner holds the document");
    assert!(warm.text() == text, "the warm joiner's text differs");
    assert!(server.terminate().await.success());
    // And after a restart, from storage (the snapshot shutdown wrote).
    let server = ServerProcess::start(&data).await;
    let cold = tokio::time::timeout(Duration::from_secs(300), join(server.url("big")))
        .await
        .expect("the cold joiner holds the document");
    assert!(cold.text() == text, "the cold joiner's text differs");
    assert_eq!(
        stored_text(server.addr, "big").await.as_deref(),
        Some(&text[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_fifty_clients_joining_a_four_megabyte_document_at_once_all_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &dir.path().join("storm.sqlite3"),
        &["--max-connections-per-ip", "200"],
        &[],
    )
    .await;
    let text = text_of_size(4 << 20, 2);
    upload(&server.url("storm"), &text, 512 << 10).await;
    let joins = (0..150)
        .map(|_| tokio::spawn(join(server.url("storm"))))
        .collect::<Vec<_>>();
    let clients = tokio::time::timeout(Duration::from_secs(300), async {
        let mut clients = Vec::new();
        for join in joins {
            clients.push(join.await.unwrap());
        }
        clients
    })
    .await
    .expect("every joiner holds the document");
    for (i, client) in clients.iter().enumerate() {
        assert!(client.text() == text, "joiner {i} holds a different text");
    }
}

#[tokio::test]
async fn an_update_past_the_document_size_limit_gets_4413_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &dir.path().join("limit.sqlite3"),
        &["--max-document-size", "1048576"],
        &[],
    )
    .await;
    let url = server.url("capped");
    let mut writer = Client::connect(&url).await;
    assert_eq!(
        writer.limits,
        Some((4 << 20, 1 << 20)),
        "an extension client is told the limits"
    );
    let mut other = Client::connect(&url).await;
    let first = text_of_size(600 << 10, 3);
    writer.push(&first).await;
    writer.wait_saved().await;
    // 600 KB more would take it past 1 MiB: refused, with its own code.
    writer.push(&text_of_size(600 << 10, 4)).await;
    assert_eq!(writer.expect_close().await, 4413);
    // Nothing of it was stored, and everyone else carries on.
    other
        .wait_text("the first upload", |t| t.len() == first.len())
        .await;
    other.push(" and more").await;
    other.wait_saved().await;
    let expected = format!("{first} and more");
    assert_eq!(
        stored_text(server.addr, "capped").await,
        Some(expected.clone())
    );
    let fresh = Client::connect(&url).await;
    assert_eq!(fresh.text(), expected);
    // A client resending what the document already holds (its whole state, as a client
    // back from offline may) is not refused, however near the limit: it adds nothing.
    let mut again = Client::connect(&url).await;
    let whole = again
        .doc
        .transact()
        .encode_state_as_update_v1(&yrs::StateVector::default());
    again
        .send_message(yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(
            whole,
        )))
        .await;
    again.push("!").await;
    again.wait_saved().await;
    assert_eq!(
        stored_text(server.addr, "capped").await,
        Some(format!("{expected}!"))
    );
}
