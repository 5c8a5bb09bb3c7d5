//! Limits: connection caps per IP address and per document (refused before the upgrade, freed
//! on disconnect), per-connection message, sync-request and position-check rate limits (4420),
//! and a client that stops reading (4429) while its room carries on.

use std::net::SocketAddr;

use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::StateVector;

use crate::support::{eventually, http_get, scrape, try_upgrade, within, Client, TestServer};

const RATE_LIMITED: u16 = 4420;
const TOO_SLOW: u16 = 4429;

#[tokio::test]
async fn the_per_ip_cap_refuses_the_next_connection_and_frees_places_on_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| c.limits.max_connections_per_ip = 2).await;
    let a = Client::connect(&server.url("one")).await;
    let _b = Client::connect(&server.url("two")).await;

    // The third from 127.0.0.1 is refused before the upgrade, whatever the document.
    let (status, body) = try_upgrade(server.addr, "/sync/three").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body, "too many connections from this address\n");

    // Another address is not affected.
    let mut other = Client::connect_from(
        server.addr,
        "127.0.0.2",
        None,
        &format!("{}?ext=1", server.url("one")),
    )
    .await;
    other.start_sync().await;
    within("sync from 127.0.0.2", other.pump_until(|c| c.synced)).await;

    // Closing one frees its place.
    a.close().await;
    eventually("a freed place to be taken", || async {
        try_upgrade(server.addr, "/sync/three").await.0 == 101
    })
    .await;
    let metrics = scrape(server.addr).await;
    assert!(metrics["collab_refusals_total{reason=\"max_connections_per_ip\"}"] >= 1.0);
    server.stop().await;
}

#[tokio::test]
async fn the_per_document_cap_refuses_only_that_document() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| c.limits.max_connections_per_doc = 2).await;
    let a = Client::connect(&server.url("full")).await;
    let _b = Client::connect(&server.url("full")).await;
    let (status, body) = try_upgrade(server.addr, "/sync/full").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, "too many connections to this document\n");
    let _elsewhere = Client::connect(&server.url("other")).await;

    a.close().await;
    eventually("a freed place on the document", || async {
        try_upgrade(server.addr, "/sync/full").await.0 == 101
    })
    .await;
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metrics["collab_refusals_total{reason=\"max_connections_per_doc\"}"],
        1.0
    );
    server.stop().await;
}

#[tokio::test]
async fn a_flooding_connection_is_closed_while_an_honest_one_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.limits.max_messages_per_second = 1.0;
        c.limits.message_burst = 20;
    })
    .await;
    let mut writer = Client::connect(&server.url("flood")).await;
    let mut reader = Client::connect(&server.url("flood")).await;
    let mut flooder = Client::connect(&server.url("flood")).await;

    // 60 awareness queries (each makes the server answer) against a burst of 20.
    for _ in 0..60 {
        if !flooder.try_send_bytes(vec![3]).await {
            break;
        }
    }
    assert_eq!(flooder.drain_until_close().await.1, RATE_LIMITED);

    // Honest clients, well inside their bursts, carry on.
    for word in ["typing ", "at ", "a ", "human ", "pace"] {
        writer.push(word).await;
    }
    reader
        .wait_text("the reader to see every word", |t| {
            t == "typing at a human pace"
        })
        .await;
    writer.wait_saved().await;
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metrics["collab_refusals_total{reason=\"message_rate\"}"],
        1.0
    );
    server.stop().await;
}

/// A SyncStep1 message with an empty state vector (asks for the whole document).
fn sync_request() -> Vec<u8> {
    Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1()
}

#[tokio::test]
async fn sync_request_floods_are_closed_even_when_packed_into_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.limits.max_sync_requests_per_minute = 1.0;
        c.limits.sync_request_burst = 3;
    })
    .await;
    let mut writer = Client::connect(&server.url("big")).await;
    writer.push(&"x".repeat(10_000)).await;
    writer.wait_saved().await;

    // One at a time: the handshake's request and two more fit the burst, the fourth does not.
    let mut one_by_one = Client::connect(&server.url("big")).await;
    for _ in 0..2 {
        one_by_one.send_bytes(sync_request()).await;
    }
    for _ in 0..3 {
        if !one_by_one.try_send_bytes(sync_request()).await {
            break;
        }
    }
    assert_eq!(one_by_one.drain_until_close().await.1, RATE_LIMITED);

    // Many in one frame are counted one by one, before the room answers any of them.
    let mut packed = Client::connect_raw(&server.url("big")).await;
    assert!(packed.try_send_bytes(sync_request().repeat(50)).await);
    let (frames, code) = packed.drain_until_close().await;
    assert_eq!(code, RATE_LIMITED);
    assert!(
        !frames.iter().any(|f| f.starts_with(&[0, 1])),
        "no diff (SyncStep2) was sent for the flood"
    );

    writer.push("!").await;
    writer.wait_saved().await;
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metrics["collab_refusals_total{reason=\"sync_request_rate\"}"],
        2.0
    );
    server.stop().await;
}

/// Inserting between two characters makes the room look up both positions (it walks the
/// document); typing on from there does not. A connection that keeps jumping around is closed
/// once over its budget; its last update, valid, is kept; a typist in the same room is not.
#[tokio::test]
async fn cursor_jumps_beyond_the_position_check_budget_are_closed_typing_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.limits.max_position_checks_per_second = 0.001;
        c.limits.position_check_burst = 3;
    })
    .await;
    let mut typist = Client::connect(&server.url("jumps")).await;
    typist.push("hello world").await;
    // One jump into the middle, then a typing run: one position check in all.
    for (k, c) in "typing on and on".chars().enumerate() {
        typist.insert(5 + k as u32, &c.to_string()).await;
    }
    typist.wait_saved().await;

    let mut jumper = Client::connect(&server.url("jumps")).await;
    jumper
        .wait_text("the document", |t| t.contains("typing on and on"))
        .await;
    for (k, c) in ["1", "2", "3", "4"].iter().enumerate() {
        jumper.insert(1 + 3 * k as u32, c).await;
    }
    assert_eq!(jumper.expect_close().await, RATE_LIMITED);

    typist
        .wait_text("the jumper's four insertions", |t| {
            ["1", "2", "3", "4"].iter().all(|c| t.contains(c))
        })
        .await;
    typist.insert(0, "still here").await;
    typist.wait_saved().await;
}

async fn room_members(addr: SocketAddr) -> u64 {
    let (status, body) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    health["connections"].as_u64().unwrap()
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_without_stalling_its_room() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| c.send_queue = 16).await;
    let url = server.url("slow");
    let mut writer = Client::connect(&url).await;
    let mut reader = Client::connect(&url).await;
    // Connected with a small receive window, and then never read from until the end.
    let mut slow = Client::connect_from(server.addr, "127.0.0.1", Some(4096), &url).await;
    eventually("three members", || async {
        room_members(server.addr).await == 3
    })
    .await;

    // Each round: an 8 KiB edit, which the reader must receive, until the server has dropped
    // the client that does not read. Its socket buffers fill, its send queue overflows.
    let chunk = "y".repeat(8 * 1024);
    let mut rounds = 0;
    while room_members(server.addr).await == 3 {
        rounds += 1;
        assert!(rounds <= 2000, "the slow client was never dropped");
        writer.push(&chunk).await;
        let expected = rounds * chunk.len();
        reader
            .wait_text("the reader to keep up", |t| t.len() == expected)
            .await;
    }
    writer.wait_saved().await;

    // Reading now, the slow client finds what fitted in its buffers, then the close code.
    let (frames, code) = slow.drain_until_close().await;
    assert_eq!(code, TOO_SLOW, "after {} frames", frames.len());
    let metrics = scrape(server.addr).await;
    assert_eq!(metrics["collab_refusals_total{reason=\"too_slow\"}"], 1.0);
    // The room still works for the others.
    writer.push("done").await;
    reader
        .wait_text("the reader after the drop", |t| t.ends_with("done"))
        .await;
    server.stop().await;
}
