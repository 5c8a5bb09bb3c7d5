// The widget with clients it did not write: a stock Yjs client in Node, and the Vite example
// app built from the packed npm package.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { describe } from 'node:test'
import * as Y from 'yjs'
import { VITE_DIST, WEB_ROOT } from '../lib/env.mjs'
import { scenario } from '../lib/session.mjs'
import { serveStatic } from '../lib/static-server.mjs'
import { waitUntil } from '../lib/wait.mjs'

export default function interop (harness) {
  describe('other clients', () => {
    scenario(harness, 'a stock Yjs client (yjs + y-websocket in Node) and the widget see each other\'s text, presence and cursor', async (s) => {
      const doc = harness.doc('yjs')
      const nora = s.yjs(doc, 'Nora')
      await nora.waitSynced()
      nora.text.insert(0, 'from node. ')

      const ada = await s.open({ doc, name: 'Ada' })
      await ada.waitText('from node. ', 'the Yjs client\'s text')
      await ada.typeAtEnd('from the browser.')
      await nora.waitText((t) => t === 'from node. from the browser.', 'the widget\'s typing')
      nora.text.insert(5, 'NODE ')
      await ada.waitText('from NODE node. from the browser.', 'a later edit of the Yjs client')

      // Presence in the Yjs editor convention: awareness `user.name`.
      await ada.waitAvatars(['Ada', 'Nora'])
      await waitUntil('the Yjs client to see Ada in its awareness', () => nora.peerNames().includes('Ada'))

      // A cursor set the way Yjs editor bindings set it is drawn by the widget.
      nora.setCursor(4)
      await ada.waitState('Nora\'s caret drawn after "from"', (st) => {
        const cursor = st.cursors.find((c) => c.name === 'Nora')
        if (!cursor || !cursor.caret) return false
        const at = window.__ct.caretPosition(4)
        const cx = (cursor.caret.left + cursor.caret.right) / 2
        return Math.abs(cx - at.x) <= 4 && (cursor.caret.top + cursor.caret.bottom) / 2 >= at.top &&
          (cursor.caret.top + cursor.caret.bottom) / 2 <= at.bottom
      })

      // And the widget's cursor reaches the Yjs client as a relative position that resolves to
      // the same place in its own copy of the text.
      await ada.placeCaret(9)
      await waitUntil('the Yjs client to resolve Ada\'s cursor to index 9', () => {
        const state = [...nora.awareness.getStates().values()].find((st) => st.user?.name === 'Ada')
        if (!state?.cursor?.head) return false
        const head = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(state.cursor.head), nora.doc)
        return head?.type === nora.text && head.index === 9
      })
    })

    scenario(harness, 'the Vite example app (examples/vite-app/dist): both of its widgets mount, connect and sync', async (s, t) => {
      if (!fs.existsSync(path.join(VITE_DIST, 'index.html'))) {
        t.skip(`no ${VITE_DIST}/index.html: build the Vite example first (npm run build in examples/vite-app, from the packed npm tarball)`)
        return
      }
      // A dist built from an older package fails here for that reason: say so up front.
      const current = path.join(WEB_ROOT, 'collab-textarea', 'wasm', 'collab_textarea_widget_bg.wasm')
      const built = fs.readdirSync(path.join(VITE_DIST, 'assets'), { recursive: true }).filter((f) => String(f).endsWith('.wasm'))
      if (fs.existsSync(current) && !built.some((f) => fs.readFileSync(path.join(VITE_DIST, 'assets', String(f))).equals(fs.readFileSync(current)))) {
        t.diagnostic(`note: the wasm in ${VITE_DIST} differs from ${current}: the example may be built from an older package`)
      }
      const site = await serveStatic(VITE_DIST)
      s.onDispose(() => site.close())
      const app = await s.blank('vite app')
      // The app takes its sync server from ?server= and edits the document "notes" (src/main.js).
      const response = await app.page.goto(`${site.url}/?server=${encodeURIComponent(harness.server.wsUrl)}`)
      assert.equal(response.status(), 200, 'the example\'s index.html')
      const element = app.widget('#element', 'the <collab-textarea> element')
      const mounted = app.widget('#mounted', 'the mount() widget')
      await Promise.all([element.waitStatus('connected'), mounted.waitStatus('connected')])
      const wasm = site.requests.filter((r) => r.path.endsWith('.wasm'))
      assert.ok(wasm.length > 0 && wasm.every((r) => r.status === 200), `the wasm file was served: ${JSON.stringify(site.requests)}`)
      assert.ok(app.sockets.every((ws) => ws.url().startsWith(`${harness.server.wsUrl}/notes`)),
        `the app connected to this test's server: ${app.sockets.map((ws) => ws.url()).join(', ')}`)

      const nora = s.yjs('notes', 'Nora')
      await nora.waitSynced()
      await element.typeAtEnd('typed in the element')
      await nora.waitText((text) => text === 'typed in the element', 'the element\'s typing')
      await mounted.waitText('typed in the element')
      await mounted.typeAtEnd(', typed in the mounted div')
      await nora.waitText((text) => text === 'typed in the element, typed in the mounted div', 'the mounted widget\'s typing')
      nora.text.insert(0, 'NODE ')
      for (const widget of [element, mounted]) await widget.waitText('NODE typed in the element, typed in the mounted div')
      await element.waitAvatars(['Nora', 'Vite element', 'Vite mount()'])
      await app.screenshotPage('vite-app')
    })
  })
}
