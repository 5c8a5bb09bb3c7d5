// y-protocols sync frames by hand (lib0 varuints), as a y-websocket provider sends them. Shared
// by run.mjs (Node) and page.js (the page, which loads it as /sync-frames.mjs).

export function varUint (n) {
  const out = []
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f))
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** The varuint at `pos` of `bytes`: `[value, position after it]`. */
export function readVarUint (bytes, pos) {
  let value = 0
  let mul = 1
  for (;;) {
    const x = bytes[pos++]
    value += (x & 0x7f) * mul
    if (x < 0x80) return [value, pos]
    mul *= 128
  }
}

/** A sync message of `type` (0 SyncStep1, 1 SyncStep2, 2 Update) carrying `bytes`. */
export function syncFrame (type, bytes) {
  const head = [0, type, ...varUint(bytes.length)]
  const out = new Uint8Array(head.length + bytes.length)
  out.set(head, 0)
  out.set(bytes, head.length)
  return out
}

/** `[type, payload]` of the first sync message in a frame, or null for anything else
 *  (awareness, acks). */
export function readSync (buf) {
  for (const m of readSyncAll(buf)) return m
  return null
}

/** Every sync message of a frame (y-protocols allows several in one frame; the widget reads
 *  them all, and so does the baseline). Stops at the first message that is not sync. */
export function * readSyncAll (buf) {
  const b = new Uint8Array(buf)
  let pos = 0
  while (pos < b.length && b[pos] === 0) {
    const type = b[pos + 1]
    const [len, start] = readVarUint(b, pos + 2)
    yield [type, b.subarray(start, start + len)]
    pos = start + len
  }
}
