// Scale-out with stock clients: three sync-server instances sharing one PostgreSQL database
// and one redis-server (see services.mjs: the shared ones scripts/test.sh started, or private
// ones); a stock y-websocket client on each
// instance edits one document at the same time. All three converge on the same text with every
// edit in it, each sees the other two users' presence, and a client that joins later on any
// instance loads that text.
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
import { startServer, stopServer, waitFor } from './server.mjs'
import { runId, startPostgres, startRedis } from './services.mjs'

const NAMES = ['Ada', 'Grace', 'Edsger']
// The document: a name of this run's own, since other runs may relay through the same Redis.
const DOC = `notes-${runId}`

describe('three instances on PostgreSQL and Redis, a stock y-websocket client on each', () => {
  let dir, postgres, redis
  const servers = []
  const clients = []

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-cluster-'))
    postgres = await startPostgres()
    redis = await startRedis()
    for (let i = 0; i < 3; i++) {
      // --data still names where each instance keeps its crash journal.
      servers.push(await startServer(path.join(dir, `instance-${i}.sqlite3`), {
        SYNC_SERVER_POSTGRES: postgres.url,
        SYNC_SERVER_REDIS: redis.url
      }))
    }
  })

  after(async () => {
    for (const { provider, doc } of clients) {
      provider.destroy()
      doc.destroy()
    }
    for (const server of servers) await stopServer(server)
    if (redis) await redis.stop()
    if (postgres) postgres.stop()
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  const connect = (server, name) => {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(`ws://127.0.0.1:${server.port}/sync`, DOC, doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true
    })
    if (name) provider.awareness.setLocalStateField('user', { name })
    const client = { doc, provider, text: doc.getText('content') }
    clients.push(client)
    return client
  }
  const synced = (client) => waitFor('the sync handshake', () => client.provider.synced,
    [[client.provider, 'sync']])
  const names = (client) => [...client.provider.awareness.getStates()]
    .filter(([id]) => id !== client.doc.clientID)
    .map(([, state]) => state.user?.name)
    .filter(Boolean)
    .sort()

  it('converge on one text and see each other', async () => {
    const editors = servers.map((server, i) => connect(server, NAMES[i]))
    for (const editor of editors) await synced(editor)

    // Everyone types at once, at the start and at the end, several rounds.
    const words = []
    for (let round = 0; round < 5; round++) {
      editors.forEach((editor, i) => {
        const word = `<${NAMES[i]}${round}>`
        words.push(word)
        editor.doc.transact(() => {
          if (round % 2) editor.text.insert(0, word)
          else editor.text.insert(editor.text.length, word)
        })
      })
    }
    const converged = () => {
      const texts = editors.map((editor) => editor.text.toString())
      return texts.every((text) => text === texts[0]) &&
        words.every((word) => texts[0].split(word).length === 2)
    }
    await waitFor('all three texts to hold every word once, the same', converged,
      editors.map((editor) => [editor.text, 'observe']))

    for (const [i, editor] of editors.entries()) {
      const others = NAMES.filter((_, j) => j !== i).sort()
      await waitFor(`${NAMES[i]} to see ${others.join(' and ')}`,
        () => JSON.stringify(names(editor)) === JSON.stringify(others),
        [[editor.provider.awareness, 'change']])
    }

    // A client that joins later, on each instance, loads the same text.
    const expected = editors[0].text.toString()
    for (const server of servers) {
      const late = connect(server)
      await synced(late)
      assert.equal(late.text.toString(), expected)
    }
  })
})
