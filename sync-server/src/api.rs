//! The REST endpoints that change a document or move it whole: `PUT /api/docs/{doc}/text`
//! (the text replaced by the minimal edit, which merges with live typing), `GET` and `POST
//! /api/docs/{doc}/update` (export and import as one Yjs v1 update). Every change goes through
//! the document's room (`room::server_edit`): the same validator and apply pipeline as a
//! member's update, broadcast at once, and answered only once durable. Tokens and document
//! names are checked as on the other endpoints (`http::granted_doc`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::Access;
use crate::http::{granted_doc, plain, unavailable, AppState, TokenParam};
use crate::room::{ChangeRefused, ServerChange};

/// `PUT /api/docs/{doc}/text` (`write`): the body, UTF-8 text, becomes the document's text
/// (created if it was never stored). 204 once durable.
pub(crate) async fn put_text(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
    body: Body,
) -> Response {
    let doc = match granted_doc(&app, &headers, query, &doc, Access::Write) {
        Ok(doc) => doc,
        Err(refused) => return *refused,
    };
    let body = match read_body(&app, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let Ok(text) = String::from_utf8(body) else {
        return plain(StatusCode::BAD_REQUEST, "the body is not UTF-8 text");
    };
    changed(
        app.registry
            .server_change(doc, ServerChange::Text(text))
            .await,
    )
}

/// `GET /api/docs/{doc}/update` (`read`): the whole document as one Yjs v1 update, or 404.
pub(crate) async fn export(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
) -> Response {
    let doc = match granted_doc(&app, &headers, query, &doc, Access::Read) {
        Ok(doc) => doc,
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
pub(crate) async fn import(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
    body: Body,
) -> Response {
    let doc = match granted_doc(&app, &headers, query, &doc, Access::Write) {
        Ok(doc) => doc,
        Err(refused) => return *refused,
    };
    let update = match read_body(&app, body).await {
        Ok(body) => body,
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
            .server_change(doc, ServerChange::Update(update))
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
fn changed(
    result: Result<Result<(), ChangeRefused>, crate::registry::RegistryStopped>,
) -> Response {
    match result {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(ChangeRefused::Invalid(reason))) => plain(StatusCode::BAD_REQUEST, &reason),
        Ok(Err(ChangeRefused::TooLarge(reason))) => plain(StatusCode::PAYLOAD_TOO_LARGE, &reason),
        Ok(Err(ChangeRefused::Failed(reason))) => plain(StatusCode::INTERNAL_SERVER_ERROR, &reason),
        Err(_) => unavailable(),
    }
}
