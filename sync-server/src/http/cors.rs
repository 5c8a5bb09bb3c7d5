//! CORS for the REST API: scripts on a page of an origin the WebSocket endpoint accepts
//! (`--allow-origin`; in open mode, pages served from this machine) may call `/api/…` with the
//! same tokens, sent in the `Authorization` header. No cookies are involved, so no
//! credentials mode; other origins get no CORS headers and the browser keeps their scripts
//! out, as it does for the WebSocket.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{header_str, plain, AppState};

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// The middleware: answers preflights for `/api/` and marks allowed origins' answers.
pub(super) async fn cors(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let headers = request.headers();
    let allowed = header_str(headers, header::ORIGIN)
        .filter(|origin| {
            app.origins
                .allows(Some(origin), header_str(headers, header::HOST).as_deref())
        })
        .and_then(|origin| HeaderValue::from_str(&origin).ok());
    if request.method() == Method::OPTIONS {
        let Some(origin) = allowed else {
            return plain(
                StatusCode::FORBIDDEN,
                "origin not allowed: this page may not call this server's API (see --allow-origin)",
            );
        };
        return (
            StatusCode::NO_CONTENT,
            [
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin),
                (
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, PUT, POST, DELETE"),
                ),
                (
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("authorization, content-type"),
                ),
                (
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
                ),
                (header::VARY, HeaderValue::from_static("origin")),
            ],
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    if let Some(origin) = allowed {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // The document list's next page is in `Link`.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("link"),
        );
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}
