// A minimal W3C WebDriver client over fetch, and tauri-driver: it starts the app through
// WebKitWebDriver, and the window's page is the session's browsing context.

import { spawn } from 'node:child_process'
import net from 'node:net'

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `fn` until it returns something truthy; throws with `what` after `ms`. */
export async function waitFor (what, fn, ms = 20000, every = 100) {
  const until = Date.now() + ms
  let last
  for (;;) {
    try {
      const value = await fn()
      if (value) return value
      last = value
    } catch (error) {
      last = error
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
    await sleep(every)
  }
}

export function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function listening (port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/** tauri-driver on a free port, proxying to WebKitWebDriver; `env` goes to the app too. */
export async function startDriver ({ bin, nativeDriver, env, log }) {
  const port = await freePort()
  const nativePort = await freePort()
  const child = spawn(bin, ['--port', String(port), '--native-port', String(nativePort), '--native-driver', nativeDriver], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout.on('data', (d) => log(`[tauri-driver] ${d}`))
  child.stderr.on('data', (d) => log(`[tauri-driver] ${d}`))
  const url = `http://127.0.0.1:${port}`
  await waitFor('tauri-driver to listen', () => listening(port), 15000)
  return {
    url,
    async stop () {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(5000)])
      }
    }
  }
}

export class Session {
  constructor (driverUrl, id) {
    this.base = `${driverUrl}/session/${id}`
    this.id = id
  }

  /** Starts the app (a new WebDriver session). */
  static async start (driverUrl, application) {
    const res = await request('POST', `${driverUrl}/session`, {
      capabilities: { alwaysMatch: { 'tauri:options': { application } } }
    }, 60000)
    return new Session(driverUrl, res.sessionId ?? res.value?.sessionId)
  }

  cmd (method, path, body) { return request(method, `${this.base}${path}`, body) }

  /** Runs `script` (a function body; `arguments` holds `args`) and returns its value. */
  exec (script, ...args) { return this.cmd('POST', '/execute/sync', { script, args }) }

  /** Runs `script` as the body of an async function and returns what it resolves to. */
  async run (script, ...args) {
    const out = await this.cmd('POST', '/execute/async', {
      script: `const done = arguments[arguments.length - 1];
        (async (...args) => { ${script} })(...Array.prototype.slice.call(arguments, 0, -1))
          .then((value) => done({ ok: value }), (error) => done({ error: String(error && error.stack || error) }))`,
      args
    })
    if (out && 'error' in out) throw new Error(`in the page: ${out.error}`)
    return out?.ok
  }

  async find (css) {
    const el = await this.cmd('POST', '/element', { using: 'css selector', value: css })
    return Object.values(el)[0]
  }

  click (element) { return this.cmd('POST', `/element/${element}/click`, {}) }
  type (element, text) { return this.cmd('POST', `/element/${element}/value`, { text }) }
  clear (element) { return this.cmd('POST', `/element/${element}/clear`, {}) }
  /** A PNG of the window, as a Buffer. */
  async screenshot () { return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64') }
  async end () { try { await request('DELETE', this.base, undefined, 15000) } catch { /* the app may be gone */ } }
}

/** Element references returned by a script are objects with one key: this reads it. */
export const elementId = (ref) => Object.values(ref)[0]

async function request (method, url, body, timeoutMs = 30000) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs)
  })
  const json = await res.json().catch(() => ({}))
  if (!res.ok || json.value?.error) {
    throw new Error(`WebDriver ${method} ${url}: ${res.status} ${JSON.stringify(json.value ?? json).slice(0, 500)}`)
  }
  return json.value
}
