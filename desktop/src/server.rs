//! The embedded sync server: bind, run on Tauri's tokio runtime, stop and wait.
//!
//! Only this module names `sync_server`. The server is a library value: `Server::bind` opens the
//! SQLite file and binds, `run(shutdown)` serves until `shutdown` resolves and then closes the
//! sockets, hands the rooms' last writes to storage and waits for the final commit. `stop`
//! awaits that, so after it returns every update the server received is on disk and the port
//! and the database are free for the next `start` (sharing on LAN rebinds this way).
//!
//! The server always runs with auth: the owner key (the window's token) and the share key
//! (links), see `keys`. Nothing reaches a document without a token.

use std::net::SocketAddr;
use std::path::Path;

use sync_server::auth::{Secret, ShareKey};
use sync_server::{Config, Server};
use tokio::sync::oneshot;

/// A running server.
pub struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tauri::async_runtime::JoinHandle<Result<(), sync_server::ServerError>>>,
}

/// The keys the server checks tokens with. `share` is shared with the app, which rotates it.
#[derive(Clone)]
pub struct Auth {
    pub owner: Secret,
    pub share: ShareKey,
}

/// Binds `listen` (port 0 picks a free port) on the SQLite file `data`, serving `web_root`.
pub async fn start(
    listen: SocketAddr,
    data: &Path,
    web_root: &Path,
    auth: &Auth,
) -> Result<Running, String> {
    let config = Config {
        listen,
        data: data.to_path_buf(),
        web_root: Some(web_root.to_path_buf()),
        auth_secret: Some(auth.owner.clone()),
        auth_share_key: Some(auth.share.clone()),
        ..Config::default()
    };
    let server = Server::bind(config).await.map_err(|e| e.to_string())?;
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tauri::async_runtime::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    tracing::info!(%addr, "sync server started");
    Ok(Running {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// Stops the server and waits until it has flushed everything to disk. Idempotent.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => tracing::info!(addr = %self.addr, "sync server stopped"),
                Ok(Err(error)) => tracing::error!(%error, "sync server stopped with an error"),
                Err(error) => tracing::error!(%error, "sync server task failed"),
            }
        }
    }
}
