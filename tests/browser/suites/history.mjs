// The history panel (`history: true`) against a server that saves a version after 1 s without
// edits: the list shows the versions as they are made, newest first, with their authors; a
// version's text is previewed; Restore makes it the text of every open page and adds a
// `restore` version; naming adds a named one; a read-only token's page lists and previews
// but offers no Restore; with the server gone the panel says so and typing goes on. The
// panel passes axe-core. Screenshots of the open panel and of a preview. On a page of another
// origin the server allows, the panel reaches the API through CORS.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe } from 'node:test'
import { SERVER_BIN, WEB_ROOT } from '../lib/env.mjs'
import { scenario } from '../lib/session.mjs'
import { serveStatic } from '../lib/static-server.mjs'
import { waitUntil } from '../lib/wait.mjs'
import { axeViolations } from './accessibility.mjs'

/** The server's auth secret (32 bytes or more). */
const SECRET = 'history-suite-secret-0123456789abcdefghij'

/** A token for `doc` from `sync-server token`: `write` or read-only. */
function token (doc, name, write) {
  const args = ['token', '--doc', doc, '--name', name, '--auth-secret', SECRET]
  if (write) args.push('--write')
  return execFileSync(SERVER_BIN, args).toString().trim()
}

/** The history panel as a user sees it, through its parts (widget/README.md). */
function panel (wp) {
  return wp.page.evaluate(() => {
    const root = document.getElementById('host').shadowRoot
    const q = (part) => root.querySelector(`[part~="${part}"]`)
    const visible = (el) => !!el && el.checkVisibility() && el.getBoundingClientRect().width > 0
    const button = q('history-button')
    const note = q('history-note')
    const restore = q('history-restore')
    return {
      button: button && { visible: visible(button), expanded: button.getAttribute('aria-expanded'), text: button.textContent },
      focusedButton: root.activeElement === button,
      open: visible(q('history')),
      name: q('history')?.getAttribute('aria-labelledby') && root.getElementById(q('history').getAttribute('aria-labelledby'))?.textContent,
      rows: [...root.querySelectorAll('[part~="history-row"]')].map((b) => ({
        id: b.dataset.versionId,
        kind: b.dataset.kind,
        title: b.querySelector('.ct-version-title').textContent,
        time: b.querySelector('time').textContent,
        datetime: b.querySelector('time').getAttribute('datetime'),
        authors: b.querySelector('.ct-version-authors').textContent,
        current: b.getAttribute('aria-current') === 'true'
      })),
      note: note ? note.textContent : null,
      noteError: !!note?.hasAttribute('data-error'),
      preview: q('history-preview')?.value ?? null,
      restore: restore && { visible: visible(restore), disabled: restore.disabled },
      naming: visible(q('history-name'))
    }
  })
}

/** Waits until `predicate(panel state)` holds; resolves with that state. */
function waitPanel (wp, what, predicate, timeoutMs) {
  return waitUntil(`${wp.label}: ${what}`, async () => {
    const state = await panel(wp)
    return predicate(state) ? state : false
  }, { timeoutMs })
}

export default function history (harness) {
  describe('history panel', () => {
    scenario(harness, 'the history panel lists versions, previews one and restores it at every page; naming adds one; a read-only token gets no Restore; errors stay in the panel', async (s) => {
      const doc = 'history-panel'
      const server = await s.ownServer('history', {}, ['--auth-secret', SECRET, '--checkpoint-idle', '1'])
      const ada = await s.open({ doc, name: 'Ada', history: true, token: token(doc, 'Ada', true) }, {}, server)
      const bob = await s.open({ doc, name: 'Bob', history: true, token: token(doc, 'Bob', true) }, {}, server)
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])

      // The History button is in the header, closed; off by default elsewhere (see below).
      let st = await panel(ada)
      assert.deepEqual(st.button, { visible: true, expanded: 'false', text: 'History' })
      assert.equal(st.open, false)

      // Two versions: each edit, then a pause the server saves a version after. The open
      // panel fetches the list again every few seconds, so it shows each one as it comes.
      await ada.typeAtEnd('First draft.')
      await ada.waitSaved()
      // Keyboard: focus the button and press Enter.
      await ada.page.locator('[part~="history-button"]').focus()
      await ada.page.keyboard.press('Enter')
      st = await waitPanel(ada, 'the panel open with the first version', (p) => p.open && p.rows.length === 1)
      assert.equal(st.button.expanded, 'true')
      assert.equal(st.name, 'Version history')
      const first = st.rows[0]
      assert.equal(first.kind, 'auto')
      assert.equal(first.title, 'Autosave')
      assert.equal(first.authors, 'Ada')
      assert.match(first.time, /^(just now|\d+s ago)$/)
      assert.match(first.datetime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
      assert.ok(Math.abs(Date.parse(first.datetime) - Date.now()) < 60_000, `a time of now: ${first.datetime}`)
      // Nothing chosen yet: Restore is there but disabled; naming is offered.
      assert.deepEqual(st.restore, { visible: true, disabled: true })
      assert.equal(st.naming, true)

      await bob.typeAtEnd(' Second thoughts.')
      await ada.waitText('First draft. Second thoughts.')
      st = await waitPanel(ada, 'a second version, newest first', (p) => p.rows.length === 2)
      assert.equal(st.rows[1].id, first.id, 'the first version is below the new one')
      assert.equal(st.rows[0].authors, 'Bob', 'the second version was changed by Bob')
      assert.equal(st.note, '')
      await ada.screenshot('history-panel')

      // Escape closes it and gives the focus back to the button; Enter opens it again.
      await ada.page.locator('[part~="history-row"]').first().focus()
      await ada.page.keyboard.press('Escape')
      st = await panel(ada)
      assert.equal(st.open, false)
      assert.equal(st.button.expanded, 'false')
      assert.equal(st.focusedButton, true, 'the focus is back on the History button')
      await ada.page.keyboard.press('Enter')
      await waitPanel(ada, 'the panel open again', (p) => p.open && p.rows.length === 2)

      // Preview the first version (the older row).
      await ada.page.locator(`[part~="history-row"][data-version-id="${first.id}"]`).click()
      st = await waitPanel(ada, 'the preview of the first version', (p) => p.preview === 'First draft.')
      assert.deepEqual(st.rows.map((r) => r.current), [false, true], 'the chosen row is marked aria-current')
      assert.deepEqual(st.restore, { visible: true, disabled: false })
      assert.equal(await ada.text(), 'First draft. Second thoughts.', 'a preview changes nothing')
      await ada.screenshot('history-preview')
      assert.deepEqual(await axeViolations(ada.page), [], 'axe-core, WCAG 2.2 AA, panel open with a preview')

      // Restore it while Bob watches: both textareas get the first version's text at once,
      // and the list shows the version the restore made.
      await ada.page.locator('[part~="history-restore"]').click()
      await Promise.all([ada.waitText('First draft.'), bob.waitText('First draft.')])
      st = await waitPanel(ada, 'the restore version at the top of the list', (p) => p.rows[0]?.kind === 'restore')
      assert.match(st.note, /^Restored the version from (just now|\d+s ago)\.$/)
      assert.equal(st.noteError, false)
      assert.ok(st.rows.some((r) => r.id === first.id), 'the restored version is still listed')
      assert.equal(st.rows[0].authors, 'Ada', 'the restore is Ada\'s edit')
      const stored = await fetch(`${server.httpUrl}/api/docs/${doc}/text`, { headers: { authorization: `Bearer ${token(doc, 'Test', false)}` } })
      assert.equal(await stored.text(), 'First draft.')
      // Bob's panel, opened now, lists the restore too.
      await bob.page.locator('[part~="history-button"]').click()
      await waitPanel(bob, 'the restore version in Bob\'s list', (p) => p.rows.some((r) => r.kind === 'restore'))
      await ada.screenshot('history-restored')

      // Naming the current text adds a named version.
      await ada.page.locator('[part~="history-name"] input').fill('Before the review')
      await ada.page.locator('[part~="history-name-button"]').click()
      st = await waitPanel(ada, 'the named version in the list', (p) => p.rows.some((r) => r.kind === 'named'))
      assert.equal(st.rows.find((r) => r.kind === 'named').title, 'Before the review')
      assert.equal(st.note, 'Named the current text “Before the review”.')

      // A read-only token: the list and previews, no Restore, no naming.
      const cy = await s.open({ doc, name: 'Cy', history: true, token: token(doc, 'Cy', false) }, {}, server)
      await cy.waitText('First draft.')
      await cy.page.locator('[part~="history-button"]').click()
      await waitPanel(cy, 'Cy\'s list', (p) => p.rows.some((r) => r.id === first.id))
      await cy.page.locator(`[part~="history-row"][data-version-id="${first.id}"]`).click()
      st = await waitPanel(cy, 'Cy\'s preview', (p) => p.preview === 'First draft.')
      assert.equal(st.restore.visible, false, 'no Restore for a read-only token')
      assert.equal(st.naming, false, 'no naming for a read-only token')
      await cy.screenshot('history-read-only')

      // Without the option there is no button.
      const dee = await s.open({ doc, name: 'Dee', token: token(doc, 'Dee', true) }, {}, server)
      await dee.waitText('First draft.')
      assert.equal((await panel(dee)).button.visible, false)

      // The server gone: choosing a version says why in the panel; typing goes on.
      await server.kill()
      await ada.waitStatus('disconnected', 30_000)
      await ada.page.locator('[part~="history-row"]').last().click()
      st = await waitPanel(ada, 'the error in the panel', (p) => /^Could not load this version/.test(p.note))
      assert.equal(st.note, 'Could not load this version: the server cannot be reached')
      assert.equal(st.noteError, true)
      await ada.typeAtEnd(' Offline.')
      await ada.waitText('First draft. Offline.')
    })

    scenario(harness, 'on a page of another allowed origin, the panel reaches the server\'s API through CORS', async (s) => {
      // Open mode allows pages served from this machine: a host site on its own port.
      const server = await s.ownServer('history-cors', {}, ['--checkpoint-idle', '1'])
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-history-site-'))
      fs.writeFileSync(path.join(dir, 'index.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>another origin</title></head><body>
<div id="host"></div>
<script type="module">
  import { mount } from './collab-textarea/index.js'
  await mount(document.getElementById('host'), JSON.parse(decodeURIComponent(location.hash.slice(1))))
</script></body></html>`)
      fs.symlinkSync(path.join(WEB_ROOT, 'collab-textarea'), path.join(dir, 'collab-textarea'))
      const site = await serveStatic(dir)
      try {
        assert.notEqual(new URL(site.url).origin, new URL(server.httpUrl).origin)
        const eve = await s.blank('Eve')
        const options = { server: server.wsUrl, doc: 'elsewhere', name: 'Eve', history: true }
        await eve.page.goto(`${site.url}/#${encodeURIComponent(JSON.stringify(options))}`)
        await eve.waitStatus('connected')
        await eve.typeAtEnd('From another origin.')
        await eve.waitSaved()
        await eve.page.locator('[part~="history-button"]').click()
        const st = await waitPanel(eve, 'the list fetched across origins', (p) => p.rows.length === 1)
        assert.equal(st.noteError, false, st.note)
        await eve.page.locator('[part~="history-row"]').first().click()
        await waitPanel(eve, 'the preview fetched across origins', (p) => p.preview === 'From another origin.')
      } finally {
        await site.close()
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  })
}
