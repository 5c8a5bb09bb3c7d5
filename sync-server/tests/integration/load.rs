//! Load against the real binary: 5,000 WebSocket connections held at once, and in one busy
//! document a consumer that stops reading. The other clients' updates keep reaching a sample
//! of readers, and the slow one is disconnected (4429 or a dropped socket) instead of stalling
//! the room.
//!
//! Only the busy document's members receive its updates (a broadcast goes to every member),
//! so the other connections are spread over idle documents: filling the slow consumer's send
//! queue takes about a thousand broadcasts, which to 5,000 members would be millions of frames.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Doc, Text, Transact};

use crate::support::{http_get, within, ServerProcess};

/// Connections held at once, the busy document's included.
const CONNECTIONS: usize = 5_000;
/// Extra flags for the server under load. Connection caps (total, and per IP or per document
/// where the server has them) must allow every connection of this test from 127.0.0.1.
const LOAD_SERVER_ARGS: &[&str] = &[
    "--max-connections",
    "20000",
    // Every connection comes from 127.0.0.1.
    "--max-connections-per-ip",
    "20000",
    // The writers send as fast as they can, well over a typist's rate limit.
    "--max-messages-per-second",
    "0",
];
/// Connections opened concurrently while connecting.
const CONNECT_BATCH: usize = 250;
/// Idle documents the bulk of the connections are spread over.
const IDLE_DOCS: usize = 50;
const WRITERS: usize = 4;
const SAMPLE_READERS: usize = 16;
/// Updates each writer sends per round, between checks.
const UPDATES_PER_ROUND: usize = 16;
/// Bound on rounds: the slow consumer must be gone long before.
const MAX_ROUNDS: usize = 400;
const BUSY_DOC: &str = "load-busy";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_connections_and_a_slow_consumer() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("raise RLIMIT_NOFILE");
    // This process holds one descriptor per connection, and the server (which inherits the
    // raised limit) holds one per connection too.
    assert!(
        limit >= CONNECTIONS as u64 + 200,
        "the open-file limit is {limit}; the load test needs {} or more",
        CONNECTIONS + 200
    );
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let server =
        ServerProcess::start_with(&dir.path().join("load.sqlite3"), LOAD_SERVER_ARGS, &[]).await;
    let addr = server.addr;

    // The busy document: sample readers, writers, and the slow consumer.
    let mut readers = Vec::new();
    for _ in 0..SAMPLE_READERS {
        readers.push(spawn_reader(connect(addr, BUSY_DOC).await));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (sink, stream) = connect(addr, BUSY_DOC).await.split();
        let echoes = spawn_reader(stream);
        writers.push((sink, echoes, Doc::with_client_id(1_000 + w as u64)));
    }
    let mut slow = connect_slow(addr, BUSY_DOC).await;

    // Everyone else, on idle documents, connected in parallel batches.
    let busy = SAMPLE_READERS + WRITERS + 1;
    let mut idle = Vec::with_capacity(CONNECTIONS - busy);
    let docs: Vec<String> = (0..CONNECTIONS - busy)
        .map(|i| format!("load-idle-{}", i % IDLE_DOCS))
        .collect();
    for batch in docs.chunks(CONNECT_BATCH) {
        let joined =
            futures_util::future::join_all(batch.iter().map(|doc| connect(addr, doc))).await;
        idle.extend(joined.into_iter().map(spawn_reader));
    }
    assert_eq!(
        healthz_connections(addr).await,
        CONNECTIONS,
        "connections held"
    );
    eprintln!("load: {CONNECTIONS} connections in {:?}", started.elapsed());

    // Writers send in rounds; after each, every sample reader has every update so far.
    let mut sent = 0u64;
    let mut rounds = 0;
    while healthz_connections(addr).await == CONNECTIONS {
        rounds += 1;
        assert!(
            rounds <= MAX_ROUNDS,
            "the slow consumer was never disconnected"
        );
        for (sink, _, doc) in &mut writers {
            for _ in 0..UPDATES_PER_ROUND {
                sink.send(WsMessage::Binary(kilobyte_update(doc).into()))
                    .await
                    .expect("writer sends");
                sent += 1;
            }
        }
        for reader in &mut readers {
            within(
                "a sample reader to receive every update",
                reader.wait_for(|&n| n >= sent),
            )
            .await
            .expect("sample reader still connected");
        }
    }
    eprintln!(
        "load: slow consumer dropped after {sent} updates ({rounds} rounds), {:?} in",
        started.elapsed()
    );
    // The slow consumer reads at last: what was buffered, then the end of the connection.
    let mut received = 0u64;
    let ending = within("the slow consumer's connection to end", async {
        loop {
            match slow.next().await {
                Some(Ok(WsMessage::Binary(frame))) if frame.starts_with(&[0, 2]) => received += 1,
                Some(Ok(WsMessage::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break None,
            }
        }
    })
    .await;
    assert!(
        ending.is_none() || ending == Some(4429),
        "slow consumer closed with {ending:?}"
    );
    assert!(received < sent, "the slow consumer got all {sent} updates");
    // Everyone else is still connected, and the writers saw their own updates echoed.
    assert_eq!(healthz_connections(addr).await, CONNECTIONS - 1);
    for (_, echoes, _) in &mut writers {
        within("echoes", echoes.wait_for(|&n| n >= sent))
            .await
            .unwrap();
    }
    drop(idle);
    let status = server.terminate().await;
    assert!(status.success(), "SIGTERM exits 0 under load, got {status}");
    eprintln!("load: done in {:?}", started.elapsed());
}

/// A reader task's count of update messages received; it ends with the connection.
type Count = watch::Receiver<u64>;

fn spawn_reader(
    mut stream: impl futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Unpin
        + Send
        + 'static,
) -> Count {
    let (count, receiver) = watch::channel(0u64);
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let WsMessage::Binary(frame) = message {
                if frame.starts_with(&[0, 2]) {
                    count.send_modify(|n| *n += 1);
                }
            }
        }
    });
    receiver
}

fn small_buffers() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Connects to `doc` and waits for the server's first message (its SyncStep1), which it sends
/// once the connection has joined the room.
async fn connect(addr: SocketAddr, doc: &str) -> Socket {
    let url = format!("ws://{addr}/sync/{doc}");
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(&url, Some(small_buffers()), false)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    let first = within("the server's SyncStep1", socket.next()).await;
    assert!(matches!(first, Some(Ok(WsMessage::Binary(_)))), "{first:?}");
    socket
}

/// A connection whose receive buffer is as small as the kernel allows, so the server's
/// messages back up into its send queue soon after it stops reading (which it does at once).
async fn connect_slow(
    addr: SocketAddr,
    doc: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let url = format!("ws://{addr}/sync/{doc}");
    let (socket, _) =
        tokio_tungstenite::client_async_with_config(&url, stream, Some(small_buffers()))
            .await
            .unwrap();
    socket
}

/// An update inserting 1 KiB at the end of the writer's own text.
fn kilobyte_update(doc: &Doc) -> Vec<u8> {
    let text = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    let len = text.len(&txn);
    text.insert(&mut txn, len, &"x".repeat(1024));
    Message::Sync(SyncMessage::Update(txn.encode_update_v1())).encode_v1()
}

async fn healthz_connections(addr: SocketAddr) -> usize {
    let (status, body) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    health["connections"].as_u64().unwrap() as usize
}
