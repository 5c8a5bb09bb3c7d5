// A document written by a program, not a person: Yjs updates sent over a raw WebSocket as the
// sync protocol's Update messages, one message per update (so each must fit the server's
// message limit), resolved once the server's durable acknowledgement (`?ext=1`, tag 100,
// docs/protocol.md) covers every one of them.

import WebSocket from 'ws'
import { WAIT_MS } from './env.mjs'

/** Tag of the server's durable acknowledgement. */
const MSG_ACK = 100

function varUint (n) {
  const out = []
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f))
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

function readVarUint (bytes, at) {
  let n = 0
  let scale = 1
  for (;;) {
    const byte = bytes[at++]
    n += (byte & 0x7f) * scale
    if (!(byte & 0x80)) return [n, at]
    scale *= 128
  }
}

/** `sync • update • varUint8Array(update)`. */
export function updateMessage (update) {
  return Buffer.concat([Buffer.from([0, 2, ...varUint(update.length)]), Buffer.from(update)])
}

/** Sends `updates` (Uint8Arrays) to `{wsBase}/{doc}` in order and waits until all are durable. */
export async function upload (wsBase, doc, updates, timeoutMs = WAIT_MS) {
  const ws = new WebSocket(`${wsBase}/${doc}?ext=1`)
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`upload to ${doc}: no acknowledgement of all ${updates.length} updates within ${timeoutMs} ms`)), timeoutMs)
      let acked = 0
      ws.on('error', reject)
      ws.on('close', (code, reason) => reject(new Error(`upload to ${doc}: closed with ${code} ${reason} after ${acked} of ${updates.length} updates were acknowledged`)))
      ws.on('message', (data) => {
        if (data[0] !== MSG_ACK) return
        const [, at] = readVarUint(data, 1)
        acked = readVarUint(data, at)[0]
        if (acked >= updates.length) {
          clearTimeout(timer)
          resolve()
        }
      })
      ws.on('open', () => {
        for (const update of updates) ws.send(updateMessage(update))
      })
    })
  } finally {
    ws.removeAllListeners('close')
    ws.on('error', () => {})
    ws.close()
  }
}
