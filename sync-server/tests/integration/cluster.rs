//! Several instances (`--postgres` + `--redis`): three real server binaries on one PostgreSQL
//! database (of the server `postgres` shares) relaying through Redis: the shared one
//! (`COLLAB_TEST_REDIS_URL`, or one `scripts/services.sh` starts for this binary), each test with
//! document names of its own, or a private one for the test that kills it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::postgres::{free_port, shared};
use crate::support::{
    eventually, http_get, namespaced, scrape, shared_redis_url, spawn_watchdog, within, Client,
    ServerProcess, Services,
};

/// Three servers on one fresh database of the shared PostgreSQL, relaying through `redis_url`.
async fn three_instances(dir: &Path, database: &str, redis_url: &str) -> Vec<ServerProcess> {
    let url = shared().database(database);
    let mut servers = Vec::new();
    for index in 0..3 {
        let data: PathBuf = dir.join(format!("instance-{index}")).join("collab.sqlite3");
        let args = ["--postgres", &url, "--redis", redis_url];
        servers.push(ServerProcess::start_with(&data, &args, &[]).await);
    }
    for server in &servers {
        wait_ready(server, 200).await;
    }
    servers
}

async fn wait_ready(server: &ServerProcess, status: u16) {
    let addr = server.addr;
    eventually(&format!("/readyz to answer {status}"), || async move {
        http_get(addr, "/readyz").await.0 == status
    })
    .await;
}

fn contains_all(text: &str, chunks: &[String]) -> bool {
    chunks.iter().all(|chunk| text.contains(chunk.as_str()))
}

#[tokio::test]
async fn clients_on_three_instances_converge_and_see_each_others_presence() {
    let dir = tempfile::tempdir().unwrap();
    let servers = three_instances(dir.path(), "cluster_converge", shared_redis_url()).await;
    let doc = namespaced("cluster_converge", "shared");
    let mut clients = Vec::new();
    for server in servers.iter().chain(&servers) {
        clients.push(Client::connect(&server.url(&doc)).await);
    }
    // Everyone types at once, several rounds, without waiting for the others.
    let mut chunks = Vec::new();
    for round in 0..4 {
        for (index, client) in clients.iter_mut().enumerate() {
            let chunk = format!("<{index}.{round}>");
            client.insert(0, &chunk).await;
            chunks.push(chunk);
        }
    }
    for client in &mut clients {
        client
            .wait_text("every edit on every instance", |t| contains_all(t, &chunks))
            .await;
    }
    let text = clients[0].text();
    for client in &mut clients {
        client.wait_text("one text", |t| t == text).await;
        client.wait_saved().await;
    }
    // Presence set on one instance shows on the others, including for a later joiner.
    clients[0]
        .set_presence(1, r#"{"user":{"name":"Ada"}}"#)
        .await;
    for client in &mut clients[1..] {
        within(
            "Ada's presence on every instance",
            client.pump_until(|c| c.present_names() == ["Ada"]),
        )
        .await;
    }
    let mut late = Client::connect(&servers[2].url(&doc)).await;
    within(
        "Ada's presence for a client joining later elsewhere",
        late.pump_until(|c| c.present_names() == ["Ada"]),
    )
    .await;
    assert_eq!(late.text(), text);
}

#[tokio::test]
async fn edits_made_while_redis_is_down_reach_everyone_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    // Its own Redis, since it kills it.
    let redis = Services::start(&["redis"]);
    let servers = three_instances(dir.path(), "cluster_redis_restart", redis.redis_url()).await;
    let mut clients = Vec::new();
    for server in &servers {
        clients.push(Client::connect(&server.url("doc")).await);
    }
    let mut chunks = Vec::new();
    for (index, client) in clients.iter_mut().enumerate() {
        let chunk = format!("[before {index}]");
        client.push(&chunk).await;
        chunks.push(chunk);
    }
    for client in &mut clients {
        client
            .wait_text("edits before the outage", |t| contains_all(t, &chunks))
            .await;
    }

    redis.halt("redis");
    for server in &servers {
        wait_ready(server, 503).await;
    }
    // Each instance still serves its own clients, and stores what they write.
    for (index, client) in clients.iter_mut().enumerate() {
        let chunk = format!("[during {index}]");
        client.push(&chunk).await;
        client.wait_saved().await;
        chunks.push(chunk);
    }

    redis.resume("redis");
    for server in &servers {
        wait_ready(server, 200).await;
    }
    for client in &mut clients {
        client
            .wait_text("every edit after Redis is back", |t| {
                contains_all(t, &chunks)
            })
            .await;
    }
    // And the relay works again for new edits.
    clients[1].push("[after]").await;
    chunks.push("[after]".into());
    for client in &mut clients {
        client
            .wait_text("an edit after the outage", |t| contains_all(t, &chunks))
            .await;
    }
    let metrics = scrape(servers[0].addr).await;
    assert_eq!(metrics["collab_relay_connected"], 1.0);
    assert!(metrics["collab_relay_connects_total"] >= 2.0, "{metrics:?}");
    assert!(metrics["collab_relay_published_total"] > 0.0);
    assert!(metrics["collab_relay_received_total"] > 0.0);
}

#[tokio::test]
async fn a_killed_instance_takes_its_users_presence_and_no_acknowledged_edit() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers = three_instances(dir.path(), "cluster_kill", shared_redis_url()).await;
    let doc = namespaced("cluster_kill", "doc");
    let mut ada = Client::connect(&servers[0].url(&doc)).await;
    let mut bob = Client::connect(&servers[1].url(&doc)).await;
    let mut eve = Client::connect(&servers[2].url(&doc)).await;
    ada.set_presence(1, r#"{"user":{"name":"Ada"}}"#).await;
    bob.set_presence(1, r#"{"user":{"name":"Bob"}}"#).await;
    within(
        "both users present for Eve",
        eve.pump_until(|c| c.present_names() == ["Ada", "Bob"]),
    )
    .await;
    let mut chunks = Vec::new();
    for round in 0..5 {
        let chunk = format!("(ada {round})");
        ada.push(&chunk).await;
        chunks.push(chunk);
        let chunk = format!("(bob {round})");
        bob.push(&chunk).await;
        chunks.push(chunk);
    }
    ada.wait_saved().await;
    bob.wait_saved().await;

    servers.remove(0).kill_9().await;
    within(
        "Ada's presence to go with her instance",
        eve.pump_until(|c| c.present_names() == ["Bob"]),
    )
    .await;
    within(
        "Ada's presence to go for Bob too",
        bob.pump_until(|c| c.present_names() == ["Bob"]),
    )
    .await;
    let mut fresh = Client::connect(&servers[1].url(&doc)).await;
    assert!(
        contains_all(&fresh.text(), &chunks),
        "an acknowledged edit is missing: {:?}",
        fresh.text()
    );
    fresh.wait_text("the same text", |t| t == eve.text()).await;
}

#[tokio::test]
async fn redis_without_postgres_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = within(
        "the server to refuse",
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("collab.sqlite3"))
            .args(["--redis", "redis://127.0.0.1:1/"])
            .env_remove("SYNC_SERVER_POSTGRES")
            .output(),
    )
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--postgres"), "{stderr}");
}

/// nginx running `examples/cluster/nginx.conf`, its upstreams and port replaced, as a child.
struct Nginx {
    port: u16,
    child: Child,
    _prefix: tempfile::TempDir,
    _watchdog: ChildStdin,
}

impl Nginx {
    fn start(upstreams: &[&ServerProcess]) -> Nginx {
        let recipe = include_str!("../../../examples/cluster/nginx.conf");
        let port = free_port();
        let mut conf = recipe.replace(
            "listen 127.0.0.1:8080;",
            &format!("listen 127.0.0.1:{port};"),
        );
        for (index, server) in upstreams.iter().enumerate() {
            let from = format!("server 127.0.0.1:{} ", 8781 + index);
            assert!(conf.contains(&from), "the recipe names three upstreams");
            conf = conf.replace(&from, &format!("server {} ", server.addr));
        }
        let prefix = tempfile::tempdir().unwrap();
        std::fs::create_dir(prefix.path().join("logs")).unwrap();
        std::fs::write(prefix.path().join("nginx.conf"), conf).unwrap();
        let program = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = Command::new(program)
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(prefix.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is not installed (scripts/setup.sh installs it: ensure_nginx)");
        let watchdog = kill_on_exit(&child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            port,
            child,
            _prefix: prefix,
            _watchdog: watchdog,
        }
    }

    fn url(&self, doc: &str) -> String {
        format!("ws://127.0.0.1:{}/sync/{doc}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the client's connection is still open: it handles what arrives for a moment.
async fn still_connected(client: &mut Client) -> bool {
    loop {
        match tokio::time::timeout(Duration::from_millis(300), client.pump_one()).await {
            Err(_) => return true,
            Ok(true) => continue,
            Ok(false) => return false,
        }
    }
}

#[tokio::test]
async fn behind_nginx_clients_of_a_killed_instance_reconnect_elsewhere_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers = three_instances(dir.path(), "cluster_nginx", shared_redis_url()).await;
    let doc = namespaced("cluster_nginx", "doc");
    let nginx = Nginx::start(&servers.iter().collect::<Vec<_>>());
    // least_conn spreads six clients two by two.
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(Client::connect(&nginx.url(&doc)).await);
    }
    let mut chunks = Vec::new();
    for round in 0..3 {
        for (index, client) in clients.iter_mut().enumerate() {
            let chunk = format!("{{{index}.{round}}}");
            client.push(&chunk).await;
            chunks.push(chunk);
        }
    }
    for client in &mut clients {
        client.wait_saved().await;
    }
    // Mid-edit: each client sends one more edit, unacknowledged, and an instance dies.
    for (index, client) in clients.iter_mut().enumerate() {
        let chunk = format!("{{{index}.last}}");
        client.push(&chunk).await;
        chunks.push(chunk);
    }
    servers.remove(0).kill_9().await;
    let mut reconnected = 0;
    for client in &mut clients {
        if !still_connected(client).await {
            // Like a browser tab: reconnect with the same document (its unsaved edits too).
            let same = client.doc.clone();
            *client = Client::connect_with_doc(&nginx.url(&doc), same).await;
            reconnected += 1;
        }
    }
    assert!(reconnected > 0, "no client was on the killed instance");
    for client in &mut clients {
        client
            .wait_text("every edit after the failover", |t| {
                contains_all(t, &chunks)
            })
            .await;
        client.wait_saved().await;
    }
    let fresh = Client::connect(&nginx.url(&doc)).await;
    assert!(
        contains_all(&fresh.text(), &chunks),
        "an edit is missing: {:?}",
        fresh.text()
    );
}

/// A watchdog that SIGKILLs `child` once the returned pipe closes: when it is dropped, or when
/// this test process ends however it ends (so no server outlives a crashed test run).
fn kill_on_exit(child: &std::process::Child) -> std::process::ChildStdin {
    spawn_watchdog(Command::new("sh").args([
        "-c",
        "cat >/dev/null; kill -9 \"$1\" 2>/dev/null",
        "sh",
        &child.id().to_string(),
    ]))
}
