// Documents of any size (issue 12): a 20 MB paste goes up in pieces that fit the server's
// message limit and reaches another page and the stored text; a paste that would take a
// document over the server's --max-document-size is refused (close 4413), said so in the save
// line, kept in the textarea and not sent again in a loop, and the stored document stays
// intact for everyone else; a 40 MB document written by a program loads into a fresh page.
// Texts this big are never read through `state()` (which copies the whole text each poll):
// the checks read lengths, SHA-256 digests and the header only.

import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe } from 'node:test'
import * as Y from 'yjs'
import { WAIT_MS } from '../lib/env.mjs'
import { scenario } from '../lib/session.mjs'
import { SyncServer } from '../lib/sync-server.mjs'
import { upload } from '../lib/upload.mjs'
import { waitUntil } from '../lib/wait.mjs'

const SOCKET_LOG = path.join(path.dirname(fileURLToPath(import.meta.url)), '../lib/socket-log.js')
const MiB = 1024 * 1024
/** The small document limit of the refusal test's server, and how its save line says it. */
const SMALL_DOCUMENT_LIMIT = 2 * MiB
const REFUSED_LINE = 'Not saved: this document is over the server\'s 2 MB limit'
/** The widget's longest wait before a reconnect (connection.rs, BACKOFF_CAP_MS). */
const BACKOFF_CAP_S = 5
/** Big texts travel, are stored and are applied in several steps: a generous cap each. */
const BIG_WAIT_MS = 120_000

/** `chars` characters of ASCII lines, different for each `seed`: what a big paste holds. */
function bigText (chars, seed) {
  const line = (i) => `${seed} line ${String(i).padStart(9, '0')} ${'lorem ipsum dolor sit amet '.repeat(2)}\n`
  const lines = []
  let length = 0
  for (let i = 0; length < chars; i++) {
    const next = line(i)
    lines.push(next)
    length += next.length
  }
  return lines.join('').slice(0, chars)
}

const sha256 = (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex')

/** The textarea's length and SHA-256, computed in the page; with `without`, of the text with
 *  the first occurrence of that string taken out. */
function textDigest (page, without) {
  return page.page.evaluate(async (cut) => {
    let value = window.__ct.part('textarea').value
    if (cut) value = value.replace(cut, '')
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value))
    return { length: value.length, sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') }
  }, without ?? null)
}

/** Waits until the textarea holds `length` characters (the text itself stays in the page).
 *  Reading a textarea's value costs the page a pass over all of it: polled once a second. */
function waitLength (page, length, what, timeoutMs = BIG_WAIT_MS) {
  return page.page.waitForFunction((n) => window.__ct.part('textarea')?.value.length === n, length,
    { timeout: timeoutMs, polling: 1000 })
    .catch(async (error) => {
      const shown = await page.page.evaluate(() => window.__ct.part('textarea')?.value.length).catch(() => '?')
      throw new Error(`${page.label}: waiting for ${what} (${length} characters; it holds ${shown}): ${error.message.split('\n')[0]}`)
    })
}

/** The header only: `{ status, save, saveLine, retryVisible }`. */
function header (page) {
  return page.page.evaluate(() => {
    const root = window.__ct.part('root')
    return {
      status: root.dataset.status,
      save: root.dataset.save,
      saveLine: window.__ct.part('save-line').textContent.trim(),
      retryVisible: window.__ct.visible(window.__ct.part('retry'))
    }
  })
}

/** Waits until `predicate(header)` holds in the page. */
async function waitHeader (page, what, predicate, arg, timeoutMs = BIG_WAIT_MS) {
  try {
    await page.page.waitForFunction(([source, a]) => {
      const root = window.__ct.part('root')
      if (!root) return false
      // eslint-disable-next-line no-eval
      return (0, eval)(`(${source})`)({
        status: root.dataset.status,
        save: root.dataset.save,
        saveLine: window.__ct.part('save-line').textContent.trim()
      }, a)
    }, [predicate.toString(), arg], { timeout: timeoutMs, polling: 100 })
  } catch (error) {
    const shown = await header(page).catch(() => '(unavailable)')
    throw new Error(`${page.label}: waiting for ${what}: ${error.message.split('\n')[0]}\n  header: ${JSON.stringify(shown)}`)
  }
}

const waitSaved = (page, timeoutMs) => waitHeader(page, 'the save line to say "Saved…"',
  (h) => h.save === 'saved' && /^Saved\b/.test(h.saveLine), undefined, timeoutMs)

/** Pastes `text` at the end of the page's textarea: the clipboard holds it, Ctrl+V. */
async function paste (page, text) {
  await page.context.grantPermissions(['clipboard-read', 'clipboard-write'])
  await page.page.evaluate((t) => navigator.clipboard.writeText(t), text)
  await page.textarea.focus()
  await page.page.keyboard.press('Control+End')
  await page.page.keyboard.press('Control+V')
}

/** The WebSocket connections the page opened (socket-log.js). */
const sockets = (page) => page.page.evaluate(() => window.__sockets.map((s) => ({ ...s })))


export default function large (harness) {
  describe('documents of any size', () => {
    /** Default limits (4 MiB messages, 64 MiB documents), shared by the tests that fit them. */
    let roomy
    before(async () => {
      roomy = await SyncServer.create('large')
      await roomy.start()
    })
    after(async () => { await roomy?.dispose() })

    scenario(harness, 'a 20 MB paste reaches the other page and the stored text, exactly', async (s) => {
      const doc = harness.doc('paste-20mb')
      const text = bigText(20 * MiB, 'ada')
      s.watch(roomy)
      const ada = await s.open({ doc, name: 'Ada' }, {}, roomy)
      const bob = await s.open({ doc, name: 'Bob' }, {}, roomy)
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])

      await paste(ada, text)
      await waitLength(ada, text.length, 'the paste in Ada\'s own textarea')
      // More than the server takes in one message: it must have gone in pieces.
      await waitSaved(ada)
      await waitLength(bob, text.length, 'the paste in Bob\'s textarea')
      const expected = { length: text.length, sha256: sha256(text) }
      assert.deepEqual(await textDigest(ada), expected, 'Ada\'s textarea holds the paste exactly')
      assert.deepEqual(await textDigest(bob), expected, 'Bob\'s textarea holds the paste exactly')
      const stored = await roomy.storedText(doc)
      assert.equal(stored.status, 200)
      assert.deepEqual({ length: stored.text.length, sha256: sha256(stored.text) }, expected, 'the stored text is the paste')
    }, { timeout: 240_000 })

    scenario(harness, 'a fresh page loads a 40 MB document', async (s) => {
      const doc = harness.doc('load-40mb')
      s.watch(roomy)
      // 40 updates of 1 MiB of text each, every one a message of its own under the 4 MiB limit.
      const ydoc = new Y.Doc()
      const updates = []
      ydoc.on('update', (update) => updates.push(update))
      const content = ydoc.getText('content')
      for (let i = 0; i < 40; i++) content.insert(content.length, bigText(MiB, `part${i}`))
      const text = content.toString()
      assert.ok(updates.every((u) => u.length < 4 * MiB - 16), 'each update fits one message')
      await upload(roomy.wsUrl, doc, updates, BIG_WAIT_MS)
      ydoc.destroy()

      const reader = await s.open({ doc, name: 'Reader' }, {}, roomy)
      // Green comes with the server's SyncStep2, its last piece: the whole text is shown by then.
      await waitHeader(reader, 'the status "connected"', (h) => h.status === 'connected')
      await waitLength(reader, text.length, 'the whole 40 MB document')
      assert.deepEqual(await textDigest(reader), { length: text.length, sha256: sha256(text) }, 'the textarea holds the document exactly')
    }, { timeout: 240_000 })
  })

  describe('a document size limit', () => {
    /** A server whose documents may not grow past 2 MiB. */
    let small
    before(async () => {
      small = await SyncServer.create('small-docs', {}, ['--max-document-size', String(SMALL_DOCUMENT_LIMIT)])
      await small.start()
    })
    after(async () => { await small?.dispose() })

    scenario(harness, 'a paste past the limit is refused (4413): the save line says so, the text stays, no reconnect loop, the document stays intact for the others', async (s) => {
      const doc = harness.doc('too-large')
      s.watch(small)
      const ada = await s.open({ doc, name: 'Ada' }, { initScripts: [SOCKET_LOG] }, small)
      const bob = await s.open({ doc, name: 'Bob' }, {}, small)
      await Promise.all([ada.waitStatus('connected'), bob.waitStatus('connected')])
      await ada.typeAtEnd('before.')
      await bob.waitText('before.')
      await ada.waitSaved()
      const accepted = await small.metric('collab_connections_total')
      assert.equal((await sockets(ada)).length, 1, 'Ada has one connection before the paste')

      // Fits one message (under 4 MiB), but not the document.
      const pasted = bigText(SMALL_DOCUMENT_LIMIT + MiB / 2, 'too-much')
      await paste(ada, pasted)
      await waitHeader(ada, 'the refusal in the save line', (h, line) => h.saveLine === line, REFUSED_LINE)
      await ada.page.evaluate(() => window.__ct.watchSaveLine())
      const refused = await header(ada)
      assert.deepEqual(refused, { status: 'disconnected', save: 'refused', saveLine: REFUSED_LINE, retryVisible: true },
        'red dot with Retry, and the reason in the save line')
      let log = await sockets(ada)
      assert.equal(log.length, 1, 'still the one connection')
      assert.equal(log[0].code, 4413, `the server closed it with 4413 (reason: ${log[0].reason})`)
      assert.ok(log[0].reason.length > 0, 'with a reason')
      assert.deepEqual(await textDigest(ada), { length: 'before.'.length + pasted.length, sha256: sha256('before.' + pasted) },
        'the paste stays in Ada\'s textarea')

      // The others carry on: Bob edits, it is stored, a reader who comes later sees it.
      await bob.typeAtEnd(' bob.')
      await bob.waitSaved()
      assert.deepEqual(await small.storedText(doc), { status: 200, text: 'before. bob.' }, 'the stored document: intact, and Bob\'s edit')
      const carol = await s.open({ doc, name: 'Carol' }, {}, small)
      await carol.waitText('before. bob.', 'the document as stored')

      // No reconnect loop. A widget that retried would reopen at once (a good connection
      // dropped) or within its backoff cap; the event waited for is Bob's save line counting
      // past that cap since a save he made after the refusal (same machine, same clock).
      await bob.waitState(`Bob's save line to count past ${BACKOFF_CAP_S} s`,
        (st, cap) => st.save === 'saved' && Number(/^Saved (\d+)s ago$/.exec(st.saveLine)?.[1]) > cap, BACKOFF_CAP_S, WAIT_MS)
      log = await sockets(ada)
      assert.equal(log.length, 1, `Ada opened no other connection: ${JSON.stringify(log)}`)
      assert.equal(await small.metric('collab_connections_total'), accepted + 1,
        'the server accepted no connection after the refusal but Carol\'s')
      const lines = await ada.page.evaluate(() => window.__ct.saveLineLog.map((e) => `${e.save}: ${e.line}`))
      assert.deepEqual(lines, [`refused: ${REFUSED_LINE}`], 'the save line never left the refusal')
      assert.deepEqual(await header(ada), refused, 'still red, with Retry and the reason')

      // Retry reconnects once; the same paste is refused again, and it stops again.
      await ada.page.locator('[part~="retry"]').click()
      await waitUntil('Ada\'s second connection to be refused too', async () => {
        const all = await sockets(ada)
        return all.length === 2 && all[1].code !== null
      })
      log = await sockets(ada)
      assert.equal(log[1].code, 4413, 'refused again with 4413')
      await waitHeader(ada, 'the refusal again', (h, line) => h.status === 'disconnected' && h.saveLine === line, REFUSED_LINE)
      // That connection may have brought Bob's edit before it was closed; the paste is still there.
      assert.deepEqual(await textDigest(ada, ' bob.'), { length: 'before.'.length + pasted.length, sha256: sha256('before.' + pasted) },
        'the paste is still in Ada\'s textarea')
      assert.deepEqual(await small.storedText(doc), { status: 200, text: 'before. bob.' }, 'the stored document is still intact')
      await carol.typeAtEnd(' carol.')
      await bob.waitText('before. bob. carol.', 'Carol\'s edit')
    }, { timeout: 180_000 })
  })
}
