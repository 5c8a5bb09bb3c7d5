// The widget inside other people's pages: hostile host CSS, and the demo page the server serves.

import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { scenario } from '../lib/session.mjs'

export default function embedding (harness) {
  describe('embedding', () => {
    scenario(harness, 'host-page CSS (textarea hidden, everything red, divs hidden) does not break the widget', async (s) => {
      const doc = harness.doc('hostile-css')
      // The host element is a <section>: the page's own `div { display:none }` would hide a div
      // host, which is the page's doing. Everything inside the shadow root must be unaffected.
      const hostCss = 'textarea { display: none !important } * { color: red !important } div { display: none }'
      const styled = await s.open({ doc, name: 'Styled' }, { hostCss, hostTag: 'section' })
      const plain = await s.open({ doc, name: 'Plain' })
      await Promise.all([styled.waitStatus('connected'), plain.waitStatus('connected')])
      await styled.waitAvatars(['Plain', 'Styled'])

      const look = await styled.page.evaluate(() => {
        const parts = ['root', 'header', 'status-dot', 'save-line', 'presence', 'editor', 'textarea']
        return {
          visible: Object.fromEntries(parts.map((p) => [p, window.__ct.visible(window.__ct.part(p))])),
          textareaColor: window.__ct.rgba(getComputedStyle(window.__ct.part('textarea')).color),
          saveLineColor: window.__ct.rgba(getComputedStyle(window.__ct.part('save-line')).color),
          hostColor: window.__ct.rgba(getComputedStyle(window.__ct.host()).color)
        }
      })
      assert.deepEqual(look.hostColor.slice(0, 3), [255, 0, 0], 'the host page\'s CSS did apply to the host element')
      for (const [p, isVisible] of Object.entries(look.visible)) assert.ok(isVisible, `[part=${p}] is visible`)
      assert.notDeepEqual(look.textareaColor.slice(0, 3), [255, 0, 0], 'the text is not the host page\'s red')
      assert.notDeepEqual(look.saveLineColor.slice(0, 3), [255, 0, 0], 'the save line is not the host page\'s red')
      await styled.screenshot('hostile-host-css')

      await styled.typeAtEnd('typed under hostile CSS')
      await plain.waitText('typed under hostile CSS')
      await plain.typeAtEnd(', and back')
      await styled.waitText('typed under hostile CSS, and back')
    })

    scenario(harness, 'the <collab-textarea> element mounts when inserted and leaves when removed', async (s) => {
      const doc = harness.doc('element')
      const peer = await s.open({ doc, name: 'Peer' })
      const page = await s.open({ doc }, { mount: false })
      const insert = () => page.page.evaluate(async ({ doc, server }) => {
        await import('/collab-textarea/index.js')
        const el = document.createElement('collab-textarea')
        el.id = 'element'
        el.setAttribute('doc', doc)
        el.setAttribute('server', server)
        el.setAttribute('name', 'Elle')
        el.setAttribute('debounce', '0')
        document.getElementById('frame').append(el)
      }, { doc, server: harness.server.wsUrl })
      await insert()
      await page.waitStatus('connected')
      await page.typeAtEnd('typed in the element')
      await peer.waitText('typed in the element')
      await peer.waitAvatars(['Elle', 'Peer'])

      await page.page.evaluate(() => {
        window.__removed = document.getElementById('element')
        window.__removed.remove()
      })
      await peer.waitAvatars(['Peer'], 'Elle to leave when her element was removed from the page')
      assert.equal(await page.page.evaluate(() => window.__removed.shadowRoot?.childNodes.length ?? 0), 0,
        'nothing left in the removed element\'s shadow root')

      await insert()
      await page.waitText('typed in the element', 'the text in a new element on the same document')
      await peer.waitAvatars(['Elle', 'Peer'], 'Elle back with a new element')
    })

    scenario(harness, 'the demo page at / shows a working widget for ?doc=&name=&debounce=', async (s) => {
      const doc = harness.doc('demo')
      const demo = await s.blank('demo page')
      const response = await demo.page.goto(`${harness.server.httpUrl}/?doc=${doc}&name=Demo&debounce=0`)
      assert.equal(response.status(), 200, 'GET / status')
      await demo.waitStatus('connected')
      const widgets = await demo.page.evaluate(() =>
        [...document.querySelectorAll('*')].filter((el) => el.shadowRoot?.querySelector('[part=root]')).length)
      assert.equal(widgets, 1, 'the demo page shows one widget')
      const peer = await s.open({ doc, name: 'Peer' })
      await demo.waitAvatars(['Demo', 'Peer'])
      await demo.typeAtEnd('hello from the demo page')
      await peer.waitText('hello from the demo page')
      await peer.typeAtEnd('!')
      await demo.waitText('hello from the demo page!')
      await demo.screenshotPage('demo-page')
    })
  })
}
