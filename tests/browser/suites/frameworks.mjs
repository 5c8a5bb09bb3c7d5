// The React, Vue and Svelte examples (examples/{react,vue,svelte}-app/dist, built by Vite from
// the packed npm package by examples/check-frameworks.sh): each mounts the element, keeps its
// own state from the element's events, passes its state to the element's attributes, and two
// pages of it converge.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { describe } from 'node:test'
import { EXAMPLES_DIR } from '../lib/env.mjs'
import { scenario } from '../lib/session.mjs'
import { serveStatic } from '../lib/static-server.mjs'

const APPS = [
  { app: 'react-app', user: 'React user' },
  { app: 'vue-app', user: 'Vue user' },
  { app: 'svelte-app', user: 'Svelte user' }
]

/** What the app shows from its own state: the mirror of the text and the status line. */
function appState (wp) {
  return wp.page.evaluate(() => ({
    mirror: document.getElementById('mirror').textContent,
    status: document.getElementById('status').textContent
  }))
}

/** Waits until the app's own state (not the widget) shows `text`, connected. */
function waitAppText (wp, text) {
  return wp.page.waitForFunction((text) => {
    const status = document.getElementById('status').textContent
    return document.getElementById('mirror').textContent === text &&
      status === `connected, ${text.length} characters`
  }, text)
}

export default function frameworks (harness) {
  describe('framework examples', () => {
    for (const { app, user } of APPS) {
      scenario(harness, `the ${app} example (examples/${app}/dist): mounts, types, its state follows the text and its inputs reach the element, a second page converges`, async (s, t) => {
        const dist = path.join(EXAMPLES_DIR, app, 'dist')
        if (!fs.existsSync(path.join(dist, 'index.html'))) {
          t.skip(`no ${dist}/index.html: build the framework examples first (examples/check-frameworks.sh)`)
          return
        }
        const site = await serveStatic(dist)
        s.onDispose(() => site.close())
        const doc = harness.doc(app)
        const url = `${site.url}/?server=${encodeURIComponent(harness.server.wsUrl)}&doc=${doc}`
        const pages = []
        for (const label of ['first', 'second']) {
          const wp = await s.blank(`${app} ${label}`)
          const response = await wp.page.goto(url)
          assert.equal(response.status(), 200, `${app}'s index.html`)
          pages.push(wp.widget('#editor', `${app} ${label} #editor`))
        }
        const [first, second] = pages
        await Promise.all(pages.map((wp) => wp.waitStatus('connected')))
        assert.ok(first.sockets.every((ws) => ws.url().startsWith(`${harness.server.wsUrl}/${doc}`)),
          `the app connected to this test's server: ${first.sockets.map((ws) => ws.url()).join(', ')}`)
        await first.waitAvatars([user, user])

        // Typing on one page: the other page's widget and both apps' own state follow.
        await first.typeAtEnd(`typed in ${app}`)
        await second.waitText(`typed in ${app}`)
        for (const wp of pages) await waitAppText(wp, `typed in ${app}`)
        await second.typeAtEnd(', and on the second page')
        const both = `typed in ${app}, and on the second page`
        await first.waitText(both)
        for (const wp of pages) await waitAppText(wp, both)

        // The app's state reaches the element: its name field sets user-name, seen by the peer.
        await first.page.fill('#user-name', `Ada in ${app}`)
        await second.waitAvatars([`Ada in ${app}`, user])
        // Its checkbox sets readonly on the element, and unsetting it lets typing through again.
        await first.page.check('#readonly')
        await first.page.waitForFunction(() => document.getElementById('editor').readonly &&
          document.getElementById('editor').shadowRoot.querySelector('[part~="textarea"]').readOnly)
        await first.page.uncheck('#readonly')
        await first.page.waitForFunction(() => !document.getElementById('editor').shadowRoot.querySelector('[part~="textarea"]').readOnly)
        await first.typeAtEnd('!')
        await second.waitText(`${both}!`)
        await waitAppText(second, `${both}!`)
        assert.equal((await appState(first)).mirror, `${both}!`)
        await first.screenshotPage(app)
      })
    }
  })
}
