//! (h) History, ours only (the peers keep none): the automerge-paper trace typed by one client
//! into a fresh SQLite file, with a version every `every` keystrokes; then the file's size by
//! table with the history kept and with it dropped, and the cost of listing the versions and
//! reading one through the REST API.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::scenarios::{latency, nonce, Latency};
use crate::servers::{self, Running, Target};
use crate::trace::Trace;
use crate::wire;

/// The typing speed the cadence stands for: 200 keystrokes a minute (40 words of five letters).
pub const TYPING_PER_MINUTE: usize = 200;
/// Continuous typing after which the server saves a version at the latest: the default
/// `--checkpoint-max` (600 s). So a version every 2,000 keystrokes: the fewest the default
/// settings save for this trace (every pause of a minute or more saves one more).
pub const MINUTES_PER_VERSION: usize = 10;
/// `--checkpoint-idle` in this scenario: the replay pauses after each `every` keystrokes and
/// the server's own idle checkpoint saves the version (the typist's pause, shortened from 60 s).
const CHECKPOINT_IDLE_S: f64 = 0.5;
/// The tables whose size is reported on their own (the rest is "other").
pub const TABLES: [&str; 4] = ["snapshots", "updates", "changes", "versions"];

pub struct Params {
    /// Keystrokes (trace patches) to type.
    pub updates: usize,
    /// A version after each this many keystrokes, and one at the end.
    pub every: usize,
    /// Timed requests of each kind (after a first one, reported on its own).
    pub requests: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryResult {
    pub keystrokes: usize,
    pub inserted: usize,
    pub deleted: usize,
    pub text_chars: usize,
    pub every: usize,
    pub typing_per_minute: usize,
    pub minutes_per_version: usize,
    pub checkpoint_idle_s: f64,
    /// Versions stored, and how many the cadence asked for (more if the replay itself paused
    /// longer than the idle time somewhere).
    pub versions: usize,
    pub planned_versions: usize,
    /// Typing (sending until every update was acknowledged as durable), and waiting for the
    /// versions, in seconds.
    pub typing_s: f64,
    pub version_wait_s: f64,
    /// The file as the server left it (stopped with SIGTERM, so the log is compacted).
    pub kept: Storage,
    /// A copy with every version, change summary and trash row deleted, then VACUUM: what the
    /// document costs without history.
    pub compacted: Storage,
    /// The kept file after VACUUM (no free pages), for comparison with `compacted`.
    pub kept_vacuumed_bytes: u64,
    /// Bytes per 10,000 keystrokes, averaged over the trace.
    pub per_10k: PerTenThousand,
    /// Each planned version: after how many keystrokes, its text length, its stored state.
    pub per_version: Vec<VersionSize>,
    /// What 10,000 more keystrokes add in versions at the document's final size: the last
    /// version's state times the versions 10,000 keystrokes make (10,000 ÷ `every`).
    pub final_per_10k_version_bytes: f64,
    pub list: Reads,
    pub text_newest: Reads,
    pub text_oldest: Reads,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerTenThousand {
    pub kept_file: f64,
    pub compacted_file: f64,
    pub snapshot: f64,
    pub versions: f64,
    pub changes: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionSize {
    pub keystrokes: usize,
    pub text_chars: usize,
    pub state_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Storage {
    /// The main file after `PRAGMA wal_checkpoint(TRUNCATE)` (the WAL is then empty).
    pub file_bytes: u64,
    pub page_size: u64,
    /// Pages on the free list (left by deleted rows; SQLite reuses them, it does not shrink).
    pub free_bytes: u64,
    /// Whether `bytes` come from the `dbstat` table (pages of the table and its indexes).
    pub dbstat: bool,
    pub tables: BTreeMap<String, TableSize>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct TableSize {
    pub rows: u64,
    /// `SUM(LENGTH(data))` for the tables with a `data` column.
    pub data_bytes: Option<u64>,
    /// Pages of the table and its indexes (`dbstat`), in bytes.
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reads {
    pub path: String,
    /// The first request after the server started (a new connection), in ms.
    pub first_ms: f64,
    /// The requests after it, on the same keep-alive connection.
    pub latency: Latency,
    /// Response body bytes.
    pub bytes: usize,
}

/// Runs (h) against our server.
pub async fn run(
    target: &Target,
    tmp: &Path,
    trace: &Trace,
    updates: &[Vec<u8>],
    params: Params,
) -> anyhow::Result<HistoryResult> {
    let total = params.updates.min(updates.len()).min(trace.len());
    let every = params.every.max(1);
    let updates = &updates[..total];
    let lengths = trace.lengths();
    let mut boundaries: Vec<usize> = (1..)
        .map(|k| k * every)
        .take_while(|&b| b < total)
        .collect();
    boundaries.push(total);
    let doc = format!("{}paper", nonce());
    let file = tmp.join(format!("{doc}.sqlite3"));
    let idle = CHECKPOINT_IDLE_S.to_string();
    let extra = ["--checkpoint-idle", idle.as_str()];

    let server = servers::start(target, tmp, Some(&file), &extra).await?;
    let typed = type_trace(&server, target, &doc, updates, &boundaries, &lengths).await;
    let (made, typing_s, version_wait_s) = match typed {
        Ok(t) => t,
        Err(e) => {
            server.kill().await;
            return Err(e);
        }
    };
    server.terminate(Duration::from_secs(60)).await?; // compacts the log on the way out

    let kept = measure(&file)?;
    let copy = tmp.join(format!("{doc}-compacted.sqlite3"));
    std::fs::copy(&file, &copy)?;
    drop_history(&copy)?;
    let compacted = measure(&copy)?;
    let vacuumed = tmp.join(format!("{doc}-vacuumed.sqlite3"));
    std::fs::copy(&file, &vacuumed)?;
    vacuum(&vacuumed)?;
    let kept_vacuumed_bytes = std::fs::metadata(&vacuumed)?.len();
    let state_bytes = version_sizes(&file)?;
    let per_version: Vec<VersionSize> = made
        .iter()
        .map(|(id, keystrokes)| VersionSize {
            keystrokes: *keystrokes,
            text_chars: lengths[keystrokes - 1],
            state_bytes: state_bytes.get(id).copied().unwrap_or(0),
        })
        .collect();
    let final_per_10k_version_bytes = per_version
        .last()
        .map_or(0.0, |v| v.state_bytes as f64 * 10_000.0 / every as f64);

    // The reads, on the document as stored: a fresh server on the same file.
    let server = servers::start(target, tmp, Some(&file), &extra).await?;
    let reads = read_history(&server, &doc, trace, &boundaries, params.requests).await;
    server.kill().await;
    let (list, text_newest, text_oldest) = reads?;

    let (inserted, deleted) = trace.typed(total);
    let per = |bytes: u64| bytes as f64 * 10_000.0 / total as f64;
    let table = |s: &Storage, t: &str| {
        s.tables
            .get(t)
            .and_then(|x| x.bytes.or(x.data_bytes))
            .unwrap_or(0)
    };
    Ok(HistoryResult {
        keystrokes: total,
        inserted,
        deleted,
        text_chars: lengths[total - 1],
        every,
        typing_per_minute: TYPING_PER_MINUTE,
        minutes_per_version: MINUTES_PER_VERSION,
        checkpoint_idle_s: CHECKPOINT_IDLE_S,
        versions: kept.tables.get("versions").map_or(0, |t| t.rows as usize),
        planned_versions: boundaries.len(),
        typing_s,
        version_wait_s,
        per_10k: PerTenThousand {
            kept_file: per(kept.file_bytes),
            compacted_file: per(compacted.file_bytes),
            snapshot: per(table(&kept, "snapshots")),
            versions: per(table(&kept, "versions")),
            changes: per(table(&kept, "changes")),
        },
        kept,
        compacted,
        kept_vacuumed_bytes,
        final_per_10k_version_bytes,
        per_version,
        list,
        text_newest,
        text_oldest,
    })
}

/// Types `updates` into `doc` as one client (`?ext=1`, many update messages per frame, at
/// most 500 unacknowledged), pausing at each boundary until every update is durable and the
/// server saved a version holding the text so far. Returns each version's id and keystroke
/// count, the typing time and the time spent waiting for versions.
async fn type_trace(
    server: &Running,
    target: &Target,
    doc: &str,
    updates: &[Vec<u8>],
    boundaries: &[usize],
    lengths: &[usize],
) -> anyhow::Result<(Vec<(String, usize)>, f64, f64)> {
    let path = format!("{}{}?ext=1", target.path, doc);
    let mut peer = wire::connect(server.addr, &path, target.framing, doc, 0).await?;
    peer.handshake().await?;
    let mut push = wire::DurablePush::new(peer);
    let mut http = Http::connect(server.addr).await?;
    let list_path = format!("/api/docs/{doc}/versions");
    let deadline = Instant::now() + Duration::from_secs(1800);
    let (mut typing, mut waiting) = (Duration::ZERO, Duration::ZERO);
    let mut made = Vec::new();
    for &boundary in boundaries {
        let t = Instant::now();
        push.until_acked(updates, boundary, deadline, Duration::from_millis(2))
            .await?;
        typing += t.elapsed();
        // The pause: the server saves a version once it has seen no edit for the idle time.
        let t = Instant::now();
        let want = lengths[boundary - 1] as u64;
        let id = loop {
            let (status, body) = http.get(&list_path).await?;
            if status != 200 {
                bail!("GET {list_path}: status {status}");
            }
            let list: Value = serde_json::from_slice(&body)?;
            let count = list.as_array().map_or(0, Vec::len);
            let newest = &list[0];
            if count > made.len() && newest["size_bytes"].as_u64() == Some(want) {
                break newest["id"]
                    .as_str()
                    .context("a version without an id")?
                    .to_owned();
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("no version of the text after {boundary} keystrokes within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        waiting += t.elapsed();
        made.push((id, boundary));
    }
    push.close().await;
    Ok((made, typing.as_secs_f64(), waiting.as_secs_f64()))
}

/// Lists the versions and reads the newest and the oldest version's text, `requests` times
/// each after a first request; checks both texts against the trace.
async fn read_history(
    server: &Running,
    doc: &str,
    trace: &Trace,
    boundaries: &[usize],
    requests: usize,
) -> anyhow::Result<(Reads, Reads, Reads)> {
    let list_path = format!("/api/docs/{doc}/versions");
    let (list, body) = timed(server, &list_path, requests).await?;
    let versions: Value = serde_json::from_slice(&body)?;
    let versions = versions
        .as_array()
        .context("the version list is not an array")?;
    let id = |v: Option<&Value>| {
        v.and_then(|v| v["id"].as_str())
            .map(str::to_owned)
            .context("no versions")
    };
    let (newest, oldest) = (id(versions.first())?, id(versions.last())?);
    let newest_path = format!("/api/docs/{doc}/versions/{newest}/text");
    let oldest_path = format!("/api/docs/{doc}/versions/{oldest}/text");
    let (text_newest, text) = timed(server, &newest_path, requests).await?;
    let last = *boundaries.last().context("no boundaries")?;
    if text != trace.text_after(last)?.as_bytes() {
        bail!("the newest version's text is not the trace's text after {last} keystrokes");
    }
    let (text_oldest, text) = timed(server, &oldest_path, requests).await?;
    if versions.len() == boundaries.len() && text != trace.text_after(boundaries[0])?.as_bytes() {
        bail!(
            "the oldest version's text is not the trace's text after {} keystrokes",
            boundaries[0]
        );
    }
    Ok((list, text_newest, text_oldest))
}

/// One request on a new connection, then `requests` more on the same one, each timed; and
/// the first response's body.
async fn timed(server: &Running, path: &str, requests: usize) -> anyhow::Result<(Reads, Vec<u8>)> {
    let t = Instant::now();
    let mut http = Http::connect(server.addr).await?;
    let (status, body) = http.get(path).await?;
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    if status != 200 {
        bail!("GET {path}: status {status}");
    }
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        let (status, b) = http.get(path).await?;
        samples.push(t.elapsed().as_micros() as u32);
        if status != 200 || b.len() != body.len() {
            bail!("GET {path}: status {status}, {} bytes", b.len());
        }
    }
    let reads = Reads {
        path: path.to_owned(),
        first_ms,
        latency: latency(samples),
        bytes: body.len(),
    };
    Ok((reads, body))
}

/// Sizes in one SQLite file, after `PRAGMA wal_checkpoint(TRUNCATE)`.
fn measure(path: &Path) -> anyhow::Result<Storage> {
    let conn = rusqlite::Connection::open(path)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let int = |sql: &str| -> anyhow::Result<u64> {
        Ok(conn.query_row(sql, [], |row| row.get::<_, i64>(0))? as u64)
    };
    let page_size = int("PRAGMA page_size")?;
    let free_bytes = int("PRAGMA freelist_count")? * page_size;
    // Each index's pages count for its table.
    let mut owner = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT name, tbl_name FROM sqlite_master")?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?;
        for row in rows {
            let (name, table): (String, String) = row?;
            owner.insert(name, table);
        }
    }
    let pages: Option<Vec<(String, i64)>> = conn
        .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .ok();
    let mut tables: BTreeMap<String, TableSize> = BTreeMap::new();
    for (name, table) in &owner {
        if name == table && !table.starts_with("sqlite_") {
            let rows = int(&format!("SELECT COUNT(*) FROM \"{table}\""))?;
            let has_data = conn
                .prepare(&format!("SELECT data FROM \"{table}\" LIMIT 0"))
                .is_ok();
            let data_bytes = if has_data {
                Some(int(&format!(
                    "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM \"{table}\""
                ))?)
            } else {
                None
            };
            tables.insert(
                table.clone(),
                TableSize {
                    rows,
                    data_bytes,
                    bytes: None,
                },
            );
        }
    }
    let dbstat = pages.is_some();
    for (name, bytes) in pages.into_iter().flatten() {
        let table = owner.get(&name).cloned().unwrap_or(name);
        let entry = tables.entry(table).or_default();
        entry.bytes = Some(entry.bytes.unwrap_or(0) + bytes as u64);
    }
    drop(conn);
    Ok(Storage {
        file_bytes: std::fs::metadata(path)?.len(),
        page_size,
        free_bytes,
        dbstat,
        tables,
    })
}

/// What retention leaves once everything is older than it: no versions, no change
/// summaries, no trash; then VACUUM, since SQLite does not give freed pages back by itself.
fn drop_history(path: &Path) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch("DELETE FROM versions; DELETE FROM changes; DELETE FROM trash; VACUUM;")?;
    Ok(())
}

fn vacuum(path: &Path) -> anyhow::Result<()> {
    rusqlite::Connection::open(path)?.execute_batch("VACUUM;")?;
    Ok(())
}

/// Each version's stored state, in bytes, by id.
fn version_sizes(path: &Path) -> anyhow::Result<HashMap<String, u64>> {
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare("SELECT id, LENGTH(data) FROM versions")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A minimal HTTP/1.1 client on one keep-alive connection: GET, a body with `Content-Length`
/// or chunked.
struct Http {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Http {
    async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Http> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("GET {path}: bad status line {line:?}"))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            self.line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                if name == "content-length" {
                    length = Some(value.parse::<usize>()?);
                } else if name == "transfer-encoding" && value.contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                self.line(&mut line).await?;
                let size = line.trim_end().split(';').next().unwrap_or("");
                let size = usize::from_str_radix(size.trim(), 16)?;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        self.line(&mut line).await?;
                        if line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                self.stream.read_exact(&mut body[start..]).await?;
                self.line(&mut line).await?;
            }
        } else {
            let length = length.with_context(|| format!("GET {path}: no Content-Length"))?;
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok((status, body))
    }

    async fn line(&mut self, line: &mut String) -> anyhow::Result<()> {
        line.clear();
        if self.stream.read_line(line).await? == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}
