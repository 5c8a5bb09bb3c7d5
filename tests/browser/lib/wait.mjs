// Waiting for a condition in the test process: poll until it holds, fail with a clear message
// after a generous cap. (Conditions inside a page are waited for with page.waitForFunction.)

import { setTimeout as delay } from 'node:timers/promises'
import { WAIT_MS } from './env.mjs'

/**
 * Resolves with the first truthy value of `probe()` (which may be async). Rejects when `what`
 * has not come true within `timeoutMs`; the message names the last value seen.
 */
export async function waitUntil (what, probe, { timeoutMs = WAIT_MS, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs
  let last
  for (;;) {
    last = await probe()
    if (last) return last
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (last === undefined ? '' : ` (last value: ${JSON.stringify(last)})`))
    }
    await delay(intervalMs)
  }
}

/** Resolves when `emitter` emits `event`, or rejects after the cap. */
export function once (emitter, event, what, timeoutMs = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, onEvent)
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
    }, timeoutMs)
    const onEvent = (...args) => {
      clearTimeout(timer)
      resolve(args)
    }
    emitter.once(event, onEvent)
  })
}
