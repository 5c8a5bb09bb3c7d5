//! Replays a real recorded editing session through the server, keystroke by keystroke, and
//! checks every reader, the stored text and a restarted server end with the recorded result.

use std::io::Read as _;

use yrs::{Text, Transact};

use crate::support::{stored_text, within, Client, TestServer};

#[derive(serde::Deserialize)]
struct Trace {
    #[serde(rename = "startContent")]
    start_content: String,
    #[serde(rename = "endContent")]
    end_content: String,
    txns: Vec<Txn>,
}

#[derive(serde::Deserialize)]
struct Txn {
    patches: Vec<(usize, usize, String)>,
}

fn load_trace(name: &str) -> Trace {
    let path = format!(
        "{}/tests/data/editing-traces/{name}.json.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

/// Byte offset of code point `index` in `text`.
fn byte_offset(text: &str, index: usize) -> usize {
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(offset, _)| offset)
}

#[tokio::test]
async fn a_recorded_editing_session_replays_exactly() {
    let trace = load_trace("sveltecomponent");
    assert!(trace.start_content.is_empty());
    let dir = tempfile::tempdir().unwrap();
    // The replay sends as fast as it can, far above any typist's rate (messages, and cursor
    // jumps that need position checks): neither rate is limited.
    let server = TestServer::start_with(dir.path(), |c| {
        c.limits.max_messages_per_second = 0.0;
        c.limits.max_position_checks_per_second = 0.0;
    })
    .await;
    let url = server.url("svelte");
    let mut writer = Client::connect(&url).await;
    let mut reader = Client::connect(&url).await;

    // One update per recorded transaction, as an editor sends them.
    let text = writer.doc.get_or_insert_text("content");
    let mut mirror = String::new();
    for (i, txn) in trace.txns.iter().enumerate() {
        let update = {
            let mut ytxn = writer.doc.transact_mut();
            for (position, deleted, inserted) in &txn.patches {
                let start = byte_offset(&mirror, *position);
                let end = byte_offset(&mirror, position + deleted);
                if end > start {
                    text.remove_range(&mut ytxn, start as u32, (end - start) as u32);
                }
                if !inserted.is_empty() {
                    text.insert(&mut ytxn, start as u32, inserted);
                }
                mirror.replace_range(start..end, inserted);
            }
            ytxn.encode_update_v1()
        };
        writer
            .send_message(yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(
                update,
            )))
            .await;
        writer.sent += 1;
        // Read the echoes now and then, as a browser would, so our own queue never overflows.
        if i % 500 == 499 {
            let sent = writer.sent - 1;
            within("echoes", writer.pump_until(|c| c.updates_received >= sent)).await;
        }
    }
    assert_eq!(
        mirror, trace.end_content,
        "the trace replays to its end content"
    );
    assert_eq!(writer.text(), trace.end_content);
    let end = trace.end_content.clone();
    reader
        .wait_text("the reader to see the whole session", |t| t == end)
        .await;
    writer.wait_saved().await;
    assert_eq!(
        stored_text(server.addr, "svelte").await.as_deref(),
        Some(end.as_str())
    );
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let fresh = Client::connect(&server.url("svelte")).await;
    assert_eq!(fresh.text(), trace.end_content);
    server.stop().await;
}
