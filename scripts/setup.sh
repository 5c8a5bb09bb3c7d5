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

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "setup: need root to run '$*' (and sudo is missing)" >&2
        exit 1
    fi
}

# Installs the Debian packages among PKG... that are not installed yet. `apt-get update` runs
# at most once per run of a script, and only when something is missing.
SETUP_APT_UPDATED=${SETUP_APT_UPDATED:-}
ensure_apt() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: missing ${missing[*]}, and this is not a Debian-like system: install them by hand" >&2
        exit 1
    fi
    # Another apt (an unattended upgrade, a parallel job) may hold the lock: wait for it.
    local wait_lock=(-o DPkg::Lock::Timeout=600)
    if [ -z "$SETUP_APT_UPDATED" ]; then
        echo "setup: apt-get update" >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get "${wait_lock[@]}" update -qq
        export SETUP_APT_UPDATED=1
    fi
    echo "setup: apt-get install ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get "${wait_lock[@]}" install -y -qq --no-install-recommends "${missing[@]}"
}

# The wasm-bindgen version the widget links against, read from Cargo.lock: the CLI must match
# it exactly, or the generated glue and the wasm disagree.
wasm_bindgen_version() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
        "$root/Cargo.lock"
}

# What building the widget needs: the wasm32 target, wasm-bindgen-cli at the Cargo.lock
# version, wasm-opt, and brotli to report the compressed size. Sets WASM_OPT.
#
# wasm-opt: Debian 12's binaryen (108) is too old for wasm-bindgen's output. It rewrites the
# export of wasm-bindgen's externref table to point at the function table, and the module then
# fails to start ("WebAssembly.Table.set(): Argument 1 is invalid for table"). So we take
# binaryen from npm (a wasm build of the same tools, pinned in scripts/tools/package-lock.json).
# Set WASM_OPT to use another wasm-opt (version 116 or newer).
# The wasm-pack release the widget's build is tested with.
WASM_PACK_VERSION=0.15.1

# The tools this project installs with `cargo install` (wasm-bindgen-cli, wasm-pack,
# tauri-driver) are built unoptimized: that halves their build (measured: wasm-bindgen-cli 2 min
# 21 s -> 1 min 10 s, wasm-pack 1 min 51 s -> 1 min 2 s), and their own speed does not matter
# here (the debug wasm-bindgen takes 0.7 s instead of 0.2 s over the widget, and writes the same
# bytes).
TOOL_INSTALL_FLAGS=(--debug)

ensure_wasm_tools() {
    ensure_rust
    ensure_node
    if command -v rustup >/dev/null 2>&1 &&
        ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        echo "setup: adding the wasm32-unknown-unknown target" >&2
        rustup target add wasm32-unknown-unknown
    fi
    # cargo install puts binaries here; rustup normally has it on PATH already.
    case ":$PATH:" in
        *":${CARGO_HOME:-$HOME/.cargo}/bin:"*) ;;
        *) export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" ;;
    esac
    local want have=""
    want=$(wasm_bindgen_version)
    if [ -z "$want" ]; then
        echo "setup: no wasm-bindgen in Cargo.lock" >&2
        exit 1
    fi
    if command -v wasm-bindgen >/dev/null 2>&1; then
        have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')
    fi
    if [ "$have" != "$want" ]; then
        echo "setup: cargo install wasm-bindgen-cli $want (was: ${have:-none}); about a minute" >&2
        # --locked first (the versions its authors tested). A crate in its lock file can vanish
        # from the registry (yanked, or a mirror that lacks it); then resolve afresh.
        if ! cargo install wasm-bindgen-cli --version "=$want" --locked "${TOOL_INSTALL_FLAGS[@]}"; then
            echo "setup: the locked install failed; retrying with freshly resolved dependencies" >&2
            cargo install wasm-bindgen-cli --version "=$want" "${TOOL_INSTALL_FLAGS[@]}"
        fi
    fi
    # wasm-pack drives the widget's build (scripts/build-widget.sh). It cannot download its
    # helpers here, so it runs with `--mode no-install` and uses the wasm-bindgen above.
    if [ "$(wasm-pack --version 2>/dev/null | awk '{ print $2 }')" != "$WASM_PACK_VERSION" ]; then
        echo "setup: cargo install wasm-pack $WASM_PACK_VERSION --locked (about a minute)" >&2
        cargo install wasm-pack --version "=$WASM_PACK_VERSION" --locked "${TOOL_INSTALL_FLAGS[@]}"
    fi
    if [ -z "${WASM_OPT:-}" ]; then
        local tools
        tools="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tools"
        ensure_npm_deps "$tools"
        WASM_OPT="$tools/node_modules/.bin/wasm-opt"
    fi
    export WASM_OPT
    if ! command -v brotli >/dev/null 2>&1; then
        ensure_apt brotli
    fi
}

# PostgreSQL's server programs (initdb, pg_ctl, postgres, psql under
# /usr/lib/postgresql/<version>/bin), with which scripts/services.sh starts a private server for
# the tests (as the `postgres` user the package creates, when run as root).
ensure_postgres() {
    if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        ensure_apt postgresql
    fi
}

# Redis (redis-server, and redis-cli, which scripts/services.sh asks whether it is up), for the
# cluster tests: services.sh starts a private one on a free port.
ensure_redis() {
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        ensure_apt redis-server
    fi
}

# nginx, for the cluster test that runs examples/cluster/nginx.conf in front of three servers.
ensure_nginx() {
    if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
        ensure_apt nginx
    fi
}

# Chromium and its WebDriver, for the browser tests (/usr/bin/chromium, /usr/bin/chromedriver);
# packages given as arguments are installed in the same apt-get run.
ensure_chromium() {
    ensure_apt chromium chromium-driver "$@"
}

# What building and testing the desktop app (desktop/, Tauri v2) needs: WebKitGTK 4.1 and GTK 3
# headers (the app links them), librsvg (icons), and for the end-to-end test Xvfb (WebKitGTK has
# no headless mode), a D-Bus session bus (single-instance), WebKitWebDriver (apt
# webkit2gtk-driver) and tauri-driver (ensure_tauri_driver). DESKTOP_BUILD_ONLY=1 skips the test
# tools.
ensure_desktop_deps() {
    ensure_rust
    ensure_apt build-essential pkg-config file libwebkit2gtk-4.1-dev libgtk-3-dev \
        libayatana-appindicator3-dev librsvg2-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
    [ -n "${DESKTOP_BUILD_ONLY:-}" ] && return 0
    ensure_apt xvfb xauth dbus-daemon webkit2gtk-driver
    [ -n "${DESKTOP_NO_TAURI_DRIVER:-}" ] && return 0
    ensure_tauri_driver
}

# tauri-driver, which proxies WebDriver to WebKitWebDriver for the desktop end-to-end test
# (cargo install, under a minute; only when missing).
ensure_tauri_driver() {
    ensure_rust
    case ":$PATH:" in
        *":${CARGO_HOME:-$HOME/.cargo}/bin:"*) ;;
        *) export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" ;;
    esac
    if ! command -v tauri-driver >/dev/null 2>&1; then
        echo "setup: cargo install tauri-driver --locked (under a minute)" >&2
        cargo install tauri-driver --locked "${TOOL_INSTALL_FLAGS[@]}"
    fi
}
