// The server goes away (SIGKILL) and comes back on the same port and data file: the widget
// says so, keeps what is typed meanwhile, delivers it afterwards, and says "Saved" only for
// what the server acknowledged as durable.

import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { colorFamily, STATUS_COLOR } from '../lib/colors.mjs'
import { scenario } from '../lib/session.mjs'
import { waitUntil } from '../lib/wait.mjs'

/** Offline with unsaved changes, every one of them in this device's copy (persistence is on by default). */
export const OFFLINE_LINE = /^Offline — (\d+) changes? kept on this device$/

/** How long to wait for a reconnect: the widget's backoff is capped at a few seconds. */
const RECONNECT_MS = 30_000

/** Asserts the status dot's colour family (and label) fit the root's data-status. */
export function assertDot (state, who) {
  assert.ok(state.dot, `${who}: a status dot`)
  assert.equal(colorFamily(state.dot.rgba), STATUS_COLOR[state.status],
    `${who}: dot colour ${state.dot.color} for status "${state.status}"`)
  assert.ok((state.dot.label ?? '').toLowerCase().includes(state.status),
    `${who}: the dot's aria-label ${JSON.stringify(state.dot.label)} names status "${state.status}"`)
}

/** The first byte of the durable-acknowledgement message (docs/protocol.md, "Durable acknowledgement"). */
const MSG_ACK = 100

/** Update-carrying sync messages (step 2, update) start with bytes 0,1 or 0,2. */
const isUpdateFrame = (frame) => frame.bytes[0] === 0 && (frame.bytes[1] === 1 || frame.bytes[1] === 2)

export default function offline (harness) {
  describe('server down and back', () => {
    scenario(harness, 'kill -9 the server: the dot turns yellow/red, edits typed offline are kept, delivered and stored after the restart', async (s) => {
      const server = await s.ownServer('restart')
      const doc = 'offline-edits'
      const ada = await s.open({ doc, name: 'Ada' }, {}, server)
      const bob = await s.open({ doc, name: 'Bob' }, {}, server)
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])
      assertDot(await ada.state(), 'Ada while connected')

      await ada.typeAtEnd('typed online.')
      await bob.waitText('typed online.')
      await ada.waitSaved()

      await server.kill()
      for (const [page, who] of [[ada, 'Ada'], [bob, 'Bob']]) {
        await page.waitState('the status to leave "connected"', (st) => st.status === 'connecting' || st.status === 'disconnected')
        assertDot(await page.state(), `${who} with the server down`)
      }

      // Both type while the server is down.
      await ada.typeAtEnd(' ada offline.')
      await bob.placeCaret(0)
      await bob.type('BOB OFFLINE. ')
      for (const [page, who] of [[ada, 'Ada'], [bob, 'Bob']]) {
        await page.waitState('the save line to say "Offline — N changes kept on this device"',
          (st, pattern) => st.save === 'offline' && new RegExp(pattern).test(st.saveLine), OFFLINE_LINE.source)
        const st = await page.state()
        const n = Number(OFFLINE_LINE.exec(st.saveLine)[1])
        assert.ok(n >= 1, `${who}: N in ${JSON.stringify(st.saveLine)} counts the offline edit`)
        assert.ok(!/^Saved/.test(st.saveLine), `${who}: not "Saved" while offline`)
      }
      assert.equal(await ada.text(), 'typed online. ada offline.', 'Ada keeps her offline edit on screen')
      assert.equal(await bob.text(), 'BOB OFFLINE. typed online.', 'Bob keeps his offline edit on screen')

      // Same port, same data file.
      await server.start()
      const expected = 'BOB OFFLINE. typed online. ada offline.'
      for (const [page, who] of [[ada, 'Ada'], [bob, 'Bob']]) {
        await page.waitStatus('connected', RECONNECT_MS)
        assertDot(await page.state(), `${who} after the restart`)
        await page.waitText(expected, 'both offline edits')
        await page.waitSaved()
      }
      assert.deepEqual(await server.storedText(doc), { status: 200, text: expected }, 'stored after the restart')

      // The same story in the widget's events and JS API.
      const { events, api } = await ada.page.evaluate(() => ({
        events: window.__ct.events,
        api: { status: window.__handle.status(), unsaved: window.__handle.unsaved(), text: window.__handle.text() }
      }))
      const statuses = events.filter((e) => e.type === 'collab-status').map((e) => e.detail.status)
        .filter((status, i, all) => status !== all[i - 1])
      const firstConnected = statuses.indexOf('connected')
      assert.ok(firstConnected >= 0 && statuses.slice(firstConnected + 1, -1).some((st) => st !== 'connected') &&
        statuses.at(-1) === 'connected', `collab-status: connected, then not, then connected again: ${statuses.join(' → ')}`)
      const saves = events.filter((e) => e.type === 'collab-save').map((e) => e.detail)
      assert.ok(saves.some((d) => d.state === 'offline' && d.unsaved >= 1), `a collab-save "offline" with unsaved ≥ 1: ${JSON.stringify(saves)}`)
      const lastSave = saves.at(-1)
      assert.ok(lastSave.state === 'saved' && lastSave.unsaved === 0 && typeof lastSave.savedAt === 'number',
        `the last collab-save says saved: ${JSON.stringify(lastSave)}`)
      assert.deepEqual(api, { status: 'connected', unsaved: 0, text: expected }, 'handle.status(), unsaved(), text()')

      // Acknowledged means durable: another kill -9 and restart, and it is all still there.
      await server.kill()
      await server.start()
      assert.deepEqual(await server.storedText(doc), { status: 200, text: expected }, 'stored after a second kill -9')
      await Promise.all([ada.waitStatus('connected', RECONNECT_MS), bob.waitStatus('connected', RECONNECT_MS)])
      assert.equal(await ada.text(), expected, 'Ada\'s text after reconnecting again')
      assert.equal(await bob.text(), expected, 'Bob\'s text after reconnecting again')
    })

    scenario(harness, 'while the server\'s acknowledgement is held back on the wire, the save line says "Saving…", not "Saved"', async (s) => {
      const doc = harness.doc('held-ack')
      const ada = await s.open({ doc, name: 'Ada' }, { mount: false })
      // Every frame passes through the test; acknowledgements (tag 100) wait while `holding`.
      let holding = false
      const held = []
      let toPage = null
      await ada.page.routeWebSocket(/\/sync\//, (ws) => {
        toPage = ws
        const server = ws.connectToServer()
        ws.onMessage((message) => server.send(message))
        server.onMessage((message) => {
          if (holding && typeof message !== 'string' && message[0] === MSG_ACK) held.push(message)
          else ws.send(message)
        })
      })
      await ada.mount({ server: harness.server.wsUrl, doc, name: 'Ada', debounce: 0 })
      await ada.waitStatus('connected')
      await ada.waitState('"All changes saved" after the handshake', (st) => st.save === 'saved')
      await ada.page.evaluate(() => window.__ct.watchSaveLine())

      holding = true
      await ada.typeAtEnd('held')
      await waitUntil('the server to have the edit', async () => (await harness.server.storedText(doc)).text === 'held')
      await waitUntil('the server\'s acknowledgement to be held back', () => held.length > 0)
      let st = await ada.state()
      assert.equal(st.save, 'saving', 'data-save while the acknowledgement is held back')
      assert.match(st.saveLine, /^Saving/, 'the save line while the acknowledgement is held back')

      // Let the acknowledgements through: now "Saved".
      holding = false
      const releasedAt = Date.now()
      for (const message of held.splice(0)) toPage.send(message)
      await ada.waitSaved()
      const log = await ada.page.evaluate(() => window.__ct.saveLineLog)
      const claimedSaved = (e) => e.save === 'saved' || /^Saved|saved$/.test(e.line ?? '')
      assert.deepEqual(log.slice(1).filter((e) => e.at < releasedAt && claimedSaved(e)), [],
        `nothing claimed "Saved" before the acknowledgement was let through; save line log: ${JSON.stringify(log)}`)
      st = await ada.state()
      assert.equal(st.text, 'held')
    })

    scenario(harness, '"Saved" appears only once the server acknowledged the edit as durable', async (s) => {
      const server = await s.ownServer('ack')
      const doc = 'saved-means-durable'
      const DEBOUNCE = 3000
      const ada = await s.open({ doc, name: 'Ada', debounce: DEBOUNCE }, {}, server)
      await ada.waitStatus('connected')
      // Settled first: the handshake's own acknowledgement has arrived.
      await ada.waitState('"All changes saved" after the handshake', (st) => st.save === 'saved')
      await ada.page.evaluate(() => window.__ct.watchSaveLine())

      const typedAt = Date.now()
      await ada.typeAtEnd('durable')
      await ada.waitState('"Saving…" while the edit waits for its debounce',
        (st) => st.save === 'saving' && /^Saving/.test(st.saveLine))
      await server.kill()
      const killedAt = Date.now()

      // The premise: the edit was still in the page (the 3 s debounce had not run out).
      const sentBeforeKill = ada.framesSent.filter((f) => f.at >= typedAt && f.at <= killedAt && isUpdateFrame(f))
      assert.deepEqual(sentBeforeKill, [], `no update frame left the page within ${DEBOUNCE} ms debounce before the kill`)

      await ada.waitState('"Offline — N changes kept on this device"',
        (st, pattern) => st.save === 'offline' && new RegExp(pattern).test(st.saveLine), OFFLINE_LINE.source)
      // The scenario needs the debounce to run out while the server is down (its timer firing
      // must not turn into "Saved"): let that much time pass, in the page's clock.
      await ada.page.waitForFunction((t) => Date.now() >= t, typedAt + DEBOUNCE + 500, { timeout: DEBOUNCE + 10_000, polling: 100 })
      // The log's first entry is the settled state from before typing; the rest came after.
      let log = await ada.page.evaluate(() => window.__ct.saveLineLog)
      const claimedSaved = (e) => e.save === 'saved' || /^Saved|saved$/.test(e.line ?? '')
      assert.deepEqual(log.slice(1).filter(claimedSaved), [],
        `nothing claimed "Saved" between typing and the server coming back (typed at ${typedAt}, killed at ${killedAt}); save line log: ${JSON.stringify(log)}`)
      assert.equal((await ada.state()).save, 'offline', 'still offline after the debounce ran out')

      const restartedAt = Date.now()
      await server.start()
      await ada.waitStatus('connected', RECONNECT_MS)
      await ada.waitSaved()
      assert.ok(ada.framesSent.some((f) => f.at >= restartedAt && isUpdateFrame(f)), 'the edit went out after the restart')
      log = await ada.page.evaluate(() => window.__ct.saveLineLog)
      const early = log.slice(1).filter((e) => e.at < restartedAt && claimedSaved(e))
      assert.deepEqual(early, [], `no "Saved" before the server was back (restarted at ${restartedAt}); save line log: ${JSON.stringify(log)}`)

      // What "Saved" promised is on disk: it survives another kill -9.
      assert.deepEqual(await server.storedText(doc), { status: 200, text: 'durable' }, 'stored when "Saved" showed')
      await server.kill()
      await server.start()
      assert.deepEqual(await server.storedText(doc), { status: 200, text: 'durable' }, 'stored after kill -9')
      await waitUntil('the save line to keep saying Saved after reconnecting', async () => {
        const st = await ada.state()
        return st.status === 'connected' && st.save === 'saved'
      }, { timeoutMs: RECONNECT_MS })
    })
  })
}
