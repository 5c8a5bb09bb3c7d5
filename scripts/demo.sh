#!/usr/bin/env bash
# The README's first command. Sets up whatever is missing, builds the widget (wasm) and the demo
# web root (target/web/), builds the sync server, and runs it with its defaults: HTTP and
# WebSocket on 127.0.0.1:8787, documents in ./data/collab.sqlite3, the demo page at /.
# Extra arguments go to the server (see `--help`). Stop it with Ctrl-C: everything pending is
# flushed to disk first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

ensure_rust
ensure_wasm_tools
bash scripts/build-widget.sh
cargo build --release --locked -p sync-server

# The address the server will listen on, for the message below: --listen wins over the
# environment, as in the server.
listen=${SYNC_SERVER_LISTEN:-127.0.0.1:8787}
previous=""
for arg in "$@"; do
    case "$arg" in
        --listen=*) listen=${arg#--listen=} ;;
        *) [ "$previous" = "--listen" ] && listen=$arg ;;
    esac
    previous=$arg
done
echo >&2
echo "demo: open http://$listen/ (Yjs clients: ws://$listen/sync/{doc}); Ctrl-C stops it" >&2
exec ./target/release/sync-server --web-root target/web "$@"
