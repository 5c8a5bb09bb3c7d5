//! The report: machine description, completeness check, Markdown tables with ratios.

use std::fmt::Write as _;

use serde_json::{json, Value};

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
    match v.as_f64() {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "—".into(),
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

pub fn tables(r: &Value) -> String {
    let names: Vec<String> = r["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut md = String::new();

    md.push_str("### (a) Fan-out: 1 writer at 50 updates/s → N readers, one room\n\n");
    let rows = r["fanout"][names.first().map_or("ours", String::as_str)]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for row in &rows {
        let n = row["readers"].as_u64().unwrap_or(0);
        let mut t = Table::new(&format!("N = {n}"), &names);
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

    md.push_str("### (b) Maximum sustained updates/s with p99 ≤ 50 ms (rate ×1.5 per step; a failed step is run twice)\n\n");
    md.push_str("“ours (durable acks)” connects its writers with `?ext=1` and also needs the p99 of the \
time from sending an update to its durable acknowledgement ≤ 50 ms, with every update acknowledged.\n\n");
    for (shape, per) in r["throughput"].as_object().into_iter().flatten() {
        let mut cols = names.clone();
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

    md.push_str("### (c) Memory per idle connection (RSS growth ÷ connections, fresh server)\n\n");
    for (shape, per) in r["memory"].as_object().into_iter().flatten() {
        let n = per
            .as_object()
            .and_then(|o| o.values().find_map(|v| v["connections"].as_u64()))
            .unwrap_or(0);
        let mut t = Table::new(&format!("{n} connections, {shape}"), &names);
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

    md.push_str(
        "### (d) Load of the whole automerge-paper document: SyncStep1 → complete SyncStep2\n\n",
    );
    md.push_str("“first join” is the first client after the server started: ours loads the document \
from SQLite (cold); the peers have no persistence configured, so a holder client uploaded the document \
first and it is in memory. “loaded” is the median of three more joins while it is in memory.\n\n");
    for (doc, per) in r["load"].as_object().into_iter().flatten() {
        let mut t = Table::new(doc, &names);
        t.row("first join (ms)", |x| per[x]["first_ms"].clone(), 1);
        t.row("loaded join (ms)", |x| per[x]["loaded_ms"].clone(), 1);
        t.row("SyncStep2 bytes", |x| per[x]["step2_bytes"].clone(), 0);
        md.push_str(&t.out);
        md.push('\n');
    }
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

fn targets_section(r: &Value) -> String {
    let mut md =
        String::from("## Targets (ratios to the y-websocket reference server, this run)\n\n");
    md.push_str("| target | wanted | measured | met |\n|---|---|---|---|\n");
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
            let (m, met) = match measured {
                Some(x) if x.is_finite() => (
                    format!("{x:.2}{unit}"),
                    if ok(x) { "yes" } else { "**no**" },
                ),
                _ => ("—".into(), "not measured"),
            };
            let _ = writeln!(md, "| {what} | {wanted} | {m} | {met} |");
        };
    let div = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
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
    let mem = &r["memory"]["one room"];
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
    let load = &r["load"]["compacted"];
    line(
        "load of the compacted trace (ours cold from SQLite ÷ y-websocket in memory)",
        "≤ 0.33×",
        div(&load["ours"]["first_ms"], &load[yws]["first_ms"]),
        &|x| x <= 1.0 / 3.0,
        "×",
    );
    let steps = &r["throughput"]["100 rooms: 1 writer, 2 readers each"]["ours (durable acks)"];
    let best = ramp_summary(steps).0;
    line(
        "durable acknowledged updates/s, 100 rooms, ack p99 < 50 ms",
        "≥ 20,000/s",
        best.and_then(|b| b["acked_per_s"].as_f64()).or(Some(0.0)),
        &|x| x >= 20_000.0,
        "/s",
    );
    let w = &r["widget"];
    line(
        "widget shipped bytes, wasm + JS, gzip -9 (kB)",
        "< 120 kB",
        w["gzip"].as_f64().map(|b| b / 1000.0),
        &|x| x < 120.0,
        " kB",
    );
    let b = &r["browser"];
    if b["remote_apply"].is_object() || b["keystrokes"].is_object() {
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
        let _ = writeln!(
            md,
            "| widget: remote apply vs yjs 13.6.33, keystroke p99 at 100 KB (headless Chromium) | faster; < 1 ms | — | not measured ({why}) |"
        );
    }
    md.push('\n');
    md
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
    md.push_str("## How to run\n\n```sh\nscripts/bench.sh          # quick mode (a few minutes): rewrites this file\n\
scripts/bench.sh smoke    # about a minute, tiny N; results in target/bench/ only\n\
scripts/bench.sh full     # longer steps, finer ramp\n```\n\n");
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
