//! The WebSocket side of a connection: reads frames into the room, writes the room's
//! messages (and the ack frames for committed updates) out, pings, and closes with a code
//! that says why. The only module (with `http`) that names axum, and the only one that names
//! tungstenite.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::auth::{Access, AuthError, Grant, Verifier};
use crate::config::Config;
use crate::conn::{CloseReason, Conn, ConnId, OpenSockets, Outbox};
use crate::limits::{Admission, FrameLimiter};
use crate::metrics::{Metrics, Refusal};
use crate::protocol::message::{decode_auth_token, encode_ack, encode_permission_denied};
use crate::registry::{DocCommand, Registry};
use crate::storage::CommitWatcher;
use collab_core::doc_name::DocName;
use collab_core::wire::close_code;

/// How long a closing handshake may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Bytes tungstenite reads at a time. Its read buffer is allocated at this size up front and
/// kept for the connection's life, so it is a large part of what an idle connection costs (its
/// default, 128 KiB, would cost that much per connection; 4 KiB was ~4 KB of the ~9.7 KB).
/// What clients send is mostly keystroke updates and presence of a few dozen to a few hundred
/// bytes; larger messages are still read whole (the buffer grows to the frame), in more reads.
pub const READ_BUFFER: usize = 256;

/// The close reason sockets get at shutdown.
pub const SHUTTING_DOWN: &str = "server shutting down";

/// What a socket task needs of the server, shared by every connection (each holds one
/// pointer to it for its life).
pub struct SocketContext {
    pub config: Arc<Config>,
    pub registry: Registry,
    /// Every open socket's close signal, so shutdown can close them with 1001.
    pub open_sockets: Arc<OpenSockets>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server begins to shut down (the close reason then says so).
    pub shutdown: CancellationToken,
}

/// One upgraded connection: what it asked for and how it was let in.
pub struct SocketRequest {
    pub doc: DocName,
    /// `?ext=1`: the client takes the durable-ack extension's messages.
    pub wants_ext: bool,
    pub check: TokenCheck,
    /// Its place under the connection caps, held until it ends.
    pub admission: Admission,
}

/// Whether and how a connection proves it may open its document.
pub enum TokenCheck {
    /// No secret configured: everyone may read and write.
    Open,
    /// `?token=` was checked before the upgrade (against the document too).
    Checked(Result<Grant, AuthError>),
    /// No `?token=`: the first binary message must be the token message.
    AwaitToken(Arc<Verifier>),
}

/// Serves one upgraded connection until either side closes it. Nothing of the document or
/// presence is sent before the connection is admitted (`check`).
///
/// Not an `async fn`, for memory: the returned future lives (inline in its tokio task) as long
/// as the connection, and an `async fn` keeps every argument twice (once as passed, once as a
/// local), including the 368-byte `WebSocket` it no longer needs once split. Splitting first
/// and capturing the arguments in one `async move` block keeps each once.
pub fn serve(
    socket: WebSocket,
    request: SocketRequest,
    app: Arc<SocketContext>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let SocketRequest {
        doc,
        wants_ext,
        check,
        admission,
    } = request;
    let (mut sink, mut stream) = socket.split();
    // Boxed: whatever the async block captures stays in the future for the connection's life,
    // and the check (a token's grant, or its error) is only needed until the join.
    let check = Box::new(check);
    async move {
        // Held until the connection ends.
        let _admission = admission;
        let id = ConnId::next();
        let (mut conn, mut outbox, close) = Conn::new(id, wants_ext, app.config.send_queue);
        // Shutdown reaches this socket through its close signal (see `OpenSockets`): the loop
        // below polls only per-connection state, never the shared shutdown token.
        let _open = app.open_sockets.register(id, &close);
        let config = &app.config;
        let admitted = match *check {
            TokenCheck::Open => Ok((None, None)),
            TokenCheck::Checked(checked) => checked.map(|grant| (Some(grant), None)),
            TokenCheck::AwaitToken(verifier) => {
                let waited = tokio::select! {
                    biased;
                    _ = close.closed() => return,
                    waited = tokio::time::timeout(config.auth_timeout, first_token(&mut stream)) => waited,
                };
                match waited {
                    Ok(Some((token, rest))) => verifier
                        .verify(&token)
                        .and_then(|grant| grant.for_doc(doc.as_str()))
                        .map(|grant| (Some(grant), rest)),
                    Ok(None) | Err(_) => Err(AuthError::Missing),
                }
            }
        };
        let (grant, first_frame) = match admitted {
            Ok(admitted) => admitted,
            Err(err) => {
                tracing::info!(%doc, conn = %id, reason = %err, "refused a connection");
                let _ = sink
                    .send(Message::Binary(encode_permission_denied(&err.to_string())))
                    .await;
                let code = if err.is_unauthorized() {
                    close_code::UNAUTHORIZED
                } else {
                    close_code::FORBIDDEN
                };
                close_socket(&mut sink, &mut stream, reason(code, &err.to_string())).await;
                return;
            }
        };
        // Boxed at once: a timer's state would otherwise take room in every connection's
        // future, token or not (boxing the never-ready future of an open server allocates
        // nothing). It ends when the token expires or the key that signed it is rotated.
        let mut expiry: std::pin::Pin<Box<dyn std::future::Future<Output = AuthError> + Send>> =
            Box::pin(std::future::pending());
        if let Some(grant) = grant {
            expiry = Box::pin(grant.ended());
            conn = conn.with_user(grant.user, grant.access == Access::Read);
        }
        tracing::debug!(%doc, conn = %id, wants_ext, user = ?conn.user.as_ref().map(|u| &u.id), read_only = conn.read_only, "connected");
        if app
            .registry
            .send(doc.clone(), DocCommand::Join(conn))
            .await
            .is_err()
        {
            return;
        }
        if let Some(frame) = first_frame.filter(|f| !f.is_empty()) {
            if app
                .registry
                .send(doc.clone(), DocCommand::Frame(id, frame))
                .await
                .is_err()
            {
                return;
            }
        }
        let mut ping =
            tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
        let mut last_heard = Instant::now();
        let mut limiter = FrameLimiter::new(&config.limits, std::time::Instant::now());

        let ending: Option<CloseReason> = loop {
            tokio::select! {
                biased;
                // Before the close signal: a link revoked just before a shutdown (the desktop's
                // Stop sharing) is told so (4401), not "going away".
                ended = &mut expiry => break Some(reason(close_code::UNAUTHORIZED, &ended.to_string())),
                closing = close.closed() => break Some(closing_reason(&app, closing)),
                Some(frame) = outbox.recv() => {
                    // Frames queued behind this one go out with it, in one write (`write_batch`).
                    // A client that stops reading fills its TCP window and this write blocks: keep
                    // watching the close signal (the room closes us when the outbox overflows),
                    // and give up on a write stalled for the idle timeout.
                    let mut sent = Sent::default();
                    let write = tokio::time::timeout(
                        config.idle_timeout,
                        write_batch(&mut sink, &mut outbox, frame, &mut sent),
                    );
                    let written = tokio::select! {
                        biased;
                        closing = close.closed() => break Some(closing_reason(&app, closing)),
                        written = write => written,
                    };
                    match written {
                        Ok(Ok(())) => app.metrics.sent_many(sent.messages, sent.bytes),
                        Ok(Err(err)) => {
                            tracing::debug!(conn = %id, error = %err, "send failed");
                            break None;
                        }
                        Err(_) => {
                            tracing::warn!(conn = %id, "closing a connection whose writes stalled");
                            break Some(reason(close_code::TOO_SLOW, "write stalled: reading too slowly"));
                        }
                    }
                }
                incoming = stream.next() => {
                    let message = match incoming {
                        None => break None,
                        Some(Ok(message)) => message,
                        Some(Err(err)) => break read_error(id, err, config.max_message_size),
                    };
                    last_heard = Instant::now();
                    match message {
                        Message::Binary(frame) => {
                            app.metrics.received(frame.len());
                            if let Err(limited) = limiter.check(&frame, std::time::Instant::now()) {
                                tracing::warn!(%doc, conn = %id, "closing a connection over its rate limit: {limited}");
                                app.metrics.refused(limited.refusal());
                                break Some(reason(close_code::RATE_LIMITED, &limited.to_string()));
                            }
                            let sent = app.registry.send(doc.clone(), DocCommand::Frame(id, frame)).await;
                            if sent.is_err() {
                                break Some(reason(close_code::GOING_AWAY, SHUTTING_DOWN));
                            }
                        }
                        Message::Text(_) => {
                            tracing::warn!(conn = %id, "refused a text frame");
                            break Some(reason(close_code::UNSUPPORTED_DATA, "binary frames only"));
                        }
                        Message::Ping(_) | Message::Pong(_) => {}
                        Message::Close(_) => break None,
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > config.idle_timeout {
                        tracing::info!(conn = %id, "closing a connection that stopped answering pings");
                        break Some(reason(close_code::TIMEOUT, "no pong within the idle timeout"));
                    }
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
            }
        };

        // Leave first, so the room stops sending to a socket that is going away.
        let _ = app.registry.send(doc.clone(), DocCommand::Leave(id)).await;
        if let Some(ending) = ending {
            if ending.code == close_code::TOO_SLOW {
                app.metrics.refused(Refusal::TooSlow);
            }
            close_socket(&mut sink, &mut stream, ending).await;
        }
        tracing::debug!(%doc, conn = %id, "disconnected");
    }
}

/// The storage writer reports a connection's updates durable: an extension client (`?ext=1`)
/// hears the count as an ack frame, queued behind what the room already sent it.
impl CommitWatcher for Conn {
    fn committed(&self, count: u64) {
        self.send(encode_ack(count));
    }
}

/// Most bytes of queued frames `write_batch` feeds before it flushes; also tungstenite's write
/// buffer size, so frames fed before the flush are written together.
pub const WRITE_BATCH: usize = 16 * 1024;

/// What a batch wrote, for the metrics.
#[derive(Default)]
struct Sent {
    messages: u64,
    bytes: u64,
}

/// Writes `first` and the frames queued behind it (up to `WRITE_BATCH` bytes) with one flush:
/// one write to the socket per batch instead of one per frame. Each frame is still its own
/// WebSocket message, as before. `sent` is filled in once the flush succeeded.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    outbox: &mut Outbox,
    first: bytes::Bytes,
    sent: &mut Sent,
) -> Result<(), axum::Error> {
    let mut batch = Sent {
        messages: 1,
        bytes: first.len() as u64,
    };
    sink.feed(Message::Binary(first)).await?;
    while batch.bytes < WRITE_BATCH as u64 {
        let Ok(frame) = outbox.try_recv() else { break };
        batch.messages += 1;
        batch.bytes += frame.len() as u64;
        sink.feed(Message::Binary(frame)).await?;
    }
    sink.flush().await?;
    *sent = batch;
    Ok(())
}

/// The close reason to send when the close signal fired: 1001 if the server is shutting down
/// (shutdown wins over any other reason, as when the loop watched the shutdown token itself).
fn closing_reason(app: &SocketContext, closing: CloseReason) -> CloseReason {
    if app.shutdown.is_cancelled() {
        reason(close_code::GOING_AWAY, SHUTTING_DOWN)
    } else {
        closing
    }
}

/// Sends a close frame and waits (briefly) for the client's reply.
async fn close_socket(
    sink: &mut SplitSink<WebSocket, Message>,
    stream: &mut SplitStream<WebSocket>,
    ending: CloseReason,
) {
    let frame = CloseFrame {
        code: ending.code,
        reason: truncate_reason(&ending.reason).into(),
    };
    let closing = async {
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            // Wait for the client's close reply (or its disconnect).
            while let Some(Ok(_)) = stream.next().await {}
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, closing).await;
}

/// Reads until the first binary frame and takes the token message from its start: the token
/// and whatever messages followed it in the frame. `None` if the frame is anything else or the
/// connection ends first.
async fn first_token(stream: &mut SplitStream<WebSocket>) -> Option<(String, Option<Bytes>)> {
    loop {
        match stream.next().await? {
            Ok(Message::Binary(frame)) => {
                let (token, rest) = decode_auth_token(&frame)?;
                let rest = frame.slice_ref(rest);
                return Some((token.to_owned(), Some(rest)));
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(_) | Err(_) => return None,
        }
    }
}

fn reason(code: u16, text: &str) -> CloseReason {
    CloseReason {
        code,
        reason: text.to_owned(),
    }
}

/// What a failed read means: an oversized message gets 1009, anything else just ends.
fn read_error(id: ConnId, err: axum::Error, max: usize) -> Option<CloseReason> {
    let inner = err.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(capacity)) => {
            tracing::warn!(conn = %id, error = %capacity, "refused an oversized message");
            Some(reason(
                close_code::MESSAGE_TOO_BIG,
                &format!("message larger than {max} bytes"),
            ))
        }
        _ => {
            tracing::debug!(conn = %id, error = %inner, "read failed");
            None
        }
    }
}

/// Close reasons are limited to 123 bytes by the WebSocket protocol.
fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

/// Builds the upgrade with our size limits and buffer sizes.
pub fn configure(
    upgrade: axum::extract::ws::WebSocketUpgrade,
    max_message_size: usize,
) -> axum::extract::ws::WebSocketUpgrade {
    upgrade
        .max_message_size(max_message_size)
        .max_frame_size(max_message_size)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BATCH)
        .max_write_buffer_size(max_message_size.saturating_mul(2).max(1 << 20))
}
