//! `Relay`: cross-instance fan-out over Redis pub/sub (`--redis`), for several instances that
//! share one PostgreSQL database. The only module that names the redis crate.
//!
//! Each instance has a random id. Every loaded document has a channel, `collab:doc:{name}`;
//! the instance subscribes when a room loads and unsubscribes when it unloads. A message is
//! `[version][kind][sender instance id, 8 bytes big-endian][payload]`; an instance ignores its
//! own. Heartbeats and goodbyes go on `collab:instances`: an instance whose heartbeat stops
//! (or that says goodbye) is gone, and the presence states it relayed are removed.
//!
//! Redis is best effort: CRDT updates are idempotent and commutative, so duplicates and
//! reordering are harmless, and a gap (Redis down, a dropped connection) is healed by
//! resyncing each loaded document from storage when the connection comes back. Storage, not
//! Redis, is the source of truth.
//!
//! Rooms reach the relay through the `room::Fanout` trait it implements; the relay reaches
//! rooms through [`Deliver`] (implemented by the registry), so it names neither.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::conn::ConnId;
use crate::metrics::Metrics;
use crate::room::{Fanout, Publication, Relayed};
use collab_core::doc_name::DocName;

/// How often an instance says it is alive.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(2);
/// Heartbeats missed in a row before an instance counts as gone.
pub const MISSED_HEARTBEATS: u32 = 3;
/// Reconnection backoff: first wait, and the longest.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A command (connect, subscribe, publish) that takes longer than this counts as a dead
/// connection: a Redis host that vanished without resetting its sockets must not stall rooms
/// waiting for their subscriptions.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// Publications sent as one pipeline at most (they queue up while a round trip is on).
const PUBLISH_BATCH: usize = 256;
/// The channel of heartbeats and goodbyes.
const INSTANCES_CHANNEL: &str = "collab:instances";
/// Version byte of the message format.
const VERSION: u8 = 1;

/// What a relayed message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A document update (yrs v1), validated and applied by the sender, which also queued it
    /// for storage (it may not be committed yet).
    Update = 1,
    /// An awareness message (a whole y-websocket frame), owned by the sender's instance.
    Awareness = 2,
    /// "I may have missed messages: resync from storage, and send me your presence."
    Resync = 3,
    /// "I just loaded this document: send me your presence."
    AwarenessQuery = 4,
    /// The sender is alive (on the instances channel).
    Heartbeat = 5,
    /// The sender is shutting down (on the instances channel).
    Goodbye = 6,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Update,
            2 => Kind::Awareness,
            3 => Kind::Resync,
            4 => Kind::AwarenessQuery,
            5 => Kind::Heartbeat,
            6 => Kind::Goodbye,
            _ => return None,
        })
    }
}

/// Where the relay delivers what it hears: the rooms (`registry::Registry`). Each call may
/// wait while the rooms' queues are full.
pub trait Deliver: Send + Sync + 'static {
    /// The subscription `token` of `doc`'s room is active.
    fn subscribed(&self, doc: DocName, token: u64) -> impl Future<Output = ()> + Send;
    /// A message from another instance for the room of `doc`, if it is loaded.
    fn relayed(&self, doc: DocName, relayed: Relayed) -> impl Future<Output = ()> + Send;
    /// Another instance is gone: the presence it relayed (owned by `instance`) goes.
    fn instance_gone(&self, instance: ConnId) -> impl Future<Output = ()> + Send;
    /// Relaying had a gap: every loaded room merges what storage holds.
    fn resync_all(&self) -> impl Future<Output = ()> + Send;
}

/// Why the relay could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("invalid Redis URL: {0}")]
    Url(String),
}

/// A Redis URL, e.g. `redis://host:6379/` or `redis://:password@host/`. Shown without its
/// password in logs and `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Checks that `url` is a URL the Redis client accepts.
    pub fn parse(url: &str) -> Result<RedisUrl, RelayError> {
        redis::Client::open(url).map_err(|e| RelayError::Url(e.to_string()))?;
        Ok(RedisUrl(url.to_owned()))
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Everything up to the last '@' of the authority may hold a password.
        match self.0.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((_, host)) => write!(f, "{scheme}://***@{host}"),
                None => write!(f, "{}", self.0),
            },
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// The handle rooms and the server hold. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    instance: u64,
    ops: mpsc::UnboundedSender<Op>,
    connected: AtomicBool,
}

/// What the relay task is asked to do, in order.
enum Op {
    /// Subscribe to a document's channel; then tell its room (`DocCommand::Subscribed`).
    Subscribe(DocName, u64),
    Unsubscribe(DocName, u64),
    Publish(DocName, Kind, Bytes),
    /// Say goodbye and stop.
    Stop(oneshot::Sender<()>),
}

/// The task behind a [`Relay`]; run it with [`RelayTask::run`].
pub struct RelayTask {
    client: redis::Client,
    metrics: Arc<Metrics>,
    inner: Arc<Inner>,
    ops: mpsc::UnboundedReceiver<Op>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Relay({:016x})", self.inner.instance)
    }
}

impl Relay {
    /// A relay for the Redis server at `url`, with a random instance id. Nothing connects
    /// until the task runs.
    pub fn new(url: &RedisUrl, metrics: Arc<Metrics>) -> Result<(Relay, RelayTask), RelayError> {
        let client =
            redis::Client::open(url.0.as_str()).map_err(|e| RelayError::Url(e.to_string()))?;
        let (ops, ops_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            instance: random_id(),
            ops,
            connected: AtomicBool::new(false),
        });
        Ok((
            Relay {
                inner: inner.clone(),
            },
            RelayTask {
                client,
                metrics,
                inner,
                ops: ops_rx,
            },
        ))
    }

    /// This instance's id.
    pub fn instance(&self) -> u64 {
        self.inner.instance
    }

    /// Whether Redis is reachable now (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
    }

    /// Says goodbye (so other instances drop our users' presence at once) and stops the task;
    /// waits at most a second.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.inner.ops.send(Op::Stop(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), rx).await;
        }
    }
}

/// What rooms publish, and the subscriptions they make.
impl Fanout for Relay {
    /// Subscribes to `doc`'s channel; its room gets `DocCommand::Subscribed(token)` once the
    /// subscription is active (at once while Redis is down: the reconnection resyncs it).
    fn subscribe(&self, doc: DocName, token: u64) {
        let _ = self.inner.ops.send(Op::Subscribe(doc, token));
    }

    fn unsubscribe(&self, doc: DocName, token: u64) {
        let _ = self.inner.ops.send(Op::Unsubscribe(doc, token));
    }

    /// Publishes to `doc`'s channel; dropped while Redis is down (the resync covers it).
    fn publish(&self, doc: &DocName, publication: Publication) {
        let (kind, payload) = match publication {
            Publication::Update(update) => (Kind::Update, update),
            Publication::Awareness(frame) => (Kind::Awareness, frame),
            Publication::Resync => (Kind::Resync, Bytes::new()),
            Publication::AwarenessQuery => (Kind::AwarenessQuery, Bytes::new()),
        };
        let _ = self.inner.ops.send(Op::Publish(doc.clone(), kind, payload));
    }
}

/// A random 64-bit id (std's per-process random hash keys, plus time and pid).
fn random_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

fn doc_channel(doc: &DocName) -> String {
    format!("collab:doc:{doc}")
}

/// Encodes one message.
pub fn encode(kind: Kind, instance: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + payload.len());
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&instance.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decodes one message: kind, sender, payload. `None` for anything else.
pub fn decode(bytes: &[u8]) -> Option<(Kind, u64, &[u8])> {
    let (&[version, kind], rest) = bytes.split_first_chunk::<2>()?;
    if version != VERSION {
        return None;
    }
    let (instance, payload) = rest.split_first_chunk::<8>()?;
    Some((
        Kind::from_byte(kind)?,
        u64::from_be_bytes(*instance),
        payload,
    ))
}

/// Other instances we have heard from: the stand-in connection id their presence is owned
/// by, and when we last heard from them.
#[derive(Default)]
struct Peers {
    peers: HashMap<u64, (ConnId, Instant)>,
}

impl Peers {
    fn heard(&mut self, instance: u64, now: Instant) -> ConnId {
        let peer = self
            .peers
            .entry(instance)
            .or_insert_with(|| (ConnId::next(), now));
        peer.1 = now;
        peer.0
    }

    /// Forgets instances silent for too long; returns their stand-in ids.
    fn expire(&mut self, now: Instant) -> Vec<ConnId> {
        let limit = HEARTBEAT_PERIOD * MISSED_HEARTBEATS;
        let mut gone = Vec::new();
        self.peers.retain(|instance, (conn, seen)| {
            let alive = now.saturating_duration_since(*seen) <= limit;
            if !alive {
                tracing::info!(instance = %format!("{instance:016x}"), "instance stopped sending heartbeats: removing its users' presence");
                gone.push(*conn);
            }
            alive
        });
        gone
    }

    fn remove(&mut self, instance: u64) -> Option<ConnId> {
        self.peers.remove(&instance).map(|(conn, _)| conn)
    }
}

/// Why a session with Redis ended.
enum Ended {
    Lost(String),
    Stopped(oneshot::Sender<()>),
    /// Every handle is gone.
    Closed,
}

impl RelayTask {
    /// Connects, keeps connected (reconnecting with backoff) and relays until stopped.
    pub async fn run(mut self, rooms: impl Deliver) {
        // The documents subscribed to, by the token of their latest subscription.
        let mut wanted: HashMap<DocName, u64> = HashMap::new();
        let mut peers = Peers::default();
        let mut backoff = MIN_BACKOFF;
        let mut warned = false;
        loop {
            let ended = match self.connect().await {
                Ok((sink, stream, publisher)) => {
                    backoff = MIN_BACKOFF;
                    warned = false;
                    self.session(sink, stream, publisher, &rooms, &mut wanted, &mut peers)
                        .await
                }
                Err(reason) => Ended::Lost(reason),
            };
            let was_connected = self.inner.connected.swap(false, Ordering::Relaxed);
            match ended {
                // Said once per outage (and at start); the retries are debug.
                Ended::Lost(reason) if was_connected || !warned => {
                    warned = true;
                    tracing::warn!(%reason, "Redis unreachable: serving local clients only, retrying");
                }
                Ended::Lost(reason) => {
                    tracing::debug!(%reason, ?backoff, "Redis still unreachable; retrying");
                }
                Ended::Stopped(done) => {
                    let _ = done.send(());
                    return;
                }
                Ended::Closed => return,
            }
            // Meanwhile: subscriptions are confirmed at once (the reconnection resyncs them),
            // publications dropped, and silent instances still expire.
            let wait = tokio::time::sleep(backoff);
            tokio::pin!(wait);
            let mut ticker = tokio::time::interval(HEARTBEAT_PERIOD / 2);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    _ = ticker.tick() => {
                        for gone in peers.expire(Instant::now()) {
                            rooms.instance_gone(gone).await;
                        }
                    }
                    op = self.ops.recv() => match op {
                        None => return,
                        Some(Op::Subscribe(doc, token)) => {
                            wanted.insert(doc.clone(), token);
                            rooms.subscribed(doc, token).await;
                        }
                        Some(Op::Unsubscribe(doc, token)) => {
                            if wanted.get(&doc) == Some(&token) {
                                wanted.remove(&doc);
                            }
                        }
                        Some(Op::Publish(..)) => {}
                        Some(Op::Stop(done)) => {
                            let _ = done.send(());
                            return;
                        }
                    },
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn connect(
        &self,
    ) -> Result<
        (
            redis::aio::PubSubSink,
            redis::aio::PubSubStream,
            redis::aio::MultiplexedConnection,
        ),
        String,
    > {
        let (mut sink, stream) = timed(self.client.get_async_pubsub()).await?.split();
        timed(sink.subscribe(INSTANCES_CHANNEL)).await?;
        let publisher = timed(self.client.get_multiplexed_async_connection()).await?;
        Ok((sink, stream, publisher))
    }

    /// One connection's life: resubscribe and resync, then relay until it fails.
    async fn session(
        &mut self,
        mut sink: redis::aio::PubSubSink,
        mut stream: redis::aio::PubSubStream,
        mut publisher: redis::aio::MultiplexedConnection,
        rooms: &impl Deliver,
        wanted: &mut HashMap<DocName, u64>,
        peers: &mut Peers,
    ) -> Ended {
        let instance = self.inner.instance;
        for doc in wanted.keys() {
            if let Err(reason) = timed(sink.subscribe(doc_channel(doc))).await {
                return Ended::Lost(reason);
            }
        }
        self.inner.connected.store(true, Ordering::Relaxed);
        self.metrics.relay_connected();
        tracing::info!(instance = %format!("{instance:016x}"), documents = wanted.len(), "connected to Redis");
        // Whatever was published while we were away is in storage: every loaded room merges
        // it, then asks the other instances to do the same (they may have missed ours).
        if !wanted.is_empty() {
            rooms.resync_all().await;
        }
        let mut ticker = tokio::time::interval(HEARTBEAT_PERIOD);
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        return Ended::Lost("subscription connection closed".into());
                    };
                    self.received(&message, rooms, peers).await;
                }
                _ = ticker.tick() => {
                    let heartbeat = encode(Kind::Heartbeat, instance, &[]);
                    if let Err(reason) = publish(&mut publisher, &[(INSTANCES_CHANNEL.into(), heartbeat)]).await {
                        return Ended::Lost(reason);
                    }
                    for gone in peers.expire(Instant::now()) {
                        rooms.instance_gone(gone).await;
                    }
                }
                op = self.ops.recv() => {
                    let Some(mut op) = op else {
                        return Ended::Closed;
                    };
                    // Publications waiting behind this one go out together, in order, as one
                    // pipeline; the first other request waiting is handled after them.
                    if let Op::Publish(..) = op {
                        let mut batch = Vec::new();
                        let mut next = Some(op);
                        while let Some(Op::Publish(doc, kind, payload)) = next {
                            batch.push((doc_channel(&doc), encode(kind, instance, &payload)));
                            next = if batch.len() < PUBLISH_BATCH {
                                self.ops.try_recv().ok()
                            } else {
                                None
                            };
                        }
                        if let Err(reason) = publish(&mut publisher, &batch).await {
                            return Ended::Lost(reason);
                        }
                        self.metrics.relay_published(batch.len() as u64);
                        match next {
                            Some(other) => op = other,
                            None => continue,
                        }
                    }
                    if let Some(ended) = self.request(op, &mut sink, &mut publisher, rooms, wanted).await {
                        return ended;
                    }
                }
            }
        }
    }

    /// Handles a subscription change or a stop (publications are batched by the caller).
    async fn request(
        &self,
        op: Op,
        sink: &mut redis::aio::PubSubSink,
        publisher: &mut redis::aio::MultiplexedConnection,
        rooms: &impl Deliver,
        wanted: &mut HashMap<DocName, u64>,
    ) -> Option<Ended> {
        match op {
            Op::Subscribe(doc, token) => {
                let subscribed = timed(sink.subscribe(doc_channel(&doc))).await;
                // Confirmed even if it failed: the reconnection resubscribes and resyncs it.
                wanted.insert(doc.clone(), token);
                rooms.subscribed(doc, token).await;
                subscribed.err().map(Ended::Lost)
            }
            Op::Unsubscribe(doc, token) => {
                if wanted.get(&doc) != Some(&token) {
                    return None;
                }
                wanted.remove(&doc);
                timed(sink.unsubscribe(doc_channel(&doc)))
                    .await
                    .err()
                    .map(Ended::Lost)
            }
            Op::Publish(doc, kind, payload) => {
                let message = encode(kind, self.inner.instance, &payload);
                publish(publisher, &[(doc_channel(&doc), message)])
                    .await
                    .err()
                    .map(Ended::Lost)
            }
            Op::Stop(done) => {
                let goodbye = encode(Kind::Goodbye, self.inner.instance, &[]);
                let _ = publish(publisher, &[(INSTANCES_CHANNEL.into(), goodbye)]).await;
                Some(Ended::Stopped(done))
            }
        }
    }

    /// Routes one message from Redis.
    async fn received(&self, message: &redis::Msg, rooms: &impl Deliver, peers: &mut Peers) {
        let Some((kind, sender, payload)) = decode(message.get_payload_bytes()) else {
            tracing::warn!(
                channel = message.get_channel_name(),
                "ignored a malformed relay message"
            );
            return;
        };
        if sender == self.inner.instance {
            return;
        }
        self.metrics.relay_received();
        let channel = message.get_channel_name();
        if channel == INSTANCES_CHANNEL {
            match kind {
                Kind::Goodbye => {
                    tracing::info!(instance = %format!("{sender:016x}"), "instance said goodbye: removing its users' presence");
                    if let Some(gone) = peers.remove(sender) {
                        rooms.instance_gone(gone).await;
                    }
                }
                _ => {
                    peers.heard(sender, Instant::now());
                }
            }
            return;
        }
        let Some(doc) = channel
            .strip_prefix("collab:doc:")
            .and_then(|name| DocName::parse(name).ok())
        else {
            return;
        };
        let from = peers.heard(sender, Instant::now());
        let relayed = match kind {
            Kind::Update => Relayed::Update(payload.to_vec()),
            Kind::Awareness => Relayed::Awareness {
                from,
                frame: Bytes::copy_from_slice(payload),
            },
            Kind::Resync => Relayed::Resync,
            Kind::AwarenessQuery => Relayed::AwarenessQuery,
            Kind::Heartbeat | Kind::Goodbye => return,
        };
        rooms.relayed(doc, relayed).await;
    }
}

/// Publishes `messages` (channel, bytes) in order, as one pipeline.
async fn publish(
    connection: &mut redis::aio::MultiplexedConnection,
    messages: &[(String, Vec<u8>)],
) -> Result<(), String> {
    let mut pipeline = redis::pipe();
    for (channel, message) in messages {
        pipeline.cmd("PUBLISH").arg(channel).arg(message).ignore();
    }
    timed(pipeline.query_async::<()>(connection)).await
}

/// Runs a Redis request with [`COMMAND_TIMEOUT`]; the error as text.
async fn timed<T>(
    request: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_TIMEOUT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("Redis did not answer in time".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_junk_is_refused() {
        let bytes = encode(Kind::Update, 0x0102_0304_0506_0708, b"abc");
        assert_eq!(
            decode(&bytes),
            Some((Kind::Update, 0x0102_0304_0506_0708, &b"abc"[..]))
        );
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[VERSION, 1, 0]), None);
        assert_eq!(
            decode(&encode(Kind::Goodbye, 7, &[])).map(|(k, i, p)| (k, i, p.len())),
            Some((Kind::Goodbye, 7, 0))
        );
        let mut unknown = encode(Kind::Update, 1, &[]);
        unknown[1] = 99;
        assert_eq!(decode(&unknown), None);
        unknown[0] = 2;
        assert_eq!(decode(&unknown), None);
    }

    #[test]
    fn silent_instances_expire() {
        let mut peers = Peers::default();
        let start = Instant::now();
        let a = peers.heard(1, start);
        assert_eq!(peers.heard(1, start), a);
        assert!(peers.expire(start + HEARTBEAT_PERIOD).is_empty());
        let limit = HEARTBEAT_PERIOD * MISSED_HEARTBEATS;
        assert_eq!(
            peers.expire(start + limit + Duration::from_millis(1)),
            vec![a]
        );
        // Heard again later: a new stand-in, so nothing of the old one lingers.
        assert_ne!(peers.heard(1, start + limit * 2), a);
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        let url = RedisUrl::parse("redis://:secret@cache.internal:6379/0").unwrap();
        assert_eq!(url.to_string(), "redis://***@cache.internal:6379/0");
        assert!(!format!("{url:?}").contains("secret"));
        assert!(RedisUrl::parse("http://nope").is_err());
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_id(), random_id());
    }
}
