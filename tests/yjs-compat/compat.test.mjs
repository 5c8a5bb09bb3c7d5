// Yjs compatibility test for sync-server.
//
// Drives real, unmodified Yjs clients (yjs + y-websocket from npm, versions pinned in
// package.json) against the sync-server binary, the way a browser editor would use it:
// handshake, concurrent editing, awareness (presence), late joiners, the plain-text HTTP
// endpoint, and persistence across a restart. Neither side may log an error or warning.
//
// Binary under test: $SYNC_SERVER_BIN, default <repo>/target/debug/sync-server.
// Run: `npm test` in this folder (node --test). See README.md.
//
// All waiting is event driven (provider 'sync'/'status', Y.Text observe, awareness 'change',
// child process events), each wait capped by WAIT_MS so that a hang fails instead of stalling.

import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { format } from 'node:util'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { SERVER_BIN, hasExited, startServer, stopServer, waitFor } from './server.mjs'

const DOC = 'notes'
const STEP_MS = 60_000 // cap on any single test step

// ---------------------------------------------------------------------------------------
// Helpers

/** Server stderr lines logged at WARN or ERROR level (tracing's default format). */
function serverProblems (server) {
  return server.stderrLines
    .map((line) => line.replace(/\x1b\[[0-9;]*m/g, '')) // strip ANSI colours
    .filter((line) => / (ERROR|WARN) /.test(line))
    .filter((line) => !/NO AUTH:/.test(line)) // the open-mode notice every run without a secret gives
}

const openClients = new Set()

/** A stock Yjs client: new Y.Doc + WebsocketProvider on ws://127.0.0.1:PORT/sync/notes. */
function connectClient (port, name) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`ws://127.0.0.1:${port}/sync`, DOC, doc, {
    WebSocketPolyfill: WebSocket,
    // Clients in one process would otherwise also sync through BroadcastChannel,
    // bypassing the server under test.
    disableBc: true
  })
  const client = { name, doc, provider, awareness: provider.awareness, text: doc.getText('content') }
  openClients.add(client)
  return client
}

function closeClient (client) {
  client.provider.destroy()
  client.doc.destroy() // also destroys the awareness instance and its timer
  openClients.delete(client)
}

const waitSynced = (client) =>
  waitFor(`${client.name} to sync`, () => client.provider.synced, [[client.provider, 'sync']])

/** Names of the users (other than itself) that `client` currently sees. */
function peerNames (client) {
  return [...client.awareness.getStates()]
    .filter(([id]) => id !== client.doc.clientID)
    .map(([, state]) => state.user?.name)
    .sort()
}

async function fetchText (port, doc) {
  const res = await fetch(`http://127.0.0.1:${port}/api/docs/${encodeURIComponent(doc)}/text`)
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
}

// Collects console.error / console.warn output of yjs and y-websocket in this process.
const consoleProblems = []
const originalConsole = { error: console.error, warn: console.warn }
function spyOnConsole () {
  for (const level of ['error', 'warn']) {
    console[level] = (...args) => {
      consoleProblems.push(`console.${level}: ${format(...args)}`)
      originalConsole[level](...args)
    }
  }
}

// ---------------------------------------------------------------------------------------
// The test. Steps build on each other; once one fails, the rest are skipped.

describe('stock Yjs clients against sync-server', () => {
  let tmpDir, dataFile
  const servers = [] // every server run, for the final log check
  let server // the one running now
  let A, B, C, D
  let expectedText // the text as it must come back after the restart
  let failed = false

  const step = (name, fn) => it(name, { timeout: STEP_MS }, async (t) => {
    if (failed) return t.skip('an earlier step failed')
    try {
      await fn(t)
    } catch (error) {
      failed = true
      const tail = server ? server.stderrLines.slice(-20) : []
      for (const line of tail) t.diagnostic(`server stderr: ${line}`)
      for (const line of consoleProblems) t.diagnostic(line)
      throw error
    }
  })

  before(async () => {
    assert.ok(fs.existsSync(SERVER_BIN),
      `server binary not found at ${SERVER_BIN}: run \`cargo build -p sync-server\` or set SYNC_SERVER_BIN`)
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yjs-compat-'))
    dataFile = path.join(tmpDir, 'collab.sqlite3')
    spyOnConsole()
    server = await startServer(dataFile)
    servers.push(server)
  })

  after(() => {
    for (const client of [...openClients]) closeClient(client)
    if (server && !hasExited(server)) server.child.kill('SIGKILL')
    Object.assign(console, originalConsole)
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true })
  })

  step('1. three clients connect and complete the sync handshake', async () => {
    A = connectClient(server.port, 'A')
    B = connectClient(server.port, 'B')
    C = connectClient(server.port, 'C')
    await Promise.all([A, B, C].map(waitSynced))
    for (const c of [A, B, C]) assert.equal(c.text.toString(), '', `${c.name} starts empty`)
  })

  step('2. concurrent edits from three clients converge', async () => {
    const clients = [A, B, C]
    const SEED = 'The quick brown fox jumps over the lazy dog.'
    const DELETED = 'quick '
    const WORDS = ['fox', 'brown', 'jumps', 'over', 'lazy', 'dog', 'The']
    const markerPattern = /<[A-C]\d+[a-z]>/g
    const markers = []
    // Insert a unique marker at `index` of `client`'s current text.
    const insertMarker = (client, index, label) => {
      const marker = `<${client.name}${label}>`
      markers.push(marker)
      client.text.insert(index, marker)
    }

    A.text.insert(0, SEED)
    await waitFor('the seed text to reach every client',
      () => clients.every((c) => c.text.toString() === SEED),
      clients.map((c) => [c.text, 'observe']))

    // Each round, every client inserts at the end, before a seed word, and at the start,
    // synchronously, so the three clients' edits of one round are concurrent. In round 0
    // all three use the same positions, and C also deletes a range. Between rounds only
    // part of the traffic need have arrived, so later rounds interleave with remote updates.
    // Inserts only happen at marker boundaries, so no marker is ever split.
    const ROUNDS = 5
    for (let round = 0; round < ROUNDS; round++) {
      clients.forEach((client, i) => {
        const word = round === 0 ? 'fox' : WORDS[(round + i) % WORDS.length]
        insertMarker(client, client.text.length, `${round}a`)
        insertMarker(client, client.text.toString().indexOf(word), `${round}b`)
        insertMarker(client, 0, `${round}c`)
        if (round === 0 && client === C) {
          C.text.delete(C.text.toString().indexOf(DELETED), DELETED.length)
        }
      })
      // Before the next round, one client (a different one each round) must have received
      // another client's edits of this round; the rest may not have, so rounds overlap.
      const receiver = clients[round % 3]
      const awaited = `<${clients[(round + 1) % 3].name}${round}a>`
      await waitFor(`${receiver.name} to receive ${awaited}`,
        () => receiver.text.toString().includes(awaited), [[receiver.text, 'observe']])
    }

    const converged = () => {
      const [first, ...rest] = clients.map((c) => c.text.toString())
      return rest.every((t) => t === first) && markers.every((m) => first.includes(m))
    }
    await waitFor('all three clients to converge on text containing every insert', converged,
      clients.map((c) => [c.text, 'observe']))

    const text = A.text.toString()
    for (const marker of markers) {
      assert.equal(text.split(marker).length - 1, 1, `${marker} appears exactly once`)
    }
    assert.equal(markers.length, 3 * 3 * ROUNDS)
    assert.equal(text.replace(markerPattern, ''), SEED.replace(DELETED, ''),
      'apart from the inserts, the text is the seed minus the deleted range')
  })

  step('3. awareness: users see each other, and a destroyed client disappears', async () => {
    const colors = { A: '#30bced', B: '#6eeb83', C: '#ffbc42' }
    const users = {}
    for (const c of [A, B, C]) {
      users[c.name] = { name: `user-${c.name}`, color: colors[c.name], colorLight: `${colors[c.name]}33` }
      c.awareness.setLocalStateField('user', users[c.name])
    }
    for (const c of [A, B, C]) {
      const others = ['A', 'B', 'C'].filter((n) => n !== c.name).map((n) => `user-${n}`)
      await waitFor(`${c.name} to see the other two users`,
        () => JSON.stringify(peerNames(c)) === JSON.stringify(others), [[c.awareness, 'change']])
    }
    assert.deepEqual(A.awareness.getStates().get(B.doc.clientID).user, users.B,
      'awareness state arrives unchanged')

    const goneId = C.doc.clientID
    closeClient(C)
    for (const c of [A, B]) {
      await waitFor(`${c.name} to see C's awareness state removed`,
        () => !c.awareness.getStates().has(goneId), [[c.awareness, 'change']])
      assert.deepEqual(peerNames(c), [c === A ? 'user-B' : 'user-A'])
    }
  })

  step('3b. awareness: the server removes the state of a connection that drops', async () => {
    // Unlike destroy(), a dropped socket sends no "I left" awareness message: only the
    // server can tell the others. Waits less than the clients' own 30 s awareness timeout.
    const X = connectClient(server.port, 'X')
    X.awareness.setLocalStateField('user', { name: 'user-X', color: '#ee6352', colorLight: '#ee635233' })
    await waitSynced(X)
    const xId = X.doc.clientID
    await waitFor('A to see X', () => A.awareness.getStates().has(xId), [[A.awareness, 'change']])
    X.provider.shouldConnect = false // no reconnect
    X.provider.ws.terminate() // drop the TCP connection without a close handshake
    for (const c of [A, B]) {
      await waitFor(`${c.name} to see X's awareness state removed`,
        () => !c.awareness.getStates().has(xId), [[c.awareness, 'change']], 10_000)
    }
    closeClient(X)
  })

  step('4. a late client loads the same text, and so does GET /api/docs/notes/text', async () => {
    D = connectClient(server.port, 'D')
    await waitSynced(D)
    assert.equal(D.text.toString(), A.text.toString())

    const res = await fetchText(server.port, DOC)
    assert.equal(res.status, 200)
    assert.match(res.type ?? '', /^text\/plain/)
    assert.equal(res.body, A.text.toString())

    const missing = await fetchText(server.port, 'no-such-document')
    assert.equal(missing.status, 404, 'unknown document gives 404')
  })

  step('5. the text survives a restart (SIGTERM with clients connected)', async () => {
    // A last edit just before shutdown: once B has it, the server has accepted it.
    D.text.insert(D.text.length, ' <D-final>')
    await waitFor('B to receive the last edit', () => B.text.toString().includes('<D-final>'),
      [[B.text, 'observe']])
    expectedText = B.text.toString()
    closeClient(A)

    const exit = await stopServer(server)
    assert.deepEqual(exit, { code: 0, signal: null }, 'server exits with code 0 on SIGTERM')
    for (const c of [B, D]) {
      await waitFor(`${c.name} to notice the server went away`, () => !c.provider.wsconnected,
        [[c.provider, 'status']])
      closeClient(c)
    }

    server = await startServer(dataFile)
    servers.push(server)
    const res = await fetchText(server.port, DOC)
    assert.equal(res.status, 200, 'after restart, before any client connected: document exists')
    assert.equal(res.body, expectedText, 'after restart, before any client connected: same text')

    const E = connectClient(server.port, 'E')
    await waitSynced(E)
    assert.equal(E.text.toString(), expectedText)
    assert.equal((await fetchText(server.port, DOC)).body, expectedText)
    closeClient(E)
  })

  step('6. clean shutdown, and no errors or warnings logged on either side', async () => {
    const exit = await stopServer(server)
    assert.deepEqual(exit, { code: 0, signal: null }, 'server exits with code 0 on SIGTERM')
    assert.deepEqual(consoleProblems, [], 'yjs / y-websocket logged nothing')
    servers.forEach((s, i) => {
      assert.deepEqual(serverProblems(s), [], `server run ${i + 1} logged no ERROR/WARN line`)
      assert.equal(s.stdoutLines.length, 1,
        `server run ${i + 1} printed exactly one stdout line: ${JSON.stringify(s.stdoutLines)}`)
    })
  })
})
