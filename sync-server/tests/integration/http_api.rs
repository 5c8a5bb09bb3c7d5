//! The HTTP side of the port: health, the document list, a document's text, and refused
//! upgrades.

use crate::support::{http_get, http_request, stored_text, upgrade_request, Client, TestServer};

#[tokio::test]
async fn health_list_and_text_report_what_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (status, body) = http_get(server.addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"],
        "ok"
    );
    let (status, body) = http_get(server.addr, "/api/docs").await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    assert_eq!(stored_text(server.addr, "never-written").await, None);

    let mut a = Client::connect(&server.url("listed")).await;
    a.push("héllo").await;
    a.wait_saved().await;
    let (status, body) = http_get(server.addr, "/api/docs").await;
    assert_eq!(status, 200);
    let docs: serde_json::Value = serde_json::from_str(&body).unwrap();
    let docs = docs.as_array().unwrap();
    assert_eq!(docs.len(), 1, "{body}");
    assert_eq!(docs[0]["name"], "listed");
    assert_eq!(docs[0]["size_bytes"], "héllo".len());
    let updated_at = docs[0]["updated_at"].as_str().unwrap();
    assert!(
        updated_at.ends_with('Z') && updated_at.len() == 24,
        "{updated_at}"
    );
    assert_eq!(
        stored_text(server.addr, "listed").await.as_deref(),
        Some("héllo")
    );
    server.stop().await;
}

#[tokio::test]
async fn invalid_document_names_are_refused_before_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let too_long = format!("/sync/{}", "x".repeat(129));
    for path in [
        "/sync/..%2F..%2Fetc%2Fpasswd",
        "/sync/a/b",
        "/sync/a%20b",
        "/sync/%00",
        "/sync/",
        "/sync/..",
        too_long.as_str(),
    ] {
        let (status, body) = http_request(server.addr, &upgrade_request(server.addr, path)).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    let (status, _) = http_get(server.addr, "/api/docs/..%2Fx/text").await;
    assert_eq!(status, 400);
    // The longest valid name is accepted.
    let longest = "y".repeat(128);
    let client = Client::connect(&server.url(&longest)).await;
    assert!(client.synced);
    server.stop().await;
}
