//! What is acknowledged is on disk: across clean restarts, compaction, and SIGKILL.

use crate::support::{stored_text, Client, ServerProcess, TestServer};

#[tokio::test]
async fn a_document_survives_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut a = Client::connect(&server.url("restart")).await;
    a.push("written before the restart").await;
    a.wait_saved().await;
    drop(a);
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let b = Client::connect(&server.url("restart")).await;
    assert_eq!(b.text(), "written before the restart");
    server.stop().await;
}

#[tokio::test]
async fn clean_shutdown_flushes_updates_that_were_never_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut a = Client::connect(&server.url("flush")).await;
    for i in 0..50 {
        a.push(&format!("{i} ")).await;
    }
    // Make sure the server has received them all (the echo of the last one), without
    // waiting for acks, then shut down: the pending writes must be committed on the way out.
    let sent_updates = a.sent - 1;
    a.pump_until(|c| c.updates_received >= sent_updates).await;
    let expected = a.text();
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        stored_text(server.addr, "flush").await.as_deref(),
        Some(expected.as_str())
    );
    server.stop().await;
}

#[tokio::test]
async fn compaction_keeps_every_edit() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| c.compact_after = 7).await;
    let url = server.url("compact");
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    for i in 0..40 {
        a.push(&format!("a{i} ")).await;
        b.insert(0, &format!("b{i} ")).await;
    }
    a.delete(0, 3).await;
    a.wait_saved().await;
    b.wait_saved().await;
    let sv = a.state_vector();
    b.pump_until(|c| c.state_vector() == sv || c.text() == a.text())
        .await;
    let expected = a.text();
    let data = server.data.clone();
    server.stop().await;

    // The log was compacted along the way: few rows, one snapshot.
    let db = rusqlite::Connection::open(data).unwrap();
    let rows: i64 = db
        .query_row(
            "SELECT count(*) FROM updates WHERE doc = 'compact'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let snapshots: i64 = db
        .query_row(
            "SELECT count(*) FROM snapshots WHERE doc = 'compact'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(rows < 7, "{rows} rows left after compaction");
    assert_eq!(snapshots, 1);

    let server = TestServer::start(dir.path()).await;
    let c = Client::connect(&server.url("compact")).await;
    assert_eq!(c.text(), expected);
    server.stop().await;
}

#[tokio::test]
async fn sigkill_right_after_acknowledgements_loses_no_acknowledged_update() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("kill.sqlite3");
    let server = ServerProcess::start(&data).await;
    let url = format!("ws://{}/sync/killed", server.addr);
    let mut a = Client::connect(&url).await;
    // Keep typing while acks come back, and kill the server the moment some have arrived:
    // whatever was acknowledged must be there after the restart.
    for i in 0..300 {
        a.push(&format!("w{i} ")).await;
    }
    a.pump_until(|c| c.acked >= 150).await;
    let acked = a.acked;
    server.kill_9().await;

    let server = ServerProcess::start(&data).await;
    let b = Client::connect(&format!("ws://{}/sync/killed", server.addr)).await;
    let restored = b.text();
    let durable = &a.text_after[acked as usize];
    assert!(
        restored.starts_with(durable.as_str()),
        "acknowledged text {durable:?} is not a prefix of the restored {restored:?}"
    );
    assert!(
        a.text_after.contains(&restored),
        "the restored text is not a state the writer ever had"
    );
    let status = server.terminate().await;
    assert!(status.success(), "SIGTERM exits 0, got {status}");
}

/// An update that takes the whole process down (here a real stack overflow in yrs, reached by
/// switching the pre-validator off in this debug build) is quarantined by the crash-loop
/// guard: after the restart the same update is refused and the server stays up.
#[tokio::test]
async fn an_update_that_killed_the_process_is_refused_after_the_restart() {
    use yrs::sync::{Message, SyncMessage};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collab.sqlite3");
    let flags = ["--max-message-size", "33554432"];
    let unchecked = [("SYNC_SERVER_TESTING_SKIP_VALIDATION", "1")];
    let killer = crate::hostile::deeply_nested_update(8_000_000);

    let server = ServerProcess::start_with(&data, &flags, &unchecked).await;
    let url = format!("ws://{}/sync/poisoned", server.addr);
    let mut honest = Client::connect(&url).await;
    honest.push("saved before the crash").await;
    honest.wait_saved().await;
    let mut attacker = Client::connect_raw(&url).await;
    attacker
        .send_message(Message::Sync(SyncMessage::Update(killer.clone())))
        .await;
    let status = server.wait_exit().await;
    assert!(!status.success(), "the update killed the process: {status}");
    drop((honest, attacker));

    let mut server = ServerProcess::start_with(&data, &flags, &unchecked).await;
    let url = format!("ws://{}/sync/poisoned", server.addr);
    let mut attacker = Client::connect_raw(&url).await;
    attacker
        .send_message(Message::Sync(SyncMessage::Update(killer)))
        .await;
    assert_eq!(attacker.expect_close().await, 4400);
    server.assert_running("a quarantined update was sent again");
    let mut honest = Client::connect(&url).await;
    assert_eq!(honest.text(), "saved before the crash");
    honest.push(", and after").await;
    honest.wait_saved().await;
    let fresh = Client::connect(&url).await;
    assert_eq!(fresh.text(), "saved before the crash, and after");
    server.terminate().await;
}

/// A stored row that kills the process while its document loads (here a real stack overflow,
/// written straight into the file, as a row from an older version or a yrs bug would be) is
/// quarantined on the next start and skipped: the rest of the document loads, once.
#[tokio::test]
async fn a_stored_row_that_killed_the_process_is_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collab.sqlite3");
    let server = ServerProcess::start(&data).await;
    let url = server.url("poisoned-row");
    let mut honest = Client::connect(&url).await;
    honest.push("stored before the bad row").await;
    honest.wait_saved().await;
    drop(honest);
    assert!(server.terminate().await.success());

    let killer = crate::hostile::deeply_nested_update(8_000_000);
    let db = rusqlite::Connection::open(&data).unwrap();
    db.execute(
        "INSERT INTO updates (doc, data, origin, created_at) VALUES ('poisoned-row', ?1, 'test', 0)",
        [&killer],
    )
    .unwrap();
    drop(db);

    let server = ServerProcess::start(&data).await;
    let url = server.url("poisoned-row");
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    // Loading the document overflows a room thread's stack: the connection just ends.
    while let Some(Ok(_)) = futures_util::StreamExt::next(&mut socket).await {}
    let status = server.wait_exit().await;
    assert!(
        !status.success(),
        "loading the row killed the process: {status}"
    );

    let mut server = ServerProcess::start(&data).await;
    let url = server.url("poisoned-row");
    let mut honest = Client::connect(&url).await;
    assert_eq!(honest.text(), "stored before the bad row");
    honest.push(", and after").await;
    honest.wait_saved().await;
    server.assert_running("the document loaded without the quarantined row");
    assert!(server.terminate().await.success());
    let server = ServerProcess::start(&data).await;
    let fresh = Client::connect(&server.url("poisoned-row")).await;
    assert_eq!(fresh.text(), "stored before the bad row, and after");
    assert!(server.terminate().await.success());
}
