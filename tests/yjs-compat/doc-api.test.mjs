// The document API with stock clients: `PUT /api/docs/{doc}/text` merges with what a stock
// y-websocket client typed at the same time, `DELETE /api/docs/{doc}` closes a stock client
// with 4410 "document deleted", and a document exported (`GET .../update`, which stock Yjs
// reads) and imported (`POST .../update`) into a fresh server has the same text. History: a
// restore reaches a stock client at once and merges with what it typed offline, and an
// undelete brings the text back for stock clients.
//
// Binary under test: $SYNC_SERVER_BIN, default <repo>/target/debug/sync-server.
// All waits are event driven, each capped by WAIT_MS.

import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { WAIT_MS, startServer, stopServer, waitFor } from './server.mjs'

describe('the document API with stock Yjs clients', () => {
  let dir, server, fresh
  const clients = []

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-docapi-'))
    // Checkpoints after 0.2 s without edits, so versions appear while the test waits.
    server = await startServer(path.join(dir, 'a.sqlite3'), { SYNC_SERVER_CHECKPOINT_IDLE: '0.2' })
  })

  after(async () => {
    for (const { provider, doc } of clients) {
      provider.destroy()
      doc.destroy()
    }
    if (server) await stopServer(server)
    if (fresh) await stopServer(fresh)
    fs.rmSync(dir, { recursive: true, force: true })
  })

  const api = (srv, doc, rest = '') => `http://127.0.0.1:${srv.port}/api/docs/${doc}${rest}`

  const connect = (name) => {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`ws://127.0.0.1:${server.port}/sync`, name, doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true
    })
    clients.push({ provider, doc })
    return { doc, provider, text: doc.getText('content') }
  }

  const seen = (c, text) => waitFor(`a client to hold ${JSON.stringify(text)}`,
    () => c.text.toString() === text, [[c.doc, 'update']])

  const synced = (c) => waitFor('a client to sync', () => c.provider.synced, [[c.provider, 'sync']])

  it('PUT .../text merges with what a stock client typed at the same time', async () => {
    const a = connect('merge')
    await synced(a)
    a.text.insert(0, 'alpha beta gamma')
    const o = connect('merge')
    await seen(o, 'alpha beta gamma')
    // Offline for a moment: the typing reaches the server only after its edit.
    a.provider.disconnect()
    a.text.insert(8, 'XX')
    const put = await fetch(api(server, 'merge', '/text'), { method: 'PUT', body: 'alpha beta delta' })
    assert.equal(put.status, 204, await put.text())
    a.provider.connect()
    const merged = 'alpha beXXta delta'
    await seen(a, merged)
    await seen(o, merged)
    assert.equal(await (await fetch(api(server, 'merge', '/text'))).text(), merged)
  })

  it('DELETE closes a stock client with 4410 "document deleted"', async () => {
    const c = connect('doomed')
    await synced(c)
    c.text.insert(0, 'short-lived')
    const closed = new Promise((resolve) => {
      c.provider.on('connection-close', (event) => {
        c.provider.shouldConnect = false
        resolve(event)
      })
    })
    // Another client holds the text: the server has applied it (the delete waits for its write).
    const o = connect('doomed')
    await seen(o, 'short-lived')
    o.provider.destroy()
    const res = await fetch(api(server, 'doomed'), { method: 'DELETE' })
    assert.equal(res.status, 204)
    const event = await closed
    assert.equal(event.code, 4410)
    assert.equal(event.reason, 'document deleted')
    assert.equal((await fetch(api(server, 'doomed', '/text'))).status, 404, 'the name is free')
  })

  it('export then import into a fresh server gives the same text', async () => {
    const w = connect('moving')
    await synced(w)
    w.text.insert(0, 'héllo, wörld 😀\nsecond line')
    w.text.delete(0, 1)
    const expected = 'éllo, wörld 😀\nsecond line'
    const o = connect('moving')
    await seen(o, expected)
    const exported = await fetch(api(server, 'moving', '/update'))
    assert.equal(exported.status, 200)
    assert.equal(exported.headers.get('content-type'), 'application/octet-stream')
    const bytes = new Uint8Array(await exported.arrayBuffer())
    const check = new Y.Doc()
    Y.applyUpdate(check, bytes)
    assert.equal(check.getText('content').toString(), expected, 'stock Yjs reads the export')

    fresh = await startServer(path.join(dir, 'b.sqlite3'))
    const imported = await fetch(api(fresh, 'moved', '/update'), { method: 'POST', body: bytes })
    assert.equal(imported.status, 204, await imported.text())
    assert.equal(await (await fetch(api(fresh, 'moved', '/text'))).text(), expected)
    const bad = await fetch(api(fresh, 'moved', '/update'), { method: 'POST', body: 'not an update' })
    assert.equal(bad.status, 400)
    assert.match(await bad.text(), /invalid update/)
  })

  /** Polls the server's answer until `done(json)` holds (the checkpoint timer runs there). */
  const pollJson = async (what, url, done) => {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const json = await (await fetch(url)).json()
      if (done(json)) return json
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(json)}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  it('a restore reaches a stock client at once and merges with its offline typing', async () => {
    const a = connect('history')
    await synced(a)
    a.text.insert(0, 'first draft')
    const o = connect('history')
    await seen(o, 'first draft')
    const [first] = await pollJson('a first version', api(server, 'history', '/versions'), (v) => v.length >= 1)
    assert.equal(first.kind, 'auto')
    a.text.insert(11, ', then more')
    await seen(o, 'first draft, then more')
    await pollJson('a second version', api(server, 'history', '/versions'), (v) => v.length >= 2)
    a.provider.disconnect()
    a.text.insert(0, '>> ')
    const res = await fetch(api(server, 'history', '/restore'), {
      method: 'POST',
      body: JSON.stringify({ version: first.id })
    })
    const body = await res.text()
    assert.equal(res.status, 200, body)
    assert.equal(JSON.parse(body).kind, 'restore')
    await seen(o, 'first draft')
    a.provider.connect()
    await seen(a, '>> first draft')
    await seen(o, '>> first draft')
    const text = await (await fetch(api(server, 'history', `/versions/${first.id}/text`))).text()
    assert.equal(text, 'first draft')
  })

  it('undelete brings a deleted document back for stock clients', async () => {
    const w = connect('lost')
    await synced(w)
    w.text.insert(0, 'do not lose me')
    const closed = new Promise((resolve) => {
      w.provider.on('connection-close', (event) => {
        w.provider.shouldConnect = false
        resolve(event)
      })
    })
    const o = connect('lost')
    await seen(o, 'do not lose me')
    o.provider.destroy()
    assert.equal((await fetch(api(server, 'lost'), { method: 'DELETE' })).status, 204)
    assert.equal((await closed).code, 4410)
    assert.equal((await fetch(api(server, 'lost', '/text'))).status, 404)
    const back = await fetch(api(server, 'lost', '/undelete'), { method: 'POST' })
    assert.equal(back.status, 204, await back.text())
    const r = connect('lost')
    await seen(r, 'do not lose me')
  })
})
