//! The Yjs sync and awareness protocol, sans I/O: bytes in, typed messages out, and back.
//!
//! - [`message`]: splits an incoming frame into [`Incoming`] messages, with the bounds checks
//!   that must happen before yrs sees the bytes, and encodes every outgoing message.
//! - [`validate`]: the strict v1 update check that runs before yrs sees client bytes.
//! - [`order`]: after an update's items are applied, whether each lies before its right
//!   origin (yrs would diverge on one that does not).
//! - [`same_order`]: the whole-document form of that check, for what positions cannot show.
//! - [`presence`]: the awareness states of one document and which connection owns each.
//!
//! Nothing here knows about sockets, threads or storage.

pub mod message;
pub mod order;
pub mod presence;
pub mod same_order;
pub mod validate;

pub use message::{decode_frame, AwarenessEntry, Incoming, ProtocolError};
pub use presence::Presence;
