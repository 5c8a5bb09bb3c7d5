// Editing together: concurrent typing converges with nothing lost, a local caret stays on its
// text while a peer edits before it, and undo takes back only one's own edits.

import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { scenario } from '../lib/session.mjs'
import { waitUntil } from '../lib/wait.mjs'

/** The characters of `text` that match the character class `cls`, in order. */
const only = (text, cls) => text.replace(new RegExp(`[^${cls}]`, 'g'), '')
/** `text` without the characters of the character class `cls`. */
const without = (text, cls) => text.replace(new RegExp(`[${cls}]`, 'g'), '')

/** Both pages show the same text, of the expected length; returns it. */
async function converged (pages, length) {
  await Promise.all(pages.map((p) => p.waitState(`both pages to show the same ${length} characters`,
    (s, n) => s.text.length === n, length)))
  const texts = await Promise.all(pages.map((p) => p.text()))
  for (const t of texts) assert.equal(t, texts[0], 'every page shows the same text')
  return texts[0]
}

/**
 * Presses `key` in `page` until its text is `target` (at most 20 times); each press must change
 * the text, and every intermediate text must satisfy `keeps` (described by `kept`).
 */
async function pressUntil (page, key, target, keeps, kept) {
  let text = await page.text()
  for (let presses = 1; text !== target; presses++) {
    assert.ok(presses <= 20, `${page.label}: not at ${JSON.stringify(target)} after 20 presses of ${key}: ${JSON.stringify(text)}`)
    await page.press(key)
    await page.waitState(`${key} #${presses} to change the text ${JSON.stringify(text)}`, (st, t) => st.text !== t, text)
    text = await page.text()
    assert.ok(keeps(text), `${page.label}: after ${key} #${presses}: ${kept}: ${JSON.stringify(text)}`)
  }
}

export default function editing (harness) {
  describe('editing together', () => {
    scenario(harness, 'two people typing at once, at the same place and apart, end with the same text and every keystroke', async (s) => {
      const doc = harness.doc('typing')
      const ada = await s.open({ doc, name: 'Ada' })
      const bob = await s.open({ doc, name: 'Bob' })
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])

      // Each person types from their own alphabet in each round, so that the characters of one
      // person's round can be picked out of the merged text: they must all be there, once, in
      // the order typed, and removing them must leave exactly the text from before the round.
      const rounds = [
        { what: 'both at the start of the empty document', ada: { cls: 'a-m', text: 'headache' }, bob: { cls: 'A-M', text: 'BLACKJACK' } },
        { what: 'Ada at the end, Bob at the start', ada: { cls: 'n-z ', text: ' worry not' }, bob: { cls: 'N-Z\\n', text: 'WORST\nRUN\n' } },
        { what: 'both at the same place in the middle', ada: { cls: '0-4', text: '0123401234' }, bob: { cls: '5-9', text: '5678956789' } }
      ]
      let before = ''
      for (const [i, round] of rounds.entries()) {
        if (i === 0) {
          await Promise.all([ada.placeCaret(0), bob.placeCaret(0)])
        } else if (i === 1) {
          await Promise.all([ada.placeCaret(before.length), bob.placeCaret(0)])
        } else {
          const middle = before.indexOf('\n') + 1 // the start of a line both can reach by arrows
          await Promise.all([ada.placeCaret(middle), bob.placeCaret(middle)])
        }
        // Real key presses on both pages at the same time: the keystrokes interleave.
        await Promise.all([ada.type(round.ada.text), bob.type(round.bob.text)])

        const after = await converged([ada, bob], before.length + round.ada.text.length + round.bob.text.length)
        assert.equal(only(after, round.ada.cls), round.ada.text, `round ${i + 1} (${round.what}): Ada's keystrokes, all and in order`)
        assert.equal(only(after, round.bob.cls), round.bob.text, `round ${i + 1} (${round.what}): Bob's keystrokes, all and in order`)
        assert.equal(without(after, round.ada.cls + round.bob.cls), before, `round ${i + 1}: the text from before is intact`)
        if (i === 1) {
          assert.ok(after.startsWith(round.bob.text), `Bob's text went to the start: ${JSON.stringify(after)}`)
          assert.ok(after.endsWith(round.ada.text), `Ada's text went to the end: ${JSON.stringify(after)}`)
        }
        before = after
      }

      // The server holds what the pages show, and both pages say it is saved.
      await waitUntil('GET /api/docs/{doc}/text to return the converged text', async () =>
        (await harness.server.storedText(doc)).text === before)
      await Promise.all([ada.waitSaved(), bob.waitSaved()])
    })

    scenario(harness, 'a local caret and selection stay on their text while a peer inserts and deletes before them', async (s) => {
      const doc = harness.doc('caret')
      const ada = await s.open({ doc, name: 'Ada' })
      const bob = await s.open({ doc, name: 'Bob' })
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])
      const initial = 'hello world, and more text'
      await ada.typeAtEnd(initial)
      await bob.waitText(initial)

      // Bob's caret sits right after "hello".
      await bob.placeCaret(5)
      // Bob's caret is at `caret` of `text`, with `after` after it, and his textarea keeps the focus.
      const expectCaret = async (text, caret, why, after = ' world, and more text') => {
        await bob.waitText(text, why)
        const st = await bob.state()
        assert.deepEqual(st.selection, [caret, caret], `${why}: Bob's caret moved with its text`)
        assert.equal(st.text.slice(caret), after, `${why}: the text after Bob's caret`)
        assert.ok(st.focused, `${why}: Bob's textarea keeps the focus`)
      }

      await ada.placeCaret(0)
      await ada.type('NEW ')
      await expectCaret('NEW hello world, and more text', 9, 'Ada inserted before the caret')

      await ada.placeCaret(0)
      for (let i = 0; i < 6; i++) await ada.press('Delete') // "NEW he"
      await expectCaret('llo world, and more text', 3, 'Ada deleted before the caret')

      await ada.placeCaret(0, 1) // select the first "l" and type over it
      await ada.type('XY')
      await expectCaret('XYlo world, and more text', 4, 'Ada replaced a character before the caret')

      await ada.typeAtEnd('!')
      await expectCaret('XYlo world, and more text!', 4, 'Ada typed after the caret', ' world, and more text!')

      // Bob keeps typing where he was.
      await bob.type('_b')
      await ada.waitText('XYlo_b world, and more text!')

      // A selection keeps covering the same word.
      const text = await bob.text()
      const start = text.indexOf('world')
      await bob.placeCaret(start, start + 5)
      await ada.placeCaret(0)
      await ada.type('>> ')
      await bob.waitText(`>> ${text}`)
      const st = await bob.state()
      assert.deepEqual(st.selection, [start + 3, start + 8], 'Bob\'s selection moved with its word')
      assert.equal(st.text.slice(st.selection[0], st.selection[1]), 'world', 'Bob\'s selection still covers "world"')
    })

    scenario(harness, 'undo (Ctrl+Z) takes back only one\'s own edits, redo brings them back', async (s) => {
      const doc = harness.doc('undo')
      const ada = await s.open({ doc, name: 'Ada' })
      const bob = await s.open({ doc, name: 'Bob' })
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])

      await ada.typeAtEnd('alpha ')
      await bob.waitText('alpha ')
      await bob.typeAtEnd('BRAVO')
      await ada.waitText('alpha BRAVO')
      await ada.typeAtEnd(' charlie')
      const full = 'alpha BRAVO charlie'
      await bob.waitText(full)

      // Ctrl+Z until Ada's own text is gone; no step may touch Bob's word.
      await pressUntil(ada, 'Control+z', 'BRAVO', (t) => t.includes('BRAVO'), 'Bob\'s edit kept')
      await bob.waitText('BRAVO', 'Ada\'s undo reaching Bob')

      // Redo (Ctrl+Shift+Z) brings Ada's text back.
      await pressUntil(ada, 'Control+Shift+z', full, (t) => t.includes('BRAVO'), 'Bob\'s edit kept')
      await bob.waitText(full, 'Ada\'s redo reaching Bob')

      // Bob's own undo takes back Bob's word and nothing of Ada's.
      await pressUntil(bob, 'Control+z', 'alpha  charlie', (t) => t.startsWith('alpha ') && t.endsWith(' charlie'), 'Ada\'s edits kept')
      await ada.waitText('alpha  charlie', 'Bob\'s undo reaching Ada')
    })
  })
}
