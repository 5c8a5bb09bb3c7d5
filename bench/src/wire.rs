//! Raw y-protocols frames, no CRDT: what the bench clients send, and just enough decoding to
//! tell a SyncStep2, an update (and whose), and a durable acknowledgement apart. Hocuspocus puts
//! `varString(documentName)` before every message and wants an auth message first.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Bytes the bench clients read and wrote on their sockets (WebSocket framing included).
pub static WIRE_RX: AtomicU64 = AtomicU64::new(0);
pub static WIRE_TX: AtomicU64 = AtomicU64::new(0);

pub fn wire_bytes() -> u64 {
    WIRE_RX.load(Ordering::Relaxed) + WIRE_TX.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// y-websocket: the document is the URL path, messages are bare.
    Yjs,
    /// Hocuspocus: every message starts with the document name; auth first.
    Hocuspocus,
}

pub fn write_var(buf: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        buf.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

pub fn read_var(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(n);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

pub enum Incoming<'a> {
    Step2(usize),
    /// The same SyncStep2, with its payload (`parse_payload` only).
    Step2Body(&'a [u8]),
    Update(&'a [u8]),
    Ack(u64),
    Other,
}

impl Framing {
    fn prefix(self, doc: &str, buf: &mut Vec<u8>) {
        if self == Framing::Hocuspocus {
            write_var(buf, doc.len() as u64);
            buf.extend_from_slice(doc.as_bytes());
        }
    }

    /// Hocuspocus' auth message (token, empty): it ignores a document's messages until one came.
    pub fn auth(self, doc: &str) -> Option<Vec<u8>> {
        (self == Framing::Hocuspocus).then(|| {
            let mut b = Vec::new();
            self.prefix(doc, &mut b);
            b.extend_from_slice(&[2, 0, 0]);
            b
        })
    }

    /// SyncStep1 with an empty state vector: "send me everything".
    pub fn step1(self, doc: &str) -> Vec<u8> {
        self.step1_with(doc, &[0])
    }

    /// SyncStep1 with the given encoded state vector: "send me what I lack".
    pub fn step1_with(self, doc: &str, state_vector: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(state_vector.len() + doc.len() + 8);
        self.prefix(doc, &mut b);
        b.extend_from_slice(&[0, 0]);
        write_var(&mut b, state_vector.len() as u64);
        b.extend_from_slice(state_vector);
        b
    }

    pub fn update(self, doc: &str, update: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(update.len() + doc.len() + 8);
        self.prefix(doc, &mut b);
        b.extend_from_slice(&[0, 2]);
        write_var(&mut b, update.len() as u64);
        b.extend_from_slice(update);
        b
    }

    pub fn parse(self, frame: &[u8]) -> Incoming<'_> {
        match self.parse_payload(frame) {
            Incoming::Step2Body(body) => Incoming::Step2(body.len()),
            other => other,
        }
    }

    /// As `parse`, but a SyncStep2 comes with its payload.
    pub fn parse_payload(self, frame: &[u8]) -> Incoming<'_> {
        let mut pos = 0;
        if self == Framing::Hocuspocus {
            let Some(len) = read_var(frame, &mut pos) else {
                return Incoming::Other;
            };
            pos += len as usize;
        }
        match read_var(frame, &mut pos) {
            Some(0) => {
                let sub = read_var(frame, &mut pos);
                let Some(len) = read_var(frame, &mut pos) else {
                    return Incoming::Other;
                };
                let Some(body) = frame.get(pos..pos + len as usize) else {
                    return Incoming::Other;
                };
                match sub {
                    Some(1) => Incoming::Step2Body(body),
                    Some(2) => Incoming::Update(body),
                    _ => Incoming::Other,
                }
            }
            Some(100) => {
                let _len = read_var(frame, &mut pos);
                read_var(frame, &mut pos).map_or(Incoming::Other, Incoming::Ack)
            }
            _ => Incoming::Other,
        }
    }
}

/// The client id of the first struct (or, for a delete-only update, of the first deleted
/// range) of a v1 update: the writer that made it, since each writer only edits its own text.
pub fn update_client(update: &[u8]) -> Option<u64> {
    let mut pos = 0;
    let groups = read_var(update, &mut pos)?;
    if groups > 0 {
        read_var(update, &mut pos)?; // structs in the group
        return read_var(update, &mut pos);
    }
    let clients = read_var(update, &mut pos)?;
    (clients > 0).then_some(())?;
    read_var(update, &mut pos)
}

/// A TCP stream that counts what goes through it into WIRE_RX / WIRE_TX.
pub struct Counted(TcpStream);

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.0).poll_read(cx, buf);
        WIRE_RX.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        res
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.0).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &res {
            WIRE_TX.fetch_add(*n as u64, Ordering::Relaxed);
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

pub type Ws = WebSocketStream<Counted>;

/// One bench connection to one document.
pub struct Peer {
    pub ws: Ws,
    pub framing: Framing,
    pub doc: String,
}

/// Number of loopback source addresses (127.0.0.2 …) client sockets are spread over, so 10,000
/// connections per server, several servers in a row, never run out of ephemeral ports.
const SOURCES: u32 = 16;

pub async fn connect(
    server: SocketAddr,
    path: &str,
    framing: Framing,
    doc: &str,
    index: usize,
) -> anyhow::Result<Peer> {
    // The client's own buffers stay small: 10,000 clients live in this process.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    connect_with(server, path, framing, doc, index, config).await
}

/// Client settings for whole large documents: no message or frame size limit (a server may send
/// a 40 MB document as one message), and a 128 KiB read buffer so that reading it is not 10,000
/// reads of 4 KiB.
pub fn large_documents() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(128 * 1024)
        .write_buffer_size(0)
        .max_message_size(None)
        .max_frame_size(None)
}

pub async fn connect_with(
    server: SocketAddr,
    path: &str,
    framing: Framing,
    doc: &str,
    index: usize,
    config: WebSocketConfig,
) -> anyhow::Result<Peer> {
    let src = Ipv4Addr::new(127, 0, 0, 2 + (index as u32 % SOURCES) as u8);
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("cannot connect to {server}"))?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{server}{path}");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, Counted(stream), Some(config))
        .await
        .with_context(|| format!("WebSocket handshake with {server}{path}"))?;
    Ok(Peer {
        ws,
        framing,
        doc: doc.to_owned(),
    })
}

impl Peer {
    pub async fn send(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.ws.send(Message::binary(bytes)).await?;
        Ok(())
    }

    /// Sends (auth and) SyncStep1 and waits for the SyncStep2: returns the document bytes received
    /// (its payload, and the Updates before it).
    pub async fn handshake(&mut self) -> anyhow::Result<usize> {
        if let Some(auth) = self.framing.auth(&self.doc) {
            self.ws.feed(Message::binary(auth)).await?;
        }
        let step1 = self.framing.step1(&self.doc);
        self.send(step1).await?;
        // A large document comes as Updates and a last SyncStep2 (ours sends 64 KiB pieces):
        // what the joiner received is all of their payloads.
        let mut before = 0;
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => match self.framing.parse(&b) {
                    Incoming::Step2(n) => return Ok(before + n),
                    Incoming::Update(u) => before += u.len(),
                    _ => {}
                },
                Some(Ok(Message::Close(c))) => anyhow::bail!("closed during handshake: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("connection ended during handshake"),
            }
        }
    }
}

/// What a v1 update holds, without a CRDT: for every struct but a Skip, `(client, first clock,
/// end clock)` is appended to `out`, with lengths as Yjs counts them (UTF-16 units for strings).
/// Only struct headers are decoded and contents skipped (a string's UTF-16 length is counted
/// from its UTF-8 bytes); the delete set after the structs is not read. None if malformed.
pub fn update_ranges(update: &[u8], out: &mut Vec<(u64, u64, u64)>) -> Option<()> {
    let mut pos = 0;
    let groups = read_var(update, &mut pos)?;
    for _ in 0..groups {
        let structs = read_var(update, &mut pos)?;
        let client = read_var(update, &mut pos)?;
        let mut clock = read_var(update, &mut pos)?;
        for _ in 0..structs {
            let info = *update.get(pos)?;
            pos += 1;
            let len = match info & 0x1f {
                // GC: deleted content the sender collected; a client holds it as such.
                0 => read_var(update, &mut pos)?,
                // Skip: a gap the sender does not have; not held.
                10 => {
                    clock += read_var(update, &mut pos)?;
                    continue;
                }
                kind => {
                    if info & 0x80 != 0 {
                        read_var(update, &mut pos)?; // left origin: client, clock
                        read_var(update, &mut pos)?;
                    }
                    if info & 0x40 != 0 {
                        read_var(update, &mut pos)?; // right origin
                        read_var(update, &mut pos)?;
                    }
                    if info & 0xc0 == 0 {
                        // No origin to copy the parent from: parent (root name or type id), key.
                        if read_var(update, &mut pos)? == 1 {
                            var_bytes(update, &mut pos)?;
                        } else {
                            read_var(update, &mut pos)?;
                            read_var(update, &mut pos)?;
                        }
                        if info & 0x20 != 0 {
                            var_bytes(update, &mut pos)?;
                        }
                    }
                    content_len(kind, update, &mut pos)?
                }
            };
            out.push((client, clock, clock + len));
            clock += len;
        }
    }
    Some(())
}

/// Whether `ranges` (from `update_ranges`) cover `[0, clock)` for every `(client, clock)` in
/// `want`: the client holds every struct of a document with that state vector.
pub fn covers(ranges: &mut [(u64, u64, u64)], want: &[(u64, u64)]) -> bool {
    ranges.sort_unstable();
    want.iter().all(|&(client, clock)| {
        let mut end = 0;
        for &(_, start, stop) in ranges.iter().filter(|r| r.0 == client) {
            if start <= end {
                end = end.max(stop);
            }
        }
        end >= clock
    })
}

fn var_bytes<'a>(b: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(read_var(b, pos)?).ok()?;
    let s = b.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(s)
}

/// An item's content (lib0 v1 encoding, by content ref): returns its length in clock units.
fn content_len(kind: u8, b: &[u8], pos: &mut usize) -> Option<u64> {
    Some(match kind {
        // Deleted: a length.
        1 => read_var(b, pos)?,
        // JSON: that many strings.
        2 => {
            let n = read_var(b, pos)?;
            for _ in 0..n {
                var_bytes(b, pos)?;
            }
            n
        }
        // Binary, Embed: one buffer / one JSON string.
        3 | 5 => {
            var_bytes(b, pos)?;
            1
        }
        // String: its UTF-16 length.
        4 => {
            let s = var_bytes(b, pos)?;
            let chars = s.iter().filter(|&&c| c & 0xc0 != 0x80).count();
            let astral = s.iter().filter(|&&c| c >= 0xf0).count();
            (chars + astral) as u64
        }
        // Format: key and value.
        6 => {
            var_bytes(b, pos)?;
            var_bytes(b, pos)?;
            1
        }
        // Type: a type ref; XmlElement (3) and XmlHook (5) carry a name.
        7 => {
            let r = read_var(b, pos)?;
            if r == 3 || r == 5 {
                var_bytes(b, pos)?;
            }
            1
        }
        // Any: that many values.
        8 => {
            let n = read_var(b, pos)?;
            for _ in 0..n {
                skip_any(b, pos, 0)?;
            }
            n
        }
        // Doc: guid and options.
        9 => {
            var_bytes(b, pos)?;
            skip_any(b, pos, 0)?;
            1
        }
        _ => return None,
    })
}

/// Skips one lib0 `Any` value.
fn skip_any(b: &[u8], pos: &mut usize, depth: u32) -> Option<()> {
    if depth > 64 {
        return None;
    }
    let tag = *b.get(*pos)?;
    *pos += 1;
    match tag {
        127 | 126 | 121 | 120 => {}
        125 => {
            // varInt: bytes with the continuation bit, then one without.
            while *b.get(*pos)? & 0x80 != 0 {
                *pos += 1;
            }
            *pos += 1;
        }
        124 => *pos += 4,
        123 | 122 => *pos += 8,
        119 | 116 => {
            var_bytes(b, pos)?;
        }
        118 => {
            for _ in 0..read_var(b, pos)? {
                var_bytes(b, pos)?;
                skip_any(b, pos, depth + 1)?;
            }
        }
        117 => {
            for _ in 0..read_var(b, pos)? {
                skip_any(b, pos, depth + 1)?;
            }
        }
        _ => return None,
    }
    (*pos <= b.len()).then_some(())
}

/// Most updates a [`DurablePush`] leaves unacknowledged, and most it puts in one frame.
const PUSH_WINDOW: usize = 500;
const PUSH_FRAME: usize = 100;

/// One client pushing a list of updates with `?ext=1`: many update messages per frame, at most
/// [`PUSH_WINDOW`] unacknowledged. A task reads the echoes and acknowledgements all the time, so
/// the client's outbox on the server never fills.
pub struct DurablePush {
    sink: futures_util::stream::SplitSink<Ws, Message>,
    framing: Framing,
    doc: String,
    acked: std::sync::Arc<AtomicU64>,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reading: tokio::task::JoinHandle<()>,
    sent: usize,
}

impl DurablePush {
    /// Takes over `peer`, after its handshake.
    pub fn new(peer: Peer) -> DurablePush {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let framing = peer.framing;
        let (sink, mut stream) = peer.ws.split();
        let acked = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(AtomicBool::new(false));
        let reading = {
            let (acked, ended) = (acked.clone(), ended.clone());
            tokio::spawn(async move {
                while let Some(Ok(m)) = stream.next().await {
                    if let Message::Binary(b) = m {
                        if let Incoming::Ack(n) = framing.parse(&b) {
                            acked.fetch_max(n, Ordering::Relaxed);
                        }
                    }
                }
                ended.store(true, Ordering::Relaxed);
            })
        };
        DurablePush {
            sink,
            framing,
            doc: peer.doc,
            acked,
            ended,
            reading,
            sent: 0,
        }
    }

    /// Sends `updates[..upto]` on from where the last call stopped, and returns once the server
    /// acknowledged all of them as durable; fails after `deadline` or if the connection ends.
    /// `idle` is the pause while the window is full.
    pub async fn until_acked(
        &mut self,
        updates: &[Vec<u8>],
        upto: usize,
        deadline: std::time::Instant,
        idle: std::time::Duration,
    ) -> anyhow::Result<()> {
        loop {
            let a = self.acked.load(Ordering::Relaxed) as usize;
            if a >= upto {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("only {a} of {} updates acknowledged in time", updates.len());
            }
            if self.ended.load(Ordering::Relaxed) {
                anyhow::bail!("connection ended after {a} acknowledgements");
            }
            if self.sent < upto && self.sent - a.min(self.sent) < PUSH_WINDOW {
                let end = (self.sent + PUSH_FRAME).min(upto);
                let mut frame = Vec::new();
                for u in &updates[self.sent..end] {
                    frame.extend(self.framing.update(&self.doc, u));
                }
                self.sink.send(Message::binary(frame)).await?;
                self.sent = end;
            } else {
                tokio::time::sleep(idle).await;
            }
        }
    }

    /// Closes the connection (a Close frame, then the reading task stops).
    pub async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
    }
}

impl Drop for DurablePush {
    fn drop(&mut self) {
        self.reading.abort();
    }
}
