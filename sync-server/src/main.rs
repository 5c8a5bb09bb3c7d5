//! The `sync-server` binary: reads flags and environment, sets up logging, runs the server
//! until Ctrl-C or SIGTERM. `sync-server token …` mints an access token instead.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args as ClapArgs, Parser, Subcommand};
use sync_server::auth::{self, Access, Audience, Claims, PublicKeys, Secret};
use sync_server::limits::Limits;
use sync_server::relay::RedisUrl;
use sync_server::storage::{PostgresUrl, Retention};
use sync_server::webhook::{Endpoint, WebhookConfig};
use sync_server::{Config, Server};

/// Yjs-compatible collaborative sync server: WebSocket sync at ws://ADDR/sync/{doc}, documents
/// stored durably in one SQLite file (or a PostgreSQL database shared by several instances),
/// and (with --web-root) the demo page and widget files.
#[derive(Debug, Parser)]
#[command(name = "sync-server", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Args,
    #[command(flatten)]
    auth: AuthArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an access token (HS256 JWT) signed with the auth secret.
    Token(TokenArgs),
}

/// Token settings, shared by the server and `token`.
#[derive(Debug, ClapArgs)]
struct AuthArgs {
    /// HS256 secret (at least 32 bytes) that access tokens are signed with. With it (or
    /// --auth-public-key, or --auth-jwks-file), every WebSocket and /api/ request needs a
    /// token; with none of them the server is open to anyone who can reach it. Prefer the
    /// environment variable or --auth-secret-file: flags show in `ps`.
    #[arg(
        long,
        env = "SYNC_SERVER_AUTH_SECRET",
        global = true,
        hide_env_values = true
    )]
    auth_secret: Option<String>,

    /// File holding the auth secret (one trailing newline is ignored).
    #[arg(
        long,
        env = "SYNC_SERVER_AUTH_SECRET_FILE",
        global = true,
        value_name = "FILE",
        conflicts_with = "auth_secret"
    )]
    auth_secret_file: Option<PathBuf>,

    /// Public key (PEM: `BEGIN PUBLIC KEY`, `BEGIN RSA PUBLIC KEY` or `BEGIN CERTIFICATE`)
    /// that verifies asymmetric tokens, e.g. an identity provider's. The algorithm comes from
    /// the key (RSA: RS256, EC P-256: ES256, P-384: ES384, Ed25519: EdDSA) unless
    /// --auth-public-key-alg names another the key fits; tokens must name exactly it. May be
    /// combined with --auth-secret: the token's `alg` picks the key (HS256: the secret, any
    /// other: the public key), and a public key never verifies HS256.
    #[arg(
        long,
        env = "SYNC_SERVER_AUTH_PUBLIC_KEY",
        global = true,
        value_name = "PEM_FILE"
    )]
    auth_public_key: Option<PathBuf>,

    /// The algorithm tokens signed with an RSA --auth-public-key use, when not RS256: RS384,
    /// RS512, PS256, PS384 or PS512. (EC and Ed25519 keys have one algorithm each.)
    #[arg(
        long,
        env = "SYNC_SERVER_AUTH_PUBLIC_KEY_ALG",
        global = true,
        value_name = "ALG",
        requires = "auth_public_key"
    )]
    auth_public_key_alg: Option<String>,

    /// JWK set file (`{"keys":[...]}`, as served at an identity provider's jwks_uri) whose keys
    /// verify asymmetric tokens; the token's `kid` picks the key (it may be left out only if
    /// the set holds one). A key with `alg` accepts only that algorithm; without it, RSA keys
    /// accept RS*/PS*, EC keys their curve's ES256/ES384, Ed25519 keys EdDSA. Encryption and
    /// symmetric keys are skipped. Read once at start (restart to pick up rotated keys). May
    /// be combined with --auth-secret like --auth-public-key, not with --auth-public-key.
    #[arg(
        long,
        env = "SYNC_SERVER_AUTH_JWKS_FILE",
        global = true,
        value_name = "FILE",
        conflicts_with = "auth_public_key"
    )]
    auth_jwks_file: Option<PathBuf>,

    /// The `iss` claim tokens verified by --auth-public-key or --auth-jwks-file must carry
    /// (the identity provider's issuer, e.g. `https://login.example.com/`). HS256 tokens need
    /// none.
    #[arg(
        long,
        env = "SYNC_SERVER_AUTH_ISSUER",
        global = true,
        value_name = "ISS"
    )]
    auth_issuer: Option<String>,

    /// The `aud` claim every token must carry.
    #[arg(long, env = "SYNC_SERVER_AUTH_AUDIENCE", global = true, default_value = auth::DEFAULT_AUDIENCE)]
    auth_audience: String,
}

impl AuthArgs {
    fn secret(&self) -> anyhow::Result<Option<Secret>> {
        let bytes = match (&self.auth_secret, &self.auth_secret_file) {
            (Some(secret), _) => secret.as_bytes().to_vec(),
            (None, Some(path)) => {
                let mut bytes = std::fs::read(path).with_context(|| {
                    format!("cannot read --auth-secret-file {}", path.display())
                })?;
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                bytes
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(Secret::new(bytes).context("--auth-secret")?))
    }

    fn public_keys(&self) -> anyhow::Result<Option<PublicKeys>> {
        let keys = self.read_public_keys()?;
        anyhow::ensure!(
            keys.is_some() || self.auth_issuer.is_none(),
            "--auth-issuer needs --auth-public-key or --auth-jwks-file"
        );
        Ok(keys.map(|keys| keys.with_issuer(self.auth_issuer.clone())))
    }

    fn read_public_keys(&self) -> anyhow::Result<Option<PublicKeys>> {
        let read = |path: &PathBuf, flag: &str| {
            std::fs::read(path).with_context(|| format!("cannot read --{flag} {}", path.display()))
        };
        if let Some(path) = &self.auth_public_key {
            let pem = read(path, "auth-public-key")?;
            let keys = PublicKeys::from_pem(&pem, self.auth_public_key_alg.as_deref())
                .with_context(|| format!("--auth-public-key {}", path.display()))?;
            return Ok(Some(keys));
        }
        if let Some(path) = &self.auth_jwks_file {
            let json = read(path, "auth-jwks-file")?;
            let keys = PublicKeys::from_jwks(&json)
                .with_context(|| format!("--auth-jwks-file {}", path.display()))?;
            return Ok(Some(keys));
        }
        Ok(None)
    }
}

/// `sync-server token`: what the token grants and to whom.
#[derive(Debug, ClapArgs)]
struct TokenArgs {
    /// Document the token grants (repeatable); a trailing `*` grants every name with that
    /// prefix (`team-a-*`), `*` alone every document.
    #[arg(long = "doc", required = true, value_name = "DOC")]
    docs: Vec<String>,

    /// Read and edit (the default is read-only).
    #[arg(long, conflicts_with = "read")]
    write: bool,

    /// Read-only: receive the document and presence, edits refused.
    #[arg(long)]
    read: bool,

    /// The user's display name.
    #[arg(long)]
    name: String,

    /// The user's colour, `#rgb` or `#rrggbb` (default: derived from the user id).
    #[arg(long)]
    color: Option<String>,

    /// The user's stable id (`sub`; default: the name).
    #[arg(long)]
    user_id: Option<String>,

    /// How long the token is valid, in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl_seconds: u64,
}

/// Server flags.
#[derive(Debug, ClapArgs)]
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

    /// Store documents in this PostgreSQL database instead of the SQLite file, e.g.
    /// `postgres://user:password@host:5432/dbname` (no TLS). Several instances may share it;
    /// each still needs its own --data path, where its crash journals go. The server does not
    /// start if the database cannot be reached. Prefer the environment variable: flags show
    /// in `ps`.
    #[arg(
        long,
        env = "SYNC_SERVER_POSTGRES",
        value_name = "URL",
        hide_env_values = true
    )]
    postgres: Option<String>,

    /// Relay updates and presence to other instances through this Redis server (pub/sub),
    /// e.g. `redis://127.0.0.1:6379/`: for several instances behind one load balancer. Needs
    /// --postgres (the instances must share storage). Redis need not be up at start: the
    /// server reconnects by itself and /readyz answers 503 while Redis is unreachable.
    #[arg(
        long,
        env = "SYNC_SERVER_REDIS",
        value_name = "URL",
        hide_env_values = true
    )]
    redis: Option<String>,

    /// Largest WebSocket message accepted, in bytes; a larger one closes the connection (1009).
    #[arg(long, env = "SYNC_SERVER_MAX_MESSAGE_SIZE", default_value_t = 4 * 1024 * 1024)]
    max_message_size: usize,

    /// Largest a document may grow, in bytes of its encoded state; an update that would take
    /// it past this is refused (close 4413) and the document stays as it was. 0: no limit.
    #[arg(long, env = "SYNC_SERVER_MAX_DOCUMENT_SIZE", default_value_t = 64 * 1024 * 1024)]
    max_document_size: usize,

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

    /// Open WebSocket connections allowed from one IP address; more are refused with HTTP 429.
    /// Loopback is not exempt. Behind a reverse proxy every client shares its address.
    #[arg(long, env = "SYNC_SERVER_MAX_CONNECTIONS_PER_IP", default_value_t = Limits::default().max_connections_per_ip)]
    max_connections_per_ip: usize,

    /// Open WebSocket connections allowed to one document; more are refused with HTTP 503.
    #[arg(long, env = "SYNC_SERVER_MAX_CONNECTIONS_PER_DOC", default_value_t = Limits::default().max_connections_per_doc)]
    max_connections_per_doc: usize,

    /// Messages per second one connection may send, sustained (0: unlimited); a connection
    /// over it (after its burst) is closed with 4420.
    #[arg(long, env = "SYNC_SERVER_MAX_MESSAGES_PER_SECOND", default_value_t = Limits::default().max_messages_per_second)]
    max_messages_per_second: f64,

    /// Messages one connection may send at once above --max-messages-per-second.
    #[arg(long, env = "SYNC_SERVER_MESSAGE_BURST", default_value_t = Limits::default().message_burst)]
    message_burst: u32,

    /// Sync requests (SyncStep1, answered with a diff of the whole document) per minute one
    /// connection may send, sustained (0: unlimited); over it, the connection is closed (4420).
    #[arg(long, env = "SYNC_SERVER_MAX_SYNC_REQUESTS_PER_MINUTE", default_value_t = Limits::default().max_sync_requests_per_minute)]
    max_sync_requests_per_minute: f64,

    /// Sync requests one connection may send at once above --max-sync-requests-per-minute.
    #[arg(long, env = "SYNC_SERVER_SYNC_REQUEST_BURST", default_value_t = Limits::default().sync_request_burst)]
    sync_request_burst: u32,

    /// Items per second whose place a room checks by position for one connection, sustained
    /// (each walks the document; typing needs none, a cursor jump one, a whole document
    /// uploaded at once 33; 0: unlimited); over it, the connection is closed (4420).
    #[arg(long, env = "SYNC_SERVER_MAX_POSITION_CHECKS_PER_SECOND", default_value_t = Limits::default().max_position_checks_per_second)]
    max_position_checks_per_second: f64,

    /// Position checks one connection may cause at once above --max-position-checks-per-second.
    #[arg(long, env = "SYNC_SERVER_POSITION_CHECK_BURST", default_value_t = Limits::default().position_check_burst)]
    position_check_burst: u32,

    /// Directory of static files to serve: `/` is its index.html, and every path not taken by
    /// /sync/, /api/ or /healthz is a file under it (`./scripts/demo.sh` builds `target/web`).
    /// Without it, `/` shows a page saying the demo is not built.
    #[arg(long, env = "SYNC_SERVER_WEB_ROOT", value_name = "DIR")]
    web_root: Option<PathBuf>,

    /// Origin whose pages may open WebSockets (repeatable; the environment variable takes a
    /// comma-separated list): `https://app.example.com`, `http://localhost:*` (any port), or
    /// `*` (any). The server's own origin and clients sending no Origin are always allowed.
    /// Default: also http://localhost:*, http://127.0.0.1:* and http://[::1]:* without auth (no
    /// secret or public key); nothing more with it.
    #[arg(
        long = "allow-origin",
        env = "SYNC_SERVER_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    allow_origins: Vec<String>,

    /// URL (http://) that receives a POST after a document's commits (at most one per document
    /// per --webhook-debounce) and after deletes. Repeat, or separate with commas, for several.
    #[arg(
        long = "webhook",
        env = "SYNC_SERVER_WEBHOOK",
        value_delimiter = ',',
        value_name = "URL"
    )]
    webhooks: Vec<String>,

    /// Key for the HMAC-SHA256 signature of each webhook body (header
    /// `X-Collab-Signature-256: sha256=<hex>`). Without it, deliveries are unsigned.
    #[arg(long, env = "SYNC_SERVER_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,

    /// Least seconds between two commit deliveries of one document.
    #[arg(long, env = "SYNC_SERVER_WEBHOOK_DEBOUNCE", default_value_t = 2.0)]
    webhook_debounce: f64,

    /// Seconds without edits after which a document's changes are saved as a version.
    #[arg(long, env = "SYNC_SERVER_CHECKPOINT_IDLE", default_value_t = 60.0)]
    checkpoint_idle: f64,

    /// Seconds of editing that never pauses after which a version is saved anyway.
    #[arg(long, env = "SYNC_SERVER_CHECKPOINT_MAX", default_value_t = 600.0)]
    checkpoint_max: f64,

    /// How long versions, the audit trail and deleted documents are kept: a number with a
    /// unit (`30d`, `12h`, `90m`, `45s`; a bare number is seconds). 0: keep everything.
    #[arg(long, env = "SYNC_SERVER_HISTORY_RETENTION", default_value = "30d")]
    history_retention: String,

    /// Seconds a connection without ?token= has to send its token message.
    #[arg(long, env = "SYNC_SERVER_AUTH_TIMEOUT", default_value_t = 10.0)]
    auth_timeout: f64,

    /// Log filter, e.g. `info` or `sync_server=debug` (also read from RUST_LOG).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,

    /// Log line format on stderr: `text` (human-readable) or `json` (one JSON object a line).
    #[arg(long, env = "SYNC_SERVER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("--{flag} must be a positive number of seconds"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let secret = cli.auth.secret()?;
    if let Some(Command::Token(token)) = cli.command {
        let secret = secret.context(
            "`token` needs the secret: --auth-secret, SYNC_SERVER_AUTH_SECRET or --auth-secret-file",
        )?;
        println!("{}", mint(&secret, cli.auth.auth_audience, token)?);
        return Ok(());
    }
    let args = cli.serve;
    let filter =
        tracing_subscriber::EnvFilter::try_new(&args.log).context("invalid --log filter")?;
    // No request URI is ever logged (a query string may carry an access token).
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    for (flag, rate) in [
        ("max-messages-per-second", args.max_messages_per_second),
        (
            "max-sync-requests-per-minute",
            args.max_sync_requests_per_minute,
        ),
        (
            "max-position-checks-per-second",
            args.max_position_checks_per_second,
        ),
    ] {
        anyhow::ensure!(
            rate.is_finite() && rate >= 0.0,
            "--{flag} must be 0 or more"
        );
    }
    let postgres = args
        .postgres
        .as_deref()
        .map(PostgresUrl::parse)
        .transpose()
        .context("--postgres")?;
    let redis = args
        .redis
        .as_deref()
        .map(RedisUrl::parse)
        .transpose()
        .context("--redis")?;
    anyhow::ensure!(
        redis.is_none() || postgres.is_some(),
        "--redis needs --postgres: instances that relay to each other must share storage"
    );
    let config = Config {
        listen: args.listen,
        data: args.data,
        postgres,
        redis,
        max_message_size: args.max_message_size,
        max_document_size: args.max_document_size,
        ping_interval: seconds(args.ping_interval, "ping-interval")?,
        idle_timeout: seconds(args.idle_timeout, "idle-timeout")?,
        unload_after: seconds(args.unload_after, "unload-after")?,
        checkpoint_idle: seconds(args.checkpoint_idle, "checkpoint-idle")?,
        checkpoint_max: seconds(args.checkpoint_max, "checkpoint-max")?,
        history_retention: Retention::parse(&args.history_retention)
            .map_err(|reason| anyhow::anyhow!("--history-retention {reason}"))?,
        compact_after: args.compact_after,
        max_connections: args.max_connections,
        limits: Limits {
            max_connections_per_ip: args.max_connections_per_ip,
            max_connections_per_doc: args.max_connections_per_doc,
            max_messages_per_second: args.max_messages_per_second,
            message_burst: args.message_burst,
            max_sync_requests_per_minute: args.max_sync_requests_per_minute,
            sync_request_burst: args.sync_request_burst,
            max_position_checks_per_second: args.max_position_checks_per_second,
            position_check_burst: args.position_check_burst,
        },
        web_root: args.web_root,
        auth_secret: secret,
        auth_public_keys: cli.auth.public_keys()?,
        auth_audience: cli.auth.auth_audience,
        auth_timeout: seconds(args.auth_timeout, "auth-timeout")?,
        allowed_origins: args.allow_origins,
        webhooks: WebhookConfig {
            endpoints: args
                .webhooks
                .iter()
                .map(|url| Endpoint::parse(url))
                .collect::<Result<_, _>>()?,
            secret: args.webhook_secret.map(String::into_bytes),
            debounce: seconds(args.webhook_debounce, "webhook-debounce")?,
            ..WebhookConfig::default()
        },
        testing_skip_validation: std::env::var_os("SYNC_SERVER_TESTING_SKIP_VALIDATION")
            .is_some_and(|v| v == "1"),
        ..Config::default()
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

/// A token for `args`, valid from now for `--ttl-seconds`.
fn mint(secret: &Secret, audience: String, args: TokenArgs) -> anyhow::Result<String> {
    if let Some(color) = &args.color {
        anyhow::ensure!(auth::is_hex_color(color), "--color must be #rgb or #rrggbb");
    }
    let now = auth::unix_now();
    let claims = Claims {
        sub: args.user_id.unwrap_or_else(|| args.name.clone()),
        name: Some(args.name),
        color: args.color,
        docs: args.docs,
        access: if args.write {
            Access::Write
        } else {
            Access::Read
        },
        aud: Audience::One(audience),
        exp: now.saturating_add(args.ttl_seconds),
        iat: Some(now),
        nbf: None,
        guest: false,
    };
    Ok(auth::mint(secret, &claims))
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
