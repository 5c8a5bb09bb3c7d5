//! Hostile input against the real `sync-server` binary, as a table: each case attacks its own
//! document on one shared server process, and is refused with the close code it names (or
//! ignored, where the protocol says so). After every case an honest client that was in the
//! document all along still gets its next edit acknowledged as durable, a fresh client loads
//! exactly the expected text, and the server process is the same one, still running.
//!
//! To add a case, add a row to `cases()`: either frames sent on a new connection (`frames`,
//! with an optional query string such as `?token=…`) with the expected outcome, or a script
//! (`script`) that gets the case's `Scene` and asserts what it needs.

use std::net::SocketAddr;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yrs::encoding::write::Write;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

use crate::support::{http_exchange, upgrade_request, within, Client, ServerProcess};

/// Largest message the shared server accepts (its `--max-message-size`).
const MAX_MESSAGE: usize = 64 * 1024;

/// Flags of the shared server. Pings are frequent so half-open sockets are noticed within
/// seconds; an honest client that stops reading for longer than the idle timeout would be
/// closed too, so cases that wait longer keep it reading (`while_honest_listens`).
const SERVER_ARGS: &[&str] = &[
    "--max-message-size",
    "65536",
    "--ping-interval",
    "1",
    "--idle-timeout",
    "5",
];

/// Cases running at once on the shared server (each on its own document).
const PARALLEL_CASES: usize = 4;

/// The text the honest client writes before each attack.
const HONEST_TEXT: &str = "honest text";

/// What the server should do with the frames of a case.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Close the attacking connection with this code.
    Close(u16),
    /// Keep the connection usable (it can still sync afterwards).
    Ignore,
}

/// An async script over a case's scene.
type Script = for<'a> fn(&'a mut Scene) -> BoxFuture<'a, ()>;

enum Attack {
    /// Connect to the case's document (URL plus `query`), send `frames` in order.
    Frames {
        query: &'static str,
        frames: Vec<WsMessage>,
        expect: Expect,
    },
    /// Anything else.
    Script(Script),
}

struct Case {
    name: &'static str,
    attack: Attack,
}

fn frames(name: &'static str, frames: Vec<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        attack: Attack::Frames {
            query: "",
            frames: frames.into_iter().map(bin).collect(),
            expect,
        },
    }
}

fn frame(name: &'static str, frame: Vec<u8>, expect: Expect) -> Case {
    frames(name, vec![frame], expect)
}

/// A sync Update message carrying `update`, refused by validation (4400).
fn refused_update(name: &'static str, update: Vec<u8>) -> Case {
    frame(name, update_frame(update), Expect::Close(4400))
}

fn script(name: &'static str, script: Script) -> Case {
    Case {
        name,
        attack: Attack::Script(script),
    }
}

/// One case's world: the shared server, the case's document and its honest client.
struct Scene {
    server: SocketAddr,
    doc: String,
    /// Connected before the attack, with `HONEST_TEXT` saved and presence "Ada" set.
    honest: Client,
    /// The text every client must end up with; scripts whose attack legitimately changes the
    /// document update it.
    expected: String,
}

impl Scene {
    fn url(&self) -> String {
        format!("ws://{}/sync/{}", self.server, self.doc)
    }

    fn honest_id(&self) -> u64 {
        self.honest.doc.client_id().get()
    }

    /// The honest client's next clock (where its next item would go).
    fn honest_clock(&self) -> u32 {
        self.honest.state_vector().get(&self.honest.doc.client_id())
    }
}

#[tokio::test]
async fn hostile_input_against_the_binary_harms_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let mut server =
        ServerProcess::start_with(&dir.path().join("hostile.sqlite3"), SERVER_ARGS, &[]).await;
    let (addr, pid) = (server.addr, server.pid());
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let total = cases.len();
    let mut runs = futures_util::stream::iter(cases.into_iter().enumerate())
        .map(|(i, case)| run_case(addr, i, case))
        .buffer_unordered(PARALLEL_CASES);
    let mut done = 0;
    while let Some(name) = runs.next().await {
        server.assert_running(name);
        assert_eq!(server.pid(), pid, "the server restarted after {name}");
        done += 1;
    }
    assert_eq!(done, total);
    let status = server.terminate().await;
    assert!(
        status.success(),
        "SIGTERM exits 0 after the attacks, got {status}"
    );
}

async fn run_case(server: SocketAddr, index: usize, case: Case) -> &'static str {
    let name = case.name;
    tracing::info!(case = name, "hostile case");
    eprintln!("hostile case {index}: {name}");
    let doc = format!("hostile-{index}");
    let mut honest = Client::connect(&format!("ws://{server}/sync/{doc}")).await;
    honest.push(HONEST_TEXT).await;
    honest.set_presence(1, r#"{"user":{"name":"Ada"}}"#).await;
    honest.wait_saved().await;
    within(
        &format!("Ada's presence before {name}"),
        honest.pump_until(|c| c.present_names() == ["Ada"]),
    )
    .await;
    let mut scene = Scene {
        server,
        doc,
        honest,
        expected: HONEST_TEXT.to_owned(),
    };
    match case.attack {
        Attack::Frames {
            query,
            frames,
            expect,
        } => {
            let mut attacker = Client::connect_raw(&format!("{}{query}", scene.url())).await;
            for frame in frames {
                if !attacker.try_send_ws(frame).await {
                    eprintln!("hostile case {name}: the server ended the connection during a send");
                }
            }
            expect_outcome(&mut attacker, expect, name).await;
        }
        Attack::Script(script) => within(name, script(&mut scene)).await,
    }
    assert_unharmed(&mut scene, name).await;
    name
}

/// Checks what the server did with an attacking connection.
async fn expect_outcome(attacker: &mut Client, expect: Expect, name: &str) {
    match expect {
        Expect::Close(code) => {
            assert_eq!(attacker.expect_close().await, code, "close code for {name}");
        }
        Expect::Ignore => {
            attacker.start_sync().await;
            within(name, attacker.pump_until(|c| c.synced)).await;
            assert!(attacker.text().contains(HONEST_TEXT), "after {name}");
        }
    }
}

/// The honest client sees exactly the expected text, its next edit is acknowledged as
/// durable, and a fresh client loads exactly that text.
async fn assert_unharmed(scene: &mut Scene, name: &str) {
    let expected = scene.expected.clone();
    scene
        .honest
        .wait_text(&format!("the honest client's text after {name}"), |t| {
            t == expected
        })
        .await;
    scene.honest.push(" +still here").await;
    scene.expected.push_str(" +still here");
    scene.honest.wait_saved().await;
    let fresh = Client::connect(&scene.url()).await;
    assert_eq!(
        fresh.text(),
        scene.expected,
        "a fresh client's text after {name}"
    );
    assert_eq!(scene.honest.text(), scene.expected, "after {name}");
}

fn cases() -> Vec<Case> {
    use Expect::{Close, Ignore};
    let mut lying_length = vec![0, 2];
    lying_length.write_var(u32::MAX); // a 4 GiB update "follows"
    lying_length.extend_from_slice(b"tiny");

    let mut huge_state_vector = Vec::new();
    huge_state_vector.write_var(u32::MAX);
    huge_state_vector.extend_from_slice(&[1, 1]);

    let mut million_clients = Vec::new();
    million_clients.write_var(1_000_000u32);
    million_clients.extend_from_slice(&[1, 1, 0]);

    let mut big_client_sv = Vec::new();
    big_client_sv.write_var(1u32);
    big_client_sv.write_var(1u64 << 53);
    big_client_sv.write_var(0u32);

    let mut valid_then_truncated = update_frame(valid_update("INJECTED"));
    valid_then_truncated.extend_from_slice(&[0, 2, 0x80]);

    let mut huge_awareness_string = Vec::new();
    huge_awareness_string.extend([1, 5, 1]);
    huge_awareness_string.write_var(u32::MAX);
    huge_awareness_string.extend(b"{}");

    let mut unknown_tag_lying = vec![77];
    unknown_tag_lying.write_var(1u64 << 40);
    unknown_tag_lying.extend([1, 2, 3]);

    let deep_json = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_json_object = format!("{{\"a\":{deep_json}}}");

    let many_awareness_queries = vec![3u8; 10_000];

    vec![
        // Framing.
        frame("an empty frame", vec![], Close(1007)),
        frame("a truncated varint", vec![0x80], Close(1007)),
        frame("an overlong varint tag", vec![0xff; 11], Close(1007)),
        frame("a sync tag with nothing after it", vec![0], Close(1007)),
        frame("an unknown sync message type", vec![0, 7, 0], Close(1007)),
        frame(
            "a tag that does not fit a byte",
            vec![0x80, 0x02, 0],
            Close(1007),
        ),
        frame("a length prefix claiming 4 GiB", lying_length, Close(1007)),
        frame(
            "an update shorter than its length prefix",
            vec![0, 2, 10, 1, 2, 3],
            Close(1007),
        ),
        frame(
            "a valid update followed by a truncated message in the same frame",
            valid_then_truncated,
            Close(1007),
        ),
        frame(
            "an unknown tag claiming 2^40 bytes",
            unknown_tag_lying,
            Close(1007),
        ),
        frame(
            "a message with an unknown tag",
            vec![77, 3, 1, 2, 3],
            Ignore,
        ),
        frame(
            "an auth message from a client",
            vec![2, 0, 4, b'l', b'e', b't', b'm'],
            Ignore,
        ),
        frame("an awareness query", vec![3], Ignore),
        // One frame asking for 10,000 answers: each message counts against the rate limit, so
        // it is refused before the room answers any of them.
        frame(
            "a frame of 10,000 awareness queries",
            many_awareness_queries,
            Close(4420),
        ),
        Case {
            name: "a text frame",
            attack: Attack::Frames {
                query: "",
                frames: vec![WsMessage::Text("hello".into())],
                expect: Close(1003),
            },
        },
        frame(
            "a frame larger than the maximum message size",
            vec![0; MAX_MESSAGE + 1],
            Close(1009),
        ),
        // State vectors.
        frame(
            "a state vector claiming 4 billion entries",
            sync_frame(0, &huge_state_vector),
            Close(1007),
        ),
        frame(
            "a state vector with a client id beyond 2^53",
            sync_frame(0, &big_client_sv),
            Close(1007),
        ),
        // Awareness.
        frame(
            "an awareness update claiming a million clients",
            awareness_payload_frame(million_clients),
            Close(1007),
        ),
        frame(
            "awareness with malformed JSON",
            awareness_frame(&[(5, 1, "{\"user\":")]),
            Close(1007),
        ),
        frame(
            "awareness whose state is not an object",
            awareness_frame(&[(5, 1, "[1,2,3]")]),
            Close(1007),
        ),
        frame(
            "awareness JSON nested 5000 deep",
            awareness_frame(&[(5, 1, &deep_json_object)]),
            Close(1007),
        ),
        frame(
            "awareness for a client id beyond 2^53",
            awareness_frame(&[(1 << 53, 1, "{}")]),
            Close(1007),
        ),
        frame(
            "an awareness state claiming a 4 GiB string",
            awareness_payload_frame(huge_awareness_string),
            Close(1007),
        ),
        script("awareness for a thousand client ids", awareness_flood),
        script("awareness for another connection's client", impersonation),
        // Updates that do not parse, or that yrs mishandles: refused before yrs sees them.
        refused_update("a garbage update", vec![0xff; 16]),
        frame(
            "a garbage SyncStep2",
            sync_frame(1, &[3, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]),
            Close(4400),
        ),
        refused_update("an empty update payload", vec![]),
        refused_update("a v2-encoded update", v2_update("INJECTED")),
        refused_update(
            "an update under a client id past 2^53",
            update_with_client_id(1 << 53),
        ),
        refused_update(
            "an update under client id u64::MAX",
            update_with_client_id(u64::MAX),
        ),
        refused_update(
            "an update with a clock near u32::MAX",
            update_at_clock(u64::from(u32::MAX) - 2),
        ),
        refused_update(
            "an update whose clock + length passes i32::MAX",
            update_at_clock(i32::MAX as u64 - 3),
        ),
        refused_update(
            "an origin with a clock near u32::MAX",
            item_with_origin(5, u64::from(u32::MAX) - 1),
        ),
        refused_update(
            "an origin under a client id past 2^53",
            item_with_origin(1 << 60, 0),
        ),
        refused_update("values nested 5000 levels deep", deeply_nested_update(5000)),
        refused_update("values nested 33 levels deep", deeply_nested_update(33)),
        // Found by fuzzing: yrs panics merging one client's sections written out of order.
        refused_update(
            "one client in four sections, clocks going backwards",
            vec![
                4, 1, 1, 155, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                1, 1, 1, 37, 1, 1, 69, 1, 3, 0,
            ],
        ),
        refused_update("a million client sections in a few bytes", {
            let mut u = Vec::new();
            u.write_var(1_000_000u32);
            u.extend([0, 0]);
            u
        }),
        refused_update("structs claimed past the bytes", {
            let mut u = vec![1, 100, 5, 0];
            u.extend([4, 1, 1, b'c', 1, b'x', 0]);
            u
        }),
        refused_update("a delete set claiming 2^30 clients", {
            let mut u = vec![0];
            u.write_var(1u32 << 30);
            u.extend([5, 1, 0, 1]);
            u
        }),
        refused_update(
            "an array of values claiming 2^32 entries",
            root_item(0, 8, &[0x80, 0x80, 0x80, 0x80, 0x10, 126]),
        ),
        refused_update(
            "a string claiming 4 GiB",
            root_item(0, 4, &[0xff, 0xff, 0xff, 0xff, 0x0f, b'x']),
        ),
        refused_update(
            "a binary value claiming 2^40 bytes",
            root_item(0, 3, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 1]),
        ),
        refused_update(
            "a string that is not UTF-8",
            root_item(0, 4, &[2, 0xc3, 0x28]),
        ),
        refused_update("subdocument content", subdocument_update()),
        refused_update("legacy JSON content", root_item(0, 2, &[1, 1, b'1'])),
        refused_update("an XmlHook type", root_item(0, 7, &[5])),
        refused_update("an unknown shared type", root_item(0, 7, &[42])),
        refused_update("an unknown content kind", root_item(0, 11, &[1])),
        refused_update("an unknown value tag", root_item(0, 8, &[1, 200])),
        refused_update("an empty string item", root_item(0, 4, &[0])),
        refused_update("an empty GC block", vec![1, 1, 5, 0, 0, 0, 0]),
        refused_update(
            "a delete range past i32::MAX",
            vec![0, 1, 5, 1, 0xfe, 0xff, 0xff, 0xff, 0x07, 5],
        ),
        refused_update("an empty delete range", vec![0, 1, 5, 1, 3, 0]),
        refused_update("trailing bytes after an update", {
            let mut u = valid_update("INJECTED");
            u.push(0);
            u
        }),
        // Updates that are well-formed but refer to what is not there: kept waiting by yrs,
        // never shown; more than a message's worth of them is refused.
        frame(
            "an item whose origin does not exist",
            update_frame(item_with_origin(77, 5)),
            Ignore,
        ),
        script(
            "items waiting for clocks nobody wrote, piled up",
            waiting_items_piled_up,
        ),
        refused_update("an item whose origin is itself", item_with_origin(5, 0)),
        // Found by the `apply` fuzz target: an item that names itself as its right origin and
        // overlaps what the document has (here the attacker's own deleted "hello world") was
        // cut by yrs into a part whose two origins are the same.
        frames(
            "an item that is its own right origin",
            vec![
                update_frame(deleted_hello_world()),
                update_frame(vec![
                    1, 1, 5, 10, 0x44, 5, 10, 6, 0xf0, 0x9f, 0x98, 0x80, 0xc3, 0xa9, 0,
                ]),
            ],
            Close(4400),
        ),
        // Nobody has written these clocks: yrs would delete whatever client 99 writes there.
        frame(
            "deletes of an unknown client's ranges",
            update_frame(vec![0, 1, 99, 1, 0, 100]),
            Close(4400),
        ),
        frame(
            "a lone skip block",
            update_frame(vec![1, 1, 5, 0, 10, 100, 0]),
            Ignore,
        ),
        script("delete squatting", deletes_past_clock),
        script(
            "an item whose parent is a text character",
            parent_is_a_character,
        ),
        script("clock squatting", clock_squatting),
        script("an item whose two origins are the same", same_origins),
        script(
            "an item whose right origin lies before its left origin",
            inverted_origins,
        ),
        // The document holds clocks 0..11 of client 5 in "content"; an item at 10..13 naming
        // another root type is cut by yrs to 11..13 with (5, 10) as its left origin, in
        // "content", while it keeps the parent "other": a reload would place it elsewhere.
        frames(
            "an item cut by what the document holds, naming another type",
            vec![
                update_frame(deleted_hello_world()),
                update_frame({
                    let mut out = update_head(10);
                    out.extend([4, 1]);
                    out.write_string("other");
                    out.write_string("abc");
                    out.push(0);
                    out
                }),
            ],
            Close(4400),
        ),
        script(
            "an item whose origins are invisible and inverted",
            inverted_origins_among_deleted_text,
        ),
        script(
            "formatting marks waiting after a gap",
            waiting_formatting_marks,
        ),
        script("400 concurrent siblings at one origin", concurrent_siblings),
        script("a half-open socket", half_open_socket),
        script("slowloris request heads", slowloris),
        script("upgrades to invalid document names", bad_document_names),
    ]
}

// Scripted cases.

fn awareness_flood(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let mut attacker = Client::connect(&scene.url()).await;
        let flood: Vec<(u64, u32, &str)> = (1..=1000)
            .map(|c| (c, 1, r#"{"user":{"name":"bot"}}"#))
            .collect();
        attacker.send_bytes(awareness_frame(&flood)).await;
        scene
            .honest
            .pump_until(|c| c.present_names().contains(&"bot".to_owned()))
            .await;
        let bots = scene
            .honest
            .present_names()
            .iter()
            .filter(|n| *n == "bot")
            .count();
        assert_eq!(bots, 16, "states per connection are capped");
        // Closing the attacker removes everything it set; Ada stays.
        attacker.close().await;
        scene
            .honest
            .pump_until(|c| c.present_names() == ["Ada"])
            .await;
    })
}

fn impersonation(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let ada = scene.honest_id();
        let mut attacker = Client::connect(&scene.url()).await;
        attacker
            .send_bytes(awareness_frame(&[(
                ada,
                5,
                r#"{"user":{"name":"Mallory"}}"#,
            )]))
            .await;
        attacker
            .send_bytes(awareness_frame(&[(ada, 6, "null")]))
            .await;
        // The attacker's own presence still goes through, so its messages were handled.
        let own = attacker.doc.client_id().get();
        attacker
            .send_bytes(awareness_frame(&[(own, 1, r#"{"user":{"name":"Zed"}}"#)]))
            .await;
        scene
            .honest
            .pump_until(|c| c.present_names().contains(&"Zed".to_owned()))
            .await;
        assert_eq!(scene.honest.present_names(), ["Ada", "Zed"]);
    })
}

/// The attacker writes a root item under the honest client's id at its next clock, hoping the
/// server later drops the honest client's real edit as a duplicate.
fn clock_squatting(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let mut squat = vec![1, 1];
        squat.write_var(scene.honest_id());
        squat.write_var(scene.honest_clock());
        squat.extend([4, 1]);
        squat.write_string("content");
        squat.write_string("INJECTED");
        squat.push(0);
        let mut attacker = Client::connect_raw(&scene.url()).await;
        attacker.send_bytes(update_frame(squat)).await;
        assert_eq!(attacker.expect_close().await, 4403);
    })
}

/// Left and right origin both the honest client's sixth character: yrs integrated it one
/// way live and another way after encoding and reloading (found by the `apply` fuzz target).
fn same_origins(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let mut update = vec![1, 1, 5, 0, 0x80 | 0x40 | 4];
        for _ in 0..2 {
            update.write_var(scene.honest_id());
            update.push(5);
        }
        update.write_string("INJECTED");
        update.push(0);
        let mut attacker = Client::connect_raw(&scene.url()).await;
        attacker.send_bytes(update_frame(update)).await;
        assert_eq!(attacker.expect_close().await, 4400);
    })
}

/// Left origin the honest text's space, right origin the 't' before it: yrs placed such an
/// item one way live and another way after encoding and reloading (found by the `apply` fuzz
/// target). Refused after applying; the room reloads the document.
fn inverted_origins(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let space = HONEST_TEXT.find(' ').expect("a space") as u32;
        let mut update = vec![1, 1, 5, 0, 0x80 | 0x40 | 4];
        for clock in [space, space - 1] {
            update.write_var(scene.honest_id());
            update.write_var(clock);
        }
        update.write_string("INJECTED");
        update.push(0);
        let mut attacker = Client::connect_raw(&scene.url()).await;
        attacker.send_bytes(update_frame(update)).await;
        assert_eq!(attacker.expect_close().await, 4400);
    })
}

/// Writes the `apply` fuzz target's base document under client ids 1 and 2 from an attacker's
/// connection ("hello world" by client 1 with "ll" deleted; client 2's "ABC" after "heo " with
/// "B" deleted), waits until the honest client has it, and sends `attack` from the same
/// connection: `Some(code)`, it must be closed with that code; `None`, it stays open.
async fn on_fuzz_base(scene: &mut Scene, attack: Vec<u8>, close: Option<u16>) {
    let first = Doc::with_client_id(1);
    let text = first.get_or_insert_text("content");
    text.insert(&mut first.transact_mut(), 0, "hello world");
    text.remove_range(&mut first.transact_mut(), 2, 2);
    let state = first
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let second = doc_from(&state, 2);
    let text = second.get_or_insert_text("content");
    text.insert(&mut second.transact_mut(), 4, "ABC");
    text.remove_range(&mut second.transact_mut(), 5, 1);
    let base = second
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let reference = doc_from(
        &scene
            .honest
            .doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default()),
        3,
    );
    reference
        .transact_mut()
        .apply_update(Update::decode_v1(&base).unwrap())
        .unwrap();
    scene.expected = reference
        .get_or_insert_text("content")
        .get_string(&reference.transact());
    let mut attacker = Client::connect_raw(&scene.url()).await;
    attacker.send_bytes(update_frame(base)).await;
    let expected = scene.expected.clone();
    scene
        .honest
        .wait_text("the base text", |t| t == expected)
        .await;
    attacker.send_bytes(update_frame(attack)).await;
    match close {
        Some(code) => assert_eq!(attacker.expect_close().await, code),
        None => {
            // Still served: it can sync again.
            attacker.start_sync().await;
            within(
                "the attacker syncing again",
                attacker.pump_until(|c| c.synced),
            )
            .await;
        }
    }
}

/// Found by the `apply` fuzz target (minimized, on its base document). A deleted item of
/// client 2 whose two origins lie inside a deleted run of client 1 in inverted order, and
/// visible characters anchored in that run: positions cannot order the origins, so the room
/// checks the update as a whole and refuses it; the document reloads, with the base text kept.
fn inverted_origins_among_deleted_text(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let attack = vec![
            2, 13, 2, 1, 0, 3, 0, 20, 0, 1, 193, 1, 67, 1, 65, 50, 132, 1, 1, 1, 8, 0, 100, 132, 1,
            68, 1, 0, 0, 7, 0, 1, 0, 100, 0, 1, 0, 1, 0, 120, 2, 1, 8, 1, 1, 7, 99, 111, 110, 116,
            101, 110, 116, 100, 0, 1, 0,
        ];
        on_fuzz_base(scene, attack, Some(4400)).await;
    })
}

/// Found by the `apply` fuzz target: formatting marks of client 2 after a gap in its clocks,
/// the first with a right origin nobody wrote, so yrs keeps them waiting. Accepted (they wait,
/// unseen) and harmless. (What the fuzz target found with it, a whole-document check that
/// mistook them for misplaced items, is covered by `same_order`'s `waiting_items_stay_waiting`:
/// positions decide this update, so the room makes no whole check here.)
fn waiting_formatting_marks(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let attack = vec![
            1, 3, 2, 7, 70, 2, 3, 4, 98, 111, 108, 100, 4, 116, 114, 117, 101, 198, 2, 2, 2, 1, 4,
            98, 111, 108, 100, 4, 110, 117, 108, 108, 228, 3, 136, 2, 2, 4, 7, 34, 105, 109, 97,
            103, 101, 34, 0,
        ];
        on_fuzz_base(scene, attack, None).await;
    })
}

/// Items whose origins nobody wrote, so yrs keeps every one waiting: once they pass a
/// message's worth (64 KiB), the update that goes over is refused.
fn waiting_items_piled_up(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let mut attacker = Client::connect_raw(&scene.url()).await;
        let filler = "w".repeat(8 * 1024);
        for k in 0..16u64 {
            let mut update = update_head(k * 10_000);
            update.extend([0x80 | 4, 77]);
            update.write_var(k);
            update.write_string(&filler);
            update.push(0);
            attacker.send_bytes(update_frame(update)).await;
        }
        assert_eq!(attacker.expect_close().await, 4400);
    })
}

/// Deletes of the honest client's clocks beyond what it wrote ("delete squatting"): yrs would
/// keep them pending and delete the honest client's next edit, so they are refused.
fn deletes_past_clock(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let mut update = vec![0, 1];
        update.write_var(scene.honest_id());
        update.push(1);
        update.write_var(scene.honest_clock());
        update.write_var(1000u32);
        let mut attacker = Client::connect_raw(&scene.url()).await;
        attacker.send_bytes(update_frame(update)).await;
        assert_eq!(attacker.expect_close().await, 4400);
    })
}

/// An item whose parent is a character of the text, not a shared type.
fn parent_is_a_character(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let mut update = vec![1, 1, 5, 0];
        update.push(4); // string content, no origins: the parent follows
        update.push(0); // parent is an item id…
        update.write_var(scene.honest_id()); // …the honest client's first character
        update.push(0);
        update.write_string("INJECTED");
        update.push(0);
        let mut attacker = Client::connect_raw(&scene.url()).await;
        attacker.send_bytes(update_frame(update)).await;
        // yrs would take it and then write a snapshot that no longer loads: refused up front.
        assert_eq!(attacker.expect_close().await, 4400);
    })
}

/// Many clients insert at the same place concurrently, each update sent on its own: every
/// one of them lands in a deterministic order, the honest text stays whole.
fn concurrent_siblings(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        // Under the message burst (500): more, sent this fast, are refused by the rate limit.
        const SIBLINGS: u64 = 400;
        let mut attacker = Client::connect(&scene.url()).await;
        let base = attacker
            .doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let reference = doc_from(&base, 1);
        let reference_text = reference.get_or_insert_text("content");
        let mut frames = Vec::new();
        for k in 0..SIBLINGS {
            let sibling = doc_from(&base, 1_000 + k);
            let text = sibling.get_or_insert_text("content");
            let update = {
                let mut txn = sibling.transact_mut();
                text.insert(&mut txn, 6, "*");
                txn.encode_update_v1()
            };
            reference
                .transact_mut()
                .apply_update(Update::decode_v1(&update).unwrap())
                .unwrap();
            frames.push(update_frame(update));
        }
        for frame in frames {
            attacker.send_bytes(frame).await;
        }
        scene.expected = reference_text.get_string(&reference.transact());
        assert_eq!(
            scene.expected.matches('*').count(),
            SIBLINGS as usize,
            "the reference holds every sibling"
        );
        let expected = scene.expected.clone();
        attacker
            .wait_text("every sibling echoed", |t| t == expected)
            .await;
    })
}

/// A socket that completes the upgrade and then never answers a ping is closed with 4408.
fn half_open_socket(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (server, path) = (scene.server, format!("/sync/{}", scene.doc));
        while_honest_listens(&mut scene.honest, half_open(server, path)).await;
    })
}

async fn half_open(server: SocketAddr, path: String) {
    {
        let mut silent = tokio::net::TcpStream::connect(server).await.unwrap();
        silent
            .write_all(upgrade_request(server, &path).as_bytes())
            .await
            .unwrap();
        let mut received = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match silent.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with("HTTP/1.1 101"), "{text}");
        // Somewhere in the stream: a close frame (0x88) carrying code 4408.
        let close = received
            .windows(4)
            .any(|w| w[0] == 0x88 && w[2..4] == 4408u16.to_be_bytes());
        assert!(close, "no close frame with 4408 in {received:?}");
    }
}

/// Sockets that say nothing, or send half a request head and stall, are closed by the
/// server's request timeout (10 s in the binary), while everyone else is served.
fn slowloris(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (server, doc) = (scene.server, scene.doc.clone());
        let attack = async move {
            let mut silent = tokio::net::TcpStream::connect(server).await.unwrap();
            let mut stalled = tokio::net::TcpStream::connect(server).await.unwrap();
            stalled
                .write_all(format!("GET /sync/{doc} HTTP/1.1\r\nHost: x\r\nUpg").as_bytes())
                .await
                .unwrap();
            for socket in [&mut silent, &mut stalled] {
                let mut rest = Vec::new();
                let _ = socket.read_to_end(&mut rest).await;
                assert!(
                    !String::from_utf8_lossy(&rest).contains(" 101 "),
                    "an unfinished head was upgraded"
                );
            }
        };
        while_honest_listens(&mut scene.honest, attack).await;
    })
}

/// Runs `attack` while the honest client keeps reading (and so answering pings).
async fn while_honest_listens<T>(
    honest: &mut Client,
    attack: impl std::future::Future<Output = T>,
) -> T {
    let listening = async {
        while honest.pump_one().await {}
        panic!(
            "the honest client was disconnected ({:?})",
            honest.closed_with
        );
    };
    tokio::select! {
        value = attack => value,
        never = listening => never,
    }
}

fn bad_document_names(scene: &mut Scene) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let long = format!("/sync/{}", "a".repeat(129));
        for path in ["/sync/bad%20name", "/sync/..", "/sync/a%2Fb", long.as_str()] {
            let response = http_exchange(scene.server, &upgrade_request(scene.server, path)).await;
            assert_eq!(response.status, 400, "upgrade to {path}");
        }
    })
}

// Building blocks.

fn bin(bytes: Vec<u8>) -> WsMessage {
    WsMessage::Binary(bytes.into())
}

fn sync_frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, kind];
    Write::write_buf(&mut frame, payload);
    frame
}

fn update_frame(update: Vec<u8>) -> Vec<u8> {
    Message::Sync(SyncMessage::Update(update)).encode_v1()
}

/// A document holding `state`, writing under `client`.
fn doc_from(state: &[u8], client: u64) -> Doc {
    let doc = Doc::with_client_id(client);
    doc.transact_mut()
        .apply_update(Update::decode_v1(state).unwrap())
        .unwrap();
    doc
}

/// A valid update inserting `text` from a throwaway document.
fn valid_update(text: &str) -> Vec<u8> {
    let doc = Doc::new();
    let shared = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    shared.insert(&mut txn, 0, text);
    txn.encode_update_v1()
}

/// The same insert, v2-encoded.
fn v2_update(text: &str) -> Vec<u8> {
    let doc = Doc::new();
    let shared = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    shared.insert(&mut txn, 0, text);
    txn.encode_update_v2()
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

/// "hello world" by client 5 at clocks 0..11, deleted in the same update: the document
/// holds the clocks, the text does not change.
fn deleted_hello_world() -> Vec<u8> {
    let mut out = update_head(0);
    out.extend([4, 1]);
    out.write_string("content");
    out.write_string("hello world");
    out.extend([1, 5, 1, 0, 11]);
    out
}

/// A string item by client 5 at clock 0 whose left origin is (`client`, `clock`).
fn item_with_origin(client: u64, clock: u64) -> Vec<u8> {
    let mut out = update_head(0);
    out.push(0x80 | 4);
    out.write_var(client);
    out.write_var(clock);
    out.write_string("INJECTED");
    out.push(0);
    out
}

fn update_at_clock(clock: u64) -> Vec<u8> {
    root_item(clock, 4, &[6, b'I', b'N', b'J', b'E', b'C', b'T'])
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

fn awareness_payload_frame(payload: Vec<u8>) -> Vec<u8> {
    let mut frame = vec![1];
    Write::write_buf(&mut frame, payload);
    frame
}

fn awareness_frame(entries: &[(u64, u32, &str)]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.write_var(entries.len());
    for &(client, clock, json) in entries {
        payload.write_var(client);
        payload.write_var(clock);
        payload.write_string(json);
    }
    awareness_payload_frame(payload)
}
