// Headless Chromium (driven over CDP by playwright-core, which downloads no browser of its own)
// and a page holding one widget, with helpers that read the widget through its documented DOM.

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { CHROME_BIN, SCREENSHOT_DIR, WAIT_MS } from './env.mjs'

const PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page-probe.js')

/** Flags for a quiet, sandbox-less headless Chromium (playwright adds --headless and a fresh
 *  temporary --user-data-dir per launch). */
export const CHROME_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run'
]

export async function launchBrowser () {
  if (!fs.existsSync(CHROME_BIN)) {
    throw new Error(`Chromium not found at ${CHROME_BIN}: apt-get install chromium, or set CHROME_BIN`)
  }
  return chromium.launch({ executablePath: CHROME_BIN, headless: true, args: CHROME_ARGS })
}

/**
 * A test page on the sync server's origin with one host element, where `mount()` of the package at
 * `/collab-textarea/index.js` (served by the server from WEB_ROOT) puts the widget.
 * `hostCss` is extra CSS of the host page; `hostTag` the element type of the host.
 */
function fixtureHtml ({ hostCss = '', hostTag = 'div' }) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>collab-textarea browser test</title>
<style>
  html { background: #f4f4f5 }
  body { margin: 0; padding: 24px; font: 15px/1.4 system-ui, sans-serif; color: #18181b }
  @media (prefers-color-scheme: dark) { html { background: #18181b } body { color: #e4e4e7 } }
  #frame { display: block; width: 600px; padding: 16px }
</style>
<style id="host-css">${hostCss}</style>
</head>
<body>
<main id="frame"><${hostTag} id="host"></${hostTag}></main>
<script type="module">
  window.__mount = async (options) => {
    const { mount } = await import('/collab-textarea/index.js')
    window.__handle = await mount(document.getElementById('host'), options)
  }
</script>
</body>
</html>`
}

/** The widget's state for a message: a long text (a large document) shortened to its length
 *  and ends. */
function brief (state) {
  if (typeof state?.text !== 'string' || state.text.length <= 400) return state
  const text = state.text
  return { ...state, text: `(${text.length} characters) ${JSON.stringify(text.slice(0, 100))} … ${JSON.stringify(text.slice(-100))}` }
}

/** One user's tab: its own browser context (like a separate person), one page, one widget. */
export class WidgetPage {
  /**
   * Opens a test page on `server`'s origin and mounts a widget on `doc`.
   * `options` go to `mount()` (debounce defaults to 0 here, server to the given sync server);
   * `page` options: `hostCss`, `hostTag`, `colorScheme`, `initScripts`, `mount: false` to mount later.
   */
  static async open (browser, server, options, pageOptions = {}) {
    const wp = await WidgetPage.blank(browser, options.name ?? 'page', pageOptions)
    // A document really loaded from the server, then rewritten: the page keeps the server's
    // origin and its loopback address space. (A page fulfilled by request interception would
    // count as public, and Chromium's local-network-access checks would block its WebSocket.)
    await wp.page.goto(`${server.httpUrl}/healthz`)
    await wp.page.setContent(fixtureHtml(pageOptions))
    await wp.page.evaluate(() => window.__ct.listen())
    if (pageOptions.mount !== false) {
      await wp.mount({ server: server.wsUrl, debounce: 0, ...options })
    }
    return wp
  }

  /** A context and page with the probe installed (and the scripts at the paths
   *  `initScripts`), nothing loaded yet. */
  static async blank (browser, label, { colorScheme = 'light', viewport = { width: 900, height: 700 }, initScripts = [] } = {}) {
    const context = await browser.newContext({ colorScheme, viewport })
    await context.addInitScript({ path: PROBE })
    for (const script of initScripts) await context.addInitScript({ path: script })
    const page = await context.newPage()
    return new WidgetPage(label, context, page)
  }

  constructor (label, context, page) {
    this.label = label
    this.context = context
    this.page = page
    /** CSS selector of the widget's host element; null: the first widget in the page. */
    this.host = null
    this.pageErrors = []
    this.console = []
    /** Every WebSocket the page opened (playwright's WebSocket objects). */
    this.sockets = []
    /** Binary frames the page sent, `{ at, url, bytes }` (`at`: Date.now() when seen here). */
    this.framesSent = []
    page.on('pageerror', (error) => this.pageErrors.push(String(error?.stack ?? error)))
    page.on('console', (msg) => this.console.push(`${msg.type()}: ${msg.text()}`))
    page.on('websocket', (ws) => {
      this.sockets.push(ws)
      ws.on('framesent', ({ payload }) => {
        if (typeof payload !== 'string') this.framesSent.push({ at: Date.now(), url: ws.url(), bytes: [...payload.subarray(0, 4)] })
      })
    })
    /** The widget's textarea (playwright's CSS selectors pierce open shadow roots). */
    this.textarea = page.locator('[part~="textarea"]')
  }

  /** The same page, looking at the widget whose host matches `selector` (pages with several). */
  widget (selector, label = `${this.label} ${selector}`) {
    const view = Object.create(this)
    view.host = selector
    view.label = label
    view.textarea = this.page.locator(selector).locator('[part~="textarea"]')
    return view
  }

  async mount (options) {
    await this.page.evaluate((opts) => window.__mount(opts), options)
    await this.waitState('the widget to mount', (s) => s.mounted)
  }

  /** The widget as a user sees it: see `state()` in page-probe.js. */
  state () {
    return this.page.evaluate((sel) => window.__ct.state(sel ?? undefined), this.host)
  }

  /**
   * Waits until `predicate(state, arg)` holds in the page. `predicate` is serialised, so it may
   * only use its arguments. On timeout the error names `what` and shows the widget's state.
   */
  async waitState (what, predicate, arg, timeoutMs = WAIT_MS) {
    // An uncaught error in the page (a wasm panic, a failed load) ends the wait at once.
    let onPageError
    const crashed = new Promise((resolve, reject) => {
      onPageError = (error) => reject(new Error(`uncaught error in the page: ${error?.message ?? error}`))
      if (this.pageErrors.length > 0) onPageError(this.pageErrors[0])
      else this.page.on('pageerror', onPageError)
    })
    try {
      await Promise.race([crashed, this.page.waitForFunction(([source, a, sel]) => {
        // eslint-disable-next-line no-eval
        const fn = (0, eval)(`(${source})`)
        return fn(window.__ct.state(sel ?? undefined), a)
      }, [predicate.toString(), arg, this.host], { timeout: timeoutMs, polling: 50 })])
    } catch (error) {
      let state = '(unavailable)'
      try { state = JSON.stringify(brief(await this.state())) } catch {}
      throw new Error(`${this.label}: waiting for ${what}: ${error.message.split('\n')[0]}\n  widget state: ${state}`)
    } finally {
      this.page.off('pageerror', onPageError)
    }
  }

  waitText (expected, what = `text ${JSON.stringify(expected)}`) {
    return this.waitState(`${what} in the textarea`, (s, e) => s.text === e, expected)
  }

  waitStatus (status, timeoutMs) {
    return this.waitState(`status "${status}"`, (s, e) => s.status === e, status, timeoutMs)
  }

  /** "Saved just now" / "Saved Ns ago" with data-save=saved. */
  waitSaved (timeoutMs) {
    return this.waitState('the save line to say "Saved…"',
      (s) => s.save === 'saved' && /^Saved\b/.test(s.saveLine), undefined, timeoutMs)
  }

  /** Names (from avatar titles, " (you)" removed) of the users the presence list shows. */
  static avatarNames (state) {
    return state.avatars.map((a) => a.title.replace(/ \(you\)$/, '')).sort()
  }

  waitAvatars (names, what = `presence to list exactly ${names.join(', ')}`) {
    return this.waitState(what, (s, expected) => JSON.stringify(
      s.avatars.map((a) => (a.title ?? '').replace(/ \(you\)$/, '')).sort()) === JSON.stringify(expected),
    [...names].sort())
  }

  /** The full text as the textarea shows it. */
  async text () {
    return (await this.state()).text
  }

  /** Focuses the textarea and puts the caret (or a selection) at `start`..`end` with the keyboard,
   *  as a user would: Ctrl+Home, then arrows (one press per character; no surrogate pairs). */
  async placeCaret (start, end = start) {
    await this.textarea.focus()
    await this.page.keyboard.press('Control+Home')
    for (let i = 0; i < start; i++) await this.page.keyboard.press('ArrowRight')
    for (let i = start; i < end; i++) await this.page.keyboard.press('Shift+ArrowRight')
    await this.waitState(`the selection to be ${start}..${end}`,
      (s, [a, b]) => s.selection[0] === a && s.selection[1] === b, [start, end])
  }

  /** Real key presses into the focused textarea at its caret. */
  async type (text) {
    await this.textarea.focus()
    await this.page.keyboard.type(text)
  }

  async press (key) {
    await this.textarea.focus()
    await this.page.keyboard.press(key)
  }

  /** Focuses the textarea, moves the caret to the end, and types. */
  async typeAtEnd (text) {
    await this.textarea.focus()
    await this.page.keyboard.press('Control+End')
    await this.page.keyboard.type(text)
  }

  /** Saves a picture of the widget (on the test page: with a margin of the host page) to
   *  $ARTIFACTS/browser/NAME.png. CSS animations (the pulsing dot) are stopped for the shot. */
  async screenshot (name) {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true })
    const file = path.join(SCREENSHOT_DIR, `${name}.png`)
    await this.page.locator(this.host ?? '#frame').screenshot({ path: file, animations: 'disabled' })
    return file
  }

  /** Saves the whole visible page to $ARTIFACTS/browser/NAME.png. */
  async screenshotPage (name) {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true })
    const file = path.join(SCREENSHOT_DIR, `${name}.png`)
    await this.page.screenshot({ path: file, animations: 'disabled' })
    return file
  }

  /** Lines to print when a test fails. */
  async diagnostics () {
    const lines = []
    try { lines.push(`${this.label} widget state: ${JSON.stringify(brief(await this.state()))}`) } catch {}
    for (const e of this.pageErrors) lines.push(`${this.label} page error: ${e}`)
    for (const c of this.console.slice(-15)) lines.push(`${this.label} console ${c}`)
    return lines
  }

  async close () {
    await this.context.close().catch(() => {})
  }
}
