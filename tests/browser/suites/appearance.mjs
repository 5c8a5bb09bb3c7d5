// A picture of the widget in each state it can be in, into $ARTIFACTS/browser/, each taken
// only once the DOM says the widget is in that state (and the dot's colour fits it).

import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { scenario } from '../lib/session.mjs'
import { waitUntil } from '../lib/wait.mjs'
import { assertDot, OFFLINE_LINE } from './offline.mjs'

export default function appearance (harness) {
  describe('appearance', () => {
    scenario(harness, 'screenshots: connected with presence and a remote caret, dark mode, saving, disconnected with Retry, offline, connecting', async (s) => {
      const server = await s.ownServer('looks')
      const doc = 'looks'
      const ada = await s.open({ doc, name: 'Ada Lovelace', color: '#7c3aed' }, {}, server)
      const bob = await s.open({ doc, name: 'Bob', color: '#ea580c' }, {}, server)
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])

      const notes = 'Meeting notes\n- ship the widget\n- write the browser tests\n- look at the screenshots'
      await ada.typeAtEnd(notes)
      await bob.waitText(notes)
      // Bob selects "widget": Ada sees his caret and selection.
      const start = notes.indexOf('widget')
      await bob.placeCaret(start, start + 'widget'.length)
      await ada.placeCaret(notes.length)
      await ada.waitAvatars(['Ada Lovelace', 'Bob'])
      await ada.waitState('Bob\'s caret and selection drawn', (st) => st.cursors.some((c) => c.name === 'Bob' && c.caretVisible && c.selections.length > 0))
      await ada.waitSaved()
      assertDot(await ada.state(), 'connected')
      await ada.screenshot('01-connected')

      await ada.page.emulateMedia({ colorScheme: 'dark' })
      await ada.screenshot('02-dark-connected')
      await ada.page.emulateMedia({ colorScheme: 'light' })

      // Saving: a third tab with a long debounce holds its edit for a while.
      const sam = await s.open({ doc, name: 'Sam', debounce: 3000 }, {}, server)
      await sam.waitStatus('connected')
      await sam.typeAtEnd('\n- saving')
      await sam.waitState('"Saving…"', (st) => st.save === 'saving' && /^Saving/.test(st.saveLine))
      await sam.screenshot('03-saving')
      await sam.waitSaved()
      await sam.close()

      // Disconnected: the server is gone; between attempts the widget waits (red) and offers Retry.
      await server.kill()
      await ada.waitState('"disconnected" with Retry shown', (st) => st.status === 'disconnected' && st.retryVisible)
      assertDot(await ada.state(), 'disconnected')
      await ada.screenshot('04-disconnected-retry')

      // Offline with unsaved changes.
      await ada.typeAtEnd('\n- typed offline')
      await ada.waitState('"Offline — N changes kept on this device"',
        (st, pattern) => st.save === 'offline' && new RegExp(pattern).test(st.saveLine), OFFLINE_LINE.source)
      await ada.screenshot('05-offline-unsaved')
      await ada.page.emulateMedia({ colorScheme: 'dark' })
      await ada.screenshot('06-dark-offline')
      await ada.page.emulateMedia({ colorScheme: 'light' })

      // Connecting: something holds the port but never answers, so an attempt stays open (yellow).
      // Pressing Retry starts that attempt now (unless the backoff timer just did).
      const silent = await server.holdPortSilently()
      await ada.page.evaluate(() => {
        const retry = window.__ct.part('retry')
        if (window.__ct.state().status === 'disconnected' && !retry.hidden) retry.click()
      })
      await ada.waitStatus('connecting')
      await waitUntil('the attempt to reach the silent port', () => silent.connections() > 0)
      const connecting = await ada.state()
      assert.equal(connecting.status, 'connecting', 'still connecting while the port stays silent')
      assertDot(connecting, 'connecting')
      await ada.screenshot('07-connecting')

      // The real server back: the widget connects on its own and delivers the offline edit.
      await silent.close()
      await server.start()
      await ada.waitStatus('connected', 30_000)
      await ada.waitSaved()
      assert.equal((await ada.state()).retryVisible, false, 'Retry hides once connected')
      await bob.waitText(`${notes}\n- saving\n- typed offline`)
    })
  })
}
