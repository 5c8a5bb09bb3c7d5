// The benchmark page (scenario e): the collab-textarea widget and a yjs 13.6.33 baseline — a
// Y.Doc + Y.Text bound to a plain <textarea> the straightforward way — in one page. run.mjs
// calls the functions on `window.bench` one at a time; every time is `performance.now()` here.
//
// What "produced its Yjs update" means for both: the moment the binding hands an update
// message (y-protocols sync Update, bytes 0, 2) to `WebSocket.prototype.send`. The widget
// (debounce 0) sends each local edit at once; the baseline sends each `update` event at once.
// Recording it wraps `send` for every socket of the page; nothing else is changed.

/* global performance */

import { readSync, readSyncAll, readVarUint, syncFrame } from './sync-frames.mjs'

const sent = { widget: [], yjs: [] }
const nativeSend = WebSocket.prototype.send
WebSocket.prototype.send = function (data) {
  if (data instanceof Uint8Array && data[0] === 0 && data[1] === 2) {
    const who = this.__benchRole ?? 'widget'
    sent[who].push(performance.now())
  }
  return nativeSend.call(this, data)
}

// Writes of this device's copy (the widget's IndexedDB `put`s), recorded the same way: when
// each started, how long the `put` call itself took (the value is cloned there) and its bytes.
const puts = []
const nativePut = IDBObjectStore.prototype.put
IDBObjectStore.prototype.put = function (value, key) {
  const t0 = performance.now()
  try {
    return nativePut.call(this, value, key)
  } finally {
    puts.push({ at: t0, ms: performance.now() - t0, bytes: value?.byteLength ?? 0 })
  }
}

// ---------------------------------------------------------------------------------------------
// The yjs baseline binding.

let Y = null
async function loadYjs () {
  if (!Y) Y = await import('yjs')
  return Y
}

/**
 * A Y.Text bound to `textarea`: input → one splice (common prefix/suffix, caret-aware, as the
 * widget does) → Y.Text; remote changes → `setRangeText` per delta run, keeping the selection.
 * Each local update is sent on `socket` (when given) as a sync Update message.
 */
class YBinding {
  constructor (Y, textarea, socket) {
    this.doc = new Y.Doc()
    this.text = this.doc.getText('content')
    this.textarea = textarea
    this.shown = textarea.value
    this.socket = socket
    this.onInput = () => this.input()
    textarea.addEventListener('input', this.onInput)
    this.doc.on('update', (update, origin) => {
      if (origin !== 'remote' && this.socket) this.socket.send(syncFrame(2, update))
    })
    this.text.observe((event, txn) => {
      if (txn.origin !== 'remote') return
      const ta = this.textarea
      let start = ta.selectionStart
      let end = ta.selectionEnd
      let pos = 0
      for (const op of event.delta) {
        if (op.retain) pos += op.retain
        else if (op.delete) {
          ta.setRangeText('', pos, pos + op.delete)
          if (start > pos) start = Math.max(pos, start - op.delete)
          if (end > pos) end = Math.max(pos, end - op.delete)
        } else if (op.insert) {
          ta.setRangeText(op.insert, pos, pos)
          if (start > pos) start += op.insert.length
          if (end > pos) end += op.insert.length
          pos += op.insert.length
        }
      }
      ta.setSelectionRange(start, end)
      this.shown = ta.value
    })
  }

  input () {
    const old = this.shown
    const value = this.textarea.value
    const caret = this.textarea.selectionEnd
    if (old === value) return
    const shorter = Math.min(old.length, value.length)
    let suffix = 0
    const tail = Math.min(shorter, Math.max(0, value.length - caret))
    while (suffix < tail && old.charCodeAt(old.length - 1 - suffix) === value.charCodeAt(value.length - 1 - suffix)) suffix++
    let prefix = 0
    const head = shorter - suffix
    while (prefix < head && old.charCodeAt(prefix) === value.charCodeAt(prefix)) prefix++
    const del = old.length - prefix - suffix
    const ins = value.slice(prefix, value.length - suffix)
    this.doc.transact(() => {
      if (del > 0) this.text.delete(prefix, del)
      if (ins.length > 0) this.text.insert(prefix, ins)
    }, 'input')
    this.shown = value
  }

  applyRemote (update) {
    Y.applyUpdate(this.doc, update, 'remote')
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

const $ = (id) => document.getElementById(id)

function freshTextarea (id) {
  const old = $(id)
  const ta = document.createElement('textarea')
  ta.id = id
  ta.rows = 8
  ta.cols = 60
  old.replaceWith(ta)
  return ta
}

function freshHost () {
  const old = $('widget-host')
  const host = document.createElement('div')
  host.id = 'widget-host'
  old.replaceWith(host)
  return host
}

function widgetTextarea (host) {
  return host.shadowRoot.querySelector('[part~="textarea"]')
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0))

function openSocket (url, role) {
  const ws = new WebSocket(url)
  ws.binaryType = 'arraybuffer'
  ws.__benchRole = role
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws)
    ws.onerror = () => reject(new Error(`cannot open ${url}`))
  })
}

async function widgetMount (options) {
  const { mount } = await import('/collab-textarea/index.js')
  const host = freshHost()
  const handle = await mount(host, { debounce: 0, ...options })
  return { handle, host }
}

function waitStatus (handle, status) {
  if (handle.status() === status) return Promise.resolve()
  return new Promise((resolve) => {
    const off = handle.on('status', (d) => {
      if (d.status === status) { off(); resolve() }
    })
  })
}

/** The widget's last `collab-save` detail, and a wait for its `local` (where the unsaved
 *  changes are: 'device' once the copy on this device holds everything). */
function trackSave (handle) {
  const seen = { local: null }
  const waiting = []
  handle.on('save', (d) => {
    seen.local = d.local
    for (const w of waiting.splice(0)) if (!w(d.local)) waiting.push(w)
  })
  seen.until = (local, ms) => seen.local === local
    ? Promise.resolve()
    : new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the save line's local did not become '${local}' in ${ms} ms (it is '${seen.local}')`)), ms)
      waiting.push((now) => { if (now !== local) return false; clearTimeout(timer); resolve(); return true })
    })
  return seen
}

/** From now on, every WebSocket the page opens records when it was created, opened and got
 *  its first message (`performance.now()`); the widget's own handlers are untouched. */
const sockets = []
function traceSockets () {
  if (window.WebSocket.__traced) return
  const Native = window.WebSocket
  class TracedWebSocket extends Native {
    constructor (...args) {
      super(...args)
      const rec = { created: performance.now(), open: null, message: null }
      sockets.push(rec)
      this.addEventListener('open', () => { rec.open ??= performance.now() })
      this.addEventListener('message', () => { rec.message ??= performance.now() })
    }
  }
  TracedWebSocket.__traced = true
  window.WebSocket = TracedWebSocket
}

/** Resolves once the widget's textarea `ta` shows `length` characters. */
function untilLength (handle, ta, length) {
  if (ta.value.length === length) return Promise.resolve()
  return new Promise((resolve) => {
    const off = handle.on('text', () => { if (ta.value.length === length) { off(); resolve() } })
  })
}

/** Sends SyncStep1 on `ws` and resolves once the server's SyncStep2 is in binding `b`'s
 *  document (`Y.applyUpdate`, origin 'load') and its textarea (`value` set once); answers the
 *  server's SyncStep1 meanwhile. */
function syncYjs (ws, b) {
  return new Promise((resolve) => {
    ws.onmessage = (event) => {
      const m = readSync(event.data)
      if (m && m[0] === 1) {
        Y.applyUpdate(b.doc, m[1], 'load')
        b.textarea.value = b.text.toString()
        b.shown = b.textarea.value
        resolve()
      } else if (m && m[0] === 0) {
        ws.send(syncFrame(1, Y.encodeStateAsUpdate(b.doc, m[1])))
      }
    }
    nativeSend.call(ws, new Uint8Array([0, 0, 1, 0]))
  })
}

async function fetchBytes (url) {
  return new Uint8Array(await (await fetch(url)).arrayBuffer())
}

/** The updates file: varUint length, bytes, repeated. */
async function fetchUpdates (url) {
  const all = await fetchBytes(url)
  const out = []
  let pos = 0
  while (pos < all.length) {
    const [len, start] = readVarUint(all, pos)
    out.push(all.subarray(start, start + len))
    pos = start + len
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// The measurements.

window.bench = {
  /** Cold load, widget: import the package (JS + wasm), mount on a document the sync server
   *  holds, until the textarea shows all `length` characters. */
  async coldWidget ({ server, doc, length }) {
    const t0 = performance.now()
    const mod = await import('/collab-textarea/index.js')
    await mod.ready()
    const tCode = performance.now()
    const host = freshHost()
    const handle = await mod.mount(host, { server, doc, debounce: 0 })
    const tMounted = performance.now()
    const ta = widgetTextarea(host)
    await untilLength(handle, ta, length)
    const tEnd = performance.now()
    const text = ta.value
    handle.unmount()
    return { total_ms: tEnd - t0, code_ms: tCode - t0, mount_ms: tMounted - tCode, doc_ms: tEnd - tCode, text }
  },

  /** Cold load, yjs: import yjs (ES modules: yjs + lib0), connect to the same server, SyncStep1
   *  → SyncStep2, `Y.applyUpdate`, set the textarea. */
  async coldYjs ({ server, doc, length }) {
    const t0 = performance.now()
    await loadYjs()
    const tCode = performance.now()
    const ta = freshTextarea('yjs-textarea')
    const ws = await openSocket(`${server}/${doc}`, 'yjs')
    await syncYjs(ws, new YBinding(Y, ta, null))
    const tEnd = performance.now()
    ws.close()
    const text = ta.value
    return { total_ms: tEnd - t0, code_ms: tCode - t0, mount_ms: 0, doc_ms: tEnd - tCode, text, ok: text.length === length }
  },

  /** Remote apply, widget: connect to the feed server's document `doc`, then ask it to send
   *  every update as its own sync Update message, `batch` messages per WebSocket frame (1: one
   *  frame per update), until the textarea shows `expected`, the final text. The widget applies
   *  the updates that arrived together as one batch and patches the textarea once per batch. */
  async remoteWidget ({ feed, doc, expected, batch }) {
    const { handle, host } = await widgetMount({ server: feed, doc })
    await waitStatus(handle, 'connected')
    const ta = widgetTextarea(host)
    // 'text' comes once per batch, so the run ends when the textarea holds the whole expected
    // text, however many events that took.
    let seen = 0
    const done = new Promise((resolve) => {
      const off = handle.on('text', () => {
        seen++
        if (ta.value === expected) { off(); resolve() }
      })
    })
    const t0 = performance.now()
    await fetch(`/go?doc=${doc}&batch=${batch}`)
    await done
    const ms = performance.now() - t0
    const text = ta.value
    handle.unmount()
    return { ms, text, events: seen }
  },

  /** Remote apply, yjs: the same frames from the same feed server on a page WebSocket, each
   *  decoded and applied with `Y.applyUpdate`, the binding patching the textarea per update. */
  async remoteYjs ({ feed, doc, count, batch }) {
    await loadYjs()
    const ta = freshTextarea('yjs-textarea')
    const ws = await openSocket(`${feed}/${doc}`, 'yjs')
    const b = new YBinding(Y, ta, null)
    let applied = 0
    const done = new Promise((resolve) => {
      ws.onmessage = (event) => {
        for (const m of readSyncAll(event.data)) {
          if (m[0] === 2) {
            b.applyRemote(m[1])
            if (++applied === count) resolve()
          }
        }
      }
    })
    const t0 = performance.now()
    await fetch(`/go?doc=${doc}&batch=${batch}`)
    await done
    const ms = performance.now() - t0
    ws.close()
    return { ms, text: ta.value }
  },

  /** Remote apply, yjs without a socket: the updates already in the page, applied in a loop. */
  async remoteYjsInPage ({ count }) {
    await loadYjs()
    const updates = await fetchUpdates('/data/updates.bin')
    if (updates.length !== count) throw new Error(`updates.bin has ${updates.length} updates`)
    const ta = freshTextarea('yjs-textarea')
    const b = new YBinding(Y, ta, null)
    const t0 = performance.now()
    for (const u of updates) b.applyRemote(u)
    const ms = performance.now() - t0
    return { ms, text: ta.value }
  },

  /** Where the widget's time goes, in part: it compares the whole document with the textarea
   *  after every remote update (`patch_textarea`'s guard builds the full string from yrs) and
   *  reads the whole textarea on every input. Times, at the loaded document (median of `n`):
   *  the widget's `handle.text()` (the same yrs `get_string` plus the copy to JS), yjs'
   *  `Y.Text.toString()`, and reading `textarea.value`. */
  async probe ({ server, docW, docY, length, n }) {
    const med = (f) => {
      const t = []
      for (let i = 0; i < n; i++) {
        const t0 = performance.now()
        f()
        t.push(performance.now() - t0)
      }
      t.sort((a, b) => a - b)
      return t[Math.floor(t.length / 2)]
    }
    const { handle, host } = await widgetMount({ server, doc: docW })
    const ta = widgetTextarea(host)
    await untilLength(handle, ta, length)
    const widgetText = med(() => handle.text())
    const widgetValue = med(() => ta.value)
    handle.unmount()
    await loadYjs()
    const yta = freshTextarea('yjs-textarea')
    const ws = await openSocket(`${server}/${docY}`, 'yjs')
    const b = new YBinding(Y, yta, null)
    await syncYjs(ws, b)
    ws.close()
    return { chars: length, widget_text_ms: widgetText, yjs_to_string_ms: med(() => b.text.toString()), widget_textarea_value_ms: widgetValue, yjs_textarea_value_ms: med(() => yta.value) }
  },

  /** Local replay through the textarea: each patch as `setRangeText` + caret + `input` event.
   *  `who`: 'widget' (mounted on the feed server, which swallows what it gets) or 'yjs'. */
  async localReplay ({ who, feed, doc }) {
    const patches = await (await fetch('/data/patches.json')).json()
    let ta, finish, handle
    if (who === 'widget') {
      const m = await widgetMount({ server: feed, doc })
      handle = m.handle
      await waitStatus(handle, 'connected')
      ta = widgetTextarea(m.host)
      finish = () => handle.text()
    } else {
      await loadYjs()
      ta = freshTextarea('yjs-textarea')
      const ws = await openSocket(`${feed}/${doc}`, 'yjs')
      const b = new YBinding(Y, ta, ws)
      finish = () => b.text.toString()
      window.__yjsBinding = b
    }
    ta.focus()
    sent[who].length = 0
    const t0 = performance.now()
    let i = 0
    for (const [pos, del, ins] of patches) {
      ta.setRangeText(ins, pos, pos + del, 'end')
      ta.dispatchEvent(new InputEvent('input', {
        bubbles: true,
        inputType: ins ? 'insertText' : 'deleteContentBackward',
        data: ins || null
      }))
      // Let the page breathe (sockets, timers) now and then, as between real keystrokes.
      if (++i % 1000 === 0) await tick()
    }
    const ms = performance.now() - t0
    const frames = sent[who].length
    window.__local = { who, handle, ta }
    return { ms, text: finish(), frames }
  },

  /** Loads `doc` from the sync server for `keystrokes` (instead of a `localReplay`): the widget
   *  mounted on it, or yjs bound to a textarea with its socket, until the textarea shows all
   *  `length` characters. `persist`: the widget's option (undefined: its default, a copy in
   *  IndexedDB; then this also waits until the copy holds the loaded document, so that typing
   *  does not start during that first write). */
  async loadForKeystrokes ({ who, server, doc, length, persist }) {
    let ta, handle
    if (who === 'widget') {
      const m = await widgetMount({ server, doc, ...(persist ? { persist } : {}) })
      handle = m.handle
      const save = trackSave(handle)
      ta = widgetTextarea(m.host)
      await untilLength(handle, ta, length)
      if (persist !== 'none') await save.until('device', 20_000)
    } else {
      await loadYjs()
      ta = freshTextarea('yjs-textarea')
      const ws = await openSocket(`${server}/${doc}`, 'yjs')
      const b = new YBinding(Y, ta, null)
      await syncYjs(ws, b)
      b.socket = ws // from now on, each local update is sent
    }
    window.__local = { who, handle, ta }
    return { text: ta.value }
  },

  /** Keystroke latency in the document the last `localReplay` or `loadForKeystrokes` left: `n`
   *  characters typed at `where` ('end' or 'middle'), one `input` event each, a short pause
   *  between them; the character is put in with `setRangeText` (the browser's part of typing),
   *  then the clock starts and the `input` event is dispatched. Per keystroke: dispatch → update handed to the socket (`update_ms`), and
   *  dispatch → `dispatchEvent` returned (`handler_ms`, everything the listeners did). */
  async keystrokes ({ who, where, n }) {
    const { ta } = window.__local
    if (window.__local.who !== who) throw new Error('keystrokes: run localReplay first')
    ta.focus()
    let pos = where === 'end' ? ta.value.length : Math.floor(ta.value.length / 2)
    const chars = ta.value.length
    const update = []
    const handler = []
    // Per keystroke: whether its input handler started a write of this device's copy.
    const wrote = []
    const putsBefore = puts.length
    for (let k = 0; k < n; k++) {
      await new Promise((resolve) => setTimeout(resolve, 2))
      sent[who].length = 0
      ta.setSelectionRange(pos, pos)
      ta.setRangeText('x', pos, pos, 'end')
      const p0 = puts.length
      const t0 = performance.now()
      ta.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText', data: 'x' }))
      const t1 = performance.now()
      if (sent[who].length !== 1) throw new Error(`${who}: ${sent[who].length} update frames for one keystroke`)
      update.push(sent[who][0] - t0)
      handler.push(t1 - t0)
      wrote.push(puts.length > p0)
      pos++
    }
    // Copy writes that started during the run, in a handler or after one (a write that ends
    // while changes are waiting starts the next at once, or after a pause if it was slow).
    const during = puts.slice(putsBefore)
    return { chars, update, handler, wrote, puts: during.length, put_ms: during.map((p) => p.ms), put_bytes: during.map((p) => p.bytes) }
  },

  /** Time to first text (this device's copy): import the package and `ready()`, then the clock
   *  runs from `mount()` to the textarea showing all `length` characters. The widget is left
   *  mounted for `firstTextEnd`. Also when the page's WebSockets were created, opened and got
   *  their first message, relative to `mount()` (null: not yet). */
  async firstText ({ server, doc, length, persist }) {
    traceSockets()
    const t0 = performance.now()
    const mod = await import('/collab-textarea/index.js')
    await mod.ready()
    const tCode = performance.now()
    const host = freshHost()
    const putsBefore = puts.length
    const tMount = performance.now()
    const handle = await mod.mount(host, { server, doc, debounce: 0, ...(persist ? { persist } : {}) })
    const save = trackSave(handle)
    const ta = widgetTextarea(host)
    await untilLength(handle, ta, length)
    const tText = performance.now()
    window.__first = { handle, save, ta, putsBefore }
    const rel = (t) => t === null ? null : t - tMount
    const s = sockets.filter((x) => x.created >= tMount)
    return {
      text_ms: tText - tMount,
      code_ms: tCode - t0,
      socket_created_ms: s.length ? rel(s[0].created) : null,
      socket_open_ms: s.length ? rel(s[0].open) : null,
      socket_message_ms: s.length ? rel(s[0].message) : null,
      text: ta.value
    }
  },

  /** Ends a `firstText`: optionally waits until the widget is connected (synced) and/or this
   *  device's copy holds everything, then unmounts; says how many copy writes were made. */
  async firstTextEnd ({ connected, copied }) {
    const { handle, save, putsBefore } = window.__first
    if (connected) {
      await Promise.race([waitStatus(handle, 'connected'),
        new Promise((resolve, reject) => setTimeout(() => reject(new Error('not connected in 20 s')), 20_000))])
    }
    if (copied) await save.until('device', 20_000)
    const status = handle.status()
    handle.unmount()
    return { status, puts: puts.length - putsBefore }
  }
}
