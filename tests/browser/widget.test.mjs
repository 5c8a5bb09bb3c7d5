// Browser tests of the collab-textarea widget: real headless Chromium (playwright-core over CDP)
// against the real sync-server binary, which serves the assembled web root (WEB_ROOT) with the
// package under /collab-textarea/. One browser and one server are shared; each test works on
// documents of its own, and tests that stop the server start their own. See README.md.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { launchBrowser } from './lib/browser.mjs'
import { SERVER_BIN, WEB_ROOT } from './lib/env.mjs'
import { Harness } from './lib/session.mjs'
import { SyncServer } from './lib/sync-server.mjs'
import accessibility from './suites/accessibility.mjs'
import appearance from './suites/appearance.mjs'
import cluster from './suites/cluster.mjs'
import editing from './suites/editing.mjs'
import embedding from './suites/embedding.mjs'
import forms from './suites/forms.mjs'
import history from './suites/history.mjs'
import frameworks from './suites/frameworks.mjs'
import interop from './suites/interop.mjs'
import languages from './suites/languages.mjs'
import large from './suites/large.mjs'
import offline from './suites/offline.mjs'
import persistence from './suites/persistence.mjs'
import presence from './suites/presence.mjs'
import tabs from './suites/tabs.mjs'

describe('collab-textarea in Chromium', () => {
  const harness = new Harness()

  before(async () => {
    assert.ok(fs.existsSync(SERVER_BIN), `no sync-server at ${SERVER_BIN}: cargo build -p sync-server, or set SYNC_SERVER_BIN`)
    const entry = path.join(WEB_ROOT, 'collab-textarea', 'index.js')
    assert.ok(fs.existsSync(entry), `no widget package at ${entry}: assemble the web root (WEB_ROOT)`)
    harness.browser = await launchBrowser()
    harness.server = await SyncServer.create('shared')
    await harness.server.start()
  })

  after(async () => {
    await harness.browser?.close()
    await harness.server?.dispose()
  })

  editing(harness)
  presence(harness)
  offline(harness)
  persistence(harness)
  tabs(harness)
  embedding(harness)
  forms(harness)
  languages(harness)
  accessibility(harness)
  history(harness)
  interop(harness)
  frameworks(harness)
  large(harness)
  appearance(harness)
  cluster(harness)

  // Everything the widgets sent the shared server was well-formed: it refused nothing.
  it('the shared server logged no warning or error', () => {
    assert.deepEqual(harness.server.problems(), [])
  })
})
