// A host site of a suite's own: its page `html` at /, the built package beside it, served by a
// static server of its own on another origin (so it stays up while the sync server is killed).
// Call `hostSite` inside `describe`: the site starts before the suite's tests and is removed
// after them.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before } from 'node:test'
import { WEB_ROOT } from './env.mjs'
import { serveStatic } from './static-server.mjs'

/**
 * The site: `url` (set once started), and `goHost(wp, options)`, which opens its page in `wp`
 * with these mount options (JSON in the URL's hash) and waits for the widget to mount.
 */
export function hostSite (label, html) {
  let dir = null
  let server = null
  const site = {
    url: null,
    async goHost (wp, options) {
      const response = await wp.page.goto(`${site.url}/#${encodeURIComponent(JSON.stringify(options))}`)
      assert.equal(response.status(), 200, 'the host page')
      await wp.waitState('the widget to mount', (st) => st.mounted)
    }
  }
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `ct-${label}-site-`))
    fs.writeFileSync(path.join(dir, 'index.html'), html)
    fs.symlinkSync(path.join(WEB_ROOT, 'collab-textarea'), path.join(dir, 'collab-textarea'))
    server = await serveStatic(dir)
    site.url = server.url
  })
  after(async () => {
    await server?.close()
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })
  return site
}
