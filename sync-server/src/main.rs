//! The `sync-server` binary: reads flags and environment, sets up logging, runs the server
//! until Ctrl-C or SIGTERM.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use sync_server::{Config, Server};

/// Yjs-compatible collaborative sync server: WebSocket sync at ws://ADDR/sync/{doc}, documents
/// stored durably in one SQLite file, and (with --web-root) the demo page and widget files.
#[derive(Debug, Parser)]
#[command(name = "sync-server", version)]
struct Args {
    /// Address to listen on, for HTTP and WebSocket alike (port 0 picks a free port).
    #[arg(long, env = "SYNC_SERVER_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,

    /// SQLite file holding every document; created, with its directory, if missing.
    #[arg(
        long,
        env = "SYNC_SERVER_DATA",
        default_value = "./data/collab.sqlite3"
    )]
    data: PathBuf,

    /// Largest WebSocket message accepted, in bytes; a larger one closes the connection (1009).
    #[arg(long, env = "SYNC_SERVER_MAX_MESSAGE_SIZE", default_value_t = 4 * 1024 * 1024)]
    max_message_size: usize,

    /// Seconds between pings to each connection.
    #[arg(long, env = "SYNC_SERVER_PING_INTERVAL", default_value_t = 20.0)]
    ping_interval: f64,

    /// Seconds without any traffic (not even a pong) after which a connection is closed.
    #[arg(long, env = "SYNC_SERVER_IDLE_TIMEOUT", default_value_t = 40.0)]
    idle_timeout: f64,

    /// Seconds an empty document stays in memory before it is unloaded.
    #[arg(long, env = "SYNC_SERVER_UNLOAD_AFTER", default_value_t = 10.0)]
    unload_after: f64,

    /// Updates appended to a document's log before it is compacted into one snapshot.
    #[arg(long, env = "SYNC_SERVER_COMPACT_AFTER", default_value_t = 500)]
    compact_after: usize,

    /// Open WebSocket connections allowed at once; more are refused with HTTP 503.
    #[arg(long, env = "SYNC_SERVER_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,

    /// Directory of static files to serve: `/` is its index.html, and every path not taken by
    /// /sync/, /api/ or /healthz is a file under it (`./scripts/demo.sh` builds `target/web`).
    /// Without it, `/` shows a page saying the demo is not built.
    #[arg(long, env = "SYNC_SERVER_WEB_ROOT", value_name = "DIR")]
    web_root: Option<PathBuf>,

    /// Log filter, e.g. `info` or `sync_server=debug` (also read from RUST_LOG).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("--{flag} must be a positive number of seconds"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log).context("invalid --log filter")?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = Config {
        listen: args.listen,
        data: args.data,
        max_message_size: args.max_message_size,
        ping_interval: seconds(args.ping_interval, "ping-interval")?,
        idle_timeout: seconds(args.idle_timeout, "idle-timeout")?,
        unload_after: seconds(args.unload_after, "unload-after")?,
        compact_after: args.compact_after,
        max_connections: args.max_connections,
        web_root: args.web_root,
        ..Config::default()
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::bind(config).await?;
    // Scripts and tests read this line to learn the port.
    println!("listening on http://{}", server.local_addr());
    std::io::stdout().flush().ok();
    server.run(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
