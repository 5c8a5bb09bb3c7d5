//! `sync-bench`: our sync server against the y-websocket reference server and Hocuspocus, in one
//! run on one machine, over raw y-protocols frames (no CRDT in the clients, so every server pays
//! the same client cost). `scripts/bench.sh` installs the peers and runs it; see BENCHMARKS.md.

mod bigdoc;
mod history;
mod report;
mod scenarios;
mod servers;
mod trace;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

use scenarios::Shape;
use servers::Target;
use wire::Framing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// About a minute: tiny N, one step per shape (the test command runs it).
    Smoke,
    /// A few minutes: every scenario at its real size, short steps.
    Quick,
    /// Longer steps, finer ramp.
    Full,
}

#[derive(Debug, Parser)]
#[command(name = "sync-bench")]
struct Args {
    #[arg(long, value_enum, default_value = "quick")]
    mode: Mode,
    /// Our server's binary (build it with `cargo build --release -p sync-server`).
    #[arg(long, default_value = "target/release/sync-server")]
    ours: PathBuf,
    /// Directory with the peers' launchers and their node_modules (`bench/peers`).
    #[arg(long, default_value = "bench/peers")]
    peers_dir: PathBuf,
    /// Servers to measure, comma-separated: ours, y-websocket, hocuspocus.
    #[arg(
        long,
        default_value = "ours,y-websocket,hocuspocus",
        value_delimiter = ','
    )]
    targets: Vec<String>,
    /// Scenarios to run, comma-separated: fanout, throughput, memory, load, join-storm,
    /// doc-memory, history. With `--markdown`, a run of only some of them rewrites only their parts of
    /// an existing report (their tables and target rows, a line saying when they ran).
    #[arg(
        long,
        default_value = "fanout,throughput,memory,load,join-storm,doc-memory,history",
        value_delimiter = ','
    )]
    scenarios: Vec<String>,
    #[arg(long, default_value = "bench/data/automerge-paper.json.gz")]
    trace: PathBuf,
    /// Where the JSON results, the Markdown table, server logs and the update cache go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Also write the Markdown report here (scripts/bench.sh: BENCHMARKS.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Hand-written notes (profiles, what each optimisation bought) included in the report.
    #[arg(long)]
    notes: Option<PathBuf>,
    /// Override the mode's fan-out reader counts (e.g. `--fanout 1000` for profiling).
    #[arg(long, value_delimiter = ',')]
    fanout: Vec<usize>,
    /// Override the mode's throughput ramp (updates/s, e.g. `--rates 22782` for profiling).
    #[arg(long, value_delimiter = ',')]
    rates: Vec<f64>,
    /// Override the mode's join storms (f), as CLIENTSxBYTES (e.g. `--storms 20x40000000`).
    #[arg(long, value_delimiter = ',')]
    storms: Vec<String>,
    /// Override the mode's idle-connection count for the memory scenario.
    #[arg(long)]
    memory_connections: Option<usize>,
    /// The widget's npm package directory (its wasm + JS are weighed when built).
    #[arg(long, default_value = "npm")]
    widget_dir: PathBuf,
    /// Render the Markdown from an earlier results JSON instead of measuring.
    #[arg(long)]
    render: Option<PathBuf>,
    /// Results of the browser part of (e) (`bench/browser/run.mjs`, run before this): merged
    /// into the results and the report (also with `--render`).
    #[arg(long)]
    browser: Option<PathBuf>,
}

struct Plan {
    fanout: Vec<usize>,
    fanout_seconds: f64,
    rates: Vec<f64>,
    step_seconds: f64,
    memory_connections: usize,
    memory_shapes: Vec<bool>,
    /// (c): settle time before the base line and before the measurement.
    memory_settle: (f64, f64),
    raw_log: usize,
    /// (f): (clients, bytes of text) per join storm, and each joiner's time limit.
    storms: Vec<(usize, usize)>,
    storm_limit: f64,
    /// (g): documents loaded at each step, bytes of text each, settle time per step.
    doc_levels: Vec<usize>,
    doc_bytes: usize,
    doc_settle: f64,
    /// (h): keystrokes of the trace typed, a version after each `history_every` of them, and
    /// the timed requests of each kind.
    history_updates: usize,
    history_every: usize,
    history_requests: usize,
}

fn plan(mode: Mode) -> Plan {
    let steps = |from: f64, factor: f64, to: f64| {
        std::iter::successors(Some(from), |r| Some((r * factor).round()))
            .take_while(|r| *r <= to)
            .collect()
    };
    match mode {
        Mode::Smoke => Plan {
            fanout: vec![10, 50],
            fanout_seconds: 1.5,
            rates: vec![1000.0],
            step_seconds: 1.0,
            memory_connections: 100,
            memory_shapes: vec![false],
            memory_settle: (0.5, 1.0),
            raw_log: 5_000,
            // Over one piece, so seeding in pieces and a whole document in several is exercised.
            storms: vec![(10, 200_000), (3, 1_200_000)],
            storm_limit: 20.0,
            doc_levels: vec![1, 3],
            doc_bytes: 100_000,
            doc_settle: 0.3,
            history_updates: 5_000,
            history_every: 1_000,
            history_requests: 20,
        },
        Mode::Quick => Plan {
            fanout: vec![10, 100, 1000],
            fanout_seconds: 5.0,
            rates: steps(2000.0, 1.5, 80_000.0),
            step_seconds: 2.0,
            memory_connections: 10_000,
            memory_shapes: vec![false, true],
            memory_settle: (1.0, 2.5),
            raw_log: usize::MAX,
            storms: vec![(150, 4_000_000), (20, 40_000_000)],
            storm_limit: 120.0,
            doc_levels: vec![1, 10, 100],
            doc_bytes: 1_000_000,
            doc_settle: 2.0,
            history_updates: usize::MAX,
            history_every: history::TYPING_PER_MINUTE * history::MINUTES_PER_VERSION,
            history_requests: 200,
        },
        Mode::Full => Plan {
            fanout: vec![10, 100, 1000],
            fanout_seconds: 10.0,
            rates: steps(1000.0, 1.25, 128_000.0),
            step_seconds: 5.0,
            memory_connections: 10_000,
            memory_shapes: vec![false, true],
            memory_settle: (1.0, 2.5),
            raw_log: usize::MAX,
            storms: vec![(150, 4_000_000), (20, 40_000_000)],
            storm_limit: 120.0,
            doc_levels: vec![1, 10, 100],
            doc_bytes: 1_000_000,
            doc_settle: 2.0,
            history_updates: usize::MAX,
            history_every: history::TYPING_PER_MINUTE * history::MINUTES_PER_VERSION,
            history_requests: 1000,
        },
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.render {
        let mut results: Value = serde_json::from_slice(&std::fs::read(path)?)?;
        merge_browser(&args, &mut results);
        return write_reports(&args, &results);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

fn write_reports(args: &Args, results: &Value) -> anyhow::Result<()> {
    let notes = match &args.notes {
        Some(p) => std::fs::read_to_string(p).ok(),
        None => None,
    };
    let md = report::markdown(results, notes.as_deref());
    std::fs::create_dir_all(&args.out)?;
    let mode = results["mode"].as_str().unwrap_or("run");
    std::fs::write(args.out.join(format!("results-{mode}.md")), &md)?;
    if let Some(path) = &args.markdown {
        // A run of some scenarios only updates their parts of the report already there.
        let existing = report::partial(results)
            .then(|| std::fs::read_to_string(path).ok())
            .flatten();
        match existing {
            Some(old) => {
                std::fs::write(path, report::splice(&old, results, notes.as_deref()))?;
                eprintln!(
                    "updated the measured scenarios' parts of {}",
                    path.display()
                );
            }
            None => {
                std::fs::write(path, &md)?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    println!("{}", report::tables(results));
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let began = Instant::now();
    scenarios::now_ns();
    let mut plan = plan(args.mode);
    if !args.fanout.is_empty() {
        plan.fanout = args.fanout.clone();
    }
    if !args.storms.is_empty() {
        plan.storms = args
            .storms
            .iter()
            .map(|s| {
                let (c, b) = s.split_once('x').context("--storms wants CLIENTSxBYTES")?;
                Ok((c.parse()?, b.parse()?))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(n) = args.memory_connections {
        plan.memory_connections = n;
    }
    if !args.rates.is_empty() {
        plan.rates = args.rates.clone();
    }
    let tmp = args.out.join(format!("tmp-{}", std::process::id()));
    let cache = args.out.join("cache");
    let peers_dir = std::fs::canonicalize(&args.peers_dir)
        .with_context(|| format!("{} (run scripts/bench.sh)", args.peers_dir.display()))?;
    let ours_bin = std::fs::canonicalize(&args.ours).with_context(|| {
        format!(
            "{} (cargo build --release -p sync-server)",
            args.ours.display()
        )
    })?;
    let mut targets = Vec::new();
    for name in &args.targets {
        targets.push(match name.as_str() {
            "ours" => Target::ours(&ours_bin),
            "y-websocket" => Target::node(name, Framing::Yjs, &peers_dir, "y-websocket-server.mjs"),
            "hocuspocus" => Target::node(
                name,
                Framing::Hocuspocus,
                &peers_dir,
                "hocuspocus-server.mjs",
            ),
            other => anyhow::bail!("unknown target {other}"),
        });
    }

    eprintln!("== trace: generating (or loading cached) per-keystroke updates with yrs");
    let t = Instant::now();
    let trace = trace::load(&args.trace)?;
    let primary = trace::updates(&trace, trace::CLIENT_BASE, usize::MAX, &cache)?;
    let rate_max = plan.rates.iter().copied().fold(0.0, f64::max);
    let hot_need = ((rate_max / 4.0) * plan.step_seconds).ceil() as usize + 1;
    let mut streams = vec![Arc::new(primary.updates.clone())];
    for w in 1..4 {
        streams.push(Arc::new(
            trace::updates(&trace, trace::CLIENT_BASE + w, hot_need, &cache)?.updates,
        ));
    }
    eprintln!(
        "   {} updates ({} bytes compacted) from {} in {:.1} s; cache {}",
        primary.updates.len(),
        primary.compacted.len(),
        args.trace.display(),
        t.elapsed().as_secs_f64(),
        trace::cache_path(&cache, trace::CLIENT_BASE).display()
    );

    let wants = |s: &str| args.scenarios.iter().any(|x| x == s);
    if let Some(s) = args
        .scenarios
        .iter()
        .find(|s| !report::SCENARIOS.contains(&s.as_str()))
    {
        anyhow::bail!("unknown scenario {s}");
    }
    let mut results = json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "scenarios": args.scenarios,
        "machine": report::machine(),
        "targets": targets.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
        "trace": { "updates": primary.updates.len(), "compacted_bytes": primary.compacted.len() },
    });
    for s in report::SCENARIOS {
        if wants(s) {
            results[s] = json!({});
        }
    }

    if wants("fanout") {
        for target in &targets {
            eprintln!("== (a) fan-out, {}", target.name);
            let server = servers::start(target, &tmp, None, &[]).await?;
            let mut rows = Vec::new();
            for &n in &plan.fanout {
                let shape = Shape {
                    rooms: 1,
                    writers: 1,
                    readers: n,
                    rate: 50.0,
                    seconds: plan.fanout_seconds,
                    ext: false,
                };
                match scenarios::run_shape(&server, target, shape, &streams).await {
                    Ok(r) => {
                        eprintln!(
                            "   N={n}: p50 {:.2} ms p99 {:.2} ms, {:.0} deliveries/s, lost {}",
                            r.latency.p50_ms, r.latency.p99_ms, r.deliveries_per_s, r.lost
                        );
                        rows.push(json!({ "readers": n, "result": r }));
                    }
                    Err(e) => {
                        eprintln!("   N={n}: failed: {e:#}");
                        rows.push(json!({ "readers": n, "error": format!("{e:#}") }));
                    }
                }
            }
            server.kill().await;
            results["fanout"][&target.name] = json!(rows);
        }
    }

    if wants("throughput") {
        let shapes = [
            ("hot room: 4 writers, 16 readers", 1, 4, 16),
            ("100 rooms: 1 writer, 2 readers each", 100, 1, 2),
        ];
        for target in &targets {
            let variants: &[bool] = if target.ours {
                &[false, true]
            } else {
                &[false]
            };
            for &ext in variants {
                let name = if ext {
                    format!("{} (durable acks)", target.name)
                } else {
                    target.name.clone()
                };
                for (label, rooms, writers, readers) in shapes {
                    eprintln!("== (b) max sustained updates/s, {name}, {label}");
                    let server = servers::start(target, &tmp, None, &[]).await?;
                    let base = Shape {
                        rooms,
                        writers,
                        readers,
                        rate: 0.0,
                        seconds: plan.step_seconds,
                        ext,
                    };
                    let steps = scenarios::ramp(&server, target, base, &plan.rates, &streams).await;
                    server.kill().await;
                    for s in &steps {
                        eprintln!(
                            "   {:>7.0}/s: sent {:.0}/s, p99 {:.2} ms, ack p99 {}, lost {}, errors {}, client CPU {:.0}%",
                            s.target_rate,
                            s.sent_per_s,
                            s.latency.p99_ms,
                            s.ack_latency.as_ref().map_or("-".into(), |a| format!("{:.2} ms", a.p99_ms)),
                            s.lost,
                            s.errors,
                            100.0 * s.client_cpu_s / (s.deliveries as f64 / s.deliveries_per_s.max(1.0)).max(1e-9)
                        );
                    }
                    results["throughput"][label][&name] = json!(steps);
                }
            }
        }
    }

    if wants("memory") {
        for target in &targets {
            for &each in &plan.memory_shapes {
                let label = if each {
                    "one room per connection"
                } else {
                    "one room"
                };
                eprintln!(
                    "== (c) memory per idle connection, {}, {} connections, {label}",
                    target.name, plan.memory_connections
                );
                let r = scenarios::memory(
                    target,
                    &tmp,
                    plan.memory_connections,
                    each,
                    plan.memory_settle,
                )
                .await;
                match r {
                    Ok(r) => {
                        eprintln!("   {:.0} bytes per connection", r.bytes_per_connection);
                        results["memory"][label][&target.name] = json!(r);
                    }
                    Err(e) => {
                        eprintln!("   failed: {e:#}");
                        results["memory"][label][&target.name] =
                            json!({ "error": format!("{e:#}") });
                    }
                }
            }
        }
    }

    if wants("load") {
        let raw_n = plan.raw_log.min(primary.updates.len());
        let raw_label = format!("raw log of {raw_n} updates");
        for target in &targets {
            eprintln!("== (d) cold load, {}", target.name);
            let r = scenarios::cold_load(target, &tmp, &primary.compacted, None).await;
            report_load(&mut results, "compacted", &target.name, r);
            if target.ours {
                eprintln!("== (d) cold load, {}, {raw_label}", target.name);
                let r = scenarios::cold_load(
                    target,
                    &tmp,
                    &primary.compacted,
                    Some(&primary.updates[..raw_n]),
                )
                .await;
                report_load(&mut results, &raw_label, &target.name, r);
            }
        }
    }

    if wants("join-storm") {
        for &(clients, bytes) in &plan.storms {
            let label = report::storm_label(clients, bytes);
            let doc = Arc::new(bigdoc::make(bytes, 7_000, 7));
            for target in &targets {
                eprintln!(
                    "== (f) join storm, {}, {label} ({} pieces, {} bytes encoded)",
                    target.name,
                    doc.pieces.len(),
                    doc.encoded_bytes
                );
                let limit = std::time::Duration::from_secs_f64(plan.storm_limit);
                let r = bigdoc::join_storm(target, &tmp, doc.clone(), clients, limit).await;
                results["join-storm"][&label][&target.name] = match r {
                    Ok(r) => {
                        eprintln!(
                            "   {} of {} held it: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; peak RSS {:.0} MB; {:.1} MB to the clients{}",
                            r.held,
                            r.clients,
                            r.latency.p50_ms,
                            r.latency.p99_ms,
                            r.latency.max_ms,
                            r.peak_rss_mb,
                            r.bytes_to_clients as f64 / 1e6,
                            if r.failures.is_empty() {
                                String::new()
                            } else {
                                format!("; failures: {:?}", r.failures)
                            }
                        );
                        json!(r)
                    }
                    Err(e) => {
                        eprintln!("   failed: {e:#}");
                        json!({
                            "error": format!("{e:#}"),
                            "doc_text_bytes": doc.text.len(),
                            "doc_encoded_bytes": doc.encoded_bytes,
                            "pieces": doc.pieces.len(),
                            "limit_s": plan.storm_limit,
                        })
                    }
                };
            }
        }
    }

    if wants("doc-memory") {
        let most = plan.doc_levels.iter().copied().max().unwrap_or(0);
        eprintln!(
            "== (g) generating {most} documents of {} bytes",
            plan.doc_bytes
        );
        let docs = Arc::new(
            (0..most)
                .map(|i| bigdoc::make(plan.doc_bytes, 8_000 + i as u64, 100 + i as u64))
                .collect::<Vec<_>>(),
        );
        for target in &targets {
            eprintln!(
                "== (g) memory per loaded document, {}, {:?} documents",
                target.name, plan.doc_levels
            );
            let settle = std::time::Duration::from_secs_f64(plan.doc_settle);
            let r = bigdoc::doc_memory(target, &tmp, docs.clone(), &plan.doc_levels, settle).await;
            results["doc-memory"][&target.name] = match r {
                Ok(r) => {
                    for l in &r.levels {
                        eprintln!(
                            "   {} documents: RSS {:.1} MB (+{:.1} MB), {:.2} bytes of RSS growth per document byte",
                            l.documents, l.rss_mb, l.rss_growth_mb, l.growth_per_doc_byte
                        );
                    }
                    json!(r)
                }
                Err(e) => {
                    eprintln!("   failed: {e:#}");
                    json!({ "error": format!("{e:#}") })
                }
            };
        }
    }

    if wants("history") {
        match targets.iter().find(|t| t.ours) {
            Some(target) => {
                let params = history::Params {
                    updates: plan.history_updates,
                    every: plan.history_every,
                    requests: plan.history_requests,
                };
                eprintln!(
                    "== (h) history, {}: the trace typed with a version every {} keystrokes",
                    target.name, params.every
                );
                let r = history::run(target, &tmp, &trace, &primary.updates, params).await;
                results["history"][&target.name] = match r {
                    Ok(r) => {
                        eprintln!(
                            "   {} versions; file {:.1} kB with history, {:.1} kB without; list p50 {:.2} ms ({} bytes), newest text p50 {:.2} ms, oldest {:.2} ms",
                            r.versions,
                            r.kept.file_bytes as f64 / 1e3,
                            r.compacted.file_bytes as f64 / 1e3,
                            r.list.latency.p50_ms,
                            r.list.bytes,
                            r.text_newest.latency.p50_ms,
                            r.text_oldest.latency.p50_ms,
                        );
                        json!(r)
                    }
                    Err(e) => {
                        eprintln!("   failed: {e:#}");
                        json!({ "error": format!("{e:#}") })
                    }
                };
            }
            None => eprintln!("== (h) history: only ours keeps history, and it is not a target"),
        }
    }

    results["widget"] = widget_size(&args.widget_dir);
    merge_browser(&args, &mut results);

    results["seconds"] = json!(began.elapsed().as_secs_f64());
    results["loadavg_end"] = json!(report::loadavg());
    results["complete"] = report::completeness(&results);
    std::fs::create_dir_all(&args.out)?;
    let mode = results["mode"].as_str().unwrap_or("run").to_owned();
    let json_path = args.out.join(format!("results-{mode}.json"));
    std::fs::write(&json_path, serde_json::to_vec_pretty(&results)?)?;
    eprintln!("wrote {}", json_path.display());
    write_reports(&args, &results)?;
    if std::env::var_os("SYNC_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let incomplete: Vec<_> = results["complete"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v != &&json!(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if !incomplete.is_empty() {
        anyhow::bail!("incomplete report for: {}", incomplete.join(", "));
    }
    Ok(())
}

fn report_load(
    results: &mut Value,
    label: &str,
    name: &str,
    r: anyhow::Result<scenarios::LoadResult>,
) {
    match r {
        Ok(r) => {
            eprintln!(
                "   first join {:.1} ms, loaded {:.1} ms, SyncStep2 {} bytes ({})",
                r.first_ms, r.loaded_ms, r.step2_bytes, r.how
            );
            results["load"][label][name] = json!(r);
        }
        Err(e) => {
            eprintln!("   failed: {e:#}");
            results["load"][label][name] = json!({ "error": format!("{e:#}") });
        }
    }
}

/// (e) in headless Chromium: the JSON `bench/browser/run.mjs` wrote, under `browser` (an
/// `error` there when the file cannot be read, so the report says why it has no figures).
fn merge_browser(args: &Args, results: &mut Value) {
    let Some(path) = &args.browser else {
        return;
    };
    results["browser"] = match std::fs::read(path)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| Ok(serde_json::from_slice::<Value>(&bytes)?))
    {
        Ok(browser) => browser,
        Err(e) => json!({ "error": format!("{}: {e:#}", path.display()) }),
    };
}

/// (e), the part that needs no browser: what the widget ships (wasm + JS), raw, gzip -9 and
/// brotli -q 11 (when the `brotli` tool is there). Null when the widget is not built.
fn widget_size(dir: &std::path::Path) -> Value {
    use std::io::Write as _;
    let files = [
        "index.js",
        "wasm/collab_textarea_widget.js",
        "wasm/collab_textarea_widget_bg.wasm",
    ];
    let (mut raw, mut gz, mut br) = (0u64, 0u64, Some(0u64));
    let mut each = Vec::new();
    for f in files {
        let path = dir.join(f);
        let Ok(bytes) = std::fs::read(&path) else {
            return Value::Null;
        };
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        if enc.write_all(&bytes).is_err() {
            return Value::Null;
        }
        let g = enc.finish().map_or(0, |v| v.len() as u64);
        let b = std::process::Command::new("brotli")
            .args(["-q", "11", "-c"])
            .arg(&path)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| o.stdout.len() as u64);
        raw += bytes.len() as u64;
        gz += g;
        br = br.zip(b).map(|(a, b)| a + b);
        each.push(json!({ "file": f, "raw": bytes.len(), "gzip": g, "brotli": b }));
    }
    json!({ "files": each, "raw": raw, "gzip": gz, "brotli": br })
}
