//! A Yjs-compatible sync server: WebSocket sync and awareness, durable SQLite (or PostgreSQL)
//! storage.
//!
//! # Layout
//! - [`auth`]: access tokens (HS256, or RS256/ES256/EdDSA from a public key or JWK set):
//!   verify, mint, the identity they stamp on presence.
//! - [`origin`]: which web pages (`Origin`) may open a WebSocket.
//! - [`server`]: `Server::bind(config) -> local_addr() -> run(shutdown)`, and shutdown order.
//! - [`config`]: every tunable, with defaults.
//! - [`http`]: routes: `/sync/{doc}`, `/healthz`, `/readyz`, `/metrics`, `/api/docs`,
//!   `/api/docs/{doc}/text` (GET, PUT), `/api/docs/{doc}/update` (export, import), and static
//!   files as the fallback.
//! - [`assets`]: static files from the web root: path containment, MIME types, revalidation.
//! - [`transport`]: one WebSocket connection: read, write, ping, close codes.
//! - [`limits`]: connection caps (total, per IP, per document) and per-connection rate limits.
//! - [`metrics`]: counters and histograms for `/metrics`; readiness for `/readyz`.
//! - [`conn`]: the handle rooms hold on a connection (outbox, close signal).
//! - [`registry`]: rooms by document name, spread over room threads; carries out what rooms
//!   ask for (their effects).
//! - [`relay`]: cross-instance fan-out over Redis pub/sub (`--redis`); instance heartbeats.
//! - [`room`]: one document (yrs `Doc`, presence, members, protocol rules) as a state machine
//!   that does no I/O: events in, effects out; the `Fanout` trait the relay implements.
//! - [`pieces`]: documents and large updates cut into frames that fit, shared by joiners.
//! - [`protocol`]: sans-IO wire format: frames to messages and back; presence bookkeeping.
//! - [`storage`]: the `Store` trait, SQLite, PostgreSQL, and the group-committing writer thread.
//! - [`webhook`]: POSTs to `--webhook` URLs after commits and deletes (signed, retried).
//! - [`timestamp`]: RFC 3339 times for the API and webhooks.
//! - [`crash_guard`]: the journal of the update being applied, and quarantine at start-up.

pub mod assets;
pub mod auth;
pub mod config;
pub mod conn;
pub mod crash_guard;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod origin;
pub mod pieces;
pub mod protocol;
pub mod registry;
pub mod relay;
pub mod room;
pub mod server;
pub mod storage;
pub mod timestamp;
pub mod transport;
pub mod webhook;

pub use collab_core::doc_name::DocName;
pub use config::Config;
pub use server::{Server, ServerError};
