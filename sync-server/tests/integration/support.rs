//! Test support: start a server in-process or as the real binary, a yrs WebSocket client
//! that speaks the protocol, and bare HTTP requests (with or without their headers).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sync_server::auth::{self, Access, Audience, Claims, Secret};
use sync_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::encoding::read::{Cursor, Read};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, TextRef, Transact, Update};

/// How long any awaited event may take before the test fails. A guard against hangs, not a
/// performance expectation.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test with `what` if it never completes.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A server running in this process, on its own SQLite file.
pub struct TestServer {
    pub addr: SocketAddr,
    pub data: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), sync_server::ServerError>>>,
}

impl TestServer {
    /// Starts a server with default settings on a new data file in `dir`.
    pub async fn start(dir: &Path) -> TestServer {
        TestServer::start_with(dir, |_| {}).await
    }

    /// Starts a server on `dir/collab.sqlite3`, with `adjust` applied to its config.
    pub async fn start_with(dir: &Path, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data: dir.join("collab.sqlite3"),
            ..Config::default()
        };
        adjust(&mut config);
        let data = config.data.clone();
        let server = Server::bind(config).await.expect("server binds");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            data,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Shuts the server down the way Ctrl-C does and waits until it has stopped.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        let task = self.task.take().unwrap();
        within("server shutdown", task)
            .await
            .unwrap()
            .expect("server stops cleanly");
    }

    pub fn url(&self, doc: &str) -> String {
        format!("ws://{}/sync/{doc}", self.addr)
    }
}

/// The `sync-server` binary running as a child process.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: tokio::process::Child,
    /// Everything it writes to stderr, once it has exited (only with `start_logging`).
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl ServerProcess {
    pub async fn start(data: &Path) -> ServerProcess {
        ServerProcess::spawn(data, &[], &[], false).await
    }

    /// Starts the binary with extra flags and environment variables.
    pub async fn start_with(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        ServerProcess::spawn(data, args, envs, false).await
    }

    /// Starts it with extra flags, collecting its stderr (see `terminate_and_read_logs`).
    pub async fn start_logging(data: &Path, args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(data, args, &[], true).await
    }

    async fn spawn(
        data: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        capture_stderr: bool,
    ) -> ServerProcess {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-server"));
        command
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(args)
            .envs(envs.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        if capture_stderr {
            command.stderr(std::process::Stdio::piped());
        }
        let mut child = command.spawn().expect("sync-server binary starts");
        // Read stderr as it comes, so a full pipe never blocks the server.
        let stderr = child.stderr.take().map(|mut pipe| {
            tokio::spawn(async move {
                let mut all = Vec::new();
                let _ = pipe.read_to_end(&mut all).await;
                all
            })
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = within("the listening line", lines.next_line())
            .await
            .unwrap()
            .expect("sync-server printed its address");
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        ServerProcess {
            addr,
            child,
            stderr,
        }
    }

    /// SIGTERM, then everything it wrote to stderr (started with `start_logging`).
    pub async fn terminate_and_read_logs(mut self) -> String {
        let stderr = self.stderr.take().expect("started with start_logging");
        assert!(self.terminate().await.success());
        String::from_utf8(within("stderr to close", stderr).await.unwrap()).expect("logs are UTF-8")
    }

    /// Waits for the process to end by itself; its exit status.
    pub async fn wait_exit(mut self) -> std::process::ExitStatus {
        within("the server to exit", self.child.wait())
            .await
            .unwrap()
    }

    pub fn url(&self, doc: &str) -> String {
        format!("ws://{}/sync/{doc}", self.addr)
    }

    /// The process id (the same for the life of this value: it is never restarted).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server process is running")
    }

    /// Panics unless the process is still running (it has not exited or crashed).
    pub fn assert_running(&mut self, after: &str) {
        if let Some(status) = self.child.try_wait().expect("query the server process") {
            panic!("the server process exited ({status}) after {after}");
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub async fn kill_9(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        within("the server to exit", self.child.wait())
            .await
            .unwrap()
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol client with its own yrs document, like a browser tab running Yjs.
pub struct Client {
    socket: Socket,
    pub doc: Doc,
    text: TextRef,
    /// Whether the server's SyncStep2 has arrived.
    pub synced: bool,
    /// Update-carrying messages sent (SyncStep2 and Update), in order.
    pub sent: u64,
    /// The local text right after each update-carrying message: `text_after[n]` is the
    /// text once message `n` was sent (`text_after[0]` is the text before any).
    pub text_after: Vec<String>,
    /// Update messages received (broadcasts, including echoes of our own).
    pub updates_received: u64,
    /// The highest durable-acknowledgement count received.
    pub acked: u64,
    /// Awareness states seen: client id to JSON (`None` when removed).
    pub presence: HashMap<u64, Option<String>>,
    /// The close code the server sent, once it closed the connection.
    pub closed_with: Option<u16>,
    /// Permission-denied reasons received.
    pub denied: Vec<String>,
    /// The server's limits (message size, document size), once it told them (`?ext=1`).
    pub limits: Option<(u64, u64)>,
}

impl Client {
    /// Connects to `url`, asking for acks, and waits until the initial sync is done.
    pub async fn connect(url: &str) -> Client {
        Client::connect_with_doc(url, Doc::new()).await
    }

    /// Connects with an existing document (a client coming back with offline edits).
    pub async fn connect_with_doc(url: &str, doc: Doc) -> Client {
        let separator = if url.contains('?') { '&' } else { '?' };
        let mut client = Client::connect_raw(&format!("{url}{separator}ext=1")).await;
        client.text = doc.get_or_insert_text("content");
        client.doc = doc;
        client.start_sync().await;
        within("initial sync", client.pump_until(|c| c.synced)).await;
        client
    }

    /// Connects without asking for extensions and without syncing.
    pub async fn connect_raw(url: &str) -> Client {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client::from_socket(socket)
    }

    /// Connects (without syncing) over a TCP socket bound to `local_ip` (any 127.x.y.z works
    /// on Linux loopback), with its receive buffer set to `recv_buffer` bytes if given.
    pub async fn connect_from(
        server: SocketAddr,
        local_ip: &str,
        recv_buffer: Option<u32>,
        url: &str,
    ) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        socket
            .bind(SocketAddr::new(local_ip.parse().unwrap(), 0))
            .unwrap();
        let stream = socket.connect(server).await.unwrap();
        let (socket, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .unwrap_or_else(|e| panic!("connect {url} from {local_ip}: {e}"));
        Client::from_socket(socket)
    }

    fn from_socket(socket: Socket) -> Client {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("content");
        Client {
            socket,
            doc,
            text,
            synced: false,
            sent: 0,
            text_after: vec![String::new()],
            updates_received: 0,
            acked: 0,
            presence: HashMap::new(),
            closed_with: None,
            denied: Vec::new(),
            limits: None,
        }
    }

    /// Sends our SyncStep1.
    pub async fn start_sync(&mut self) {
        let sv = self.doc.transact().state_vector();
        self.send_message(Message::Sync(SyncMessage::SyncStep1(sv)))
            .await;
    }

    pub fn text(&self) -> String {
        self.text.get_string(&self.doc.transact())
    }

    /// Inserts `chunk` at `index` (clamped to the text length) and sends the update.
    pub async fn insert(&mut self, index: u32, chunk: &str) {
        let update = {
            let mut txn = self.doc.transact_mut();
            let index = index.min(self.text.len(&txn));
            self.text.insert(&mut txn, index, chunk);
            txn.encode_update_v1()
        };
        self.send_update(update).await;
    }

    /// Appends `chunk` at the end and sends the update.
    pub async fn push(&mut self, chunk: &str) {
        self.insert(u32::MAX, chunk).await;
    }

    /// Deletes `len` characters at `index` and sends the update.
    pub async fn delete(&mut self, index: u32, len: u32) {
        let update = {
            let mut txn = self.doc.transact_mut();
            self.text.remove_range(&mut txn, index, len);
            txn.encode_update_v1()
        };
        self.send_update(update).await;
    }

    async fn send_update(&mut self, update: Vec<u8>) {
        self.send_message(Message::Sync(SyncMessage::Update(update)))
            .await;
        self.record_sent();
    }

    fn record_sent(&mut self) {
        self.sent += 1;
        let text = self.text();
        self.text_after.push(text);
    }

    /// Sets this client's awareness state.
    pub async fn set_presence(&mut self, clock: u32, json: &str) {
        let client = self.doc.client_id().get();
        self.send_bytes(encode_awareness(client, clock, Some(json)))
            .await;
    }

    pub async fn send_message(&mut self, message: Message) {
        self.send_bytes(message.encode_v1()).await;
    }

    pub async fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(WsMessage::Binary(bytes.into()))
            .await
            .expect("send to server");
    }

    /// Sends, tolerating a server that already closed or reset the connection (it may refuse
    /// a message before reading all of it); `false` if the send failed.
    pub async fn try_send_ws(&mut self, message: WsMessage) -> bool {
        match self.socket.send(message).await {
            Ok(()) => true,
            Err(err) => {
                tracing::debug!(error = %err, "send failed");
                false
            }
        }
    }

    /// Sends a frame; `false` if the connection is already gone.
    pub async fn try_send_bytes(&mut self, bytes: Vec<u8>) -> bool {
        self.socket
            .send(WsMessage::Binary(bytes.into()))
            .await
            .is_ok()
    }

    pub async fn send_ws(&mut self, message: WsMessage) {
        self.socket.send(message).await.expect("send to server");
    }

    /// Reads and handles messages until `done(self)` holds. Panics if the connection ends
    /// first.
    pub async fn pump_until(&mut self, mut done: impl FnMut(&Client) -> bool) {
        while !done(self) {
            if !self.pump_one().await {
                panic!(
                    "connection closed (code {:?}) before the awaited condition held",
                    self.closed_with
                );
            }
        }
    }

    /// Reads until the server closes the connection; returns its close code.
    pub async fn expect_close(&mut self) -> u16 {
        within("the server to close the connection", async {
            while self.pump_one().await {}
        })
        .await;
        self.closed_with.expect("the server sent a close frame")
    }

    /// Reads without handling or answering anything until the server closes the connection;
    /// returns the binary frames received and the close code.
    pub async fn drain_until_close(&mut self) -> (Vec<Vec<u8>>, u16) {
        let mut frames = Vec::new();
        let code = within("the server to close the connection", async {
            loop {
                match self.socket.next().await {
                    Some(Ok(WsMessage::Binary(frame))) => frames.push(frame.to_vec()),
                    Some(Ok(WsMessage::Close(frame))) => {
                        break frame.map(|f| u16::from(f.code));
                    }
                    Some(Ok(_)) => {}
                    None | Some(Err(_)) => break None,
                }
            }
        })
        .await;
        (frames, code.expect("the server sent a close frame"))
    }

    /// Waits until every update-carrying message sent so far is acknowledged as durable.
    pub async fn wait_saved(&mut self) {
        let sent = self.sent;
        within(
            "durable acknowledgement",
            self.pump_until(|c| c.acked >= sent),
        )
        .await;
    }

    /// Waits until the text satisfies `check`.
    pub async fn wait_text(&mut self, what: &str, check: impl Fn(&str) -> bool) {
        within(what, self.pump_until(|c| check(&c.text()))).await;
    }

    /// Handles one incoming WebSocket message; `false` once the connection is over.
    pub async fn pump_one(&mut self) -> bool {
        let message = match self.socket.next().await {
            None | Some(Err(_)) => return false,
            Some(Ok(message)) => message,
        };
        match message {
            WsMessage::Binary(frame) => {
                self.handle_frame(&frame).await;
                true
            }
            WsMessage::Close(frame) => {
                self.closed_with = frame
                    .map(|f| u16::from(f.code))
                    .or(Some(u16::from(CloseCode::Status)));
                false
            }
            _ => true,
        }
    }

    async fn handle_frame(&mut self, frame: &[u8]) {
        let mut decoder = yrs::updates::decoder::DecoderV1::from(frame);
        let messages: Vec<Message> = yrs::sync::MessageReader::new(&mut decoder)
            .collect::<Result<_, _>>()
            .expect("server frames decode");
        assert_eq!(messages.len(), 1, "one message per frame");
        for message in messages {
            match message {
                Message::Sync(SyncMessage::SyncStep1(sv)) => {
                    let update = self.doc.transact().encode_state_as_update_v1(&sv);
                    let reply = Message::Sync(SyncMessage::SyncStep2(update)).encode_v1();
                    // The server may already be closing this connection (an attacker's): the
                    // close, not the failed reply, is what the caller is waiting for.
                    if self.try_send_ws(WsMessage::Binary(reply.into())).await {
                        self.record_sent();
                    }
                }
                Message::Sync(SyncMessage::SyncStep2(update)) => {
                    self.apply(&update);
                    self.synced = true;
                }
                Message::Sync(SyncMessage::Update(update)) => {
                    self.updates_received += 1;
                    self.apply(&update);
                }
                Message::Awareness(update) => {
                    for (client, entry) in update.clients {
                        let state = (&*entry.json != "null").then(|| entry.json.to_string());
                        self.presence.insert(client.get(), state);
                    }
                }
                Message::Custom(100, payload) => {
                    let count: u64 = Cursor::new(&payload).read_var().unwrap();
                    assert!(count >= self.acked, "acks never go backwards");
                    self.acked = count;
                }
                Message::Custom(101, payload) => {
                    let mut cursor = Cursor::new(&payload);
                    let message: u64 = cursor.read_var().unwrap();
                    let document: u64 = cursor.read_var().unwrap();
                    self.limits = Some((message, document));
                }
                Message::Auth(Some(reason)) => self.denied.push(reason),
                other => panic!("unexpected message from server: {other:?}"),
            }
        }
    }

    fn apply(&mut self, update: &[u8]) {
        let update = Update::decode_v1(update).expect("server updates decode");
        self.doc.transact_mut().apply_update(update).unwrap();
    }

    /// Names of users present (from `{"user":{"name":…}}` states), sorted.
    pub fn present_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .presence
            .values()
            .flatten()
            .filter_map(|json| {
                let value: serde_json::Value = serde_json::from_str(json).ok()?;
                Some(value["user"]["name"].as_str()?.to_owned())
            })
            .collect();
        names.sort();
        names
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        // Drain until the server acknowledges the close.
        let _ = tokio::time::timeout(PATIENCE, async {
            while self.socket.next().await.is_some() {}
        })
        .await;
    }

    pub fn state_vector(&self) -> StateVector {
        self.doc.transact().state_vector()
    }
}

/// An awareness message with one client entry (`None` removes it).
pub fn encode_awareness(client: u64, clock: u32, json: Option<&str>) -> Vec<u8> {
    use yrs::encoding::write::Write;
    let mut payload = Vec::new();
    payload.write_var(1u32);
    payload.write_var(client);
    payload.write_var(clock);
    payload.write_string(json.unwrap_or("null"));
    let mut out = vec![1u8];
    Write::write_buf(&mut out, payload);
    out
}

/// Polls `check` until it holds (for state the server changes asynchronously, such as a
/// slot freed after a disconnect); fails the test after `PATIENCE`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The status and body of a WebSocket upgrade request for `path` (101 if accepted).
pub async fn try_upgrade(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, &upgrade_request(addr, path)).await
}

/// `GET /metrics`, checked to be well-formed Prometheus text: every sample belongs to a family
/// announced by `# TYPE`, and every value is a number. Returns sample (with labels) -> value.
pub async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let response = http_get_with(addr, "/metrics", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let mut families: Vec<String> = Vec::new();
    let mut samples = HashMap::new();
    for line in response.text().lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            families.push(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (sample, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line:?}"));
        let name = sample.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| families.iter().any(|f| f == base))
            .unwrap_or(name);
        assert!(
            families.iter().any(|f| f == family),
            "sample without # TYPE: {line:?}"
        );
        assert!(
            samples.insert(sample.to_owned(), value).is_none(),
            "duplicate sample {sample}"
        );
    }
    samples
}

/// A minimal HTTP/1.1 GET; returns the status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// Sends a raw request and returns the status code and body (read up to Content-Length, so
/// a kept-alive connection does not stall the test).
pub async fn http_request(addr: SocketAddr, request: &str) -> (u16, String) {
    let response = http_exchange(addr, request).await;
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

/// An HTTP response with its headers.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// In the order received; names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A GET with extra header lines (each `Name: value`); returns headers too.
pub async fn http_get_with(addr: SocketAddr, path: &str, extra: &[&str]) -> HttpResponse {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    http_exchange(addr, &request).await
}

/// Sends a raw request and reads the response: head, then the body up to Content-Length
/// (none for HEAD requests and 304s).
pub async fn http_exchange(addr: SocketAddr, request: &str) -> HttpResponse {
    http_exchange_bytes(addr, request.as_bytes()).await
}

/// A request of `method` to `path` with a binary `body` and extra header lines.
pub async fn http_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[&str],
    body: &[u8],
) -> HttpResponse {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    http_exchange_bytes(addr, &bytes).await
}

/// [`http_exchange`] for a request that need not be text.
pub async fn http_exchange_bytes(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let head_request = request.starts_with(b"HEAD ");
    within("an HTTP response", async {
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = find(&response, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&response[..end]).into_owned();
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"));
                let headers: Vec<(String, String)> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        Some((name.trim().to_owned(), value.trim().to_owned()))
                    })
                    .collect();
                let length: usize = if head_request || status == 304 {
                    0
                } else {
                    headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0)
                };
                if response.len() >= end + 4 + length {
                    let body = response[end + 4..end + 4 + length].to_vec();
                    return HttpResponse {
                        status,
                        headers,
                        body,
                    };
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-response");
            response.extend_from_slice(&chunk[..n]);
        }
    })
    .await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The stored text of `doc`, as the REST endpoint reports it.
pub async fn stored_text(addr: SocketAddr, doc: &str) -> Option<String> {
    match http_get(addr, &format!("/api/docs/{doc}/text")).await {
        (200, body) => Some(body),
        (404, _) => None,
        (status, body) => panic!("GET text: {status} {body}"),
    }
}

/// An upgrade request for `path`, as a browser would send it.
pub fn upgrade_request(addr: SocketAddr, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// Starts `watchdog`, a `sh -c 'cat >/dev/null; …'` that acts once its standard input closes,
/// and returns that input: dropping it, or this test process ending however it ends, runs the
/// watchdog's action (so no server outlives a crashed test run).
pub fn spawn_watchdog(watchdog: &mut std::process::Command) -> std::process::ChildStdin {
    use std::process::Stdio;
    watchdog
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts")
        .stdin
        .take()
        .expect("piped stdin")
}

/// `scripts/services.sh`, the one place that starts PostgreSQL and Redis for the tests.
const SERVICES_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/services.sh");

/// Runs `services.sh` with `args`; its standard output, trimmed. Fails the test with its
/// standard error if it fails.
pub fn services_sh(args: &[&str]) -> String {
    let output = std::process::Command::new("bash")
        .arg(SERVICES_SCRIPT)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "services.sh {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// PostgreSQL and/or Redis of this test process's own, started by `services.sh` in a directory
/// under the target directory; stopped and removed when dropped, or when this process ends
/// however it ends.
pub struct Services {
    dir: String,
    urls: HashMap<String, String>,
    /// Closing it makes the watchdog run `services.sh stop`.
    _watchdog: std::process::ChildStdin,
}

impl Services {
    /// Starts `services` (`"postgres"`, `"redis"`).
    pub fn start(services: &[&str]) -> Services {
        let dir = tempfile::Builder::new()
            .prefix("services-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep()
            .to_str()
            .expect("a UTF-8 target directory")
            .to_owned();
        let mut watchdog = std::process::Command::new("sh");
        watchdog.args([
            "-c",
            r#"cat >/dev/null; bash "$0" stop "$1""#,
            SERVICES_SCRIPT,
            &dir,
        ]);
        let watchdog = spawn_watchdog(&mut watchdog);
        let mut args = vec!["start", dir.as_str()];
        args.extend_from_slice(services);
        let urls = services_sh(&args)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, url)| (name.to_owned(), url.to_owned()))
            .collect();
        Services {
            dir,
            urls,
            _watchdog: watchdog,
        }
    }

    /// `postgres://…/postgres`: the server's maintenance database.
    pub fn postgres_url(&self) -> &str {
        &self.urls["COLLAB_TEST_POSTGRES_URL"]
    }

    /// `redis://…/`.
    pub fn redis_url(&self) -> &str {
        &self.urls["COLLAB_TEST_REDIS_URL"]
    }

    /// Stops `service`, keeping its port and data (PostgreSQL: a fast shutdown, open
    /// connections are ended; Redis: SIGKILL, every connection drops).
    pub fn halt(&self, service: &str) {
        services_sh(&["halt", &self.dir, service]);
    }

    /// Starts a halted `service` again, on the same port with the same data.
    pub fn resume(&self, service: &str) {
        services_sh(&["resume", &self.dir, service]);
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        services_sh(&["stop", &self.dir]);
    }
}

/// `$name` from the environment (set by `scripts/test.sh`), or else the URL `service` has on a
/// server this process starts for itself.
fn shared_url(
    name: &str,
    service: &str,
    cell: &'static OnceLock<(String, Option<Services>)>,
) -> &'static str {
    let (url, _own) = cell.get_or_init(|| match std::env::var(name) {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let own = Services::start(&[service]);
            (own.urls[name].clone(), Some(own))
        }
    });
    url
}

/// The PostgreSQL server tests share, each on a database of its own (`database`):
/// `COLLAB_TEST_POSTGRES_URL`, or one started on first use.
pub fn shared_postgres_url() -> &'static str {
    static SHARED: OnceLock<(String, Option<Services>)> = OnceLock::new();
    shared_url("COLLAB_TEST_POSTGRES_URL", "postgres", &SHARED)
}

/// The Redis server tests share, each with document names of its own (`namespaced`):
/// `COLLAB_TEST_REDIS_URL`, or one started on first use. Pub/sub channels ignore Redis's
/// database number, so the document names are the namespace.
pub fn shared_redis_url() -> &'static str {
    static SHARED: OnceLock<(String, Option<Services>)> = OnceLock::new();
    shared_url("COLLAB_TEST_REDIS_URL", "redis", &SHARED)
}

/// Different in every run of this test binary, so that runs sharing one server never meet.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("{}_{nanos}", std::process::id())
    })
}

/// `name` made unique to this run and to `test`: a document name no other test process on a
/// shared Redis uses.
pub fn namespaced(test: &str, name: &str) -> String {
    format!("{test}.{}.{name}", run_id())
}

/// Creates a new, empty database on the PostgreSQL server of `server_url`, named for `name`
/// and this run; its URL.
pub fn database(server_url: &str, name: &str) -> String {
    services_sh(&["database", server_url, &format!("{name}_{}", run_id())])
}

/// Runs `sql` in the database of `url`; its rows, unaligned, without headers.
pub fn psql(url: &str, sql: &str) -> String {
    services_sh(&["psql", url, sql])
}

/// The HS256 key of the test servers started with auth.
pub const SECRET: &[u8] = b"integration-test-secret-of-32-bytes-or-more";

pub fn secret() -> Secret {
    Secret::new(SECRET.to_vec()).unwrap()
}

/// Claims for user `sub` (named "User {sub}") on `docs` with `access`, valid for 10 minutes.
pub fn claims(sub: &str, docs: &[&str], access: Access) -> Claims {
    Claims {
        sub: sub.into(),
        name: Some(format!("User {sub}")),
        color: Some("#123456".into()),
        docs: docs.iter().map(|d| (*d).to_owned()).collect(),
        access,
        aud: Audience::One(auth::DEFAULT_AUDIENCE.into()),
        exp: auth::unix_now() + 600,
        iat: None,
        nbf: None,
        guest: false,
    }
}

/// [`claims`] signed with [`SECRET`].
pub fn token(sub: &str, docs: &[&str], access: Access) -> String {
    auth::mint(&secret(), &claims(sub, docs, access))
}
