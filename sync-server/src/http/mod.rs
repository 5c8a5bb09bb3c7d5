//! HTTP on the sync port: the accept loop, and the routes — the WebSocket endpoint
//! `/sync/{doc}`, `/healthz`, the REST endpoints `/api/docs`, `/api/docs/{doc}/text` and
//! `DELETE /api/docs/{doc}` (admin access), `PUT /api/docs/{doc}/text` (the minimal edit), `GET`/`POST
//! /api/docs/{doc}/update` (export, import: through the room's apply pipeline, answered once
//! durable), the history endpoints ([`history`]), CORS for allowed origins ([`cors`]), and,
//! for every other path, static files from the web root (see `assets`).

mod cors;
mod history;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::assets::WebRoot;
use crate::assets::{self, Lookup};
use crate::auth::Verifier;
use crate::auth::{Access, AuthError, Grant};
use crate::config::Config;
use crate::conn::OpenSockets;
use crate::limits::Admissions;
use crate::metrics::Metrics;
use crate::metrics::{readiness, Refusal};
use crate::origin::OriginPolicy;
use crate::registry::{Registry, RegistryStopped};
use crate::relay::Relay;
use crate::room::{ChangeRefused, ServerChange, ServerEdit};
use crate::storage::writer::now_ms;
use crate::storage::{Author, ListQuery, StorageWriter};
use crate::timestamp::rfc3339_utc;
use crate::transport::{self, SocketContext, SocketRequest, TokenCheck};
use crate::webhook::{DocEvent, EventKind, Webhooks};
use collab_core::doc_name::DocName;

/// What every request handler and socket task shares: one allocation, so each connection's
/// task holds a pointer to it rather than a copy of a dozen handles (it lives as long as the
/// connection, so this is per-connection memory).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of [`AppState`].
pub struct Shared {
    pub config: Arc<Config>,
    pub registry: Registry,
    pub storage: StorageWriter,
    /// Told of deletes (the writer tells it of commits).
    pub webhooks: Webhooks,
    /// Cancelled when the server begins to shut down; sockets close with 1001.
    pub shutdown: CancellationToken,
    /// Every socket task, so shutdown can wait for them.
    pub sockets: TaskTracker,
    /// Every open socket's close signal, so shutdown can close them with 1001.
    pub open_sockets: Arc<OpenSockets>,
    /// What socket tasks get of all this (`transport::SocketContext`).
    pub socket_context: Arc<SocketContext>,
    /// Connection caps: total, per IP address, per document.
    pub admissions: Arc<Admissions>,
    pub metrics: Arc<Metrics>,
    /// Where static files come from (`config.web_root`, resolved), if anywhere.
    pub web_root: Option<Arc<WebRoot>>,
    /// Checks tokens; `None` in open mode (no secret).
    pub verifier: Option<Arc<Verifier>>,
    /// Which `Origin`s may open WebSockets.
    pub origins: Arc<OriginPolicy>,
    /// Fan-out to other instances (`--redis`), if any.
    pub relay: Option<Relay>,
}

/// Pause after a failed accept (out of file descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long in-flight plain HTTP requests may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts connections and serves `app` on them until `stop` is cancelled, then waits (a
/// bounded time) for in-flight requests. Upgraded WebSockets are not waited for here: they
/// watch `stop` themselves.
pub async fn serve(listener: TcpListener, app: AppState, stop: CancellationToken) {
    let request_timeout = app.config.request_timeout;
    let router = router(app);
    let connections = TaskTracker::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(request_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        // The peer address, for the per-address connection cap (`ConnectInfo` in handlers).
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(ConnectInfo::<SocketAddr>(peer))),
        );
        let connection = http1
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(error = %err, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP requests were still running at shutdown");
    }
}

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/docs", get(list_docs))
        .route("/api/docs/{doc}/text", get(doc_text).put(put_text))
        .route("/api/docs/{doc}/update", get(export_doc).post(import_doc))
        .route("/api/docs/{doc}", delete(delete_doc))
        .route(
            "/api/docs/{doc}/versions",
            get(history::list_versions).post(history::name_version),
        )
        .route(
            "/api/docs/{doc}/versions/{id}/text",
            get(history::version_text),
        )
        .route("/api/docs/{doc}/restore", post(history::restore))
        .route("/api/docs/{doc}/changes", get(history::changes))
        .route("/api/docs/{doc}/undelete", post(history::undelete))
        .route("/sync/{*doc}", get(sync))
        .route("/sync", get(missing_doc_name))
        .route("/sync/", get(missing_doc_name))
        .fallback(static_file)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            cors::cors,
        ))
        .with_state(app)
}

/// Query parameters of `/sync/{doc}`. No `Debug`: the token must never reach a log.
#[derive(Deserialize)]
struct SyncParams {
    /// `1` asks for our extension messages (durable acknowledgements).
    ext: Option<String>,
    /// An access token (with `--auth-secret`); without it the first message must carry one.
    token: Option<String>,
}

async fn sync(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(doc): Path<String>,
    Query(params): Query<SyncParams>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let doc = match DocName::parse(&doc) {
        Ok(doc) => doc,
        Err(err) => return bad_request(err),
    };
    let origin = header_str(&headers, header::ORIGIN);
    if !app.origins.allows(
        origin.as_deref(),
        header_str(&headers, header::HOST).as_deref(),
    ) {
        let origin = origin.unwrap_or_default();
        tracing::warn!(?origin, %doc, "refused a WebSocket upgrade from an origin not allowed");
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "origin not allowed: this page may not open a WebSocket to this server (see --allow-origin)\n",
        )
            .into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    if app.shutdown.is_cancelled() {
        app.metrics.refused(Refusal::ShuttingDown);
        return (StatusCode::SERVICE_UNAVAILABLE, "server shutting down\n").into_response();
    }
    let admission = match app.admissions.admit(peer.ip(), &doc) {
        Ok(admission) => admission,
        Err(refused) => {
            tracing::warn!(%doc, ip = %peer.ip(), "refused a connection: {refused}");
            let status = StatusCode::from_u16(refused.http_status())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return (status, format!("{refused}\n")).into_response();
        }
    };
    let wants_ext = params.ext.as_deref() == Some("1");
    // Checked now, answered after the upgrade: a browser sees a close code, not an HTTP status.
    let check = match (&app.verifier, params.token) {
        (None, _) => TokenCheck::Open,
        (Some(verifier), Some(token)) => TokenCheck::Checked(
            verifier
                .verify(&token)
                .and_then(|grant| grant.for_doc(doc.as_str())),
        ),
        (Some(verifier), None) => TokenCheck::AwaitToken(verifier.clone()),
    };
    let sockets = app.sockets.clone();
    let max_message_size = app.config.max_message_size;
    // Boxed: axum keeps the callback's captures inline in the connection's task for its whole
    // life, next to the `serve` future that has taken them over (~170 bytes per connection).
    let args = Box::new((
        SocketRequest {
            doc,
            wants_ext,
            check,
            admission,
        },
        app.socket_context.clone(),
    ));
    transport::configure(upgrade, max_message_size).on_upgrade(move |socket| {
        let (request, context) = *args;
        sockets.track_future(transport::serve(socket, request, context))
    })
}

async fn missing_doc_name() -> Response {
    (
        StatusCode::BAD_REQUEST,
        "missing document name: use /sync/{doc}\n",
    )
        .into_response()
}

fn bad_request(err: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response()
}

pub(crate) fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "server shutting down\n").into_response()
}

/// A plain-text answer: `reason` and a newline.
pub(crate) fn plain(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{reason}\n"),
    )
        .into_response()
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    rooms: usize,
    connections: usize,
}

async fn healthz(State(app): State<AppState>) -> Response {
    match app.registry.stats().await {
        Ok(stats) => Json(Health {
            status: "ok",
            rooms: stats.rooms,
            connections: stats.members,
        })
        .into_response(),
        Err(_) => unavailable(),
    }
}

/// Readiness: 200 while the server takes traffic; 503 with the reason while it is shutting
/// down, its storage writer has stopped or cannot commit, or (with `--redis`) Redis is
/// unreachable. (`/healthz` is liveness.)
async fn readyz(State(app): State<AppState>) -> Response {
    let plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    let relay = app.relay.as_ref().map(|relay| relay.is_connected());
    match readiness(app.shutdown.is_cancelled(), app.storage.health(), relay) {
        Ok(()) => (plain, "ready\n").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            plain,
            format!("{reason}\n"),
        )
            .into_response(),
    }
}

/// Prometheus text exposition format, version 0.0.4.
async fn metrics(State(app): State<AppState>) -> Response {
    let documents = app.registry.stats().await.ok().map(|stats| stats.rooms);
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        app.metrics.render(
            documents,
            app.relay.as_ref().map(|relay| relay.is_connected()),
        ),
    )
        .into_response()
}

#[derive(Serialize)]
struct DocListing {
    name: String,
    /// Length of the text in UTF-8 bytes.
    size_bytes: u64,
    /// RFC 3339, UTC.
    updated_at: String,
}

/// `?token=` on the REST endpoints (`Authorization: Bearer` is preferred).
#[derive(Deserialize)]
pub(crate) struct TokenParam {
    token: Option<String>,
}

/// The caller's grant on a server with a secret (`Ok(None)` in open mode).
fn api_grant(
    app: &AppState,
    headers: &HeaderMap,
    query: TokenParam,
) -> Result<Option<Grant>, AuthError> {
    let Some(verifier) = &app.verifier else {
        return Ok(None);
    };
    let bearer = header_str(headers, header::AUTHORIZATION).and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    });
    let token = bearer.or(query.token).unwrap_or_default();
    verifier.verify(&token).map(Some)
}

/// The document a path names, if the request may act on it with `needs` access (always, on a
/// server without a secret), and the token's user; otherwise the refusal to send: 400 for a
/// bad name, 401 without a usable token, 403 for a token that does not grant this document at
/// that level.
pub(crate) fn granted_doc(
    app: &AppState,
    headers: &HeaderMap,
    query: TokenParam,
    doc: &str,
    needs: Access,
) -> Result<(DocName, Option<Author>), Box<Response>> {
    let doc = DocName::parse(doc).map_err(|err| Box::new(bad_request(err)))?;
    let refused = |err| Box::new(auth_refused(err));
    let Some(grant) = api_grant(app, headers, query).map_err(refused)? else {
        return Ok((doc, None));
    };
    let user = grant.user.clone();
    grant
        .for_doc(doc.as_str())
        .and_then(|grant| grant.at_least(needs))
        .map_err(refused)?;
    let by = Author {
        id: user.id.clone(),
        name: Some(user.name.clone()),
        verified: true,
    };
    Ok((doc, Some(by)))
}

/// 401 (no usable token) or 403 (valid, but not for this document), in plain text.
fn auth_refused(err: AuthError) -> Response {
    if err.is_unauthorized() {
        (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, "Bearer"),
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            ],
            format!("unauthorized: {err}\n"),
        )
            .into_response()
    } else {
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("forbidden: {err}\n"),
        )
            .into_response()
    }
}

/// `?prefix=`, `?after=` and `?limit=` of `GET /api/docs` (and the token, as on every endpoint).
#[derive(Deserialize, Serialize)]
struct ListParams {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// Text, so that a bad number gets our own reason rather than the extractor's.
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<String>,
    #[serde(skip_serializing)]
    token: Option<String>,
}

/// Names per page of `GET /api/docs` unless `?limit=` says otherwise, and the most it may say.
pub const LIST_LIMIT_DEFAULT: usize = 1_000;
pub const LIST_LIMIT_MAX: usize = 10_000;

/// A page of the stored documents in byte order of their names (with a secret, only those the
/// caller's token grants): those starting with `?prefix=`, after the name `?after=` (the last
/// name of the previous page), at most `?limit=` (default 1,000). The body is the JSON array of
/// the page; when the page is full, a `Link: <…>; rel="next"` header gives the next page's
/// address (an empty last page is possible when the count divides evenly).
async fn list_docs(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    let grant = match api_grant(
        &app,
        &headers,
        TokenParam {
            token: params.token.clone(),
        },
    ) {
        Ok(grant) => grant,
        Err(err) => return auth_refused(err),
    };
    let limit = match params.limit.as_deref().map(str::parse::<usize>) {
        None => LIST_LIMIT_DEFAULT,
        Some(Ok(limit)) if (1..=LIST_LIMIT_MAX).contains(&limit) => limit,
        Some(_) => {
            return bad_request(format!(
                "limit must be a whole number from 1 to {LIST_LIMIT_MAX}"
            ))
        }
    };
    // A token's grant may hide names: read on past them until the page is full or the
    // stored names end, so a page is short only at the end.
    let mut query = ListQuery {
        prefix: params.prefix.clone(),
        after: params.after.clone(),
        limit,
    };
    let mut page = Vec::new();
    loop {
        let docs = match app.storage.list(query.clone()).await {
            Ok(docs) => docs,
            Err(err) => {
                tracing::error!(error = %err, "cannot list documents");
                return (StatusCode::INTERNAL_SERVER_ERROR, "cannot list documents\n")
                    .into_response();
            }
        };
        let exhausted = docs.len() < query.limit;
        query.after = docs.last().map(|d| d.name.clone()).or(query.after);
        page.extend(
            docs.into_iter()
                .filter(|d| grant.as_ref().is_none_or(|g| g.allows(&d.name)))
                .map(|d| DocListing {
                    name: d.name,
                    size_bytes: d.text_bytes,
                    updated_at: rfc3339_utc(d.updated_at_ms),
                }),
        );
        if exhausted || page.len() >= limit {
            break;
        }
        query.limit = limit - page.len();
    }
    page.truncate(limit);
    let mut response = Json(&page).into_response();
    if let Some(last) = page.last().filter(|_| page.len() == limit) {
        let next = ListParams {
            prefix: params.prefix,
            after: Some(last.name.clone()),
            limit: params.limit,
            token: None,
        };
        // Percent-encoded, so always a valid header value.
        let link = serde_urlencoded::to_string(&next).ok().and_then(|query| {
            HeaderValue::from_str(&format!("</api/docs?{query}>; rel=\"next\"")).ok()
        });
        if let Some(link) = link {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    response
}

async fn doc_text(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
) -> Response {
    let (doc, _) = match granted_doc(&app, &headers, query, &doc, Access::Read) {
        Ok(granted) => granted,
        Err(refused) => return *refused,
    };
    match app.registry.read_text(doc).await {
        Ok(Some(text)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "no such document\n").into_response(),
        Err(_) => unavailable(),
    }
}

/// `?purge=1` of `DELETE /api/docs/{doc}`, and the token.
#[derive(Deserialize)]
struct DeleteParams {
    purge: Option<String>,
    token: Option<String>,
}

/// `DELETE /api/docs/{doc}`: with a secret, needs a token granting the document with `admin`
/// access (401 without a usable token, 403 otherwise). Closes the document's connections
/// (4410 "document deleted"), then, after every write queued before, deletes it: the name is
/// free again, and what it held stays in the trash with its history for the retention period
/// (`POST .../undelete` brings it back); with `?purge=1` the history goes too. 204, or 404 if
/// nothing was stored.
async fn delete_doc(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(params): Query<DeleteParams>,
) -> Response {
    let purge = match params.purge.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") | Some("") => true,
        Some(_) => return plain(StatusCode::BAD_REQUEST, "purge must be 1 or 0"),
    };
    let query = TokenParam {
        token: params.token,
    };
    let (doc, by) = match granted_doc(&app, &headers, query, &doc, Access::Admin) {
        Ok(granted) => granted,
        Err(refused) => return *refused,
    };
    match app.registry.delete(doc.clone(), purge).await {
        Ok(Ok(true)) => {
            app.webhooks.notify(DocEvent {
                kind: EventKind::Delete,
                doc,
                at_ms: now_ms(),
                size_bytes: 0,
                authors: by.into_iter().collect(),
            });
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Ok(false)) => (StatusCode::NOT_FOUND, "no such document\n").into_response(),
        Ok(Err(err)) => {
            tracing::error!(%doc, error = %err, "cannot delete a document");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot delete the document\n",
            )
                .into_response()
        }
        Err(_) => unavailable(),
    }
}

/// A changing request's document, granted `write` access, the token's user, and its body
/// within the message limit; or the answer refusing it.
async fn granted_body(
    app: &AppState,
    headers: &HeaderMap,
    query: TokenParam,
    doc: &str,
    body: Body,
) -> Result<(DocName, Option<Author>, Vec<u8>), Response> {
    let (doc, by) =
        granted_doc(app, headers, query, doc, Access::Write).map_err(|refused| *refused)?;
    Ok((doc, by, read_body(app, body).await?))
}

/// `PUT /api/docs/{doc}/text` (`write`): the body, UTF-8 text, becomes the document's text
/// (created if it was never stored). 204 once durable.
async fn put_text(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
    body: Body,
) -> Response {
    let (doc, by, body) = match granted_body(&app, &headers, query, &doc, body).await {
        Ok(granted) => granted,
        Err(refused) => return refused,
    };
    let Ok(text) = String::from_utf8(body) else {
        return plain(StatusCode::BAD_REQUEST, "the body is not UTF-8 text");
    };
    changed(
        app.registry
            .server_change(
                doc,
                ServerChange {
                    edit: ServerEdit::Text(text),
                    by,
                },
            )
            .await,
    )
}

/// `GET /api/docs/{doc}/update` (`read`): the whole document as one Yjs v1 update, or 404.
async fn export_doc(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
) -> Response {
    let (doc, _) = match granted_doc(&app, &headers, query, &doc, Access::Read) {
        Ok(granted) => granted,
        Err(refused) => return *refused,
    };
    match app.registry.export(doc).await {
        Ok(Some(update)) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], update).into_response()
        }
        Ok(None) => plain(StatusCode::NOT_FOUND, "no such document"),
        Err(_) => unavailable(),
    }
}

/// `POST /api/docs/{doc}/update` (`write`): applies the body, a Yjs v1 update, through the
/// same checks as a client's (created if never stored). 204 once durable; 413 over the message
/// limit or the document size limit; 400 with the reason when it fails validation.
async fn import_doc(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
    body: Body,
) -> Response {
    let (doc, by, update) = match granted_body(&app, &headers, query, &doc, body).await {
        Ok(granted) => granted,
        Err(refused) => return refused,
    };
    if update.is_empty() {
        return plain(
            StatusCode::BAD_REQUEST,
            "the body is empty: send a Yjs v1 update",
        );
    }
    changed(
        app.registry
            .server_change(
                doc,
                ServerChange {
                    edit: ServerEdit::Update(update),
                    by,
                },
            )
            .await,
    )
}

/// The request body, at most the server's message limit (413 past it).
async fn read_body(app: &AppState, body: Body) -> Result<Vec<u8>, Response> {
    let limit = app.config.max_message_size;
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(_) => Err(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is over the server's message limit of {limit} bytes"),
        )),
    }
}

/// The answer to a server change.
fn changed(result: Result<Result<(), ChangeRefused>, RegistryStopped>) -> Response {
    match result {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(ChangeRefused::Invalid(reason))) => plain(StatusCode::BAD_REQUEST, &reason),
        Ok(Err(ChangeRefused::TooLarge(reason))) => plain(StatusCode::PAYLOAD_TOO_LARGE, &reason),
        Ok(Err(ChangeRefused::Failed(reason))) => plain(StatusCode::INTERNAL_SERVER_ERROR, &reason),
        Err(_) => unavailable(),
    }
}

/// Every path no route takes: a file from the web root (`/` is its `index.html`). Paths under
/// `/api/` and `/sync/` never reach the web root, so no file can shadow an endpoint.
async fn static_file(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") || path == "/api" || path.starts_with("/sync") {
        return not_found();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "method not allowed\n",
        )
            .into_response();
    }
    let Some(web_root) = app.web_root.clone() else {
        return if path == "/" {
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                assets::NOT_BUILT_PAGE,
            )
                .into_response()
        } else {
            not_found()
        };
    };
    let if_none_match = header_str(&headers, header::IF_NONE_MATCH);
    let if_modified_since = header_str(&headers, header::IF_MODIFIED_SINCE);
    let head_only = method == Method::HEAD;
    let url_path = path.to_owned();
    let query = uri.query().map(str::to_owned);
    // File system calls block: off the async threads.
    let found = tokio::task::spawn_blocking(move || {
        let asset = match web_root.lookup(&url_path) {
            Lookup::Found(asset) => asset,
            Lookup::AddSlash(to) => {
                let to = match query {
                    Some(q) => format!("{to}?{q}"),
                    None => to,
                };
                return Ok(Err((
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, to)],
                )
                    .into_response()));
            }
            Lookup::NotFound => return Ok(Err(not_found())),
            Lookup::BadPath => return Ok(Err(bad_request("bad path"))),
        };
        let fresh = asset.not_modified(if_none_match.as_deref(), if_modified_since.as_deref());
        let body = if fresh || head_only {
            Vec::new()
        } else {
            asset.read()?
        };
        Ok::<_, std::io::Error>(Ok((asset, fresh, body)))
    })
    .await;
    let (asset, fresh, body) = match found {
        Ok(Ok(Ok(found))) => found,
        Ok(Ok(Err(response))) => return response,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, path, "cannot read a static file");
            return not_found();
        }
        Err(err) => {
            tracing::error!(error = %err, path, "static file task failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        }
    };
    let body_len = body.len() as u64;
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let out = response.headers_mut();
    if !fresh {
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        // HEAD: the size a GET would send; GET: the size actually read.
        let len = if head_only { asset.len } else { body_len };
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        out.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        out.insert(header::ETAG, etag);
    }
    if let Some(Ok(date)) = asset.last_modified().map(HeaderValue::try_from) {
        out.insert(header::LAST_MODIFIED, date);
    }
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}
