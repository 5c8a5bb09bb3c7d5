#!/usr/bin/env bash
# Sets up whatever is missing, then runs every test: format and lint checks, Rust unit and
# integration tests (real server, real SQLite and PostgreSQL, real WebSockets), the
# compatibility test with stock Yjs clients from npm, the widget's wasm build (printing its
# size), the Vite, React, Vue and Svelte examples' builds, and the browser tests (headless
# Chromium against the server binary). `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
root=$PWD
started=$SECONDS
# Prints a step's heading with the time since the start, so slow steps show in CI logs.
step() { printf '== [%02d:%02d] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$1" >&2; }

# Two steps run beside others: the downloads beside the workspace build, and the widget's
# tools and build beside the Rust and Yjs tests (after the build, the tests kept one of a 2-core
# machine's cores busy on average, and the widget's tools are cargo builds).
# `background NAME FUNCTION` starts one with its output in target/logs/NAME.log; `finish NAME`
# waits for it, prints that log, and fails the run if it failed. A run that stops early stops
# them too.
declare -A background_pids=()
background() {
    mkdir -p "$root/target/logs"
    "$2" >"$root/target/logs/$1.log" 2>&1 &
    background_pids[$1]=$!
}
finish() {
    local status=0
    wait "${background_pids[$1]}" || status=$?
    unset "background_pids[$1]"
    cat "$root/target/logs/$1.log" >&2
    if [ "$status" -ne 0 ]; then
        echo "test.sh: $1 failed (exit $status; its output is above)" >&2
        exit "$status"
    fi
}
stop_background() {
    local pid
    for pid in "${background_pids[@]}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
}

ensure_rust
ensure_node
# The workspace holds the desktop app, which links WebKitGTK: clippy and the tests compile it,
# so its system packages come first (its test tools too; tauri-driver is built later, beside
# the tests).
DESKTOP_NO_TAURI_DRIVER=1 ensure_desktop_deps
# PostgreSQL and Redis for the storage and cluster tests (started below by
# scripts/services.sh), nginx for the cluster test in front of three servers.
ensure_postgres
ensure_redis
ensure_nginx

# Downloads and unpacking while the workspace builds: Chromium, brotli (the widget's size
# report), and the npm dependencies of the Node test suites, the benchmark's peers and the
# build tools (binaryen's wasm-opt).
prefetch() {
    # One apt-get run for Chromium and ensure_wasm_tools' brotli.
    ensure_chromium brotli
    local dir
    for dir in tests/yjs-compat tests/browser tests/desktop bench/peers scripts/tools; do
        ensure_npm_deps "$dir"
    done
}
# The widget's tools (wasm32 target, wasm-bindgen-cli, wasm-pack: cargo builds on a fresh
# machine), its wasm build, and tauri-driver, while the Rust and Yjs tests run.
build_widget() {
    ensure_wasm_tools
    bash scripts/build-widget.sh
    ensure_tauri_driver
}
trap stop_background EXIT
step "in the background: Chromium, brotli, npm dependencies (target/logs/prefetch.log)"
background prefetch prefetch

step "cargo fmt --check"
cargo fmt --all -- --check
step "no import cycle among sync-server's modules"
python3 scripts/tools/module-cycles.py
# Clippy and the build in one compilation: cargo runs clippy-driver (the compiler with clippy's
# lints, what `cargo clippy` runs) on the workspace's own crates while it builds them, so the
# dependencies are compiled once, not once checked for clippy and once built (a separate
# `cargo clippy` pass took 12 minutes of a fresh clone's run). `--all-targets` lints tests, benches and examples too, and
# `-D warnings` fails the build on any warning, as `cargo clippy --workspace --all-targets --
# -D warnings` would. `cargo test` below runs with the same settings, so it reuses this build.
# The binaries the later steps run (target/debug/sync-server, desktop, sync-bench) come from it
# too. (`cargo build -p X` would unify features differently and rebuild half the graph.)
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)
[ -x "$clippy_driver" ] || { echo "test.sh: no clippy-driver (rustup component add clippy)" >&2; exit 1; }
lint_env=(RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
    CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__")
step "cargo build with clippy's lints (workspace, all targets, -D warnings)"
env "${lint_env[@]}" cargo build --workspace --all-targets --locked

step "waiting for the downloads"
finish prefetch
step "in the background: the widget's tools and wasm build, tauri-driver (target/logs/widget.log)"
background widget build_widget

# One private PostgreSQL and one Redis for the whole run (scripts/services.sh), under target/,
# on free 127.0.0.1 ports, stopped and removed when this script exits (what a run killed
# outright leaves, the next run's first `stop` removes). The
# Rust and Node tests find them in COLLAB_TEST_POSTGRES_URL and COLLAB_TEST_REDIS_URL; each test
# takes a database and document names of its own, and a test that stops a server starts a
# private one through the same script.
step "PostgreSQL and Redis for the tests"
services_dir=$root/target/services
bash scripts/services.sh stop "$services_dir"
trap 'stop_background; bash scripts/services.sh stop "$services_dir"' EXIT
bash scripts/services.sh start "$services_dir" >/dev/null
set -a
# shellcheck source=/dev/null # the env file services.sh writes
source "$services_dir/env"
set +a
step "cargo test"
env "${lint_env[@]}" cargo test --workspace --locked

# The update validator's fuzz targets, 1.5 million inputs each from a fixed seed (about 25 s
# after a one-minute build): repeatable, so a red run reproduces with the same command.
step "fuzz: validator targets, 1.5M inputs each"
FUZZ_RUNS=1500000 bash scripts/fuzz.sh

step "stock Yjs clients against sync-server"
ensure_npm_deps tests/yjs-compat
(cd tests/yjs-compat && SYNC_SERVER_BIN="$root/target/debug/sync-server" node --test)

step "widget: wasm build, size, demo web root (waiting for the background build)"
finish widget

# The Vite example builds from the packed package; the browser tests open its dist/ too, so
# it runs first.
if [ -f examples/vite-app/check.sh ]; then
    step "examples/vite-app: pack, install, vite build, dev server"
    bash examples/vite-app/check.sh
elif [ -d examples/vite-app ]; then
    step "examples/vite-app: no check.sh, skipped"
fi

# The React, Vue and Svelte examples, built the same way (one pack, then npm ci and a Vite build
# each); the browser tests open their dist/ folders.
if [ -f examples/check-frameworks.sh ]; then
    step "examples/react-app, vue-app, svelte-app: pack, install, build"
    bash examples/check-frameworks.sh
fi

if [ -d tests/browser ]; then
    step "browser tests (headless Chromium)"
    ensure_chromium
    ensure_npm_deps tests/browser
    mkdir -p target/artifacts
    (cd tests/browser &&
        SYNC_SERVER_BIN="$root/target/debug/sync-server" \
        WEB_ROOT="$root/target/web" \
        CHROME_BIN=/usr/bin/chromium \
        ARTIFACTS="$root/target/artifacts" \
        node --test)
fi

# The desktop app (desktop/, Tauri v2), built with the workspace above, driven end to end under
# Xvfb through tauri-driver and WebKitWebDriver, with a colleague in headless Chromium on its
# Share on LAN address.
step "desktop app end to end (Xvfb, tauri-driver, WebKitWebDriver, Chromium)"
ensure_chromium
ensure_tauri_driver
ensure_npm_deps tests/desktop
mkdir -p target/artifacts/desktop
(cd tests/desktop &&
    DESKTOP_BIN="$root/target/debug/desktop" \
    WEB_ROOT="$root/target/web" \
    CHROME_BIN=/usr/bin/chromium \
    ARTIFACTS="$root/target/artifacts" \
    dbus-run-session -- xvfb-run --auto-servernum --server-args="-screen 0 1280x800x24" \
    node --test desktop.test.mjs)

# The .deb, from the debug build above (the Tauri CLI from npm, tests/desktop's devDependency:
# `tauri bundle` packages the built binary and the widget's files, about 35 s), unpacked into
# a temporary root and started under Xvfb. After the end-to-end test: bundling patches the
# binary in place.
step "desktop: .deb package, unpacked and started under Xvfb"
rm -rf target/debug/bundle/deb
(cd desktop && CI=true ../tests/desktop/node_modules/.bin/tauri bundle --debug --bundles deb \
    --config '{"bundle":{"resources":{"../target/web/":"web/"}}}')
deb=$(ls target/debug/bundle/deb/*.deb)
(cd tests/desktop &&
    DEB_FILE="$root/$deb" \
    ARTIFACTS="$root/target/artifacts" \
    dbus-run-session -- xvfb-run --auto-servernum --server-args="-screen 0 1280x800x24" \
    node --test deb.test.mjs)

# The benchmark instrument (issue 6) in smoke mode, so it cannot rot: about a minute, tiny N, no
# thresholds. It fails only if the report is not complete for every server (ours and each peer).
step "bench: smoke mode (complete report for every server)"
BENCH_BIN_DIR=target/debug bash scripts/bench.sh smoke
step "all tests passed"
