//! Wire format: y-protocols messages (`tag • payload`) plus our acknowledgement extension.
//!
//! Incoming frames may carry several messages back to back; every outgoing message is its own
//! frame, because stock y-websocket v3 clients read only the first message of a frame.
//! Counts and lengths declared inside a payload are checked against the bytes actually present
//! before anything is allocated for them, and client ids must fit in 53 bits (what Yjs uses).
//! Document updates are kept as raw bytes here: decoding them is the room's job, on a thread
//! built for it.

use std::sync::Arc;

use bytes::Bytes;
use collab_core::wire::MAX_CLIENT_ID;
use yrs::encoding::read::{self, Cursor, Read};
use yrs::encoding::write::Write;
use yrs::{ClientID, StateVector};

/// Top-level message tags (y-protocols).
pub const MSG_SYNC: u8 = 0;
pub const MSG_AWARENESS: u8 = 1;
pub const MSG_AUTH: u8 = 2;
pub const MSG_QUERY_AWARENESS: u8 = 3;
/// Our extensions (see docs/protocol.md, "Extension messages"): durable acknowledgement, and the
/// server's limits told to a client when it joins.
pub use collab_core::wire::{MSG_ACK, MSG_LIMITS};

/// Sync sub-message tags.
pub const SYNC_STEP1: u8 = 0;
pub const SYNC_STEP2: u8 = 1;
pub const SYNC_UPDATE: u8 = 2;

/// Auth sub-message tag: permission denied, followed by a reason string.
pub const AUTH_PERMISSION_DENIED: u8 = 0;

/// One decoded incoming message.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    SyncStep1(StateVector),
    /// A v1-encoded update answering our SyncStep1 (not decoded yet).
    SyncStep2(Vec<u8>),
    /// A v1-encoded update (not decoded yet).
    Update(Vec<u8>),
    Awareness(Vec<AwarenessEntry>),
    AwarenessQuery,
    /// An auth message from a client; the server never expects one and ignores it.
    Auth,
    /// A message with a tag this server does not know; its payload was skipped.
    Unknown(u8),
}

/// One client's entry of an awareness update.
#[derive(Debug, Clone, PartialEq)]
pub struct AwarenessEntry {
    pub client: u64,
    pub clock: u32,
    /// The state as JSON text, checked to be a JSON object; `None` when the client removed it.
    pub state: Option<Arc<str>>,
}

/// Why an incoming frame was refused. The whole frame is refused: no message of it is used.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("empty frame")]
    EmptyFrame,
    #[error("malformed or truncated message: {0}")]
    Malformed(#[from] read::Error),
    #[error("message tag {0} does not fit in one byte")]
    TagTooLarge(u32),
    #[error("unknown sync message type {0}")]
    UnknownSyncType(u8),
    #[error("{what} claims {claimed} entries but only {bytes} bytes follow")]
    CountExceedsBytes {
        what: &'static str,
        claimed: u64,
        bytes: usize,
    },
    #[error("client id {0} does not fit in 53 bits")]
    ClientIdTooLarge(u64),
    #[error("awareness state of client {client} is not a JSON object or null: {reason}")]
    BadAwarenessState { client: u64, reason: String },
    #[error("{0} bytes left over after the last entry of an awareness message")]
    TrailingBytes(usize),
}

/// Splits one incoming frame into its messages.
pub fn decode_frame(frame: &[u8]) -> Result<Vec<Incoming>, ProtocolError> {
    if frame.is_empty() {
        return Err(ProtocolError::EmptyFrame);
    }
    let mut cursor = Cursor::new(frame);
    let mut messages = Vec::new();
    while cursor.has_content() {
        messages.push(decode_message(&mut cursor)?);
    }
    Ok(messages)
}

fn decode_message(cursor: &mut Cursor<'_>) -> Result<Incoming, ProtocolError> {
    let tag = read_tag(cursor)?;
    Ok(match tag {
        MSG_SYNC => match read_tag(cursor)? {
            SYNC_STEP1 => Incoming::SyncStep1(decode_state_vector(cursor.read_buf()?)?),
            SYNC_STEP2 => Incoming::SyncStep2(cursor.read_buf()?.to_vec()),
            SYNC_UPDATE => Incoming::Update(cursor.read_buf()?.to_vec()),
            other => return Err(ProtocolError::UnknownSyncType(other)),
        },
        MSG_AWARENESS => Incoming::Awareness(decode_awareness(cursor.read_buf()?)?),
        MSG_AUTH => {
            if read_tag(cursor)? == AUTH_PERMISSION_DENIED {
                cursor.read_string()?;
            }
            Incoming::Auth
        }
        MSG_QUERY_AWARENESS => Incoming::AwarenessQuery,
        other => {
            // How yrs and y-protocols frame unknown messages: `tag • varUint8Array`.
            cursor.read_buf()?;
            Incoming::Unknown(other)
        }
    })
}

fn read_tag(cursor: &mut Cursor<'_>) -> Result<u8, ProtocolError> {
    let tag: u32 = cursor.read_var()?;
    u8::try_from(tag).map_err(|_| ProtocolError::TagTooLarge(tag))
}

fn check_client_id(client: u64) -> Result<u64, ProtocolError> {
    if client > MAX_CLIENT_ID {
        return Err(ProtocolError::ClientIdTooLarge(client));
    }
    Ok(client)
}

/// Rejects a declared entry count that the remaining bytes cannot hold.
fn check_count(
    what: &'static str,
    claimed: u64,
    bytes: usize,
    min_entry_len: usize,
) -> Result<usize, ProtocolError> {
    let fits = usize::try_from(claimed)
        .ok()
        .filter(|&count| count.saturating_mul(min_entry_len) <= bytes);
    fits.ok_or(ProtocolError::CountExceedsBytes {
        what,
        claimed,
        bytes,
    })
}

fn decode_state_vector(payload: &[u8]) -> Result<StateVector, ProtocolError> {
    let mut cursor = Cursor::new(payload);
    let claimed: u64 = cursor.read_var()?;
    // Each entry is at least two bytes: a client id and a clock.
    let count = check_count("state vector", claimed, remaining(payload, &cursor), 2)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let client = check_client_id(cursor.read_var()?)?;
        let clock: u32 = cursor.read_var()?;
        entries.push((ClientID::new(client), clock));
    }
    Ok(entries.into_iter().collect())
}

fn decode_awareness(payload: &[u8]) -> Result<Vec<AwarenessEntry>, ProtocolError> {
    let mut cursor = Cursor::new(payload);
    let claimed: u64 = cursor.read_var()?;
    // Each entry is at least three bytes: client id, clock and a string length.
    let count = check_count("awareness update", claimed, remaining(payload, &cursor), 3)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let client = check_client_id(cursor.read_var()?)?;
        let clock: u32 = cursor.read_var()?;
        let json = cursor.read_string()?;
        let state = parse_awareness_state(client, json)?;
        entries.push(AwarenessEntry {
            client,
            clock,
            state,
        });
    }
    let left = remaining(payload, &cursor);
    if left != 0 {
        return Err(ProtocolError::TrailingBytes(left));
    }
    Ok(entries)
}

fn parse_awareness_state(client: u64, json: &str) -> Result<Option<Arc<str>>, ProtocolError> {
    let bad = |reason: String| ProtocolError::BadAwarenessState { client, reason };
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Null) => Ok(None),
        Ok(serde_json::Value::Object(_)) => Ok(Some(json.into())),
        Ok(other) => Err(bad(format!("found {}", json_kind(&other)))),
        Err(err) => Err(bad(err.to_string())),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Bytes not yet consumed by `cursor`, which reads `payload`.
fn remaining(payload: &[u8], cursor: &Cursor<'_>) -> usize {
    payload.len() - cursor.next
}

/// How many messages an incoming frame holds, and how many of them are sync requests
/// (SyncStep1). Only tags and lengths are read, nothing is allocated: rate limits charge
/// frames by this before the room decodes them. Counting stops at the first malformed
/// message (the room refuses such a frame whole).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameShape {
    pub messages: usize,
    pub sync_requests: usize,
}

pub fn frame_shape(frame: &[u8]) -> FrameShape {
    let mut shape = FrameShape::default();
    let mut cursor = Cursor::new(frame);
    while cursor.has_content() {
        let Ok(is_sync_request) = skip_message(&mut cursor) else {
            break;
        };
        shape.messages += 1;
        shape.sync_requests += usize::from(is_sync_request);
    }
    shape
}

/// Skips one message; says whether it was a SyncStep1.
fn skip_message(cursor: &mut Cursor<'_>) -> Result<bool, ProtocolError> {
    match read_tag(cursor)? {
        MSG_SYNC => {
            let kind = read_tag(cursor)?;
            cursor.read_buf()?;
            return Ok(kind == SYNC_STEP1);
        }
        MSG_AUTH => {
            if read_tag(cursor)? == AUTH_PERMISSION_DENIED {
                cursor.read_buf()?;
            }
        }
        MSG_QUERY_AWARENESS => {}
        _ => {
            cursor.read_buf()?;
        }
    }
    Ok(false)
}

/// `SyncStep1`: our state vector, asking the client for what we lack.
pub fn encode_sync_step1(state_vector: &StateVector) -> Bytes {
    use yrs::updates::encoder::Encode;
    encode_sync(SYNC_STEP1, &state_vector.encode_v1())
}

/// `SyncStep2`: what the client lacks, as a v1 update.
pub fn encode_sync_step2(update: &[u8]) -> Bytes {
    encode_sync(SYNC_STEP2, update)
}

/// `Update`: a v1 update to apply.
pub fn encode_update(update: &[u8]) -> Bytes {
    encode_sync(SYNC_UPDATE, update)
}

fn encode_sync(kind: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.write_var(MSG_SYNC);
    out.write_var(kind);
    out.write_buf(payload);
    out.into()
}

/// An awareness update carrying `entries`; a `None` state encodes as JSON `null` (removed).
pub fn encode_awareness<'a>(
    entries: impl ExactSizeIterator<Item = (u64, u32, Option<&'a str>)>,
) -> Bytes {
    let mut payload = Vec::new();
    payload.write_var(entries.len());
    for (client, clock, state) in entries {
        payload.write_var(client);
        payload.write_var(clock);
        payload.write_string(state.unwrap_or("null"));
    }
    let mut out = Vec::with_capacity(payload.len() + 6);
    out.write_var(MSG_AWARENESS);
    out.write_buf(payload);
    out.into()
}

/// Our acknowledgement extension: `100 • varUint8Array(varUint(count))`, where `count` is how
/// many of this connection's update-carrying messages are committed to disk.
pub fn encode_ack(count: u64) -> Bytes {
    let mut payload = Vec::with_capacity(10);
    payload.write_var(count);
    let mut out = Vec::with_capacity(12);
    out.write_var(MSG_ACK);
    out.write_buf(payload);
    out.into()
}

/// Our limits extension: `101 • varUint8Array(varUint(max_message_size) •
/// varUint(max_document_size))`, in bytes, 0 meaning no limit; sent to extension clients when
/// they join, so they can cut what they send to fit.
pub fn encode_limits(max_message_size: u64, max_document_size: u64) -> Bytes {
    let mut payload = Vec::with_capacity(20);
    payload.write_var(max_message_size);
    payload.write_var(max_document_size);
    let mut out = Vec::with_capacity(24);
    out.write_var(MSG_LIMITS);
    out.write_buf(payload);
    out.into()
}

/// Reads the token message a client sends first when it did not put `?token=` in the URL:
/// `varUint(2) • varString(token)`, possibly followed by more messages in the same frame.
/// Returns the token and the bytes after it; `None` when the frame does not start with one.
pub fn decode_auth_token(frame: &[u8]) -> Option<(&str, &[u8])> {
    let mut cursor = Cursor::new(frame);
    if read_tag(&mut cursor).ok()? != MSG_AUTH {
        return None;
    }
    let len: usize = cursor.read_var().ok()?;
    let start = cursor.next;
    let end = start.checked_add(len).filter(|&end| end <= frame.len())?;
    let token = std::str::from_utf8(&frame[start..end]).ok()?;
    Some((token, &frame[end..]))
}

/// The token message (see [`decode_auth_token`]).
pub fn encode_auth_token(token: &str) -> Bytes {
    let mut out = Vec::with_capacity(token.len() + 6);
    out.write_var(MSG_AUTH);
    out.write_string(token);
    out.into()
}

/// An auth message saying permission is denied, with a reason for humans.
pub fn encode_permission_denied(reason: &str) -> Bytes {
    let mut out = Vec::with_capacity(reason.len() + 8);
    out.write_var(MSG_AUTH);
    out.write_var(AUTH_PERMISSION_DENIED);
    out.write_string(reason);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::sync::{Message, SyncMessage};
    use yrs::updates::encoder::Encode;

    fn sync_step1_of(clients: &[(u64, u32)]) -> Vec<u8> {
        let sv: StateVector = clients
            .iter()
            .map(|&(c, k)| (ClientID::new(c), k))
            .collect();
        Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1()
    }

    #[test]
    fn reads_every_message_of_a_frame() {
        let mut frame = sync_step1_of(&[(7, 3)]);
        frame.extend(Message::Sync(SyncMessage::Update(vec![0, 0])).encode_v1());
        frame.extend(Message::AwarenessQuery.encode_v1());
        frame.extend(encode_awareness(
            [(9, 1, Some(r#"{"user":{"name":"Ada"}}"#))].into_iter(),
        ));
        let messages = decode_frame(&frame).unwrap();
        assert_eq!(messages.len(), 4);
        let Incoming::SyncStep1(sv) = &messages[0] else {
            panic!("expected SyncStep1, got {:?}", messages[0]);
        };
        assert_eq!(sv.get(&ClientID::new(7)), 3);
        assert_eq!(messages[1], Incoming::Update(vec![0, 0]));
        assert_eq!(messages[2], Incoming::AwarenessQuery);
        assert_eq!(
            messages[3],
            Incoming::Awareness(vec![AwarenessEntry {
                client: 9,
                clock: 1,
                state: Some(r#"{"user":{"name":"Ada"}}"#.into())
            }])
        );
    }

    #[test]
    fn our_encodings_are_what_yrs_decodes() {
        use yrs::updates::decoder::Decode;
        let sv: StateVector = [(ClientID::new(1), 5)].into_iter().collect();
        let decoded = Message::decode_v1(&encode_sync_step1(&sv)).unwrap();
        assert_eq!(decoded, Message::Sync(SyncMessage::SyncStep1(sv)));
        let decoded = Message::decode_v1(&encode_update(&[0, 0])).unwrap();
        assert_eq!(decoded, Message::Sync(SyncMessage::Update(vec![0, 0])));
        let decoded = Message::decode_v1(&encode_ack(300)).unwrap();
        assert_eq!(decoded, Message::Custom(MSG_ACK, vec![0xac, 0x02]));
        let decoded = Message::decode_v1(&encode_permission_denied("read-only")).unwrap();
        assert_eq!(decoded, Message::Auth(Some("read-only".into())));
    }

    #[test]
    fn token_messages_round_trip_and_keep_what_follows() {
        let mut frame = encode_auth_token("a.b.c").to_vec();
        assert_eq!(frame, b"\x02\x05a.b.c");
        frame.extend(Message::AwarenessQuery.encode_v1());
        let (token, rest) = decode_auth_token(&frame).unwrap();
        assert_eq!(token, "a.b.c");
        assert_eq!(decode_frame(rest).unwrap(), vec![Incoming::AwarenessQuery]);
        assert_eq!(decode_auth_token(&encode_update(&[0, 0])), None);
        assert_eq!(decode_auth_token(&[2, 9, b'x']), None, "truncated");
    }

    #[test]
    fn unknown_tags_are_skipped_whole() {
        let mut frame = vec![42, 3, 1, 2, 3];
        frame.extend(Message::AwarenessQuery.encode_v1());
        let messages = decode_frame(&frame).unwrap();
        assert_eq!(
            messages,
            vec![Incoming::Unknown(42), Incoming::AwarenessQuery]
        );
    }

    #[test]
    fn refuses_truncated_and_lying_frames() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("truncated varint", vec![0x80]),
            (
                "buffer longer than frame",
                vec![0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 1],
            ),
            ("unknown sync type", vec![0, 9, 0]),
            ("tag beyond a byte", vec![0x80, 0x02]),
            // A state vector claiming 2^32-1 entries in 5 bytes.
            (
                "huge state vector count",
                vec![0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x0f],
            ),
            // An awareness update claiming a million clients in 4 bytes.
            ("huge awareness count", vec![1, 4, 0xc0, 0x84, 0x3d, 0]),
        ];
        for (name, frame) in cases {
            assert!(decode_frame(&frame).is_err(), "{name} was accepted");
        }
    }

    #[test]
    fn refuses_client_ids_beyond_53_bits() {
        let mut payload = Vec::new();
        payload.write_var(1u32);
        payload.write_var(1u64 << 53);
        payload.write_var(1u32);
        let mut frame = vec![MSG_SYNC, SYNC_STEP1];
        frame.write_buf(&payload);
        assert!(matches!(
            decode_frame(&frame),
            Err(ProtocolError::ClientIdTooLarge(_))
        ));
    }

    #[test]
    fn awareness_states_must_be_json_objects_or_null() {
        for bad in ["{not json", "42", "\"text\"", "[1,2]"] {
            let frame = encode_awareness([(1, 1, Some(bad))].into_iter());
            assert!(
                matches!(
                    decode_frame(&frame),
                    Err(ProtocolError::BadAwarenessState { .. })
                ),
                "{bad} was accepted"
            );
        }
        let removed = encode_awareness([(1, 2, None)].into_iter());
        let messages = decode_frame(&removed).unwrap();
        assert_eq!(
            messages,
            vec![Incoming::Awareness(vec![AwarenessEntry {
                client: 1,
                clock: 2,
                state: None
            }])]
        );
    }
}
