//! The report: machine description, completeness check, Markdown tables with ratios.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// Every scenario `--scenarios` accepts, in the report's order.
pub const SCENARIOS: [&str; 7] = [
    "fanout",
    "throughput",
    "memory",
    "load",
    "join-storm",
    "doc-memory",
    "history",
];

/// The heading each scenario's tables start with (what `splice` replaces).
fn heading(scenario: &str) -> &'static str {
    match scenario {
        "fanout" => "### (a)",
        "throughput" => "### (b)",
        "memory" => "### (c)",
        "load" => "### (d)",
        "join-storm" => "### (f)",
        "doc-memory" => "### (g)",
        "history" => "### (h)",
        _ => "### (?)",
    }
}

/// The key of one join storm in the results: "150 clients × 4.0 MB".
pub fn storm_label(clients: usize, bytes: usize) -> String {
    format!("{clients} clients × {:.1} MB", bytes as f64 / 1e6)
}

fn cmd(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The 1-minute load average: how busy the shared machine was (the run adds about 1–2).
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(0.0, |k| k / 1e6);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or("?")
        .trim_matches('"')
        .to_owned();
    json!({
        "cpu": model, "cores": cores, "memory_gb": (mem_gb * 10.0).round() / 10.0, "os": os,
        "kernel": cmd("uname", &["-r"]), "rustc": cmd("rustc", &["-V"]), "node": cmd("node", &["-v"]),
        "date": cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        "loadavg_start": loadavg(),
    })
}

/// For each target: `true`, or the list of what is missing from its report.
pub fn completeness(r: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for t in r["targets"].as_array().into_iter().flatten() {
        let name = t.as_str().unwrap_or("?");
        let ours = name == "ours";
        let mut missing = Vec::new();
        let fan = &r["fanout"][name];
        if !r["fanout"].is_null()
            && fan.as_array().is_none_or(|rows| {
                rows.is_empty()
                    || rows
                        .iter()
                        .any(|row| row["result"]["deliveries"].as_u64().is_none_or(|d| d == 0))
            })
        {
            missing.push("fanout".to_owned());
        }
        for (shape, per) in r["throughput"].as_object().into_iter().flatten() {
            let mut names = vec![name.to_owned()];
            if ours {
                names.push(format!("{name} (durable acks)"));
            }
            for n in names {
                let ok = per[&n].as_array().is_some_and(|steps| {
                    steps
                        .iter()
                        .any(|s| s["deliveries"].as_u64().is_some_and(|d| d > 0))
                });
                if !ok {
                    missing.push(format!("throughput/{shape}/{n}"));
                }
            }
        }
        if r["throughput"].as_object().is_some_and(|o| o.is_empty()) {
            missing.push("throughput".into());
        }
        for (shape, per) in r["memory"].as_object().into_iter().flatten() {
            if per[name]["bytes_per_connection"].as_f64().is_none() {
                missing.push(format!("memory/{shape}"));
            }
        }
        if r["memory"].as_object().is_some_and(|o| o.is_empty()) {
            missing.push("memory".into());
        }
        for (doc, per) in r["load"].as_object().into_iter().flatten() {
            let applies = ours || doc == "compacted";
            if applies && per[name]["first_ms"].as_f64().is_none() {
                missing.push(format!("load/{doc}"));
            }
        }
        if r["load"].as_object().is_some_and(|o| o.is_empty()) {
            missing.push("load".into());
        }
        // A join storm is measured when it ran to the end. Our clients failing to get the
        // document is a finding the report shows; the reference servers failing means the
        // instrument is broken (they are the yardstick), so that is missing.
        for (storm, per) in r["join-storm"].as_object().into_iter().flatten() {
            let x = &per[name];
            let ran = x["clients"].as_u64().is_some();
            if !ran || (!ours && x["failed"].as_u64() != Some(0)) {
                missing.push(format!("join-storm/{storm}"));
            }
        }
        if r["join-storm"].as_object().is_some_and(|o| o.is_empty()) {
            missing.push("join-storm".into());
        }
        if ours && !r["history"].is_null() && r["history"][name]["versions"].as_u64().is_none() {
            missing.push("history".into());
        }
        if !r["doc-memory"].is_null()
            && r["doc-memory"][name]["levels"]
                .as_array()
                .is_none_or(Vec::is_empty)
        {
            missing.push("doc-memory".into());
        }
        out.insert(
            name.to_owned(),
            if missing.is_empty() {
                json!(true)
            } else {
                json!(missing)
            },
        );
    }
    Value::Object(out)
}

fn f(v: &Value, digits: usize) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => match v.as_f64() {
            Some(x) if x.is_finite() => format!("{x:.digits$}"),
            _ => "—".into(),
        },
    }
}

fn ratio(ours: &Value, peer: &Value) -> String {
    match (ours.as_f64(), peer.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

/// The best step of a ramp that passed (p99 ≤ 50 ms, nothing lost, rate kept), and the first
/// that did not.
fn ramp_summary(steps: &Value) -> (Option<&Value>, Option<&Value>) {
    let mut best = None;
    let mut failed = None;
    for s in steps.as_array().into_iter().flatten() {
        let ack_ok = s["ack_latency"].is_null()
            || (s["ack_latency"]["p99_ms"].as_f64().unwrap_or(f64::MAX) <= 50.0
                && s["acked"].as_u64() >= s["sent"].as_u64());
        let ok = s["errors"].as_u64() == Some(0)
            && s["lost"].as_u64() == Some(0)
            && s["latency"]["p99_ms"].as_f64().unwrap_or(f64::MAX) <= 50.0
            && ack_ok
            && s["sent_per_s"].as_f64().unwrap_or(0.0)
                >= 0.9 * s["target_rate"].as_f64().unwrap_or(f64::MAX);
        if ok {
            best = Some(s);
        } else if failed.is_none() {
            failed = Some(s);
        }
    }
    (best, failed)
}

/// Columns: every target, then ours ÷ each peer.
struct Table {
    names: Vec<String>,
    peers: Vec<String>,
    out: String,
}

impl Table {
    fn new(first: &str, names: &[String]) -> Table {
        let peers: Vec<String> = names
            .iter()
            .filter(|n| !n.starts_with("ours"))
            .cloned()
            .collect();
        let mut out = format!("| {first} | {} |", names.join(" | "));
        for p in &peers {
            let _ = write!(out, " ours ÷ {p} |");
        }
        out.push_str("\n|---|");
        for _ in 0..names.len() + peers.len() {
            out.push_str("---:|");
        }
        out.push('\n');
        Table {
            names: names.to_vec(),
            peers,
            out,
        }
    }

    fn row(&mut self, label: &str, get: impl Fn(&str) -> Value, digits: usize) {
        let _ = write!(self.out, "| {label} |");
        for n in &self.names {
            let _ = write!(self.out, " {} |", f(&get(n), digits));
        }
        for p in &self.peers {
            let _ = write!(self.out, " {} |", ratio(&get("ours"), &get(p)));
        }
        self.out.push('\n');
    }
}

fn target_names(r: &Value) -> Vec<String> {
    r["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Every table of the results, in the report's order; a scenario that did not run has none.
pub fn tables(r: &Value) -> String {
    let names = target_names(r);
    let mut md = String::new();
    for s in ["fanout", "throughput", "memory", "load"] {
        md.push_str(&section(r, s, &names));
    }
    md.push_str(&widget_tables(r));
    for s in ["join-storm", "doc-memory", "history"] {
        md.push_str(&section(r, s, &names));
    }
    md
}

/// The tables of one scenario (`SCENARIOS`), starting with its `### (x)` heading.
fn section(r: &Value, scenario: &str, names: &[String]) -> String {
    if r[scenario].is_null() {
        return String::new();
    }
    match scenario {
        "fanout" => fanout_tables(r, names),
        "throughput" => throughput_tables(r, names),
        "memory" => memory_tables(r, names),
        "load" => load_tables(r, names),
        "join-storm" => storm_tables(r, names),
        "doc-memory" => doc_memory_tables(r, names),
        "history" => history_tables(r),
        _ => String::new(),
    }
}

fn fanout_tables(r: &Value, names: &[String]) -> String {
    let mut md = String::new();
    md.push_str("### (a) Fan-out: 1 writer at 50 updates/s → N readers, one room\n\n");
    let rows = r["fanout"][names.first().map_or("ours", String::as_str)]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for row in &rows {
        let n = row["readers"].as_u64().unwrap_or(0);
        let mut t = Table::new(&format!("N = {n}"), names);
        let at = |name: &str| -> Value {
            r["fanout"][name]
                .as_array()
                .and_then(|rows| rows.iter().find(|x| x["readers"].as_u64() == Some(n)))
                .map(|x| x["result"].clone())
                .unwrap_or(Value::Null)
        };
        t.row(
            "latency p50 (ms)",
            |x| at(x)["latency"]["p50_ms"].clone(),
            2,
        );
        t.row(
            "latency p99 (ms)",
            |x| at(x)["latency"]["p99_ms"].clone(),
            2,
        );
        t.row(
            "latency max (ms)",
            |x| at(x)["latency"]["max_ms"].clone(),
            2,
        );
        t.row("deliveries/s", |x| at(x)["deliveries_per_s"].clone(), 0);
        t.row("lost deliveries", |x| at(x)["lost"].clone(), 0);
        t.row(
            "server CPU µs / delivery",
            |x| at(x)["cpu_us_per_delivery"].clone(),
            2,
        );
        t.row("server RSS (MB)", |x| at(x)["server_rss_mb"].clone(), 1);
        t.row(
            "wire bytes / delivery",
            |x| at(x)["wire_bytes_per_delivery"].clone(),
            1,
        );
        md.push_str(&t.out);
        md.push('\n');
    }
    md
}

fn throughput_tables(r: &Value, names: &[String]) -> String {
    let mut md = String::new();
    md.push_str("### (b) Maximum sustained updates/s with p99 ≤ 50 ms (rate ×1.5 per step; a failed step is run twice)\n\n");
    md.push_str("“ours (durable acks)” connects its writers with `?ext=1` and also needs the p99 of the \
time from sending an update to its durable acknowledgement ≤ 50 ms, with every update acknowledged.\n\n");
    for (shape, per) in r["throughput"].as_object().into_iter().flatten() {
        let mut cols = names.to_vec();
        if names.iter().any(|n| n == "ours") {
            cols.insert(1, "ours (durable acks)".into());
        }
        let mut t = Table::new(shape, &cols);
        let best = |n: &str| ramp_summary(&per[n]).0.cloned().unwrap_or(Value::Null);
        let fail = |n: &str| ramp_summary(&per[n]).1.cloned().unwrap_or(Value::Null);
        t.row(
            "max sustained updates/s",
            |n| best(n)["target_rate"].clone(),
            0,
        );
        t.row("… deliveries/s", |n| best(n)["deliveries_per_s"].clone(), 0);
        t.row(
            "… latency p50 (ms)",
            |n| best(n)["latency"]["p50_ms"].clone(),
            2,
        );
        t.row(
            "… latency p99 (ms)",
            |n| best(n)["latency"]["p99_ms"].clone(),
            2,
        );
        t.row(
            "… ack latency p99 (ms)",
            |n| best(n)["ack_latency"]["p99_ms"].clone(),
            2,
        );
        t.row(
            "… acked updates/s",
            |n| {
                if best(n)["ack_latency"].is_null() {
                    Value::Null
                } else {
                    best(n)["acked_per_s"].clone()
                }
            },
            0,
        );
        t.row(
            "… server CPU µs / delivery",
            |n| best(n)["cpu_us_per_delivery"].clone(),
            2,
        );
        t.row("… server RSS (MB)", |n| best(n)["server_rss_mb"].clone(), 1);
        t.row(
            "… bench client CPU (s)",
            |n| best(n)["client_cpu_s"].clone(),
            2,
        );
        t.row("… server CPU (s)", |n| best(n)["server_cpu_s"].clone(), 2);
        t.row(
            "next step: asked updates/s",
            |n| fail(n)["target_rate"].clone(),
            0,
        );
        t.row(
            "next step: sent updates/s",
            |n| fail(n)["sent_per_s"].clone(),
            0,
        );
        t.row(
            "next step: latency p99 (ms)",
            |n| fail(n)["latency"]["p99_ms"].clone(),
            1,
        );
        t.row(
            "next step: ack p99 (ms)",
            |n| fail(n)["ack_latency"]["p99_ms"].clone(),
            1,
        );
        t.row("next step: lost deliveries", |n| fail(n)["lost"].clone(), 0);
        md.push_str(&t.out);
        md.push('\n');
    }
    md
}

fn memory_tables(r: &Value, names: &[String]) -> String {
    let mut md = String::new();
    md.push_str("### (c) Memory per idle connection (RSS growth ÷ connections, fresh server)\n\n");
    for (shape, per) in r["memory"].as_object().into_iter().flatten() {
        let n = per
            .as_object()
            .and_then(|o| o.values().find_map(|v| v["connections"].as_u64()))
            .unwrap_or(0);
        let mut t = Table::new(&format!("{n} connections, {shape}"), names);
        t.row(
            "bytes / connection",
            |x| per[x]["bytes_per_connection"].clone(),
            0,
        );
        t.row("RSS before (MB)", |x| per[x]["rss_before_mb"].clone(), 1);
        t.row("RSS after (MB)", |x| per[x]["rss_after_mb"].clone(), 1);
        md.push_str(&t.out);
        md.push('\n');
    }
    md
}

fn load_tables(r: &Value, names: &[String]) -> String {
    let mut md = String::new();
    md.push_str(
        "### (d) Load of the whole automerge-paper document: SyncStep1 → complete SyncStep2\n\n",
    );
    md.push_str("“first join” is the first client after the server started: ours loads the document \
from SQLite (cold); the peers have no persistence configured, so a holder client uploaded the document \
first and it is in memory. “loaded” is the median of three more joins while it is in memory.\n\n");
    for (doc, per) in r["load"].as_object().into_iter().flatten() {
        let mut t = Table::new(doc, names);
        t.row("first join (ms)", |x| per[x]["first_ms"].clone(), 1);
        t.row("loaded join (ms)", |x| per[x]["loaded_ms"].clone(), 1);
        t.row("SyncStep2 bytes", |x| per[x]["step2_bytes"].clone(), 0);
        md.push_str(&t.out);
        md.push('\n');
    }
    md
}

/// (e): what the widget ships, and the browser part when it ran.
fn widget_tables(r: &Value) -> String {
    let mut md = String::new();
    if let Some(files) = r["widget"]["files"].as_array() {
        md.push_str("### (e) Widget: shipped bytes (npm package, wasm + JS)\n\n");
        md.push_str("| file | raw | gzip -9 | brotli -q 11 |\n|---|---:|---:|---:|\n");
        for x in files.iter().chain(std::iter::once(&r["widget"])) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                x["file"].as_str().unwrap_or("**total**"),
                f(&x["raw"], 0),
                f(&x["gzip"], 0),
                f(&x["brotli"], 0)
            );
        }
        md.push('\n');
    }
    if !r["browser"].is_null() {
        md.push_str(&browser_table(&r["browser"]));
    }
    md
}

const TARGETS_HEADING: &str =
    "## Targets (ratios to the y-websocket reference server in the same run)";
const TARGETS_HEADER: &str = "| target | wanted | measured | met |\n|---|---|---|---|\n";

fn targets_section(r: &Value) -> String {
    let mut md = format!("{TARGETS_HEADING}\n\n{TARGETS_HEADER}");
    for row in target_rows(r, None) {
        md.push_str(&row);
    }
    md.push('\n');
    md
}

/// One row of the targets table.
fn target_row(
    what: &str,
    wanted: &str,
    measured: Option<f64>,
    ok: &dyn Fn(f64) -> bool,
    unit: &str,
) -> String {
    let (m, met) = match measured {
        Some(x) if x.is_finite() => (
            format!("{x:.2}{unit}"),
            if ok(x) { "yes" } else { "**no**" },
        ),
        _ => ("—".into(), "not measured"),
    };
    format!("| {what} | {wanted} | {m} | {met} |\n")
}

/// The targets table's rows, of every scenario or only of those in `only` (a run of some).
fn target_rows(r: &Value, only: Option<&[String]>) -> Vec<String> {
    let show = |s: &str| only.is_none_or(|o| o.iter().any(|x| x == s));
    let mut rows = Vec::new();
    let yws = "y-websocket";
    let fan = |name: &str, n: u64| -> Value {
        r["fanout"][name]
            .as_array()
            .and_then(|rows| rows.iter().find(|x| x["readers"].as_u64() == Some(n)))
            .map(|x| x["result"].clone())
            .unwrap_or(Value::Null)
    };
    let big = r["fanout"]["ours"]
        .as_array()
        .and_then(|rows| rows.iter().filter_map(|x| x["readers"].as_u64()).max())
        .unwrap_or(0);
    let mut line =
        |what: &str, wanted: &str, measured: Option<f64>, ok: &dyn Fn(f64) -> bool, unit: &str| {
            rows.push(target_row(what, wanted, measured, ok, unit));
        };
    let div = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    if show("fanout") {
        line(
            &format!("fan-out p99 at N={big}, ours ÷ y-websocket"),
            "≤ 0.33×",
            div(
                &fan("ours", big)["latency"]["p99_ms"],
                &fan(yws, big)["latency"]["p99_ms"],
            ),
            &|x| x <= 1.0 / 3.0,
            "×",
        );
        line(
            &format!("server CPU per delivery (fan-out N={big}), ours ÷ y-websocket"),
            "≤ 0.33×",
            div(
                &fan("ours", big)["cpu_us_per_delivery"],
                &fan(yws, big)["cpu_us_per_delivery"],
            ),
            &|x| x <= 1.0 / 3.0,
            "×",
        );
    }
    let mem = &r["memory"]["one room"];
    if show("memory") {
        line(
            "memory per idle connection (one room), ours ÷ y-websocket",
            "≤ 0.5×",
            div(
                &mem["ours"]["bytes_per_connection"],
                &mem[yws]["bytes_per_connection"],
            ),
            &|x| x <= 0.5,
            "×",
        );
    }
    let load = &r["load"]["compacted"];
    if show("load") {
        line(
            "load of the compacted trace (ours cold from SQLite ÷ y-websocket in memory)",
            "≤ 0.33×",
            div(&load["ours"]["first_ms"], &load[yws]["first_ms"]),
            &|x| x <= 1.0 / 3.0,
            "×",
        );
    }
    let steps = &r["throughput"]["100 rooms: 1 writer, 2 readers each"]["ours (durable acks)"];
    let best = ramp_summary(steps).0;
    if show("throughput") {
        line(
            "durable acknowledged updates/s, 100 rooms, ack p99 < 50 ms",
            "≥ 20,000/s",
            best.and_then(|b| b["acked_per_s"].as_f64()).or(Some(0.0)),
            &|x| x >= 20_000.0,
            "/s",
        );
    }
    let w = &r["widget"];
    if show("widget") {
        line(
            "widget shipped bytes, wasm + JS, gzip -9 (kB)",
            "< 120 kB",
            w["gzip"].as_f64().map(|b| b / 1000.0),
            &|x| x < 120.0,
            " kB",
        );
    }
    let b = &r["browser"];
    if !show("browser") {
    } else if b["remote_apply"].is_object() || b["keystrokes"].is_object() {
        let ra = &b["remote_apply"];
        line(
            "widget: remote apply of the trace's updates over a WebSocket (headless Chromium), widget ÷ yjs 13.6.33 time",
            "< 1× (faster)",
            div(&ra["widget"]["ms"], &ra["yjs"]["ms"]),
            &|x| x < 1.0,
            "×",
        );
        let chars = b["keystrokes"]["end"]["widget"]["chars"]
            .as_u64()
            .unwrap_or(0);
        let worst = ["end", "middle"]
            .iter()
            .filter_map(|w| b["keystrokes"][*w]["widget"]["update"]["p99_ms"].as_f64())
            .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
        line(
            &format!(
                "widget: keystroke p99 at {chars} characters, input event → update sent (worse of end and middle)"
            ),
            "< 1 ms",
            worst,
            &|x| x < 1.0,
            " ms",
        );
    } else {
        let why = b["error"].as_str().map_or(
            "the browser part of scenario (e) did not run".to_owned(),
            |e| {
                format!(
                    "the browser part of scenario (e) failed: {}",
                    e.replace('|', "/")
                )
            },
        );
        rows.push(format!(
            "| widget: remote apply vs yjs 13.6.33, keystroke p99 at 100 KB (headless Chromium) | faster; < 1 ms | — | not measured ({why}) |\n"
        ));
    }
    if show("join-storm") {
        rows.extend(storm_target_rows(r));
    }
    rows
}

/// Why a join storm has no figure for a server: not measured, or some clients never held the
/// document (then its time and memory do not count: the work was not done).
fn storm_failure(x: &Value, who: &str) -> Option<String> {
    if x["clients"].as_u64().is_none() {
        return Some(format!("{who}: not measured"));
    }
    match x["failed"].as_u64() {
        Some(0) => None,
        Some(n) => Some(format!(
            "{who}: failed: {n} of {} clients never held the document",
            x["clients"]
        )),
        None => Some(format!("{who}: not measured")),
    }
}

/// (f): p99 ≤ 1/3 and peak RSS ≤ 1/5 of y-websocket's, for each storm.
fn storm_target_rows(r: &Value) -> Vec<String> {
    let mut rows = Vec::new();
    for (label, per) in r["join-storm"].as_object().into_iter().flatten() {
        let (o, y) = (&per["ours"], &per["y-websocket"]);
        let cases: [(&str, &str, &[&str], f64); 2] = [
            (
                "p99 connect → whole document",
                "≤ 0.33×",
                &["latency", "p99_ms"],
                1.0 / 3.0,
            ),
            ("peak server RSS", "≤ 0.2×", &["peak_rss_mb"], 0.2),
        ];
        for (what, wanted, path, limit) in cases {
            let what = format!("join storm, {label}: {what}, ours ÷ y-websocket");
            let get = |v: &Value| path.iter().fold(v, |v, k| &v[*k]).as_f64();
            let row = match (storm_failure(o, "ours"), storm_failure(y, "y-websocket")) {
                (Some(why), _) => format!("| {what} | {wanted} | {why} | **no** |\n"),
                (None, Some(why)) => format!("| {what} | {wanted} | {why} | not measured |\n"),
                (None, None) => target_row(
                    &what,
                    wanted,
                    get(o)
                        .zip(get(y))
                        .and_then(|(a, b)| (b > 0.0).then_some(a / b)),
                    &|x| x <= limit,
                    "×",
                ),
            };
            rows.push(row);
        }
    }
    rows
}

/// (e) in headless Chromium: the widget and the yjs baseline in the same page (bench/browser).
fn browser_table(b: &Value) -> String {
    let mut md = String::from(
        "### (e) Widget in headless Chromium against yjs 13.6.33 in the same page\n\n",
    );
    if !(b["remote_apply"].is_object() || b["cold_load"].is_object()) {
        let _ = writeln!(
            md,
            "Not measured: {}.\n",
            b["error"]
                .as_str()
                .unwrap_or("the browser benchmark did not run")
        );
        return md;
    }
    let cold_n = b["cold_load"]["widget"]["runs"]
        .as_array()
        .map_or(0, Vec::len);
    let _ = writeln!(
        md,
        "{}, {} mode, {:.0} s; 1-minute load average {} at the start, {} at the end. Remote apply and local \
replay: the first {} of the trace's {} updates (generated with yjs in Node, one transaction per patch; text {} \
characters). Cold load and keystrokes: a document of {} characters, compacted {} bytes. Times are `performance.now()` in the page (cross-origin isolated: 5 µs resolution); widget ÷ yjs below 1 means \
the widget is faster. See bench/NOTES.md, \"Scenario (e) in the browser\", for what each row includes.\n",
        b["browser"].as_str().unwrap_or("Chromium"),
        b["mode"].as_str().unwrap_or("?"),
        b["seconds"].as_f64().unwrap_or(0.0),
        f(&b["loadavg_start"], 2),
        f(&b["loadavg_end"], 2),
        b["trace"]["updates"],
        if b["trace"]["of_updates"].is_null() {
            &b["trace"]["updates"]
        } else {
            &b["trace"]["of_updates"]
        },
        if b["trace"]["prefix_chars"].is_null() {
            &b["trace"]["final_chars"]
        } else {
            &b["trace"]["prefix_chars"]
        },
        b["trace"]["final_chars"],
        b["trace"]["compacted_bytes"],
    );
    if b["partial"] == json!(true) {
        md.push_str(
            "**Partial run**: it stopped before every part was measured; missing rows show —.\n\n",
        );
    }
    md.push_str("| | widget | yjs 13.6.33 | widget ÷ yjs |\n|---|---:|---:|---:|\n");
    let mut row = |label: &str, w: &Value, y: &Value, digits: usize| {
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} |",
            f(w, digits),
            f(y, digits),
            ratio(w, y)
        );
    };
    let c = &b["cold_load"];
    row(
        &format!("cold load: import → textarea shows the document (ms, median of {cold_n})"),
        &c["widget"]["total_ms"],
        &c["yjs"]["total_ms"],
        1,
    );
    row(
        "… code: widget package JS + wasm / yjs + lib0 ES modules (ms)",
        &c["widget"]["code_ms"],
        &c["yjs"]["code_ms"],
        1,
    );
    row(
        "… document: connect to sync-server, sync, textarea (ms)",
        &c["widget"]["doc_ms"],
        &c["yjs"]["doc_ms"],
        1,
    );
    let ra = &b["remote_apply"];
    row(
        "remote apply, one WebSocket frame per update (ms)",
        &ra["widget"]["ms"],
        &ra["yjs"]["ms"],
        0,
    );
    row(
        "… updates/s",
        &ra["widget"]["updates_per_s"],
        &ra["yjs"]["updates_per_s"],
        0,
    );
    if let Some(batch) = ra["batch"].as_u64().filter(|n| *n > 1) {
        row(
            &format!("remote apply, {batch} update messages per WebSocket frame (ms)"),
            &ra[&format!("widget_batch{batch}")]["ms"],
            &ra[&format!("yjs_batch{batch}")]["ms"],
            0,
        );
    }
    row(
        "remote apply, yjs without a socket (updates already in the page) (ms)",
        &Value::Null,
        &ra["yjs_in_page"]["ms"],
        0,
    );
    let lr = &b["local_replay"];
    row(
        "local replay of the trace through the textarea (ms)",
        &lr["widget"]["ms"],
        &lr["yjs"]["ms"],
        0,
    );
    for (where_, label) in [("end", "at the end"), ("middle", "in the middle")] {
        let k = &b["keystrokes"][where_];
        let n = k["widget"]["update"]["n"].as_u64().unwrap_or(0);
        let chars = k["widget"]["chars"].as_u64().unwrap_or(0);
        for (p, name) in [("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")] {
            row(
                &format!(
                    "keystroke {label} of {chars} chars ({n}): input → update sent, {name} (ms)"
                ),
                &k["widget"]["update"][p],
                &k["yjs"]["update"][p],
                3,
            );
        }
        row(
            "… whole input handler, p99 (ms)",
            &k["widget"]["handler"]["p99_ms"],
            &k["yjs"]["handler"]["p99_ms"],
            3,
        );
    }
    let p = &b["probe"];
    if p.is_object() {
        row(
            &format!(
                "whole document as a string at {} chars: widget `text()` (yrs `get_string`) / `Y.Text.toString()` (ms, median)",
                p["chars"]
            ),
            &p["widget_text_ms"],
            &p["yjs_to_string_ms"],
            3,
        );
        row(
            "reading `textarea.value` (ms, median)",
            &p["widget_textarea_value_ms"],
            &p["yjs_textarea_value_ms"],
            3,
        );
    }
    if let Some(errors) = b["errors"].as_array().filter(|e| !e.is_empty()) {
        let _ = writeln!(
            md,
            "\nThe page reported {} errors or warnings; the first: `{}`",
            errors.len(),
            errors[0].as_str().unwrap_or("?").replace('`', "'")
        );
    }
    md.push('\n');
    md
}

pub fn markdown(r: &Value, notes: Option<&str>) -> String {
    let m = &r["machine"];
    let mut md = String::from("# Benchmarks\n\n");
    md.push_str(
        "<!-- Generated by scripts/bench.sh (sync-bench); do not edit by hand. \
Hand-written notes live in bench/NOTES.md and are copied in below. -->\n\n",
    );
    md.push_str("Our `sync-server` against the y-websocket reference server (`@y/websocket-server@0.1.1` \
with `yjs@13.6.33`) and Hocuspocus (`@hocuspocus/server@3.4.4`), all started on loopback by the same \
run on the same machine. The clients (`bench/`, the `sync-bench` binary: one tokio process, one \
monotonic clock for writers and readers) speak raw y-protocols frames with no CRDT, so every server \
pays the same client cost; writers replay real per-keystroke updates generated with yrs from the \
automerge-paper editing trace (`bench/data/`). On a shared 2-core machine the absolute numbers are \
noise — read the ratios (ours ÷ peer: below 1 is better for us for times, CPU and memory, above 1 \
for rates). The bench client shares the cores with the server under test.\n\n");
    md.push_str(&how_to_run());
    let _ = writeln!(
        md,
        "## Machine and run\n\n- mode: **{}**, {:.0} s; {}; 1-minute load average {} at the start, {} at the end (other jobs share this machine)\n- CPU: {} × {} cores, {} GB RAM\n- {} (kernel {}), {}, node {}\n- trace: {} updates, compacted document {} bytes\n",
        r["mode"].as_str().unwrap_or("?"),
        r["seconds"].as_f64().unwrap_or(0.0),
        m["date"].as_str().unwrap_or("?"),
        f(&m["loadavg_start"], 2),
        f(&r["loadavg_end"], 2),
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["memory_gb"],
        m["os"].as_str().unwrap_or("?"),
        m["kernel"].as_str().unwrap_or("?"),
        m["rustc"].as_str().unwrap_or("?"),
        m["node"].as_str().unwrap_or("?"),
        r["trace"]["updates"],
        r["trace"]["compacted_bytes"],
    );
    md.push_str(&targets_section(r));
    md.push_str("## Results\n\n");
    md.push_str(&tables(r));
    if let Some(notes) = notes {
        md.push('\n');
        md.push_str(notes.trim());
        md.push('\n');
    }
    md
}

/// A quantile of a join storm's times with the clients that never held the document counted
/// as infinitely slow: "never" when the quantile falls on one of them.
fn storm_quantile(x: &Value, q: f64) -> Value {
    let (Some(times), Some(n)) = (x["times_ms"].as_array(), x["clients"].as_u64()) else {
        return Value::Null;
    };
    if n == 0 {
        return Value::Null;
    }
    let at = ((n as f64 - 1.0) * q).round() as usize;
    times.get(at).cloned().unwrap_or_else(|| json!("never"))
}

fn storm_tables(r: &Value, names: &[String]) -> String {
    let mut md = String::from(
        "### (f) Join storm: clients join one large document at once (connect → holding the whole document)\n\n",
    );
    md.push_str("A fresh server; the document (plain text in `Y.Text(\"content\")`, made with yrs) is seeded \
through the server's protocol as Update messages of 512 KiB of text each; then every client connects at \
the same moment and sends SyncStep1 with an empty state vector. A client's time runs from its connect \
to the moment the SyncStep2 and Update payloads it received cover the document's whole state vector \
(struct headers read, no CRDT); after the storm, off the clock, each client's payloads are applied to a \
fresh yrs Doc and its text must equal the seeded text exactly, or the client counts as never holding it. \
Clients that never held the document count as infinitely slow in the quantiles (\"never\"). Peak RSS: \
the kernel's high-water mark (VmHWM), reset after seeding. Bytes sent: what the clients read from their \
sockets during the storm.\n\n");
    for (label, per) in r["join-storm"].as_object().into_iter().flatten() {
        let any = per
            .as_object()
            .and_then(|o| o.values().find(|v| v["doc_text_bytes"].as_u64().is_some()))
            .cloned()
            .unwrap_or(Value::Null);
        let _ = writeln!(
            md,
            "{label}: {} bytes of text, {} bytes as one update, seeded in {} Update message{}; each client gives up after {} s.\n",
            f(&any["doc_text_bytes"], 0),
            f(&any["doc_encoded_bytes"], 0),
            f(&any["pieces"], 0),
            if any["pieces"].as_u64() == Some(1) { "" } else { "s" },
            f(&any["limit_s"], 0),
        );
        let mut t = Table::new(label, names);
        t.row(
            "clients holding the whole document (checked exactly)",
            |x| per[x]["held"].clone(),
            0,
        );
        t.row(
            "clients that never held it",
            |x| per[x]["failed"].clone(),
            0,
        );
        t.row(
            "connect → whole document p50 (ms)",
            |x| storm_quantile(&per[x], 0.5),
            0,
        );
        t.row(
            "connect → whole document p99 (ms)",
            |x| storm_quantile(&per[x], 0.99),
            0,
        );
        t.row(
            "connect → whole document max (ms)",
            |x| storm_quantile(&per[x], 1.0),
            0,
        );
        t.row(
            "first connect → last client done (ms)",
            |x| per[x]["wall_ms"].clone(),
            0,
        );
        t.row(
            "server RSS before the storm (MB)",
            |x| per[x]["rss_before_mb"].clone(),
            1,
        );
        t.row(
            "peak server RSS during the storm (MB)",
            |x| per[x]["peak_rss_mb"].clone(),
            1,
        );
        t.row(
            "bytes sent to the clients (MB)",
            |x| {
                per[x]["bytes_to_clients"]
                    .as_f64()
                    .map_or(Value::Null, |b| json!(b / 1e6))
            },
            1,
        );
        t.row(
            "… ÷ (clients × document as one update)",
            |x| {
                let v = &per[x];
                match (
                    v["bytes_to_clients"].as_f64(),
                    v["clients"].as_f64(),
                    v["doc_encoded_bytes"].as_f64(),
                ) {
                    (Some(b), Some(c), Some(d)) if c * d > 0.0 => json!(b / (c * d)),
                    _ => Value::Null,
                }
            },
            2,
        );
        md.push_str(&t.out);
        md.push('\n');
        for n in names {
            let x = &per[n];
            if let Some(e) = x["error"].as_str() {
                let _ = writeln!(md, "- {n}: not measured: {}", e.replace('|', "/"));
            } else if let Some(why) = storm_failure(x, n) {
                let reasons: Vec<String> = x["failures"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{} ×{v}", k.replace('|', "/")))
                    .collect();
                let _ = writeln!(md, "- {why} ({})", reasons.join("; "));
            }
        }
        if names.iter().any(|n| storm_failure(&per[n], n).is_some()) {
            md.push('\n');
        }
    }
    md
}

fn doc_memory_tables(r: &Value, names: &[String]) -> String {
    let per = &r["doc-memory"];
    let any = per
        .as_object()
        .and_then(|o| o.values().find(|v| v["levels"].is_array()))
        .cloned()
        .unwrap_or(Value::Null);
    let mut md = format!(
        "### (g) Memory per loaded document: distinct documents of {} bytes of text ({} bytes as one update), one idle client each\n\n",
        f(&any["doc_text_bytes"], 0),
        f(&any["doc_encoded_bytes"], 0),
    );
    md.push_str("A fresh server and one warm connection; then documents are seeded as in (f), each by its own \
client, which stays connected and idle so that the server keeps the document loaded (in memory, as for \
an open editor). RSS is read after a short settle at each step. “Growth ÷ document bytes” is the RSS \
above the server with no document, divided by the loaded documents' encoded size: the memory a loaded \
document costs per byte of it (1.00 would be one copy).\n\n");
    let mut t = Table::new("documents loaded", names);
    t.row(
        "server RSS with none (MB)",
        |x| per[x]["rss_base_mb"].clone(),
        1,
    );
    for level in any["levels"].as_array().into_iter().flatten() {
        let n = level["documents"].as_u64().unwrap_or(0);
        let at = |x: &str| -> Value {
            per[x]["levels"]
                .as_array()
                .and_then(|l| l.iter().find(|v| v["documents"].as_u64() == Some(n)))
                .cloned()
                .unwrap_or(Value::Null)
        };
        t.row(
            &format!("{n}: RSS growth ÷ document bytes"),
            |x| at(x)["growth_per_doc_byte"].clone(),
            2,
        );
        t.row(
            &format!("{n}: server RSS (MB)"),
            |x| at(x)["rss_mb"].clone(),
            1,
        );
        t.row(
            &format!("{n}: server RSS ÷ document bytes"),
            |x| at(x)["rss_per_doc_byte"].clone(),
            2,
        );
    }
    md.push_str(&t.out);
    md.push('\n');
    for n in names {
        if let Some(e) = per[n]["error"].as_str() {
            let _ = writeln!(md, "- {n}: not measured: {}\n", e.replace('|', "/"));
        }
    }
    md
}

/// (h), ours only: storage with the history kept and without it, and the cost of reading it.
fn history_tables(r: &Value) -> String {
    let mut md = String::from(
        "### (h) History: storage with versions kept vs compacted, and reading versions (ours only)\n\n",
    );
    md.push_str("Ours only: y-websocket and Hocuspocus keep no history (as run here they store nothing at all), \
so there is nothing of theirs to compare.\n\n");
    let x = &r["history"]["ours"];
    if x["versions"].as_u64().is_none() {
        let why = x["error"]
            .as_str()
            .map_or("ours was not among the targets".to_owned(), |e| {
                e.replace('|', "/")
            });
        let _ = writeln!(md, "Not measured: {why}.\n");
        return md;
    }
    let kb = |v: &Value| v.as_f64().map_or(Value::Null, |b| json!(b / 1e3));
    let _ = writeln!(
        md,
        "{} keystrokes of the automerge-paper trace ({} characters inserted, {} deleted; {} characters of \
text at the end), typed by one client through a WebSocket (`?ext=1`) into the release `sync-server` on a fresh SQLite \
file, with the default compaction (`--compact-after 500`) and retention (30 days). A version every {} keystrokes: \
{} minutes of continuous typing at {} keystrokes a minute, when the default `--checkpoint-max` (600 s) saves one; \
the replay pauses there until the server's idle checkpoint (run with `--checkpoint-idle {}`) has saved it. \
{} versions ({} planned). Sizes after the server stopped (SIGTERM: the log compacted) and \
`PRAGMA wal_checkpoint(TRUNCATE)`; a table's bytes are its pages and its indexes' (`dbstat`). \
\"Compacted, no history\" is a copy with every version, change summary and trash row deleted, then VACUUM.\n",
        if x["keystrokes"] == r["trace"]["updates"] {
            format!("All {}", f(&x["keystrokes"], 0))
        } else {
            format!("The first {} of the {}", f(&x["keystrokes"], 0), f(&r["trace"]["updates"], 0))
        },
        f(&x["inserted"], 0),
        f(&x["deleted"], 0),
        f(&x["text_chars"], 0),
        f(&x["every"], 0),
        f(&x["minutes_per_version"], 0),
        f(&x["typing_per_minute"], 0),
        f(&x["checkpoint_idle_s"], 1),
        f(&x["versions"], 0),
        f(&x["planned_versions"], 0),
    );
    let (kept, comp) = (&x["kept"], &x["compacted"]);
    md.push_str("| storage (kB) | with history kept | compacted, no history | kept ÷ compacted |\n|---|---:|---:|---:|\n");
    // The ratio only for whole files: an empty table still takes a page per b-tree.
    let mut row = |label: &str, a: Value, b: Value, digits: usize| {
        let whole = label.starts_with("SQLite file") || label.starts_with("… per");
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} |",
            f(&a, digits),
            f(&b, digits),
            if whole { ratio(&a, &b) } else { "—".into() }
        );
    };
    let per10k = |s: &Value| match (s["file_bytes"].as_f64(), x["keystrokes"].as_f64()) {
        (Some(b), Some(k)) if k > 0.0 => json!(b * 10.0 / k),
        _ => Value::Null,
    };
    row(
        "SQLite file",
        kb(&kept["file_bytes"]),
        kb(&comp["file_bytes"]),
        1,
    );
    row(
        "… per 10,000 typed characters (average over the trace)",
        per10k(kept),
        per10k(comp),
        2,
    );
    row(
        "SQLite file after VACUUM",
        kb(&x["kept_vacuumed_bytes"]),
        kb(&comp["file_bytes"]),
        1,
    );
    let table = |s: &Value, t: &str| {
        let v = &s["tables"][t];
        kb(if v["bytes"].is_null() {
            &v["data_bytes"]
        } else {
            &v["bytes"]
        })
    };
    for (t, what) in [
        ("snapshots", "snapshots (the document)"),
        ("updates", "updates (the log since the snapshot)"),
        ("changes", "changes (the audit trail)"),
        ("versions", "versions"),
    ] {
        row(what, table(kept, t), table(comp, t), 1);
    }
    let other = |s: &Value| {
        let sum: f64 = s["tables"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !crate::history::TABLES.contains(&k.as_str()))
            .filter_map(|(_, v)| v["bytes"].as_f64())
            .sum();
        json!(sum / 1e3)
    };
    row(
        "other tables (documents, quarantine, trash) and the schema",
        other(kept),
        other(comp),
        1,
    );
    row(
        "free pages",
        kb(&kept["free_bytes"]),
        kb(&comp["free_bytes"]),
        1,
    );
    row(
        "the snapshot's state (one v1 update)",
        kb(&kept["tables"]["snapshots"]["data_bytes"]),
        kb(&comp["tables"]["snapshots"]["data_bytes"]),
        1,
    );
    row(
        "the versions' states",
        kb(&kept["tables"]["versions"]["data_bytes"]),
        kb(&comp["tables"]["versions"]["data_bytes"]),
        1,
    );
    md.push('\n');
    let sizes: Vec<f64> = x["per_version"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["state_bytes"].as_f64())
        .collect();
    let mean = sizes.iter().sum::<f64>() / sizes.len().max(1) as f64;
    let _ = writeln!(
        md,
        "Rows with history: {} versions, {} change summaries, {} log rows. A version's state is {}–{} kB (mean {:.1}). \
Per 10,000 typed characters over the trace: versions {} kB, change summaries {} kB, the snapshot {} kB; at the \
document's final size, 10,000 more typed characters add {} kB of versions (the last version's state × 10,000 ÷ {}).\n",
        f(&kept["tables"]["versions"]["rows"], 0),
        f(&kept["tables"]["changes"]["rows"], 0),
        f(&kept["tables"]["updates"]["rows"], 0),
        f(&json!(sizes.iter().copied().fold(f64::INFINITY, f64::min) / 1e3), 1),
        f(&json!(sizes.iter().copied().fold(0.0, f64::max) / 1e3), 1),
        mean / 1e3,
        f(&kb(&x["per_10k"]["versions"]), 2),
        f(&kb(&x["per_10k"]["changes"]), 2),
        f(&kb(&x["per_10k"]["snapshot"]), 2),
        f(&kb(&x["final_per_10k_version_bytes"]), 1),
        f(&x["every"], 0),
    );
    let _ = writeln!(
        md,
        "Reading the history of that document (a fresh server on the same file; one request on a new connection, \
then {} on the same keep-alive connection, one at a time):\n",
        f(&x["list"]["latency"]["samples"], 0)
    );
    md.push_str("| request | first (ms) | p50 (ms) | p99 (ms) | max (ms) | response bytes |\n|---|---:|---:|---:|---:|---:|\n");
    for (key, what) in [
        ("list", "`GET /api/docs/{doc}/versions`"),
        ("text_newest", "`GET …/versions/{id}/text`, the newest"),
        ("text_oldest", "`GET …/versions/{id}/text`, the oldest"),
    ] {
        let v = &x[key];
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {} | {} | {} |",
            f(&v["first_ms"], 2),
            f(&v["latency"]["p50_ms"], 2),
            f(&v["latency"]["p99_ms"], 2),
            f(&v["latency"]["max_ms"], 2),
            f(&v["bytes"], 0),
        );
    }
    md.push('\n');
    md
}

fn how_to_run() -> String {
    "## How to run\n\n```sh\n\
scripts/bench.sh          # quick mode (about nine minutes, and five for the browser part): rewrites this file\n\
scripts/bench.sh smoke    # about a minute, tiny N; results in target/bench/ only\n\
scripts/bench.sh full     # longer steps, finer ramp\n\
scripts/bench.sh quick --scenarios join-storm,doc-memory   # only these: rewrites only their parts\n\
```\n\n"
        .to_owned()
}

/// Whether this run measured only some of the scenarios.
pub fn partial(r: &Value) -> bool {
    r["scenarios"]
        .as_array()
        .is_some_and(|s| SCENARIOS.iter().any(|x| !s.iter().any(|y| y == x)))
}

fn measured(r: &Value) -> Vec<String> {
    r["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The line "## Machine and run" gets for a run of some scenarios only.
fn partial_line(r: &Value) -> (String, String) {
    let scenarios = measured(r);
    let letters: Vec<&str> = scenarios
        .iter()
        .map(|s| heading(s).trim_start_matches("### "))
        .collect();
    let key = format!("- {}: from a separate run", letters.join(", "));
    let m = &r["machine"];
    let line = format!(
        "{key} (`--scenarios {}`): {} mode, {:.0} s; {}; 1-minute load average {} at the start, {} at the end; {} (the rest of this file is from the run above)\n",
        scenarios.join(","),
        r["mode"].as_str().unwrap_or("?"),
        r["seconds"].as_f64().unwrap_or(0.0),
        m["date"].as_str().unwrap_or("?"),
        f(&m["loadavg_start"], 2),
        f(&r["loadavg_end"], 2),
        m["rustc"].as_str().unwrap_or("?"),
    );
    (key, line)
}

/// The blocks of a Markdown report: each starts at a `## ` or `### ` heading (the first is
/// what comes before any); everything from `## Notes` on is one block.
fn blocks(md: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut in_notes = false;
    for line in md.split_inclusive('\n') {
        let starts = line.starts_with("## ") || line.starts_with("### ");
        if starts && !in_notes {
            in_notes = line.starts_with("## Notes");
            out.push(String::new());
        }
        out.last_mut().expect("one block").push_str(line);
    }
    out
}

/// The report `existing` with this run's scenarios put in: their sections replace the ones
/// with the same heading (or go at the end of the results), their rows in the targets table
/// replace the rows with the same first cell (or are appended), "## Machine and run" gets a
/// line saying when they ran, and the generated text that is not measured (how to run, the
/// targets heading, the notes) is brought up to date. Everything else stays as it was.
pub fn splice(existing: &str, r: &Value, notes: Option<&str>) -> String {
    let names = target_names(r);
    let scenarios = measured(r);
    let fresh: Vec<(String, String)> = scenarios
        .iter()
        .map(|s| (heading(s).to_owned(), section(r, s, &names)))
        .filter(|(_, md)| !md.is_empty())
        .collect();
    let rows = target_rows(r, Some(&scenarios));
    let (key, line) = partial_line(r);
    let mut out = Vec::new();
    let mut placed = vec![false; fresh.len()];
    let mut notes_done = false;
    for block in blocks(existing) {
        if block.starts_with("## How to run") {
            out.push(how_to_run());
        } else if block.starts_with("## Machine and run") {
            let mut b: String = block
                .split_inclusive('\n')
                .filter(|l| !l.starts_with(&key))
                .collect();
            let body = b.trim_end().len();
            b.truncate(body);
            b.push('\n');
            b.push_str(&line);
            b.push('\n');
            out.push(b);
        } else if block.starts_with("## Targets") {
            out.push(splice_targets(&block, &rows));
        } else if block.starts_with("## Notes") {
            for (i, (_, md)) in fresh.iter().enumerate() {
                if !placed[i] {
                    out.push(md.clone());
                    placed[i] = true;
                }
            }
            if let Some(notes) = notes {
                out.push(format!("{}\n", notes.trim()));
            } else {
                out.push(block);
            }
            notes_done = true;
        } else if let Some(i) = fresh
            .iter()
            .position(|(h, _)| block.starts_with(h.as_str()))
        {
            if !placed[i] {
                out.push(fresh[i].1.clone());
                placed[i] = true;
            }
        } else {
            out.push(block);
        }
    }
    if !notes_done {
        for (i, (_, md)) in fresh.iter().enumerate() {
            if !placed[i] {
                out.push(md.clone());
            }
        }
    }
    // A section pushed right before the notes needs the blank line the notes block expects.
    let mut md = String::new();
    for b in out {
        if !md.is_empty() && !md.ends_with("\n\n") {
            md.push('\n');
        }
        md.push_str(&b);
    }
    md
}

fn splice_targets(block: &str, rows: &[String]) -> String {
    let key = |row: &str| row.split('|').nth(1).map(|c| c.trim().to_owned());
    let mut kept: Vec<String> = block
        .split_inclusive('\n')
        .filter(|l| l.starts_with("| ") && !l.starts_with("| target |"))
        .map(str::to_owned)
        .collect();
    for row in rows {
        match kept.iter().position(|k| key(k) == key(row)) {
            Some(i) => kept[i] = row.clone(),
            None => kept.push(row.clone()),
        }
    }
    let mut md = format!("{TARGETS_HEADING}\n\n{TARGETS_HEADER}");
    for row in kept {
        md.push_str(&row);
    }
    md.push('\n');
    md
}
