//! The scenarios. Every one is bounded in connections, updates and time.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::servers::{self, Running, Target};
use crate::trace::CLIENT_BASE;
use crate::wire::{self, Incoming, Peer};

/// The one monotonic clock writers and readers share: nanoseconds since the bench started.
pub fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A unique prefix for document names, so no run ever meets an earlier run's document.
pub fn nonce() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "b{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Sent {
    times: Vec<AtomicU64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub rooms: usize,
    pub writers: usize,
    pub readers: usize,
    /// Updates per second over all writers of all rooms.
    pub rate: f64,
    pub seconds: f64,
    /// Ask for durable acknowledgements (`?ext=1`, ours only).
    pub ext: bool,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

pub fn latency(mut us: Vec<u32>) -> Latency {
    if us.is_empty() {
        return Latency::default();
    }
    us.sort_unstable();
    let at = |q: f64| f64::from(us[((us.len() as f64 - 1.0) * q).round() as usize]) / 1000.0;
    Latency {
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        samples: us.len(),
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ShapeResult {
    pub target_rate: f64,
    pub sent: u64,
    pub sent_per_s: f64,
    pub deliveries: u64,
    pub expected_deliveries: u64,
    pub lost: u64,
    pub deliveries_per_s: f64,
    pub latency: Latency,
    pub acked: u64,
    pub acked_per_s: f64,
    pub ack_latency: Option<Latency>,
    pub server_cpu_s: f64,
    /// CPU seconds the bench client itself used in the same window (it shares the cores).
    pub client_cpu_s: f64,
    pub cpu_us_per_delivery: f64,
    pub server_rss_mb: f64,
    pub wire_bytes_per_delivery: f64,
    pub errors: u64,
}

/// Connects `count` peers (`doc(i)` picks each one's document), at most 128 handshakes at once.
async fn connect_many(
    server: &Running,
    target: &Target,
    count: usize,
    offset: usize,
    query: &str,
    doc: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<Peer>> {
    let gate = Arc::new(Semaphore::new(128));
    let mut set = JoinSet::new();
    for i in 0..count {
        let gate = gate.clone();
        let name = doc(i);
        let path = format!("{}{}{}", target.path, name, query);
        let (addr, framing) = (server.addr, target.framing);
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut peer = wire::connect(addr, &path, framing, &name, offset + i).await?;
            tokio::time::timeout(Duration::from_secs(30), peer.handshake())
                .await
                .context("handshake took over 30 s")??;
            Ok::<_, anyhow::Error>((i, peer))
        });
    }
    let mut peers: Vec<Option<Peer>> = (0..count).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, peer) = joined??;
        peers[i] = Some(peer);
    }
    Ok(peers
        .into_iter()
        .map(|p| p.expect("every peer joined"))
        .collect())
}

struct ReaderOut {
    samples: Vec<u32>,
    received: u64,
    error: bool,
}

async fn reader(
    mut peer: Peer,
    sent: Arc<Vec<Arc<Sent>>>,
    mut stop: watch::Receiver<bool>,
    total: Arc<AtomicU64>,
    last: Arc<AtomicU64>,
) -> ReaderOut {
    let mut next = vec![0usize; sent.len()];
    let mut out = ReaderOut {
        samples: Vec::new(),
        received: 0,
        error: false,
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            m = peer.ws.next() => match m {
                Some(Ok(Message::Binary(b))) => {
                    let Incoming::Update(u) = peer.framing.parse(&b) else { continue };
                    let Some(w) = wire::update_client(u).and_then(|c| c.checked_sub(CLIENT_BASE)) else { continue };
                    let Some(times) = sent.get(w as usize) else { continue };
                    let k = next[w as usize];
                    next[w as usize] += 1;
                    let now = now_ns();
                    if let Some(t) = times.times.get(k) {
                        out.samples.push((now.saturating_sub(t.load(Ordering::Acquire)) / 1000) as u32);
                    }
                    out.received += 1;
                    total.fetch_add(1, Ordering::Relaxed);
                    last.fetch_max(now, Ordering::Relaxed);
                }
                Some(Ok(_)) => {}
                _ => { out.error = true; break }
            }
        }
    }
    out
}

struct WriterOut {
    sent: u64,
    acked: u64,
    ack_samples: Vec<u32>,
    error: bool,
}

#[allow(clippy::too_many_arguments)]
async fn writer(
    mut peer: Peer,
    updates: Arc<Vec<Vec<u8>>>,
    sent: Arc<Sent>,
    rate: f64,
    count: usize,
    start: Instant,
    mut stop: watch::Receiver<bool>,
    done: Arc<AtomicUsize>,
    sent_end: Arc<AtomicU64>,
) -> WriterOut {
    let mut out = WriterOut {
        sent: 0,
        acked: 0,
        ack_samples: Vec::new(),
        error: false,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut finished = false;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            m = peer.ws.next() => match m {
                Some(Ok(Message::Binary(b))) => {
                    if let Incoming::Ack(n) = peer.framing.parse(&b) {
                        let now = now_ns();
                        let n = n.min(out.sent);
                        for k in out.acked..n {
                            let t = sent.times[k as usize].load(Ordering::Acquire);
                            out.ack_samples.push((now.saturating_sub(t) / 1000) as u32);
                        }
                        out.acked = out.acked.max(n);
                    }
                }
                Some(Ok(_)) => {}
                _ => { out.error = true; break }
            },
            _ = tick.tick(), if !finished => {
                let owed = ((start.elapsed().as_secs_f64() * rate) as usize).min(count);
                let mut failed = false;
                while (out.sent as usize) < owed {
                    let k = out.sent as usize;
                    let frame = peer.framing.update(&peer.doc, &updates[k]);
                    sent.times[k].store(now_ns(), Ordering::Release);
                    if peer.ws.feed(Message::binary(frame)).await.is_err() { failed = true; break }
                    out.sent += 1;
                }
                if failed || peer.ws.flush().await.is_err() { out.error = true; break }
                if out.sent as usize >= count {
                    finished = true;
                    sent_end.fetch_max(now_ns(), Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    if !finished {
        done.fetch_add(1, Ordering::Relaxed);
    }
    out
}

/// `shape.rooms` fresh rooms, each with `writers` writers replaying the trace (writer `w` as
/// client `CLIENT_BASE + w`, `streams[w]`) and `readers` readers; measures one run.
pub async fn run_shape(
    server: &Running,
    target: &Target,
    shape: Shape,
    streams: &[Arc<Vec<Vec<u8>>>],
) -> anyhow::Result<ShapeResult> {
    let prefix = nonce();
    let per_writer_rate = shape.rate / (shape.rooms * shape.writers) as f64;
    let count = ((per_writer_rate * shape.seconds).ceil() as usize).max(1);
    if streams.len() < shape.writers || streams.iter().any(|s| s.len() < count) {
        bail!("not enough generated updates for this shape");
    }
    let room = |r: usize| format!("{prefix}r{r}");
    let readers = connect_many(server, target, shape.rooms * shape.readers, 0, "", |i| {
        room(i / shape.readers)
    })
    .await
    .context("connecting readers")?;
    let query = if shape.ext && target.ours {
        "?ext=1"
    } else {
        ""
    };
    let writers = connect_many(
        server,
        target,
        shape.rooms * shape.writers,
        readers.len(),
        query,
        |i| room(i / shape.writers),
    )
    .await
    .context("connecting writers")?;
    // Let the handshakes' awareness and sync traffic settle before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let sent: Vec<Arc<Vec<Arc<Sent>>>> = (0..shape.rooms)
        .map(|_| {
            Arc::new(
                (0..shape.writers)
                    .map(|_| {
                        Arc::new(Sent {
                            times: (0..count).map(|_| AtomicU64::new(0)).collect(),
                        })
                    })
                    .collect(),
            )
        })
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let total = Arc::new(AtomicU64::new(0));
    let last = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let sent_end = Arc::new(AtomicU64::new(0));
    let cpu0 = server.cpu_seconds();
    let client0 = servers::cpu_seconds(std::process::id()).unwrap_or(f64::NAN);
    let wire0 = wire::wire_bytes();
    let t0 = now_ns();
    let start = Instant::now();
    let mut reader_tasks = JoinSet::new();
    for (i, peer) in readers.into_iter().enumerate() {
        reader_tasks.spawn(reader(
            peer,
            sent[i / shape.readers].clone(),
            stop_rx.clone(),
            total.clone(),
            last.clone(),
        ));
    }
    let mut writer_tasks = JoinSet::new();
    let n_writers = writers.len();
    for (i, peer) in writers.into_iter().enumerate() {
        let (r, w) = (i / shape.writers, i % shape.writers);
        writer_tasks.spawn(writer(
            peer,
            streams[w].clone(),
            sent[r][w].clone(),
            per_writer_rate,
            count,
            start,
            stop_rx.clone(),
            done.clone(),
            sent_end.clone(),
        ));
    }
    let expected = (shape.rooms * shape.writers * shape.readers * count) as u64;
    // Sending takes `seconds`; allow 3 s more (and 5 s for connections to drain) at most.
    let send_deadline = start + Duration::from_secs_f64(shape.seconds + 3.0);
    while done.load(Ordering::Relaxed) < n_writers && Instant::now() < send_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < drain_deadline {
        let acks_pending = shape.ext && target.ours;
        if total.load(Ordering::Relaxed) >= expected && !acks_pending {
            break;
        }
        if total.load(Ordering::Relaxed) >= expected && acks_pending {
            // Give the last group commit time to come back (it is measured, not waited on).
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu1 = server.cpu_seconds();
    let client1 = servers::cpu_seconds(std::process::id()).unwrap_or(f64::NAN);
    let wire1 = wire::wire_bytes();
    let rss = server.rss_bytes();
    let _ = stop_tx.send(true);
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut received = 0;
    while let Some(r) = reader_tasks.join_next().await {
        let r = r?;
        received += r.received;
        errors += u64::from(r.error);
        samples.extend(r.samples);
    }
    let (mut sent_total, mut acked, mut ack_samples) = (0, 0, Vec::new());
    while let Some(w) = writer_tasks.join_next().await {
        let w = w?;
        sent_total += w.sent;
        acked += w.acked;
        errors += u64::from(w.error);
        ack_samples.extend(w.ack_samples);
    }
    let end = last.load(Ordering::Relaxed).max(t0 + 1);
    let elapsed = (end - t0) as f64 / 1e9;
    let cpu = cpu1 - cpu0;
    Ok(ShapeResult {
        target_rate: shape.rate,
        sent: sent_total,
        sent_per_s: sent_total as f64
            / ((sent_end.load(Ordering::Relaxed).max(t0 + 1) - t0) as f64 / 1e9).max(shape.seconds),
        deliveries: received,
        expected_deliveries: expected,
        lost: expected.saturating_sub(received),
        deliveries_per_s: received as f64 / elapsed,
        latency: latency(samples),
        acked,
        acked_per_s: acked as f64 / elapsed,
        ack_latency: (shape.ext && target.ours).then(|| latency(ack_samples)),
        server_cpu_s: cpu,
        client_cpu_s: client1 - client0,
        cpu_us_per_delivery: cpu * 1e6 / received.max(1) as f64,
        server_rss_mb: rss as f64 / 1e6,
        wire_bytes_per_delivery: (wire1 - wire0) as f64 / received.max(1) as f64,
        errors,
    })
}

/// (b): steps the total rate up (through `rates`: ×1.5 a step in quick mode, ×1.25 in full)
/// until p99 > 50 ms (delivery, or ack when acks are on), a delivery is lost, or the writers
/// cannot send at the asked rate. Returns every step.
pub async fn ramp(
    server: &Running,
    target: &Target,
    base: Shape,
    rates: &[f64],
    streams: &[Arc<Vec<Vec<u8>>>],
) -> Vec<ShapeResult> {
    let mut steps = Vec::new();
    for &rate in rates {
        let shape = Shape { rate, ..base };
        // A step that fails is run once more (this machine is shared and noisy); the better
        // of the two counts.
        let mut last = None;
        for _attempt in 0..2 {
            match run_shape(server, target, shape, streams).await {
                Ok(r) => {
                    let ok = passes(&r);
                    last = Some(r);
                    if ok {
                        break;
                    }
                }
                Err(e) => {
                    eprintln!("  {}: rate {rate}: {e:#}", target.name);
                    last = Some(ShapeResult {
                        target_rate: rate,
                        errors: 1,
                        ..Default::default()
                    });
                }
            }
        }
        let r = last.expect("ran at least once");
        let ok = passes(&r);
        steps.push(r);
        if !ok {
            break;
        }
    }
    steps
}

pub fn passes(r: &ShapeResult) -> bool {
    let ack_ok = r
        .ack_latency
        .as_ref()
        .is_none_or(|a| a.p99_ms <= 50.0 && r.acked >= r.sent);
    r.errors == 0
        && r.lost == 0
        && r.latency.p99_ms <= 50.0
        && ack_ok
        && r.sent_per_s >= 0.9 * r.target_rate
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub connections: usize,
    pub rooms: usize,
    pub rss_before_mb: f64,
    pub rss_after_mb: f64,
    pub bytes_per_connection: f64,
}

/// (c): RSS growth of a fresh server for `n` idle connections (one room, or one room each).
pub async fn memory(
    target: &Target,
    tmp: &std::path::Path,
    n: usize,
    room_each: bool,
    (settle_before, settle_after): (f64, f64),
) -> anyhow::Result<MemoryResult> {
    let server = servers::start(target, tmp, None, &[]).await?;
    let prefix = nonce();
    let warm = connect_many(&server, target, 1, 0, "", |_| format!("{prefix}w")).await?;
    tokio::time::sleep(Duration::from_secs_f64(settle_before)).await;
    let before = server.rss_bytes();
    let peers = connect_many(&server, target, n, 1, "", |i| {
        if room_each {
            format!("{prefix}m{i}")
        } else {
            format!("{prefix}w")
        }
    })
    .await;
    let peers = match peers {
        Ok(p) => p,
        Err(e) => {
            server.kill().await;
            return Err(e);
        }
    };
    // Idle: read whatever the server sends (awareness, pings) while waiting for RSS to settle.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut set = JoinSet::new();
    for mut peer in peers.into_iter().chain(warm) {
        let mut stop = stop_rx.clone();
        set.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    m = peer.ws.next() => if !matches!(m, Some(Ok(_))) { break },
                }
            }
            peer
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(settle_after)).await;
    let after = server.rss_bytes();
    let _ = stop_tx.send(true);
    while set.join_next().await.is_some() {}
    server.kill().await;
    Ok(MemoryResult {
        connections: n,
        rooms: if room_each { n } else { 1 },
        rss_before_mb: before as f64 / 1e6,
        rss_after_mb: after as f64 / 1e6,
        bytes_per_connection: after.saturating_sub(before) as f64 / n as f64,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// What the first client after start saw: from storage for ours, in memory for the peers.
    pub first_ms: f64,
    /// Median of three more clients joining while the document is loaded.
    pub loaded_ms: f64,
    pub step2_bytes: usize,
    pub updates: usize,
    pub how: String,
}

async fn timed_join(
    server: &Running,
    target: &Target,
    doc: &str,
    i: usize,
) -> anyhow::Result<(f64, usize, Peer)> {
    let path = format!("{}{}", target.path, doc);
    let mut peer = wire::connect(server.addr, &path, target.framing, doc, i).await?;
    let t = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(300), peer.handshake())
        .await
        .context("no SyncStep2 within 300 s")??;
    Ok((t.elapsed().as_secs_f64() * 1000.0, n, peer))
}

async fn joins(server: &Running, target: &Target, doc: &str) -> anyhow::Result<(f64, usize, f64)> {
    let (first, bytes, holder) = timed_join(server, target, doc, 0).await?;
    let mut times = Vec::new();
    for i in 1..=3 {
        times.push(timed_join(server, target, doc, i).await?.0);
    }
    drop(holder);
    times.sort_by(f64::total_cmp);
    Ok((first, bytes, times[1]))
}

/// Pushes `updates` into a document of ours with `?ext=1`, many messages per frame, reading the
/// echoes as it goes, until the server acknowledged all of them as durable.
async fn push_durably(
    server: &Running,
    target: &Target,
    doc: &str,
    updates: &[Vec<u8>],
) -> anyhow::Result<()> {
    let path = format!("{}{}?ext=1", target.path, doc);
    let mut peer = wire::connect(server.addr, &path, target.framing, doc, 0).await?;
    peer.handshake().await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    wire::DurablePush::new(peer)
        .until_acked(updates, updates.len(), deadline, Duration::from_millis(5))
        .await
}

/// (d): cold load of the whole document. Ours: from a SQLite file holding it compacted (one
/// snapshot), or as the raw log (`raw` = every update a row; built by pushing the log through
/// the server with compaction off, then killing it with SIGKILL so nothing compacts).
/// Peers keep documents in memory only: a holder client uploads the compacted document first.
pub async fn cold_load(
    target: &Target,
    tmp: &std::path::Path,
    compacted: &[u8],
    raw: Option<&[Vec<u8>]>,
) -> anyhow::Result<LoadResult> {
    let doc = format!("{}paper", nonce());
    if target.ours {
        let file = tmp.join(format!("{doc}.sqlite3"));
        let server = if let Some(log) = raw {
            let s = servers::start(target, tmp, Some(&file), &["--compact-after", "1000000000"])
                .await?;
            push_durably(&s, target, &doc, log).await?;
            s.kill().await; // SIGKILL: the log stays a log
            servers::start(target, tmp, Some(&file), &[]).await?
        } else {
            let s = servers::start(target, tmp, Some(&file), &[]).await?;
            push_durably(&s, target, &doc, &[compacted.to_vec()]).await?;
            s.terminate(Duration::from_secs(60)).await?; // compacts on the way out
            servers::start(target, tmp, Some(&file), &[]).await?
        };
        let r = joins(&server, target, &doc).await;
        server.kill().await;
        let (first, bytes, loaded) = r?;
        Ok(LoadResult {
            first_ms: first,
            loaded_ms: loaded,
            step2_bytes: bytes,
            updates: raw.map_or(1, <[_]>::len),
            how: if raw.is_some() {
                "SQLite log, one row per update".into()
            } else {
                "SQLite snapshot".into()
            },
        })
    } else {
        let server = servers::start(target, tmp, None, &[]).await?;
        let r = async {
            let path = format!("{}{}", target.path, doc);
            let mut holder = wire::connect(server.addr, &path, target.framing, &doc, 9).await?;
            holder.handshake().await?;
            let frame = target.framing.update(&doc, compacted);
            holder.send(frame).await?;
            holder.handshake().await?; // answered after the update was applied
            let r = joins(&server, target, &doc).await;
            drop(holder);
            r
        }
        .await;
        server.kill().await;
        let (first, bytes, loaded) = r?;
        Ok(LoadResult {
            first_ms: first,
            loaded_ms: loaded,
            step2_bytes: bytes,
            updates: 1,
            how: "in memory (no persistence configured)".into(),
        })
    }
}
