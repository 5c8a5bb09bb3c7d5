//! Hostile input: each case is refused with a clear close code (or ignored where the protocol
//! says so), and afterwards the server still serves honest clients and the stored text is
//! exactly what the honest clients wrote.

use std::time::Duration;

use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::encoding::write::Write;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;
use yrs::{Doc, Text, Transact};

use crate::support::{stored_text, upgrade_request, within, Client, TestServer};

const MAX_MESSAGE: usize = 64 * 1024;

/// What the server should do with a hostile input.
enum Expect {
    /// Close the connection with this code.
    Close(u16),
    /// Ignore it and keep the connection usable.
    Ignore,
}

/// A server with two honest clients on the document the attacks target.
struct Victim {
    server: TestServer,
    a: Client,
    b: Client,
    expected: String,
    round: usize,
}

impl Victim {
    async fn start(dir: &std::path::Path) -> Victim {
        let server = TestServer::start_with(dir, |c| c.max_message_size = MAX_MESSAGE).await;
        let mut a = Client::connect(&server.url("victim")).await;
        let b = Client::connect(&server.url("victim")).await;
        a.push("honest text").await;
        a.wait_saved().await;
        Victim {
            server,
            a,
            b,
            expected: "honest text".into(),
            round: 0,
        }
    }

    /// Honest clients still edit and see each other, and storage holds exactly their text.
    async fn assert_unharmed(&mut self, case: &str) {
        self.round += 1;
        let marker = format!(" +{}", self.round);
        self.a.push(&marker).await;
        self.expected.push_str(&marker);
        let expected = self.expected.clone();
        self.b
            .wait_text(&format!("b to see a's edit after {case}"), |t| {
                t == expected
            })
            .await;
        self.a.wait_saved().await;
        assert_eq!(self.a.text(), self.expected, "after {case}");
        assert_eq!(
            stored_text(self.server.addr, "victim").await.as_deref(),
            Some(self.expected.as_str()),
            "stored text after {case}"
        );
    }
}

fn sync_frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, kind];
    frame.write_buf(payload);
    frame
}

/// A valid update inserting `text` from a throwaway document.
fn valid_update(text: &str) -> Vec<u8> {
    let doc = Doc::new();
    let shared = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    shared.insert(&mut txn, 0, text);
    txn.encode_update_v1()
}

/// A valid one-insert update whose client id is replaced by `client`.
fn update_with_client_id(client: u64) -> Vec<u8> {
    let doc = Doc::with_client_id(5);
    let shared = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    shared.insert(&mut txn, 0, "INJECTED");
    let update = txn.encode_update_v1();
    // v1 layout: client count, then per client: struct count, client id, clock, structs.
    assert_eq!(update[..4], [1, 1, 5, 0]);
    let mut patched = update[..2].to_vec();
    patched.write_var(client);
    patched.extend_from_slice(&update[3..]);
    patched
}

/// The v1 head of an update with one struct by client 5 at `clock`: clients, structs, id.
fn update_head(clock: u64) -> Vec<u8> {
    let mut out = vec![1, 1, 5];
    out.write_var(clock);
    out
}

/// A root-level item in "content" whose content is `content` (kind byte first).
fn root_item(clock: u64, kind: u8, content: &[u8]) -> Vec<u8> {
    let mut out = update_head(clock);
    out.push(kind);
    out.push(1);
    out.write_string("content");
    out.extend_from_slice(content);
    out.push(0); // empty delete set
    out
}

fn update_at_clock(clock: u64) -> Vec<u8> {
    root_item(clock, 4, &[5, b'I', b'N', b'J', b'E', b'C'])
}

pub(crate) fn deeply_nested_update(depth: usize) -> Vec<u8> {
    let mut content = vec![1]; // one Any value…
    for _ in 0..depth {
        content.extend([117, 1]); // …an array holding one…
    }
    content.push(126); // …null
    root_item(0, 8, &content)
}

fn subdocument_update() -> Vec<u8> {
    root_item(0, 9, &[4, b'g', b'u', b'i', b'd', 118, 0])
}

fn awareness_frame(entries: &[(u64, u32, &str)]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.write_var(entries.len());
    for &(client, clock, json) in entries {
        payload.write_var(client);
        payload.write_var(clock);
        payload.write_string(json);
    }
    let mut frame = vec![1];
    frame.write_buf(payload);
    frame
}

#[tokio::test]
async fn hostile_frames_are_refused_and_harm_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let mut victim = Victim::start(dir.path()).await;

    let mut lying_length = vec![0, 2];
    lying_length.write_var(u32::MAX); // a 4 GiB update "follows"
    lying_length.extend_from_slice(b"tiny");

    let mut huge_state_vector = Vec::new();
    huge_state_vector.write_var(u32::MAX);
    huge_state_vector.extend_from_slice(&[1, 1]);

    let mut million_clients = Vec::new();
    million_clients.write_var(1_000_000u32);
    million_clients.extend_from_slice(&[1, 1, 0]);
    let mut million_clients_frame = vec![1];
    million_clients_frame.write_buf(million_clients);

    let mut big_client_sv = Vec::new();
    big_client_sv.write_var(1u32);
    big_client_sv.write_var(1u64 << 53);
    big_client_sv.write_var(0u32);

    let mut valid_then_truncated =
        Message::Sync(SyncMessage::Update(valid_update("INJECTED"))).encode_v1();
    valid_then_truncated.extend_from_slice(&[0, 2, 0x80]);

    let mut cases: Vec<(&str, WsMessage, Expect)> = vec![
        ("an empty frame", bin(vec![]), Expect::Close(1007)),
        ("a truncated varint", bin(vec![0x80]), Expect::Close(1007)),
        (
            "a length prefix claiming 4 GiB",
            bin(lying_length),
            Expect::Close(1007),
        ),
        (
            "a state vector claiming 4 billion entries",
            bin(sync_frame(0, &huge_state_vector)),
            Expect::Close(1007),
        ),
        (
            "an awareness update claiming a million clients",
            bin(million_clients_frame),
            Expect::Close(1007),
        ),
        (
            "an unknown sync message type",
            bin(vec![0, 7, 0]),
            Expect::Close(1007),
        ),
        (
            "a tag that does not fit a byte",
            bin(vec![0x80, 0x02, 0]),
            Expect::Close(1007),
        ),
        (
            "a garbage update",
            bin(sync_frame(2, &[0xff; 16])),
            Expect::Close(4400),
        ),
        (
            "a garbage SyncStep2",
            bin(sync_frame(1, &[3, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2])),
            Expect::Close(4400),
        ),
        (
            "a valid update followed by a truncated message in the same frame",
            bin(valid_then_truncated),
            Expect::Close(1007),
        ),
        (
            "a text frame",
            WsMessage::Text("hello".into()),
            Expect::Close(1003),
        ),
        (
            "a frame larger than the maximum message size",
            bin(vec![0; MAX_MESSAGE + 1]),
            Expect::Close(1009),
        ),
        (
            "awareness with malformed JSON",
            bin(awareness_frame(&[(5, 1, "{\"user\":")])),
            Expect::Close(1007),
        ),
        (
            "awareness whose state is not an object",
            bin(awareness_frame(&[(5, 1, "[1,2,3]")])),
            Expect::Close(1007),
        ),
        (
            "awareness for a client id beyond 2^53",
            bin(awareness_frame(&[(1 << 53, 1, "{}")])),
            Expect::Close(1007),
        ),
        (
            "a state vector with a client id beyond 2^53",
            bin(sync_frame(0, &big_client_sv)),
            Expect::Close(1007),
        ),
        (
            "a message with an unknown tag",
            bin(vec![77, 3, 1, 2, 3]),
            Expect::Ignore,
        ),
        (
            "an auth message from a client",
            bin(vec![2, 0, 4, b'l', b'e', b't', b'm']),
            Expect::Ignore,
        ),
    ];
    // Updates that decode but that yrs mishandles: refused by validation before yrs sees them.
    let crafted = [
        (
            "an update under a client id past 2^53",
            update_with_client_id(1 << 53),
        ),
        (
            "an update with a clock near u32::MAX",
            update_at_clock(u64::from(u32::MAX) - 2),
        ),
        (
            "an update nesting values 5000 levels deep",
            deeply_nested_update(5000),
        ),
        ("an update with a subdocument", subdocument_update()),
    ];
    for (name, update) in crafted {
        cases.push((
            name,
            bin(Message::Sync(SyncMessage::Update(update)).encode_v1()),
            Expect::Close(4400),
        ));
    }
    assert!(cases.len() >= 20);

    for (case, frame, expect) in cases {
        eprintln!("hostile case: {case}");
        let mut attacker = Client::connect_raw(&victim.server.url("victim")).await;
        attacker.send_ws(frame).await;
        match expect {
            Expect::Close(code) => {
                assert_eq!(attacker.expect_close().await, code, "close code for {case}");
            }
            Expect::Ignore => {
                // The connection still works: it can sync.
                attacker.start_sync().await;
                within(case, attacker.pump_until(|c| c.synced)).await;
                assert!(attacker.text().starts_with("honest text"), "after {case}");
            }
        }
        victim.assert_unharmed(case).await;
        assert!(!victim.b.text().contains("INJECTED"), "{case} was applied");
    }
    victim.server.stop().await;
}

fn bin(bytes: Vec<u8>) -> WsMessage {
    WsMessage::Binary(bytes.into())
}

#[tokio::test]
async fn one_connection_cannot_flood_presence() {
    let dir = tempfile::tempdir().unwrap();
    let mut victim = Victim::start(dir.path()).await;
    let mut attacker = Client::connect(&victim.server.url("victim")).await;
    let flood: Vec<(u64, u32, &str)> = (1..=1000)
        .map(|c| (c, 1, r#"{"user":{"name":"bot"}}"#))
        .collect();
    attacker.send_bytes(awareness_frame(&flood)).await;
    within(
        "the capped flood to arrive",
        victim.b.pump_until(|c| !c.presence.is_empty()),
    )
    .await;
    assert_eq!(
        victim.b.presence.len(),
        16,
        "states per connection are capped"
    );
    // Closing the attacker removes everything it set.
    attacker.close().await;
    within(
        "the flood to be removed",
        victim
            .b
            .pump_until(|c| c.presence.values().all(Option::is_none)),
    )
    .await;
    victim.assert_unharmed("an awareness flood").await;
    victim.server.stop().await;
}

#[tokio::test]
async fn half_open_connections_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(300);
    })
    .await;
    // A client that completes the upgrade, then never answers anything (like a peer whose
    // network vanished).
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    silent
        .write_all(upgrade_request(server.addr, "/sync/half-open").as_bytes())
        .await
        .unwrap();
    let mut received = Vec::new();
    within("the server to drop the silent connection", async {
        let mut chunk = [0u8; 1024];
        loop {
            match silent.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    // Somewhere in the stream: a close frame (0x88) carrying code 4408.
    let close = received
        .windows(4)
        .any(|w| w[0] == 0x88 && w[2..4] == 4408u16.to_be_bytes());
    assert!(close, "no close frame with 4408 in {received:?}");

    // Meanwhile the server serves everyone else.
    let mut a = Client::connect(&server.url("half-open")).await;
    a.push("still serving").await;
    a.wait_saved().await;
    server.stop().await;
}

#[tokio::test]
async fn connections_that_never_finish_a_request_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.request_timeout = Duration::from_millis(200);
    })
    .await;
    // One socket says nothing; another sends half a request head and stalls (slowloris).
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut stalled = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(b"GET /sync/victim HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for (name, socket) in [("silent", &mut silent), ("stalled", &mut stalled)] {
        let mut rest = Vec::new();
        within(
            &format!("the server to close the {name} socket"),
            socket.read_to_end(&mut rest),
        )
        .await
        .ok();
    }
    // Others are served all along.
    let mut a = Client::connect(&server.url("victim")).await;
    a.push("served").await;
    a.wait_saved().await;
    server.stop().await;
}

#[tokio::test]
async fn nobody_can_write_under_a_connected_clients_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut victim = Victim::start(dir.path()).await;
    // Clock squatting: the attacker sends an item under a's client id at a's next clock,
    // hoping the server drops a's real edit as a duplicate.
    let a_client = victim.a.doc.client_id();
    let next_clock = victim.a.state_vector().get(&a_client);
    let squat = {
        // One root-level string item under a's id at a's next clock, with no origin.
        let mut update = vec![1, 1];
        update.write_var(a_client.get());
        update.write_var(next_clock);
        update.extend([4, 1]);
        update.write_string("content");
        update.write_string("INJECTED");
        update.push(0);
        update
    };
    let mut attacker = Client::connect_raw(&victim.server.url("victim")).await;
    attacker
        .send_message(Message::Sync(SyncMessage::Update(squat)))
        .await;
    assert_eq!(attacker.expect_close().await, 4403);
    victim.assert_unharmed("clock squatting").await;
    assert!(!victim.b.text().contains("INJECTED"));
    victim.server.stop().await;
}

#[tokio::test]
async fn nobody_can_change_or_clear_another_connections_presence() {
    let dir = tempfile::tempdir().unwrap();
    let mut victim = Victim::start(dir.path()).await;
    let a_client = victim.a.doc.client_id().get();
    victim.a.set_presence(1, r#"{"user":{"name":"Ada"}}"#).await;
    within(
        "b to see Ada",
        victim.b.pump_until(|c| c.present_names() == ["Ada"]),
    )
    .await;
    let mut attacker = Client::connect(&victim.server.url("victim")).await;
    attacker
        .send_bytes(awareness_frame(&[(
            a_client,
            5,
            r#"{"user":{"name":"Mallory"}}"#,
        )]))
        .await;
    attacker
        .send_bytes(awareness_frame(&[(a_client, 6, "null")]))
        .await;
    // The attacker's own presence still goes through, so we know its messages were handled.
    let attacker_client = attacker.doc.client_id().get();
    attacker
        .send_bytes(awareness_frame(&[(
            attacker_client,
            1,
            r#"{"user":{"name":"Zed"}}"#,
        )]))
        .await;
    within(
        "b to see Zed",
        victim
            .b
            .pump_until(|c| c.present_names().contains(&"Zed".to_owned())),
    )
    .await;
    assert_eq!(victim.b.present_names(), ["Ada", "Zed"]);
    victim.server.stop().await;
}
