//! `Config`: every tunable of a server, with the defaults the binary documents.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{PublicKeys, Secret, ShareKey, DEFAULT_AUDIENCE};
use crate::limits::Limits;
use crate::relay::RedisUrl;
use crate::storage::{PostgresUrl, Retention};
use crate::webhook::WebhookConfig;

/// How a server is set up. `main.rs` fills it from flags and environment; tests and the
/// desktop app build it directly.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address for HTTP and WebSocket, on one port. Port 0 picks a free one.
    pub listen: SocketAddr,
    /// The SQLite file holding every document; created, with its directory, if missing.
    /// With `postgres` set, no database is kept there, but the crash journals still go beside
    /// it (`{data}-inflight-N`), so each instance on a machine needs its own.
    pub data: PathBuf,
    /// Keep documents in this PostgreSQL database instead of the SQLite file (several
    /// instances may share it).
    pub postgres: Option<PostgresUrl>,
    /// Relay updates and presence to the other instances through this Redis server (pub/sub).
    /// Needs `postgres`: instances must share storage.
    pub redis: Option<RedisUrl>,
    /// Largest WebSocket message accepted, in bytes; larger ones close the connection (1009).
    pub max_message_size: usize,
    /// Largest a document may grow, in bytes of its encoded state (0: no limit). An update
    /// that would take a document past it is refused (4413) and the document stays as it was.
    pub max_document_size: usize,
    /// A client must send a complete request head within this long of connecting (or of its
    /// previous response), or its TCP connection is closed. Guards against sockets that
    /// connect and say nothing.
    pub request_timeout: Duration,
    /// How often the server pings each connection.
    pub ping_interval: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed (4408).
    /// Twice the ping interval by default, so one lost pong is tolerated.
    pub idle_timeout: Duration,
    /// Presence of a client that has not renewed it for this long is removed.
    /// Yjs clients renew every 15 s; y-protocols uses 30 s.
    pub awareness_timeout: Duration,
    /// An empty room stays loaded this long, so a reload of the page finds it warm.
    pub unload_after: Duration,
    /// Updates appended to a document's log before it is compacted into a snapshot.
    pub compact_after: usize,
    /// Messages queued for one connection before it counts as too slow and is dropped.
    pub send_queue: usize,
    /// Open WebSocket connections allowed at once; more are refused with 503.
    pub max_connections: usize,
    /// Per-address and per-document connection caps and per-connection rate limits.
    pub limits: Limits,
    /// Threads holding rooms (documents are spread over them by name).
    pub room_threads: usize,
    /// Directory of static files (the demo page and the widget's package files) served at
    /// `/` and every path the API does not take. `None`: `/` shows a page saying how to build
    /// them. Must exist when the server starts.
    pub web_root: Option<PathBuf>,
    /// The HS256 key tokens are signed with. `None` (and no `auth_public_keys`): open mode,
    /// anyone may read and write every document (fine on 127.0.0.1, the desktop app's default).
    pub auth_secret: Option<Secret>,
    /// Public keys (one PEM key or a JWK set) that verify RS256/ES256/EdDSA/… tokens, such as
    /// an identity provider issues; alone or beside `auth_secret` (the token's `alg` picks).
    pub auth_public_keys: Option<PublicKeys>,
    /// With `auth_secret`, tokens signed with this key are accepted too, until it is rotated
    /// (`ShareKey::rotate`): then they are refused and their connections closed (4401). The
    /// desktop app signs its sharing links with it.
    pub auth_share_key: Option<ShareKey>,
    /// The `aud` every token must name.
    pub auth_audience: String,
    /// With a secret, a connection without `?token=` must send its token message this soon.
    pub auth_timeout: Duration,
    /// Origins (besides the server's own) whose pages may open WebSockets: exact origins,
    /// `scheme://host:*`, or `*`. Empty: `http://localhost:*`, `http://127.0.0.1:*` and
    /// `http://[::1]:*` in open mode, none with a secret.
    pub allowed_origins: Vec<String>,
    /// Turns the update pre-validator off, so a test can send an update that really kills
    /// the process. Honoured by debug builds only; `main.rs` sets it from
    /// `SYNC_SERVER_TESTING_SKIP_VALIDATION=1`.
    pub testing_skip_validation: bool,
    /// `--webhook` URLs, `--webhook-secret`, `--webhook-debounce`: none by default.
    pub webhooks: WebhookConfig,
    /// A version is saved after this long without edits (`--checkpoint-idle`).
    pub checkpoint_idle: Duration,
    /// Editing that never pauses still gets a version this often (`--checkpoint-max`).
    pub checkpoint_max: Duration,
    /// Versions, change summaries and deleted documents older than this are dropped by
    /// compaction (`--history-retention`; `None`: keep everything).
    pub history_retention: Retention,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data: PathBuf::from("./data/collab.sqlite3"),
            postgres: None,
            redis: None,
            max_message_size: 4 * 1024 * 1024,
            max_document_size: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(40),
            awareness_timeout: Duration::from_secs(30),
            unload_after: Duration::from_secs(10),
            compact_after: 500,
            send_queue: 1024,
            max_connections: 10_000,
            limits: Limits::default(),
            room_threads: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            web_root: None,
            auth_secret: None,
            auth_share_key: None,
            auth_public_keys: None,
            auth_audience: DEFAULT_AUDIENCE.to_owned(),
            auth_timeout: Duration::from_secs(10),
            testing_skip_validation: false,
            allowed_origins: Vec::new(),
            webhooks: WebhookConfig::default(),
            checkpoint_idle: Duration::from_secs(60),
            checkpoint_max: Duration::from_secs(600),
            history_retention: Retention::DEFAULT,
        }
    }
}
