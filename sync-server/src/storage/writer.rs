//! `StorageWriter`: one thread owns the `Store`; everything that touches storage is a request
//! in its FIFO queue. Writes that arrive together commit in one transaction (group commit),
//! and only after that commit does the writer report them durable to whoever asked
//! (`CommitWatcher`); it encodes no protocol frames and writes to no socket.
//!
//! Because the queue is FIFO, a load sees every write queued before it, and a compaction
//! covers every append of its document queued before it.
//!
//! A store that is a remote server (PostgreSQL) is also checked every few seconds through the
//! same queue, so `/readyz` fails while it cannot be reached even when nothing is written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use super::history::{HistoryAnswer, HistoryRead, HistoryReply};
use super::{
    Author, Change, DocSummary, ListQuery, StorageError, Store, StoredDoc, Trashed, VersionInfo,
    Write,
};
use crate::metrics::{Metrics, StorageHealth};
use collab_core::doc_name::DocName;

/// Most writes committed in one transaction; more wait for the next one.
const MAX_BATCH: usize = 4096;
/// Backoff between attempts when a commit fails (disk full, I/O error).
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Attempts made for the last batch once shutdown has begun, before giving up on it.
const RETRIES_AT_SHUTDOWN: u32 = 3;

/// Hears that updates it sent are durable, once the commit holding them is done. What that
/// means on the wire is the connection's business (`conn::Conn` sends an ack frame).
pub trait CommitWatcher: Send + 'static {
    /// The first `count` update-carrying messages of this sender are committed.
    fn committed(&self, count: u64);
}

/// Hears which documents each commit changed (the webhooks, `crate::webhook`). Called on the
/// writer thread right after the commit: it must not block.
pub trait CommitObserver: Send + Sync + 'static {
    fn documents_committed(&self, committed: &[Committed]);
}

/// One document a commit changed: its last write's text size and the time of the commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub doc: DocName,
    pub at_ms: i64,
    pub text_bytes: u64,
    /// The token users of the updates appended, in order, repeats removed.
    pub authors: Vec<Author>,
}

/// A sender's count of updates, reported to its watcher once every write queued before it
/// (and with it) is committed.
pub struct Receipt {
    /// Who sent them: of several receipts of one sender reported together, only the highest
    /// count is reported (counts only grow, so it is the last one).
    pub sender: u64,
    pub count: u64,
    pub watcher: Box<dyn CommitWatcher>,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt")
            .field("sender", &self.sender)
            .field("count", &self.count)
            .finish()
    }
}

pub type LoadReply = Box<dyn FnOnce(Result<StoredDoc, StorageError>) + Send>;
/// Whether the deleted document had been stored, or why it could not be deleted.
pub type DeleteReply = oneshot::Sender<Result<bool, StorageError>>;

enum Request {
    /// A write (or none, when only a receipt must follow the writes before it).
    Write {
        write: Option<Write>,
        receipt: Option<Receipt>,
        /// When it was queued, for the acknowledgement latency.
        queued: Instant,
    },
    Load {
        doc: DocName,
        reply: LoadReply,
    },
    List {
        query: ListQuery,
        reply: oneshot::Sender<Result<Vec<DocSummary>, StorageError>>,
    },
    Delete {
        doc: DocName,
        purge: bool,
        reply: DeleteReply,
    },
    Flush {
        reply: oneshot::Sender<()>,
    },
    /// A read of a document's versions or audit trail (`storage::history`).
    History {
        doc: DocName,
        read: HistoryRead,
        reply: HistoryReply,
    },
    /// Time to check the store can be reached (see `Store::check_interval`).
    Check,
    Shutdown,
}

/// The queue in front of the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct StorageWriter {
    queue: mpsc::UnboundedSender<Request>,
    shared: Arc<Shared>,
}

/// What the writer thread and its handles share.
struct Shared {
    shutting_down: AtomicBool,
    /// Whether the last commit attempt or check failed (cleared when one succeeds).
    failing: AtomicBool,
    /// A `Check` is in the queue (so a writer stuck retrying does not collect thousands).
    check_queued: AtomicBool,
    metrics: Arc<Metrics>,
    observer: Option<Box<dyn CommitObserver>>,
}

/// Joins the writer thread once it has committed everything queued.
pub struct WriterThread {
    handle: JoinHandle<()>,
}

impl WriterThread {
    /// Blocks until the writer has drained its queue and stopped.
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("storage writer thread panicked");
        }
    }
}

impl StorageWriter {
    /// Starts the writer thread over `store`.
    pub fn start(store: impl Store) -> std::io::Result<(StorageWriter, WriterThread)> {
        StorageWriter::start_with_metrics(store, Arc::new(Metrics::default()))
    }

    /// Starts the writer thread over `store`, recording commits and acks in `metrics`.
    pub fn start_with_metrics(
        store: impl Store,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(StorageWriter, WriterThread)> {
        StorageWriter::start_observed(store, metrics, None)
    }

    /// As [`StorageWriter::start_with_metrics`], telling `observer` what each commit changed.
    pub fn start_observed(
        store: impl Store,
        metrics: Arc<Metrics>,
        observer: Option<Box<dyn CommitObserver>>,
    ) -> std::io::Result<(StorageWriter, WriterThread)> {
        let (queue, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            shutting_down: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            check_queued: AtomicBool::new(false),
            metrics,
            observer,
        });
        let thread_shared = shared.clone();
        let check_interval = store.check_interval();
        let handle = std::thread::Builder::new()
            .name("storage-writer".into())
            .spawn(move || run(store, rx, &thread_shared))?;
        if let Some(interval) = check_interval {
            // Holds no sender while it sleeps, so it never keeps the writer alive.
            let queue = queue.downgrade();
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("storage-check".into())
                .spawn(move || loop {
                    std::thread::sleep(interval);
                    let Some(queue) = queue.upgrade() else {
                        return;
                    };
                    if !shared.check_queued.swap(true, Ordering::SeqCst)
                        && queue.send(Request::Check).is_err()
                    {
                        return;
                    }
                })?;
        }
        Ok((StorageWriter { queue, shared }, WriterThread { handle }))
    }

    /// Whether the writer is running and committing (for `/readyz`).
    pub fn health(&self) -> StorageHealth {
        if self.queue.is_closed() || self.shared.shutting_down.load(Ordering::SeqCst) {
            StorageHealth::Stopped
        } else if self.shared.failing.load(Ordering::SeqCst) {
            StorageHealth::Failing
        } else {
            StorageHealth::Ok
        }
    }

    /// Queues `write`; `receipt` is reported once it is committed.
    pub fn write(&self, write: Write, receipt: Option<Receipt>) {
        if matches!(write, Write::Append { .. }) {
            self.shared.metrics.update_applied();
        }
        self.send(Request::Write {
            write: Some(write),
            receipt,
            queued: Instant::now(),
        });
    }

    /// Queues a receipt that needs no write of its own (an update that changed nothing): it
    /// is reported once every write queued before it is committed.
    pub fn receipt(&self, receipt: Receipt) {
        self.send(Request::Write {
            write: None,
            receipt: Some(receipt),
            queued: Instant::now(),
        });
    }

    /// Loads `doc` after every write queued before this call is committed; `reply` runs on
    /// the writer thread.
    pub fn load(&self, doc: DocName, reply: LoadReply) {
        if let Err(mpsc::error::SendError(Request::Load { reply, .. })) =
            self.queue.send(Request::Load { doc, reply })
        {
            reply(Err(StorageError::WriterStopped));
        }
    }

    /// The stored documents `query` selects, as of the writes queued before this call.
    pub async fn list(&self, query: ListQuery) -> Result<Vec<DocSummary>, StorageError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::List { query, reply });
        rx.await.map_err(|_| StorageError::WriterStopped)?
    }

    /// Deletes `doc` (to the trash, or with its history when `purge`; see `Store::delete`)
    /// once every write queued before this call is committed (so an update a room queued
    /// before is deleted too), in a transaction of its own; a failure is reported to
    /// `reply`, not retried.
    pub fn delete(&self, doc: DocName, purge: bool, reply: DeleteReply) {
        if let Err(mpsc::error::SendError(Request::Delete { reply, .. })) =
            self.queue.send(Request::Delete { doc, purge, reply })
        {
            let _ = reply.send(Err(StorageError::WriterStopped));
        }
    }

    /// The versions of `doc`, oldest first, as of the writes queued before this call.
    pub async fn versions(&self, doc: DocName) -> Result<Vec<VersionInfo>, StorageError> {
        match self.history(doc, HistoryRead::Versions).await? {
            HistoryAnswer::Versions(versions) => Ok(versions),
            _ => Err(StorageError::Backend("unexpected history answer".into())),
        }
    }

    /// Version `id` of `doc` and its state, if there is one.
    pub async fn version_state(
        &self,
        doc: DocName,
        id: String,
    ) -> Result<Option<(VersionInfo, Vec<u8>)>, StorageError> {
        match self.history(doc, HistoryRead::Version(id)).await? {
            HistoryAnswer::Version(found) => Ok(found),
            _ => Err(StorageError::Backend("unexpected history answer".into())),
        }
    }

    /// The audit trail of `doc` since `since_ms`, oldest first, at most `limit` lines.
    pub async fn changes(
        &self,
        doc: DocName,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<Change>, StorageError> {
        match self
            .history(doc, HistoryRead::Changes { since_ms, limit })
            .await?
        {
            HistoryAnswer::Changes(changes) => Ok(changes),
            _ => Err(StorageError::Backend("unexpected history answer".into())),
        }
    }

    /// The last deletion of `doc` still in the trash: when, and what the document was.
    pub async fn trashed(&self, doc: DocName) -> Result<Option<Trashed>, StorageError> {
        match self.history(doc, HistoryRead::Trashed).await? {
            HistoryAnswer::Trashed(found) => Ok(found),
            _ => Err(StorageError::Backend("unexpected history answer".into())),
        }
    }

    /// Empties the trash of `doc`'s deletion at `deleted_at` (it was brought back).
    pub async fn forget_trashed(&self, doc: DocName, deleted_at: i64) -> Result<(), StorageError> {
        self.history(doc, HistoryRead::ForgetTrashed(deleted_at))
            .await
            .map(drop)
    }

    async fn history(
        &self,
        doc: DocName,
        read: HistoryRead,
    ) -> Result<HistoryAnswer, StorageError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::History { doc, read, reply });
        rx.await.map_err(|_| StorageError::WriterStopped)?
    }

    /// Resolves once every write queued before this call is committed.
    pub async fn flush(&self) -> Result<(), StorageError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Flush { reply });
        rx.await.map_err(|_| StorageError::WriterStopped)
    }

    /// Asks the writer to commit what is queued and stop.
    pub fn shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        self.send(Request::Shutdown);
    }

    fn send(&self, request: Request) {
        if self.queue.send(request).is_err() {
            tracing::error!("storage writer has stopped; request dropped");
        }
    }
}

/// Writes waiting for the next commit, and the receipts that follow them.
#[derive(Default)]
struct Batch {
    writes: Vec<Write>,
    /// Each with the time its request was queued.
    receipts: Vec<(Receipt, Instant)>,
}

fn run(mut store: impl Store, mut rx: mpsc::UnboundedReceiver<Request>, shared: &Shared) {
    let mut batch = Batch::default();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Write {
                    write,
                    receipt,
                    queued,
                } => {
                    batch.writes.extend(write);
                    batch
                        .receipts
                        .extend(receipt.map(|receipt| (receipt, queued)));
                    if batch.writes.len() >= MAX_BATCH {
                        commit(&mut store, &mut batch, shared);
                    }
                }
                Request::Load { doc, reply } => {
                    commit(&mut store, &mut batch, shared);
                    reply(store.load(&doc));
                }
                Request::List { query, reply } => {
                    commit(&mut store, &mut batch, shared);
                    let _ = reply.send(store.list(&query));
                }
                Request::Delete { doc, purge, reply } => {
                    commit(&mut store, &mut batch, shared);
                    let deleted = store.delete(&doc, purge, now_ms());
                    match &deleted {
                        Ok(existed) => tracing::info!(%doc, existed, purge, "document deleted"),
                        Err(error) => tracing::error!(%doc, %error, "cannot delete document"),
                    }
                    let _ = reply.send(deleted);
                }
                Request::Flush { reply } => {
                    commit(&mut store, &mut batch, shared);
                    let _ = reply.send(());
                }
                Request::History { doc, read, reply } => {
                    commit(&mut store, &mut batch, shared);
                    let _ = reply.send(read.run(&mut store, &doc));
                }
                Request::Check => {
                    shared.check_queued.store(false, Ordering::SeqCst);
                    commit(&mut store, &mut batch, shared);
                    check(&mut store, shared);
                }
                Request::Shutdown => {
                    commit(&mut store, &mut batch, shared);
                    tracing::debug!("storage writer stopped");
                    return;
                }
            }
            next = rx.try_recv().ok();
        }
        commit(&mut store, &mut batch, shared);
    }
    commit(&mut store, &mut batch, shared);
}

/// Commits the batch, retrying with backoff until it succeeds, then reports its receipts.
fn commit(store: &mut impl Store, batch: &mut Batch, shared: &Shared) {
    if !batch.writes.is_empty() {
        let mut delay = RETRY_FIRST;
        let mut attempts_at_shutdown = 0;
        loop {
            let started = Instant::now();
            let at_ms = now_ms();
            match store.commit(&batch.writes, at_ms) {
                Ok(()) => {
                    shared.failing.store(false, Ordering::SeqCst);
                    let metrics = &shared.metrics;
                    metrics.commit_seconds.observe_duration(started.elapsed());
                    metrics.commit_batch_size.observe(batch.writes.len() as f64);
                    if let Some(observer) = &shared.observer {
                        observer.documents_committed(&committed(&batch.writes, at_ms));
                    }
                    break;
                }
                Err(err) => {
                    shared.failing.store(true, Ordering::SeqCst);
                    shared.metrics.commit_failed();
                    tracing::error!(error = %err, writes = batch.writes.len(), "commit failed; will retry");
                    if shared.shutting_down.load(Ordering::SeqCst) {
                        attempts_at_shutdown += 1;
                        if attempts_at_shutdown >= RETRIES_AT_SHUTDOWN {
                            tracing::error!(
                                writes = batch.writes.len(),
                                "giving up at shutdown: these writes were never acknowledged and are lost"
                            );
                            batch.writes.clear();
                            batch.receipts.clear();
                            return;
                        }
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
        batch.writes.clear();
    }
    report(std::mem::take(&mut batch.receipts), &shared.metrics);
}

/// The documents `writes` changed, in the order each first appears.
fn committed(writes: &[Write], at_ms: i64) -> Vec<Committed> {
    let mut out: Vec<Committed> = Vec::new();
    let mut index: HashMap<&DocName, usize> = HashMap::new();
    for write in writes {
        let (doc, text_bytes, author) = match write {
            Write::Append {
                doc,
                by,
                text_bytes,
                ..
            } => (
                doc,
                *text_bytes,
                Some(&by.author).filter(|a| !a.id.is_empty()),
            ),
            Write::Compact {
                doc, text_bytes, ..
            } => (doc, *text_bytes, None),
            Write::Version { .. } | Write::Quarantine { .. } => continue,
        };
        let i = *index.entry(doc).or_insert_with(|| {
            out.push(Committed {
                doc: doc.clone(),
                at_ms,
                text_bytes,
                authors: Vec::new(),
            });
            out.len() - 1
        });
        let entry = &mut out[i];
        entry.text_bytes = text_bytes;
        if let Some(author) = author {
            if !entry.authors.contains(author) {
                entry.authors.push(author.clone());
            }
        }
    }
    out
}

/// Checks the store can be reached; readiness follows the result. Runs with no batch pending,
/// so a success never hides a commit that is still failing.
fn check(store: &mut impl Store, shared: &Shared) {
    match store.check() {
        Ok(()) => {
            if shared.failing.swap(false, Ordering::SeqCst) {
                tracing::info!("storage can be reached again");
            }
        }
        Err(err) => {
            if !shared.failing.swap(true, Ordering::SeqCst) {
                tracing::error!(error = %err, "storage cannot be reached; not ready until it can");
            }
        }
    }
}

/// Reports each sender's highest count (counts only grow, so the last one wins). Every
/// receipt's latency is recorded as an ack's, including those a later one supersedes.
fn report(receipts: Vec<(Receipt, Instant)>, metrics: &Metrics) {
    if receipts.is_empty() {
        return;
    }
    let now = Instant::now();
    let mut latest: HashMap<u64, Receipt> = HashMap::with_capacity(receipts.len());
    for (receipt, queued) in receipts {
        metrics
            .ack_seconds
            .observe_duration(now.saturating_duration_since(queued));
        latest.insert(receipt.sender, receipt);
    }
    for receipt in latest.into_values() {
        receipt.watcher.committed(receipt.count);
    }
}

/// Milliseconds since the Unix epoch, as stored in `created_at` columns.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A store that fails its first `failures` commits, then records what it commits.
    #[derive(Clone, Default)]
    struct FlakyStore {
        failures: Arc<Mutex<u32>>,
        committed: Arc<Mutex<Vec<Vec<Write>>>>,
    }

    impl Store for FlakyStore {
        fn commit(&mut self, writes: &[Write], _now_ms: i64) -> Result<(), StorageError> {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(StorageError::Backend("disk full".into()));
            }
            self.committed.lock().unwrap().push(writes.to_vec());
            Ok(())
        }
        fn load(&mut self, _doc: &DocName) -> Result<StoredDoc, StorageError> {
            Ok(StoredDoc::default())
        }
        fn list(&mut self, _query: &ListQuery) -> Result<Vec<DocSummary>, StorageError> {
            Ok(Vec::new())
        }
        fn delete(
            &mut self,
            _doc: &DocName,
            _purge: bool,
            _now_ms: i64,
        ) -> Result<bool, StorageError> {
            Ok(false)
        }
    }

    fn append(n: u8) -> Write {
        Write::Append {
            doc: DocName::parse("d").unwrap(),
            update: vec![n],
            origin: "t".into(),
            text_bytes: 0,
            by: Default::default(),
        }
    }

    /// Records each count it is told, with what the store had committed at that moment.
    struct Recorder {
        store: FlakyStore,
        heard: mpsc::UnboundedSender<(u64, Vec<Write>)>,
    }

    impl CommitWatcher for Recorder {
        fn committed(&self, count: u64) {
            let committed = self.store.committed.lock().unwrap().concat();
            let _ = self.heard.send((count, committed));
        }
    }

    fn receipt(
        count: u64,
        store: &FlakyStore,
        heard: &mpsc::UnboundedSender<(u64, Vec<Write>)>,
    ) -> Receipt {
        Receipt {
            sender: 1,
            count,
            watcher: Box::new(Recorder {
                store: store.clone(),
                heard: heard.clone(),
            }),
        }
    }

    #[tokio::test]
    async fn receipts_only_after_a_failed_commit_succeeds_on_retry() {
        let store = FlakyStore::default();
        *store.failures.lock().unwrap() = 2;
        let (writer, thread) = StorageWriter::start(store.clone()).unwrap();
        let (heard, mut reports) = mpsc::unbounded_channel();
        writer.write(append(1), Some(receipt(1, &store, &heard)));
        writer.write(append(2), Some(receipt(2, &store, &heard)));
        drop(heard);
        // Counts are reported only once the writes they cover are committed, highest count
        // last (the next write may be committed too by the time a count is reported).
        let mut count = 0;
        while count < 2 {
            let (reported, committed) = reports.recv().await.unwrap();
            assert!(
                reported > count,
                "counts only grow: {reported} after {count}"
            );
            count = reported;
            let covered = &[append(1), append(2)][..count as usize];
            assert!(
                committed.starts_with(covered),
                "count {count} reported before its commit: {committed:?}"
            );
        }
        assert_eq!(
            store.committed.lock().unwrap().concat(),
            [append(1), append(2)]
        );
        writer.shutdown();
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .unwrap();
        assert!(reports.recv().await.is_none(), "nothing more is reported");
        assert_eq!(*store.failures.lock().unwrap(), 0);
    }

    /// A remote store that is reachable or not, checked every few milliseconds.
    #[derive(Clone, Default)]
    struct RemoteStore {
        down: Arc<AtomicBool>,
        checks: Arc<Mutex<u32>>,
    }

    impl Store for RemoteStore {
        fn commit(&mut self, _writes: &[Write], _now_ms: i64) -> Result<(), StorageError> {
            Ok(())
        }
        fn load(&mut self, _doc: &DocName) -> Result<StoredDoc, StorageError> {
            Ok(StoredDoc::default())
        }
        fn list(&mut self, _query: &ListQuery) -> Result<Vec<DocSummary>, StorageError> {
            Ok(Vec::new())
        }
        fn delete(
            &mut self,
            _doc: &DocName,
            _purge: bool,
            _now_ms: i64,
        ) -> Result<bool, StorageError> {
            Ok(false)
        }
        fn check(&mut self) -> Result<(), StorageError> {
            *self.checks.lock().unwrap() += 1;
            if self.down.load(Ordering::SeqCst) {
                return Err(StorageError::Backend("connection refused".into()));
            }
            Ok(())
        }
        fn check_interval(&self) -> Option<Duration> {
            Some(Duration::from_millis(5))
        }
    }

    /// Polls `writer.health()` until it is `want` (a bounded wait on another thread's state).
    fn wait_for_health(writer: &StorageWriter, want: StorageHealth) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while writer.health() != want {
            assert!(Instant::now() < deadline, "health never became {want:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn an_idle_writer_reports_a_remote_store_it_cannot_reach() {
        let store = RemoteStore::default();
        let (writer, thread) = StorageWriter::start(store.clone()).unwrap();
        assert_eq!(writer.health(), StorageHealth::Ok);
        store.down.store(true, Ordering::SeqCst);
        wait_for_health(&writer, StorageHealth::Failing);
        store.down.store(false, Ordering::SeqCst);
        wait_for_health(&writer, StorageHealth::Ok);
        assert!(*store.checks.lock().unwrap() >= 2);
        writer.shutdown();
        thread.join();
    }
}
