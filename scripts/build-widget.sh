#!/usr/bin/env bash
# Builds the widget (widget/) to wasm and the npm package's generated part (npm/wasm/):
#   wasm-pack build (cargo for wasm32-unknown-unknown, profile wasm-release; wasm-bindgen --target
#   web) -> wasm-opt -Oz
# prints the release sizes, then assembles the demo web root target/web/:
#   target/web/                    <- web/ (the demo page)
#   target/web/collab-textarea/    <- npm/*.js, npm/*.d.ts, npm/wasm/ (the package's shippable files)
# Installs what is missing first (wasm32 target, wasm-bindgen-cli at the Cargo.lock version,
# wasm-pack, wasm-opt; see ensure_wasm_tools in setup.sh). Used by demo.sh and test.sh; safe on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

ensure_wasm_tools

name=collab_textarea_widget
out=npm/wasm

# wasm-pack: cargo build for wasm32-unknown-unknown with the wasm-release profile, then the
# wasm-bindgen on PATH (`--mode no-install`: it downloads nothing) writes the JS glue. It runs
# no wasm-opt of its own (`--no-opt`: the pinned one runs below, with the features the module
# needs) and writes no package.json (`--no-pack`: npm/package.json is the package's own).
echo "== widget: wasm-pack build (wasm32, wasm-release) -> $out/" >&2
rm -rf "$out"
wasm-pack --quiet build widget --target web --mode no-install --no-opt --no-pack --no-gitignore \
    --profile wasm-release --out-dir "$PWD/$out" --out-name "$name" -- --locked
# wasm-pack writes a README copy beside the module; the package has its own.
rm -f "$out/README.md"

# Rust 1.82+ (LLVM 19+) emits these proposals by default for wasm32-unknown-unknown, and
# wasm-bindgen uses reference types for its externref table; wasm-opt must be told, or it
# refuses instructions such as memory.copy and i32.trunc_sat. Every evergreen browser runs
# them (Chrome 96+, Firefox 79+, Safari 15+).
wasm_features=(
    --enable-bulk-memory
    --enable-nontrapping-float-to-int
    --enable-sign-ext
    --enable-mutable-globals
    --enable-reference-types
    --enable-multivalue
)
echo "== widget: wasm-opt -Oz ($("$WASM_OPT" --version))" >&2
"$WASM_OPT" -Oz "${wasm_features[@]}" "$out/${name}_bg.wasm" -o "$out/${name}_bg.opt.wasm"
mv "$out/${name}_bg.opt.wasm" "$out/${name}_bg.wasm"

# Fail here, not in a browser, if the optimized module does not start: instantiate it in Node
# through the generated glue (a broken wasm-opt once made the externref table unusable).
echo "== widget: smoke test (instantiate in Node)" >&2
node --input-type=module - "$PWD/$out/$name.js" "$PWD/$out/${name}_bg.wasm" <<'JS'
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
const [glue, wasm] = process.argv.slice(2)
const mod = await import(pathToFileURL(glue))
try {
  await mod.default({ module_or_path: readFileSync(wasm) })
} catch (error) {
  // Browser globals (window, document) do not exist in Node; anything else is a broken build.
  if (!(error instanceof ReferenceError)) throw error
  console.error(`smoke test: start-up needs a browser (${error.message}); the module itself linked`)
}
if (typeof mod.Widget !== 'function') throw new Error('the module exports no Widget class')
JS

size() { wc -c <"$1" | tr -d ' '; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
report() {
    local label=$1 file=$2 raw gz line
    raw=$(size "$file")
    gz=$(gzip -9 -c "$file" | wc -c | tr -d ' ')
    line="$label: $raw bytes ($(kib "$raw")) raw, $gz bytes ($(kib "$gz")) gzip -9"
    if command -v brotli >/dev/null 2>&1; then
        local br
        br=$(brotli -q 11 -c "$file" | wc -c | tr -d ' ')
        line="$line, $br bytes ($(kib "$br")) brotli -q 11"
    fi
    echo "$line"
}
echo "== widget sizes (release)"
report "  wasm    $out/${name}_bg.wasm" "$out/${name}_bg.wasm"
report "  JS glue $out/$name.js" "$out/$name.js"

echo "== assembling target/web/" >&2
web=target/web
pkg=$web/collab-textarea
rm -rf "$web"
mkdir -p "$pkg"
if [ -d web ]; then
    cp -R web/. "$web/"
else
    echo "build-widget: warning: web/ is missing; target/web/ has no demo page" >&2
fi
if [ -f npm/index.js ]; then
    shopt -s nullglob
    for file in npm/*.js npm/*.d.ts; do
        cp "$file" "$pkg/"
    done
    shopt -u nullglob
else
    echo "build-widget: warning: npm/index.js does not exist yet; the demo page cannot load the element" >&2
fi
cp -R "$out" "$pkg/wasm"
echo "demo web root: $web/ (package files under $pkg/)" >&2
