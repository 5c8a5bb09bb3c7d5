//! Webhooks to a real local HTTP receiver: retried until it answers 2xx and then delivered
//! once, signed, debounced per document, naming the token users; deletes are events; a
//! receiver that is down never holds up saving and its failures show in `/metrics`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use sync_server::auth::Access;
use sync_server::webhook::{sign, Endpoint, WebhookConfig, EVENT_HEADER, SIGNATURE_HEADER};
use sync_server::Config;

use crate::support::{
    self, eventually, http_request, http_send, scrape, within, Client, TestServer,
};

const HOOK_KEY: &[u8] = b"the receiver's webhook key";

/// One request the receiver saw, and what it answered.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    event: String,
    signature: Option<String>,
    body: Bytes,
    answered: u16,
}

impl Seen {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }
}

/// A local HTTP server that records every POST and answers 500 to the first `fail_first`.
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                async move {
                    let mut log = log.lock().unwrap();
                    let status = if log.len() < fail_first {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    };
                    let header =
                        |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                    log.push(Seen {
                        at: Instant::now(),
                        event: header(EVENT_HEADER).unwrap_or_default(),
                        signature: header(SIGNATURE_HEADER),
                        body,
                        answered: status.as_u16(),
                    });
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until a request answered 2xx satisfies `done`; returns everything seen so far.
    async fn wait_delivered(&self, what: &str, done: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        eventually(what, || {
            let hit = self.seen().iter().any(|s| s.answered == 200 && done(s));
            async move { hit }
        })
        .await;
        self.seen()
    }
}

fn webhooks_to(receiver_url: &str, debounce: Duration) -> WebhookConfig {
    WebhookConfig {
        endpoints: vec![Endpoint::parse(receiver_url).unwrap()],
        secret: Some(HOOK_KEY.to_vec()),
        debounce,
        retry_first: Duration::from_millis(20),
    }
}

fn token(sub: &str, access: Access) -> String {
    support::token(sub, &["*"], access)
}

fn with_auth(config: &mut Config, webhooks: WebhookConfig) {
    config.auth_secret = Some(support::secret());
    config.webhooks = webhooks;
}

/// The first request of each distinct body, in arrival order: one per delivery.
fn first_attempts(seen: &[Seen]) -> Vec<&Seen> {
    let mut out: Vec<&Seen> = Vec::new();
    for s in seen {
        if !out.iter().any(|first| first.body == s.body) {
            out.push(s);
        }
    }
    out
}

/// Each delivery's body, with the time it first arrived, in arrival order.
fn deliveries(seen: &[Seen]) -> Vec<(Instant, serde_json::Value)> {
    first_attempts(seen)
        .into_iter()
        .map(|s| (s.at, s.json()))
        .collect()
}

#[tokio::test]
async fn commits_are_retried_until_accepted_signed_and_name_the_token_users() {
    let receiver = Receiver::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let debounce = Duration::from_millis(300);
    let server = TestServer::start_with(dir.path(), |c| {
        with_auth(c, webhooks_to(&receiver.url(), debounce));
    })
    .await;
    let url = |who: &str| {
        format!(
            "{}?token={}",
            server.url("minutes"),
            token(who, Access::Write)
        )
    };
    let mut ann = Client::connect(&url("ann")).await;
    ann.push("hello").await;
    ann.wait_saved().await;
    let mut bob = Client::connect(&url("bob")).await;
    bob.pump_until(|c| c.text() == "hello").await;
    bob.push(" world").await;
    bob.wait_saved().await;

    let seen = receiver
        .wait_delivered("the delivery of the whole text", |s| {
            s.json()["size_bytes"] == "hello world".len()
        })
        .await;
    // The first two attempts were refused; the third carried the same body.
    assert_eq!(seen[0].answered, 500);
    assert_eq!(seen[1].answered, 500);
    assert_eq!(seen[2].answered, 200);
    assert_eq!(seen[0].body, seen[2].body);
    assert_eq!(seen[1].body, seen[2].body);
    for s in &seen {
        assert_eq!(s.event, "commit");
        assert_eq!(
            s.signature.as_deref(),
            Some(sign(HOOK_KEY, &s.body).as_str()),
            "every request is signed with the HMAC of its body"
        );
        assert_ne!(
            s.signature.as_deref(),
            Some(sign(b"another key", &s.body).as_str())
        );
        let body = s.json();
        assert_eq!(body["event"], "commit");
        assert_eq!(body["doc"], "minutes");
        let updated_at = body["updated_at"].as_str().unwrap();
        assert!(
            updated_at.ends_with('Z') && updated_at.len() == 24,
            "{updated_at}"
        );
    }
    // Once accepted, a body is never sent again.
    for s in seen.iter().filter(|s| s.answered == 200) {
        let accepted = seen
            .iter()
            .filter(|o| o.answered == 200 && o.body == s.body)
            .count();
        assert_eq!(accepted, 1, "{:?}", s.json());
    }
    // Between them, the deliveries name both writers, with the names their tokens carry.
    let mut authors: Vec<(String, String)> = deliveries(&seen)
        .iter()
        .flat_map(|(_, body)| body["authors"].as_array().unwrap().clone())
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    authors.sort();
    authors.dedup();
    assert_eq!(
        authors,
        [
            ("ann".to_owned(), "User ann".to_owned()),
            ("bob".to_owned(), "User bob".to_owned())
        ]
    );

    let metrics = scrape(server.addr).await;
    assert_eq!(
        metrics[r#"collab_webhook_deliveries_total{result="retried"}"#],
        2.0
    );
    assert_eq!(
        metrics[r#"collab_webhook_deliveries_total{result="failed"}"#],
        0.0
    );
    assert!(metrics[r#"collab_webhook_deliveries_total{result="delivered"}"#] >= 1.0);
    ann.close().await;
    bob.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_burst_of_commits_makes_deliveries_at_most_one_per_debounce_and_deletes_follow_at_once() {
    let receiver = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let debounce = Duration::from_millis(400);
    let server = TestServer::start_with(dir.path(), |c| {
        with_auth(c, webhooks_to(&receiver.url(), debounce));
    })
    .await;
    let writer = token("ann", Access::Write);
    let mut ann = Client::connect(&format!("{}?token={writer}", server.url("burst"))).await;
    let commits = 20;
    for _ in 0..commits {
        // Each edit is saved (its own commit) before the next is typed.
        ann.push("x").await;
        ann.wait_saved().await;
    }
    let seen = receiver
        .wait_delivered("the delivery of the last commit", |s| {
            s.json()["size_bytes"] == commits
        })
        .await;
    let delivered = deliveries(&seen);
    assert!(
        delivered.len() < commits,
        "{} deliveries for {commits} commits",
        delivered.len()
    );
    for pair in delivered.windows(2) {
        assert!(
            pair[1].0.duration_since(pair[0].0) >= debounce,
            "two deliveries of one document within the debounce"
        );
    }
    let sizes: Vec<u64> = delivered
        .iter()
        .map(|(_, body)| body["size_bytes"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");

    // An edit through the API names the token's user.
    let bot = token("bot", Access::Write);
    let put = http_send(
        server.addr,
        "PUT",
        "/api/docs/burst/text",
        &[&format!("Authorization: Bearer {bot}")],
        b"from the API",
    )
    .await;
    assert_eq!(put.status, 204, "{}", put.text());
    let seen = receiver
        .wait_delivered("the delivery of the API's edit", |s| {
            s.json()["size_bytes"] == "from the API".len()
        })
        .await;
    let api_delivery = seen
        .iter()
        .find(|s| s.json()["size_bytes"] == "from the API".len())
        .unwrap()
        .json();
    assert_eq!(
        api_delivery["authors"],
        serde_json::json!([{"id": "bot", "name": "User bot", "verified": true}])
    );

    // A delete is delivered without waiting for a debounce, names no text, and says who.
    let admin = token("root", Access::Admin);
    let (status, body) = http_request(
        server.addr,
        &format!(
            "DELETE /api/docs/burst HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {admin}\r\n\
             Connection: close\r\n\r\n",
            server.addr
        ),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let seen = receiver
        .wait_delivered("the delete event", |s| s.event == "delete")
        .await;
    let delete = seen.iter().find(|s| s.event == "delete").unwrap();
    let body = delete.json();
    assert_eq!(
        (
            body["event"].as_str(),
            body["doc"].as_str(),
            body["size_bytes"].as_u64()
        ),
        (Some("delete"), Some("burst"), Some(0))
    );
    assert_eq!(
        body["authors"],
        serde_json::json!([{"id": "root", "name": "User root", "verified": true}])
    );
    assert_eq!(
        delete.signature.as_deref(),
        Some(sign(HOOK_KEY, &delete.body).as_str())
    );

    // Undelete and restore are events too, said at once and by whom.
    let auth = format!("Authorization: Bearer {admin}");
    let undelete = http_send(
        server.addr,
        "POST",
        "/api/docs/burst/undelete",
        &[&auth],
        b"",
    )
    .await;
    assert_eq!(undelete.status, 204, "{}", undelete.text());
    let named = http_send(
        server.addr,
        "POST",
        "/api/docs/burst/versions",
        &[&auth],
        br#"{"label":"all the x"}"#,
    )
    .await;
    assert_eq!(named.status, 201, "{}", named.text());
    let version: serde_json::Value = serde_json::from_slice(&named.body).unwrap();
    let body = format!(r#"{{"version":{}}}"#, version["id"]);
    let restore = http_send(
        server.addr,
        "POST",
        "/api/docs/burst/restore",
        &[&auth],
        body.as_bytes(),
    )
    .await;
    assert_eq!(restore.status, 200, "{}", restore.text());
    for event in ["undelete", "restore"] {
        let seen = receiver
            .wait_delivered(&format!("the {event} event"), |s| s.event == event)
            .await;
        let delivery = seen.iter().find(|s| s.event == event).unwrap();
        assert_eq!(delivery.json()["authors"][0]["id"], "root", "{event}");
        assert_eq!(
            delivery.signature.as_deref(),
            Some(sign(HOOK_KEY, &delivery.body).as_str())
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn commits_made_while_a_delivery_is_retried_wait_for_it_and_go_as_one() {
    // Three refusals: the first delivery is retried after 100, 200 and 400 ms.
    let receiver = Receiver::start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.webhooks = WebhookConfig {
            retry_first: Duration::from_millis(100),
            ..webhooks_to(&receiver.url(), Duration::from_millis(50))
        };
    })
    .await;
    let mut a = Client::connect(&server.url("retried")).await;
    a.push("a").await;
    a.wait_saved().await;
    eventually("the first attempt", || {
        let seen = !receiver.seen().is_empty();
        async move { seen }
    })
    .await;
    for chunk in ["b", "c", "d"] {
        a.push(chunk).await;
        a.wait_saved().await;
    }
    let seen = receiver
        .wait_delivered("the delivery of the last commit", |s| {
            s.json()["size_bytes"] == 4
        })
        .await;
    for pair in first_attempts(&seen).windows(2) {
        let accepted = seen
            .iter()
            .find(|s| s.body == pair[0].body && s.answered == 200)
            .expect("each delivery is accepted before the next one starts")
            .at;
        let next_first = pair[1].at;
        assert!(
            next_first >= accepted,
            "a second delivery of the document started while the first was being retried"
        );
    }
    a.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_receiver_that_is_down_never_holds_up_saving_and_shows_as_failed() {
    // A port that was just free: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.webhooks = WebhookConfig {
            secret: None,
            retry_first: Duration::from_millis(5),
            ..webhooks_to(&format!("http://{closed}/hook"), Duration::from_millis(50))
        };
    })
    .await;
    let mut a = Client::connect(&server.url("unheard")).await;
    for word in ["saved ", "while ", "nobody ", "listens"] {
        a.push(word).await;
        within("a save while the receiver is down", a.wait_saved()).await;
    }
    eventually("the delivery given up", || async {
        scrape(server.addr).await[r#"collab_webhook_deliveries_total{result="failed"}"#] >= 1.0
    })
    .await;
    let metrics = scrape(server.addr).await;
    assert_eq!(
        metrics[r#"collab_webhook_deliveries_total{result="delivered"}"#],
        0.0
    );
    assert!(metrics[r#"collab_webhook_deliveries_total{result="retried"}"#] >= 7.0);
    a.close().await;
    server.stop().await;
    let restarted = TestServer::start(dir.path()).await;
    let reader = Client::connect(&restarted.url("unheard")).await;
    assert_eq!(reader.text(), "saved while nobody listens");
    restarted.stop().await;
}
