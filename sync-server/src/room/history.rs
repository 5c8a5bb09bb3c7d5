//! History in a room: who wrote each update (attribution), when to save a version
//! (checkpoints: after `version_idle` without edits, and at least every
//! `version_max_interval` of continuous editing), named versions, and the text of a saved
//! state. Decisions only: versions reach storage as `Write::Version` effects, and answers to
//! the REST API follow the commit that holds them (`Effect::AfterCommit`).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use yrs::{Doc, GetString, IdSet, ReadTxn, StateVector, Text, Transact};

use super::server_edit::OnCommit;
use super::{Deferred, Effect, Effects, Room, State};
use crate::conn::{Conn, ConnId};
use crate::storage::{now_ms, Attribution, Author, VersionInfo, VersionKind, Write};
use collab_core::engine::load::build_doc;
use collab_core::engine::panic_message;

/// What an open-mode author is called when their client claimed no name.
pub const ANONYMOUS: &str = "anonymous";
/// Longest claimed name kept, in characters.
const MAX_CLAIMED_CHARS: usize = 64;

/// A request about a document's history, handled by its room.
pub enum HistoryCommand {
    /// Save the current state as a version of `kind` labelled `label`. Answered once it is
    /// durable.
    Save {
        kind: VersionKind,
        label: Option<String>,
        /// For a restore, the version restored.
        restored_from: Option<String>,
        reply: VersionReply,
    },
}

/// The answer to [`HistoryCommand::Save`].
pub type VersionReply = oneshot::Sender<Result<VersionInfo, HistoryRefusal>>;

/// Why a history request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryRefusal {
    #[error("no such document")]
    NoSuchDocument,
    #[error("{0}")]
    Failed(String),
}

/// Counts what the transactions applied to a document inserted and deleted (clock units:
/// UTF-16 code units for text). Read and reset around each apply.
#[derive(Debug, Default)]
pub(super) struct EditCounts {
    inserted: AtomicU64,
    deleted: AtomicU64,
}

impl EditCounts {
    /// Counts the edits of every transaction committed on `doc` from now on: the lengths of
    /// the clock ranges it inserted and deleted, read from the transaction itself when it
    /// commits (after-transaction observer). Nothing is copied: yrs' transaction-cleanup event
    /// would clone both state vectors (an entry per client that ever wrote) and the delete set
    /// on every commit.
    pub fn watch(doc: &Doc) -> Arc<EditCounts> {
        let counts = Arc::new(EditCounts::default());
        let seen = counts.clone();
        let watched = doc.observe_after_transaction("history-counts", move |txn| {
            seen.inserted
                .fetch_add(clock_units(txn.insert_set()), Ordering::Relaxed);
            seen.deleted
                .fetch_add(clock_units(txn.delete_set()), Ordering::Relaxed);
        });
        if let Err(err) = watched {
            tracing::warn!(error = %err, "cannot count edits; the audit trail will show zeros");
        }
        counts
    }

    /// What was counted since the last call: (inserted, deleted).
    pub fn take(&self) -> (u64, u64) {
        (
            self.inserted.swap(0, Ordering::Relaxed),
            self.deleted.swap(0, Ordering::Relaxed),
        )
    }
}

/// A room's history state: the authors since the last version and when they edited.
#[derive(Debug, Default)]
pub(super) struct History {
    /// Authors of changes since the last version, in order of their first change.
    authors: Vec<Author>,
    /// When the first and the last change since the last version were applied.
    first: Option<Instant>,
    last: Option<Instant>,
    /// Names connections claimed in their awareness state (open mode: no tokens).
    claimed: HashMap<ConnId, String>,
}

impl History {
    /// A change by `author` at `now`.
    pub fn record(&mut self, author: &Author, now: Instant) {
        if !self.authors.contains(author) {
            self.authors.push(author.clone());
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Whether there are changes no version holds yet.
    pub fn pending(&self) -> bool {
        self.last.is_some()
    }

    /// Whether a checkpoint is due at `now`: changes are pending, and either none came for
    /// `idle`, or the first came `max_interval` ago (editing that never pauses still gets
    /// versions).
    pub fn due(&self, now: Instant, idle: Duration, max_interval: Duration) -> bool {
        match (self.first, self.last) {
            (Some(first), Some(last)) => {
                now.saturating_duration_since(last) >= idle
                    || now.saturating_duration_since(first) >= max_interval
            }
            _ => false,
        }
    }

    /// The authors since the last version; starts the next period.
    pub fn take_authors(&mut self) -> Vec<Author> {
        self.first = None;
        self.last = None;
        std::mem::take(&mut self.authors)
    }

    /// Member `id` (without a token) says its name is `state`'s `user.name`.
    pub fn claim(&mut self, id: ConnId, state: &str) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(state) else {
            return;
        };
        if let Some(name) = value["user"]["name"].as_str() {
            let name: String = name.chars().filter(|c| !c.is_control()).collect();
            let name: String = name.trim().chars().take(MAX_CLAIMED_CHARS).collect();
            if !name.is_empty() {
                self.claimed.insert(id, name);
            }
        }
    }

    pub fn forget(&mut self, id: ConnId) {
        self.claimed.remove(&id);
    }

    /// Who `conn` writes as: its token's user (verified), or in open mode the name it
    /// claimed in its awareness state (unverified; its id is that name too).
    pub fn author_of(&self, conn: &Conn) -> Author {
        match &conn.user {
            Some(user) => Author {
                id: user.id.clone(),
                name: Some(user.name.clone()),
                verified: true,
            },
            None => {
                let name = self
                    .claimed
                    .get(&conn.id)
                    .cloned()
                    .unwrap_or_else(|| ANONYMOUS.to_owned());
                Author {
                    id: name.clone(),
                    name: Some(name),
                    verified: false,
                }
            }
        }
    }
}

/// How many clocks (UTF-16 code units for text) the ranges of `set` cover.
fn clock_units(set: &IdSet) -> u64 {
    set.iter()
        .flat_map(|(_, ranges)| ranges.iter())
        .map(|range| u64::from(range.end - range.start))
        .sum()
}

/// A version id unique per document: the time, and a per-process random part with a count
/// (so two instances saving in the same millisecond never collide).
fn new_version_id(created_at_ms: i64) -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("{created_at_ms}-{:06x}{n}", seed & 0xff_ffff)
}

/// The text of a whole-document state (a v1 update), under `catch_unwind`.
pub fn text_of_state(state: &[u8]) -> Result<String, String> {
    let mut failure = None;
    let (doc, text) = build_doc(
        &[state],
        |_, _| Some(()),
        |_, reason| failure = Some(reason),
    )?;
    if let Some(reason) = failure {
        return Err(reason);
    }
    catch_unwind(AssertUnwindSafe(|| text.get_string(&doc.transact())))
        .map_err(|panic| panic_message(&panic))
}

impl Room {
    /// A request about this document's history (loading it first if needed).
    pub fn history(&mut self, command: HistoryCommand) -> Effects {
        self.history_now(command);
        self.take()
    }

    pub(super) fn history_now(&mut self, command: HistoryCommand) {
        if let State::Loading { queue } = &mut self.state {
            return queue.push(Deferred::History(command));
        }
        match command {
            HistoryCommand::Save {
                kind,
                label,
                restored_from,
                reply,
            } => {
                if !self.exists() {
                    let _ = reply.send(Err(HistoryRefusal::NoSuchDocument));
                    return;
                }
                match self.save_version(kind, label, restored_from) {
                    Some(info) => self.out.push(Effect::AfterCommit {
                        write: None,
                        watcher: OnCommit::call(move || {
                            let _ = reply.send(Ok(info));
                        }),
                    }),
                    None => {
                        let refusal = HistoryRefusal::Failed("cannot encode the document".into());
                        let _ = reply.send(Err(refusal));
                    }
                }
            }
        }
    }

    fn exists(&self) -> bool {
        matches!(&self.state, State::Ready(loaded) if loaded.exists)
    }

    /// Attribution for an update just applied by `author` (see [`History::author_of`]):
    /// what the transactions counted. Records the change for the next version.
    pub(super) fn attribute(&mut self, author: Author, now: Instant) -> Attribution {
        let (inserted, deleted) = match &self.state {
            State::Ready(loaded) => loaded.edits.take(),
            State::Loading { .. } => (0, 0),
        };
        self.history.record(&author, now);
        Attribution {
            author,
            inserted,
            deleted,
        }
    }

    /// Who member `id` writes as.
    pub(super) fn author_of_member(&self, id: ConnId) -> Author {
        match self.members.get(&id) {
            Some(member) => self.history.author_of(&member.conn),
            None => Author::default(),
        }
    }

    /// Saves an automatic version if one is due (see [`History::due`]).
    pub(super) fn checkpoint_if_due(&mut self, now: Instant) {
        let settings = &self.context.settings;
        if self
            .history
            .due(now, settings.version_idle, settings.version_max_interval)
        {
            self.save_version(VersionKind::Auto, None, None);
        }
    }

    /// Saves an automatic version of changes not yet in one (before the room unloads).
    pub(super) fn checkpoint_pending(&mut self) {
        if self.history.pending() {
            self.save_version(VersionKind::Auto, None, None);
        }
    }

    /// Queues the whole document as a version; its description, or `None` if the document
    /// could not be encoded (then it reloads).
    pub(super) fn save_version(
        &mut self,
        kind: VersionKind,
        label: Option<String>,
        restored_from: Option<String>,
    ) -> Option<VersionInfo> {
        let State::Ready(loaded) = &self.state else {
            return None;
        };
        let doc = &loaded.doc;
        let text = &loaded.text;
        let encoded = catch_unwind(AssertUnwindSafe(|| {
            let txn = doc.transact();
            (
                txn.encode_state_as_update_v1(&StateVector::default()),
                u64::from(text.len(&txn)),
            )
        }));
        let (state, text_bytes) = match encoded {
            Ok(encoded) => encoded,
            Err(panic) => {
                tracing::error!(doc = %self.name, panic = panic_message(&panic), "encoding a version panicked");
                self.reload();
                return None;
            }
        };
        let created_at_ms = now_ms();
        let info = VersionInfo {
            id: new_version_id(created_at_ms),
            created_at_ms,
            label,
            kind,
            text_bytes,
            authors: self.history.take_authors(),
            restored_from,
        };
        tracing::debug!(doc = %self.name, id = %info.id, kind = kind.as_str(), "version saved");
        self.out.push(Effect::Persist {
            write: Write::Version {
                doc: self.name.clone(),
                info: info.clone(),
                state,
            },
            ack: None,
        });
        Some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::Update;

    fn alice() -> Author {
        Author {
            id: "alice".into(),
            name: Some("Alice".into()),
            verified: true,
        }
    }

    const IDLE: Duration = Duration::from_secs(60);
    const MAX: Duration = Duration::from_secs(600);

    #[test]
    fn nothing_is_due_without_changes() {
        let history = History::default();
        let now = Instant::now();
        assert!(!history.due(now + MAX * 2, IDLE, MAX));
    }

    #[test]
    fn a_version_is_due_after_the_idle_time_without_edits() {
        let mut history = History::default();
        let start = Instant::now();
        history.record(&alice(), start);
        assert!(!history.due(start + IDLE - Duration::from_millis(1), IDLE, MAX));
        assert!(history.due(start + IDLE, IDLE, MAX));
        // Another edit restarts the idle wait.
        history.record(&alice(), start + Duration::from_secs(30));
        assert!(!history.due(start + IDLE, IDLE, MAX));
        assert!(history.due(start + Duration::from_secs(90), IDLE, MAX));
    }

    #[test]
    fn continuous_editing_gets_a_version_every_max_interval() {
        let mut history = History::default();
        let start = Instant::now();
        let mut t = start;
        // An edit every 10 s: never idle for 60 s.
        while t < start + MAX {
            history.record(&alice(), t);
            assert!(!history.due(t, IDLE, MAX), "not yet at {:?}", t - start);
            t += Duration::from_secs(10);
        }
        history.record(&alice(), t);
        assert!(
            history.due(t, IDLE, MAX),
            "due once the first edit is 10 min old"
        );
        assert_eq!(history.take_authors(), [alice()]);
        assert!(!history.pending());
        assert!(
            !history.due(t + MAX, IDLE, MAX),
            "a version starts the next period"
        );
    }

    #[test]
    fn authors_are_listed_once_in_order_of_their_first_change() {
        let mut history = History::default();
        let bob = Author {
            id: "bob".into(),
            name: Some("Bob".into()),
            verified: true,
        };
        let now = Instant::now();
        for author in [&bob, &alice(), &bob] {
            history.record(author, now);
        }
        assert_eq!(history.take_authors(), [bob, alice()]);
        assert!(history.take_authors().is_empty());
    }

    #[test]
    fn an_open_mode_name_is_the_claimed_one_marked_unverified() {
        let mut history = History::default();
        let id = ConnId::next();
        history.claim(id, r##"{"user":{"name":"  Zoë \u0007","color":"#123"}}"##);
        assert_eq!(history.claimed.get(&id).map(String::as_str), Some("Zoë"));
        history.claim(id, "not json");
        history.claim(id, r#"{"user":{"name":""}}"#);
        assert_eq!(history.claimed.get(&id).map(String::as_str), Some("Zoë"));
        history.forget(id);
        assert!(history.claimed.is_empty());
    }

    #[test]
    fn version_ids_do_not_repeat() {
        let a = new_version_id(5);
        let b = new_version_id(5);
        assert_ne!(a, b);
        assert!(a.starts_with("5-"));
    }

    #[test]
    fn a_saved_state_reads_back_as_its_text() {
        let doc = Doc::new();
        let text = doc.get_or_insert_text(collab_core::engine::TEXT_NAME);
        text.insert(&mut doc.transact_mut(), 0, "hello");
        let state = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert_eq!(text_of_state(&state).unwrap(), "hello");
        assert!(text_of_state(b"\xff\xff").is_err());
    }

    #[test]
    fn edits_are_counted_per_transaction() {
        let doc = Doc::new();
        let counts = EditCounts::watch(&doc);
        let text = doc.get_or_insert_text(collab_core::engine::TEXT_NAME);
        text.insert(&mut doc.transact_mut(), 0, "hello");
        assert_eq!(counts.take(), (5, 0));
        text.remove_range(&mut doc.transact_mut(), 1, 3);
        assert_eq!(counts.take(), (0, 3));
        assert_eq!(counts.take(), (0, 0));

        // Another client's update, inserting and deleting in one transaction, applied here
        // (as the room applies a client's): its own insertions and deletions, in UTF-16 units.
        let other = Doc::new();
        let theirs = other.get_or_insert_text(collab_core::engine::TEXT_NAME);
        let mut txn = other.transact_mut();
        txn.apply_update(
            Update::decode_v1(
                &doc.transact()
                    .encode_state_as_update_v1(&StateVector::default()),
            )
            .unwrap(),
        )
        .unwrap();
        let before = txn.state_vector();
        theirs.insert(&mut txn, 2, "🙂 ok");
        theirs.remove_range(&mut txn, 0, 1);
        let update = txn.encode_state_as_update_v1(&before);
        drop(txn);
        doc.transact_mut()
            .apply_update(Update::decode_v1(&update).unwrap())
            .unwrap();
        assert_eq!(counts.take(), (5, 1));
        assert_eq!(
            text.get_string(&doc.transact()),
            theirs.get_string(&other.transact())
        );
    }
}
