//! `collab-core`: what the sync server, the widget and the fuzz targets share, with no I/O.
//!
//! # Layout
//! - [`split`] — cuts a v1 update into pieces that each fit a message limit, in an order in
//!   which every piece applies at once (nothing waits for a later piece).
//! - [`validate`] — the strict v1 update check that runs before yrs sees client bytes.
//! - [`json`] — the JSON syntax check the validator runs on embeds and format values.
//! - [`order`] — after an update's items are applied, whether each lies before its right
//!   origin (yrs would diverge on one that does not).
//! - [`same_order`] — the whole-document form of that check, for what positions cannot show.
//! - [`color`] — the avatar colour palette and the selection colour derived from a colour.
//! - [`doc_name`] — `DocName`, the document-name rule every part applies.
//! - [`engine`] — the yrs engine documents run on: applying an update, building a document
//!   from stored rows, merging them for a compaction.
//! - [`wire`] — extension message tags, the client-id bound and close codes both ends must
//!   agree on.
//! - `testing` (feature `test-support`, and this crate's own tests) — shared test logs.

pub mod color;
pub mod doc_name;
pub mod engine;
pub mod json;
pub mod order;
pub mod same_order;
pub mod split;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod validate;
pub mod wire;
