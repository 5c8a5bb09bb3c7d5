//! The update-carrying messages one update becomes: cut with `collab_core::split` into pieces
//! that fit the server's message limit, each encoded as its own sync message, in order.

use yrs::sync::{Message, SyncMessage};
use yrs::updates::encoder::Encode;

/// What the update answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// The answer to the server's SyncStep1: every piece but the last goes as an Update
    /// message and the last as the SyncStep2 (the shape in which the server sends a large
    /// document to a joiner: SyncStep2 means "that was all").
    SyncStep2,
    /// Local changes: every piece goes as an Update message.
    Update,
}

/// The encoded messages carrying `update` with at most `budget` bytes of update each (one
/// block that cannot be cut goes alone, whatever its size), to be sent in this order. Each
/// is one update-carrying message for the server's acknowledgement count.
pub fn messages(update: Vec<u8>, budget: usize, carrier: Carrier) -> Vec<Vec<u8>> {
    let pieces = if update.len() <= budget {
        vec![update]
    } else {
        // Our own document encoded it; should the splitter still not read it, it goes whole
        // (and the server says what it thinks of that).
        match collab_core::split::split_update_v1(&update, budget) {
            Ok(pieces) if !pieces.is_empty() => pieces,
            _ => vec![update],
        }
    };
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let sync = match carrier {
                Carrier::SyncStep2 if i == last => SyncMessage::SyncStep2(piece),
                _ => SyncMessage::Update(piece),
            };
            Message::Sync(sync).encode_v1()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::{Decode, DecoderV1};
    use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

    /// The sync message in `bytes`: (is SyncStep2, update).
    fn decode(bytes: &[u8]) -> (bool, Vec<u8>) {
        let mut decoder = DecoderV1::from(bytes);
        let mut reader = yrs::sync::MessageReader::new(&mut decoder);
        let message = reader.next().expect("one message").expect("readable");
        assert!(reader.next().is_none(), "one message per piece");
        match message {
            Message::Sync(SyncMessage::SyncStep2(update)) => (true, update),
            Message::Sync(SyncMessage::Update(update)) => (false, update),
            other => panic!("not an update-carrying message: {other:?}"),
        }
    }

    /// A document of `text`, typed in `chunks` transactions (plus a deletion), as an update.
    fn document(text: &str, chunks: usize) -> Vec<u8> {
        let doc = Doc::new();
        let content = doc.get_or_insert_text("content");
        let step = text.len().div_ceil(chunks);
        for start in (0..text.len()).step_by(step) {
            let mut txn = doc.transact_mut();
            let at = content.len(&txn);
            content.insert(&mut txn, at, &text[start..(start + step).min(text.len())]);
        }
        {
            let mut txn = doc.transact_mut();
            content.insert(&mut txn, 0, "gone");
            content.remove_range(&mut txn, 0, 4);
        }
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        update
    }

    /// Applies each message's update on its own, in order, as the server does; the text.
    fn apply_in_order(messages: &[Vec<u8>]) -> String {
        let doc = Doc::new();
        let content = doc.get_or_insert_text("content");
        for message in messages {
            let (_, update) = decode(message);
            let mut txn = doc.transact_mut();
            txn.apply_update(Update::decode_v1(&update).expect("a v1 update"))
                .expect("applies");
            // Nothing waits for a later piece.
            assert!(
                txn.store().pending_update().is_none(),
                "a piece left pending"
            );
            assert!(
                txn.store().pending_ds().is_none(),
                "a deletion left pending"
            );
        }
        let text = content.get_string(&doc.transact());
        text
    }

    #[test]
    fn a_small_update_is_one_message_of_the_kind_it_answers() {
        let update = document("hello", 1);
        let answer = messages(update.clone(), 1 << 20, Carrier::SyncStep2);
        assert_eq!(answer.len(), 1);
        assert_eq!(decode(&answer[0]), (true, update.clone()));
        let local = messages(update.clone(), 1 << 20, Carrier::Update);
        assert_eq!(local.len(), 1);
        assert_eq!(decode(&local[0]), (false, update));
    }

    #[test]
    fn a_large_update_goes_in_pieces_that_fit_and_apply_in_order() {
        let text: String = (0..60_000).map(|i| format!("line {i:06}\n")).collect();
        let budget = 64 * 1024;
        let overhead = collab_core::wire::SYNC_MESSAGE_OVERHEAD;
        // One big insert (cut inside the string) and many smaller ones (cut between them).
        for chunks in [1, 300] {
            let update = document(&text, chunks);
            assert!(update.len() > 5 * budget);
            for carrier in [Carrier::SyncStep2, Carrier::Update] {
                let sent = messages(update.clone(), budget, carrier);
                assert!(sent.len() >= 6, "{chunks} chunks: {} messages", sent.len());
                for (i, message) in sent.iter().enumerate() {
                    assert!(
                        message.len() <= budget + overhead,
                        "piece {i}: {} bytes",
                        message.len()
                    );
                    let (is_step2, _) = decode(message);
                    assert_eq!(
                        is_step2,
                        carrier == Carrier::SyncStep2 && i == sent.len() - 1,
                        "piece {i}"
                    );
                }
                assert_eq!(apply_in_order(&sent), text);
            }
        }
    }
}
