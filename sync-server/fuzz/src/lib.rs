//! Shared code of the fuzz targets: the server's own validator and frame decoder, compiled
//! from their source files (they name no other module of the server, so the fuzz build skips
//! the network and storage stack), and the document the `apply` target starts from.

#[path = "../../src/protocol/validate.rs"]
pub mod validate;

#[path = "../../src/protocol/message.rs"]
pub mod message;

use yrs::{Doc, Text, Transact};

/// The shared text every client edits, as in the server's rooms.
pub const TEXT_NAME: &str = "content";

/// A document with some history under client 1 ("hello world", then two characters
/// deleted), so fuzzed updates can refer to existing, deleted and split items.
pub fn base_doc() -> Doc {
    let doc = Doc::with_client_id(1);
    let text = doc.get_or_insert_text(TEXT_NAME);
    {
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "hello world");
    }
    {
        let mut txn = doc.transact_mut();
        text.remove_range(&mut txn, 2, 2);
    }
    doc
}
