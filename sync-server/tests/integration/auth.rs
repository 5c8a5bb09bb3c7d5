//! Tokens, read-only access, identity from tokens, and the origin allowlist, on a server
//! started with an auth secret; tokens signed by a public key or a JWK set's keys, on the
//! binary started with `--auth-public-key` or `--auth-jwks-file`.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sync_server::auth::{self, Access, Audience, Secret};
use sync_server::protocol::message::encode_auth_token;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey};

use crate::support::{
    claims, http_get, http_get_with, http_request, secret, token, within, Client, ServerProcess,
    TestServer, SECRET,
};

async fn start(dir: &std::path::Path) -> TestServer {
    TestServer::start_with(dir, |c| {
        c.auth_secret = Some(secret());
        c.auth_timeout = Duration::from_millis(300);
    })
    .await
}

fn with_token(server: &TestServer, doc: &str, token: &str) -> String {
    format!("{}?token={token}", server.url(doc))
}

/// `token` with its header replaced by `header` (signature left as it was).
fn with_header(token: &str, header: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header))
}

/// A server holding "notes" = "secret text", written by an authorised writer.
async fn server_with_notes(dir: &std::path::Path) -> TestServer {
    let server = start(dir).await;
    let mut writer = Client::connect(&with_token(
        &server,
        "notes",
        &token("w", &["notes"], Access::Write),
    ))
    .await;
    writer.push("secret text").await;
    writer.wait_saved().await;
    writer.close().await;
    server
}

/// Connects with `url`, and expects a permission-denied message, then `code`, and no content.
async fn expect_refused(url: &str, first: Option<Vec<u8>>, code: u16, case: &str) {
    let mut client = Client::connect_raw(url).await;
    if let Some(first) = first {
        client.send_bytes(first).await;
    }
    assert_eq!(client.expect_close().await, code, "close code for {case}");
    assert_eq!(
        client.denied.len(),
        1,
        "one permission-denied message for {case}"
    );
    assert_eq!(client.text(), "", "no content leaked for {case}");
    assert!(client.presence.is_empty(), "no presence leaked for {case}");
    assert_eq!(client.updates_received, 0, "no updates for {case}");
}

#[tokio::test]
async fn bad_tokens_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_notes(dir.path()).await;
    let good = token("u", &["notes"], Access::Write);
    let mut expired = claims("u", &["notes"], Access::Write);
    expired.exp = auth::unix_now() - 3600;
    let mut foreign = claims("u", &["notes"], Access::Write);
    foreign.aud = Audience::One("another-app".into());
    let wrong_key = Secret::new(vec![b'k'; 32]).unwrap();
    let forged_none = {
        let t = with_header(&good, r#"{"alg":"none","typ":"JWT"}"#);
        format!("{}.", t.rsplit_once('.').unwrap().0)
    };
    let cases: Vec<(&str, String, u16)> = vec![
        ("expired", auth::mint(&secret(), &expired), 4401),
        (
            "wrong signature",
            auth::mint(&wrong_key, &claims("u", &["notes"], Access::Write)),
            4401,
        ),
        ("alg none", forged_none, 4401),
        (
            "RS256 header",
            with_header(&good, r#"{"alg":"RS256","typ":"JWT"}"#),
            4401,
        ),
        ("wrong audience", auth::mint(&secret(), &foreign), 4401),
        ("garbage", "not-a-token".into(), 4401),
        (
            "another document",
            token("u", &["other"], Access::Write),
            4402,
        ),
    ];
    for (case, token, code) in cases {
        expect_refused(&with_token(&server, "notes", &token), None, code, case).await;
    }
    // No token at all: the first message is a SyncStep1, not the token message.
    let sync_step1 = {
        use yrs::sync::{Message, SyncMessage};
        use yrs::updates::encoder::Encode;
        Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1()
    };
    expect_refused(&server.url("notes"), Some(sync_step1), 4401, "no token").await;
    // No token within the auth timeout.
    expect_refused(&server.url("notes"), None, 4401, "silence").await;
    // A bad token as the first message.
    let bad = encode_auth_token(&with_header(&good, r#"{"alg":"none"}"#)).to_vec();
    expect_refused(&server.url("notes"), Some(bad), 4401, "bad token message").await;
    // The good one works.
    let reader = Client::connect(&with_token(&server, "notes", &good)).await;
    assert_eq!(reader.text(), "secret text");
    server.stop().await;
}

#[tokio::test]
async fn prefix_grants_and_the_token_message_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_notes(dir.path()).await;
    let team = token("t", &["team-a-*"], Access::Write);
    let mut plans = Client::connect(&with_token(&server, "team-a-plans", &team)).await;
    plans.push("plan").await;
    plans.wait_saved().await;
    expect_refused(&with_token(&server, "team-b", &team), None, 4402, "team-b").await;
    expect_refused(&with_token(&server, "team-a", &team), None, 4402, "team-a").await;

    // The token as the first message, followed by the handshake.
    let notes = token("m", &["notes"], Access::Read);
    let mut client = Client::connect_raw(&format!("{}?ext=1", server.url("notes"))).await;
    client.send_bytes(encode_auth_token(&notes).to_vec()).await;
    client.start_sync().await;
    within(
        "sync after the token message",
        client.pump_until(|c| c.synced),
    )
    .await;
    assert_eq!(client.text(), "secret text");
    assert!(client.denied.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn read_only_connections_receive_everything_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let write = token("w", &["notes"], Access::Write);
    let mut writer = Client::connect(&with_token(&server, "notes", &write)).await;
    writer.push("hello there").await;
    writer.delete(5, 6).await; // a delete set, which a reader's SyncStep2 repeats
    writer.wait_saved().await;

    let read = token("r", &["notes"], Access::Read);
    let mut reader = Client::connect(&with_token(&server, "notes", &read)).await;
    assert_eq!(reader.text(), "hello");
    // Its SyncStep2 changes nothing: accepted and acknowledged, not refused.
    reader.wait_saved().await;
    assert!(reader.denied.is_empty(), "{:?}", reader.denied);

    reader.push(" evil").await;
    within("the refusal", reader.pump_until(|c| !c.denied.is_empty())).await;
    assert!(
        reader.denied[0].contains("read-only"),
        "{:?}",
        reader.denied
    );

    // Still connected, still receiving.
    writer.push(" world").await;
    writer.wait_saved().await;
    reader
        .wait_text("the writer's edit", |t| t.contains("world"))
        .await;

    let fresh = Client::connect(&with_token(&server, "notes", &write)).await;
    assert_eq!(fresh.text(), "hello world");
    assert_eq!(writer.text(), "hello world");
    server.stop().await;
}

#[tokio::test]
async fn presence_shows_the_token_identity_not_the_claimed_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let mut observer = Client::connect(&with_token(
        &server,
        "notes",
        &token("obs", &["notes"], Access::Read),
    ))
    .await;
    let mut ada = claims("ada", &["notes"], Access::Read);
    ada.name = Some("Ada".into());
    ada.color = Some("#ff0000".into());
    let mut mallory =
        Client::connect(&with_token(&server, "notes", &auth::mint(&secret(), &ada))).await;
    mallory
        .set_presence(
            1,
            r##"{"user":{"name":"Mallory","color":"#000000","colorLight":"#00000033"},"cursor":null}"##,
        )
        .await;
    let mallory_id = mallory.doc.client_id().get();
    within(
        "the presence",
        observer.pump_until(|c| c.presence.contains_key(&mallory_id)),
    )
    .await;
    let state: serde_json::Value =
        serde_json::from_str(observer.presence[&mallory_id].as_ref().unwrap()).unwrap();
    assert_eq!(state["user"]["name"], "Ada");
    assert_eq!(state["user"]["color"], "#ff0000");
    assert_eq!(state["user"]["colorLight"], "#ff000033");
    assert!(state["cursor"].is_null());
    server.stop().await;
}

/// A document under client id `client` holding `state`, plus `text` appended (new items).
fn continue_as(client: u64, state: &[u8], text: &str) -> Doc {
    let doc = Doc::with_client_id(client);
    let shared = doc.get_or_insert_text("content");
    let mut txn = doc.transact_mut();
    txn.apply_update(Update::decode_v1(state).unwrap()).unwrap();
    let len = shared.len(&txn);
    shared.insert(&mut txn, len, text);
    drop(txn);
    doc
}

#[tokio::test]
async fn client_ids_belong_to_the_token_subject() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let ada = token("ada", &["notes"], Access::Write);
    let mut first = Client::connect_with_doc(
        &with_token(&server, "notes", &ada),
        Doc::with_client_id(4242),
    )
    .await;
    first.push("one").await;
    first.wait_saved().await;
    let state = first
        .doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());

    // Another user writing new items under Ada's client id: clock squatting, refused.
    let eve = token("eve", &["notes"], Access::Write);
    let mut squatter =
        Client::connect_raw(&format!("{}&ext=1", with_token(&server, "notes", &eve))).await;
    let update = {
        let doc = continue_as(4242, &state, " squat");
        let update = doc
            .transact()
            .encode_state_as_update_v1(&first.state_vector());
        update
    };
    {
        use yrs::sync::{Message, SyncMessage};
        squatter
            .send_message(Message::Sync(SyncMessage::Update(update)))
            .await;
    }
    assert_eq!(squatter.expect_close().await, 4403);

    // Ada again, on a second socket while the first lingers, with the same client id: fine.
    let mut again = Client::connect_with_doc(
        &with_token(&server, "notes", &ada),
        continue_as(4242, &state, " two"),
    )
    .await;
    again.wait_saved().await;
    first
        .wait_text("the reconnected edit", |t| t == "one two")
        .await;
    assert!(again.closed_with.is_none());
    server.stop().await;
}

#[tokio::test]
async fn the_http_api_needs_a_token_and_shows_only_granted_documents() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_notes(dir.path()).await;
    let mut other = Client::connect(&with_token(
        &server,
        "other",
        &token("w", &["other"], Access::Write),
    ))
    .await;
    other.push("private").await;
    other.wait_saved().await;
    // Sorts before "notes": a page of one must read past it, not come back empty.
    let mut hidden = Client::connect(&with_token(
        &server,
        "hidden",
        &token("w", &["hidden"], Access::Write),
    ))
    .await;
    hidden.push("private too").await;
    hidden.wait_saved().await;

    for path in ["/api/docs", "/api/docs/notes/text"] {
        let (status, body) = http_get(server.addr, path).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.starts_with("unauthorized"), "{body}");
    }
    let bad = with_header(&token("r", &["notes"], Access::Read), r#"{"alg":"none"}"#);
    let (status, _) = http_get(server.addr, &format!("/api/docs?token={bad}")).await;
    assert_eq!(status, 401);

    let notes = token("r", &["notes"], Access::Read);
    let bearer = format!("Authorization: Bearer {notes}");
    let list = http_get_with(server.addr, "/api/docs", &[&bearer]).await;
    assert_eq!(list.status, 200);
    let docs: serde_json::Value = serde_json::from_str(&list.text()).unwrap();
    let names: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["notes"]);
    let page = http_get_with(server.addr, "/api/docs?limit=1", &[&bearer]).await;
    let docs: serde_json::Value = serde_json::from_str(&page.text()).unwrap();
    assert_eq!(docs[0]["name"], "notes", "{}", page.text());
    assert_eq!(docs.as_array().unwrap().len(), 1);
    let text = http_get_with(server.addr, "/api/docs/notes/text", &[&bearer]).await;
    assert_eq!((text.status, text.text().as_str()), (200, "secret text"));
    let (status, body) =
        http_get(server.addr, &format!("/api/docs/notes/text?token={notes}")).await;
    assert_eq!((status, body.as_str()), (200, "secret text"));
    let refused = http_get_with(server.addr, "/api/docs/other/text", &[&bearer]).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().starts_with("forbidden"));
    // Health says nothing about content and stays open.
    assert_eq!(http_get(server.addr, "/healthz").await.0, 200);
    server.stop().await;
}

fn upgrade_with_origin(addr: std::net::SocketAddr, origin: Option<&str>) -> String {
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    format!(
        "GET /sync/notes HTTP/1.1\r\nHost: {addr}\r\n{origin}Connection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

#[tokio::test]
async fn upgrades_from_foreign_origins_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let addr = server.addr;
    let (status, body) =
        http_request(addr, &upgrade_with_origin(addr, Some("https://evil.test"))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("origin not allowed"), "{body}");
    // With a secret, local dev pages are not allowed by default either.
    let (status, _) = http_request(
        addr,
        &upgrade_with_origin(addr, Some("http://localhost:5173")),
    )
    .await;
    assert_eq!(status, 403);
    let same = format!("http://{addr}");
    let (status, _) = http_request(addr, &upgrade_with_origin(addr, Some(&same))).await;
    assert_eq!(status, 101, "same origin");
    let (status, _) = http_request(addr, &upgrade_with_origin(addr, None)).await;
    assert_eq!(status, 101, "no Origin header");
    server.stop().await;

    // Open mode: local pages on any port, and what --allow-origin lists.
    let dir = tempfile::tempdir().unwrap();
    let open = TestServer::start(dir.path()).await;
    let (status, _) = http_request(
        open.addr,
        &upgrade_with_origin(open.addr, Some("http://localhost:5173")),
    )
    .await;
    assert_eq!(status, 101);
    let (status, _) = http_request(
        open.addr,
        &upgrade_with_origin(open.addr, Some("https://evil.test")),
    )
    .await;
    assert_eq!(status, 403);
    open.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let listed = TestServer::start_with(dir.path(), |c| {
        c.allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let (status, _) = http_request(
        listed.addr,
        &upgrade_with_origin(listed.addr, Some("https://app.example.com")),
    )
    .await;
    assert_eq!(status, 101);
    listed.stop().await;
}

/// A test key under `tests/data/keys`.
fn key_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keys")
        .join(name)
}

/// `claims` signed by `alg` with the private key in `key`, its header naming `kid`.
fn signed(key: &str, alg: Algorithm, kid: Option<&str>, claims: &impl serde::Serialize) -> String {
    let pem = std::fs::read(key_file(key)).unwrap();
    let key = match alg.family() {
        AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem),
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem),
        AlgorithmFamily::Ed => EncodingKey::from_ed_pem(&pem),
        AlgorithmFamily::Hmac => panic!("not a private key"),
    }
    .unwrap();
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Connects with `token`, which must work: the client syncs, writes, and its write is saved.
async fn expect_admitted(url: &str, case: &str) {
    let mut client = within(case, Client::connect(url)).await;
    client.push(case).await;
    client.wait_saved().await;
    client.close().await;
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_from_a_public_key_connect_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = std::str::from_utf8(SECRET).unwrap();
    let write = |docs: &[&str]| claims("idp-user", docs, Access::Write);
    let mut expired = write(&["notes"]);
    expired.exp = auth::unix_now() - 3600;
    for (public, private, other, alg, stranger, stranger_alg) in [
        (
            "rsa.pub.pem",
            "rsa.pem",
            "rsa-other.pem",
            Algorithm::RS256,
            "ec.pem",
            Algorithm::ES256,
        ),
        (
            "ec.pub.pem",
            "ec.pem",
            "ec-other.pem",
            Algorithm::ES256,
            "ed25519.pem",
            Algorithm::EdDSA,
        ),
        (
            "ed25519.pub.pem",
            "ed25519.pem",
            "ed25519-other.pem",
            Algorithm::EdDSA,
            "rsa.pem",
            Algorithm::RS256,
        ),
    ] {
        // The public key beside the HS256 secret: the token's `alg` picks which verifies it.
        let server = ServerProcess::start_with(
            &dir.path().join(format!("{private}.sqlite3")),
            &["--auth-public-key", path(&key_file(public))],
            &[("SYNC_SERVER_AUTH_SECRET", secret)],
        )
        .await;
        let url = |token: &str| format!("{}?token={token}", server.url("notes"));
        let good = signed(
            private,
            alg,
            Some("ignored-with-one-key"),
            &write(&["notes"]),
        );
        expect_admitted(&url(&good), &format!("{alg:?} token")).await;
        expect_admitted(&url(&token("u", &["notes"], Access::Write)), "HS256 token").await;
        // HS256 "signed" with the public key's PEM as the secret (key confusion).
        let public_pem = std::fs::read(key_file(public)).unwrap();
        let confused = auth::mint(&Secret::new(public_pem).unwrap(), &write(&["notes"]));
        let cases: Vec<(&str, String, u16)> = vec![
            (
                "wrong key",
                signed(other, alg, None, &write(&["notes"])),
                4401,
            ),
            (
                "wrong algorithm",
                signed(stranger, stranger_alg, None, &write(&["notes"])),
                4401,
            ),
            ("expired", signed(private, alg, None, &expired), 4401),
            ("public key as HS256 secret", confused, 4401),
            (
                "another document",
                signed(private, alg, None, &write(&["other"])),
                4402,
            ),
        ];
        for (case, token, code) in cases {
            let case = format!("{alg:?}: {case}");
            expect_refused(&url(&token), None, code, &case).await;
        }
        server.terminate().await;
    }
}

#[tokio::test]
async fn a_jwks_file_picks_the_key_by_kid_and_refuses_unknown_kids_and_issuers() {
    let dir = tempfile::tempdir().unwrap();
    let jwk = |key: &str, alg: Algorithm, kid: &str, with_alg: bool| {
        let pem = std::fs::read(key_file(key)).unwrap();
        let private = match alg.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_ed_pem(&pem),
        }
        .unwrap();
        let mut jwk =
            serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&private, alg).unwrap())
                .unwrap();
        jwk["kid"] = kid.into();
        jwk["use"] = "sig".into();
        if !with_alg {
            jwk.as_object_mut().unwrap().remove("alg");
        }
        jwk
    };
    // As identity providers publish them: RSA with `alg`, others (like Azure's) without.
    let set = serde_json::json!({"keys": [
        jwk("rsa.pem", Algorithm::RS256, "rsa-2026", true),
        jwk("ec.pem", Algorithm::ES256, "ec-2026", false),
        jwk("ed25519.pem", Algorithm::EdDSA, "ed-2026", false),
    ]});
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, set.to_string()).unwrap();
    let server = ServerProcess::start_with(
        &dir.path().join("collab.sqlite3"),
        &["--auth-jwks-file", path(&jwks)],
        &[("SYNC_SERVER_AUTH_ISSUER", "https://idp.example/")],
    )
    .await;
    let url = |token: &str| format!("{}?token={token}", server.url("notes"));
    let from = |iss: Option<&str>| {
        let mut claims =
            serde_json::to_value(claims("idp-user", &["notes"], Access::Write)).unwrap();
        if let Some(iss) = iss {
            claims["iss"] = iss.into();
        }
        claims
    };
    let write = from(Some("https://idp.example/"));
    for (key, alg, kid) in [
        ("rsa.pem", Algorithm::RS256, "rsa-2026"),
        ("ec.pem", Algorithm::ES256, "ec-2026"),
        ("ed25519.pem", Algorithm::EdDSA, "ed-2026"),
    ] {
        let token = signed(key, alg, Some(kid), &write);
        expect_admitted(&url(&token), &format!("{alg:?} token, kid {kid}")).await;
    }
    let mut expired = write.clone();
    expired["exp"] = (auth::unix_now() - 3600).into();
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "unknown kid",
            signed("rsa.pem", Algorithm::RS256, Some("rsa-2025"), &write),
            4401,
        ),
        (
            "no kid",
            signed("rsa.pem", Algorithm::RS256, None, &write),
            4401,
        ),
        (
            "wrong key",
            signed("rsa-other.pem", Algorithm::RS256, Some("rsa-2026"), &write),
            4401,
        ),
        (
            "the kid's key, another algorithm",
            signed("rsa.pem", Algorithm::PS256, Some("rsa-2026"), &write),
            4401,
        ),
        (
            "another key type under the kid",
            signed("ec.pem", Algorithm::ES256, Some("rsa-2026"), &write),
            4401,
        ),
        (
            "expired",
            signed("ec.pem", Algorithm::ES256, Some("ec-2026"), &expired),
            4401,
        ),
        (
            "another issuer",
            signed(
                "rsa.pem",
                Algorithm::RS256,
                Some("rsa-2026"),
                &from(Some("https://evil.example/")),
            ),
            4401,
        ),
        (
            "no issuer",
            signed("rsa.pem", Algorithm::RS256, Some("rsa-2026"), &from(None)),
            4401,
        ),
        (
            "HS256 without a secret",
            token("u", &["notes"], Access::Write),
            4401,
        ),
    ];
    for (case, token, code) in cases {
        expect_refused(&url(&token), None, code, case).await;
    }
    // The token message works as with a secret.
    let good = signed("ed25519.pem", Algorithm::EdDSA, Some("ed-2026"), &write);
    let bad = signed(
        "ed25519-other.pem",
        Algorithm::EdDSA,
        Some("ed-2026"),
        &write,
    );
    expect_refused(
        &server.url("notes"),
        Some(encode_auth_token(&bad).to_vec()),
        4401,
        "bad token message",
    )
    .await;
    let mut client = Client::connect_raw(&server.url("notes")).await;
    client.send_bytes(encode_auth_token(&good).to_vec()).await;
    client.start_sync().await;
    within(
        "sync after the token message",
        client.pump_until(|c| c.synced),
    )
    .await;
    server.terminate().await;
}

#[tokio::test]
async fn unusable_public_keys_stop_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"keys":[]}"#).unwrap();
    let private = key_file("rsa.pem");
    let rsa = key_file("rsa.pub.pem");
    let cases: [(&[&str], &str); 5] = [
        (&["--auth-public-key", path(&private)], "private key"),
        (
            &[
                "--auth-public-key",
                path(&rsa),
                "--auth-public-key-alg",
                "ES256",
            ],
            "does not fit ES256",
        ),
        (&["--auth-jwks-file", path(&empty)], "no usable signing key"),
        (
            &[
                "--auth-public-key",
                path(&rsa),
                "--auth-jwks-file",
                path(&empty),
            ],
            "cannot be used with",
        ),
        (
            &["--auth-issuer", "https://idp.example/"],
            "--auth-issuer needs --auth-public-key or --auth-jwks-file",
        ),
    ];
    for (args, expected) in cases {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("collab.sqlite3"))
            .args(args)
            .kill_on_drop(true)
            .output();
        let output = within("the server to refuse its keys", output)
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} started");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
