//! The yrs engine the server runs documents on, with no I/O: the shared text's name,
//! applying one update ([`apply`]), building a document from stored rows and merging them
//! ([`load`]), the update a server-side edit makes ([`edit`]). Every yrs call here that reads stored or client bytes runs under
//! `catch_unwind`; callers run it on a thread with a large stack.

pub mod apply;
pub mod edit;
pub mod load;

pub use apply::{apply_update, would_change, Applied, Source, MAX_WAITING_BYTES};
pub use edit::edit_update;
pub use load::{build_doc, merge_stored, Merged, LOAD_BATCH_ROWS};

/// The shared text every client edits (`ydoc.getText('content')`).
pub const TEXT_NAME: &str = "content";

/// The message a caught panic carried, when it is a string.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".to_owned()
    }
}
