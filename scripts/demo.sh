#!/usr/bin/env bash
# Sets up whatever is missing, then runs the sync server with its defaults: HTTP and WebSocket
# on 127.0.0.1:8787, documents in ./data/collab.sqlite3. Extra arguments go to the server
# (see `--help`). Stop it with Ctrl-C: everything pending is flushed to disk first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

ensure_rust
cargo build --release --locked -p sync-server
echo "sync server: connect Yjs clients to ws://127.0.0.1:8787/sync/{doc}; Ctrl-C stops it" >&2
exec ./target/release/sync-server "$@"
