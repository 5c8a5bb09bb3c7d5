// Presence: who is here, where their caret is, and that leaving (closing the tab, or unmount())
// makes them disappear for the others.

import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { scenario } from '../lib/session.mjs'
import { waitUntil } from '../lib/wait.mjs'

/** Horizontal tolerance, in CSS pixels, between a drawn remote caret and the character boundary. */
const X_SLACK = 4

/**
 * Waits until `viewer` draws `name`'s caret at character boundary `index` of its textarea:
 * the caret's horizontal centre within X_SLACK of where the boundary is laid out, its vertical
 * centre on the boundary's line, and the caret inside the textarea. Returns
 * `{ caret, expected }` (viewport coordinates).
 */
async function waitRemoteCaretAt (viewer, name, index) {
  const where = () => viewer.page.evaluate(({ name, index }) => ({
    caret: window.__ct.state().cursors.find((c) => c.name === name)?.caret ?? null,
    expected: window.__ct.caretPosition(index),
    textarea: window.__ct.rect(window.__ct.part('textarea'))
  }), { name, index })
  await viewer.waitState(`${name}'s caret drawn at character ${index}`, (st, { name, index, slack }) => {
    const cursor = st.cursors.find((c) => c.name === name)
    if (!cursor || !cursor.caret || !cursor.caretVisible) return false
    const at = window.__ct.caretPosition(index)
    const box = window.__ct.rect(window.__ct.part('textarea'))
    const c = cursor.caret
    const cx = (c.left + c.right) / 2
    const cy = (c.top + c.bottom) / 2
    return Math.abs(cx - at.x) <= slack && cy >= at.top && cy <= at.bottom &&
      c.left >= box.left && c.right <= box.right && c.top >= box.top - 1 && c.bottom <= box.bottom + 1
  }, { name, index, slack: X_SLACK }).catch(async (error) => {
    error.message += `\n  drawn vs expected: ${JSON.stringify(await where())}`
    throw error
  })
  return where()
}

export default function presence (harness) {
  describe('presence', () => {
    scenario(harness, 'both users are listed, a remote caret is drawn where the peer\'s caret is, and closing a tab removes its user', async (s) => {
      const doc = harness.doc('presence')
      const ada = await s.open({ doc, name: 'Ada', color: '#7c3aed' })
      const bob = await s.open({ doc, name: 'Bob', color: '#059669' })
      await Promise.all([ada.waitAvatars(['Ada', 'Bob']), bob.waitAvatars(['Ada', 'Bob'])])
      for (const [page, me, other] of [[ada, 'Ada', 'Bob'], [bob, 'Bob', 'Ada']]) {
        const { avatars } = await page.state()
        const mine = avatars.filter((a) => a.self)
        assert.equal(mine.length, 1, `${me} sees exactly one avatar marked as self`)
        assert.equal(mine[0].title, `${me} (you)`, `${me}'s own avatar title`)
        assert.ok(avatars.find((a) => a.title === other && !a.self), `${me} sees ${other}`)
        assert.ok(avatars.every((a) => a.visible), `${me}: every avatar is visible`)
      }

      const presence = await ada.page.evaluate(() => window.__ct.events.filter((e) => e.type === 'collab-presence').at(-1)?.detail)
      assert.deepEqual(presence?.users.map((u) => [u.name, u.self]).sort(), [['Ada', true], ['Bob', false]],
        `the last collab-presence event on Ada's page: ${JSON.stringify(presence)}`)

      const text = 'first line here\nsecond line'
      await ada.typeAtEnd(text)
      await bob.waitText(text)

      // Ada's caret after "first": Bob sees it there.
      await ada.placeCaret(5)
      const afterFirst = await waitRemoteCaretAt(bob, 'Ada', 5)
      const label = (await bob.state()).cursors.find((c) => c.name === 'Ada').label
      assert.equal(label, 'Ada', 'the remote caret is labelled with the peer\'s name')

      // Further right on the same line: the caret moves right, not down.
      await ada.placeCaret(10)
      const afterLine = await waitRemoteCaretAt(bob, 'Ada', 10)
      assert.ok(afterLine.caret.left > afterFirst.caret.left, `caret moved right: ${afterFirst.caret.left} -> ${afterLine.caret.left}`)
      assert.ok(Math.abs(afterLine.caret.top - afterFirst.caret.top) < 2, 'caret stayed on the first line')

      // After the newline: the start of the second line, below and to the left.
      await ada.placeCaret(text.indexOf('\n') + 1)
      const lineTwo = await waitRemoteCaretAt(bob, 'Ada', text.indexOf('\n') + 1)
      assert.ok(lineTwo.caret.top >= afterLine.caret.bottom - 1, `caret moved down a line: top ${afterLine.caret.top} -> ${lineTwo.caret.top}`)
      assert.ok(lineTwo.caret.left < afterFirst.caret.left, 'caret moved back to the start of the line')

      // A selection is highlighted over the selected characters.
      await ada.placeCaret(6, 10) // "line" on the first line
      await bob.waitState('Ada\'s selection of "line" highlighted', (st, slack) => {
        const cursor = st.cursors.find((c) => c.name === 'Ada')
        if (!cursor) return false
        const from = window.__ct.caretPosition(6)
        const to = window.__ct.caretPosition(10)
        return cursor.selections.some((r) => Math.abs(r.left - from.x) <= slack && Math.abs(r.right - to.x) <= slack &&
          r.top < from.bottom && r.bottom > from.top)
      }, X_SLACK)

      // Bob's tab closes: Ada no longer lists him nor draws his caret.
      await bob.placeCaret(3)
      await waitRemoteCaretAt(ada, 'Bob', 3)
      await bob.page.close()
      await ada.waitAvatars(['Ada'], 'Bob to disappear from Ada\'s presence list after his tab closed')
      await ada.waitState('Bob\'s caret to disappear', (st) => !st.cursors.some((c) => c.name === 'Bob'))
    })

    scenario(harness, 'unmount() removes every node and closes the connection', async (s) => {
      const doc = harness.doc('unmount')
      const ada = await s.open({ doc, name: 'Ada' })
      const bob = await s.open({ doc, name: 'Bob' })
      await Promise.all([ada.waitAvatars(['Ada', 'Bob']), bob.waitAvatars(['Ada', 'Bob'])])
      await ada.typeAtEnd('before unmount')
      await bob.waitText('before unmount')
      assert.ok(ada.sockets.some((ws) => !ws.isClosed()), 'Ada has an open WebSocket while mounted')

      const left = await ada.page.evaluate(() => {
        window.__handle.unmount()
        window.__handle.unmount() // idempotent
        const host = document.getElementById('host')
        return {
          shadowChildren: host.shadowRoot ? host.shadowRoot.childNodes.length : 0,
          hostChildren: host.childNodes.length,
          widgetFound: window.__ct.host() !== null
        }
      })
      assert.deepEqual(left, { shadowChildren: 0, hostChildren: 0, widgetFound: false },
        'nothing of the widget is left in the host or its shadow root')

      await waitUntil('Ada\'s WebSocket to close after unmount()', () => ada.sockets.every((ws) => ws.isClosed()))
      await bob.waitAvatars(['Bob'], 'Ada to disappear from Bob\'s presence list after unmount()')

      // Nothing of Ada's widget still listens: Bob's edits no longer reach her page.
      const eventsBefore = await ada.page.evaluate(() => window.__ct.events.length)
      assert.ok(eventsBefore > 0, 'the page recorded the widget\'s events while it was mounted')
      await bob.typeAtEnd(' and after')
      await waitUntil('the server to have Bob\'s edit', async () =>
        (await harness.server.storedText(doc)).text === 'before unmount and after')
      await bob.waitText('before unmount and after')
      assert.equal(await ada.page.evaluate(() => window.__ct.events.length), eventsBefore,
        'the unmounted widget dispatched no more events')
      assert.ok(ada.sockets.every((ws) => ws.isClosed()), 'the unmounted widget opened no new connection')
    })
  })
}
