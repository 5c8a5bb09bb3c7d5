//! Extension messages and close codes the server and the widget agree on (ARCHITECTURE.md,
//! "Wire protocol").

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

/// Close codes a client must tell apart.
pub mod close_code {
    /// An update that would take the document over the server's `--max-document-size`.
    /// Retrying would be refused again: the client keeps its text and stops.
    pub const DOCUMENT_TOO_LARGE: u16 = 4413;
}
