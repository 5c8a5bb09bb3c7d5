//! Randomized convergence against the real binary: eight clients, each with its own yrs
//! document, make random concurrent inserts and deletes, disconnect, edit offline and come
//! back; all end with the same text. Then the server is killed with SIGKILL and restarted on
//! the same file, and a fresh client loads that whole text (every edit was acknowledged).
//!
//! The RNG seed is printed; `CONVERGENCE_SEED=N` replays a run.

use yrs::{Doc, GetString, Text, Transact};

use crate::support::{within, Client, ServerProcess};

const CLIENTS: usize = 8;
const STEPS: usize = 300;
const DOC: &str = "converge";

/// A client is online (a connected `Client`) or offline (just its document).
enum Peer {
    Online(Box<Client>),
    Offline(Doc),
}

#[tokio::test]
async fn random_concurrent_edits_converge_and_survive_sigkill() {
    let seed = std::env::var("CONVERGENCE_SEED")
        .ok()
        .map(|s| s.parse().expect("CONVERGENCE_SEED is a number"))
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("convergence seed: {seed} (CONVERGENCE_SEED={seed} replays this run)");
    let mut rng = fastrand::Rng::with_seed(seed);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("converge.sqlite3");
    let server = ServerProcess::start(&data).await;
    let url = server.url(DOC);

    let mut peers = Vec::new();
    for _ in 0..CLIENTS {
        peers.push(Peer::Online(Box::new(Client::connect(&url).await)));
    }
    let (mut edits, mut reconnects) = (0, 0);
    for _ in 0..STEPS {
        let i = rng.usize(..CLIENTS);
        let roll = rng.u8(..100);
        peers[i] = match std::mem::replace(&mut peers[i], Peer::Offline(Doc::new())) {
            Peer::Online(mut client) if roll < 8 => {
                // Leave, keeping the document (and its client id) for offline edits. A clean
                // close: the server has let go of the client id before it comes back.
                let doc = client.doc.clone();
                client.wait_saved().await;
                client.close().await;
                Peer::Offline(doc)
            }
            Peer::Online(mut client) => {
                let len = client.text().len() as u32;
                if roll < 70 || len == 0 {
                    let at = rng.u32(..=len);
                    client.insert(at, &random_word(&mut rng)).await;
                } else {
                    let at = rng.u32(..len);
                    let n = rng.u32(1..=(len - at).min(8));
                    client.delete(at, n).await;
                }
                edits += 1;
                // Now and then, read what the others sent (otherwise it waits in the socket).
                if roll.is_multiple_of(4) {
                    let sent = client.sent;
                    within("acks", client.pump_until(|c| c.acked >= sent)).await;
                }
                Peer::Online(client)
            }
            Peer::Offline(doc) if roll < 30 => {
                reconnects += 1;
                Peer::Online(Box::new(Client::connect_with_doc(&url, doc).await))
            }
            Peer::Offline(doc) => {
                offline_edit(&doc, &mut rng);
                edits += 1;
                Peer::Offline(doc)
            }
        };
    }
    eprintln!("convergence: {edits} edits, {reconnects} reconnects");

    // Everyone comes back and waits until the server has committed all they sent.
    let mut clients = Vec::new();
    for peer in peers {
        let mut client = match peer {
            Peer::Online(client) => *client,
            Peer::Offline(doc) => Client::connect_with_doc(&url, doc).await,
        };
        client.wait_saved().await;
        clients.push(client);
    }
    // The server holds every edit now; each client converges to its state. A state vector
    // does not cover deletions, so each client asks for the server's state (SyncStep1): the
    // reply comes after every broadcast already queued for it and carries the whole delete set.
    let reference = Client::connect(&url).await;
    let expected = reference.text();
    for (i, client) in clients.iter_mut().enumerate() {
        client.synced = false;
        client.start_sync().await;
        within(
            &format!("client {i} to get the server's state"),
            client.pump_until(|c| c.synced),
        )
        .await;
        assert_eq!(client.text(), expected, "client {i} (seed {seed})");
    }
    assert!(!expected.is_empty());

    server.kill_9().await;
    let server = ServerProcess::start(&data).await;
    let fresh = Client::connect(&server.url(DOC)).await;
    assert_eq!(
        fresh.text(),
        expected,
        "text after SIGKILL and restart (seed {seed})"
    );
    let status = server.terminate().await;
    assert!(status.success());
}

fn random_word(rng: &mut fastrand::Rng) -> String {
    let len = rng.usize(1..6);
    (0..len).map(|_| rng.lowercase()).collect()
}

/// An insert or delete made while disconnected, sent by the next sync handshake.
fn offline_edit(doc: &Doc, rng: &mut fastrand::Rng) {
    let text = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    let len = text.get_string(&txn).len() as u32;
    if len == 0 || rng.bool() {
        let at = rng.u32(..=len);
        text.insert(&mut txn, at, &random_word(rng));
    } else {
        let at = rng.u32(..len);
        let n = rng.u32(1..=(len - at).min(8));
        text.remove_range(&mut txn, at, n);
    }
}
