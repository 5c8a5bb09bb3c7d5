// Runs before `npm pack` / `npm publish`: the tarball is useless without the wasm build.
import { existsSync } from 'node:fs'

const missing = [
  'wasm/collab_textarea_widget.js',
  'wasm/collab_textarea_widget_bg.wasm',
  'wasm/collab_textarea_widget.d.ts'
].filter((file) => !existsSync(new URL(file, import.meta.url)))

if (missing.length > 0) {
  console.error(
    `collab-textarea: missing ${missing.map((f) => `npm/${f}`).join(', ')}; ` +
      'build the widget first: scripts/build-widget.sh (from the repository root)'
  )
  process.exit(1)
}
