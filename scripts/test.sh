#!/usr/bin/env bash
# Sets up whatever is missing, then runs every test: format and lint checks, Rust unit and
# integration tests (real server, real SQLite, real WebSockets), and the compatibility test
# with stock Yjs clients from npm. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

ensure_rust
ensure_node

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --workspace --locked

echo "== stock Yjs clients against sync-server" >&2
cargo build --locked -p sync-server
ensure_npm_deps tests/yjs-compat
(cd tests/yjs-compat && SYNC_SERVER_BIN="$PWD/../../target/debug/sync-server" node --test)
