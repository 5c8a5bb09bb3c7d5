#!/usr/bin/env bash
# Benchmarks our sync server against the y-websocket reference server and Hocuspocus, all started
# on loopback by this run (see BENCHMARKS.md and issue 6).
#
#   scripts/bench.sh            quick mode, a few minutes; rewrites BENCHMARKS.md
#   scripts/bench.sh smoke      about a minute, tiny N; results only under target/bench/
#   scripts/bench.sh full       longer steps and a finer ramp; rewrites BENCHMARKS.md
#
# Extra arguments go to sync-bench (e.g. --targets ours,y-websocket --scenarios fanout).
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

ensure_rust
ensure_node
# The peers at pinned versions (bench/peers/package-lock.json): @y/websocket-server 0.1.1 with
# yjs 13.6.33, @hocuspocus/server 3.4.4.
ensure_npm_deps bench/peers

# What the widget ships is weighed from npm/ (scenario e); a fresh clone builds it first, except
# in smoke mode, which reports it only when it is already built.
if [ "$mode" != smoke ] && [ ! -f npm/wasm/collab_textarea_widget_bg.wasm ]; then
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

# 10,000 idle connections: the bench client and each server hold one descriptor per socket.
hard=$(ulimit -Hn)
want=30000
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    want=$hard
fi
ulimit -n "$want"

args=(--mode "$mode" --ours "$bin_dir/sync-server" --peers-dir bench/peers
    --trace bench/data/automerge-paper.json.gz --widget-dir npm --out target/bench --notes bench/NOTES.md)
if [ "$mode" != smoke ]; then
    args+=(--markdown BENCHMARKS.md)
fi
echo "== bench: sync-bench ${args[*]} $*" >&2
"$bin_dir/sync-bench" "${args[@]}" "$@"
