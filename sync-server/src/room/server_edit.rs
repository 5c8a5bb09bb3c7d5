//! Changes that come from the server itself rather than a member: a new text (`PUT
//! /api/docs/{doc}/text`, later a restore), applied as the minimal edit
//! (`collab_core::engine::edit_update`), or an imported v1 update (`POST
//! /api/docs/{doc}/update`). Both go through the one apply pipeline (`replication`) like a
//! member's update — validator, quarantine, size limit, order checks, fan-out to members and
//! the relay, persist — and are answered only once the commit holding them is durable (a
//! `CommitWatcher` receipt, as acks are). A refused change is answered with its reason and
//! changes nothing. Also the whole-document export.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use tokio::sync::oneshot;
use yrs::{ClientID, ReadTxn, StateVector, Transact};

use super::replication::Origin;
use super::{Deferred, Effect, Room, State};
use crate::storage::{Author, CommitWatcher};
use collab_core::engine::{edit_update, panic_message};
use collab_core::validate::validate_update_v1_shape;

/// A change the server makes to a document, and the token user who asked for it (`None` on
/// an open server): stored as its origin, and named by webhooks.
#[derive(Debug)]
pub struct ServerChange {
    pub edit: ServerEdit,
    pub by: Option<Author>,
}

/// What a server change does.
#[derive(Debug)]
pub enum ServerEdit {
    /// Make the text this, by the smallest edit found.
    Text(String),
    /// Apply this v1 update (an import).
    Update(Vec<u8>),
}

/// Why a server change was not made; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefused {
    /// The update is malformed or cannot be applied here (a 400).
    #[error("{0}")]
    Invalid(String),
    /// It would take the document over the size limit (a 413).
    #[error("{0}")]
    TooLarge(String),
    /// The server could not make it (a 500).
    #[error("{0}")]
    Failed(String),
}

/// Answered once the change is durable, or with why it was refused.
pub type ChangeReply = oneshot::Sender<Result<(), ChangeRefused>>;

/// The answer to an export: the whole document as one v1 update, `None` when nothing was ever
/// stored for it.
pub type ExportReply = oneshot::Sender<Option<Vec<u8>>>;

/// A reply to send once a commit is done: the storage writer's watcher for a server change
/// or a saved version.
pub struct OnCommit(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl OnCommit {
    /// Answers `reply` with success.
    pub fn new(reply: ChangeReply) -> OnCommit {
        OnCommit::call(move || {
            let _ = reply.send(Ok(()));
        })
    }

    /// Calls `answer` (once).
    pub fn call(answer: impl FnOnce() + Send + 'static) -> OnCommit {
        OnCommit(Mutex::new(Some(Box::new(answer))))
    }
}

impl std::fmt::Debug for OnCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnCommit")
    }
}

impl CommitWatcher for OnCommit {
    fn committed(&self, _count: u64) {
        let answer = self.0.lock().map(|mut answer| answer.take());
        if let Ok(Some(answer)) = answer {
            answer();
        }
    }
}

/// Sends an answer to an HTTP request: the room's effect for it (the room thread carries it
/// out; the room itself touches no channel).
pub struct Answer(Box<dyn FnOnce() + Send>);

impl Answer {
    pub fn refused(reply: ChangeReply, refused: ChangeRefused) -> Answer {
        Answer(Box::new(move || {
            let _ = reply.send(Err(refused));
        }))
    }

    pub fn export(reply: ExportReply, update: Option<Vec<u8>>) -> Answer {
        Answer(Box::new(move || {
            let _ = reply.send(update);
        }))
    }

    /// Sends it.
    pub fn send(self) {
        (self.0)()
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Answer")
    }
}

impl Room {
    /// A change from the server (loading the document first if needed).
    pub fn server_change(&mut self, change: ServerChange, reply: ChangeReply) -> super::Effects {
        self.server_change_now(change, reply);
        self.take()
    }

    pub(super) fn server_change_now(&mut self, change: ServerChange, reply: ChangeReply) {
        let loaded = match &mut self.state {
            State::Loading { queue } => {
                return queue.push(Deferred::ServerChange(change, reply));
            }
            State::Ready(loaded) => loaded,
        };
        let by = change.by;
        let replaces_text = matches!(change.edit, ServerEdit::Text(_));
        let update = match change.edit {
            ServerEdit::Update(update) => update,
            ServerEdit::Text(target) => {
                // A client id this document has never seen, nor any member claimed.
                let known = loaded.doc.transact().state_vector();
                let client = loop {
                    let id = ClientID::random();
                    if !known.contains_client(&id) && !self.client_ids.is_claimed(id.get()) {
                        break id.get();
                    }
                };
                match edit_update(&loaded.doc, &target, client) {
                    Ok(Some(update)) => update,
                    // Already that text: answered after the writes queued before.
                    Ok(None) => {
                        return self.out.push(Effect::AfterCommit {
                            write: None,
                            watcher: OnCommit::new(reply),
                        });
                    }
                    Err(reason) => {
                        tracing::error!(doc = %self.name, %reason, "cannot make a server edit");
                        return self.answer(reply, ChangeRefused::Failed(reason));
                    }
                }
            }
        };
        // A new text (PUT, a restore) replaces what was typed: whatever no version holds yet
        // is saved as one first, so it can be restored in turn.
        if replaces_text {
            self.checkpoint_pending();
        }
        // The checks a member's update fails with a close code; here, with a reason.
        let shape = match self.context.settings.skip_validation {
            false => validate_update_v1_shape(&update),
            true => Ok(Default::default()),
        };
        let shape = match shape {
            Ok(shape) => shape,
            Err(err) => {
                return self.answer(
                    reply,
                    ChangeRefused::Invalid(format!("invalid update: {err}")),
                );
            }
        };
        let State::Ready(loaded) = &mut self.state else {
            return;
        };
        // Nothing is written under a client id a member holds (it would fork its clock).
        let known = loaded.doc.transact().state_vector();
        let taken = shape.ranges.iter().find(|range| {
            range.end > known.get(&ClientID::new(range.client))
                && self.client_ids.is_claimed(range.client)
        });
        if let Some(range) = taken {
            let reason = format!("client id {} belongs to a connected client", range.client);
            return self.answer(reply, ChangeRefused::Invalid(reason));
        }
        if loaded.quarantine.holds(&update, &shape.ranges) {
            return self.answer(
                reply,
                ChangeRefused::Invalid(
                    "update is quarantined: it crashed the server before".into(),
                ),
            );
        }
        let max = self.context.settings.max_document_size;
        if let Some(reason) = loaded.over_size_limit(&update, &shape.ranges, max) {
            return self.answer(reply, ChangeRefused::TooLarge(reason));
        }
        self.apply(update, Origin::Server { reply, by });
    }

    /// The whole document as one v1 update (loading it first if needed).
    pub fn export(&mut self, reply: ExportReply) -> super::Effects {
        self.export_now(reply);
        self.take()
    }

    pub(super) fn export_now(&mut self, reply: ExportReply) {
        let loaded = match &mut self.state {
            State::Loading { queue } => return queue.push(Deferred::Export(reply)),
            State::Ready(loaded) => loaded,
        };
        let doc = &loaded.doc;
        let update = match loaded.exists {
            false => None,
            true => match catch_unwind(AssertUnwindSafe(|| {
                doc.transact()
                    .encode_state_as_update_v1(&StateVector::default())
            })) {
                Ok(update) => Some(update),
                Err(panic) => {
                    // Dropping the reply answers "unavailable"; the document is reloaded.
                    tracing::error!(doc = %self.name, panic = %panic_message(&panic), "encoding the document panicked");
                    return self.reload();
                }
            },
        };
        self.out.push(Effect::Answer(Answer::export(reply, update)));
    }

    pub(super) fn answer(&mut self, reply: ChangeReply, refused: ChangeRefused) {
        tracing::info!(doc = %self.name, reason = %refused, "refused a server change");
        self.out
            .push(Effect::Answer(Answer::refused(reply, refused)));
    }
}
