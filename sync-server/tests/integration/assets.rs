//! Static files from `--web-root`: MIME types, revalidation headers and 304s, containment
//! (no path leaves the root), `/` as index.html, and the API routes taking precedence.

use std::path::{Path, PathBuf};

use sync_server::{Config, Server, ServerError};

use crate::support::{http_exchange, http_get, http_get_with, Client, TestServer};

const WASM: &[u8] = b"\0asm\x01\0\0\0\x00\xff\x80binary";

/// A web root like the one `scripts/build-widget.sh` assembles, inside `dir`, plus a
/// secret file next to it (outside the root) that no request may read.
fn web_root(dir: &Path) -> PathBuf {
    let root = dir.join("web");
    let files: &[(&str, &[u8])] = &[
        ("index.html", b"<!doctype html><title>demo</title>"),
        ("demo.css", b"body { color: red }"),
        ("demo.js", b"console.log('demo')"),
        ("collab-textarea/index.js", b"export {}"),
        ("collab-textarea/index.d.ts", b"export {};"),
        (
            "collab-textarea/wasm/collab_textarea_widget.js",
            b"export default 1",
        ),
        ("collab-textarea/wasm/collab_textarea_widget_bg.wasm", WASM),
        ("collab-textarea/wasm/module.mjs", b"export {}"),
        ("collab-textarea/wasm/index.js.map", b"{}"),
        ("collab-textarea/package.json", b"{\"name\":\"x\"}"),
        ("icon.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
        ("logo.png", b"\x89PNG\r\n\x1a\n"),
        ("sub/index.html", b"sub index"),
        ("file with space.txt", b"spaced"),
        (".hidden", b"hidden"),
        // Files that would shadow endpoints if the fallback came first.
        ("healthz", b"file, not health"),
        ("api/docs", b"file, not docs"),
        ("api/other", b"file, not api"),
        ("sync/notes", b"file, not sync"),
    ];
    for (name, bytes) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::write(dir.join("secret.txt"), b"TOP SECRET").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("link-out.txt")).unwrap();
    root
}

async fn start(dir: &Path) -> TestServer {
    let root = web_root(dir);
    TestServer::start_with(dir, |c| c.web_root = Some(root)).await
}

#[tokio::test]
async fn files_are_served_with_their_mime_types_and_revalidation_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/demo.css", "text/css"),
        ("/demo.js", "text/javascript"),
        ("/collab-textarea/index.js", "text/javascript"),
        ("/collab-textarea/wasm/module.mjs", "text/javascript"),
        ("/collab-textarea/index.d.ts", "text/plain; charset=utf-8"),
        (
            "/collab-textarea/wasm/index.js.map",
            "text/plain; charset=utf-8",
        ),
        (
            "/collab-textarea/wasm/collab_textarea_widget_bg.wasm",
            "application/wasm",
        ),
        ("/collab-textarea/package.json", "application/json"),
        ("/icon.svg", "image/svg+xml"),
        ("/logo.png", "image/png"),
        ("/sub/", "text/html; charset=utf-8"),
        ("/file%20with%20space.txt", "text/plain; charset=utf-8"),
    ] {
        let response = http_get_with(server.addr, path, &[]).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
        assert_eq!(response.header("cache-control"), Some("no-cache"), "{path}");
        assert!(response.header("etag").is_some(), "{path}: no ETag");
        assert!(
            response.header("last-modified").is_some(),
            "{path}: no Last-Modified"
        );
    }
    let index = http_get_with(server.addr, "/", &[]).await;
    assert_eq!(index.text(), "<!doctype html><title>demo</title>");
    let wasm = http_get_with(
        server.addr,
        "/collab-textarea/wasm/collab_textarea_widget_bg.wasm?v=1",
        &[],
    )
    .await;
    assert_eq!(wasm.body, WASM, "binary files arrive byte for byte");
    assert_eq!(
        wasm.header("content-length"),
        Some(WASM.len().to_string().as_str())
    );

    // HEAD: the same headers, no body.
    let head = http_exchange(
        server.addr,
        &format!(
            "HEAD /demo.js HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/javascript"));
    assert_eq!(head.header("content-length"), Some("19"));

    // Only GET and HEAD.
    let post = http_exchange(
        server.addr,
        &format!(
            "POST /demo.js HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            server.addr
        ),
    )
    .await;
    assert_eq!(post.status, 405);
    server.stop().await;
}

#[tokio::test]
async fn revalidation_answers_304_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let path = "/collab-textarea/wasm/collab_textarea_widget_bg.wasm";
    let first = http_get_with(server.addr, path, &[]).await;
    let etag = first.header("etag").unwrap().to_owned();
    let last_modified = first.header("last-modified").unwrap().to_owned();

    let by_etag = http_get_with(server.addr, path, &[&format!("If-None-Match: {etag}")]).await;
    assert_eq!(by_etag.status, 304);
    assert!(by_etag.body.is_empty());
    assert_eq!(by_etag.header("etag"), Some(etag.as_str()));
    assert_eq!(by_etag.header("cache-control"), Some("no-cache"));

    let weak = http_get_with(
        server.addr,
        path,
        &[&format!("If-None-Match: \"other\", W/{etag}")],
    )
    .await;
    assert_eq!(weak.status, 304, "weak comparison, lists");

    let by_date = http_get_with(
        server.addr,
        path,
        &[&format!("If-Modified-Since: {last_modified}")],
    )
    .await;
    assert_eq!(by_date.status, 304);

    let old_date = http_get_with(
        server.addr,
        path,
        &["If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"],
    )
    .await;
    assert_eq!(old_date.status, 200);
    assert_eq!(old_date.body, WASM);

    // A rebuilt file has a new ETag: the old one no longer matches.
    let file = dir
        .path()
        .join("web/collab-textarea/wasm/collab_textarea_widget_bg.wasm");
    std::fs::write(&file, b"\0asm rebuilt, longer than before").unwrap();
    let changed = http_get_with(server.addr, path, &[&format!("If-None-Match: {etag}")]).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, b"\0asm rebuilt, longer than before");
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    server.stop().await;
}

#[tokio::test]
async fn no_path_reads_outside_the_web_root() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    for path in [
        "/../secret.txt",
        "/collab-textarea/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/collab-textarea/..%2F..%2Fsecret.txt",
        "/..%5csecret.txt",
        "/.%2e/secret.txt",
        "//secret.txt",
        "/%00",
        "/index.html%00.js",
        "/%zz",
        "/.hidden",
        "/link-out.txt",
        "/secret.txt",
        "/nope.js",
    ] {
        let response = http_get_with(server.addr, path, &[]).await;
        assert!(
            response.status == 404 || response.status == 400,
            "{path}: {} {}",
            response.status,
            response.text()
        );
        assert!(!response.text().contains("SECRET"), "{path}");
    }
    // An absolute URI in the request line names the same path, and is held to it.
    let absolute = http_exchange(
        server.addr,
        &format!(
            "GET http://{0}/../secret.txt HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
            server.addr
        ),
    )
    .await;
    assert!(!absolute.text().contains("SECRET"));
    // A directory without its slash redirects to it, keeping the query.
    let redirect = http_get_with(server.addr, "/sub?doc=x", &[]).await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/sub/?doc=x"));
    server.stop().await;
}

#[tokio::test]
async fn api_routes_win_over_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (status, body) = http_get(server.addr, "/healthz").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (status, body) = http_get(server.addr, "/api/docs").await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    for path in ["/api/other", "/api/docs/none/text", "/api"] {
        let (status, body) = http_get(server.addr, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("file, not"), "{path}: {body}");
    }
    let (status, body) = http_get(server.addr, "/sync/notes").await;
    assert_ne!(status, 200, "{body}");
    assert!(!body.contains("file, not"), "{body}");
    // And the WebSocket endpoint still syncs.
    let mut client = Client::connect(&server.url("notes")).await;
    client.push("hi").await;
    client.wait_saved().await;
    server.stop().await;
}

#[tokio::test]
async fn without_a_web_root_the_front_page_says_how_to_build_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let front = http_get_with(server.addr, "/", &[]).await;
    assert_eq!(front.status, 200);
    assert_eq!(
        front.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        front.text().contains("./scripts/demo.sh"),
        "{}",
        front.text()
    );
    let (status, _) = http_get(server.addr, "/collab-textarea/index.js").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_missing_web_root_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().join("collab.sqlite3"),
        web_root: Some(dir.path().join("not-built")),
        ..Config::default()
    };
    match Server::bind(config).await {
        Err(ServerError::WebRoot { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a server started with a missing web root"),
    }
}
