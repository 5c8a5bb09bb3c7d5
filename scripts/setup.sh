#!/usr/bin/env bash
# Installs what the project needs and is missing on this machine. Sourced by demo.sh and test.sh.
# Idempotent: each step checks first and does nothing when the tool is already there.

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo is missing: install Rust with rustup (https://rustup.rs) and try again" >&2
        exit 1
    fi
    if command -v rustup >/dev/null 2>&1; then
        local have
        have=$(rustup component list --installed 2>/dev/null || true)
        for component in rustfmt clippy; do
            if ! grep -q "^${component}" <<<"$have"; then
                echo "setup: installing the ${component} component" >&2
                rustup component add "$component"
            fi
        done
    fi
}

ensure_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "node and npm are missing: install Node.js 20 or newer and try again" >&2
        exit 1
    fi
}

# Installs the exact dependencies recorded in DIR/package-lock.json, unless already installed.
ensure_npm_deps() {
    local dir=$1
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "setup: npm ci in $dir" >&2
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}
