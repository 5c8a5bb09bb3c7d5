//! The HTTP side of the port: health, the document list, a document's text, refused
//! upgrades, and CORS for the pages of allowed origins.

use crate::support::{
    self, http_get, http_get_with, http_request, http_send, stored_text, upgrade_request, Client,
    TestServer,
};

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

/// The names of a `/api/docs` answer, and its `Link` to the next page if any.
async fn list_page(server: &TestServer, path: &str) -> (Vec<String>, Option<String>) {
    let response = http_get_with(server.addr, path, &[]).await;
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    let docs: Vec<serde_json::Value> = serde_json::from_str(&response.text()).unwrap();
    let names = docs
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    (names, response.header("link").map(str::to_owned))
}

#[tokio::test]
async fn the_document_list_comes_in_pages_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    for name in ["team-b", "other", "team-a", "team", "team-c", "teamz"] {
        let mut client = Client::connect(&server.url(name)).await;
        client.push(name).await;
        client.wait_saved().await;
        client.close().await;
    }

    let (names, next) = list_page(&server, "/api/docs?prefix=team-&limit=2").await;
    assert_eq!(names, ["team-a", "team-b"]);
    let next = next.expect("a full page links to the next one");
    assert_eq!(
        next,
        "</api/docs?prefix=team-&after=team-b&limit=2>; rel=\"next\""
    );
    let path = next.trim_start_matches('<').split('>').next().unwrap();
    let (names, next) = list_page(&server, path).await;
    assert_eq!((names, next), (vec!["team-c".to_owned()], None));

    // Following the links from the start visits every name once, in byte order.
    let mut path = "/api/docs?limit=4".to_owned();
    let mut all = Vec::new();
    loop {
        let (names, next) = list_page(&server, &path).await;
        all.extend(names);
        let Some(next) = next else { break };
        path = next
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned();
    }
    assert_eq!(
        all,
        ["other", "team", "team-a", "team-b", "team-c", "teamz"]
    );
    // Without a limit, the default of 1,000 names holds all of them and no link is sent.
    let (names, next) = list_page(&server, "/api/docs").await;
    assert_eq!((names.len(), next), (6, None));

    for bad in ["0", "10001", "-1", "many", ""] {
        let (status, body) = http_get(server.addr, &format!("/api/docs?limit={bad}")).await;
        assert_eq!(status, 400, "limit={bad}");
        assert!(body.contains("limit must be a whole number"), "{body}");
    }
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

/// The REST API answers scripts of the origins the WebSocket accepts (CORS), and only them.
#[tokio::test]
async fn allowed_origins_may_call_the_api_from_a_page_and_others_may_not() {
    let dir = tempfile::tempdir().unwrap();
    // Open mode: pages served from this machine may connect, so may they call the API.
    let server = TestServer::start(dir.path()).await;
    let page = "Origin: http://localhost:5173";
    let preflight = http_send(
        server.addr,
        "OPTIONS",
        "/api/docs/notes/restore",
        &[
            page,
            "Access-Control-Request-Method: POST",
            "Access-Control-Request-Headers: authorization, content-type",
        ],
        b"",
    )
    .await;
    assert_eq!(preflight.status, 204, "{}", preflight.text());
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(preflight
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let list = http_get_with(server.addr, "/api/docs", &[page]).await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(list.header("access-control-expose-headers"), Some("link"));
    // Another site's page gets no CORS headers: the browser keeps the answer from its script.
    let elsewhere = "Origin: https://elsewhere.example";
    let refused = http_send(server.addr, "OPTIONS", "/api/docs", &[elsewhere], b"").await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let list = http_get_with(server.addr, "/api/docs", &[elsewhere]).await;
    assert_eq!(list.header("access-control-allow-origin"), None);
    server.stop().await;

    // With a secret, only the origins named by --allow-origin.
    let server = TestServer::start_with(dir.path(), |config| {
        config.auth_secret = Some(support::secret());
        config.allowed_origins = vec!["https://app.example".into()];
    })
    .await;
    let listed = http_get_with(server.addr, "/api/docs", &["Origin: https://app.example"]).await;
    assert_eq!(listed.status, 401, "the token is still needed");
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let local = http_send(server.addr, "OPTIONS", "/api/docs", &[page], b"").await;
    assert_eq!(local.status, 403);
    server.stop().await;
}
