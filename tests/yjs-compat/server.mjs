// Shared by the test files here: event-driven waiting and the sync-server child process.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
/** Binary under test: $SYNC_SERVER_BIN, default <repo>/target/debug/sync-server. */
export const SERVER_BIN = process.env.SYNC_SERVER_BIN
  ? path.resolve(process.env.SYNC_SERVER_BIN)
  : path.resolve(HERE, '../../target/debug/sync-server')
export const WAIT_MS = 15_000 // cap on any single wait

/** Subscribes `fn` to `event` on `target`; 'observe' means a Yjs type's observe(). */
export function subscribe (target, event, fn) {
  if (event === 'observe') {
    target.observe(fn)
    return () => target.unobserve(fn)
  }
  target.on(event, fn)
  return () => target.off(event, fn)
}

/**
 * Resolves once `predicate()` is true. It is checked now and again every time one of
 * `events` (a list of [target, eventName] pairs) fires. Rejects after `timeoutMs`, or
 * if the predicate throws.
 */
export function waitFor (what, predicate, events, timeoutMs = WAIT_MS) {
  return new Promise((resolve, reject) => {
    let settled = false
    const unsubscribers = []
    const finish = (error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      for (const unsubscribe of unsubscribers) unsubscribe()
      if (error) reject(error)
      else resolve()
    }
    const check = () => {
      try {
        if (predicate()) finish()
      } catch (error) {
        finish(error)
      }
    }
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs
    )
    for (const [target, event] of events) unsubscribers.push(subscribe(target, event, check))
    check()
  })
}

/**
 * Starts the server on a free port, with `env` added to this process's environment, and
 * resolves once it printed its listening line.
 */
export async function startServer (dataFile, env = {}) {
  const child = spawn(SERVER_BIN, ['--listen', '127.0.0.1:0', '--data', dataFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env }
  })
  const server = { child, port: 0, stdoutLines: [], stderrLines: [], spawnError: null }
  child.on('error', (error) => { server.spawnError = error })
  readline.createInterface({ input: child.stderr }).on('line', (l) => server.stderrLines.push(l))
  const stdout = readline.createInterface({ input: child.stdout })
  stdout.on('line', (l) => server.stdoutLines.push(l))

  await waitFor('the server to print its listening line', () => {
    if (server.spawnError) throw server.spawnError
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited early (code ${child.exitCode}, signal ${child.signalCode});` +
        ` stderr:\n${server.stderrLines.join('\n')}`)
    }
    return server.stdoutLines.length > 0
  }, [[stdout, 'line'], [child, 'exit'], [child, 'error']])

  const match = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(server.stdoutLines[0])
  assert.ok(match, `unexpected first stdout line: ${JSON.stringify(server.stdoutLines[0])}`)
  server.port = Number(match[1])
  return server
}

export const hasExited = (server) => server.child.exitCode !== null || server.child.signalCode !== null

/** Sends SIGTERM and resolves with how the process ended (after its stdio closed). */
export async function stopServer (server) {
  const closed = new Promise((resolve) => server.child.once('close', resolve))
  server.child.kill('SIGTERM')
  await waitFor('the server to exit after SIGTERM', () => hasExited(server), [[server.child, 'exit']])
  await closed
  return { code: server.child.exitCode, signal: server.child.signalCode }
}
