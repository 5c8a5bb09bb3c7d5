// Called by check.sh after `vite build`: node check.mjs PATH/TO/npm
// Checks the installed package is the one just packed, the build's wasm and its reference,
// and the dev server's wasm URL. Prints what it checked; exits 1 on the first failure.
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer } from 'vite'

const APP = path.dirname(fileURLToPath(import.meta.url))
const PKG = path.resolve(process.argv[2] ?? path.join(APP, '../../npm'))
const WASM = 'collab_textarea_widget_bg.wasm'

let failed = false
const ok = (message) => console.log(`ok: ${message}`)
const fail = (message) => {
  console.error(`FAIL: ${message}`)
  failed = true
}
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')
const isWasm = (bytes) => bytes.length > 8 && bytes.subarray(0, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d]))

// 1. What npm ci installed is what npm/ holds now (a stale tarball or cache would differ).
for (const file of ['index.js', 'index.d.ts', `wasm/${WASM}`, 'wasm/collab_textarea_widget.js']) {
  const installed = readFileSync(path.join(APP, 'node_modules/collab-textarea', file))
  if (sha256(installed) === sha256(readFileSync(path.join(PKG, file)))) ok(`installed ${file} is npm/${file}`)
  else fail(`node_modules/collab-textarea/${file} differs from npm/${file}: a stale tarball was installed`)
}

// 2. The production build: the wasm is emitted as an asset, unchanged, and the JS refers to it.
const assets = path.join(APP, 'dist/assets')
const files = readdirSync(assets)
const wasmAssets = files.filter((f) => f.endsWith('.wasm'))
const expected = sha256(readFileSync(path.join(PKG, 'wasm', WASM)))
const emitted = wasmAssets.find((f) => sha256(readFileSync(path.join(assets, f))) === expected)
if (emitted) ok(`dist/assets/${emitted} is the widget's wasm`)
else fail(`no wasm in dist/assets/ equal to npm/wasm/${WASM} (found: ${wasmAssets.join(', ') || 'none'})`)
if (emitted) {
  const js = files.filter((f) => f.endsWith('.js'))
  const referring = js.filter((f) => readFileSync(path.join(assets, f), 'utf8').includes(`/${emitted}`))
  if (referring.length > 0) ok(`dist/assets/${referring.join(', ')} refers to ${emitted}`)
  else fail(`no JS in dist/assets/ refers to ${emitted}`)
  const html = readFileSync(path.join(APP, 'dist/index.html'), 'utf8')
  if (js.some((f) => html.includes(`/assets/${f}`))) ok('dist/index.html loads the bundle')
  else fail('dist/index.html does not load any dist/assets/*.js')
}

// 3. The dev server: the package is pre-bundled into node_modules/.vite/deps/; every wasm URL
//    in that copy must still answer with the wasm.
const server = await createServer({
  root: APP,
  configFile: false,
  logLevel: 'error',
  server: { host: '127.0.0.1', port: 0 }
})
try {
  await server.listen()
  const { port } = server.httpServer.address()
  const origin = `http://127.0.0.1:${port}`
  const main = await (await fetch(`${origin}/src/main.js`)).text()
  const dep = /from\s+["']([^"']*\/collab-textarea\.js[^"']*)["']/.exec(main)?.[1]
  if (!dep) throw new Error('the dev server did not rewrite the collab-textarea import in src/main.js')
  const depUrl = new URL(dep, origin)
  const code = await (await fetch(depUrl)).text()
  const urls = [...code.matchAll(/new URL\(\s*["'`]([^"'`]+\.wasm)["'`]/g)].map((m) => new URL(m[1], depUrl))
  if (urls.length === 0) fail(`no wasm URL in ${depUrl.pathname}`)
  for (const url of new Set(urls.map(String))) {
    const response = await fetch(url)
    const bytes = Buffer.from(await response.arrayBuffer())
    const type = response.headers.get('content-type')
    if (response.ok && type === 'application/wasm' && isWasm(bytes)) {
      ok(`dev server: ${new URL(url).pathname} (from ${depUrl.pathname}) is wasm`)
    } else {
      fail(`dev server: ${url} answers ${response.status} ${type}, not the wasm`)
    }
  }
} finally {
  await server.close()
}

if (failed) process.exit(1)
console.log('vite-app check: all passed')
