// The PostgreSQL and redis-server the cluster tests use (here and in tests/browser), through
// scripts/services.sh, which alone knows how to start and stop them. Under scripts/test.sh the
// shared ones it started (COLLAB_TEST_POSTGRES_URL, COLLAB_TEST_REDIS_URL): a test gets a fresh
// database of its own, and on Redis, whose pub/sub channels ignore database numbers, document
// names of its own. Run on their own, or for a test that stops a server, private ones under
// <repo>/target/, stopped and removed by `stop()` (or when this process exits).

import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const script = path.join(repo, 'scripts/services.sh')

/** Runs services.sh with `args`; its output, trimmed. Throws with its stderr on failure. */
function services (...args) {
  return execFileSync('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    .toString().trim()
}

/** Directories of private servers still running, stopped if this process exits first. */
const running = new Set()
process.on('exit', () => {
  for (const dir of running) {
    try { services('stop', dir) } catch {}
  }
})

/** Starts `service` ('postgres' or 'redis') of its own; its URL, `halt`, `resume` and `stop`. */
function startPrivate (service) {
  fs.mkdirSync(path.join(repo, 'target'), { recursive: true })
  const dir = fs.mkdtempSync(path.join(repo, 'target', 'services-'))
  running.add(dir)
  let env
  try {
    env = Object.fromEntries(services('start', dir, service).split('\n').map((l) => l.split('=', 2)))
  } catch (error) {
    services('stop', dir)
    running.delete(dir)
    throw error
  }
  return {
    url: service === 'postgres' ? env.COLLAB_TEST_POSTGRES_URL : env.COLLAB_TEST_REDIS_URL,
    halt: () => services('halt', dir, service),
    resume: () => services('resume', dir, service),
    stop () {
      services('stop', dir)
      running.delete(dir)
    }
  }
}

let databases = 0
/** Different in every process, so that runs sharing one server never meet. */
export const runId = `${process.pid}_${Date.now().toString(36)}`

/**
 * A fresh database; resolves with its URL and `stop()`. With `{ own: true }` on a server of its
 * own, which `halt()` stops (a fast shutdown) and `resume()` starts again on the same port and
 * data; otherwise on the shared server when there is one.
 */
export async function startPostgres ({ own = false } = {}) {
  const shared = process.env.COLLAB_TEST_POSTGRES_URL
  const server = own || !shared ? startPrivate('postgres') : { url: shared, stop () {} }
  try {
    const url = services('database', server.url, `test_${runId}_${++databases}`)
    return { ...server, url }
  } catch (error) {
    server.stop()
    throw error
  }
}

/**
 * Redis: the shared server when there is one (give each test its own document names:
 * `runId`), or else one of its own (always with `{ own: true }`). Resolves with its URL and
 * `stop()`.
 */
export async function startRedis ({ own = false } = {}) {
  const shared = process.env.COLLAB_TEST_REDIS_URL
  return own || !shared ? startPrivate('redis') : { url: shared, stop () {} }
}
