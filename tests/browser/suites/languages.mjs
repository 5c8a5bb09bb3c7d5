// The widget in another language: a page's `messages` object replaces its words, relative
// times come from Intl in the element's `lang` (its nearest ancestor's, over <html lang>), and
// right-to-left text lays out right to left.

import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { scenario } from '../lib/session.mjs'

/** A German page's texts (a few keys; the rest stay English). */
const GERMAN = {
  connected: 'Verbunden',
  savedJustNow: 'Gerade gespeichert',
  savedAgo: 'Gespeichert {time}',
  saving: 'Wird gespeichert…',
  offline: { one: 'Offline – eine Änderung behalten', other: 'Offline – {count} Änderungen behalten' },
  retry: 'Erneut versuchen',
  people: 'Anwesende',
  you: '{name} (ich)',
  textLabel: 'Gemeinsamer Text'
}

export default function languages (harness) {
  describe('languages', () => {
    scenario(harness, 'lang="de" with German messages: German words, and "saved … ago" as German relative time', async (s) => {
      const doc = harness.doc('lang-de')
      const options = { doc, name: 'Ada', messages: GERMAN }
      const ada = await s.open(options, { mount: false })
      // The nearest `lang` wins over the page's <html lang="en">.
      await ada.page.evaluate(() => { document.getElementById('frame').lang = 'de' })
      await ada.mount({ server: harness.server.wsUrl, debounce: 0, ...options })
      await ada.waitStatus('connected')
      await ada.typeAtEnd('Hallo Welt')
      await ada.waitState('"Gerade gespeichert"', (st) => st.saveLine === 'Gerade gespeichert')
      // Three seconds on, the line says how long ago, in German ("vor 3 s"), from the ticker.
      await ada.waitState('"Gespeichert vor N …"', (st) => /^Gespeichert vor \d+/.test(st.saveLine))
      const st = await ada.state()
      assert.doesNotMatch(st.saveLine, /ago|Saved/, `no English in ${JSON.stringify(st.saveLine)}`)
      assert.equal(st.dot.label, 'Verbunden', 'the status dot\'s words')
      assert.deepEqual(st.avatars.map((a) => a.title), ['Ada (ich)'], 'own avatar')
      const shadowTexts = await ada.page.evaluate(() => {
        const root = document.getElementById('host').shadowRoot
        return {
          retry: root.querySelector('[part~="retry"]').textContent,
          people: root.querySelector('[part~="presence"]').getAttribute('aria-label'),
          label: root.querySelector('[part~="textarea"]').getAttribute('aria-label'),
          lang: root.querySelector('[part~="root"]').lang
        }
      })
      assert.deepEqual(shadowTexts, { retry: 'Erneut versuchen', people: 'Anwesende', label: 'Gemeinsamer Text', lang: 'de' })
    })

    scenario(harness, 'a key the widget does not know is refused with the known keys named', async (s) => {
      const ada = await s.open({ doc: harness.doc('lang-bad'), name: 'Ada' }, { mount: false })
      const message = await ada.page.evaluate(async (server) => {
        const { mount } = await import('/collab-textarea/index.js')
        try {
          await mount(document.getElementById('host'), { server, doc: 'x', messages: { Retry: 'Nochmal' } })
          return 'mounted'
        } catch (error) {
          return String(error?.message ?? error)
        }
      }, harness.server.wsUrl)
      assert.match(message, /`messages` has no key "Retry" \(known keys: connected, .*retry/)
    })

    scenario(harness, 'Arabic text is laid out right to left, Latin text left to right', async (s) => {
      const doc = harness.doc('lang-rtl')
      const ada = await s.open({ doc, name: 'Ada' })
      const bob = await s.open({ doc, name: 'Bob' })
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])
      const direction = (page) => page.page.evaluate(() => {
        const textarea = document.getElementById('host').shadowRoot.querySelector('[part~="textarea"]')
        return { direction: getComputedStyle(textarea).direction, rtl: textarea.matches(':dir(rtl)') }
      })
      assert.deepEqual(await direction(ada), { direction: 'ltr', rtl: false }, 'empty: left to right')
      await ada.typeAtEnd('مرحبا بالعالم')
      assert.deepEqual(await direction(ada), { direction: 'rtl', rtl: true }, 'typed Arabic')
      // The same for the one who receives it.
      await bob.waitText('مرحبا بالعالم')
      assert.deepEqual(await direction(bob), { direction: 'rtl', rtl: true }, 'received Arabic')
    })
  })
}
