//! The history endpoints: `GET`/`POST /api/docs/{doc}/versions`, `GET
//! /api/docs/{doc}/versions/{id}/text`, `POST /api/docs/{doc}/restore`, `GET
//! /api/docs/{doc}/changes?since=` and `POST /api/docs/{doc}/undelete`. Reads need `read`,
//! naming and restoring `write`, undelete `admin` (as delete does).
//!
//! A restore is an edit, not a rewind: the version's text becomes the document's text by the
//! minimal edit, through the room's apply pipeline like `PUT .../text` (so it merges with
//! typing and live clients see it), and then the state it made is saved as a version of kind
//! `restore`. An undelete imports what the trash kept, the same way.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{changed, granted_body, granted_doc, plain, unavailable, AppState, TokenParam};
use crate::auth::Access;
use crate::room::{text_of_state, HistoryRefusal, ServerChange, ServerEdit};
use crate::storage::history::CHANGES_LIMIT;
use crate::storage::writer::now_ms;
use crate::storage::{Author, Change, StorageError, VersionInfo, VersionKind};
use crate::timestamp::{parse_rfc3339, rfc3339_utc};
use crate::webhook::{DocEvent, EventKind};
use collab_core::doc_name::DocName;
use collab_core::engine::merge_stored;

/// Longest label a named version may have, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// A version as the API shows it.
#[derive(Serialize)]
struct VersionJson<'a> {
    id: &'a str,
    created_at: String,
    label: Option<&'a str>,
    kind: VersionKind,
    size_bytes: u64,
    authors: &'a [Author],
    restored_from: Option<&'a str>,
}

fn version_json(info: &VersionInfo) -> VersionJson<'_> {
    VersionJson {
        id: &info.id,
        created_at: rfc3339_utc(info.created_at_ms),
        label: info.label.as_deref(),
        kind: info.kind,
        size_bytes: info.text_bytes,
        authors: &info.authors,
        restored_from: info.restored_from.as_deref(),
    }
}

/// A line of the audit trail as the API shows it.
#[derive(Serialize)]
struct ChangeJson<'a> {
    author: &'a Author,
    first_at: String,
    last_at: String,
    updates: u64,
    inserted: u64,
    deleted: u64,
}

fn storage_failed(err: StorageError) -> Response {
    tracing::error!(error = %err, "cannot read a document's history");
    match err {
        StorageError::WriterStopped => unavailable(),
        _ => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot read the document's history",
        ),
    }
}

/// `GET /api/docs/{doc}/versions` (`read`): every version kept, newest first.
pub(super) async fn list_versions(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
) -> Response {
    let (doc, _) = match granted_doc(&app, &headers, query, &doc, Access::Read) {
        Ok(granted) => granted,
        Err(refused) => return *refused,
    };
    match app.storage.versions(doc).await {
        Ok(versions) => {
            let list: Vec<VersionJson<'_>> = versions.iter().rev().map(version_json).collect();
            Json(list).into_response()
        }
        Err(err) => storage_failed(err),
    }
}

/// `GET /api/docs/{doc}/versions/{id}/text` (`read`): the version's text, or 404.
pub(super) async fn version_text(
    State(app): State<AppState>,
    Path((doc, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
) -> Response {
    let (doc, _) = match granted_doc(&app, &headers, query, &doc, Access::Read) {
        Ok(granted) => granted,
        Err(refused) => return *refused,
    };
    match text_of_version(&app, doc, id).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        Err(refused) => refused,
    }
}

/// The text of version `id`, or the answer to send instead (404 for an unknown version).
async fn text_of_version(app: &AppState, doc: DocName, id: String) -> Result<String, Response> {
    let state = match app.storage.version_state(doc, id).await {
        Ok(Some((_, state))) => state,
        Ok(None) => return Err(plain(StatusCode::NOT_FOUND, "no such version")),
        Err(err) => return Err(storage_failed(err)),
    };
    // Decoding a large state is CPU work: off the async threads.
    let decoded = tokio::task::spawn_blocking(move || text_of_state(&state))
        .await
        .unwrap_or_else(|join| Err(join.to_string()));
    decoded.map_err(|reason| {
        tracing::error!(%reason, "a saved version does not decode");
        plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the version is stored but does not decode",
        )
    })
}

/// The body of `POST .../versions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    label: String,
}

/// The body of `POST .../restore`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    version: String,
}

/// A changing request's document (granted `write`), the token's user, and its body as JSON
/// of type `T`; or the answer refusing it (a 400 says what is wrong with the body).
async fn granted_json<T: serde::de::DeserializeOwned>(
    app: &AppState,
    headers: &HeaderMap,
    query: TokenParam,
    doc: &str,
    body: Body,
    expected: &str,
) -> Result<(DocName, Option<Author>, T), Response> {
    let (doc, by, body) = granted_body(app, headers, query, doc, body).await?;
    let parsed = serde_json::from_slice(&body).map_err(|err| {
        plain(
            StatusCode::BAD_REQUEST,
            &format!("the body must be JSON {expected}: {err}"),
        )
    })?;
    Ok((doc, by, parsed))
}

/// `POST /api/docs/{doc}/versions` `{"label"}` (`write`): saves the current state as a named
/// version; 201 with it once durable, 404 if the document is not stored.
pub(super) async fn name_version(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
    body: Body,
) -> Response {
    let expected = r#"{"label": "..."}"#;
    let (doc, _, NameBody { label }) =
        match granted_json(&app, &headers, query, &doc, body, expected).await {
            Ok(granted) => granted,
            Err(refused) => return refused,
        };
    let label = label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return plain(
            StatusCode::BAD_REQUEST,
            &format!("the label must have 1 to {MAX_LABEL_CHARS} characters"),
        );
    }
    let saved = app
        .registry
        .save_version(doc, VersionKind::Named, Some(label.to_owned()), None)
        .await;
    match saved {
        Ok(Ok(info)) => (StatusCode::CREATED, Json(version_json(&info))).into_response(),
        Ok(Err(refusal)) => refused_version(refusal),
        Err(_) => unavailable(),
    }
}

fn refused_version(refusal: HistoryRefusal) -> Response {
    match refusal {
        HistoryRefusal::NoSuchDocument => plain(StatusCode::NOT_FOUND, "no such document"),
        HistoryRefusal::Failed(reason) => plain(StatusCode::INTERNAL_SERVER_ERROR, &reason),
    }
}

/// `POST /api/docs/{doc}/restore` `{"version"}` (`write`): makes the version's text the
/// document's text, as an edit by the caller, then saves the result as a `restore` version.
/// The room first saves edits no version holds yet as an `auto` version, so a restore is
/// undone by restoring the version before it. 200 with that version once
/// durable; 404 for an unknown version.
pub(super) async fn restore(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
    body: Body,
) -> Response {
    let expected = r#"{"version": "<id>"}"#;
    let (doc, by, RestoreBody { version }) =
        match granted_json(&app, &headers, query, &doc, body, expected).await {
            Ok(granted) => granted,
            Err(refused) => return refused,
        };
    let text = match text_of_version(&app, doc.clone(), version.clone()).await {
        Ok(text) => text,
        Err(refused) => return refused,
    };
    let change = ServerChange {
        edit: ServerEdit::Text(text),
        by: by.clone(),
    };
    let applied = changed(app.registry.server_change(doc.clone(), change).await);
    if applied.status() != StatusCode::NO_CONTENT {
        return applied;
    }
    match app
        .registry
        .save_version(doc.clone(), VersionKind::Restore, None, Some(version))
        .await
    {
        Ok(Ok(info)) => {
            app.webhooks.notify(DocEvent {
                kind: EventKind::Restore,
                doc,
                at_ms: info.created_at_ms,
                size_bytes: info.text_bytes,
                authors: by.into_iter().collect(),
            });
            Json(version_json(&info)).into_response()
        }
        Ok(Err(refusal)) => refused_version(refusal),
        Err(_) => unavailable(),
    }
}

/// `?since=` of the audit trail, and the token.
#[derive(Deserialize)]
pub(super) struct ChangesParams {
    since: Option<String>,
    token: Option<String>,
}

/// `GET /api/docs/{doc}/changes?since=RFC3339` (`read`): who changed the document, when, and
/// how many characters they inserted and deleted, oldest first (at most 10,000 lines). Each
/// line is one stored update, or after compaction one author's updates within one minute.
pub(super) async fn changes(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(params): Query<ChangesParams>,
) -> Response {
    let query = TokenParam {
        token: params.token,
    };
    let (doc, _) = match granted_doc(&app, &headers, query, &doc, Access::Read) {
        Ok(granted) => granted,
        Err(refused) => return *refused,
    };
    let since_ms = match params.since.as_deref().map(parse_rfc3339) {
        None => i64::MIN,
        Some(Some(ms)) => ms,
        Some(None) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "since must be an RFC 3339 time, such as 2026-12-03T14:00:00Z",
            )
        }
    };
    match app.storage.changes(doc, since_ms, CHANGES_LIMIT).await {
        Ok(changes) => {
            let list: Vec<ChangeJson<'_>> = changes.iter().map(change_json).collect();
            Json(list).into_response()
        }
        Err(err) => storage_failed(err),
    }
}

fn change_json(change: &Change) -> ChangeJson<'_> {
    ChangeJson {
        author: &change.author,
        first_at: rfc3339_utc(change.first_at_ms),
        last_at: rfc3339_utc(change.last_at_ms),
        updates: change.updates,
        inserted: change.inserted,
        deleted: change.deleted,
    }
}

/// `POST /api/docs/{doc}/undelete` (`admin`): brings back the document as its last deletion
/// left it (kept for the retention period), through the apply pipeline. 204 once durable;
/// 404 if the trash holds nothing for it; 409 if a document of that name exists again.
pub(super) async fn undelete(
    State(app): State<AppState>,
    Path(doc): Path<String>,
    headers: HeaderMap,
    Query(query): Query<TokenParam>,
) -> Response {
    let (doc, by) = match granted_doc(&app, &headers, query, &doc, Access::Admin) {
        Ok(granted) => granted,
        Err(refused) => return *refused,
    };
    let (deleted_at, parts) = match app.storage.trashed(doc.clone()).await {
        Ok(Some(found)) => found,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "no deleted document of that name"),
        Err(err) => return storage_failed(err),
    };
    match app.registry.read_text(doc.clone()).await {
        Ok(None) => {}
        Ok(Some(_)) => return plain(
            StatusCode::CONFLICT,
            "a document of that name exists again: delete it first, or restore a version into it",
        ),
        Err(_) => return unavailable(),
    }
    let merged = tokio::task::spawn_blocking(move || {
        let pieces: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        merge_stored(&pieces, |_, reason| {
            tracing::warn!(%reason, "a deleted document's row does not decode");
        })
    })
    .await
    .unwrap_or_else(|join| Err(join.to_string()));
    let merged = match merged {
        Ok(merged) => merged.snapshot,
        Err(reason) => {
            tracing::error!(%doc, %reason, "the trash holds a document that does not merge");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the deleted document is stored but does not decode",
            );
        }
    };
    let change = ServerChange {
        edit: ServerEdit::Update(merged),
        by: by.clone(),
    };
    let applied = changed(app.registry.server_change(doc.clone(), change).await);
    if applied.status() != StatusCode::NO_CONTENT {
        return applied;
    }
    if let Err(err) = app.storage.forget_trashed(doc.clone(), deleted_at).await {
        // The document is back; the trash keeps a copy until retention drops it.
        tracing::warn!(%doc, error = %err, "cannot empty the trash after an undelete");
    }
    app.webhooks.notify(DocEvent {
        kind: EventKind::Undelete,
        doc,
        at_ms: now_ms(),
        size_bytes: 0,
        authors: by.into_iter().collect(),
    });
    applied
}
