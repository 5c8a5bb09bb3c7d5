//! `Server`: opens storage (SQLite, or PostgreSQL with `config.postgres`), binds the port,
//! starts the storage writer and the room threads, serves until told to stop, then shuts down
//! in the order that loses nothing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::assets::WebRoot;
use crate::auth::Verifier;
use crate::config::Config;
use crate::conn::OpenSockets;
use crate::http::{AppState, Shared};
use crate::limits::Admissions;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::registry::{Registry, RoomThreads};
use crate::relay::{Relay, RelayTask};
use crate::room::{Fanout, RoomSettings};
use crate::storage::writer::{CommitObserver, WriterThread};
use crate::storage::{PostgresStore, SqliteStore, StorageError, StorageWriter, Store, Write};
use crate::transport::{SocketContext, SHUTTING_DOWN};
use crate::webhook::Webhooks;
use collab_core::wire::close_code;

/// Why a server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open storage at {path}: {source}")]
    Storage {
        path: std::path::PathBuf,
        source: StorageError,
    },
    #[error("cannot use PostgreSQL at {database}: {source}")]
    Postgres {
        /// The URL without its password.
        database: String,
        source: StorageError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot use the crash journal beside {path}: {source}")]
    Journal {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot serve files from {path}: {source}")]
    WebRoot {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("--redis needs --postgres: instances that relay to each other must share storage")]
    RedisWithoutPostgres,
    #[error("cannot use Redis: {0}")]
    Redis(#[from] crate::relay::RelayError),
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// A bound, not yet running, sync server.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: AppState,
    room_threads: RoomThreads,
    writer_thread: WriterThread,
    relay_task: Option<RelayTask>,
}

impl Server {
    /// Opens storage, starts the writer and room threads, and binds `config.listen`.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        if config.redis.is_some() && config.postgres.is_none() {
            return Err(ServerError::RedisWithoutPostgres);
        }
        let metrics = Arc::new(Metrics::default());
        // Redis need not be up yet: the relay connects (and reconnects) by itself.
        let (relay, relay_task) = match &config.redis {
            Some(url) => {
                let (relay, task) = Relay::new(url, metrics.clone())?;
                (Some(relay), Some(task))
            }
            None => (None, None),
        };
        let web_root = match &config.web_root {
            Some(dir) => Some(Arc::new(WebRoot::open(dir).map_err(|source| {
                ServerError::WebRoot {
                    path: dir.clone(),
                    source,
                }
            })?)),
            None => None,
        };
        let store = open_store(&config).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(ServerError::Serve)?;
        let webhooks = Webhooks::start(config.webhooks.clone(), metrics.clone());
        let observer: Option<Box<dyn CommitObserver>> = match config.webhooks.endpoints.is_empty() {
            true => None,
            false => Some(Box::new(webhooks.clone())),
        };
        let (storage, writer_thread) =
            StorageWriter::start_observed(store, metrics.clone(), observer)
                .map_err(ServerError::Thread)?;
        let settings = RoomSettings {
            compact_after: config.compact_after.max(1),
            awareness_timeout: config.awareness_timeout,
            unload_after: config.unload_after,
            skip_validation: skip_validation_for_tests(config.testing_skip_validation),
            position_checks: (
                config.limits.max_position_checks_per_second,
                config.limits.position_check_burst,
            ),
            max_message_size: config.max_message_size,
            max_document_size: config.max_document_size,
            version_idle: config.checkpoint_idle,
            version_max_interval: config.checkpoint_max,
        };
        let (registry, room_threads) = Registry::start(
            config.room_threads,
            storage.clone(),
            settings,
            &config.data,
            relay
                .clone()
                .map(|relay| Arc::new(relay) as Arc<dyn Fanout>),
        )
        .map_err(|source| ServerError::Journal {
            path: config.data.clone(),
            source,
        })?;
        let verifier = Verifier::with_keys(
            config.auth_secret.clone(),
            config.auth_public_keys.clone(),
            config.auth_audience.clone(),
        )
        .map(|verifier| Arc::new(verifier.with_share_key(config.auth_share_key.clone())));
        let origins = Arc::new(OriginPolicy::new(
            &config.allowed_origins,
            verifier.is_some(),
        ));
        let config = Arc::new(config);
        let open_sockets: Arc<OpenSockets> = Arc::default();
        let shutdown = CancellationToken::new();
        let socket_context = Arc::new(SocketContext {
            config: config.clone(),
            registry: registry.clone(),
            open_sockets: open_sockets.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
        });
        let app = AppState::new(Shared {
            verifier,
            origins,
            admissions: Admissions::new(
                config.limits.clone(),
                config.max_connections,
                metrics.clone(),
            ),
            metrics,
            config,
            registry,
            storage,
            webhooks,
            shutdown,
            sockets: TaskTracker::new(),
            open_sockets,
            socket_context,
            web_root,
            relay,
        });
        Ok(Server {
            listener,
            local_addr,
            app,
            room_threads,
            writer_thread,
            relay_task,
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
            relay_task,
        } = self;
        tracing::info!(
            addr = %local_addr,
            storage = %match &app.config.postgres {
                Some(url) => format!("PostgreSQL {url}"),
                None => format!("SQLite {}", app.config.data.display()),
            },
            web_root = %app.web_root.as_ref().map_or("(none)".into(), |w| w.dir().display().to_string()),
            "serving"
        );
        if app.verifier.is_none() {
            tracing::warn!(
                "NO AUTH: no --auth-secret or public key, so anyone who can reach {local_addr} can read and edit every document"
            );
        }
        if let (Some(task), Some(relay)) = (relay_task, &app.relay) {
            tracing::info!(redis = %app.config.redis.as_ref().map(ToString::to_string).unwrap_or_default(), instance = %format!("{:016x}", relay.instance()), "relaying to other instances through Redis");
            tokio::spawn(task.run(app.registry.clone()));
        }
        let stop = app.shutdown.clone();
        let open_sockets = app.open_sockets.clone();
        let signal = tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
            // Socket tasks do not watch `shutdown` (polling it takes a mutex they would all
            // share): they are closed through their close signals, here and below.
            close_all_sockets(&open_sockets);
        });
        crate::http::serve(listener, app.clone(), app.shutdown.clone()).await;
        signal.abort();
        app.shutdown.cancel();
        tracing::info!("shutting down: closing connections");
        close_all_sockets(&app.open_sockets);
        app.sockets.close();
        app.sockets.wait().await;
        tracing::info!("shutting down: unloading documents");
        app.registry.shutdown().await;
        let _ = tokio::task::spawn_blocking(move || room_threads.join()).await;
        if let Some(relay) = &app.relay {
            // Other instances drop our users' presence now rather than heartbeats later.
            relay.shutdown().await;
        }
        tracing::info!("shutting down: flushing storage");
        app.storage.shutdown();
        let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Closes every open socket with 1001, and every socket that opens from now on.
fn close_all_sockets(open_sockets: &OpenSockets) {
    open_sockets.close_all(close_code::GOING_AWAY, SHUTTING_DOWN);
}

/// Opens the configured store (off the async runtime: the PostgreSQL client blocks) and
/// quarantines what the previous process died applying. PostgreSQL that cannot be reached
/// within its connect timeout fails the start.
async fn open_store(config: &Config) -> Result<Box<dyn Store>, ServerError> {
    let data = config.data.clone();
    let postgres = config.postgres.clone();
    let retention = config.history_retention;
    let opened = tokio::task::spawn_blocking(move || match postgres {
        Some(url) => {
            // No database here, but the crash journals still go beside `data`.
            if let Some(dir) = data.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| ServerError::Journal {
                    path: data.clone(),
                    source,
                })?;
            }
            let database = url.to_string();
            let error = |source| ServerError::Postgres {
                database: database.clone(),
                source,
            };
            let store = PostgresStore::open(&url)
                .map_err(error)?
                .with_retention(retention);
            quarantine_killers(store, &data, error)
        }
        None => {
            let error = |source| ServerError::Storage {
                path: data.clone(),
                source,
            };
            let store = SqliteStore::open(&data)
                .map_err(error)?
                .with_retention(retention);
            quarantine_killers(store, &data, error)
        }
    })
    .await;
    opened.map_err(|err| ServerError::Thread(std::io::Error::other(err)))?
}

/// The crash-loop guard at start-up: an update the previous process was applying when it died
/// is recorded in storage as quarantined, so its room refuses it instead of dying again.
fn quarantine_killers(
    mut store: impl Store,
    data: &std::path::Path,
    error: impl Fn(StorageError) -> ServerError,
) -> Result<Box<dyn Store>, ServerError> {
    let killers = crate::crash_guard::recover(data).map_err(|source| ServerError::Journal {
        path: data.to_path_buf(),
        source,
    })?;
    if killers.is_empty() {
        return Ok(Box::new(store));
    }
    let writes: Vec<Write> = killers
        .into_iter()
        .map(|killer| {
            tracing::error!(
                doc = %killer.doc,
                bytes = killer.update.len(),
                "the previous process died applying an update to this document; it is quarantined and will be refused"
            );
            Write::Quarantine {
                doc: killer.doc,
                update: killer.update,
                reason: "the process died while applying it".into(),
            }
        })
        .collect();
    store
        .commit(&writes, crate::storage::now_ms())
        .map_err(error)?;
    Ok(Box::new(store))
}

/// Whether the update pre-validator is off (`Config::testing_skip_validation`): in debug
/// builds only, so tests can send an update that really kills the process.
fn skip_validation_for_tests(asked: bool) -> bool {
    if asked && cfg!(debug_assertions) {
        tracing::warn!(
            "SYNC_SERVER_TESTING_SKIP_VALIDATION=1: updates reach yrs unchecked (test builds only)"
        );
        return true;
    }
    if asked {
        tracing::warn!("SYNC_SERVER_TESTING_SKIP_VALIDATION is ignored in release builds");
    }
    false
}
