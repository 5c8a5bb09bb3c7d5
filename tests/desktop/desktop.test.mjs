// The desktop app end to end: the real Tauri binary under Xvfb, driven through tauri-driver
// (WebKitWebDriver), with a colleague in headless Chromium on the app's Share on LAN address.
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
    shareUrl: document.querySelector('#share-details').hidden ? null : document.querySelector('#share-url').value,
    qr: !!document.querySelector('#share-qr svg'),
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

test('desktop app: create, type, share on LAN with a browser, quit, restart', { timeout: 240000 }, async (t) => {
  assert.ok(fs.existsSync(BIN), `no app binary at ${BIN}: cargo build -p desktop`)
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'collab-textarea/index.js')), `no widget files in ${WEB_ROOT}: scripts/build-widget.sh`)
  assert.deepEqual(appProcesses(), [], 'another copy of the app is running')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-desktop-'))
  const env = { COLLAB_DESKTOP_DATA_DIR: dataDir, COLLAB_DESKTOP_WEB_ROOT: WEB_ROOT, RUST_LOG: 'info,tao=warn,wry=warn' }
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
    const stored = await session.run(`return (await fetch('/api/docs/${docId}/text')).text()`)
    assert.equal(stored, typed)
    await until(session, 'the list to show the edit time', (s) => /edited/.test(s.docs[0]?.when ?? ''), 10000)
  })

  await t.test('share on LAN: rebinds on the chosen port, shows the link and a QR code', async () => {
    const port = await session.find('#share-port')
    await session.clear(port)
    await session.type(port, String(sharePort))
    await session.click(await session.find('#share'))
    const s = await until(session, 'the window to reload from the shared port', (s) =>
      s.ready === 'true' && s.origin === `http://127.0.0.1:${sharePort}` && s.sharing && s.qr && s.status === 'connected')
    assert.equal(s.shareError, null)
    assert.match(s.shareUrl, new RegExp(`^http://[0-9.]+:${sharePort}/\\?doc=${docId}$`))
    assert.equal(s.text, typed, 'the same document, from the same database, after rebinding')
    await shot(session, '1-shared.png')
  })

  await t.test('a colleague in Chromium on the shared address sees the text and edits it', async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 640 } })
    // The link the window shows, pointed at loopback (tests never leave this machine).
    const link = `http://127.0.0.1:${sharePort}/?doc=${docId}&name=Colleague`
    await page.goto(link)
    const area = page.locator('collab-textarea textarea')
    await waitFor('the browser to show the desktop text', async () => (await area.inputValue()) === typed, 20000)
    await area.click()
    await page.keyboard.press('End')
    await page.keyboard.type(fromBrowser)
    const s = await until(session, 'the browser edit to appear in the window', (s) => s.text === typed + fromBrowser)
    assert.equal(s.text, typed + fromBrowser)
    // And back: the window types, the browser sees it.
    await typeInEditor(session, ' Bye.')
    await waitFor('the browser to see the window\'s edit', async () => (await area.inputValue()) === typed + fromBrowser + ' Bye.', 20000)
    await until(session, 'two people in the window', (s) => s.save === 'saved')
    const avatars = await session.exec('return document.querySelector("collab-textarea").shadowRoot.querySelectorAll("[part~=avatar]").length')
    assert.equal(avatars, 2)
    await page.screenshot({ path: path.join(SHOTS, '2-browser.png') })
    await shot(session, '3-window-with-colleague.png')
    await page.close()
  })

  const finalText = typed + fromBrowser + ' Bye.'

  await t.test('quit flushes and stops the server; a restart shows the document and text', async () => {
    await quit(session)
    session = null
    assert.equal(await listening(sharePort), false, 'the shared port is closed after quit')
    session = await launch(driver)
    const s = await until(session, 'the document to reopen with its text', (s) => s.doc === docId && s.text === finalText && s.status === 'connected')
    assert.equal(s.sharing, false, 'sharing is off after a restart')
    assert.match(s.origin, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.notEqual(s.origin, `http://127.0.0.1:${sharePort}`)
    assert.deepEqual(s.docs.map((d) => d.title), ['Meeting notes'])
    await shot(session, '4-after-restart.png')
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
    assert.equal(s.text, finalText, 'the first instance carries on')
  })

  await t.test('rename, delete (purged from the database), name remembered', async () => {
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
    const stored = await session.run(`return (await fetch('/api/docs')).json()`)
    assert.deepEqual(stored.map((d) => d.name), [docId], 'the deleted document is gone from the database')
    await session.click(await session.find(`li.doc[data-doc="${docId}"] .open`))
    s = await until(session, 'the renamed document open', (s) => s.doc === docId && s.text === finalText)
    assert.equal(s.title, 'Team notes')
    await shot(session, '5-renamed.png')
    await quit(session)
    session = null
  })
})
