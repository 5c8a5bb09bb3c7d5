// The desktop app end to end: the real Tauri binary under Xvfb, driven through tauri-driver
// (WebKitWebDriver), with guests in headless Chromium opening the app's sharing links on its
// Share on LAN address: a view link, an edit link, Reset links, quit and restart (the keys are
// kept), Stop sharing, and a log with no token in it.
//
// Environment (scripts/test.sh sets it): DESKTOP_BIN (the built app), WEB_ROOT (target/web),
// TAURI_DRIVER (default: tauri-driver on PATH), WEBKIT_DRIVER (default /usr/bin/WebKitWebDriver),
// CHROME_BIN (default /usr/bin/chromium), ARTIFACTS (screenshots go to ARTIFACTS/desktop/).
// Needs a display (xvfb-run) and a D-Bus session bus (dbus-run-session) for single-instance.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { Session, elementId, freePort, listening, sleep, startDriver, waitFor } from './lib/webdriver.mjs'

const BIN = process.env.DESKTOP_BIN ?? path.resolve('../../target/debug/desktop')
const WEB_ROOT = process.env.WEB_ROOT ?? path.resolve('../../target/web')
const TAURI_DRIVER = process.env.TAURI_DRIVER ?? 'tauri-driver'
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver'
const CHROME_BIN = process.env.CHROME_BIN ?? '/usr/bin/chromium'
const SHOTS = path.join(process.env.ARTIFACTS ?? path.resolve('../../target/artifacts'), 'desktop')
const CHROME_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run']

const logLines = []
const log = (line) => { logLines.push(String(line).trimEnd()) }

/** What the window shows: the document list, the open document, the widget's state. */
const WINDOW_STATE = `
  const ed = document.querySelector('collab-textarea')
  const root = ed && ed.shadowRoot && ed.shadowRoot.querySelector('[part=root]')
  const ta = ed && ed.shadowRoot && ed.shadowRoot.querySelector('textarea')
  return {
    ready: document.body.dataset.ready || null,
    origin: location.origin,
    docs: [...document.querySelectorAll('li.doc')].map((li) => ({ id: li.dataset.doc, title: li.querySelector('.title') && li.querySelector('.title').textContent, when: li.querySelector('.when') && li.querySelector('.when').textContent })),
    doc: ed ? ed.getAttribute('doc') : null,
    title: document.querySelector('#doc-title').textContent,
    status: root ? root.dataset.status : null,
    save: root ? root.dataset.save : null,
    text: ta ? ta.value : null,
    sharing: document.querySelector('#share').checked,
    viewUrl: document.querySelector('#share-details').hidden ? null : document.querySelector('#share-view-url').value,
    editUrl: document.querySelector('#share-details').hidden ? null : document.querySelector('#share-edit-url').value,
    qr: !!document.querySelector('#share-qr svg'),
    qrKind: document.querySelector('#share-qr').dataset.kind || null,
    avatars: ed && ed.shadowRoot ? [...ed.shadowRoot.querySelectorAll('[part~=avatar]')].map((a) => a.title) : [],
    marker: window.__testMarker || null,
    shareError: document.querySelector('#share-error').hidden ? null : document.querySelector('#share-error').textContent,
    name: document.querySelector('#name').value
  }`

async function state (session) { return session.exec(WINDOW_STATE) }

async function until (session, what, pred, ms = 20000) {
  let last
  try {
    return await waitFor(what, async () => { last = await state(session); return pred(last) && last }, ms, 150)
  } catch (error) {
    error.message += `\nwindow state: ${JSON.stringify(last)}`
    throw error
  }
}

async function shot (session, name) {
  fs.mkdirSync(SHOTS, { recursive: true })
  const file = path.join(SHOTS, name)
  fs.writeFileSync(file, await session.screenshot())
  return file
}

/** Processes running the app binary (Linux /proc). */
function appProcesses () {
  const want = fs.realpathSync(BIN)
  const pids = []
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try { if (fs.readlinkSync(`/proc/${pid}/exe`) === want) pids.push(Number(pid)) } catch { /* gone, or not ours */ }
  }
  return pids
}

/** Types into the widget's textarea (inside its shadow root), caret at the end; retries if the
 *  widget remounted (switching documents) between finding the textarea and typing. */
async function typeInEditor (session, text) {
  await waitFor('typing into the editor', async () => {
    const ref = await session.exec(`const ta = document.querySelector('collab-textarea').shadowRoot.querySelector('textarea')
      ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); return ta`)
    await session.type(elementId(ref), text)
    return true
  }, 10000, 250)
}

/** The server's API from the window, with the window's own (owner) token. */
function windowApi (session, path, method = 'GET') {
  return session.run(`const s = await window.__TAURI_INTERNALS__.invoke('app_state')
    const res = await fetch(${JSON.stringify(path)}, { method: ${JSON.stringify(method)}, headers: { Authorization: 'Bearer ' + s.token } })
    return { status: res.status, body: await res.text() }`)
}

/** A link as the window shows it, pointed at loopback (tests never leave this machine). */
function local (link, port) {
  const url = new URL(link)
  url.hostname = '127.0.0.1'
  assert.equal(url.port, String(port))
  return url.href
}

const tokenOf = (link) => new URLSearchParams(new URL(link).hash.slice(1)).get('token')

/** What a guest's page shows. */
async function guestState (page) {
  return page.evaluate(() => {
    const ta = document.querySelector('collab-textarea')?.shadowRoot?.querySelector('textarea')
    return {
      state: document.body.dataset.state || null,
      status: document.body.dataset.status || null,
      problem: document.querySelector('#problem').hidden ? null : document.querySelector('#problem').textContent,
      asksName: !document.querySelector('#name-form').hidden,
      text: ta ? ta.value : null,
      readOnly: ta ? ta.readOnly : null,
      access: document.querySelector('#access').textContent
    }
  })
}

async function guestUntil (page, what, pred, ms = 20000) {
  let last
  try {
    return await waitFor(what, async () => { last = await guestState(page); return pred(last) && last }, ms, 150)
  } catch (error) {
    error.message += `\nguest page: ${JSON.stringify(last)}`
    throw error
  }
}

/** Opens a sharing link in a new page; answers the name question if it is asked. */
async function openGuest (context, link, name) {
  const page = await context.newPage({ viewport: { width: 900, height: 600 } })
  await page.goto(link)
  const first = await guestUntil(page, 'the guest page to start', (g) => g.asksName || g.status || g.problem)
  if (first.asksName) {
    await page.fill('#guest-name', name)
    await page.click('#name-form button')
  }
  return page
}

/** A raw WebSocket from a guest's page: connects with `token`; with `edit`, sends one sync
 *  update inserting "x" (hand-encoded Yjs v1) and reports the permission-denied reason it gets;
 *  otherwise reports the close code. */
async function rawSocket (page, port, doc, token, edit) {
  return page.evaluate(async ({ port, doc, token, edit }) => {
    const varUint = (n) => { const out = []; while (n > 127) { out.push((n & 127) | 128); n = Math.floor(n / 128) } out.push(n); return out }
    const str = (s) => { const b = [...new TextEncoder().encode(s)]; return [...varUint(b.length), ...b] }
    // One client (id 4242), one item at clock 0: a string "x" at the start of root "content".
    const update = [1, 1, ...varUint(4242), 0, 4, 1, ...str('content'), ...str('x'), 0]
    const frame = new Uint8Array([0, 2, ...varUint(update.length), ...update])
    return await new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/sync/${doc}?token=${encodeURIComponent(token)}`)
      ws.binaryType = 'arraybuffer'
      let synced = false
      ws.onmessage = (event) => {
        const bytes = new Uint8Array(event.data)
        if (edit && bytes[0] === 2 && bytes[1] === 0) {
          const len = bytes[2]
          resolve({ denied: new TextDecoder().decode(bytes.slice(3, 3 + len)) })
          ws.close()
        } else if (edit && !synced && bytes[0] === 0) {
          synced = true
          ws.send(frame)
        }
      }
      ws.onclose = (event) => resolve({ code: event.code })
    })
  }, { port, doc, token, edit })
}

async function launch (driver) {
  const session = await Session.start(driver.url, BIN)
  await until(session, 'the window to be ready', (s) => s.ready === 'true', 30000)
  return session
}

/** Quit as the user would (the app's quit command: what File › Quit runs) and wait until the
 *  process has flushed and exited. */
async function quit (session) {
  await session.exec('window.__TAURI_INTERNALS__.invoke("quit"); return true').catch(() => {})
  await waitFor('the app to exit', () => appProcesses().length === 0, 20000)
  await session.end()
}

test('desktop app: create, type, share on LAN with a browser, quit, restart', { timeout: 420000 }, async (t) => {
  assert.ok(fs.existsSync(BIN), `no app binary at ${BIN}: cargo build -p desktop`)
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'collab-textarea/index.js')), `no widget files in ${WEB_ROOT}: scripts/build-widget.sh`)
  assert.deepEqual(appProcesses(), [], 'another copy of the app is running')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-desktop-'))
  const env = { COLLAB_DESKTOP_DATA_DIR: dataDir, COLLAB_DESKTOP_WEB_ROOT: WEB_ROOT, RUST_LOG: 'info,sync_server=debug,desktop=debug,tao=warn,wry=warn' }
  const driver = await startDriver({ bin: TAURI_DRIVER, nativeDriver: WEBKIT_DRIVER, env, log })
  const browser = await chromium.launch({ executablePath: CHROME_BIN, headless: true, args: CHROME_ARGS })
  let session
  t.after(async () => {
    await browser.close().catch(() => {})
    if (session) await session.end()
    await driver.stop()
    for (const pid of appProcesses()) { try { process.kill(pid, 'SIGKILL') } catch {} }
    fs.writeFileSync(path.join(SHOTS, 'driver.log'), logLines.join('\n') + '\n')
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  fs.mkdirSync(SHOTS, { recursive: true })

  const sharePort = await freePort()
  const typed = 'Hello from the desktop.'
  const fromBrowser = ' And hello from a browser on the LAN.'
  let docId

  await t.test('first start: empty list, create a document, type in the window', async () => {
    session = await launch(driver)
    let s = await state(session)
    assert.match(s.origin, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.deepEqual(s.docs, [])
    assert.equal(s.sharing, false)
    const title = await session.find('#new-title')
    await session.type(title, 'Meeting notes')
    await session.click(await session.find('#new-doc'))
    s = await until(session, 'the new document to open, connected', (s) => s.doc && s.status === 'connected' && s.docs.length === 1)
    docId = s.doc
    assert.match(docId, /^meeting-notes-[0-9a-f]{4}$/)
    assert.equal(s.docs[0].title, 'Meeting notes')
    assert.equal(s.title, 'Meeting notes')
    await typeInEditor(session, typed)
    s = await until(session, 'the typed text to be saved', (s) => s.text === typed && s.save === 'saved')
    const stored = await windowApi(session, `/api/docs/${docId}/text`)
    assert.deepEqual(stored, { status: 200, body: typed })
    await until(session, 'the list to show the edit time', (s) => /edited/.test(s.docs[0]?.when ?? ''), 10000)
  })

  const links = [] // every link the window showed, for the log check
  let view, edit

  await t.test('share on LAN: the server needs a link, the window shows a view and an edit link with a QR code', async () => {
    const port = await session.find('#share-port')
    await session.clear(port)
    await session.type(port, String(sharePort))
    await session.click(await session.find('#share'))
    const s = await until(session, 'the window to reload from the shared port with links', (s) =>
      s.ready === 'true' && s.origin === `http://127.0.0.1:${sharePort}` && s.sharing && s.qr && s.viewUrl && s.editUrl && s.status === 'connected')
    assert.equal(s.shareError, null)
    const shape = new RegExp(`^http://[0-9.]+:${sharePort}/join/#token=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+&title=Meeting%20notes$`)
    assert.match(s.viewUrl, shape)
    assert.match(s.editUrl, shape)
    assert.notEqual(tokenOf(s.viewUrl), tokenOf(s.editUrl))
    assert.equal(s.text, typed, 'the same document, from the same database, after rebinding')
    assert.equal(s.qrKind, 'view')
    await session.click(await session.find('input[name=link-kind][value=edit]'))
    await until(session, 'the QR code of the edit link', (s) => s.qrKind === 'edit' && s.qr)
    // Links last 7 days unless another lifetime is chosen (remembered by the app).
    const lifetime = (link) => { const c = JSON.parse(Buffer.from(tokenOf(link).split('.')[1], 'base64url')); return c.exp - c.iat }
    assert.equal(lifetime(s.viewUrl), 7 * 24 * 3600)
    assert.equal(lifetime(s.editUrl), 7 * 24 * 3600)
    links.push(s.viewUrl, s.editUrl)
    await session.exec('const el = document.querySelector("#share-ttl"); el.value = "24"; el.dispatchEvent(new Event("change")); return true')
    let day = await until(session, 'links that last a day', (t) => t.viewUrl && t.viewUrl !== s.viewUrl && lifetime(t.viewUrl) === 24 * 3600)
    assert.equal(lifetime(day.editUrl), 24 * 3600)
    links.push(day.viewUrl, day.editUrl)
    await session.exec('const el = document.querySelector("#share-ttl"); el.value = "168"; el.dispatchEvent(new Event("change")); return true')
    day = await until(session, 'links that last 7 days again', (t) => t.viewUrl && lifetime(t.viewUrl) === 7 * 24 * 3600 && t.viewUrl !== day.viewUrl)
    view = local(day.viewUrl, sharePort)
    edit = local(day.editUrl, sharePort)
    links.push(view, edit)
    // Nothing on the network reads a document without a link.
    const open = await fetch(`http://127.0.0.1:${sharePort}/api/docs`)
    assert.equal(open.status, 401)
    await shot(session, '1-share-dialog.png')
  })

  let guests
  await t.test('guests: a view link reads and cannot edit, an edit link edits, a link opens only its document', async () => {
    guests = await browser.newContext()
    const viewer = await openGuest(guests, view, 'Sam')
    let g = await guestUntil(viewer, 'the view link to show the text', (g) => g.status === 'connected' && g.text === typed)
    assert.equal(g.readOnly, true, 'the widget is read-only')
    assert.equal(g.access, 'Can view')
    // The server refuses an edit with that token, whatever the page does.
    const refused = await rawSocket(viewer, sharePort, docId, tokenOf(view), true)
    assert.match(refused.denied ?? '', /read-only/, JSON.stringify(refused))
    // A link for this document opens no other.
    assert.deepEqual(await rawSocket(viewer, sharePort, 'another-doc', tokenOf(edit), false), { code: 4402 })
    const other = await fetch(`http://127.0.0.1:${sharePort}/api/docs/another-doc/text`, { headers: { Authorization: `Bearer ${tokenOf(edit)}` } })
    assert.equal(other.status, 403)

    // The edit link, in the same browser: the name is remembered, not asked again.
    const editor = await openGuest(guests, edit, 'not asked')
    g = await guestUntil(editor, 'the edit link to show the text', (g) => g.status === 'connected' && g.text === typed)
    assert.equal(g.asksName, false)
    assert.equal(g.readOnly, false)
    const area = editor.locator('collab-textarea textarea')
    await area.click()
    await editor.keyboard.press('End')
    await editor.keyboard.type(fromBrowser)
    let s = await until(session, 'the guest\'s edit to appear in the window', (s) => s.text === typed + fromBrowser)
    await typeInEditor(session, ' Bye.')
    await guestUntil(viewer, 'the viewer to see the window\'s edit', (g) => g.text === typed + fromBrowser + ' Bye.')
    s = await until(session, 'the guests in the window\'s presence, as guests', (s) => s.save === 'saved' && s.avatars.filter((a) => /Sam · guest/.test(a)).length === 2)
    assert.equal(s.avatars.length, 3, JSON.stringify(s.avatars))
    await viewer.screenshot({ path: path.join(SHOTS, '2-guest-view-link.png') })
    await editor.screenshot({ path: path.join(SHOTS, '3-guest-edit-link.png') })
    await shot(session, '4-window-with-guests.png')
  })

  const finalText = typed + fromBrowser + ' Bye.'

  await t.test('Reset links: both links stop working at once, guests are told, the window does not notice', async () => {
    await session.exec('window.__testMarker = "same page"; return true')
    const [viewer, editor] = guests.pages()
    await session.click(await session.find('#reset-links'))
    for (const page of [viewer, editor]) {
      const g = await guestUntil(page, 'the guest to be told', (g) => g.state === 'refused')
      assert.match(g.problem, /This link no longer works/)
    }
    await viewer.screenshot({ path: path.join(SHOTS, '5-guest-link-reset.png') })
    for (const link of [view, edit]) {
      assert.deepEqual(await rawSocket(viewer, sharePort, docId, tokenOf(link), false), { code: 4401 })
    }
    let s = await until(session, 'new links', (s) => s.viewUrl && local(s.viewUrl, sharePort) !== view)
    assert.equal(s.marker, 'same page', 'the window was not reloaded')
    assert.equal(s.status, 'connected')
    await typeInEditor(session, '!')
    s = await until(session, 'the window to keep editing', (s) => s.text === finalText + '!' && s.save === 'saved')
    view = local(s.viewUrl, sharePort)
    edit = local(s.editUrl, sharePort)
    links.push(view, edit)
    await viewer.close()
    await editor.close()
  })

  await t.test('quit and restart keep the keys: a link made before still opens the document', async () => {
    const guest = await openGuest(guests, view, 'Sam')
    await guestUntil(guest, 'the new view link to work', (g) => g.status === 'connected' && g.text === finalText + '!')
    await quit(session)
    session = null
    assert.equal(await listening(sharePort), false, 'the shared port is closed after quit')
    session = await launch(driver)
    let s = await until(session, 'the document to reopen with its text', (s) => s.doc === docId && s.text === finalText + '!' && s.status === 'connected')
    assert.equal(s.sharing, false, 'sharing is off after a restart')
    assert.notEqual(s.origin, `http://127.0.0.1:${sharePort}`)
    await session.click(await session.find('#share'))
    s = await until(session, 'sharing again on the same port', (s) => s.ready === 'true' && s.origin === `http://127.0.0.1:${sharePort}` && s.sharing && s.viewUrl)
    links.push(s.viewUrl, s.editUrl)
    // The guest's page reconnects by itself: the link signed before the restart still works.
    await guestUntil(guest, 'the old link to work again', (g) => g.status === 'connected' && g.state === 'joined')
    await guest.close()
  })

  await t.test('Stop sharing: every link stops working, the guest is told, the app keeps editing', async () => {
    const guest = await openGuest(guests, edit, 'Sam')
    await guestUntil(guest, 'the edit link to work', (g) => g.status === 'connected')
    await session.click(await session.find('#share'))
    const g = await guestUntil(guest, 'the guest to be told', (g) => g.state === 'refused')
    assert.match(g.problem, /This link no longer works/)
    await guest.screenshot({ path: path.join(SHOTS, '6-guest-after-stop-sharing.png') })
    let s = await until(session, 'the window to come back local', (s) => s.ready === 'true' && !s.sharing && s.origin !== `http://127.0.0.1:${sharePort}` && s.status === 'connected')
    assert.equal(await listening(sharePort), false, 'nobody else can connect')
    await typeInEditor(session, '?')
    s = await until(session, 'the window to keep editing', (s) => s.text === finalText + '!?' && s.save === 'saved')
    // Sharing again on the same port: the links from before are refused.
    await session.click(await session.find('#share'))
    s = await until(session, 'sharing again', (s) => s.ready === 'true' && s.origin === `http://127.0.0.1:${sharePort}` && s.sharing && s.viewUrl)
    links.push(s.viewUrl, s.editUrl)
    const again = await openGuest(guests, view, 'Sam')
    await guestUntil(again, 'the old link to be refused', (g) => g.state === 'refused' && /no longer works/.test(g.problem))
    for (const link of [view, edit]) {
      assert.deepEqual(await rawSocket(again, sharePort, docId, tokenOf(link), false), { code: 4401 })
    }
    await again.close()
    await session.click(await session.find('#share'))
    await until(session, 'sharing off', (s) => s.ready === 'true' && !s.sharing && s.status === 'connected')
    await guests.close()
  })

  const lastText = finalText + '!?'


  await t.test('quit flushes and stops the server; a restart shows the document and text', async () => {
    await quit(session)
    session = null
    session = await launch(driver)
    const s = await until(session, 'the document to reopen with its text', (s) => s.doc === docId && s.text === lastText && s.status === 'connected')
    assert.equal(s.sharing, false, 'sharing is off after a restart')
    assert.match(s.origin, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.deepEqual(s.docs.map((d) => d.title), ['Meeting notes'])
    await shot(session, '7-after-restart.png')
  })

  await t.test('a second start focuses the running app and exits', async () => {
    const child = spawn(BIN, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    const code = await Promise.race([
      new Promise((resolve) => child.once('exit', (c) => resolve(c))),
      sleep(20000).then(() => 'still running')
    ])
    if (code === 'still running') child.kill('SIGKILL')
    assert.equal(code, 0, `the second instance should exit at once; its output:\n${out}`)
    const s = await state(session)
    assert.equal(s.text, lastText, 'the first instance carries on')
  })

  await t.test('rename, delete (through the server\'s API), name remembered', async () => {
    // Your name and colour.
    const name = await session.find('#name')
    await session.clear(name)
    await session.type(name, 'Ada')
    await session.exec('document.querySelector("#name").dispatchEvent(new Event("change")); return true')
    // A second document with text, then deleted.
    await session.type(await session.find('#new-title'), 'Scratch')
    await session.click(await session.find('#new-doc'))
    let s = await until(session, 'the scratch document', (s) => s.docs.length === 2 && s.doc !== docId && s.status === 'connected' && s.text === '')
    const scratch = s.doc
    await typeInEditor(session, 'temporary')
    await until(session, 'scratch saved', (s) => s.text === 'temporary' && s.save === 'saved')
    // Delete asks for a second click (the list may be redrawn in between: find it again).
    await session.click(await session.find(`li.doc[data-doc="${scratch}"] .delete`))
    await waitFor('the delete button to arm', () => session.exec(`return !!document.querySelector('li.doc[data-doc="${scratch}"] .delete.armed')`), 3000)
    await session.click(await session.find(`li.doc[data-doc="${scratch}"] .delete`))
    s = await until(session, 'the scratch document to go', (s) => s.docs.length === 1 && s.doc === null)
    const listed = JSON.parse((await windowApi(session, '/api/docs')).body)
    assert.deepEqual(listed.map((d) => d.name), [docId], 'deleted from the server at once')
    assert.equal((await windowApi(session, `/api/docs/${scratch}/text`)).status, 404)
    // Rename the first.
    await session.click(await session.find(`li.doc[data-doc="${docId}"] .rename`))
    const input = await session.find(`li.doc[data-doc="${docId}"] input.rename`)
    // The title is selected and focused; typing replaces it. (No Element Clear: it blurs the
    // field, which ends the rename.)
    await session.type(input, 'Team notes\uE007')
    await until(session, 'the new title', (s) => s.docs[0]?.title === 'Team notes')
    await quit(session)
    session = null
    session = await launch(driver)
    s = await until(session, 'the list after restart', (s) => s.docs.length === 1)
    assert.deepEqual(s.docs.map((d) => [d.id, d.title]), [[docId, 'Team notes']])
    assert.equal(s.name, 'Ada')
    const stored = JSON.parse((await windowApi(session, '/api/docs')).body)
    assert.deepEqual(stored.map((d) => d.name), [docId], 'the deleted document is gone from the database')
    await session.click(await session.find(`li.doc[data-doc="${docId}"] .open`))
    s = await until(session, 'the renamed document open', (s) => s.doc === docId && s.text === lastText)
    assert.equal(s.title, 'Team notes')
    await shot(session, '8-renamed.png')
    await quit(session)
    session = null
  })

  await t.test('no token appears in the app\'s log', async () => {
    const logged = logLines.join('\n')
    assert.ok(/sync server started/.test(logged), 'the app\'s own log is part of what was collected')
    assert.ok(links.length >= 6)
    for (const link of links) {
      const token = tokenOf(link)
      const signature = token.split('.')[2]
      assert.ok(!logged.includes(signature), `a link's token is in the log: ${link.slice(0, 60)}…`)
    }
  })
})
