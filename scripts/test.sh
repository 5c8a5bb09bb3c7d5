#!/usr/bin/env bash
# Sets up whatever is missing, then runs every test: format and lint checks, Rust unit and
# integration tests (real server, real SQLite, real WebSockets), the compatibility test with
# stock Yjs clients from npm, the widget's wasm build (printing its size), the Vite example's
# check, and the browser tests (headless Chromium against the server binary). `.ci/run` calls
# this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
root=$PWD

ensure_rust
ensure_node
# The workspace holds the desktop app, which links WebKitGTK: clippy and the tests compile it,
# so its system packages come first (the test tools too: see ensure_desktop_deps).
ensure_desktop_deps

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --workspace --locked

# The update validator's fuzz targets, 20 s each (the build takes about a minute).
echo "== fuzz: validator targets, 20 s each" >&2
bash scripts/fuzz.sh 20

echo "== stock Yjs clients against sync-server" >&2
cargo build --locked -p sync-server
ensure_npm_deps tests/yjs-compat
(cd tests/yjs-compat && SYNC_SERVER_BIN="$root/target/debug/sync-server" node --test)

echo "== widget: wasm build, size, demo web root" >&2
ensure_wasm_tools
bash scripts/build-widget.sh

# The Vite example builds from the packed package; the browser tests open its dist/ too, so
# it runs first.
if [ -f examples/vite-app/check.sh ]; then
    echo "== examples/vite-app: pack, install, vite build, dev server" >&2
    bash examples/vite-app/check.sh
elif [ -d examples/vite-app ]; then
    echo "== examples/vite-app: no check.sh, skipped" >&2
fi

if [ -d tests/browser ]; then
    echo "== browser tests (headless Chromium)" >&2
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

# The desktop app (desktop/, Tauri v2): built like any crate (the same target dir, so the
# server's crates are reused), then driven end to end under Xvfb through tauri-driver and
# WebKitWebDriver, with a colleague in headless Chromium on its Share on LAN address.
echo "== desktop app: cargo build -p desktop" >&2
cargo build --locked -p desktop
echo "== desktop app end to end (Xvfb, tauri-driver, WebKitWebDriver, Chromium)" >&2
ensure_chromium
ensure_npm_deps tests/desktop
mkdir -p target/artifacts/desktop
(cd tests/desktop &&
    DESKTOP_BIN="$root/target/debug/desktop" \
    WEB_ROOT="$root/target/web" \
    CHROME_BIN=/usr/bin/chromium \
    ARTIFACTS="$root/target/artifacts" \
    dbus-run-session -- xvfb-run --auto-servernum --server-args="-screen 0 1280x800x24" \
    node --test)

# The benchmark instrument (issue 6) in smoke mode, so it cannot rot: about a minute, tiny N, no
# thresholds. It fails only if the report is not complete for every server (ours and each peer).
echo "== bench: smoke mode (complete report for every server)" >&2
bash scripts/bench.sh smoke
