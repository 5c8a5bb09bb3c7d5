//! Documents and large updates cut into frames that fit, as joiners and members are sent them.
//!
//! A document of any size reaches a joining client: its state is cut
//! (`collab_core::split`) into pieces sent as one message each, so no frame depends on fitting
//! a write buffer or a client's message limit. The frames are `Bytes` shared by every
//! connection they are queued for (`Conn::send_pieces`).

use std::sync::Arc;

use bytes::Bytes;
use collab_core::split::{piece_budget, split_update_v1};

use crate::protocol::message::{encode_sync_step2, encode_update};

/// Most bytes of update in one piece sent to a client. Small on purpose: tungstenite copies
/// each frame into the connection's write buffer and keeps that buffer's capacity, so with
/// 64 KiB pieces a slow joiner of a 40 MB document holds 64 KiB of its own, not 40 MB; the
/// rest waits in its queue as shared frames.
pub const SEND_PIECE: usize = 64 * 1024;

/// A document of at most this many bytes goes to a joiner as one SyncStep2 (when the message
/// limit allows): one message for the joiner to apply, and in the load benchmark (d) a first
/// join of the 245 KB automerge-paper document went from 8.5 ms in four pieces to 1.4 ms
/// whole. The cost is what a slow joiner's write buffer keeps: at most this much each.
pub const WHOLE_DOCUMENT: usize = 256 * 1024;

/// How large the pieces of what a server sends are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceSize {
    /// Most bytes of update in one piece.
    pub update: usize,
    /// Most bytes of a document (or a joiner's missing part) sent as one SyncStep2.
    pub whole_document: usize,
}

/// The size of pieces for a server whose message limit is `max_message_size`.
pub fn piece_size(max_message_size: usize) -> PieceSize {
    let budget = piece_budget(max_message_size);
    PieceSize {
        update: SEND_PIECE.min(budget),
        whole_document: WHOLE_DOCUMENT.min(budget),
    }
}

/// The answer to a SyncStep1: every piece but the last as an Update message and the last as
/// the SyncStep2, so a client that takes SyncStep2 to mean "synced" (y-websocket's `synced`
/// event, the widget's green dot) holds the whole document by then. Up to
/// `size.whole_document` it is one SyncStep2.
pub fn sync_step2_frames(update: &[u8], size: PieceSize) -> Arc<[Bytes]> {
    let pieces = match update.len() <= size.whole_document {
        true => vec![update.to_vec()],
        false => cut(update, size.update),
    };
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| match i == last {
            true => encode_sync_step2(piece),
            false => encode_update(piece),
        })
        .collect()
}

/// An update broadcast to members, as Update messages of at most `size.update` bytes each.
pub fn update_frames(update: &[u8], size: PieceSize) -> Arc<[Bytes]> {
    cut(update, size.update)
        .iter()
        .map(|piece| encode_update(piece))
        .collect()
}

/// `update` in pieces; whole if it cannot be cut (it came from yrs or passed the validator,
/// so that would be a defect of the splitter, which the log then shows).
fn cut(update: &[u8], piece: usize) -> Vec<Vec<u8>> {
    match split_update_v1(update, piece) {
        Ok(pieces) if !pieces.is_empty() => pieces,
        Ok(_) => vec![update.to_vec()],
        Err(err) => {
            tracing::error!(error = %err, bytes = update.len(), "could not cut an update into pieces; sending it whole");
            vec![update.to_vec()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode_frame, Incoming};
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

    #[test]
    fn a_large_document_is_updates_then_one_sync_step2_that_together_hold_it() {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("content");
        let big = "Lorem ipsum dolor sit amet. ".repeat(20_000);
        text.insert(&mut doc.transact_mut(), 0, &big);
        let state = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert!(state.len() > WHOLE_DOCUMENT);
        let frames = sync_step2_frames(&state, piece_size(4 << 20));
        assert!(frames.len() > 5);
        let joiner = Doc::new();
        let joined = joiner.get_or_insert_text("content");
        for (i, frame) in frames.iter().enumerate() {
            assert!(frame.len() <= SEND_PIECE + 16);
            let update = match &decode_frame(frame).unwrap()[..] {
                [Incoming::SyncStep2(update)] => {
                    assert_eq!(i, frames.len() - 1, "only the last frame is the SyncStep2");
                    update.clone()
                }
                [Incoming::Update(update)] => update.clone(),
                other => panic!("unexpected {other:?}"),
            };
            joiner
                .transact_mut()
                .apply_update(Update::decode_v1(&update).unwrap())
                .unwrap();
        }
        assert_eq!(joined.get_string(&joiner.transact()), big);
    }

    #[test]
    fn a_small_document_is_one_sync_step2_unless_the_message_limit_is_smaller() {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("content");
        text.insert(
            &mut doc.transact_mut(),
            0,
            &"Lorem ipsum dolor sit amet. ".repeat(4_000),
        );
        let state = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert!(state.len() > SEND_PIECE && state.len() < WHOLE_DOCUMENT);
        let frames = sync_step2_frames(&state, piece_size(4 << 20));
        assert_eq!(frames.len(), 1);
        assert!(
            matches!(&decode_frame(&frames[0]).unwrap()[..], [Incoming::SyncStep2(u)] if *u == state)
        );
        let frames = sync_step2_frames(&state, piece_size(32 * 1024));
        assert!(frames.len() > 1, "a 32 KiB message limit cuts it");
        assert!(frames.iter().all(|f| f.len() <= 32 * 1024));
    }
}
