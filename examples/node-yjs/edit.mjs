#!/usr/bin/env node
// A stock Yjs client editing the same document as the <collab-textarea> widgets.
//
//   node edit.mjs [SERVER] [DOC] [TEXT] [--watch SECONDS]
//   node edit.mjs ws://127.0.0.1:8787/sync notes "some text"
//   node edit.mjs ws://127.0.0.1:8787/sync notes --watch 60
//
// Connects, waits for the initial sync, appends TEXT as a new line (if given), waits until
// the server says the edit is on disk, prints the document's text, then either exits or, with
// --watch, prints every remote change for SECONDS seconds.
//
// Nothing here is specific to collab-textarea except two conventions: the shared text is the
// Y.Text named "content", and the server is at ws://HOST:PORT/sync (y-websocket appends
// "/DOC"). The durable acknowledgement is optional (see `DurableAckSocket`).

import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const usage = 'usage: node edit.mjs [SERVER] [DOC] [TEXT] [--watch SECONDS]'
const SYNC_TIMEOUT_MS = 10_000
const SAVE_TIMEOUT_MS = 10_000

// ---------------------------------------------------------------------------------------
// Arguments

const positional = []
let watchSeconds = 0
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i]
  if (arg === '--watch') {
    watchSeconds = Number(process.argv[++i])
    if (!Number.isFinite(watchSeconds) || watchSeconds < 0) fail(`--watch needs a number of seconds\n${usage}`)
  } else if (arg === '-h' || arg === '--help') {
    console.log(usage)
    process.exit(0)
  } else {
    positional.push(arg)
  }
}
const [server = 'ws://127.0.0.1:8787/sync', doc = 'notes', text] = positional
if (!/^wss?:\/\//.test(server)) fail(`SERVER must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:8787/sync\n${usage}`)
if (!/^[A-Za-z0-9._-]{1,128}$/.test(doc)) fail(`DOC must be 1–128 of A-Z a-z 0-9 . _ -\n${usage}`)

function fail (message) {
  console.error(`edit.mjs: ${message}`)
  process.exit(1)
}

// ---------------------------------------------------------------------------------------
// Optional: the server's durable acknowledgement.
//
// With `?ext=1` the sync server tells each connection how many of its update-carrying
// messages (sync step 2 and sync update) are committed to disk: message tag 100, payload
// varUint(count). y-websocket does not know that message, so this WebSocket subclass counts
// what it sends and reads the acknowledgements; everything else is the stock client.

const MESSAGE_SYNC = 0
const SYNC_STEP_2 = 1
const SYNC_UPDATE = 2
const MESSAGE_DURABLE_ACK = 100

class DurableAckSocket extends WebSocket {
  /** Update-carrying messages sent on this connection. */
  sent = 0
  /** How many of them the server has committed. */
  acked = 0

  constructor (...args) {
    super(...args)
    this.addEventListener('message', ({ data }) => {
      const bytes = new Uint8Array(data)
      if (bytes[0] !== MESSAGE_DURABLE_ACK) return
      // tag • varUint8Array(payload): skip the payload's length, then read the count
      const [, afterLength] = readVarUint(bytes, 1)
      const [count] = readVarUint(bytes, afterLength)
      this.acked = Math.max(this.acked, count)
      this.emit('durable', this.acked) // ws sockets are Node EventEmitters
    })
  }

  send (data, ...rest) {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
    if (bytes[0] === MESSAGE_SYNC && (bytes[1] === SYNC_STEP_2 || bytes[1] === SYNC_UPDATE)) this.sent++
    return super.send(data, ...rest)
  }
}

/** Reads a lib0 varUint at `pos`: returns [value, position after it]. */
function readVarUint (bytes, pos) {
  let value = 0
  let shift = 0
  while (pos < bytes.length) {
    const byte = bytes[pos++]
    value += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) return [value, pos]
    shift += 7
  }
  throw new Error('truncated varUint')
}

// ---------------------------------------------------------------------------------------
// The client

const ydoc = new Y.Doc()
const content = ydoc.getText('content')
const provider = new WebsocketProvider(server, doc, ydoc, {
  WebSocketPolyfill: DurableAckSocket,
  params: { ext: '1' }
})
// The acknowledgement is read by DurableAckSocket; this only keeps y-websocket from logging
// "Unable to compute message" for it.
provider.messageHandlers[MESSAGE_DURABLE_ACK] = () => {}
provider.awareness.setLocalStateField('user', { name: 'edit.mjs', color: '#0e7490', colorLight: '#0e749033' })

/** Resolves when `check()` is true, testing it on each of `events`; rejects after `ms`. */
function until (what, ms, check, subscribe) {
  return new Promise((resolve, reject) => {
    if (check()) return resolve()
    const timer = setTimeout(() => {
      unsubscribe()
      reject(new Error(`timed out after ${ms / 1000} s ${what}`))
    }, ms)
    const unsubscribe = subscribe(() => {
      if (!check()) return
      clearTimeout(timer)
      unsubscribe()
      resolve()
    })
  })
}

try {
  await until(`connecting to ${server}/${doc} (is the sync server running?)`, SYNC_TIMEOUT_MS,
    () => provider.synced,
    (fn) => {
      provider.on('sync', fn)
      return () => provider.off('sync', fn)
    })
  console.error(`edit.mjs: synced with ${server}/${doc}`)

  if (text !== undefined) {
    const current = content.toString()
    const line = (current === '' || current.endsWith('\n') ? '' : '\n') + text
    content.insert(content.length, line)
    const ws = provider.ws
    await until('waiting for the server to commit the edit', SAVE_TIMEOUT_MS,
      () => ws.acked >= ws.sent,
      (fn) => {
        ws.on('durable', fn)
        return () => ws.off('durable', fn)
      })
    console.error(`edit.mjs: appended ${JSON.stringify(text)}; the server has it on disk`)
  }

  console.log(content.toString())
} catch (error) {
  provider.destroy()
  fail(error.message)
}

if (watchSeconds > 0) {
  console.error(`edit.mjs: watching ${doc} for ${watchSeconds} s (Ctrl-C stops)`)
  content.observe((event, transaction) => {
    if (transaction.local) return
    let index = 0
    for (const op of event.delta) {
      if (op.retain) index += op.retain
      if (op.insert) {
        console.log(`+ at ${index}: ${JSON.stringify(op.insert)}`)
        index += op.insert.length
      }
      if (op.delete) console.log(`- at ${index}: ${op.delete} characters`)
    }
  })
  const stop = () => {
    console.error('edit.mjs: final text:')
    console.log(content.toString())
    provider.destroy()
    ydoc.destroy()
    process.exit(0)
  }
  setTimeout(stop, watchSeconds * 1000)
  process.on('SIGINT', stop)
} else {
  provider.destroy()
  ydoc.destroy()
}
