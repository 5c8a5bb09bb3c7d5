//! `Registry`: rooms by document name, spread over a few room threads.
//!
//! Each document belongs to one room thread, chosen by hashing its name, so a room's state is
//! touched by one thread only and commands for it are handled in the order they were sent.
//! Room threads have large stacks because yrs recurses on nested content. A room is created
//! (and loaded) on first use and dropped some seconds after its last member leaves.
//!
//! Rooms do no I/O: the room thread carries out the effects their handlers return
//! (`carry_out`): frames and closes to connections, writes and loads to the storage writer,
//! publications and subscriptions to the fan-out. The relay delivers to rooms through
//! [`Deliver`], which `Registry` implements.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::conn::{Conn, ConnId};
use crate::crash_guard::Journal;
use crate::relay::Deliver;
use crate::room::{
    ChangeRefused, ChangeReply, Effect, Effects, ExportReply, Fanout, Frames, HistoryCommand,
    HistoryRefusal, Keep, LoadResult, Relayed, Room, RoomContext, RoomSettings, ServerChange,
};
use crate::storage::writer::DeleteReply;
use crate::storage::{Receipt, StorageWriter, VersionInfo, VersionKind};
use collab_core::doc_name::DocName;
use collab_core::wire::close_code;

/// Stack of each room thread. Only touched pages cost memory.
const ROOM_THREAD_STACK: usize = 256 * 1024 * 1024;
/// Commands a room thread queues before senders wait (backpressure on fast writers).
const INBOX_LEN: usize = 4096;

/// What a room is asked to do.
pub enum DocCommand {
    Join(Conn),
    Frame(ConnId, Bytes),
    Leave(ConnId),
    ReadText(oneshot::Sender<Option<String>>),
    /// Delete the document: close its connections (4410), drop its room without compacting,
    /// then delete its rows (to the trash, or with its history when `purge`) after every
    /// write the room queued.
    Delete {
        purge: bool,
        reply: DeleteReply,
    },
    /// Save a version (named, or after a restore); answered once durable.
    History(HistoryCommand),
    /// A change the server makes (a new text, an import); answered once durable.
    ServerChange(ServerChange, ChangeReply),
    /// The whole document as one v1 update.
    Export(ExportReply),
    /// The room's relay subscription (by its token) is active: it may load.
    Subscribed(u64),
    /// A message from another instance (`relay`).
    Relayed(Relayed),
}

/// What a room thread receives.
enum Command {
    Doc(DocName, DocCommand),
    Stats(oneshot::Sender<RegistryStats>),
    /// Another instance is gone: remove the presence states it relayed (owned by this id).
    InstanceGone(ConnId),
    /// The relay reconnected: every loaded room resyncs from storage.
    ResyncAll,
    Shutdown,
}

/// Counts for `/healthz`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RegistryStats {
    pub rooms: usize,
    pub members: usize,
}

/// Sends commands to the room thread that owns each document. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    threads: Arc<[mpsc::Sender<Command>]>,
}

/// The room threads, to be joined at shutdown.
pub struct RoomThreads {
    handles: Vec<JoinHandle<()>>,
}

/// Rooms were shut down: the command could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("room threads have stopped")]
pub struct RegistryStopped;

impl Registry {
    /// Starts `count` room threads, each with its crash journal beside the database `data`.
    pub fn start(
        count: usize,
        storage: StorageWriter,
        settings: RoomSettings,
        data: &std::path::Path,
        fanout: Option<Arc<dyn Fanout>>,
    ) -> std::io::Result<(Registry, RoomThreads)> {
        let settings = Arc::new(settings);
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for index in 0..count.max(1) {
            let (tx, inbox) = mpsc::channel(INBOX_LEN);
            let (loaded, loaded_rx) = mpsc::unbounded_channel();
            let context = RoomContext {
                settings: settings.clone(),
                journal: Arc::new(Journal::create(data, index)?),
                fanout: fanout.is_some(),
            };
            let io = RoomIo {
                storage: storage.clone(),
                loaded,
                fanout: fanout.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("rooms-{index}"))
                .stack_size(ROOM_THREAD_STACK)
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                        .expect("a current-thread runtime builds");
                    runtime.block_on(run(inbox, loaded_rx, context, io));
                })?;
            senders.push(tx);
            handles.push(handle);
        }
        Ok((
            Registry {
                threads: senders.into(),
            },
            RoomThreads { handles },
        ))
    }

    /// Sends a command to the room of `doc`, on the thread that owns it.
    ///
    /// Not an `async fn`, and `reserve` + `send` rather than `mpsc::Sender::send`: every socket
    /// task holds this future inline while it waits, and both of those would keep `doc` and
    /// `command` twice (376 bytes instead of ~200).
    pub fn send(
        &self,
        doc: DocName,
        command: DocCommand,
    ) -> impl std::future::Future<Output = Result<(), RegistryStopped>> + Send + '_ {
        let thread = &self.threads[self.thread_of(&doc)];
        async move {
            let permit = thread.reserve().await.map_err(|_| RegistryStopped)?;
            permit.send(Command::Doc(doc, command));
            Ok(())
        }
    }

    /// The text of `doc`, loading it if needed; `None` if it was never stored.
    pub async fn read_text(&self, doc: DocName) -> Result<Option<String>, RegistryStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(doc, DocCommand::ReadText(reply)).await?;
        rx.await.map_err(|_| RegistryStopped)
    }

    /// Deletes `doc`: its connections are closed (4410), its room dropped, and what is
    /// stored for it moved to the trash (with `purge`: deleted with its history).
    /// `Ok(false)` if it was never stored.
    pub async fn delete(
        &self,
        doc: DocName,
        purge: bool,
    ) -> Result<Result<bool, crate::storage::StorageError>, RegistryStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(doc, DocCommand::Delete { purge, reply }).await?;
        rx.await.map_err(|_| RegistryStopped)
    }

    /// Saves the current state of `doc` as a version of `kind`, loading it if needed;
    /// answered once durable.
    pub async fn save_version(
        &self,
        doc: DocName,
        kind: VersionKind,
        label: Option<String>,
        restored_from: Option<String>,
    ) -> Result<Result<VersionInfo, HistoryRefusal>, RegistryStopped> {
        let (reply, rx) = oneshot::channel();
        let command = HistoryCommand::Save {
            kind,
            label,
            restored_from,
            reply,
        };
        self.send(doc, DocCommand::History(command)).await?;
        rx.await.map_err(|_| RegistryStopped)
    }

    /// Makes `change` to `doc` (loading it if needed) through the room's apply pipeline:
    /// `Ok(Ok(()))` once it is durable, `Ok(Err(_))` if it was refused (nothing changed).
    pub async fn server_change(
        &self,
        doc: DocName,
        change: ServerChange,
    ) -> Result<Result<(), ChangeRefused>, RegistryStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(doc, DocCommand::ServerChange(change, reply))
            .await?;
        rx.await.map_err(|_| RegistryStopped)
    }

    /// The whole of `doc` as one v1 update, loading it if needed; `None` if never stored.
    pub async fn export(&self, doc: DocName) -> Result<Option<Vec<u8>>, RegistryStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(doc, DocCommand::Export(reply)).await?;
        rx.await.map_err(|_| RegistryStopped)
    }

    /// Rooms loaded and connections joined, over all threads.
    pub async fn stats(&self) -> Result<RegistryStats, RegistryStopped> {
        let mut total = RegistryStats::default();
        for thread in self.threads.iter() {
            let (reply, rx) = oneshot::channel();
            thread
                .send(Command::Stats(reply))
                .await
                .map_err(|_| RegistryStopped)?;
            let stats = rx.await.map_err(|_| RegistryStopped)?;
            total.rooms += stats.rooms;
            total.members += stats.members;
        }
        Ok(total)
    }

    /// Asks every room thread to unload its rooms (compacting them) and stop.
    pub async fn shutdown(&self) {
        for thread in self.threads.iter() {
            let _ = thread.send(Command::Shutdown).await;
        }
    }

    fn thread_of(&self, doc: &DocName) -> usize {
        let mut hasher = DefaultHasher::new();
        doc.hash(&mut hasher);
        (hasher.finish() % self.threads.len() as u64) as usize
    }
}

/// What the relay delivers to rooms.
impl Deliver for Registry {
    /// Tells the room of `doc` that its relay subscription `token` is active.
    async fn subscribed(&self, doc: DocName, token: u64) {
        let _ = self.send(doc, DocCommand::Subscribed(token)).await;
    }

    /// Hands a message from another instance to the room of `doc`, if it is loaded.
    async fn relayed(&self, doc: DocName, relayed: Relayed) {
        let _ = self.send(doc, DocCommand::Relayed(relayed)).await;
    }

    /// Removes, in every room, the presence states owned by `instance` (a departed instance).
    async fn instance_gone(&self, instance: ConnId) {
        for thread in self.threads.iter() {
            let _ = thread.send(Command::InstanceGone(instance)).await;
        }
    }

    /// Every loaded room merges what storage holds (after a gap in relaying).
    async fn resync_all(&self) {
        for thread in self.threads.iter() {
            let _ = thread.send(Command::ResyncAll).await;
        }
    }
}

impl RoomThreads {
    /// Blocks until every room thread has stopped.
    pub fn join(self) {
        for handle in self.handles {
            if handle.join().is_err() {
                tracing::error!("a room thread panicked");
            }
        }
    }
}

/// What a room thread's rooms reach the outside through: the effects' targets.
struct RoomIo {
    storage: StorageWriter,
    /// Where load results go: this thread's own queue.
    loaded: mpsc::UnboundedSender<LoadResult>,
    /// Fan-out to other instances (`--redis`), if any.
    fanout: Option<Arc<dyn Fanout>>,
}

/// The loop of one room thread.
async fn run(
    mut inbox: mpsc::Receiver<Command>,
    mut loaded_rx: mpsc::UnboundedReceiver<LoadResult>,
    context: RoomContext,
    io: RoomIo,
) {
    let mut rooms: HashMap<DocName, Room> = HashMap::new();
    let mut ticker = tokio::time::interval(tick_period(&context));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            Some(loaded) = loaded_rx.recv() => {
                let doc = loaded.doc.clone();
                if let Some(room) = rooms.get_mut(&doc) {
                    let (keep, effects) = room.on_loaded(loaded);
                    carry_out(&doc, effects, &io);
                    if keep == Keep::No {
                        remove(&mut rooms, &doc, &io);
                    }
                }
            }
            command = inbox.recv() => match command {
                None | Some(Command::Shutdown) => break,
                Some(command) => handle(&mut rooms, command, &context, &io),
            },
            _ = ticker.tick() => {
                let now = Instant::now();
                rooms.retain(|doc, room| {
                    let (keep, effects) = room.tick(now);
                    carry_out(doc, effects, &io);
                    if keep == Keep::No {
                        carry_out(doc, room.release(), &io);
                    }
                    keep == Keep::Yes
                });
            }
        }
    }
    for (doc, room) in &mut rooms {
        carry_out(doc, room.unload(), &io);
        carry_out(doc, room.release(), &io);
    }
}

fn handle(
    rooms: &mut HashMap<DocName, Room>,
    command: Command,
    context: &RoomContext,
    io: &RoomIo,
) {
    match command {
        Command::Doc(doc, DocCommand::Join(conn)) => {
            let effects = room_of(rooms, &doc, context, io).join(conn);
            carry_out(&doc, effects, io);
        }
        Command::Doc(doc, DocCommand::ReadText(reply)) => {
            let effects = room_of(rooms, &doc, context, io).read_text(reply);
            carry_out(&doc, effects, io);
        }
        Command::Doc(doc, DocCommand::ServerChange(change, reply)) => {
            let effects = room_of(rooms, &doc, context, io).server_change(change, reply);
            carry_out(&doc, effects, io);
        }
        Command::Doc(doc, DocCommand::Export(reply)) => {
            let effects = room_of(rooms, &doc, context, io).export(reply);
            carry_out(&doc, effects, io);
        }
        Command::Doc(doc, DocCommand::History(command)) => {
            let effects = room_of(rooms, &doc, context, io).history(command);
            carry_out(&doc, effects, io);
        }
        Command::Doc(doc, DocCommand::Delete { purge, reply }) => {
            if let Some(room) = rooms.get_mut(&doc) {
                let effects = room.close_all(close_code::DELETED, "document deleted");
                carry_out(&doc, effects, io);
                remove(rooms, &doc, io);
            }
            // Queued after every write the room made: FIFO, so those are deleted too.
            io.storage.delete(doc, purge, reply);
        }
        // Frames and departures for a room that is gone (it failed to load) are moot.
        Command::Doc(doc, DocCommand::Frame(conn, frame)) => {
            if let Some(room) = rooms.get_mut(&doc) {
                carry_out(&doc, room.frame(conn, frame), io);
            }
        }
        Command::Doc(doc, DocCommand::Leave(conn)) => {
            if let Some(room) = rooms.get_mut(&doc) {
                carry_out(&doc, room.leave(conn, Instant::now()), io);
            }
        }
        // Relay news for a room that unloaded meanwhile is moot: it never creates one.
        Command::Doc(doc, DocCommand::Subscribed(token)) => {
            if let Some(room) = rooms.get_mut(&doc) {
                carry_out(&doc, room.subscribed(token), io);
            }
        }
        Command::Doc(doc, DocCommand::Relayed(relayed)) => {
            if let Some(room) = rooms.get_mut(&doc) {
                carry_out(&doc, room.relayed(relayed), io);
            }
        }
        Command::InstanceGone(instance) => {
            for (doc, room) in rooms.iter_mut() {
                carry_out(doc, room.instance_gone(instance), io);
            }
        }
        Command::ResyncAll => {
            for (doc, room) in rooms.iter_mut() {
                carry_out(doc, room.resync(true), io);
            }
        }
        Command::Stats(reply) => {
            let _ = reply.send(RegistryStats {
                rooms: rooms.len(),
                members: rooms.values().map(Room::member_count).sum(),
            });
        }
        Command::Shutdown => {}
    }
}

/// The room of `doc`, created (and loading) if it is not loaded.
fn room_of<'a>(
    rooms: &'a mut HashMap<DocName, Room>,
    doc: &DocName,
    context: &RoomContext,
    io: &RoomIo,
) -> &'a mut Room {
    rooms.entry(doc.clone()).or_insert_with(|| {
        let (room, effects) = Room::load(doc.clone(), context);
        carry_out(doc, effects, io);
        room
    })
}

/// Drops the room of `doc`, ending its relay subscription.
fn remove(rooms: &mut HashMap<DocName, Room>, doc: &DocName, io: &RoomIo) {
    if let Some(mut room) = rooms.remove(doc) {
        carry_out(doc, room.release(), io);
    }
}

/// Carries out what the room of `doc` asked for, in order.
fn carry_out(doc: &DocName, effects: Effects, io: &RoomIo) {
    for effect in effects {
        match effect {
            Effect::Send {
                to,
                frames: Frames::One(frame),
            } => to.send(frame),
            Effect::Send {
                to,
                frames: Frames::Pieces(frames),
            } => to.send_pieces(frames),
            Effect::Close { conn, code, reason } => conn.close(code, &reason),
            Effect::Persist { write, ack } => io.storage.write(write, ack.map(receipt)),
            Effect::Ack(ack) => io.storage.receipt(receipt(ack)),
            Effect::AfterCommit { write, watcher } => {
                let receipt = Receipt {
                    sender: next_server_sender(),
                    count: 1,
                    watcher: Box::new(watcher),
                };
                match write {
                    Some(write) => io.storage.write(write, Some(receipt)),
                    None => io.storage.receipt(receipt),
                }
            }
            Effect::Answer(answer) => answer.send(),
            Effect::Load {
                generation,
                purpose,
            } => {
                let (loaded, name) = (io.loaded.clone(), doc.clone());
                io.storage.load(
                    doc.clone(),
                    Box::new(move |result| {
                        let _ = loaded.send(LoadResult {
                            doc: name,
                            generation,
                            result,
                            purpose,
                        });
                    }),
                );
            }
            Effect::Publish(publication) => {
                if let Some(fanout) = &io.fanout {
                    fanout.publish(doc, publication);
                }
            }
            Effect::Subscribe { token } => match &io.fanout {
                Some(fanout) => fanout.subscribe(doc.clone(), token),
                None => tracing::error!(%doc, "a room subscribed without a relay"),
            },
            Effect::Unsubscribe { token } => {
                if let Some(fanout) = &io.fanout {
                    fanout.unsubscribe(doc.clone(), token);
                }
            }
            Effect::Text { reply, text } => {
                let _ = reply.send(text);
            }
        }
    }
}

/// The storage writer's receipt for an acknowledgement: reported to the connection itself.
fn receipt(ack: crate::room::Ack) -> Receipt {
    Receipt {
        sender: ack.conn.id.get(),
        count: ack.count,
        watcher: Box::new(ack.conn),
    }
}

/// A receipt sender number of its own for each server change: above every connection id, so
/// the writer never merges it with a connection's receipts.
fn next_server_sender() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 63);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Ticks often enough to honour the shortest of the room timeouts, at most once a second.
fn tick_period(context: &RoomContext) -> Duration {
    let settings = &context.settings;
    (settings
        .unload_after
        .min(settings.awareness_timeout)
        .min(settings.version_idle)
        / 4)
    .clamp(Duration::from_millis(10), Duration::from_secs(1))
}
