// The .deb package: unpacked into a temporary root (what dpkg would install, without
// installing it), its files checked, and the installed binary started under Xvfb through
// tauri-driver: it finds the widget's files inside the package, opens its window and serves
// the widget.
//
// Environment (scripts/test.sh sets it): DEB_FILE (the package; without it this file is
// skipped), TAURI_DRIVER, WEBKIT_DRIVER, ARTIFACTS as for desktop.test.mjs.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Session, startDriver, waitFor } from './lib/webdriver.mjs'

const DEB = process.env.DEB_FILE
const TAURI_DRIVER = process.env.TAURI_DRIVER ?? 'tauri-driver'
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver'
const SHOTS = path.join(process.env.ARTIFACTS ?? path.resolve('../../target/artifacts'), 'desktop')
const PRODUCT = 'Collab Textarea'

test('the .deb unpacks, and its binary starts, finds its widget files and serves them', { skip: !DEB && 'DEB_FILE not set', timeout: 180000 }, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-deb-root-'))
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-deb-data-'))
  const lines = []
  let driver, session
  t.after(async () => {
    if (session) await session.end()
    if (driver) await driver.stop()
    fs.mkdirSync(SHOTS, { recursive: true })
    fs.writeFileSync(path.join(SHOTS, 'deb-driver.log'), lines.join(''))
    fs.rmSync(root, { recursive: true, force: true })
    fs.rmSync(dataDir, { recursive: true, force: true })
  })

  execFileSync('dpkg-deb', ['-x', DEB, root])
  const control = execFileSync('dpkg-deb', ['-f', DEB, 'Package', 'Depends'], { encoding: 'utf8' })
  assert.match(control, /^Package: collab-textarea$/m)
  assert.match(control, /libwebkit2gtk-4\.1/)
  const bin = path.join(root, 'usr/bin/desktop')
  assert.ok(fs.statSync(bin).mode & 0o111, 'the binary is executable')
  const entry = fs.readFileSync(path.join(root, `usr/share/applications/${PRODUCT}.desktop`), 'utf8')
  assert.match(entry, /^Exec=desktop$/m)
  assert.match(entry, /^Icon=desktop$/m)
  for (const size of ['32x32', '128x128']) {
    const icon = fs.readFileSync(path.join(root, `usr/share/icons/hicolor/${size}/apps/desktop.png`))
    assert.deepEqual([...icon.subarray(1, 4)], [0x50, 0x4e, 0x47], `${size} icon is a PNG`)
  }
  const webRoot = path.join(root, `usr/lib/${PRODUCT}/web`)
  assert.ok(fs.existsSync(path.join(webRoot, 'collab-textarea/index.js')), 'the widget files are in the package')

  // No COLLAB_DESKTOP_WEB_ROOT: the app must find the files it was installed with.
  const env = { COLLAB_DESKTOP_DATA_DIR: dataDir, RUST_LOG: 'info,tao=warn,wry=warn' }
  driver = await startDriver({ bin: TAURI_DRIVER, nativeDriver: WEBKIT_DRIVER, env, log: (line) => lines.push(String(line)) })
  session = await Session.start(driver.url, bin)
  const state = () => session.exec(`return {
    ready: document.body.dataset.ready || null,
    title: document.title,
    widgetMissing: !document.querySelector('#widget-missing').hidden,
    status: document.querySelector('collab-textarea')?.shadowRoot?.querySelector('[part=root]')?.dataset.status || null
  }`)
  let s = await waitFor('the installed app\'s window', async () => { const s = await state(); return s.ready === 'true' && s }, 30000, 150)
  assert.equal(s.title, PRODUCT)
  assert.equal(s.widgetMissing, false, 'the window found the widget')
  // The widget's files, served by the installed app's own server, from the package.
  const served = await session.run(`const res = await fetch('/collab-textarea/index.js'); return { status: res.status, type: res.headers.get('content-type') }`)
  assert.equal(served.status, 200)
  assert.match(served.type, /javascript/)
  await session.type(await session.find('#new-title'), 'Installed')
  await session.click(await session.find('#new-doc'))
  s = await waitFor('the widget to connect in the installed app', async () => { const s = await state(); return s.status === 'connected' && s }, 20000, 150)
  const logged = lines.join('')
  assert.ok(logged.includes(webRoot), `the app used the packaged widget files (${webRoot}); its log:\n${logged.slice(-2000)}`)
  fs.mkdirSync(SHOTS, { recursive: true })
  fs.writeFileSync(path.join(SHOTS, '9-installed-from-deb.png'), await session.screenshot())
  await session.exec('window.__TAURI_INTERNALS__.invoke("quit"); return true').catch(() => {})
  await session.end()
  session = null
})
