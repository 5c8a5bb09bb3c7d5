// One test's resources (pages, extra servers, Yjs clients), released when the test ends, and
// the diagnostics printed when it fails: widget state, page errors and console, server log tail.

import assert from 'node:assert/strict'
import { it } from 'node:test'
import { WidgetPage } from './browser.mjs'
import { TEST_MS } from './env.mjs'
import { SyncServer } from './sync-server.mjs'
import { YjsClient } from './yjs-client.mjs'

let docCounter = 0

/** What every test shares: one Chromium, one sync server for tests that never stop it. */
export class Harness {
  constructor () {
    this.browser = null
    this.server = null
  }

  /** A document name of its own for each test, so tests on the shared server never meet. */
  doc (prefix) {
    return `${prefix}-${++docCounter}-${Math.random().toString(36).slice(2, 8)}`
  }
}

export class Session {
  constructor (harness) {
    this.harness = harness
    this.pages = []
    this.servers = []
    /** Servers this test uses but does not own (a suite's): their log goes into diagnostics too. */
    this.watched = []
    this.clients = []
    this.cleanups = []
  }

  /** A widget page on `server` (default: the shared one); see WidgetPage.open. */
  async open (options, pageOptions = {}, server = this.harness.server) {
    const page = await WidgetPage.open(this.harness.browser, server, options, pageOptions)
    this.pages.push(page)
    return page
  }

  /** A blank page (probe installed) for pages this suite does not build itself. */
  async blank (label, pageOptions) {
    const page = await WidgetPage.blank(this.harness.browser, label, pageOptions)
    this.pages.push(page)
    return page
  }

  /** A sync server of this test's own (for kill/restart), started; `env`, `args` as in SyncServer.create. */
  async ownServer (label, env, args) {
    const server = await SyncServer.create(label, env, args)
    this.servers.push(server)
    await server.start()
    return server
  }

  /** A stock Yjs client (Node) on `doc`. */
  yjs (doc, name, server = this.harness.server) {
    const client = new YjsClient(server.wsUrl, doc, name)
    this.clients.push(client)
    return client
  }

  onDispose (fn) { this.cleanups.push(fn) }

  /** `server`'s last log lines are printed if this test fails; it is not stopped afterwards. */
  watch (server) {
    this.watched.push(server)
    return server
  }

  async diagnostics () {
    const lines = []
    for (const page of this.pages) lines.push(...await page.diagnostics())
    for (const server of [...this.servers, ...this.watched, this.harness.server].filter(Boolean)) {
      for (const line of server.tail(15)) lines.push(line)
    }
    return lines
  }

  /** Uncaught exceptions in any page of this test (a wasm panic lands here). */
  assertNoPageErrors () {
    const errors = this.pages.flatMap((p) => p.pageErrors.map((e) => `${p.label}: ${e}`))
    assert.deepEqual(errors, [], 'uncaught errors in the page')
  }

  async dispose () {
    for (const fn of this.cleanups.reverse()) await fn()
    for (const client of this.clients) client.destroy()
    for (const page of this.pages) await page.close()
    for (const server of this.servers) await server.dispose()
  }
}

/** A test with its own Session: diagnostics on failure, no uncaught page errors, cleanup always. */
export function scenario (harness, name, fn, options = {}) {
  it(name, { timeout: TEST_MS, ...options }, async (t) => {
    const session = new Session(harness)
    try {
      await fn(session, t)
      session.assertNoPageErrors()
    } catch (error) {
      for (const line of await session.diagnostics()) t.diagnostic(line)
      throw error
    } finally {
      await session.dispose()
    }
  })
}
