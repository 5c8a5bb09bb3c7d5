//! Large documents: (f) join storms (many clients join one large document at once) and (g)
//! server memory per loaded document. The documents are plain text made with yrs, and seeded
//! through each server's own protocol as Update messages of `PIECE` bytes of text each.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::sync::{watch, Barrier, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use yrs::updates::decoder::Decode as _;
use yrs::updates::encoder::Encode as _;
use yrs::{Doc, GetString as _, ReadTxn as _, StateVector, Text as _, Transact as _, Update};

use crate::scenarios::{latency, nonce, Latency};
use crate::servers::{self, Running, Target};
use crate::wire::{self, Incoming, Peer};

/// Text per seeding Update message: 512 KiB, far under every server's message limit (ours:
/// 4 MiB by default), the size of the edits in issue 12.
pub const PIECE: usize = 512 * 1024;

/// A document of `Y.Text("content")` and how it is seeded.
pub struct BigDoc {
    /// What a client that holds the whole document has as its text.
    pub text: String,
    /// One v1 update per transaction of `PIECE` bytes of text appended at the end.
    pub pieces: Vec<Vec<u8>>,
    /// The document's state vector, as (client, clock) and encoded.
    pub want: Vec<(u64, u64)>,
    pub state_vector: Vec<u8>,
    /// The whole document as one v1 update (what a single SyncStep2 of it carries).
    pub encoded_bytes: usize,
}

/// `bytes` of text (lowercase words, spaces, newlines, one word in ~40 with a two-byte `é`),
/// written by client `client` in pieces; the text is the same for the same `seed`.
pub fn make(bytes: usize, client: u64, seed: u64) -> BigDoc {
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    const LETTERS: &[u8] = b"etaoinshrdlucmfwypvbgkjqxz";
    let doc = Doc::with_client_id(client);
    let ytext = doc.get_or_insert_text("content");
    let mut text = String::with_capacity(bytes + 16);
    let mut pieces = Vec::new();
    let mut words = 0u32;
    while text.len() < bytes {
        let stop = (text.len() + PIECE).min(bytes);
        let start = text.len();
        while text.len() < stop {
            let r = next();
            let len = 1 + (r % 9) as usize;
            for k in 0..len {
                if text.len() >= stop {
                    break;
                }
                if k == 1 && r % 40 == 7 && text.len() + 2 <= stop {
                    text.push('é');
                } else {
                    text.push(LETTERS[((r >> (8 + 4 * k)) % 26) as usize] as char);
                }
            }
            words += 1;
            if text.len() < stop {
                text.push(if words.is_multiple_of(14) { '\n' } else { ' ' });
            }
        }
        let mut txn = doc.transact_mut();
        ytext.push(&mut txn, &text[start..]);
        pieces.push(txn.encode_update_v1());
    }
    let txn = doc.transact();
    let sv = txn.state_vector();
    let want = sv.iter().map(|(c, k)| (c.get(), u64::from(*k))).collect();
    BigDoc {
        encoded_bytes: txn.encode_state_as_update_v1(&StateVector::default()).len(),
        state_vector: sv.encode_v1(),
        want,
        pieces,
        text,
    }
}

/// Reads (and drops) whatever the server sends `peer` until `stop`, so it never waits on us.
fn drain(mut peer: Peer, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                m = peer.ws.next() => if !matches!(m, Some(Ok(_))) { break },
            }
        }
    })
}

/// Seeds `doc` into the document `name` and returns the seeding client, still connected (it
/// keeps the document loaded): a handshake, then every piece as one Update message. Done when
/// the server has applied all of them — ours: every piece acknowledged as durable (`?ext=1`);
/// the peers: the answer to a SyncStep1 (with the full state vector) sent after the last piece,
/// since both handle one connection's messages in order.
async fn seed(
    addr: std::net::SocketAddr,
    target: &Target,
    name: &str,
    doc: &BigDoc,
    index: usize,
    limit: Duration,
) -> anyhow::Result<Peer> {
    let query = if target.ours { "?ext=1" } else { "" };
    let path = format!("{}{}{}", target.path, name, query);
    let config = wire::large_documents();
    let mut peer = wire::connect_with(addr, &path, target.framing, name, index, config).await?;
    let framing = peer.framing;
    tokio::time::timeout(limit, async move {
        peer.handshake().await?;
        // Read while writing, so that nothing the server sends meanwhile can stall it.
        let (mut sink, mut stream) = peer.ws.split();
        let writing = async {
            for piece in &doc.pieces {
                sink.send(Message::binary(framing.update(name, piece)))
                    .await?;
            }
            if !target.ours {
                sink.send(Message::binary(framing.step1_with(name, &doc.state_vector)))
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        };
        let total = doc.pieces.len() as u64;
        let reading = async {
            loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(b))) => match framing.parse(&b) {
                        Incoming::Ack(n) if target.ours && n >= total => return Ok(()),
                        Incoming::Step2(_) if !target.ours => return Ok(()),
                        _ => {}
                    },
                    Some(Ok(Message::Close(c))) => bail!("closed while seeding: {c:?}"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => bail!("connection ended while seeding"),
                }
            }
        };
        let (written, read) = tokio::join!(writing, reading);
        written.context("sending the pieces")?;
        read?;
        peer.ws = sink.reunite(stream).context("reuniting the socket")?;
        Ok::<_, anyhow::Error>(peer)
    })
    .await
    .with_context(|| format!("seeding took over {limit:?}"))?
}

#[derive(Debug, Clone, Serialize)]
pub struct StormResult {
    pub clients: usize,
    pub doc_text_bytes: usize,
    pub doc_encoded_bytes: usize,
    pub pieces: usize,
    pub seed_ms: f64,
    /// Each client's time limit.
    pub limit_s: f64,
    /// Clients that held the whole document, checked after the storm (text equal, exactly).
    pub held: usize,
    pub failed: usize,
    /// Why the others did not, with how many clients each.
    pub failures: BTreeMap<String, usize>,
    /// Connect → holding the whole document, over the clients that held it.
    pub latency: Latency,
    /// The same times, sorted (ms), so the report can put the failed clients at infinity.
    pub times_ms: Vec<f64>,
    /// From the first connect to the last client holding the document (or giving up).
    pub wall_ms: f64,
    pub rss_before_mb: f64,
    pub peak_rss_mb: f64,
    pub peak_how: String,
    /// Bytes the clients read from their sockets during the storm (server → clients: HTTP
    /// upgrade, WebSocket framing and every message included).
    pub bytes_to_clients: u64,
    /// Payload bytes of the SyncStep2 and Update messages the joiners received.
    pub sync_payload_bytes: u64,
}

impl StormResult {
    /// What is known of a storm before its clients join: the document and the seeding; no
    /// client counted, nothing measured.
    fn before(clients: usize, doc: &BigDoc, seed_ms: f64, limit: Duration) -> StormResult {
        StormResult {
            clients,
            doc_text_bytes: doc.text.len(),
            doc_encoded_bytes: doc.encoded_bytes,
            pieces: doc.pieces.len(),
            seed_ms,
            limit_s: limit.as_secs_f64(),
            held: 0,
            failed: 0,
            failures: BTreeMap::new(),
            latency: Latency::default(),
            times_ms: Vec::new(),
            wall_ms: 0.0,
            rss_before_mb: 0.0,
            peak_rss_mb: 0.0,
            peak_how: String::new(),
            bytes_to_clients: 0,
            sync_payload_bytes: 0,
        }
    }
}

struct Joined {
    ms: Option<f64>,
    failure: Option<String>,
    frames: Vec<Bytes>,
    payload: u64,
}

/// One joiner: waits at `gate`, then connects, asks for everything (SyncStep1 with an empty
/// state vector) and reads until the SyncStep2 and Update payloads it received cover the whole
/// state vector (`wire::update_ranges`, headers only) or `limit` passes; then stays connected,
/// draining, until `stop`. Keeps the frames for the exact check after the storm.
#[allow(clippy::too_many_arguments)]
async fn joiner(
    addr: std::net::SocketAddr,
    target: Target,
    name: String,
    index: usize,
    want: Arc<Vec<(u64, u64)>>,
    gate: Arc<Barrier>,
    limit: Duration,
    finished: Arc<AtomicUsize>,
    last_ns: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Joined {
    gate.wait().await;
    let t0 = Instant::now();
    let mut out = Joined {
        ms: None,
        failure: None,
        frames: Vec::new(),
        payload: 0,
    };
    let mut ranges = Vec::new();
    let path = format!("{}{}", target.path, name);
    let framing = target.framing;
    let ws = tokio::time::timeout(limit, async {
        let mut peer =
            wire::connect_with(addr, &path, framing, &name, index, wire::large_documents())
                .await
                .map_err(|e| format!("cannot connect: {e:#}"))?;
        if let Some(auth) = framing.auth(&name) {
            peer.ws
                .feed(Message::binary(auth))
                .await
                .map_err(|e| format!("cannot send: {e}"))?;
        }
        peer.send(framing.step1(&name))
            .await
            .map_err(|e| format!("cannot send: {e:#}"))?;
        loop {
            match peer.ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    let body = match framing.parse_payload(&b) {
                        Incoming::Step2Body(p) | Incoming::Update(p) => p,
                        _ => continue,
                    };
                    out.payload += body.len() as u64;
                    if wire::update_ranges(body, &mut ranges).is_none() {
                        return Err("received an update it cannot decode".to_owned());
                    }
                    out.frames.push(b);
                    if wire::covers(&mut ranges, &want) {
                        out.ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
                        return Ok(peer);
                    }
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(match c {
                        Some(c) => {
                            format!("closed by the server: {} {}", c.code, c.reason.as_str())
                        }
                        None => "closed by the server".to_owned(),
                    })
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("connection error: {e}")),
                None => return Err("connection ended".to_owned()),
            }
        }
    })
    .await;
    let peer = match ws {
        Ok(Ok(peer)) => Some(peer),
        Ok(Err(why)) => {
            out.failure = Some(why);
            None
        }
        Err(_) => {
            out.failure = Some(format!(
                "did not hold the whole document within {} s",
                limit.as_secs()
            ));
            None
        }
    };
    last_ns.fetch_max(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    finished.fetch_add(1, Ordering::Relaxed);
    // Stay connected until every joiner is done, as the clients of a real storm would.
    if let Some(mut peer) = peer {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                m = peer.ws.next() => if !matches!(m, Some(Ok(_))) { break },
            }
        }
    }
    out
}

/// Applies every SyncStep2/Update payload a joiner received to a fresh yrs Doc and compares its
/// text with the seeded one.
fn verify(frames: &[Bytes], framing: wire::Framing, text: &str) -> Result<(), String> {
    let doc = Doc::new();
    let ytext = doc.get_or_insert_text("content");
    // One transaction per payload: yrs merges the new items at each commit. All of them in one
    // transaction took ~2 s and 1.6 GB for a 40 MB document in 77 pieces (the merge at the end
    // is quadratic); this takes ~0.1 s.
    for f in frames {
        if let Incoming::Step2Body(p) | Incoming::Update(p) = framing.parse_payload(f) {
            let u = Update::decode_v1(p).map_err(|e| format!("undecodable update: {e}"))?;
            doc.transact_mut()
                .apply_update(u)
                .map_err(|e| format!("update not applicable: {e}"))?;
        }
    }
    let got = ytext.get_string(&doc.transact());
    if got.len() != text.len() || got != text {
        return Err(format!(
            "held a different text ({} bytes, want {})",
            got.len(),
            text.len()
        ));
    }
    Ok(())
}

/// Polls the server's VmRSS every 5 ms until `stop`; returns the highest seen.
fn poll_rss(pid: u32, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut peak = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => peak = peak.max(servers::rss_bytes(pid).unwrap_or(0)),
            }
        }
        peak
    })
}

/// (f): a fresh server, `doc` seeded into one document, then `clients` clients joining it all
/// at once; each is timed from its connect to holding the whole document, bounded by `limit`.
pub async fn join_storm(
    target: &Target,
    tmp: &std::path::Path,
    doc: Arc<BigDoc>,
    clients: usize,
    limit: Duration,
) -> anyhow::Result<StormResult> {
    let server = servers::start(target, tmp, None, &[]).await?;
    let r = storm_on(&server, target, doc, clients, limit).await;
    server.kill().await;
    let (mut result, joined, doc) = r?;
    // The exact check, after the storm and off the clock: every claimed document applied.
    let framing = target.framing;
    let checked = tokio::task::spawn_blocking(move || {
        joined
            .into_iter()
            .map(|j| match (j.ms, j.failure) {
                (Some(ms), None) => verify(&j.frames, framing, &doc.text).map(|()| ms),
                (_, Some(why)) => Err(why),
                (None, None) => Err("no result".to_owned()),
            })
            .collect::<Vec<_>>()
    })
    .await?;
    let mut times = Vec::new();
    for c in checked {
        match c {
            Ok(ms) => times.push(ms),
            Err(why) => *result.failures.entry(why).or_default() += 1,
        }
    }
    times.sort_by(f64::total_cmp);
    result.held = times.len();
    result.failed = clients - times.len();
    result.latency = latency(times.iter().map(|ms| (ms * 1000.0) as u32).collect());
    result.times_ms = times;
    Ok(result)
}

async fn storm_on(
    server: &Running,
    target: &Target,
    doc: Arc<BigDoc>,
    clients: usize,
    limit: Duration,
) -> anyhow::Result<(StormResult, Vec<Joined>, Arc<BigDoc>)> {
    let name = format!("{}storm", nonce());
    let t = Instant::now();
    let seeded = seed(
        server.addr,
        target,
        &name,
        &doc,
        0,
        Duration::from_secs(300),
    )
    .await;
    let seed_ms = t.elapsed().as_secs_f64() * 1000.0;
    let seeder = match seeded {
        Ok(peer) => peer,
        // Ours not taking the document is a finding (no client can hold it); a reference
        // server not taking it means the instrument is wrong.
        Err(e) if target.ours => {
            let rss = server.rss_bytes() as f64 / 1e6;
            let why = format!("never joined: the server did not take the document: {e:#}");
            let result = StormResult {
                failed: clients,
                failures: BTreeMap::from([(why, clients)]),
                wall_ms: f64::NAN,
                rss_before_mb: rss,
                peak_rss_mb: f64::NAN,
                peak_how: "not measured (seeding failed)".to_owned(),
                ..StormResult::before(clients, &doc, seed_ms, limit)
            };
            return Ok((result, Vec::new(), doc));
        }
        Err(e) => return Err(e.context("seeding the document")),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let seeding = drain(seeder, stop_rx.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_bytes();
    let reset = servers::reset_peak_rss(server.pid);
    let (poll_tx, poll_rx) = watch::channel(false);
    let poller = poll_rss(server.pid, poll_rx);

    let gate = Arc::new(Barrier::new(clients + 1));
    let finished = Arc::new(AtomicUsize::new(0));
    let last_ns = Arc::new(AtomicU64::new(0));
    let want = Arc::new(doc.want.clone());
    let mut tasks = JoinSet::new();
    for i in 0..clients {
        tasks.spawn(joiner(
            server.addr,
            target.clone(),
            name.clone(),
            1 + i,
            want.clone(),
            gate.clone(),
            limit,
            finished.clone(),
            last_ns.clone(),
            stop_rx.clone(),
        ));
    }
    let rx0 = wire::WIRE_RX.load(Ordering::Relaxed);
    gate.wait().await;
    // Every joiner gives up by itself after `limit`; a little more here for connects.
    let deadline = Instant::now() + limit + Duration::from_secs(10);
    while finished.load(Ordering::Relaxed) < clients && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rx1 = wire::WIRE_RX.load(Ordering::Relaxed);
    let _ = poll_tx.send(true);
    let polled = poller.await.unwrap_or(0);
    let hwm = if reset {
        servers::peak_rss_bytes(server.pid)
    } else {
        None
    };
    let (peak, how) = match hwm {
        Some(h) => (h.max(polled), "VmHWM, reset before the storm"),
        None => (polled, "VmRSS polled every 5 ms"),
    };
    let _ = stop_tx.send(true);
    let mut joined = Vec::with_capacity(clients);
    while let Some(j) = tasks.join_next().await {
        joined.push(j?);
    }
    let _ = seeding.await;
    let result = StormResult {
        wall_ms: last_ns.load(Ordering::Relaxed) as f64 / 1e6,
        rss_before_mb: rss_before as f64 / 1e6,
        peak_rss_mb: peak as f64 / 1e6,
        peak_how: how.to_owned(),
        bytes_to_clients: rx1 - rx0,
        sync_payload_bytes: joined.iter().map(|j| j.payload).sum(),
        ..StormResult::before(clients, &doc, seed_ms, limit)
    };
    Ok((result, joined, doc))
}

#[derive(Debug, Clone, Serialize)]
pub struct DocMemoryLevel {
    pub documents: usize,
    pub doc_bytes_total: usize,
    pub rss_mb: f64,
    pub rss_growth_mb: f64,
    /// RSS growth over the empty server ÷ the documents' encoded size.
    pub growth_per_doc_byte: f64,
    /// Whole RSS ÷ the documents' encoded size.
    pub rss_per_doc_byte: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocMemoryResult {
    pub doc_text_bytes: usize,
    pub doc_encoded_bytes: usize,
    pub rss_base_mb: f64,
    pub levels: Vec<DocMemoryLevel>,
}

/// (g): a fresh server; `docs` distinct documents loaded in steps up to each of `levels`
/// (seeded as in (f); the seeding client then stays connected, idle, so the server keeps the
/// document in memory); RSS after `settle` at each step.
pub async fn doc_memory(
    target: &Target,
    tmp: &std::path::Path,
    docs: Arc<Vec<BigDoc>>,
    levels: &[usize],
    settle: Duration,
) -> anyhow::Result<DocMemoryResult> {
    let server = servers::start(target, tmp, None, &[]).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let r = async {
        let prefix = nonce();
        // A warm connection to an empty document, as in (c), before the base line.
        let path = format!("{}{}w", target.path, prefix);
        let mut warm =
            wire::connect(server.addr, &path, target.framing, &format!("{prefix}w"), 0).await?;
        warm.handshake().await?;
        let mut idle = vec![drain(warm, stop_rx.clone())];
        tokio::time::sleep(settle).await;
        let base = server.rss_bytes();
        let mut levels_out = Vec::new();
        let mut loaded = 0;
        let gate = Arc::new(Semaphore::new(4));
        for &level in levels {
            let level = level.min(docs.len());
            let mut set = JoinSet::new();
            for i in loaded..level {
                let (gate, docs, target) = (gate.clone(), docs.clone(), target.clone());
                let name = format!("{prefix}d{i}");
                let addr = server.addr;
                set.spawn(async move {
                    let _permit = gate.acquire_owned().await?;
                    seed(
                        addr,
                        &target,
                        &name,
                        &docs[i],
                        1 + i,
                        Duration::from_secs(120),
                    )
                    .await
                    .with_context(|| format!("loading document {i}"))
                });
            }
            while let Some(p) = set.join_next().await {
                idle.push(drain(p??, stop_rx.clone()));
            }
            loaded = level;
            tokio::time::sleep(settle).await;
            let rss = server.rss_bytes();
            let total: usize = docs[..level].iter().map(|d| d.encoded_bytes).sum();
            let growth = rss.saturating_sub(base);
            levels_out.push(DocMemoryLevel {
                documents: level,
                doc_bytes_total: total,
                rss_mb: rss as f64 / 1e6,
                rss_growth_mb: growth as f64 / 1e6,
                growth_per_doc_byte: growth as f64 / total.max(1) as f64,
                rss_per_doc_byte: rss as f64 / total.max(1) as f64,
            });
        }
        let _ = stop_tx.send(true);
        for t in idle {
            let _ = t.await;
        }
        Ok::<_, anyhow::Error>(DocMemoryResult {
            doc_text_bytes: docs.first().map_or(0, |d| d.text.len()),
            doc_encoded_bytes: docs.first().map_or(0, |d| d.encoded_bytes),
            rss_base_mb: base as f64 / 1e6,
            levels: levels_out,
        })
    }
    .await;
    server.kill().await;
    r
}
