// <collab-textarea> as a form control: the text submitted under the field's name, `required`,
// `disabled` (its own and a <fieldset>'s), `readonly`, `maxlength`, `form.reset()`, and the
// warning for `name` used as a display name.

import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { scenario } from '../lib/session.mjs'
import { waitUntil } from '../lib/wait.mjs'

/**
 * A page on the test server's origin whose frame holds `html` (a form with a
 * `<collab-textarea id="notes">`); `{doc}` and `{server}` in it are filled in. Resolves once
 * the package is loaded and the element has connected.
 */
async function formPage (s, harness, doc, html, label = 'form') {
  const wp = await s.open({ doc, name: label }, { mount: false })
  await wp.page.evaluate(async (markup) => {
    await import('/collab-textarea/index.js')
    // Into an element made here: markup set on one that page.setContent wrote is parsed without
    // the page's custom elements (Chromium leaves them plain HTMLElements).
    const box = document.createElement('div')
    document.getElementById('frame').append(box)
    box.innerHTML = markup
    // The page's own record of submit and invalid events, read by the tests.
    window.__forms = { submits: 0, invalid: [] }
    for (const form of document.forms) form.addEventListener('submit', () => window.__forms.submits++)
    for (const el of document.querySelectorAll('collab-textarea')) {
      el.addEventListener('invalid', () => window.__forms.invalid.push(el.id))
    }
  }, html.replaceAll('{doc}', doc).replaceAll('{server}', harness.server.wsUrl))
  const widget = wp.widget('#notes', `${label} #notes`)
  await widget.waitStatus('connected')
  return widget
}

/** What the element says about itself as a form control. */
function control (wp, sel = '#notes') {
  return wp.page.evaluate((sel) => {
    const el = document.querySelector(sel)
    const form = el.closest('form')
    return {
      value: el.value,
      formValue: form ? new FormData(form).get(el.name) : null,
      invalid: el.matches(':invalid'),
      disabled: el.matches(':disabled'),
      checkValidity: el.checkValidity(),
      valueMissing: el.validity.valueMissing,
      tooLong: el.validity.tooLong,
      willValidate: el.willValidate,
      validationMessage: el.validationMessage,
      innerDisabled: el.shadowRoot.querySelector('[part~="textarea"]').disabled
    }
  }, sel)
}

/** Clicks the form's submit button and waits for the page to land on the form's action
 *  (`/healthz`, which ignores the query); resolves with the submitted fields. */
async function submitAndRead (wp, button = '#send') {
  await Promise.all([wp.page.waitForURL(/\/healthz\?/), wp.page.click(button)])
  return Object.fromEntries(new URL(wp.page.url()).searchParams)
}

export default function forms (harness) {
  describe('forms', () => {
    scenario(harness, 'in a <form>: required and empty refuses to submit (:invalid, invalid event); the text, typed here and by a peer, is submitted under the field name', async (s) => {
      const doc = harness.doc('form-submit')
      const wp = await formPage(s, harness, doc, `
        <form action="/healthz" method="get">
          <input name="title" value="Minutes">
          <collab-textarea id="notes" name="notes" user-name="Fay" doc="{doc}" server="{server}" debounce="0" required></collab-textarea>
          <button id="send">Send</button>
        </form>`)
      const empty = await control(wp)
      assert.equal(empty.value, '')
      assert.equal(empty.invalid, true, 'an empty required field matches :invalid')
      assert.equal(empty.valueMissing, true)
      assert.equal(empty.checkValidity, false)
      assert.ok(empty.validationMessage.length > 0, 'a message for the browser\'s bubble')

      // Submitting is refused: the browser fires `invalid` on the element and no `submit`.
      await wp.page.click('#send')
      await wp.page.waitForFunction(() => window.__forms.invalid.includes('notes'))
      assert.equal(await wp.page.evaluate(() => window.__forms.submits), 0, 'the form was not submitted')
      assert.ok(!wp.page.url().includes('?'), 'the page did not navigate')

      // A peer's text fills the field for this form too.
      const peer = await s.open({ doc, name: 'Peer' })
      await peer.typeAtEnd('from the peer')
      await wp.waitText('from the peer')
      await waitUntil('the field to become valid', async () => !(await control(wp)).invalid)
      await wp.typeAtEnd(', and from me')
      await peer.waitText('from the peer, and from me')
      const filled = await control(wp)
      assert.equal(filled.formValue, 'from the peer, and from me', 'FormData holds the text under the field name')
      assert.equal(filled.checkValidity, true)

      const fields = await submitAndRead(wp)
      assert.deepEqual(fields, { title: 'Minutes', notes: 'from the peer, and from me' })
    })

    scenario(harness, 'disabled (its own attribute, and a disabled <fieldset>) stops typing and leaves the field out of the submission', async (s) => {
      const doc = harness.doc('form-disabled')
      const peer = await s.open({ doc, name: 'Peer' })
      await peer.typeAtEnd('shared text')
      const wp = await formPage(s, harness, doc, `
        <form action="/healthz" method="get">
          <fieldset id="set">
            <input name="title" value="t">
            <collab-textarea id="notes" name="notes" user-name="Dee" doc="{doc}" server="{server}" debounce="0" disabled required></collab-textarea>
          </fieldset>
          <button id="send">Send</button>
        </form>`)
      await wp.waitText('shared text')
      const disabled = await control(wp)
      assert.equal(disabled.disabled, true, 'matches :disabled')
      assert.equal(disabled.innerDisabled, true, 'the inner textarea is disabled')
      assert.equal(disabled.willValidate, false, 'barred from validation, as a disabled <textarea>')
      assert.equal(disabled.formValue, null, 'FormData leaves a disabled field out')

      // A user clicks into the box and types: nothing gets in. The peer's next edit arriving
      // is the event that shows whatever this page sent would have arrived by now.
      await wp.textarea.click({ force: true })
      await wp.page.keyboard.type('blocked')
      await peer.typeAtEnd(' +1')
      await wp.waitText('shared text +1')
      assert.equal(await peer.text(), 'shared text +1', 'the disabled page sent nothing')
      // Enabled again: typing works.
      await wp.page.evaluate(() => { document.getElementById('notes').disabled = false })
      await wp.typeAtEnd(' typed')
      await peer.waitText('shared text +1 typed')
      const enabled = await control(wp)
      assert.equal(enabled.disabled, false)
      assert.equal(enabled.formValue, 'shared text +1 typed')

      // A disabled <fieldset> disables it the same way.
      await wp.page.evaluate(() => { document.getElementById('set').disabled = true })
      await wp.page.waitForFunction(() => document.getElementById('notes').matches(':disabled'))
      assert.equal((await control(wp)).innerDisabled, true, 'the inner textarea follows the fieldset')
      await wp.textarea.click({ force: true })
      await wp.page.keyboard.type('blocked again')
      await peer.typeAtEnd('!')
      await wp.waitText('shared text +1 typed!')
      assert.equal(await peer.text(), 'shared text +1 typed!')
      await wp.page.evaluate(() => { document.getElementById('set').disabled = false })
      await wp.typeAtEnd('?')
      await peer.waitText('shared text +1 typed!?')

      // Disabled once more, the form is submitted without it.
      await wp.page.evaluate(() => { document.getElementById('notes').disabled = true })
      assert.deepEqual(await submitAndRead(wp), { title: 't' }, 'a disabled field is not submitted')
    })

    scenario(harness, 'readonly stops typing but the text is still submitted; readonly is not required-checked', async (s) => {
      const doc = harness.doc('form-readonly')
      const wp = await formPage(s, harness, doc, `
        <form action="/healthz" method="get">
          <collab-textarea id="notes" name="notes" user-name="Rae" doc="{doc}" server="{server}" debounce="0" readonly required></collab-textarea>
          <button id="send">Send</button>
        </form>`)
      const empty = await control(wp)
      assert.equal(empty.invalid, false, 'a readonly field is barred from validation, as on a <textarea>')
      assert.equal(empty.checkValidity, true)

      const peer = await s.open({ doc, name: 'Peer' })
      await peer.typeAtEnd('read me')
      await wp.waitText('read me')
      await wp.typeAtEnd(' blocked')
      await peer.typeAtEnd('!')
      await wp.waitText('read me!')
      assert.equal(await peer.text(), 'read me!', 'the readonly page sent nothing')
      assert.deepEqual(await submitAndRead(wp), { notes: 'read me!' })
    })

    scenario(harness, 'form.reset() leaves the shared text (here and at the peer) and the form value; the other fields reset', async (s) => {
      const doc = harness.doc('form-reset')
      const wp = await formPage(s, harness, doc, `
        <form action="/healthz" method="get">
          <input id="title" name="title" value="default">
          <collab-textarea id="notes" name="notes" user-name="Ray" doc="{doc}" server="{server}" debounce="0"></collab-textarea>
          <button id="send">Send</button> <button id="reset" type="reset">Reset</button>
        </form>`)
      const peer = await s.open({ doc, name: 'Peer' })
      await wp.page.fill('#title', 'changed')
      await wp.typeAtEnd('kept after reset')
      await peer.waitText('kept after reset')
      await wp.page.click('#reset')
      await wp.page.waitForFunction(() => document.getElementById('title').value === 'default')
      const after = await control(wp)
      assert.equal(after.value, 'kept after reset')
      assert.equal(after.formValue, 'kept after reset')
      // Nothing was sent either: the peer's next edit lands on the same text everywhere.
      await peer.typeAtEnd('.')
      await wp.waitText('kept after reset.')
      assert.equal(await peer.text(), 'kept after reset.')
      assert.deepEqual(await submitAndRead(wp), { title: 'default', notes: 'kept after reset.' })
    })

    scenario(harness, 'maxlength stops typing past it; a longer text from a peer makes the field :invalid (tooLong)', async (s) => {
      const doc = harness.doc('form-maxlength')
      const wp = await formPage(s, harness, doc, `
        <form action="/healthz" method="get">
          <collab-textarea id="notes" name="notes" user-name="Max" doc="{doc}" server="{server}" debounce="0" maxlength="5"></collab-textarea>
        </form>`)
      const peer = await s.open({ doc, name: 'Peer' })
      await wp.typeAtEnd('abcdefgh')
      await peer.waitText('abcde')
      assert.equal(await wp.text(), 'abcde', 'typing stops at maxlength')
      assert.equal((await control(wp)).invalid, false)
      await peer.typeAtEnd('XYZ')
      await wp.waitText('abcdeXYZ')
      await waitUntil('the field to be :invalid', async () => (await control(wp)).invalid)
      const over = await control(wp)
      assert.equal(over.tooLong, true)
      assert.equal(over.checkValidity, false)
    })

    scenario(harness, 'name without user-name: a console warning says name is the field name now (the name is still shown this release); user-name gives no warning', async (s) => {
      const doc = harness.doc('form-name-warning')
      const wp = await s.open({ doc, name: 'page' }, { mount: false })
      await wp.page.evaluate(async ({ doc, server }) => {
        await import('/collab-textarea/index.js')
        // The one with user-name first: a warning from it would come before the other's.
        for (const [id, attributes] of [['fine', { name: 'notes', 'user-name': 'Una' }], ['notes', { name: 'Old Style' }]]) {
          const el = document.createElement('collab-textarea')
          el.id = id
          for (const [key, value] of Object.entries({ doc, server, debounce: '0', ...attributes })) el.setAttribute(key, value)
          document.getElementById('frame').append(el)
        }
      }, { doc, server: harness.server.wsUrl })
      const old = wp.widget('#notes')
      await old.waitAvatars(['Old Style', 'Una'])
      const warnings = await waitUntil('the name warning', () => {
        const found = wp.console.filter((line) => line.startsWith('warning:') && line.includes('<collab-textarea>'))
        return found.length > 0 && found
      })
      assert.equal(warnings.length, 1, `one warning, for the element without user-name: ${warnings.join(' | ')}`)
      assert.match(warnings[0], /name="Old Style" is the form field name/)
      assert.match(warnings[0], /user-name/)
    })
  })
}
