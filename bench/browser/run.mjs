// Benchmark scenario (e), the browser part: the collab-textarea widget (npm/, wasm + JS) and a
// yjs 13.6.33 baseline bound to a plain <textarea>, in one page of headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core, which downloads no browser). See page.js for what
// is timed and bench/NOTES.md for what the figures mean.
//
//   node run.mjs --mode smoke|quick|full --out FILE.json [--server-bin PATH] [--npm-dir DIR]
//                [--trace FILE.json.gz] [--chrome PATH] [--phases cold,remote,local,probe,persist]
//                [--batch N] [--limit N] [--keys K] [--profile DIR [--profile-only PREFIX]]
//   node run.mjs --render FILE.json --into BENCHMARKS.md
//
// --render puts the part about this device's copy (the `persist` phase, which sync-bench's
// report does not know) into BENCHMARKS.md as its own section after the browser table,
// replacing that section if it is there (scripts/bench.sh runs it after sync-bench).
//
// --profile DIR writes a Chrome CPU profile (DIR/<part>.cpuprofile, for DevTools) of each remote
// apply, local replay and keystroke run (or only of the parts whose name starts with PREFIX:
// remote-, local-, keys-end-, keys-middle-); the figures of a profiled part are not comparable.
//
// smoke: the first 5,000 updates of the trace for everything, 20 keystrokes, one cold load each
// (checks the instrument). quick: remote apply and local replay of the first 30,000 updates;
// cold loads (5 each) and keystrokes (200 per position) on the whole document. full: all
// 259,778 updates, 500 keystrokes, 9 cold loads. The persist phase (this device's copy) uses the
// cold-load document (the whole document but in smoke mode): time to first text (smoke 2,
// quick 10, full 20 repetitions) and keystrokes with persistence on and off (two rounds,
// on/none then none/on), each page in a Chromium of its own on a fresh --user-data-dir.

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
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
  // firstReps: repetitions of the time to first text (persist phase).
  smoke: { limit: 5000, keys: 20, coldReps: 1, firstReps: 2, whole: false },
  quick: { limit: 30000, keys: 200, coldReps: 5, firstReps: 10, whole: true },
  full: { limit: Infinity, keys: 500, coldReps: 9, firstReps: 20, whole: true }
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
/** Parts to run (for working on the instrument): cold, remote, local, probe, persist. */
const PHASES = new Set(arg('phases', 'cold,remote,local,probe,persist').split(','))
/** What every widget part but the persist phase runs with: the widget's default. */
const DEFAULT_PERSIST = 'indexeddb (the default: a copy in IndexedDB; fresh off-the-record contexts, IndexedDB in memory)'
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

/** A TCP relay in front of the sync-server (`wsBase`: its ws://HOST:PORT/sync) that can hold
 *  connections back. While held, a new connection is accepted and left waiting: nothing is read
 *  from it or sent to it, so the page's WebSocket stays connecting (the server unreachable, as
 *  far as the page can tell, and no console error). `release()` relays the waiting ones (their
 *  bytes were kept) and every later connection at once. */
async function startGate (wsBase) {
  const target = new URL(wsBase.replace(/^ws/, 'http'))
  let held = null
  const open = new Set()
  const relay = (client) => {
    const upstream = net.connect(Number(target.port), target.hostname)
    const end = () => { client.destroy(); upstream.destroy() }
    for (const s of [client, upstream]) { s.on('error', end); s.on('close', end) }
    client.pipe(upstream)
    upstream.pipe(client)
  }
  const server = net.createServer((client) => {
    open.add(client)
    client.on('close', () => open.delete(client))
    if (held) {
      client.pause()
      client.on('error', () => client.destroy())
      held.push(client)
    } else {
      relay(client)
    }
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    ws: `ws://127.0.0.1:${server.address().port}${target.pathname}`,
    hold () { held ??= [] },
    release () {
      const waiting = held ?? []
      held = null
      for (const c of waiting) if (!c.destroyed) relay(c)
    },
    close () {
      for (const c of open) c.destroy()
      server.close()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics.

function pct (values, p) {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
const median = (v) => pct(v, 50)
const summary = (v) => ({ n: v.length, p50_ms: pct(v, 50), p99_ms: pct(v, 99), max_ms: Math.max(...v), mean_ms: v.reduce((a, b) => a + b, 0) / v.length })
/** Median and p90 over repetitions (with 10, the p90 is the 9th of the 10 sorted). */
const spread = (v) => v.length ? { n: v.length, median_ms: pct(v, 50), p90_ms: pct(v, 90), min_ms: Math.min(...v), max_ms: Math.max(...v) } : null

// ---------------------------------------------------------------------------------------------
// This device's copy: time to first text from the network and from IndexedDB, and what
// persisting costs a keystroke.

async function persistPhase ({ out, sync, openPage, closePage, check, save, compacted, length }) {
  out.reps = plan.firstReps
  out.profile = 'each repetition and keystroke page in a browser of its own on a fresh --user-data-dir (IndexedDB on disk)'
  // Time to first text. Per repetition one fresh profile (empty HTTP cache and IndexedDB) and
  // one document; the widget reaches the sync-server through the gate.
  log(`this device's copy: time to first text (${plan.firstReps} repetitions)`)
  const gate = await startGate(sync.ws)
  const runs = { network: [], device_unreachable: [], device_reachable: [] }
  try {
    for (let r = 0; r < plan.firstReps; r++) await pushDocument(sync.ws, `first-${r}`, compacted)
    await new Promise((resolve) => setTimeout(resolve, 1000)) // let the server unload them
    for (let r = 0; r < plan.firstReps; r++) {
      const doc = `first-${r}`
      const { context, page } = await openPage({ profile: true })
      const call = (fn, a) => page.evaluate(([fn, a]) => window.bench[fn](a), [fn, a])
      const first = async (kind) => {
        const res = await call('firstText', { server: gate.ws, doc, length })
        check(`first text, ${kind}`, res.text)
        delete res.text
        runs[kind].push(res)
        return res
      }
      const reload = async () => {
        await page.reload()
        await page.waitForFunction(() => window.bench !== undefined)
      }
      // (a) From the network: the empty IndexedDB is opened (created), then the socket.
      await first('network')
      // The copy is written once the loaded document is in it; then the page goes.
      Object.assign(runs.network.at(-1), await call('firstTextEnd', { connected: true, copied: true }))
      // (b) From the copy, the server held back: nothing can come over the socket.
      await reload()
      gate.hold()
      const b = await first('device_unreachable')
      if (b.socket_message_ms !== null || b.socket_open_ms !== null) throw new Error('first text from the copy: the socket delivered while the server was held back')
      gate.release()
      Object.assign(b, await call('firstTextEnd', { connected: true, copied: true }))
      // (b') From the copy, the server reachable (the socket opens once the copy is loaded).
      await reload()
      await first('device_reachable')
      Object.assign(runs.device_reachable.at(-1), await call('firstTextEnd', { connected: true }))
      await closePage(context)
    }
  } finally {
    gate.close()
  }
  const ms = (kind, key) => runs[kind].map((x) => x[key]).filter((x) => x !== null)
  out.first_text = {
    chars: length,
    network: { text: spread(ms('network', 'text_ms')), socket_created: spread(ms('network', 'socket_created_ms')), runs: runs.network },
    device_unreachable: { text: spread(ms('device_unreachable', 'text_ms')), runs: runs.device_unreachable },
    device_reachable: {
      text: spread(ms('device_reachable', 'text_ms')),
      socket_created: spread(ms('device_reachable', 'socket_created_ms')),
      socket_first_message: spread(ms('device_reachable', 'socket_message_ms')),
      runs: runs.device_reachable
    }
  }
  const t = out.first_text
  log(`first text: network median ${t.network.text.median_ms.toFixed(1)} p90 ${t.network.text.p90_ms.toFixed(1)} ms; copy (server held back) ${t.device_unreachable.text.median_ms.toFixed(1)} / ${t.device_unreachable.text.p90_ms.toFixed(1)} ms; copy (server reachable) ${t.device_reachable.text.median_ms.toFixed(1)} / ${t.device_reachable.text.p90_ms.toFixed(1)} ms`)
  save()

  // Keystrokes with persistence on (the default) and `persist: "none"`: the document and
  // positions of the keystroke part (the whole document loaded from the sync-server into a
  // fresh page, `plan.keys` at the end, then as many in the middle), two rounds in opposite
  // order, pooled per setting.
  log(`this device's copy: keystrokes with persist on and "none" (${plan.keys} per position and page)`)
  const order = [['on', 'none'], ['none', 'on']]
  const acc = {}
  for (const [round, settings] of order.entries()) {
    for (const setting of settings) {
      const doc = `keys-p${round}-${setting}`
      await pushDocument(sync.ws, doc, compacted)
      const { context, page } = await openPage({ profile: true })
      const loaded = await page.evaluate((a) => window.bench.loadForKeystrokes(a), { who: 'widget', server: sync.ws, doc, length, persist: setting === 'none' ? 'none' : undefined })
      check(`loading the document for keystrokes, persist ${setting}`, loaded.text)
      for (const where of ['end', 'middle']) {
        const k = await profiled(page, `keys-${where}-persist-${setting}-${round}`, () => page.evaluate((a) => window.bench.keystrokes(a), { who: 'widget', where, n: plan.keys }))
        const a = ((acc[setting] ??= {})[where] ??= { chars: k.chars, update: [], handler: [], wrote: [], puts: 0, put_ms: [], put_bytes: [] })
        a.update.push(...k.update)
        a.handler.push(...k.handler)
        a.wrote.push(...k.wrote)
        a.puts += k.puts
        a.put_ms.push(...k.put_ms)
        a.put_bytes.push(...k.put_bytes)
      }
      await closePage(context)
    }
  }
  out.keystrokes = { order: order.map((o) => o.join(',')), pages_per_setting: order.length }
  for (const [setting, byWhere] of Object.entries(acc)) {
    out.keystrokes[setting] = {}
    for (const [where, a] of Object.entries(byWhere)) {
      const started = a.update.filter((_, i) => a.wrote[i])
      const others = a.update.filter((_, i) => !a.wrote[i])
      out.keystrokes[setting][where] = {
        chars: a.chars,
        update: summary(a.update),
        handler: summary(a.handler),
        copy_writes: a.puts,
        keystrokes_starting_a_write: started.length,
        update_when_starting_a_write: started.length ? summary(started) : null,
        update_otherwise: others.length ? summary(others) : null,
        put_call: a.put_ms.length ? summary(a.put_ms) : null,
        copy_bytes: a.put_bytes.length ? pct(a.put_bytes, 50) : null
      }
      const x = out.keystrokes[setting][where]
      log(`persist ${setting}, keystrokes at ${where} (${x.chars} chars): update p50 ${x.update.p50_ms.toFixed(3)} p99 ${x.update.p99_ms.toFixed(3)} ms; ${x.copy_writes} copy writes, ${x.keystrokes_starting_a_write} started in a keystroke`)
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main () {
  const began = performance.now()
  const result = { mode: MODE, started_at: new Date().toISOString(), loadavg_start: loadavg(), binaries: { sync_server: SERVER_BIN, npm_dir: NPM_DIR }, machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version } }
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
  const sync = PHASES.has('cold') || PHASES.has('probe') || PHASES.has('persist') || (PHASES.has('local') && plan.whole)
    ? await startSyncServer()
    : null
  const chromeArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  const browser = await chromium.launch({ executablePath: CHROME, headless: true, args: chromeArgs })
  // Browsers of their own with an on-disk profile (the persist phase), closed with the run.
  const profiles = new Map()
  const closeProfiles = () => Promise.all([...profiles.keys()].map((c) => c.close().catch(() => {})))
  result.browser = `Chromium ${browser.version()}`
  if (TIME_LIMIT_S > 0) {
    setTimeout(() => {
      console.error(`(e) browser: gave up after ${TIME_LIMIT_S} s (--time-limit) after '${lastLog}'`)
      const closing = Promise.race([Promise.all([browser.close(), closeProfiles()]), new Promise((resolve) => setTimeout(resolve, 5000))])
      closing.finally(() => { sync?.close(); process.exit(1) })
    }, TIME_LIMIT_S * 1000).unref()
  }
  const errors = []
  // A page in a fresh browser context of the one browser (off the record: its HTTP cache and
  // IndexedDB live in memory), or, with `profile`, in a browser of its own started on a fresh
  // --user-data-dir (IndexedDB on disk, as in a person's browser; `closePage` removes it).
  const viewport = { width: 1000, height: 800 }
  const openPage = async ({ profile = false } = {}) => {
    let context
    if (profile) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-bench-profile-'))
      context = await chromium.launchPersistentContext(dir, { executablePath: CHROME, headless: true, args: chromeArgs, viewport })
      profiles.set(context, dir)
    } else {
      context = await browser.newContext({ viewport })
    }
    const page = context.pages()[0] ?? await context.newPage()
    page.on('pageerror', (e) => errors.push(String(e?.stack ?? e)))
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`) })
    await page.goto(`${pageServer.url}/page.html`)
    await page.waitForFunction(() => window.bench !== undefined)
    if (!await page.evaluate(() => window.crossOriginIsolated)) throw new Error('the page is not cross-origin isolated (timer resolution)')
    return { context, page }
  }
  const closePage = async (context) => {
    await context.close()
    const dir = profiles.get(context)
    if (dir) {
      profiles.delete(context)
      fs.rmSync(dir, { recursive: true, force: true })
    }
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
    result.cold_load = { persist: DEFAULT_PERSIST, widget: { ...coldSummary(cold.widget), runs: cold.widget }, yjs: { ...coldSummary(cold.yjs), runs: cold.yjs } }
    log(`widget ${result.cold_load.widget.total_ms.toFixed(1)} ms (code ${result.cold_load.widget.code_ms.toFixed(1)}), yjs ${result.cold_load.yjs.total_ms.toFixed(1)} ms (code ${result.cold_load.yjs.code_ms.toFixed(1)})`)
    save()
    }

    // Remote apply: each in a fresh page.
    if (PHASES.has('remote')) {
    log(`remote apply of ${count} updates`)
    result.remote_apply = { batch: BATCH, persist: DEFAULT_PERSIST }
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
    result.local_replay = { persist: DEFAULT_PERSIST }
    result.keystrokes = { persist: DEFAULT_PERSIST, end: {}, middle: {} }
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

    // This device's copy (the widget's `persist`), on the cold-load document.
    if (PHASES.has('persist')) {
      result.persist = {}
      await persistPhase({ out: result.persist, sync, openPage, closePage, check, save, compacted: trace.compacted, length: trace.final.length })
    }
  } finally {
    await closeProfiles()
    for (const dir of profiles.values()) fs.rmSync(dir, { recursive: true, force: true })
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

// ---------------------------------------------------------------------------------------------
// The persist phase in BENCHMARKS.md: its own section, after the browser table that sync-bench
// writes (bench/src/report.rs), in that table's format (`—` for what was not measured, ratios
// as `0.00×`).

const PERSIST_HEADING = "### (e) Widget: this device's copy (IndexedDB) in headless Chromium"

/** `sameRun`: the browser table above comes from this run (its line names this run's mode,
 *  length and load averages). */
function persistSection (b, sameRun) {
  const n = (v, digits) => typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—'
  const ratio = (a, c) => typeof a === 'number' && typeof c === 'number' && c > 0 ? `${(a / c).toFixed(2)}×` : '—'
  const p = b?.persist
  let md = `${PERSIST_HEADING}\n\n`
  if (!p?.first_text && !p?.keystrokes) {
    return `${md}Not measured: ${b?.error ?? (b ? 'the browser run stopped before this part' : 'the browser benchmark did not run')}.\n\n`
  }
  const when = b.started_at ? `${b.started_at.slice(0, 16).replace('T', ' ')} UTC` : 'date not recorded'
  md += `${b.browser ?? 'Chromium'}, ${b.mode} mode, browser run of ${when}; 1-minute load average ${n(b.loadavg_start, 2)} at its start, ${n(b.loadavg_end, 2)} at its end. ` +
    `The document is the cold-load one (${b.trace?.final_chars} characters, compacted ${b.trace?.compacted_bytes} bytes), on the same sync-server. ` +
    (sameRun
      ? 'The browser table above is from this run: its widget rows ran with the widget\'s default, persistence on (`persist` unset: a copy in IndexedDB), each page in a fresh off-the-record browser context (IndexedDB in memory, empty at the start). '
      : 'The browser table above is from another run (its own line says which). ') +
    'The rows below ran in browsers of their own, each on a fresh on-disk profile (`--user-data-dir`), so IndexedDB is on disk. ' +
    'See bench/NOTES.md, "Scenario (e) in the browser", *This device\'s copy*, for what each row includes.\n\n'
  if (b.partial) md += '**Partial run**: it stopped before every part was measured; missing rows show —.\n\n'
  const t = p.first_text
  if (t) {
    md += `| time to first text: \`mount()\` → the textarea shows all ${t.chars} characters (${t.network?.text?.n ?? 0} repetitions) | median (ms) | p90 (ms) |\n|---|---:|---:|\n`
    const row = (label, x) => { md += `| ${label} | ${n(x?.median_ms, 1)} | ${n(x?.p90_ms, 1)} |\n` }
    row('from the network: fresh browser profile, empty IndexedDB', t.network?.text)
    row('… its WebSocket created (ms after `mount()`: IndexedDB opened first)', t.network?.socket_created)
    row('from this device\'s copy: same profile, page reloaded, sync-server held back (nothing delivered)', t.device_unreachable?.text)
    row('from this device\'s copy: same profile, page reloaded, sync-server reachable', t.device_reachable?.text)
    row('… its WebSocket created (ms after `mount()`)', t.device_reachable?.socket_created)
    md += '\n'
  }
  const k = p.keystrokes
  if (k?.on || k?.none) {
    const per = k.on?.end?.update?.n ?? k.none?.end?.update?.n ?? 0
    md += `| keystrokes on that document (${per} per setting and position, ${k.pages_per_setting ?? '?'} pages each) | persist on (default) | \`persist: "none"\` | on ÷ none |\n|---|---:|---:|---:|\n`
    const row = (label, a, c, digits = 3) => { md += `| ${label} | ${n(a, digits)} | ${n(c, digits)} | ${ratio(a, c)} |\n` }
    for (const [where, label] of [['end', 'at the end'], ['middle', 'in the middle']]) {
      const on = k.on?.[where]
      const off = k.none?.[where]
      const chars = on?.chars ?? off?.chars
      row(`keystroke ${label} of ${chars} chars: input → update sent, p50 (ms)`, on?.update?.p50_ms, off?.update?.p50_ms)
      row(`keystroke ${label} of ${chars} chars: input → update sent, p99 (ms)`, on?.update?.p99_ms, off?.update?.p99_ms)
      row('… whole input handler, p99 (ms)', on?.handler?.p99_ms, off?.handler?.p99_ms)
      md += `| … copy writes started during them / by a keystroke's handler | ${on ? `${on.copy_writes} / ${on.keystrokes_starting_a_write}` : '—'} | ${off ? `${off.copy_writes} / ${off.keystrokes_starting_a_write}` : '—'} | — |\n`
      row('… keystrokes whose handler started a write: input → update sent, p50 (ms)', on?.update_when_starting_a_write?.p50_ms, null)
    }
  }
  if (b.errors?.length) md += `\nThe page reported ${b.errors.length} errors or warnings in the run; the first: \`${String(b.errors[0]).replaceAll('`', "'")}\`\n`
  return `${md}\n`
}

/** Puts the persist section of the browser run `jsonFile` into `mdFile`: in place of the one
 *  there, or else after the browser table, or else before the notes. */
function renderInto (jsonFile, mdFile) {
  let b = null
  try {
    b = JSON.parse(fs.readFileSync(jsonFile, 'utf8'))
  } catch {}
  const lines = fs.readFileSync(mdFile, 'utf8').split(/(?<=\n)/)
  const isHeading = (l) => l.startsWith('## ') || l.startsWith('### ')
  const blockEnd = (i) => {
    let j = i + 1
    while (j < lines.length && !isHeading(lines[j])) j++
    return j
  }
  let at = lines.findIndex((l) => l.startsWith(PERSIST_HEADING))
  let end
  if (at >= 0) {
    end = blockEnd(at)
  } else {
    const table = lines.findIndex((l) => l.startsWith('### (e) Widget in headless Chromium'))
    at = table >= 0 ? blockEnd(table) : lines.findIndex((l) => l.startsWith('## Notes'))
    if (at < 0) at = lines.length
    end = at
  }
  const f2 = (x) => typeof x === 'number' ? x.toFixed(2) : '?'
  const runLine = b && `, ${b.mode} mode, ${(b.seconds ?? 0).toFixed(0)} s; 1-minute load average ${f2(b.loadavg_start)} at the start, ${f2(b.loadavg_end)} at the end.`
  const table = lines.findIndex((l) => l.startsWith('### (e) Widget in headless Chromium'))
  const sameRun = Boolean(runLine) && table >= 0 && lines.slice(table, blockEnd(table)).some((l) => l.includes(runLine))
  lines.splice(at, end - at, persistSection(b, sameRun))
  fs.writeFileSync(mdFile, lines.join(''))
}

if (arg('render')) {
  renderInto(path.resolve(arg('render')), path.resolve(arg('into', path.join(ROOT, 'BENCHMARKS.md'))))
} else {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
