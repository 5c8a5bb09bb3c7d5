#!/usr/bin/env bash
# Checks that the packed npm package works in a Vite app with no configuration:
#   1. packs ../../npm into npm/collab-textarea-0.1.0.tgz (needs npm/wasm/, built by
#      scripts/build-widget.sh);
#   2. installs it here fresh (npm ci: the lock pins Vite but not the tarball's hash, so the
#      tarball just packed is what gets installed);
#   3. `vite build`s into dist/ and checks that dist/ holds the wasm and the JS points at it;
#   4. starts the Vite dev server and checks that the wasm URL in the pre-bundled package
#      answers with the wasm (dependency pre-bundling moves the JS, not the wasm).
# The browser tests then open dist/ in Chromium. Run from anywhere; `npm run check` runs it too.
set -euo pipefail
cd "$(dirname "$0")"
PKG="$(cd ../../npm && pwd)"

for file in index.js wasm/collab_textarea_widget.js wasm/collab_textarea_widget_bg.wasm wasm/collab_textarea_widget.d.ts; do
    if [ ! -f "$PKG/$file" ]; then
        echo "vite-app check: npm/$file is missing; build the widget first: scripts/build-widget.sh" >&2
        exit 1
    fi
done

echo "== npm pack (npm/)" >&2
rm -f "$PKG/collab-textarea-0.1.0.tgz"
(cd "$PKG" && npm pack --silent --loglevel=error >/dev/null)
if [ ! -f "$PKG/collab-textarea-0.1.0.tgz" ]; then
    echo "vite-app check: npm pack made no npm/collab-textarea-0.1.0.tgz" >&2
    exit 1
fi

echo "== npm ci (examples/vite-app)" >&2
npm ci --no-audit --no-fund --loglevel=error

echo "== vite build" >&2
rm -rf dist
npx --no-install vite build --logLevel warn

echo "== checking dist/ and the dev server" >&2
node check.mjs "$PKG"
