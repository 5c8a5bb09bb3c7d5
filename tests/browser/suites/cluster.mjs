// Scale-out: servers sharing PostgreSQL and redis-server (tests/yjs-compat/services.mjs: the
// shared ones scripts/test.sh started, or private ones; the outage test's PostgreSQL its own).
// Widget pages on three instances converge and list each other; with PostgreSQL down, the save
// line says "Saving…" (never "Saved") until it is back, and nothing typed is lost.

import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { startPostgres, startRedis } from '../../yjs-compat/services.mjs'
import { scenario } from '../lib/session.mjs'
import { waitUntil } from '../lib/wait.mjs'

const NAMES = ['Ada', 'Grace', 'Edsger']

/** `collab_storage_commit_failures_total` from the server's /metrics. */
async function commitFailures (server) {
  const body = await (await fetch(`${server.httpUrl}/metrics`)).text()
  const line = body.split('\n').find((l) => l.startsWith('collab_storage_commit_failures_total'))
  return line ? Number(line.split(' ').at(-1)) : 0
}

export default function cluster (harness) {
  describe('several instances on PostgreSQL and Redis', () => {
    scenario(harness, 'widget pages on three instances converge on one text and list each other', async (s) => {
      const postgres = await startPostgres()
      s.onDispose(() => postgres.stop())
      const redis = await startRedis()
      s.onDispose(() => redis.stop())
      const env = { SYNC_SERVER_POSTGRES: postgres.url, SYNC_SERVER_REDIS: redis.url }
      const servers = []
      for (const name of NAMES) servers.push(await s.ownServer(`instance-${name}`, env))

      const doc = harness.doc('cluster')
      const pages = []
      for (const [i, name] of NAMES.entries()) pages.push(await s.open({ doc, name }, {}, servers[i]))
      for (const page of pages) await page.waitStatus('connected')
      for (const page of pages) await page.waitAvatars(NAMES)

      // Each types on its own instance; the others see it through Redis.
      for (const [i, page] of pages.entries()) await page.typeAtEnd(`[${NAMES[i]}]`)
      const words = NAMES.map((name) => `[${name}]`)
      for (const page of pages) {
        await page.waitState('every word, once', (st, words) =>
          words.every((w) => st.text.split(w).length === 2), words)
      }
      const texts = await Promise.all(pages.map((page) => page.text()))
      assert.ok(texts.every((t) => t === texts[0]), `one text on every page: ${JSON.stringify(texts)}`)
      for (const page of pages) await page.waitSaved()
      // Stored once for all: any instance serves it.
      for (const server of servers) {
        assert.deepEqual(await server.storedText(doc), { status: 200, text: texts[0] })
      }
    })

    scenario(harness, 'PostgreSQL down: "Saving…" until it is back, then "Saved", nothing lost', async (s) => {
      const postgres = await startPostgres({ own: true })
      s.onDispose(() => postgres.stop())
      const server = await s.ownServer('on-postgres', { SYNC_SERVER_POSTGRES: postgres.url })
      const doc = harness.doc('pg-restart')
      const ada = await s.open({ doc, name: 'Ada' }, {}, server)
      await ada.waitStatus('connected')
      await ada.typeAtEnd('before.')
      await ada.waitSaved()

      await ada.page.evaluate(() => window.__ct.watchSaveLine())
      postgres.halt()
      const typedAt = Date.now()
      await ada.typeAtEnd(' during.')
      // The edit reached the server and its commit failed: storage holds the acknowledgement.
      await waitUntil('a failed commit on the server', async () => (await commitFailures(server)) > 0)
      await waitUntil('/readyz to say not ready', async () =>
        (await fetch(`${server.httpUrl}/readyz`)).status === 503)
      const st = await ada.state()
      assert.equal(st.save, 'saving', 'data-save while PostgreSQL is down')
      assert.match(st.saveLine, /^Saving/, 'the save line while PostgreSQL is down')
      assert.equal(st.status, 'connected', 'the connection to the sync server stays up')

      const resumedAt = Date.now()
      postgres.resume()
      await ada.waitSaved()
      const log = await ada.page.evaluate(() => window.__ct.saveLineLog)
      const claimedSaved = (e) => e.save === 'saved' || /^Saved|saved$/.test(e.line ?? '')
      assert.deepEqual(log.filter((e) => e.at > typedAt && e.at < resumedAt && claimedSaved(e)), [],
        `nothing claimed "Saved" while PostgreSQL was down; save line log: ${JSON.stringify(log)}`)
      assert.deepEqual(await server.storedText(doc), { status: 200, text: 'before. during.' })
    })
  })
}
