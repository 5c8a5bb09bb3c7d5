//! Observability: `/metrics` is well-formed Prometheus text whose counters follow what clients
//! do; `/readyz` turns 503 while storage cannot commit and back to 200 after; `--log-format
//! json` writes one JSON object a line, and no log line carries a query string.

use std::collections::HashMap;

use crate::support::{
    eventually, http_get, scrape, try_upgrade, within, Client, ServerProcess, TestServer,
};

fn get(metrics: &HashMap<String, f64>, sample: &str) -> f64 {
    *metrics
        .get(sample)
        .unwrap_or_else(|| panic!("no sample {sample} in /metrics"))
}

#[tokio::test]
async fn metrics_follow_connections_edits_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| c.limits.max_connections_per_ip = 2).await;
    let before = scrape(server.addr).await;
    assert_eq!(get(&before, "collab_connections_open"), 0.0);
    assert_eq!(get(&before, "collab_connections_total"), 0.0);
    assert_eq!(get(&before, "collab_documents_loaded"), 0.0);
    assert_eq!(get(&before, "collab_storage_commit_seconds_count"), 0.0);

    let mut a = Client::connect(&server.url("counted")).await;
    let b = Client::connect(&server.url("counted")).await;
    a.push("hello").await;
    a.wait_saved().await;
    let (status, _) = try_upgrade(server.addr, "/sync/counted").await;
    assert_eq!(status, 429);

    let after = scrape(server.addr).await;
    assert_eq!(get(&after, "collab_connections_open"), 2.0);
    assert_eq!(get(&after, "collab_connections_total"), 2.0);
    assert_eq!(get(&after, "collab_documents_loaded"), 1.0);
    assert_eq!(get(&after, "collab_updates_applied_total"), 1.0);
    // Each client sent SyncStep1 and SyncStep2 (and `a` an update); each got at least the
    // server's SyncStep1 and SyncStep2 (and the broadcast, and `a` its ack).
    assert!(get(&after, "collab_messages_received_total") >= 5.0);
    assert!(get(&after, "collab_received_bytes_total") > 5.0);
    assert!(get(&after, "collab_messages_sent_total") >= 7.0);
    assert!(get(&after, "collab_sent_bytes_total") > 7.0);
    assert_eq!(
        get(
            &after,
            "collab_refusals_total{reason=\"max_connections_per_ip\"}"
        ),
        1.0
    );
    assert_eq!(
        get(&after, "collab_refusals_total{reason=\"message_rate\"}"),
        0.0
    );
    assert!(get(&after, "collab_storage_commit_seconds_count") >= 1.0);
    assert!(get(&after, "collab_storage_commit_batch_size_sum") >= 1.0);
    assert!(get(&after, "collab_ack_latency_seconds_count") >= 1.0);
    assert_eq!(
        get(&after, "collab_ack_latency_seconds_bucket{le=\"+Inf\"}"),
        get(&after, "collab_ack_latency_seconds_count")
    );

    a.close().await;
    b.close().await;
    eventually("the open-connections gauge to fall to 0", || async {
        get(&scrape(server.addr).await, "collab_connections_open") == 0.0
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn readyz_is_503_while_storage_cannot_commit_and_200_again_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    assert_eq!(
        http_get(server.addr, "/readyz").await,
        (200, "ready\n".into())
    );
    let mut client = Client::connect(&server.url("locked")).await;
    client.push("before").await;
    client.wait_saved().await;

    // Another process holds the database's write lock: the server's commits time out (its
    // busy timeout) and fail until the lock goes.
    let mut other = rusqlite::Connection::open(&server.data).unwrap();
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    client.push(" during").await;
    eventually("/readyz to report failing commits", || async {
        http_get(server.addr, "/readyz").await == (503, "storage commits are failing\n".into())
    })
    .await;
    assert_eq!(http_get(server.addr, "/healthz").await.0, 200, "still live");
    drop(lock);
    client.wait_saved().await;
    assert_eq!(
        http_get(server.addr, "/readyz").await,
        (200, "ready\n".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn json_logs_are_json_lines_without_query_strings() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_logging(
        &dir.path().join("collab.sqlite3"),
        &["--log-format", "json", "--log", "debug"],
    )
    .await;
    let secret = "s3cr3t-t0ken";
    let url = format!("ws://{}/sync/logged", server.addr);
    let mut client = Client::connect_raw(&format!("{url}?token={secret}&ext=1")).await;
    client.start_sync().await;
    within("sync", client.pump_until(|c| c.synced)).await;
    client.push("logged edit").await;
    client.wait_saved().await;
    // A refused frame logs a warning; a bad path and a missing file log too.
    let mut rude = Client::connect_raw(&format!("{url}?token={secret}")).await;
    rude.send_ws(tokio_tungstenite::tungstenite::Message::text("hi"))
        .await;
    assert_eq!(rude.drain_until_close().await.1, 1003);
    assert_eq!(
        http_get(server.addr, &format!("/nope?token={secret}"))
            .await
            .0,
        404
    );
    client.close().await;

    let logs = within("the server to stop", server.terminate_and_read_logs()).await;
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "expected some logs, got {logs:?}");
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(value["level"].is_string(), "{line}");
        assert!(value["fields"].is_object(), "{line}");
        assert!(!line.contains(secret), "a query string was logged: {line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("refused a text frame")),
        "{logs}"
    );
}
