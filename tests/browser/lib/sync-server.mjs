// The sync-server binary as a child process on a fixed port, so that it can be killed and
// restarted at the same address (the widget reconnects to the URL it was given) on the same
// SQLite file.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { SERVER_BIN, WEB_ROOT } from './env.mjs'
import { once } from './wait.mjs'

/** A port that was free a moment ago (the OS picks it; we release it for the server). */
export async function freePort () {
  const probe = net.createServer()
  await new Promise((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return port
}

export class SyncServer {
  /**
   * Chooses a port and a fresh data file; call `start()` to run it. `env` is added to the
   * server's environment (`SYNC_SERVER_POSTGRES`, `SYNC_SERVER_REDIS`, …); `args` to its
   * command line (`['--max-document-size', '2097152']`).
   */
  static async create (label = 'server', env = {}, args = []) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ct-browser-${label}-`))
    return new SyncServer(label, await freePort(), dir, env, args)
  }

  constructor (label, port, dir, env = {}, args = []) {
    this.label = label
    this.port = port
    this.dir = dir
    this.env = env
    this.args = args
    this.dataFile = path.join(dir, 'collab.sqlite3')
    this.child = null
    this.runs = 0
    /** Every stderr line of every run, prefixed with the run number, for diagnostics. */
    this.log = []
  }

  get httpUrl () { return `http://127.0.0.1:${this.port}` }
  get wsUrl () { return `ws://127.0.0.1:${this.port}/sync` }
  get running () { return this.child !== null && this.child.exitCode === null && this.child.signalCode === null }

  /** Starts the binary and resolves once it printed `listening on http://127.0.0.1:PORT`. */
  async start () {
    assert.ok(!this.running, `${this.label} is already running`)
    assert.ok(fs.existsSync(SERVER_BIN),
      `sync-server binary not found at ${SERVER_BIN}: run \`cargo build -p sync-server\` or set SYNC_SERVER_BIN`)
    const run = ++this.runs
    const child = spawn(SERVER_BIN, [
      '--listen', `127.0.0.1:${this.port}`,
      '--data', this.dataFile,
      '--web-root', WEB_ROOT,
      ...this.args
    ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } })
    this.child = child
    readline.createInterface({ input: child.stderr })
      .on('line', (line) => this.log.push(`[${this.label} run ${run}] ${line.replace(/\x1b\[[0-9;]*m/g, '')}`))
    const stdout = readline.createInterface({ input: child.stdout })
    const expected = `listening on ${this.httpUrl}`
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`${this.label} did not print "${expected}" within 20 s`)), 20_000)
      const fail = (error) => { clearTimeout(timer); reject(error) }
      child.once('error', fail)
      child.once('exit', (code, signal) => fail(new Error(
        `${this.label} exited before listening (code ${code}, signal ${signal}); stderr:\n${this.log.slice(-20).join('\n')}`)))
      stdout.on('line', (line) => {
        if (line.trim() === expected) { clearTimeout(timer); resolve() }
      })
    })
  }

  /** SIGKILL: no goodbye to the clients, nothing flushed beyond what was committed. */
  async kill () {
    await this.#signal('SIGKILL')
  }

  /** SIGTERM: the clean shutdown; asserts exit code 0. */
  async stop () {
    const { code } = await this.#signal('SIGTERM')
    assert.equal(code, 0, `${this.label} exit code after SIGTERM; stderr:\n${this.log.slice(-20).join('\n')}`)
  }

  async restart () {
    if (this.running) await this.stop()
    await this.start()
  }

  async #signal (signal) {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return { code: child?.exitCode, signal: child?.signalCode }
    const closed = once(child, 'close', `${this.label} to exit after ${signal}`)
    child.kill(signal)
    const [code, sig] = await closed
    return { code, signal: sig }
  }

  /**
   * While the server is down, holds its port with a listener that accepts connections and never
   * answers: a client's WebSocket handshake hangs (a server that is up but stuck). Resolves with
   * `close()`, which drops those connections and frees the port.
   */
  async holdPortSilently () {
    assert.ok(!this.running, `${this.label} must be down to hold its port`)
    const sockets = new Set()
    const silent = net.createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise((resolve, reject) => silent.once('error', reject).listen(this.port, '127.0.0.1', resolve))
    return {
      connections: () => sockets.size,
      close: () => new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        silent.close(resolve)
      })
    }
  }

  /** `GET /api/docs/{doc}/text` (with `token`, if given, as the bearer): `{ status, text }`. */
  async storedText (doc, token) {
    const headers = token ? { authorization: `Bearer ${token}` } : {}
    const res = await fetch(`${this.httpUrl}/api/docs/${encodeURIComponent(doc)}/text`, { headers })
    return { status: res.status, text: await res.text() }
  }

  /** `GET /metrics`: the value of the unlabelled sample `name` (a number), or undefined. */
  async metric (name) {
    const res = await fetch(`${this.httpUrl}/metrics`)
    const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name} `))
    return line === undefined ? undefined : Number(line.slice(name.length + 1))
  }

  /** `GET /healthz` as JSON. */
  async health () {
    const res = await fetch(`${this.httpUrl}/healthz`)
    return res.json()
  }

  /** Last server log lines, for a failing test's diagnostics. */
  tail (n = 25) { return this.log.slice(-n) }

  /** Lines the server logged at WARN or ERROR level (its open-mode "NO AUTH" notice aside). */
  problems () { return this.log.filter((line) => / (ERROR|WARN) /.test(line) && !/NO AUTH:/.test(line)) }

  async dispose () {
    if (this.running) this.child.kill('SIGKILL')
    if (this.child) await new Promise((resolve) => (this.child.exitCode !== null || this.child.signalCode !== null) ? resolve() : this.child.once('exit', resolve))
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}
