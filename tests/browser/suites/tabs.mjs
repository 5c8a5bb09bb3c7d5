// Several tabs of one browser on one document (two pages in one browser context): they share
// edits and presence through BroadcastChannel, so they agree while the server is down, and one
// leader tab's connection carries everyone's changes, so none of them is refused for writing
// another tab's client id. A host page served by its own static server stays up while the sync
// server is SIGKILLed.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe } from 'node:test'
import * as Y from 'yjs'
import { WidgetPage } from '../lib/browser.mjs'
import { SERVER_BIN } from '../lib/env.mjs'
import { scenario } from '../lib/session.mjs'
import { hostSite } from '../lib/host-site.mjs'
import { waitUntil } from '../lib/wait.mjs'

const SOCKET_LOG = path.join(path.dirname(fileURLToPath(import.meta.url)), '../lib/socket-log.js')
const RECONNECT_MS = 30_000
/** The durable-acknowledgement message's tag (collab_core::wire::MSG_ACK). */
const MSG_ACK = 100
const KEPT_LINE = /^Offline — (\d+) changes? kept on this device$/
const MEMORY_LINE = /^Offline — (\d+) unsaved changes? only in this tab, lost if it closes$/
/** Close codes a page may see without the server having refused it: still open (null), the
 *  page closing it (1000, 1001), the server killed (1006). */
const HARMLESS_CLOSES = [null, 1000, 1001, 1006]
/** The auth secret of the token scenario's server (32 bytes or more). */
const SECRET = 'tabs-suite-secret-0123456789abcdefghijklm'

/** A writer's token for `doc` from `sync-server token`; its `sub` is `name`. */
function token (doc, name) {
  const args = ['token', '--doc', doc, '--name', name, '--write', '--auth-secret', SECRET]
  return execFileSync(SERVER_BIN, args).toString().trim()
}

/** Mounts the widget with the options in the URL's hash (JSON); `noChannel` removes
 *  BroadcastChannel first, as in a browser without it. */
const HOST_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>collab-textarea tabs host</title></head>
<body>
<div id="host"></div>
<script type="module">
  import { mount } from './collab-textarea/index.js'
  const options = JSON.parse(decodeURIComponent(location.hash.slice(1)))
  if (options.noChannel) delete window.BroadcastChannel
  delete options.noChannel
  window.__handle = await mount(document.getElementById('host'), options)
</script>
</body>
</html>`

export default function tabs (harness) {
  describe('several tabs of one browser', () => {
    const site = hostSite('tabs', HOST_HTML)
    const goHost = site.goHost
    /** A first tab (a browser context of its own, WebSockets logged). */
    const firstTab = (s, label) => s.blank(label, { initScripts: [SOCKET_LOG] })
    /** Another tab in `wp`'s browser context: same BroadcastChannel, locks and IndexedDB. */
    const newTab = async (s, wp, label) => {
      const tab = new WidgetPage(label, wp.context, await wp.context.newPage())
      s.pages.push(tab)
      return tab
    }
    const waitLine = (wp, what, pattern) => wp.waitState(what,
      (st, p) => st.save === 'offline' && new RegExp(p).test(st.saveLine), pattern.source)
    const sockets = (wp) => wp.page.evaluate(() => window.__sockets.map((s) => ({ ...s })))
    /** Every WebSocket the tab opened was closed, if at all, by the page or a dead server. */
    const assertNoRefusal = async (wp) => {
      for (const socket of await sockets(wp)) {
        assert.ok(HARMLESS_CLOSES.includes(socket.code),
          `${wp.label}: a connection closed with ${socket.code} ${socket.reason}`)
      }
    }

    scenario(harness, 'two tabs, server down: each sees the other\'s typing and presence; back up, both tabs\' offline edits are stored once and another browser sees them, with no connection refused', async (s) => {
      const server = await s.ownServer('tabs')
      const doc = 'two-tabs'
      const options = { server: server.wsUrl, doc, debounce: 0 }
      const one = await firstTab(s, 'Ada tab 1')
      await goHost(one, { ...options, name: 'Ada one' })
      await one.waitStatus('connected')
      const two = await newTab(s, one, 'Ada tab 2')
      await goHost(two, { ...options, name: 'Ada two' })
      // The second tab shows the first tab's connection as its own.
      await two.waitStatus('connected')
      await one.waitAvatars(['Ada one', 'Ada two'])
      await two.waitAvatars(['Ada one', 'Ada two'])

      await one.typeAtEnd('one.')
      await two.waitText('one.')
      await one.waitSaved()
      await two.typeAtEnd(' two.')
      await one.waitText('one. two.')
      // "Saved" in the second tab only once the server acknowledged its edit as durable.
      await two.waitSaved()
      assert.equal((await server.storedText(doc)).text, 'one. two.')

      await server.kill()
      await one.waitState('tab 1 to leave "connected"', (st) => st.status !== 'connected')
      await two.waitState('tab 2 to leave "connected"', (st) => st.status !== 'connected')
      await one.typeAtEnd(' off one.')
      await two.waitText('one. two. off one.', 'tab 1\'s offline edit in tab 2')
      await two.typeAtEnd(' off two.')
      const expected = 'one. two. off one. off two.'
      await one.waitText(expected, 'tab 2\'s offline edit in tab 1')
      await waitLine(one, 'tab 1 to keep its edit on this device', KEPT_LINE)
      await waitLine(two, 'tab 2 to keep its edit on this device', KEPT_LINE)
      // Presence goes from tab to tab with the server down: a new name shows at once.
      await two.page.evaluate(() => window.__handle.setName('Ada Two'))
      await one.waitAvatars(['Ada one', 'Ada Two'], 'tab 2\'s new name in tab 1, offline')
      await two.waitAvatars(['Ada one', 'Ada Two'])
      await two.screenshotPage('tabs-offline-follower')

      await server.start()
      await one.waitStatus('connected', RECONNECT_MS)
      await two.waitStatus('connected', RECONNECT_MS)
      await one.waitSaved()
      await two.waitSaved()
      assert.deepEqual(await server.storedText(doc), { status: 200, text: expected },
        'both tabs\' offline edits stored, each once')
      assert.equal(await one.text(), expected)
      assert.equal(await two.text(), expected)

      const bob = await s.blank('Bob')
      await goHost(bob, { ...options, name: 'Bob' })
      await bob.waitText(expected, 'another browser sees both tabs\' edits')
      await bob.waitAvatars(['Ada one', 'Ada Two', 'Bob'], 'another browser lists both tabs')
      await two.waitAvatars(['Ada one', 'Ada Two', 'Bob'], 'the second tab lists the other browser')

      // One connection for the two tabs (the first tab's), and nothing refused on the way.
      assert.equal((await sockets(two)).length, 0, 'the second tab opened no WebSocket of its own')
      await assertNoRefusal(one)
      assert.deepEqual(server.problems(), [], 'the server refused nothing')
    })

    scenario(harness, 'a follower tab says "Saved" only once the server acknowledged the leader\'s message carrying its edit', async (s) => {
      const doc = harness.doc('tab-acks')
      const options = { server: harness.server.wsUrl, doc, debounce: 0 }
      const one = await firstTab(s, 'Ada tab 1')
      // Every frame of the leader's connection passes through the test; acknowledgements
      // (tag 100) wait while `holding`.
      let holding = false
      const held = []
      let toPage = null
      await one.page.routeWebSocket(/\/sync\//, (ws) => {
        toPage = ws
        const server = ws.connectToServer()
        ws.onMessage((message) => server.send(message))
        server.onMessage((message) => {
          if (holding && typeof message !== 'string' && message[0] === MSG_ACK) held.push(message)
          else ws.send(message)
        })
      })
      await goHost(one, { ...options, name: 'Ada one' })
      await one.waitStatus('connected')
      const two = await newTab(s, one, 'Ada tab 2')
      await goHost(two, { ...options, name: 'Ada two' })
      await two.waitStatus('connected')
      await two.waitState('"All changes saved"', (st) => st.save === 'saved')
      await two.page.evaluate(() => window.__ct.watchSaveLine())

      holding = true
      await two.typeAtEnd('held')
      await waitUntil('the server to have the edit', async () => (await harness.server.storedText(doc)).text === 'held')
      await waitUntil('the server\'s acknowledgement to be held back', () => held.length > 0)
      const st = await two.state()
      assert.equal(st.save, 'saving', 'data-save in the follower while the acknowledgement is held back')
      assert.match(st.saveLine, /^Saving/)

      holding = false
      const releasedAt = Date.now()
      for (const message of held.splice(0)) toPage.send(message)
      await two.waitSaved()
      const log = await two.page.evaluate(() => window.__ct.saveLineLog)
      const claimedSaved = (e) => e.save === 'saved' || /^Saved|saved$/.test(e.line ?? '')
      assert.deepEqual(log.slice(1).filter((e) => e.at < releasedAt && claimedSaved(e)), [],
        `the follower claimed nothing saved before the acknowledgement was let through: ${JSON.stringify(log)}`)
    })

    scenario(harness, 'the leader tab closes while the server is down: the other tab takes over, and the edits of both, kept on this device, reach the server once it is back', async (s) => {
      const server = await s.ownServer('tabs-handover')
      const doc = 'handover'
      const options = { server: server.wsUrl, doc, debounce: 0 }
      const one = await firstTab(s, 'Ada tab 1')
      await goHost(one, { ...options, name: 'Ada one' })
      await one.waitStatus('connected')
      const two = await newTab(s, one, 'Ada tab 2')
      await goHost(two, { ...options, name: 'Ada two' })
      await two.waitStatus('connected')
      await one.typeAtEnd('start.')
      await two.waitText('start.')
      await one.waitSaved()

      await server.kill()
      await one.waitState('tab 1 to leave "connected"', (st) => st.status !== 'connected')
      await one.typeAtEnd(' by one.')
      await two.waitText('start. by one.')
      await two.typeAtEnd(' by two.')
      await one.waitText('start. by one. by two.')
      await waitLine(one, 'tab 1 to keep the edits on this device', KEPT_LINE)
      // The leader goes; tab 2 gets the lock and keeps trying the server itself.
      await one.page.close()
      await two.waitAvatars(['Ada two'], 'tab 1 gone from tab 2\'s list')
      await two.typeAtEnd(' after.')
      await waitLine(two, 'tab 2 to keep its edits on this device', KEPT_LINE)

      // A third tab opened while the server is still down shows everything from this
      // device's copy (written by both tabs) and the leader's document.
      const three = await newTab(s, two, 'Ada tab 3')
      await goHost(three, { ...options, name: 'Ada three' })
      const expected = 'start. by one. by two. after.'
      await three.waitText(expected, 'the third tab, server down')
      await two.waitAvatars(['Ada three', 'Ada two'])

      await server.start()
      await two.waitStatus('connected', RECONNECT_MS)
      await three.waitStatus('connected', RECONNECT_MS)
      await two.waitSaved()
      assert.deepEqual(await server.storedText(doc), { status: 200, text: expected },
        'the closed leader\'s offline edit and tab 2\'s, stored once')
      await three.typeAtEnd(' three.')
      await three.waitSaved()
      assert.equal((await server.storedText(doc)).text, `${expected} three.`)
      const bob = await s.blank('Bob')
      await goHost(bob, { ...options, name: 'Bob' })
      await bob.waitText(`${expected} three.`)
      assert.equal((await sockets(three)).length, 0, 'the third tab follows tab 2')
      await assertNoRefusal(two)
      assert.deepEqual(server.problems(), [], 'the server refused nothing')
    })

    scenario(harness, 'this device\'s copy, written by another tab meanwhile, is taken in by the next write, not overwritten', async (s) => {
      const server = await s.ownServer('tabs-copy')
      const doc = 'shared-copy'
      const key = `${server.wsUrl}/${doc}`
      const one = await firstTab(s, 'Ada tab 1')
      await goHost(one, { server: server.wsUrl, doc, debounce: 0, name: 'Ada one' })
      await one.waitStatus('connected')
      await one.typeAtEnd('start.')
      await one.waitSaved()
      await server.kill()
      await one.waitState('tab 1 to leave "connected"', (st) => st.status !== 'connected')

      // Another tab's write, as it would leave it: this document plus its own edit at the
      // end, under its client id, with one unsaved change (record format in local_copy.rs).
      // It starts from the copy once that holds the whole text (the last write may still be
      // under way), as another tab would.
      const readCopy = async () => {
        const bytes = Uint8Array.from(await one.page.evaluate((k) => new Promise((resolve, reject) => {
          const open = indexedDB.open('collab-textarea')
          open.onerror = () => reject(open.error)
          open.onsuccess = () => {
            const get = open.result.transaction('docs').objectStore('docs').get(k)
            get.onsuccess = () => { open.result.close(); resolve([...(get.result ?? [])]) }
            get.onerror = () => reject(get.error)
          }
        }), key))
        if (bytes.length === 0) return null
        assert.equal(Buffer.from(bytes.subarray(0, 4)).toString(), 'CTX2')
        const tabs = new DataView(bytes.buffer).getUint32(16, true)
        const copy = new Y.Doc()
        copy.clientID = 4242
        Y.applyUpdate(copy, bytes.subarray(20 + 12 * tabs))
        return copy
      }
      const other = await waitUntil('this device\'s copy to hold "start."',
        async () => {
          const copy = await readCopy()
          return copy?.getText('content').toString() === 'start.' && copy
        })
      other.getText('content').insert(other.getText('content').length, ' elsewhere')
      const state = Y.encodeStateAsUpdate(other)
      const record = new Uint8Array(32 + state.length)
      const view = new DataView(record.buffer)
      record.set(Buffer.from('CTX2'))
      view.setBigUint64(4, 4242n, true)
      view.setUint32(12, 1, true)
      view.setUint32(16, 1, true)
      view.setBigUint64(20, 4242n, true)
      view.setUint32(28, 1, true)
      record.set(state, 32)
      await one.page.evaluate(([k, bytes]) => new Promise((resolve, reject) => {
        const open = indexedDB.open('collab-textarea')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const txn = open.result.transaction('docs', 'readwrite')
          txn.objectStore('docs').put(new Uint8Array(bytes), k)
          txn.oncomplete = () => { open.result.close(); resolve() }
          txn.onerror = () => reject(txn.error)
        }
      }), [key, [...record]])

      // The next write (after an edit at the start, apart from the other tab's) takes it in.
      await one.textarea.focus()
      await one.page.keyboard.press('Control+Home')
      await one.page.keyboard.type('X')
      const expected = 'Xstart. elsewhere'
      await one.waitText(expected, 'the other tab\'s edit, taken in from this device\'s copy')
      await waitLine(one, 'the edits kept on this device', KEPT_LINE)
      await server.start()
      await one.waitSaved(RECONNECT_MS)
      assert.deepEqual(await server.storedText(doc), { status: 200, text: expected })
      await assertNoRefusal(one)
    })

    scenario(harness, 'with tokens, one user\'s tabs share one connection and another user\'s tab in the same browser keeps its own; each edit is stored under its author', async (s) => {
      // The host page is on its own origin, which a server with tokens must be told to accept.
      const server = await s.ownServer('tabs-tokens', {}, ['--auth-secret', SECRET, '--allow-origin', site.url])
      const doc = 'token-tabs'
      const options = { server: server.wsUrl, doc, debounce: 0 }
      const ada = token(doc, 'Ada')
      const one = await firstTab(s, 'Ada tab 1')
      await goHost(one, { ...options, name: 'Ada one', token: ada })
      await one.waitStatus('connected')
      const two = await newTab(s, one, 'Ada tab 2')
      await goHost(two, { ...options, name: 'Ada two', token: ada })
      await two.waitStatus('connected')
      const bob = await newTab(s, one, 'Bob tab')
      await goHost(bob, { ...options, name: 'Bob', token: token(doc, 'Bob') })
      await bob.waitStatus('connected')

      await one.typeAtEnd('a1.')
      await bob.waitText('a1.')
      await two.typeAtEnd('a2.')
      await bob.waitText('a1.a2.')
      await bob.typeAtEnd('bob.')
      await one.waitText('a1.a2.bob.')
      await two.waitText('a1.a2.bob.')
      for (const tab of [one, two, bob]) await tab.waitSaved()
      assert.equal((await server.storedText(doc, ada)).text, 'a1.a2.bob.')

      assert.equal((await sockets(two)).length, 0, 'Ada\'s second tab uses the first one\'s connection')
      assert.equal((await sockets(bob)).length, 1, 'Bob\'s tab has a connection of its own')
      const response = await fetch(`${server.httpUrl}/api/docs/${doc}/changes`,
        { headers: { authorization: `Bearer ${ada}` } })
      assert.equal(response.status, 200)
      const inserted = {}
      for (const change of await response.json()) {
        assert.equal(change.author.verified, true)
        inserted[change.author.id] = (inserted[change.author.id] ?? 0) + change.inserted
      }
      assert.deepEqual(inserted, { Ada: 'a1.a2.'.length, Bob: 'bob.'.length },
        'both Ada tabs\' edits under Ada, Bob\'s under Bob')
      for (const tab of [one, two, bob]) await assertNoRefusal(tab)
      assert.deepEqual(server.problems(), [], 'the server refused nothing')
    })

    scenario(harness, 'forget() in one tab (a sign-out) stops every tab keeping this device\'s copy: the other tab\'s next offline edit is only in its memory, and no record is left', async (s) => {
      const server = await s.ownServer('tabs-forget')
      const doc = 'forget-tabs'
      const options = { server: server.wsUrl, doc, debounce: 0 }
      const one = await firstTab(s, 'Ada tab 1')
      one.page.on('dialog', (dialog) => dialog.accept())
      await goHost(one, { ...options, name: 'Ada one' })
      await one.waitStatus('connected')
      const two = await newTab(s, one, 'Ada tab 2')
      two.page.on('dialog', (dialog) => dialog.accept())
      await goHost(two, { ...options, name: 'Ada two' })
      await two.waitStatus('connected')
      await two.typeAtEnd('kept.')
      await one.waitText('kept.')
      await two.waitSaved()
      const record = () => one.page.evaluate((k) => new Promise((resolve, reject) => {
        const open = indexedDB.open('collab-textarea')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const get = open.result.transaction('docs').objectStore('docs').get(k)
          get.onsuccess = () => { open.result.close(); resolve(get.result === undefined ? null : get.result.length) }
          get.onerror = () => reject(get.error)
        }
      }), `${server.wsUrl}/${doc}`)
      await waitUntil('this device\'s copy to be written', async () => (await record()) !== null)

      await one.page.evaluate(() => window.__handle.forget())
      await server.kill()
      await two.waitState('tab 2 to leave "connected"', (st) => st.status !== 'connected')
      await two.typeAtEnd(' gone.')
      await one.waitText('kept. gone.', 'tab 2\'s edit in tab 1, offline')
      await waitLine(two, 'tab 2 to say its edit is only in memory', MEMORY_LINE)
      assert.equal(await record(), null, 'no copy of the document left on this device')
    })

    scenario(harness, 'persist="none" tabs share through the channel too; without BroadcastChannel each tab keeps its own connection, as before', async (s) => {
      const server = await s.ownServer('tabs-memory')
      const doc = 'memory-tabs'
      const options = { server: server.wsUrl, doc, debounce: 0, persist: 'none' }
      const one = await firstTab(s, 'Ada tab 1')
      one.page.on('dialog', (dialog) => dialog.accept())
      await goHost(one, { ...options, name: 'Ada one' })
      await one.waitStatus('connected')
      const two = await newTab(s, one, 'Ada tab 2')
      two.page.on('dialog', (dialog) => dialog.accept())
      await goHost(two, { ...options, name: 'Ada two' })
      await two.waitStatus('connected')
      await server.kill()
      await two.waitState('tab 2 to leave "connected"', (st) => st.status !== 'connected')
      await two.typeAtEnd('memory.')
      await one.waitText('memory.', 'tab 2\'s edit in tab 1, offline, with nothing stored')
      await waitLine(two, 'tab 2 to say the edit is only in memory', MEMORY_LINE)
      await server.start()
      await two.waitSaved(RECONNECT_MS)
      assert.equal((await server.storedText(doc)).text, 'memory.')

      // Without BroadcastChannel: two tabs, two connections, the server between them.
      const alone = { server: server.wsUrl, doc: 'no-channel', debounce: 0, noChannel: true }
      const three = await firstTab(s, 'Cy tab 1')
      await goHost(three, { ...alone, name: 'Cy one' })
      const four = await newTab(s, three, 'Cy tab 2')
      await goHost(four, { ...alone, name: 'Cy two' })
      await three.waitStatus('connected')
      await four.waitStatus('connected')
      await three.typeAtEnd('via the server.')
      await four.waitText('via the server.')
      await three.waitSaved()
      assert.equal((await sockets(three)).length, 1, 'tab 1 has its own connection')
      assert.equal((await sockets(four)).length, 1, 'tab 2 has its own connection')
      assert.deepEqual(server.problems(), [], 'the server refused nothing')
    })
  })
}
