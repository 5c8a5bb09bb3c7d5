//! `collab-core`: what the sync server, the widget and the fuzz targets share, with no I/O.
//!
//! # Layout
//! - [`split`] — cuts a v1 update into pieces that each fit a message limit, in an order in
//!   which every piece applies at once (nothing waits for a later piece).
//! - [`wire`] — extension message tags and close codes both ends must agree on.

pub mod split;
pub mod wire;
