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
        let mut b = Vec::new();
        self.prefix(doc, &mut b);
        b.extend_from_slice(&[0, 0, 1, 0]);
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
                    Some(1) => Incoming::Step2(body.len()),
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
    let src = Ipv4Addr::new(127, 0, 0, 2 + (index as u32 % SOURCES) as u8);
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("cannot connect to {server}"))?;
    stream.set_nodelay(true)?;
    // The client's own buffers stay small: 10,000 clients live in this process.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
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

    /// Sends (auth and) SyncStep1 and waits for the SyncStep2: returns its payload size.
    pub async fn handshake(&mut self) -> anyhow::Result<usize> {
        if let Some(auth) = self.framing.auth(&self.doc) {
            self.ws.feed(Message::binary(auth)).await?;
        }
        let step1 = self.framing.step1(&self.doc);
        self.send(step1).await?;
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    if let Incoming::Step2(n) = self.framing.parse(&b) {
                        return Ok(n);
                    }
                }
                Some(Ok(Message::Close(c))) => anyhow::bail!("closed during handshake: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("connection ended during handshake"),
            }
        }
    }
}
