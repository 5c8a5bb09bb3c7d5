// This device's copy (IndexedDB): a host page served by its own static server stays up while
// the sync server is killed; edits typed offline survive a reload and a closed tab and reach
// the server when it is back; persist="none" says it keeps nothing and keeps nothing. And
// token functions: a token that expires mid-session is replaced without losing an edit, a
// function that rejects shows "Not authorized". A real quota (Chromium's, set through the
// DevTools protocol) that refuses the copy is said in the console and on the save line.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import { describe } from 'node:test'
import { WidgetPage } from '../lib/browser.mjs'
import { SERVER_BIN } from '../lib/env.mjs'
import { scenario } from '../lib/session.mjs'
import { hostSite } from '../lib/host-site.mjs'
import { waitUntil } from '../lib/wait.mjs'

/** The save line while offline with every change in this device's copy. */
export const KEPT_LINE = /^Offline — (\d+) changes? kept on this device$/
/** The save line while offline with persistence off. */
const MEMORY_LINE = /^Offline — (\d+) unsaved changes? only in this tab, lost if it closes$/

const RECONNECT_MS = 30_000

/** A host page that mounts the widget at once with the options in its URL's hash (JSON);
 *  `tokenFrom: "test"` makes `token` a function asking the test (`window.__nextToken`). */
const HOST_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>collab-textarea persistence host</title></head>
<body>
<div id="host"></div>
<script type="module">
  import { mount } from './collab-textarea/index.js'
  const options = JSON.parse(decodeURIComponent(location.hash.slice(1)))
  if (options.tokenFrom === 'test') {
    window.__tokenCalls = 0
    options.token = () => { window.__tokenCalls++; return window.__nextToken() }
  }
  delete options.tokenFrom
  window.__handle = await mount(document.getElementById('host'), options)
</script>
</body>
</html>`

/** The server's auth secret in the token scenario (32 bytes or more). */
const SECRET = 'persistence-suite-secret-0123456789abcdef'
/** The server accepts a token this long after its `exp` (sync-server/src/auth.rs, LEEWAY_SECS). */
const LEEWAY_SECS = 30

/** A write token for `doc` from `sync-server token`, re-signed to expire `secondsLeft` from
 *  now, leeway included (the CLI's shortest lifetime plus the leeway is longer than a test). */
function tokenExpiringIn (doc, secondsLeft) {
  const minted = execFileSync(SERVER_BIN, ['token', '--doc', doc, '--write', '--name', 'Ada', '--auth-secret', SECRET]).toString().trim()
  const [header, payload] = minted.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  claims.exp = Math.floor(Date.now() / 1000) - LEEWAY_SECS + secondsLeft
  const body = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return `${body}.${crypto.createHmac('sha256', SECRET).update(body).digest('base64url')}`
}

export default function persistence (harness) {
  describe('this device\'s copy and token functions', () => {
    const site = hostSite('persistence', HOST_HTML)
    const goHost = site.goHost

    /** A new tab in `wp`'s browser context (same IndexedDB), as a WidgetPage. */
    const newTab = async (wp, label) => new WidgetPage(label, wp.context, await wp.context.newPage())

    const waitLine = (wp, what, pattern) => wp.waitState(what,
      (st, p) => st.save === 'offline' && new RegExp(p).test(st.saveLine), pattern.source)

    scenario(harness, 'typed offline: the text survives a reload and a closed tab, reaches the server when it is back, and another browser sees it', async (s) => {
      const server = await s.ownServer('persist')
      const doc = 'kept-on-device'
      const options = { server: server.wsUrl, doc, name: 'Ada', debounce: 0 }
      const ada = await s.blank('Ada')
      // A damaged copy left on this device (another version, a broken write): it is refused
      // with a console message, and the widget goes on from the server's document.
      await ada.page.goto(`${site.url}/not-the-host`)
      await ada.page.evaluate((key) => new Promise((resolve, reject) => {
        const open = indexedDB.open('collab-textarea', 1)
        open.onupgradeneeded = () => open.result.createObjectStore('docs')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const txn = open.result.transaction('docs', 'readwrite')
          txn.objectStore('docs').put(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), key)
          txn.oncomplete = () => { open.result.close(); resolve() }
          txn.onerror = () => reject(txn.error)
        }
      }), `${server.wsUrl}/${doc}`)
      await goHost(ada, options)
      await ada.waitStatus('connected')
      assert.ok(ada.console.some((line) => /^error: collab-textarea: the copy of this document kept on this device is unreadable/.test(line)),
        `a console error names the damaged copy: ${ada.console.join(' | ')}`)
      await ada.typeAtEnd('online.')
      await ada.waitSaved()

      await server.kill()
      await ada.waitState('the status to leave "connected"', (st) => st.status !== 'connected')
      await ada.typeAtEnd(' offline.')
      await waitLine(ada, 'the save line to say the changes are kept on this device', KEPT_LINE)
      const saves = await ada.page.evaluate(() => window.__ct.events.filter((e) => e.type === 'collab-save').map((e) => e.detail))
      assert.ok(saves.some((d) => d.state === 'offline' && d.local === 'device' && d.unsaved >= 1),
        `a collab-save says offline, kept on the device: ${JSON.stringify(saves)}`)

      // Reload with the server still down: the stored text is there, and still counted unsaved.
      await ada.page.reload()
      await ada.waitState('the widget to mount again', (st) => st.mounted)
      await ada.waitText('online. offline.', 'the text kept on this device, with the server down')
      await waitLine(ada, 'the reloaded page to say the edit is kept on this device', KEPT_LINE)
      assert.equal(await ada.page.evaluate(() => window.__handle.unsaved()) >= 1, true, 'unsaved() counts the restored edit')

      // More typing, then the tab is closed before the server comes back.
      await ada.typeAtEnd(' closed.')
      await waitLine(ada, 'the new edit to be kept on this device', KEPT_LINE)
      await ada.page.close()

      await server.start()
      const again = await newTab(ada, 'Ada again')
      s.pages.push(again)
      await goHost(again, options)
      const expected = 'online. offline. closed.'
      await again.waitStatus('connected', RECONNECT_MS)
      await again.waitText(expected, 'the text after reopening')
      await again.waitSaved()
      assert.deepEqual(await server.storedText(doc), { status: 200, text: expected }, 'stored on the server')

      const bob = await s.blank('Bob')
      await goHost(bob, { ...options, name: 'Bob' })
      await bob.waitText(expected, 'another browser sees the edits')

      // Sign-out: forget() deletes the copy on this device.
      await again.page.evaluate(() => window.__handle.forget())
      const left = await again.page.evaluate(() => new Promise((resolve, reject) => {
        const open = indexedDB.open('collab-textarea')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const get = open.result.transaction('docs').objectStore('docs').getAllKeys()
          get.onsuccess = () => { open.result.close(); resolve(get.result) }
          get.onerror = () => reject(get.error)
        }
      }))
      assert.deepEqual(left, [], 'no record left on this device after forget()')
    })

    scenario(harness, 'persist="none": offline the save line says the edit is only in this tab, and a reload loses it', async (s) => {
      const server = await s.ownServer('no-persist')
      const doc = 'not-kept'
      const ada = await s.blank('Ada')
      // The browser's "leave page?" prompt guards the unsaved edit: accept it, as a user would.
      ada.page.on('dialog', (dialog) => dialog.accept())
      await goHost(ada, { server: server.wsUrl, doc, name: 'Ada', debounce: 0, persist: 'none' })
      await ada.waitStatus('connected')
      await server.kill()
      await ada.waitState('the status to leave "connected"', (st) => st.status !== 'connected')
      await ada.typeAtEnd('only in memory')
      await waitLine(ada, 'the save line to say the edit is only in this tab', MEMORY_LINE)

      await ada.page.reload()
      await ada.waitState('the reloaded widget to have tried the server and failed', (st) => st.mounted && st.status === 'disconnected')
      assert.equal(await ada.text(), '', 'nothing was kept on this device')
    })

    scenario(harness, 'token functions: an expiring token is replaced mid-session with no edit lost and no red dot; a rejecting one shows "Not authorized"', async (s) => {
      const server = await s.ownServer('tokens', {}, ['--auth-secret', SECRET, '--allow-origin', site.url])
      const doc = 'token-refresh'
      const ada = await s.blank('Ada')
      // The first token has a few seconds left; the ones after, an hour.
      let calls = 0
      await ada.page.exposeFunction('__nextToken', () => tokenExpiringIn(doc, ++calls === 1 ? 4 : 3600))
      await goHost(ada, { server: server.wsUrl, doc, name: 'Ada', debounce: 0, tokenFrom: 'test' })
      await ada.waitStatus('connected')
      await ada.typeAtEnd('before expiry.')
      await ada.waitSaved()

      // The server closes the connection when the first token runs out (4401); the widget asks
      // for a new one and reconnects.
      await waitUntil('the widget to ask for a second token', () => calls >= 2, { timeoutMs: 30_000 })
      await ada.waitStatus('connected')
      await ada.typeAtEnd(' after.')
      await ada.waitSaved()
      const stored = await fetch(`${server.httpUrl}/api/docs/${doc}/text`, { headers: { authorization: `Bearer ${tokenExpiringIn(doc, 3600)}` } })
      assert.equal(await stored.text(), 'before expiry. after.', 'both edits stored on the server')
      const statuses = await ada.page.evaluate(() => window.__ct.events.filter((e) => e.type === 'collab-status').map((e) => e.detail.status))
      assert.ok(!statuses.includes('disconnected'), `never red while the token was replaced: ${statuses.join(' → ')}`)
      assert.equal(await ada.text(), 'before expiry. after.')
      assert.ok(ada.sockets.length >= 2, 'a second connection was opened')

      // A function that rejects: "Not authorized", and the text typed stays.
      const bob = await s.blank('Bob')
      await bob.page.exposeFunction('__nextToken', () => Promise.reject(new Error('signed out')))
      await goHost(bob, { server: server.wsUrl, doc: 'token-rejected', name: 'Bob', debounce: 0, tokenFrom: 'test', persist: 'none' })
      await bob.waitState('"Not authorized"', (st) => st.status === 'disconnected' && /Not authorized/.test(st.saveLine))
      assert.ok(bob.console.some((line) => /token function failed/.test(line)), `a console message says why: ${bob.console.join(' | ')}`)
    })

    scenario(harness, 'a browser that refuses to store the copy (a real quota): a console message, editing goes on, the save line says only this tab has the changes', async (s) => {
      const server = await s.ownServer('quota')
      const doc = 'over-quota'
      // A document several times larger than the quota this site's storage gets.
      const big = 'all work and no play '.repeat(20_000)
      const put = await fetch(`${server.httpUrl}/api/docs/${doc}/text`, { method: 'PUT', body: big })
      assert.equal(put.status, 204, await put.text())
      const ada = await s.blank('Ada')
      // Chromium's own quota enforcement for the host page's origin (DevTools protocol).
      const cdp = await ada.context.newCDPSession(ada.page)
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: site.url, quotaSize: 64 * 1024 })
      await goHost(ada, { server: server.wsUrl, doc, name: 'Ada', debounce: 0 })
      await ada.waitStatus('connected')
      await ada.waitText(big, 'the whole document')
      await waitUntil('a console error saying the copy cannot be kept, and why',
        () => ada.console.some((line) => /^error: collab-textarea: cannot keep changes on this device \(.*quota/i.test(line)))
      await server.kill()
      await ada.waitState('the status to leave "connected"', (st) => st.status !== 'connected')
      await ada.typeAtEnd('!')
      await waitLine(ada, 'the save line to say the browser refused to store the change',
        /^Offline — 1 unsaved change only in this tab: the browser refused to store it$/)
      await ada.waitText(`${big}!`, 'the edit, typed with the store refused')
    })
  })
}
