#!/usr/bin/env bash
# Builds the React, Vue and Svelte examples from the packed npm package, as a user would:
#   1. packs ../npm into npm/collab-textarea-0.1.0.tgz once (needs npm/wasm/, built by
#      scripts/build-widget.sh), for all three;
#   2. in each of react-app, vue-app, svelte-app: `npm ci` (the lock pins the framework and
#      Vite, not the tarball's hash, so the tarball just packed is what gets installed) and
#      `npm run build` (the React app type-checks its JSX with tsc first);
#   3. checks each dist/ holds the widget's wasm, unchanged, and a script that refers to it.
# The browser tests (tests/browser/suites/frameworks.mjs) then open each dist/ in Chromium.
set -euo pipefail
cd "$(dirname "$0")"
PKG="$(cd ../npm && pwd)"
WASM=collab_textarea_widget_bg.wasm

for file in index.js wasm/collab_textarea_widget.js "wasm/$WASM"; do
    if [ ! -f "$PKG/$file" ]; then
        echo "framework examples: npm/$file is missing; build the widget first: scripts/build-widget.sh" >&2
        exit 1
    fi
done

echo "== npm pack (npm/)" >&2
rm -f "$PKG/collab-textarea-0.1.0.tgz"
(cd "$PKG" && npm pack --silent --loglevel=error >/dev/null)

for app in react-app vue-app svelte-app; do
    started=$SECONDS
    echo "== examples/$app: npm ci, npm run build" >&2
    (cd "$app" &&
        npm ci --no-audit --no-fund --loglevel=error &&
        rm -rf dist &&
        npm run --silent build -- --logLevel warn)
    node --input-type=module - "$app/dist" "$PKG/wasm/$WASM" <<'JS'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
const [dist, wasm] = process.argv.slice(2)
const sha = (file) => createHash('sha256').update(readFileSync(file)).digest('hex')
const assets = path.join(dist, 'assets')
const files = readdirSync(assets)
const emitted = files.find((f) => f.endsWith('.wasm') && sha(path.join(assets, f)) === sha(wasm))
if (!emitted) throw new Error(`${assets} has no copy of ${wasm}: ${files.join(', ')}`)
const js = files.filter((f) => f.endsWith('.js') && readFileSync(path.join(assets, f), 'utf8').includes(`/${emitted}`))
if (js.length === 0) throw new Error(`no script in ${assets} refers to ${emitted}`)
console.log(`ok: ${dist}: ${emitted}, referred to by ${js.join(', ')}`)
JS
    echo "   examples/$app: $((SECONDS - started)) s" >&2
done
