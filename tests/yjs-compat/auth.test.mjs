// Token auth with stock clients: a token minted by npm `jsonwebtoken` (HS256) lets a stock
// y-websocket client sync through a server started with --auth-secret; a bad token is refused
// with close code 4401 and the client learns nothing of the document.
//
// Binary under test: $SYNC_SERVER_BIN, default <repo>/target/debug/sync-server.
// All waits are event driven, each capped by WAIT_MS.

import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import jwt from 'jsonwebtoken'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const SERVER_BIN = process.env.SYNC_SERVER_BIN
  ? path.resolve(process.env.SYNC_SERVER_BIN)
  : path.resolve(HERE, '../../target/debug/sync-server')
const SECRET = 'node-compat-test-secret-at-least-32-bytes-long'
const WAIT_MS = 15_000

/** Resolves once `predicate()` holds, checked now and on every `[target, event]` firing. */
function waitFor (what, predicate, events) {
  return new Promise((resolve, reject) => {
    const offs = []
    const finish = (error) => {
      clearTimeout(timer)
      for (const off of offs) off()
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
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}`)), WAIT_MS)
    for (const [target, event] of events) {
      target.on(event, check)
      offs.push(() => target.off(event, check))
    }
    check()
  })
}

const mint = (claims, secret = SECRET) =>
  jwt.sign({ sub: 'ada', name: 'Ada', color: '#e5484d', access: 'write', ...claims }, secret, {
    algorithm: 'HS256',
    audience: 'collab-textarea',
    expiresIn: '10m'
  })

describe('sync-server with --auth-secret and stock y-websocket clients', () => {
  let dir, child, port
  const stderr = []
  const providers = []

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-auth-'))
    child = spawn(SERVER_BIN, ['--listen', '127.0.0.1:0', '--data', path.join(dir, 'db.sqlite3')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SYNC_SERVER_AUTH_SECRET: SECRET, RUST_LOG: 'info' }
    })
    readline.createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l))
    const lines = readline.createInterface({ input: child.stdout })
    const first = []
    lines.on('line', (l) => first.push(l))
    await waitFor('the listening line', () => {
      if (child.exitCode !== null) throw new Error(`server exited: ${stderr.join('\n')}`)
      return first.length > 0
    }, [[lines, 'line'], [child, 'exit']])
    port = Number(/:(\d+)$/.exec(first[0])[1])
  })

  after(async () => {
    for (const { provider, doc } of providers) {
      provider.destroy()
      doc.destroy() // also stops the awareness timer
    }
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    fs.rmSync(dir, { recursive: true, force: true })
  })

  const connect = (token) => {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`ws://127.0.0.1:${port}/sync`, 'notes', doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true,
      params: { token }
    })
    providers.push({ provider, doc })
    return { doc, provider, text: doc.getText('content') }
  }

  it('a jsonwebtoken HS256 token lets stock clients sync', async () => {
    const a = connect(mint({ docs: ['notes'] }))
    const b = connect(mint({ sub: 'bob', name: 'Bob', docs: ['not*'] }))
    await waitFor('both to sync', () => a.provider.synced && b.provider.synced,
      [[a.provider, 'sync'], [b.provider, 'sync']])
    a.text.insert(0, 'hello from a token')
    await waitFor('b to see the edit', () => b.text.toString() === 'hello from a token',
      [[b.provider, 'sync'], [b.doc, 'update']])
    const res = await fetch(`http://127.0.0.1:${port}/api/docs/notes/text`, {
      headers: { authorization: `Bearer ${mint({ docs: ['notes'], access: 'read' })}` }
    })
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'hello from a token')
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/docs/notes/text`)).status, 401)
  })

  it('a token signed with another secret is refused with 4401 and sees nothing', async () => {
    const bad = mint({ docs: ['notes'] }, 'another-secret-that-is-also-32-bytes-long')
    const socket = new WebSocket(`ws://127.0.0.1:${port}/sync/notes?token=${bad}`)
    const frames = []
    socket.on('message', (data) => frames.push(new Uint8Array(data)))
    let closed = null
    socket.on('close', (code) => { closed = code })
    await waitFor('the server to close', () => closed !== null, [[socket, 'close']])
    assert.equal(closed, 4401)
    assert.equal(frames.length, 1, 'only the permission-denied message')
    assert.deepEqual([...frames[0].slice(0, 2)], [2, 0], 'auth • permission denied')
    // The log says why, never the token.
    assert.ok(!stderr.some((line) => line.includes(bad.split('.')[2])), 'token not logged')
  })
})
