// Accessibility in every state: axe-core (WCAG 2.2 AA) finds nothing with several users
// present and with the server down; Chromium's accessibility tree names the textarea after
// the host's <label for>, aria-label or aria-labelledby and leaves remote carets out; the live
// region announces a status change once, not the save line's clock.

import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe } from 'node:test'
import { scenario } from '../lib/session.mjs'

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js')
const WCAG_22_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']

/** axe-core's WCAG 2.2 AA violations in the page (it looks into open shadow roots), each as
 *  "rule: what it says (selectors of the nodes)". */
export async function axeViolations (page) {
  if (!await page.evaluate(() => typeof window.axe === 'object')) await page.addScriptTag({ path: AXE })
  return page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')})`)
  }, WCAG_22_AA)
}

/** Chromium's accessibility tree (CDP), as `{ role, name }` of every node not ignored. */
async function axNodes (page) {
  const cdp = await page.context().newCDPSession(page)
  try {
    const { nodes } = await cdp.send('Accessibility.getFullAXTree')
    return nodes.filter((n) => !n.ignored).map((n) => ({ role: n.role?.value, name: n.name?.value ?? '' }))
  } finally {
    await cdp.detach()
  }
}

/** Starts recording what the widget's live region (`[part~=live]`) says. */
function recordLiveRegion (wp) {
  return wp.page.evaluate(() => {
    const live = document.getElementById('host').shadowRoot.querySelector('[part~="live"]')
    window.__said = []
    new MutationObserver(() => window.__said.push(live.textContent)).observe(live, { childList: true, characterData: true, subtree: true })
    return live.getAttribute('role')
  })
}

export default function accessibility (harness) {
  describe('accessibility', () => {
    scenario(harness, 'several users present: no WCAG 2.2 AA violation (readable avatars), remote carets hidden from screen readers', async (s) => {
      const doc = harness.doc('a11y-people')
      // Light and mid colours on which white initials were unreadable.
      const ada = await s.open({ doc, name: 'Ada Lovelace' })
      const bob = await s.open({ doc, name: 'Bob', color: '#d5ae39' })
      const cy = await s.open({ doc, name: 'Cy', color: '#0090ff' })
      await ada.waitAvatars(['Ada Lovelace', 'Bob', 'Cy'])
      await bob.typeAtEnd('Bob was here. ')
      await cy.placeCaret(3)
      await ada.waitState('both remote carets with their name labels',
        (st) => st.cursors.filter((c) => c.caretVisible && c.label).length === 2)
      assert.deepEqual(await axeViolations(ada.page), [], 'axe-core, WCAG 2.2 AA')
      const nodes = await axNodes(ada.page)
      for (const name of ['Bob', 'Cy']) {
        assert.ok(nodes.some((n) => n.role === 'listitem' && n.name === name), `${name}'s avatar is in the accessibility tree`)
        // The caret's name label is text "Bob" in the overlay: not read out.
        assert.ok(!nodes.some((n) => n.role === 'StaticText' && n.name === name), `${name}'s caret label is not in the tree`)
      }
    })

    scenario(harness, 'offline: no WCAG 2.2 AA violation; a sentence is one unsaved edit; the live region says so once, not on ticks or retries', async (s) => {
      const server = await s.ownServer('a11y-offline')
      const ada = await s.open({ doc: 'a11y-offline', name: 'Ada' }, {}, server)
      await ada.waitStatus('connected')
      assert.equal(await recordLiveRegion(ada), 'status')
      await ada.typeAtEnd('Saved once.')
      // The save line's clock ticks: "Saved 3s ago", then "Saved 4s ago"; nothing is announced.
      await ada.waitState('"Saved Ns ago"', (st) => /^Saved \d+s ago$/.test(st.saveLine))
      const first = (await ada.state()).saveLine
      await ada.waitState('the next tick', (st, line) => /^Saved \d+s ago$/.test(st.saveLine) && st.saveLine !== line, first)
      assert.deepEqual(await ada.page.evaluate(() => window.__said), [], 'the clock is not announced')

      await server.kill()
      await ada.waitStatus('disconnected')
      await ada.typeAtEnd(' Then one sentence typed offline, key by key.')
      await ada.waitState('"Offline — 1 change kept on this device"', (st) => st.saveLine === 'Offline — 1 change kept on this device')
      // Two more reconnection attempts, each a change of the status dot's words.
      const attempt = await ada.page.evaluate(() => window.__ct.events.filter((e) => e.type === 'collab-status').at(-1).detail.attempt)
      await ada.page.waitForFunction((a) => window.__ct.events.some((e) => e.type === 'collab-status' && e.detail.attempt >= a + 2), attempt)
      assert.deepEqual(await axeViolations(ada.page), [], 'axe-core, WCAG 2.2 AA, offline')
      const said = await ada.page.evaluate(() => window.__said)
      assert.equal(said.length, 2, `announced once each, the disconnection and the edit kept: ${JSON.stringify(said)}`)
      assert.match(said[0], /^Disconnected — retrying in \d+ s$/)
      assert.equal(said[1], 'Offline — 1 change kept on this device')
    })

    scenario(harness, 'the host\'s <label for>, aria-label or aria-labelledby names the textarea in the accessibility tree', async (s) => {
      const doc = harness.doc('a11y-label')
      const wp = await s.open({ doc, name: 'Ada' }, { mount: false })
      await wp.page.evaluate(async ({ doc, server }) => {
        await import('/collab-textarea/index.js')
        const box = document.createElement('div')
        document.getElementById('frame').append(box)
        box.innerHTML = `
          <label for="a">Meeting notes</label>
          <collab-textarea id="a" doc="${doc}" server="${server}" user-name="Ada"></collab-textarea>
          <collab-textarea id="b" doc="${doc}" server="${server}" user-name="Ada" aria-label="Minutes"></collab-textarea>
          <h2 id="agenda">Agenda for Monday</h2>
          <collab-textarea id="c" doc="${doc}" server="${server}" user-name="Ada" aria-labelledby="agenda"></collab-textarea>
          <collab-textarea id="d" doc="${doc}" server="${server}" user-name="Ada"></collab-textarea>`
      }, { doc, server: harness.server.wsUrl })
      for (const id of ['a', 'b', 'c', 'd']) await wp.widget(`#${id}`).waitStatus('connected')
      const textboxes = () => axNodes(wp.page).then((nodes) => nodes.filter((n) => n.role === 'textbox').map((n) => n.name))
      assert.deepEqual(await textboxes(), ['Meeting notes', 'Minutes', 'Agenda for Monday', 'Shared text'])
      // A label set later is followed.
      await wp.page.evaluate(() => document.getElementById('d').setAttribute('aria-label', 'Draft'))
      assert.deepEqual(await textboxes(), ['Meeting notes', 'Minutes', 'Agenda for Monday', 'Draft'])
      assert.deepEqual(await axeViolations(wp.page), [], 'axe-core, WCAG 2.2 AA, connected')
    })
  })
}
