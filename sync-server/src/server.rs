//! `Server`: binds the port, starts the storage writer and the room threads, serves until
//! told to stop, then shuts down in the order that loses nothing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::assets::WebRoot;
use crate::auth::Verifier;
use crate::config::Config;
use crate::origin::OriginPolicy;
use crate::registry::{Registry, RoomThreads};
use crate::room::RoomSettings;
use crate::storage::writer::WriterThread;
use crate::storage::{SqliteStore, StorageError, StorageWriter};

/// Why a server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open storage at {path}: {source}")]
    Storage {
        path: std::path::PathBuf,
        source: StorageError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot serve files from {path}: {source}")]
    WebRoot {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// What every request handler and socket task shares.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub registry: Registry,
    pub storage: StorageWriter,
    /// Cancelled when the server begins to shut down; sockets close with 1001.
    pub shutdown: CancellationToken,
    /// Every socket task, so shutdown can wait for them.
    pub sockets: TaskTracker,
    pub connection_slots: Arc<Semaphore>,
    /// Where static files come from (`config.web_root`, resolved), if anywhere.
    pub web_root: Option<Arc<WebRoot>>,
    /// Checks tokens; `None` in open mode (no secret).
    pub verifier: Option<Arc<Verifier>>,
    /// Which `Origin`s may open WebSockets.
    pub origins: Arc<OriginPolicy>,
}

/// A bound, not yet running, sync server.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: AppState,
    room_threads: RoomThreads,
    writer_thread: WriterThread,
}

impl Server {
    /// Opens storage, starts the writer and room threads, and binds `config.listen`.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let web_root = match &config.web_root {
            Some(dir) => Some(Arc::new(WebRoot::open(dir).map_err(|source| {
                ServerError::WebRoot {
                    path: dir.clone(),
                    source,
                }
            })?)),
            None => None,
        };
        let store = SqliteStore::open(&config.data).map_err(|source| ServerError::Storage {
            path: config.data.clone(),
            source,
        })?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(ServerError::Serve)?;
        let (storage, writer_thread) = StorageWriter::start(store).map_err(ServerError::Thread)?;
        let settings = RoomSettings {
            compact_after: config.compact_after.max(1),
            awareness_timeout: config.awareness_timeout,
            unload_after: config.unload_after,
        };
        let (registry, room_threads) =
            Registry::start(config.room_threads, storage.clone(), settings)
                .map_err(ServerError::Thread)?;
        let verifier = config
            .auth_secret
            .clone()
            .map(|secret| Arc::new(Verifier::new(secret, config.auth_audience.clone())));
        let origins = Arc::new(OriginPolicy::new(
            &config.allowed_origins,
            verifier.is_some(),
        ));
        let app = AppState {
            verifier,
            origins,
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            config: Arc::new(config),
            registry,
            storage,
            shutdown: CancellationToken::new(),
            sockets: TaskTracker::new(),
            web_root,
        };
        Ok(Server {
            listener,
            local_addr,
            app,
            room_threads,
            writer_thread,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves, then: stops accepting, closes every socket with
    /// 1001, lets the rooms hand their last writes to storage, and waits until storage has
    /// committed everything.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Server {
            listener,
            local_addr,
            app,
            room_threads,
            writer_thread,
        } = self;
        tracing::info!(
            addr = %local_addr,
            data = %app.config.data.display(),
            web_root = %app.web_root.as_ref().map_or("(none)".into(), |w| w.dir().display().to_string()),
            "serving"
        );
        if app.verifier.is_none() {
            tracing::warn!(
                "NO AUTH: no --auth-secret, so anyone who can reach {local_addr} can read and edit every document"
            );
        }
        let stop = app.shutdown.clone();
        let signal = tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        crate::http::serve(listener, app.clone(), app.shutdown.clone()).await;
        signal.abort();
        app.shutdown.cancel();
        tracing::info!("shutting down: closing connections");
        app.sockets.close();
        app.sockets.wait().await;
        tracing::info!("shutting down: unloading documents");
        app.registry.shutdown().await;
        let _ = tokio::task::spawn_blocking(move || room_threads.join()).await;
        tracing::info!("shutting down: flushing storage");
        app.storage.shutdown();
        let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
        tracing::info!("stopped");
        Ok(())
    }
}
