#!/usr/bin/env bash
# Benchmarks our sync server against the y-websocket reference server and Hocuspocus, all started
# on loopback by this run (see BENCHMARKS.md and issue 6).
#
#   scripts/bench.sh            quick mode, about nine minutes for the servers (the join storms of
#                               (f), 150 clients × 4 MB and 20 × 40 MB, and the 100 loaded 1 MB
#                               documents of (g) are about two of them; the history of (h), the
#                               whole trace typed with 130 versions saved, one and a half; ours
#                               only) and about five for the
#                               browser part of (e) (which applies and replays the first 30,000
#                               updates of the trace; full mode all of them); rewrites BENCHMARKS.md
#   scripts/bench.sh smoke      about a minute, tiny N (every scenario, (f) and (g) with documents
#                               of 0.1–1.2 MB); results only under target/bench/
#   scripts/bench.sh full       longer steps and a finer ramp; rewrites BENCHMARKS.md
#
# Extra arguments go to sync-bench (e.g. --targets ours,y-websocket --scenarios fanout). With
# --scenarios, only those run and only their parts of BENCHMARKS.md are rewritten (their tables,
# their target rows, a line saying when they ran); the browser part of (e) is then skipped.
# Fails if the report is not complete for every server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

mode=${1:-quick}
[ $# -gt 0 ] && shift
case "$mode" in
    smoke | quick | full) ;;
    *)
        echo "usage: scripts/bench.sh [smoke|quick|full] [sync-bench arguments]" >&2
        exit 2
        ;;
esac
# A run of chosen scenarios (--scenarios) measures no browser part: it is not one of them.
some_scenarios=
for arg in "$@"; do
    case "$arg" in
        --scenarios | --scenarios=*) some_scenarios=1 ;;
    esac
done

ensure_rust
ensure_node
# The peers at pinned versions (bench/peers/package-lock.json): @y/websocket-server 0.1.1 with
# yjs 13.6.33, @hocuspocus/server 3.4.4.
ensure_npm_deps bench/peers

# What the widget ships is weighed from npm/ (scenario e); a fresh clone builds it first, except
# in smoke mode, which reports it only when it is already built.
if [ "$mode" != smoke ] && [ -z "$some_scenarios" ] && [ ! -f npm/wasm/collab_textarea_widget_bg.wasm ]; then
    ensure_wasm_tools
    bash scripts/build-widget.sh
fi

# BENCH_BIN_DIR: run the sync-server and sync-bench binaries already built there instead of
# building release ones (the test command's smoke run uses its debug build: it checks that the
# instrument works, and its figures mean nothing anyway).
bin_dir=${BENCH_BIN_DIR:-target/release}
if [ -z "${BENCH_BIN_DIR:-}" ]; then
    echo "== bench: cargo build --release (sync-server, sync-bench)" >&2
    cargo build --release --locked -p sync-server -p sync-bench
fi

# (e) in the browser (bench/browser/run.mjs): the widget and a yjs 13.6.33 baseline in one page of
# headless Chromium (Debian's /usr/bin/chromium, or CHROME_BIN; playwright-core downloads none),
# the cold load from our sync-server, the trace's 259,778 updates applied as remote updates,
# the trace replayed through the textarea, keystroke latency at ~100 KB, and this device's copy
# (IndexedDB: time to first text from the network and from the copy, keystrokes with persistence
# on and off; run.mjs --render writes its section of BENCHMARKS.md, below). Run before
# sync-bench, which merges its JSON into the report (a failed run is reported as not measured,
# and this script then exits non-zero). Smoke mode runs it too, at its smoke size (the first
# 5,000 updates, 20 keystrokes: ~35 s), when the widget is built and Chromium is there, and skips it
# otherwise; its figures mean nothing either.
browser_json=target/bench/browser-$mode.json
browser_failed=
browser_args=()
chrome=${CHROME_BIN:-/usr/bin/chromium}
rm -f "$browser_json"
if [ -n "$some_scenarios" ]; then
    echo "== bench: --scenarios given: (e) in the browser skipped" >&2
elif [ -f npm/wasm/collab_textarea_widget_bg.wasm ] && [ -x "$chrome" ]; then
    ensure_npm_deps bench/browser
    browser_args=(--browser "$browser_json")
    echo "== bench: (e) in headless Chromium, $mode" >&2
    if ! node bench/browser/run.mjs --mode "$mode" --server-bin "$bin_dir/sync-server" \
        --npm-dir npm --trace bench/data/automerge-paper.json.gz --chrome "$chrome" \
        --out "$browser_json"; then
        echo "== bench: (e) in the browser FAILED; the report says so" >&2
        browser_failed=1
    fi
elif [ "$mode" != smoke ]; then
    echo "== bench: (e) in the browser needs the built widget and $chrome" >&2
    browser_args=(--browser "$browser_json")
    browser_failed=1
else
    echo "== bench: smoke: (e) in the browser skipped (widget not built or no $chrome)" >&2
fi

# 10,000 idle connections: the bench client and each server hold one descriptor per socket.
hard=$(ulimit -Hn)
want=30000
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    want=$hard
fi
ulimit -n "$want"

args=(--mode "$mode" --ours "$bin_dir/sync-server" --peers-dir bench/peers
    --trace bench/data/automerge-paper.json.gz --widget-dir npm --out target/bench --notes bench/NOTES.md
    "${browser_args[@]}")
if [ "$mode" != smoke ]; then
    args+=(--markdown BENCHMARKS.md)
fi
echo "== bench: sync-bench ${args[*]} $*" >&2
"$bin_dir/sync-bench" "${args[@]}" "$@"
# The browser run's part on this device's copy is not in sync-bench's report: its own section,
# after the browser table (or "Not measured" when the run did not get there).
if [ "$mode" != smoke ] && [ ${#browser_args[@]} -gt 0 ]; then
    node bench/browser/run.mjs --render "$browser_json" --into BENCHMARKS.md
fi
if [ -n "$browser_failed" ]; then
    echo "== bench: the browser part of (e) did not complete (see above)" >&2
    exit 1
fi
