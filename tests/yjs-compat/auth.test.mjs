// Token auth with stock clients: a token minted by npm `jsonwebtoken` (HS256) lets a stock
// y-websocket client sync through a server started with --auth-secret; a bad token is refused
// with close code 4401 and the client learns nothing of the document.
//
// Binary under test: $SYNC_SERVER_BIN, default <repo>/target/debug/sync-server.
// All waits are event driven, each capped by WAIT_MS.

import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import jwt from 'jsonwebtoken'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { startServer, stopServer, waitFor } from './server.mjs'

const SECRET = 'node-compat-test-secret-at-least-32-bytes-long'

const mint = (claims, secret = SECRET) =>
  jwt.sign({ sub: 'ada', name: 'Ada', color: '#e5484d', access: 'write', ...claims }, secret, {
    algorithm: 'HS256',
    audience: 'collab-textarea',
    expiresIn: '10m'
  })

describe('sync-server with --auth-secret and stock y-websocket clients', () => {
  let dir, server, port
  const providers = []

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-auth-'))
    server = await startServer(path.join(dir, 'db.sqlite3'), {
      SYNC_SERVER_AUTH_SECRET: SECRET,
      RUST_LOG: 'info'
    })
    port = server.port
  })

  after(async () => {
    for (const { provider, doc } of providers) {
      provider.destroy()
      doc.destroy() // also stops the awareness timer
    }
    if (server) await stopServer(server)
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
    assert.ok(!server.stderrLines.some((line) => line.includes(bad.split('.')[2])), 'token not logged')
  })
})
