//! Webhooks: a POST to each `--webhook` URL after a document's commits (at most one per
//! document per debounce), and at once after a delete; signed with HMAC-SHA256 of
//! the body, retried with backoff, and never in the way of storage or editing.
//!
//! The storage writer calls [`Webhooks::notify`] after each commit: a send on an unbounded
//! channel, which never blocks. One task collects the events, keeps the latest per document
//! until its debounce ends, and delivers it to every URL. A document has at most one commit
//! delivery in flight; commits made while it is retried wait, folded into one.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::metrics::{Metrics, WebhookResult};
use crate::storage::writer::{CommitObserver, Committed};
pub use crate::storage::Author;
use crate::timestamp::rfc3339_utc;
use collab_core::doc_name::DocName;

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>` (with `--webhook-secret`).
pub const SIGNATURE_HEADER: &str = "x-collab-signature-256";
/// The header naming the event: `commit` or `delete`.
pub const EVENT_HEADER: &str = "x-collab-event";
/// Attempts per delivery before it is given up (and counted as failed).
const ATTEMPTS: u32 = 8;
/// The longest wait between two attempts.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How long one attempt (connect, send, answer) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A URL that is not one this client can deliver to.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook URL {0:?} is not a URL")]
    BadUrl(String),
    #[error("webhook URL {0:?} must start with http:// (terminate TLS in a proxy)")]
    NotHttp(String),
}

/// Where deliveries go: an `http://host[:port]/path` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    uri: Uri,
    host: String,
    port: u16,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, WebhookError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| WebhookError::BadUrl(url.to_owned()))?;
        if uri.scheme_str() != Some("http") {
            return Err(WebhookError::NotHttp(url.to_owned()));
        }
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| WebhookError::BadUrl(url.to_owned()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        Ok(Endpoint { uri, host, port })
    }

    fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("/", |pq| pq.as_str())
    }
}

/// As [`Display`](std::fmt::Display): without the query.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL without its query, which may hold a secret of the receiver's.
        write!(f, "http://{}:{}{}", self.host, self.port, self.uri.path())
    }
}

/// `--webhook`, `--webhook-secret`, `--webhook-debounce`.
#[derive(Clone)]
pub struct WebhookConfig {
    pub endpoints: Vec<Endpoint>,
    /// The HMAC key; without one, deliveries carry no signature header.
    pub secret: Option<Vec<u8>>,
    /// The least time between two commit deliveries of one document.
    pub debounce: Duration,
    /// The wait before the first retry; it doubles with each further one, up to a minute.
    pub retry_first: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("endpoints", &self.endpoints)
            .field("secret", &self.secret.as_ref().map(|_| "<secret>"))
            .field("debounce", &self.debounce)
            .field("retry_first", &self.retry_first)
            .finish()
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            endpoints: Vec::new(),
            secret: None,
            debounce: Duration::from_secs(2),
            retry_first: Duration::from_secs(1),
        }
    }
}

/// What happened to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Commit,
    Delete,
    /// A version was restored (`POST /api/docs/{doc}/restore`).
    Restore,
    /// A deleted document was brought back (`POST /api/docs/{doc}/undelete`).
    Undelete,
}

impl EventKind {
    /// Its name in the `X-Collab-Event` header and the body's `event`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Commit => "commit",
            EventKind::Delete => "delete",
            EventKind::Restore => "restore",
            EventKind::Undelete => "undelete",
        }
    }
}

/// One document's event, as the writer (or the API) reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocEvent {
    pub kind: EventKind,
    pub doc: DocName,
    /// Server time of the commit, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The document's text size after it, in UTF-8 bytes.
    pub size_bytes: u64,
    pub authors: Vec<Author>,
}

/// The JSON body of a delivery.
#[derive(Debug, Serialize)]
struct Body<'a> {
    event: EventKind,
    doc: &'a str,
    updated_at: String,
    size_bytes: u64,
    authors: &'a [Author],
}

/// The handle the writer and the API report through. Cloning shares the one collector task.
#[derive(Debug, Clone)]
pub struct Webhooks {
    tx: Option<mpsc::UnboundedSender<DocEvent>>,
}

impl Webhooks {
    /// No URLs: every event is dropped at once.
    pub fn none() -> Webhooks {
        Webhooks { tx: None }
    }

    /// Starts the collector on the current tokio runtime (nothing when there are no URLs).
    pub fn start(config: WebhookConfig, metrics: Arc<Metrics>) -> Webhooks {
        if config.endpoints.is_empty() {
            return Webhooks::none();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(collect(rx, Arc::new(config), metrics));
        Webhooks { tx: Some(tx) }
    }

    /// Reports an event; never blocks, and does nothing when webhooks are off.
    pub fn notify(&self, event: DocEvent) {
        if let Some(tx) = &self.tx {
            // The collector only stops with the runtime; then nothing is delivered anyway.
            let _ = tx.send(event);
        }
    }
}

impl CommitObserver for Webhooks {
    fn documents_committed(&self, committed: &[Committed]) {
        for c in committed {
            self.notify(DocEvent {
                kind: EventKind::Commit,
                doc: c.doc.clone(),
                at_ms: c.at_ms,
                size_bytes: c.text_bytes,
                authors: c.authors.clone(),
            });
        }
    }
}

/// A commit waiting for its document's debounce to end (`due`), or, with `due: None`, for the
/// document's delivery in flight to finish.
struct Pending {
    event: DocEvent,
    due: Option<Instant>,
}

/// Receives events, holds commits until their document's debounce ends, and delivers.
///
/// A document has at most one commit delivery in flight (being sent or retried): commits that
/// come meanwhile fold into one pending event, sent when it is done. So a receiver that is down
/// costs one retrying delivery per document, not one per debounce.
async fn collect(
    mut rx: mpsc::UnboundedReceiver<DocEvent>,
    config: Arc<WebhookConfig>,
    metrics: Arc<Metrics>,
) {
    let mut pending: HashMap<DocName, Pending> = HashMap::new();
    // When each document's last commit delivery left: the next may leave a debounce later.
    let mut last_sent: HashMap<DocName, Instant> = HashMap::new();
    let mut in_flight: HashSet<DocName> = HashSet::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<DocName>();
    loop {
        let next_due = pending.values().filter_map(|p| p.due).min();
        let sleep = async {
            match next_due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { return };
                match event.kind {
                    EventKind::Commit => {
                        let now = Instant::now();
                        match pending.get_mut(&event.doc) {
                            Some(p) => merge(&mut p.event, event),
                            None => {
                                let earliest = last_sent
                                    .get(&event.doc)
                                    .map_or(now, |at| *at + config.debounce);
                                // A first commit waits a debounce too, so a burst makes one
                                // delivery.
                                let due = Some(earliest.max(now + config.debounce));
                                pending.insert(event.doc.clone(), Pending { event, due });
                            }
                        }
                    }
                    EventKind::Delete => {
                        // What was pending describes a document that is now gone.
                        pending.remove(&event.doc);
                        deliver_all(event, &config, &metrics, None);
                    }
                    // Said at once; the commit that made them is delivered as a commit too.
                    EventKind::Restore | EventKind::Undelete => {
                        deliver_all(event, &config, &metrics, None);
                    }
                }
            }
            Some(doc) = done_rx.recv() => {
                in_flight.remove(&doc);
                if let Some(p) = pending.get_mut(&doc) {
                    if p.due.is_none() {
                        let earliest = last_sent.get(&doc).map_or_else(Instant::now, |at| *at + config.debounce);
                        p.due = Some(earliest.max(Instant::now()));
                    }
                }
            }
            () = sleep => {
                let now = Instant::now();
                let ready: Vec<DocName> = pending
                    .iter()
                    .filter(|(_, p)| p.due.is_some_and(|due| due <= now))
                    .map(|(doc, _)| doc.clone())
                    .collect();
                for doc in ready {
                    if in_flight.contains(&doc) {
                        // Sent once the delivery in flight is done.
                        if let Some(p) = pending.get_mut(&doc) {
                            p.due = None;
                        }
                    } else if let Some(p) = pending.remove(&doc) {
                        last_sent.insert(doc.clone(), now);
                        in_flight.insert(doc.clone());
                        deliver_all(p.event, &config, &metrics, Some(done_tx.clone()));
                    }
                }
                // Documents whose debounce is long over need no memory of it.
                last_sent.retain(|doc, at| {
                    now.duration_since(*at) < config.debounce || in_flight.contains(doc)
                });
            }
        }
    }
}

/// Folds a later commit into a pending one: its time and size, and every author once.
fn merge(into: &mut DocEvent, later: DocEvent) {
    into.at_ms = into.at_ms.max(later.at_ms);
    into.size_bytes = later.size_bytes;
    for author in later.authors {
        if !into.authors.contains(&author) {
            into.authors.push(author);
        }
    }
}

/// Sends `event` to every endpoint, each retried on its own; `done` hears the document's name
/// once every endpoint has accepted it or been given up on.
fn deliver_all(
    event: DocEvent,
    config: &Arc<WebhookConfig>,
    metrics: &Arc<Metrics>,
    done: Option<mpsc::UnboundedSender<DocName>>,
) {
    let body = Bytes::from(encode(&event));
    let signature = config.secret.as_deref().map(|key| sign(key, &body));
    let deliveries: Vec<_> = config
        .endpoints
        .iter()
        .map(|endpoint| {
            deliver(
                endpoint.clone(),
                event.kind,
                body.clone(),
                signature.clone(),
                config.retry_first,
                metrics.clone(),
            )
        })
        .collect();
    let doc = event.doc;
    tokio::spawn(async move {
        futures_util::future::join_all(deliveries).await;
        if let Some(done) = done {
            // The collector only stops with the runtime.
            let _ = done.send(doc);
        }
    });
}

/// The body for an event.
pub fn encode(event: &DocEvent) -> Vec<u8> {
    serde_json::to_vec(&Body {
        event: event.kind,
        doc: event.doc.as_str(),
        updated_at: rfc3339_utc(event.at_ms),
        size_bytes: event.size_bytes,
        authors: &event.authors,
    })
    .expect("a webhook body is plain data")
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Tries one delivery until the receiver answers 2xx, with doubling waits between attempts.
async fn deliver(
    endpoint: Endpoint,
    kind: EventKind,
    body: Bytes,
    signature: Option<String>,
    retry_first: Duration,
    metrics: Arc<Metrics>,
) {
    let mut wait = retry_first;
    for attempt in 1..=ATTEMPTS {
        let outcome = tokio::time::timeout(
            ATTEMPT_TIMEOUT,
            post(&endpoint, kind, body.clone(), signature.as_deref()),
        )
        .await
        .unwrap_or_else(|_| Err("no answer in time".to_owned()));
        match outcome {
            Ok(()) => {
                metrics.webhook(WebhookResult::Delivered);
                return;
            }
            Err(reason) if attempt < ATTEMPTS => {
                metrics.webhook(WebhookResult::Retried);
                tracing::warn!(%endpoint, attempt, %reason, retry_in = ?wait, "webhook delivery failed");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
            Err(reason) => {
                metrics.webhook(WebhookResult::Failed);
                tracing::error!(%endpoint, attempts = ATTEMPTS, %reason, "webhook delivery given up");
            }
        }
    }
}

/// One HTTP/1.1 POST; `Ok` only for a 2xx answer.
async fn post(
    endpoint: &Endpoint,
    kind: EventKind,
    body: Bytes,
    signature: Option<&str>,
) -> Result<(), String> {
    let stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|err| format!("connect: {err}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| format!("handshake: {err}"))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "webhook connection ended");
        }
    });
    let authority = match endpoint.uri.port_u16() {
        Some(port) => format!("{}:{port}", endpoint.uri.host().unwrap_or_default()),
        None => endpoint.uri.host().unwrap_or_default().to_owned(),
    };
    let mut request = Request::post(endpoint.path_and_query())
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json")
        .header(
            USER_AGENT,
            concat!("collab-sync-server/", env!("CARGO_PKG_VERSION")),
        )
        .header(EVENT_HEADER, kind.as_str());
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|err| format!("request: {err}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| format!("send: {err}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_plain_http_urls() {
        let e = Endpoint::parse("http://127.0.0.1:9000/hooks/collab?key=s3cret").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 9000));
        assert_eq!(e.path_and_query(), "/hooks/collab?key=s3cret");
        assert_eq!(
            e.to_string(),
            "http://127.0.0.1:9000/hooks/collab",
            "no query in logs"
        );
        assert_eq!(format!("{e:?}"), "http://127.0.0.1:9000/hooks/collab");
        assert_eq!(Endpoint::parse("http://example.test").unwrap().port, 80);
        assert!(matches!(
            Endpoint::parse("https://example.test/"),
            Err(WebhookError::NotHttp(_))
        ));
        assert!(matches!(
            Endpoint::parse("not a url"),
            Err(WebhookError::BadUrl(_))
        ));
        assert!(matches!(
            Endpoint::parse("/just/a/path"),
            Err(WebhookError::NotHttp(_))
        ));
    }

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn merged_commits_keep_the_latest_size_and_every_author_once() {
        let doc = DocName::parse("notes").unwrap();
        let ann = Author {
            id: "ann".into(),
            name: Some("Ann".into()),
            verified: true,
        };
        let bob = Author {
            id: "bob".into(),
            name: None,
            verified: true,
        };
        let mut first = DocEvent {
            kind: EventKind::Commit,
            doc: doc.clone(),
            at_ms: 10,
            size_bytes: 5,
            authors: vec![ann.clone()],
        };
        merge(
            &mut first,
            DocEvent {
                kind: EventKind::Commit,
                doc,
                at_ms: 20,
                size_bytes: 9,
                authors: vec![bob.clone(), ann.clone()],
            },
        );
        assert_eq!((first.at_ms, first.size_bytes), (20, 9));
        assert_eq!(first.authors, vec![ann, bob]);
        let body: serde_json::Value = serde_json::from_slice(&encode(&first)).unwrap();
        assert_eq!(body["event"], "commit");
        assert_eq!(body["doc"], "notes");
        assert_eq!(body["size_bytes"], 9);
        assert_eq!(body["authors"][1]["id"], "bob");
        assert_eq!(body["updated_at"], "1970-01-01T00:00:00.020Z");
    }
}
