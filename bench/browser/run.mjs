// Benchmark scenario (e), the browser part: the collab-textarea widget (npm/, wasm + JS) and a
// yjs 13.6.33 baseline bound to a plain <textarea>, in one page of headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core, which downloads no browser). See page.js for what
// is timed and bench/NOTES.md for what the figures mean.
//
//   node run.mjs --mode smoke|quick|full --out FILE.json [--server-bin PATH] [--npm-dir DIR]
//                [--trace FILE.json.gz] [--chrome PATH] [--phases cold,remote,local] [--batch N]
//                [--limit N] [--keys K] [--profile DIR [--profile-only PREFIX]]
//
// --profile DIR writes a Chrome CPU profile (DIR/<part>.cpuprofile, for DevTools) of each remote
// apply, local replay and keystroke run (or only of the parts whose name starts with PREFIX:
// remote-, local-, keys-end-, keys-middle-); the figures of a profiled part are not comparable.
//
// smoke: the first 5,000 updates of the trace for everything, 20 keystrokes, one cold load each
// (checks the instrument). quick: remote apply and local replay of the first 30,000 updates;
// cold loads (5 each) and keystrokes (200 per position) on the whole document. full: all
// 259,778 updates, 500 keystrokes, 9 cold loads.

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'
import { chromium } from 'playwright-core'
import { WebSocket, WebSocketServer } from 'ws'
import * as Y from 'yjs'
import { readSync, syncFrame, varUint } from './sync-frames.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '../..')

// ---------------------------------------------------------------------------------------------
// Arguments.

const argv = process.argv.slice(2)
function arg (name, fallback) {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : fallback
}
const MODE = arg('mode', 'quick')
const PLANS = {
  // limit: updates in the remote apply and local replay; whole: cold load and keystrokes on the
  // whole document (else on the first `limit` updates' document).
  smoke: { limit: 5000, keys: 20, coldReps: 1, whole: false },
  quick: { limit: 30000, keys: 200, coldReps: 5, whole: true },
  full: { limit: Infinity, keys: 500, coldReps: 9, whole: true }
}
const plan = PLANS[MODE] && { ...PLANS[MODE] }
if (!plan) {
  console.error('usage: node run.mjs --mode smoke|quick|full --out FILE.json')
  process.exit(2)
}
// For working on one part: the first N updates of the trace, K keystrokes per position.
if (arg('limit')) plan.limit = Number(arg('limit'))
if (arg('keys')) plan.keys = Number(arg('keys'))
const OUT = path.resolve(arg('out', path.join(ROOT, `target/bench/browser-${MODE}.json`)))
const SERVER_BIN = path.resolve(arg('server-bin', path.join(ROOT, 'target/release/sync-server')))
const NPM_DIR = path.resolve(arg('npm-dir', path.join(ROOT, 'npm')))
const TRACE = path.resolve(arg('trace', path.join(ROOT, 'bench/data/automerge-paper.json.gz')))
const CHROME = arg('chrome', process.env.CHROME_BIN ?? '/usr/bin/chromium')
/** Sync messages per WebSocket frame in an extra remote-apply run (1: no extra run). */
const BATCH = Number(arg('batch', '1'))
/** Parts to run (for working on the instrument): cold, remote, local, probe. */
const PHASES = new Set(arg('phases', 'cold,remote,local,probe').split(','))
/** Seconds the whole run may take before it gives up (0: no limit): a page that never reaches
 *  its end state fails the run with the phase it was in, instead of holding CI until its own
 *  limit. */
const TIME_LIMIT_S = Number(arg('time-limit', { smoke: 300, quick: 3600, full: 0 }[MODE] ?? 0))
const PROFILE = arg('profile') && path.resolve(arg('profile'))
const PROFILE_ONLY = arg('profile-only', '')

/** `run()`, under the page's CPU profiler when --profile is given. */
async function profiled (page, name, run) {
  if (!PROFILE || !name.startsWith(PROFILE_ONLY)) return run()
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
  await cdp.send('Profiler.start')
  try {
    return await run()
  } finally {
    const { profile } = await cdp.send('Profiler.stop')
    fs.mkdirSync(PROFILE, { recursive: true })
    fs.writeFileSync(path.join(PROFILE, `${name}.cpuprofile`), JSON.stringify(profile))
    await cdp.detach()
  }
}

/** The last line logged: where a run that gives up was. */
let lastLog = 'start'
const log = (...a) => { lastLog = a.join(' '); console.error('  ', ...a) }
const loadavg = () => Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0])

// ---------------------------------------------------------------------------------------------
// The trace as per-keystroke Yjs updates (yjs in Node: one transaction per patch, client 1000).

/** The first `plan.limit` patches as updates (`prefix`: their text), and the document after
 *  them or, with `plan.whole`, after all of them (`compacted`, `final`: its text). */
function loadTrace () {
  const json = JSON.parse(zlib.gunzipSync(fs.readFileSync(TRACE)).toString('utf8'))
  const patches = []
  for (const txn of json.txns) for (const p of txn.patches) patches.push(p)
  const n = Math.min(plan.limit, patches.length)
  const doc = new Y.Doc()
  doc.clientID = 1000
  const text = doc.getText('content')
  const updates = []
  const onUpdate = (u) => updates.push(u)
  doc.on('update', onUpdate)
  let prefix = null
  for (const [i, [pos, del, ins]] of patches.entries()) {
    if (i === n) {
      prefix = text.toString()
      doc.off('update', onUpdate)
      if (!plan.whole) break
    }
    doc.transact(() => {
      if (del > 0) text.delete(pos, del)
      if (ins) text.insert(pos, ins)
    })
  }
  const final = text.toString()
  prefix ??= final
  if (plan.whole && final !== json.endContent) throw new Error('replaying the trace did not give its endContent')
  if (updates.length !== n) throw new Error(`${updates.length} updates for ${n} patches`)
  return { patches: patches.slice(0, n), updates, prefix, total: patches.length, compacted: Y.encodeStateAsUpdate(doc), final }
}

// ---------------------------------------------------------------------------------------------
// The page's server: static files, the trace data, and the "feed" WebSocket server that speaks
// y-protocols sync to the page (answers SyncStep1 with an empty SyncStep2, swallows what it
// gets, and on GET /go?doc=D sends every trace update to D as its own sync Update frame).

// Cross-origin isolated (COOP + COEP), so that performance.now() has 5 µs resolution instead of
// 100 µs; everything the page loads is same-origin.
const ISOLATED = { 'cache-control': 'no-store', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json', '.cjs': 'text/javascript' }

/** An import map for `yjs` and `lib0/*` from their package.json exports (browser ES modules). */
function importMap () {
  const nm = path.join(HERE, 'node_modules')
  const imports = {}
  const pick = (v) => typeof v === 'string' ? v : (v.browser && pick(v.browser)) || (v.module && pick(v.module)) || (v.import && pick(v.import)) || (v.default && pick(v.default))
  for (const pkg of ['yjs', 'lib0', 'isomorphic.js']) {
    const meta = JSON.parse(fs.readFileSync(path.join(nm, pkg, 'package.json'), 'utf8'))
    for (const [key, value] of Object.entries(meta.exports ?? {})) {
      const target = pick(value)
      if (!target || !/\.m?js$/.test(target)) continue
      const name = key === '.' ? pkg : `${pkg}/${key.slice(2)}`
      imports[name] = `/node_modules/${pkg}/${target.replace(/^\.\//, '')}`
    }
  }
  return { imports }
}

function pageHtml () {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>collab-textarea bench (e)</title>
<script type="importmap">${JSON.stringify(importMap())}</script>
</head><body>
<div id="widget-host"></div>
<textarea id="yjs-textarea" rows="8" cols="60"></textarea>
<script type="module" src="/page.js"></script>
</body></html>`
}

async function startPageServer (data) {
  const html = pageHtml()
  const feeds = new Map()
  const files = (root, rel) => {
    const file = path.join(root, rel)
    return file.startsWith(root) && fs.existsSync(file) && fs.statSync(file).isFile() ? file : null
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost')
    const p = decodeURIComponent(url.pathname)
    const send = (status, type, body) => res.writeHead(status, { 'content-type': type, ...ISOLATED }).end(body)
    if (p === '/page.html') return send(200, MIME['.html'], html)
    if (p === '/favicon.ico') return send(204, 'image/x-icon', '')
    if (p === '/data/updates.bin') return send(200, 'application/octet-stream', data.updatesBin)
    if (p === '/data/patches.json') return send(200, MIME['.json'], data.patchesJson)
    if (p === '/go') {
      const ws = feeds.get(url.searchParams.get('doc'))
      if (!ws) return send(404, 'text/plain', 'no such feed')
      send(200, 'text/plain', 'ok')
      const batch = Number(url.searchParams.get('batch') ?? 1)
      setImmediate(() => stream(ws, batch === 1 ? data.frames : batched(data.frames, batch)))
      return
    }
    let file = null
    if (p === '/page.js' || p === '/sync-frames.mjs') file = path.join(HERE, p.slice(1))
    else if (p.startsWith('/collab-textarea/')) file = files(NPM_DIR, p.slice('/collab-textarea/'.length))
    else if (p.startsWith('/node_modules/')) file = files(path.join(HERE, 'node_modules'), p.slice('/node_modules/'.length))
    if (!file) return send(404, 'text/plain', 'not found')
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', ...ISOLATED })
    fs.createReadStream(file).pipe(res)
  })
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 })
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://localhost')
    const m = /^\/feed\/([\w.-]+)$/.exec(url.pathname)
    if (!m) return socket.destroy()
    wss.handleUpgrade(req, socket, head, (ws) => {
      feeds.set(m[1], ws)
      ws.on('message', (buf) => {
        const msg = readSync(buf)
        if (msg && msg[0] === 0) ws.send(syncFrame(1, new Uint8Array([0, 0])))
      })
      ws.on('close', () => { if (feeds.get(m[1]) === ws) feeds.delete(m[1]) })
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  return {
    url: `http://127.0.0.1:${port}`,
    feed: `ws://127.0.0.1:${port}/feed`,
    close: () => { wss.close(); server.closeAllConnections(); server.close() }
  }
}

/** `frames` concatenated `n` at a time: several sync messages per WebSocket frame. */
function batched (frames, n) {
  const out = []
  for (let i = 0; i < frames.length; i += n) out.push(Buffer.concat(frames.slice(i, i + n)))
  return out
}

/** Sends every frame, 1,000 per corked batch, yielding to Node's loop in between. */
async function stream (ws, frames) {
  const sock = ws._socket
  for (let i = 0; i < frames.length; i += 1000) {
    sock.cork()
    for (const f of frames.slice(i, i + 1000)) ws.send(f)
    sock.uncork()
    if (ws.bufferedAmount > 4 * 1024 * 1024) {
      while (ws.bufferedAmount > 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 1))
    } else {
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The real sync server (for the cold load): a temporary SQLite file, documents unloaded 0.2 s
// after their last client leaves, so the widget's load reads the document from disk.

async function startSyncServer () {
  if (!fs.existsSync(SERVER_BIN)) throw new Error(`no sync-server at ${SERVER_BIN}`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-bench-e-'))
  const child = spawn(SERVER_BIN, ['--listen', '127.0.0.1:0', '--data', path.join(dir, 'bench.sqlite3'), '--unload-after', '0.2',
    // Keystrokes come faster than a person types (as in the server scenarios).
    '--max-messages-per-second', '0', '--max-position-checks-per-second', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  const errLines = []
  readline.createInterface({ input: child.stderr }).on('line', (l) => errLines.push(l))
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sync-server did not start in 20 s')), 20_000)
    child.once('exit', (code) => reject(new Error(`sync-server exited (${code}): ${errLines.slice(-5).join('\n')}`)))
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/([\d.:]+)/.exec(line)
      if (m) { clearTimeout(timer); resolve(m[1]) }
    })
  })
  return {
    ws: `ws://${url}/sync`,
    errLines,
    close: () => { child.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }) }
  }
}

/** Writes `update` into `doc` on the sync server and waits until the server answers a
 *  SyncStep1 with (at least) that much, i.e. it holds the document. */
async function pushDocument (wsBase, doc, update) {
  const ws = new WebSocket(`${wsBase}/${doc}`)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pushing ${doc}: no answer`)), 20_000)
    ws.on('message', (buf) => {
      const msg = readSync(buf)
      if (msg && msg[0] === 1 && msg[1].length >= update.length / 2) { clearTimeout(timer); resolve() }
    })
    ws.send(syncFrame(2, update))
    ws.send(Buffer.from([0, 0, 1, 0]))
  })
  ws.close()
}

// ---------------------------------------------------------------------------------------------
// Statistics.

function pct (values, p) {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
const median = (v) => pct(v, 50)
const summary = (v) => ({ n: v.length, p50_ms: pct(v, 50), p99_ms: pct(v, 99), max_ms: Math.max(...v), mean_ms: v.reduce((a, b) => a + b, 0) / v.length })

// ---------------------------------------------------------------------------------------------

async function main () {
  const began = performance.now()
  const result = { mode: MODE, loadavg_start: loadavg(), machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version } }
  log(`(e) browser: generating the trace's updates with yjs (${MODE})`)
  const trace = loadTrace()
  const count = trace.updates.length
  result.trace = { updates: count, of_updates: trace.total, prefix_chars: trace.prefix.length, final_chars: trace.final.length, compacted_bytes: trace.compacted.length, generated_with: 'yjs 13.6.33 in Node, client 1000, one transaction per patch' }
  log(`${count} of ${trace.total} updates (text ${trace.prefix.length} chars); loaded document ${trace.final.length} chars, compacted ${trace.compacted.length} bytes`)
  const data = {
    frames: trace.updates.map((u) => syncFrame(2, u)),
    updatesBin: Buffer.concat(trace.updates.flatMap((u) => [Buffer.from(varUint(u.length)), Buffer.from(u)])),
    patchesJson: JSON.stringify(trace.patches)
  }
  const pageServer = await startPageServer(data)
  const sync = PHASES.has('cold') || PHASES.has('probe') || (PHASES.has('local') && plan.whole)
    ? await startSyncServer()
    : null
  const browser = await chromium.launch({
    executablePath: CHROME,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
  result.browser = `Chromium ${browser.version()}`
  if (TIME_LIMIT_S > 0) {
    setTimeout(() => {
      console.error(`(e) browser: gave up after ${TIME_LIMIT_S} s (--time-limit) after '${lastLog}'`)
      const closing = Promise.race([browser.close(), new Promise((resolve) => setTimeout(resolve, 5000))])
      closing.finally(() => { sync?.close(); process.exit(1) })
    }, TIME_LIMIT_S * 1000).unref()
  }
  const errors = []
  const openPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } })
    const page = await context.newPage()
    page.on('pageerror', (e) => errors.push(String(e?.stack ?? e)))
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`) })
    await page.goto(`${pageServer.url}/page.html`)
    await page.waitForFunction(() => window.bench !== undefined)
    if (!await page.evaluate(() => window.crossOriginIsolated)) throw new Error('the page is not cross-origin isolated (timer resolution)')
    return { context, page }
  }
  // The results so far, rewritten after each phase (marked partial until the end), so that a
  // run cut short keeps what it measured.
  const save = () => {
    fs.mkdirSync(path.dirname(OUT), { recursive: true })
    fs.writeFileSync(OUT, JSON.stringify({ ...result, partial: true, errors }, null, 2))
  }
  const check = (what, text, expected = trace.final) => {
    if (text !== expected) throw new Error(`${what}: the textarea does not hold the expected text (${text.length} vs ${expected.length} chars)`)
  }

  try {
    // Cold load: a fresh browser context (empty HTTP cache) per repetition, widget and yjs in
    // the same page, alternating which goes first.
    if (PHASES.has('cold')) {
    log('cold load')
    const cold = { widget: [], yjs: [] }
    for (let r = 0; r < plan.coldReps; r++) {
      await pushDocument(sync.ws, `cold-w${r}`, trace.compacted)
      await pushDocument(sync.ws, `cold-y${r}`, trace.compacted)
    }
    await new Promise((resolve) => setTimeout(resolve, 1000)) // let the server unload them
    for (let r = 0; r < plan.coldReps; r++) {
      const { context, page } = await openPage()
      const order = r % 2 === 0 ? ['widget', 'yjs'] : ['yjs', 'widget']
      for (const who of order) {
        const fn = who === 'widget' ? 'coldWidget' : 'coldYjs'
        const doc = who === 'widget' ? `cold-w${r}` : `cold-y${r}`
        const res = await page.evaluate(([fn, a]) => window.bench[fn](a), [fn, { server: sync.ws, doc, length: trace.final.length }])
        check(`cold load ${who}`, res.text)
        delete res.text
        cold[who].push(res)
      }
      await context.close()
    }
    const coldSummary = (runs) => Object.fromEntries(['total_ms', 'code_ms', 'doc_ms'].map((k) => [k, median(runs.map((x) => x[k]))]))
    result.cold_load = { widget: { ...coldSummary(cold.widget), runs: cold.widget }, yjs: { ...coldSummary(cold.yjs), runs: cold.yjs } }
    log(`widget ${result.cold_load.widget.total_ms.toFixed(1)} ms (code ${result.cold_load.widget.code_ms.toFixed(1)}), yjs ${result.cold_load.yjs.total_ms.toFixed(1)} ms (code ${result.cold_load.yjs.code_ms.toFixed(1)})`)
    save()
    }

    // Remote apply: each in a fresh page.
    if (PHASES.has('remote')) {
    log(`remote apply of ${count} updates`)
    result.remote_apply = { batch: BATCH }
    for (const [who, fn, extra] of [
      ['widget', 'remoteWidget', { doc: 'remote-w', batch: 1 }],
      ['yjs', 'remoteYjs', { doc: 'remote-y', batch: 1 }],
      // With --batch N, also N update messages per frame (the transport's per-frame cost
      // amortised; each update is still applied on its own). Off by default: the widget's run
      // takes as long either way (its per-update work dominates), and yjs_in_page gives yjs
      // without a transport.
      ...(BATCH > 1
        ? [[`widget_batch${BATCH}`, 'remoteWidget', { doc: 'remote-wb', batch: BATCH }],
            [`yjs_batch${BATCH}`, 'remoteYjs', { doc: 'remote-yb', batch: BATCH }]]
        : []),
      ['yjs_in_page', 'remoteYjsInPage', {}]
    ]) {
      const { context, page } = await openPage()
      const res = await profiled(page, `remote-${who}`, () => page.evaluate(([fn, a]) => window.bench[fn](a), [fn, { feed: pageServer.feed, count, expected: trace.prefix, ...extra }]))
      check(`remote apply ${who}`, res.text, trace.prefix)
      result.remote_apply[who] = { ms: res.ms, updates_per_s: count / (res.ms / 1000) }
      log(`${who}: ${res.ms.toFixed(0)} ms, ${(count / (res.ms / 1000)).toFixed(0)} updates/s`)
      save()
      await context.close()
    }
    }

    // Local replay, then keystrokes in the document it left or, when that is only a prefix of
    // the trace, in the whole document loaded from the sync server.
    if (PHASES.has('local')) {
    log('local replay and keystrokes')
    result.local_replay = {}
    result.keystrokes = { end: {}, middle: {} }
    const whole = trace.prefix !== trace.final
    for (const who of ['widget', 'yjs']) {
      let { context, page } = await openPage()
      const res = await profiled(page, `local-${who}`, () => page.evaluate((a) => window.bench.localReplay(a), { who, feed: pageServer.feed, doc: `local-${who}` }))
      check(`local replay ${who}`, res.text, trace.prefix)
      if (res.frames !== count) throw new Error(`local replay ${who}: ${res.frames} update frames sent for ${count} patches`)
      result.local_replay[who] = { ms: res.ms, patches_per_s: count / (res.ms / 1000) }
      log(`${who}: local replay ${res.ms.toFixed(0)} ms`)
      save()
      if (whole) {
        await context.close()
        ;({ context, page } = await openPage())
        await pushDocument(sync.ws, `keys-${who}`, trace.compacted)
        const loaded = await page.evaluate((a) => window.bench.loadForKeystrokes(a), { who, server: sync.ws, doc: `keys-${who}`, length: trace.final.length })
        check(`loading the document for keystrokes, ${who}`, loaded.text)
      }
      for (const where of ['end', 'middle']) {
        const k = await profiled(page, `keys-${where}-${who}`, () => page.evaluate((a) => window.bench.keystrokes(a), { who, where, n: plan.keys }))
        result.keystrokes[where][who] = { chars: k.chars, update: summary(k.update), handler: summary(k.handler) }
        log(`${who} keystrokes at ${where} (${k.chars} chars): update p50 ${result.keystrokes[where][who].update.p50_ms.toFixed(3)} p99 ${result.keystrokes[where][who].update.p99_ms.toFixed(3)} ms`)
        save()
      }
      await context.close()
    }
    }

    // Where the time goes (see probe() in page.js): whole-document reads at the full text.
    if (PHASES.has('probe')) {
      log('probe: whole-document reads')
      await pushDocument(sync.ws, 'probe-w', trace.compacted)
      await pushDocument(sync.ws, 'probe-y', trace.compacted)
      const { context, page } = await openPage()
      result.probe = await page.evaluate((a) => window.bench.probe(a), { server: sync.ws, docW: 'probe-w', docY: 'probe-y', length: trace.final.length, n: 21 })
      log(JSON.stringify(result.probe))
      await context.close()
    }
  } finally {
    await browser.close().catch(() => {})
    pageServer.close()
    sync?.close()
  }
  result.errors = errors
  result.seconds = (performance.now() - began) / 1000
  result.loadavg_end = loadavg()
  fs.mkdirSync(path.dirname(OUT), { recursive: true })
  fs.writeFileSync(OUT, JSON.stringify(result, null, 2))
  log(`wrote ${OUT} (${result.seconds.toFixed(0)} s)`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
