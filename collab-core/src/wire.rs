//! Extension messages and close codes the server and the widget agree on (docs/protocol.md).

/// Durable acknowledgement: `varUint(100) • varUint8Array(varUint(count))`.
pub const MSG_ACK: u8 = 100;
/// The server's limits, sent to extension clients (`?ext=1`) when they join, before
/// SyncStep1: `varUint(101) • varUint8Array(varUint(max_message_size) •
/// varUint(max_document_size))`, sizes in bytes, 0 meaning no limit. Readers ignore bytes
/// after the fields they know, so fields can be added.
pub const MSG_LIMITS: u8 = 101;

/// Client ids are 53-bit in Yjs (JavaScript's safe integers); larger ones are masked by yrs and
/// make JS peers throw. The validator refuses them in updates, the server in awareness
/// entries, and the widget does not publish presence with them.
pub const MAX_CLIENT_ID: u64 = (1 << 53) - 1;

/// What a sync message costs besides its update: the message tag, the sync tag and the
/// update's length prefix (at most 5 bytes for lengths below 2^35).
pub const SYNC_MESSAGE_OVERHEAD: usize = 1 + 1 + 5;

/// The close codes the server sends (also listed in docs/protocol.md), which the widget tells
/// apart to decide whether to retry.
pub mod close_code {
    /// Server shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A text frame: the protocol is binary.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame that does not decode as y-protocols messages.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message larger than the configured maximum.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The document could not be loaded from storage.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// An update that failed validation, or that yrs refused to decode or apply.
    pub const UPDATE_REJECTED: u16 = 4400;
    /// No valid token: missing, malformed, badly signed, wrong algorithm or audience, expired
    /// (also while connected), or none within the auth timeout.
    pub const UNAUTHORIZED: u16 = 4401;
    /// A valid token that does not grant this document (4403 was taken before auth came).
    pub const FORBIDDEN: u16 = 4402;
    /// An update writing new items under a client id another connection (or, with tokens,
    /// another user) owns.
    pub const NOT_YOUR_CLIENT_ID: u16 = 4403;
    /// No pong or other traffic within the liveness timeout.
    pub const TIMEOUT: u16 = 4408;
    /// The document was deleted (`DELETE /api/docs/{doc}`) while connected.
    pub const DELETED: u16 = 4410;
    /// The client sent messages or sync requests faster than its rate limits allow.
    pub const RATE_LIMITED: u16 = 4420;
    /// The connection's send queue overflowed, or a write to it stalled: it reads too slowly.
    pub const TOO_SLOW: u16 = 4429;
    /// An update that would take the document over the server's `--max-document-size`.
    /// Retrying would be refused again: the client keeps its text and stops.
    pub const DOCUMENT_TOO_LARGE: u16 = 4413;
}
