// A 40 MB document and stock Yjs clients: one client types it in 1 MB changes (each one
// message, under the server's 4 MiB limit), and a stock y-websocket client that joins later,
// and one that joins after a restart (the document now loaded from storage), each hold the
// whole text the moment their provider says it is synced: the server sends a document this
// large in pieces, the sync step 2 last. Nothing may log an error or a warning.

import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { startServer, stopServer, waitFor } from './server.mjs'

const DOC = 'forty-megabytes'
const SIZE = 40 * 1024 * 1024
const CHUNK = 1024 * 1024
const WAIT_MS = 240_000 // hang guard for moving 40 MB through a debug build

/** Lines of 64 bytes, each different, so a piece lost, doubled or out of place shows. */
function bigText () {
  const lines = []
  for (let line = 0, bytes = 0; bytes < SIZE; line++) {
    const l = `${String(line).padStart(10)} ${(line * 2654435761 % 4294967296).toString(16).padStart(12)} the quick brown fox jumps\n`
    lines.push(l)
    bytes += l.length
  }
  return lines.join('')
}

const clients = []
function connect (port) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`ws://127.0.0.1:${port}/sync`, DOC, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true
  })
  const client = { doc, provider, text: doc.getText('content') }
  clients.push(client)
  return client
}
function close (client) {
  client.provider.destroy()
  client.doc.destroy()
}

const problems = (server) => server.stderrLines
  .map((line) => line.replace(/\x1b\[[0-9;]*m/g, ''))
  .filter((line) => / (ERROR|WARN) /.test(line) && !/NO AUTH:/.test(line))

describe('a 40 MB document and stock Yjs clients', () => {
  let tmpDir, dataFile, server
  const text = bigText()

  before(async () => {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yjs-large-'))
    dataFile = path.join(tmpDir, 'collab.sqlite3')
    server = await startServer(dataFile)
  })

  after(() => {
    for (const client of clients) close(client)
    if (server) server.child.kill('SIGKILL')
    fs.rmSync(tmpDir, { recursive: true, force: true })
  })

  it('loads, whole, for a joiner and for a joiner after a restart', { timeout: 3 * WAIT_MS }, async () => {
    const writer = connect(server.port)
    await waitFor('the writer to sync', () => writer.provider.synced, [[writer.provider, 'sync']], WAIT_MS)
    for (let at = 0; at < text.length; at += CHUNK) {
      writer.text.insert(at, text.slice(at, at + CHUNK))
    }

    // Synced means holding everything the server had: each joiner's text is checked at that
    // moment, before any later update could fill a gap.
    const joinWhole = async (what) => {
      const joiner = connect(server.port)
      let atSync = null
      joiner.provider.on('sync', (synced) => { if (synced && atSync === null) atSync = joiner.text.length })
      await waitFor(`${what} to sync`, () => atSync !== null, [[joiner.provider, 'sync']], WAIT_MS)
      return { joiner, atSync }
    }

    // A joiner while the upload is still arriving gets what the server has, then the rest.
    const warm = connect(server.port)
    await waitFor('the warm joiner to hold the whole text', () => warm.text.length === text.length,
      [[warm.text, 'observe']], WAIT_MS)
    assert.ok(warm.text.toString() === text, 'the warm joiner holds exactly the text')

    for (const client of clients.splice(0)) close(client)
    const stopped = await stopServer(server)
    assert.equal(stopped.code, 0)
    assert.deepEqual(problems(server), [])

    server = await startServer(dataFile)
    const cold = await joinWhole('a joiner after the restart')
    assert.equal(cold.atSync, text.length, 'whole at sync, loaded from storage')
    assert.ok(cold.joiner.text.toString() === text, 'exactly the text, after the restart')
    assert.deepEqual(problems(server), [])
  })
})
