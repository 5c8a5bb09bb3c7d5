// A private PostgreSQL and redis-server for the cluster tests (here and in tests/browser), on
// free loopback ports with their data in a temporary directory; stopped and removed by
// `stop()`. As root, PostgreSQL's
// programs run as the `postgres` system user (initdb and postgres refuse root), as in the
// Rust tests (sync-server/tests/integration/postgres.rs).

import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { waitFor } from './server.mjs'

/** A port nothing listens on right now. */
export function freePort () {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.on('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

function postgresBin () {
  const base = '/usr/lib/postgresql'
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort() : []
  const found = versions.map((v) => path.join(base, v, 'bin')).reverse()
    .find((dir) => fs.existsSync(path.join(dir, 'initdb')))
  if (!found) throw new Error('PostgreSQL is not installed (scripts/setup.sh ensure_postgres)')
  return found
}

const asRoot = process.getuid?.() === 0

/** Runs a PostgreSQL program (as the postgres user when we are root); throws on failure. */
function pg (bin, program, args) {
  const file = path.join(bin, program)
  const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args]
  return execFileSync(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
}

/**
 * Starts PostgreSQL; resolves with its URL, `halt()` and `resume()` (a fast shutdown and a start
 * on the same port and data), and `stop()`.
 */
export async function startPostgres () {
  const bin = postgresBin()
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-pg-'))
  if (asRoot) execFileSync('chown', ['postgres:', root])
  const data = path.join(root, 'data')
  pg(bin, 'initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale'])
  const port = await freePort()
  // -w: pg_ctl returns once the server accepts connections (or has stopped).
  const start = () => pg(bin, 'pg_ctl', ['-D', data, '-l', path.join(root, 'log'), '-w', '-t',
    '60', '-o', `-p ${port} -k ${root} -c listen_addresses=127.0.0.1`, 'start'])
  start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    halt: () => pg(bin, 'pg_ctl', ['-D', data, '-w', 'stop', '-m', 'fast']),
    resume: start,
    stop () {
      try {
        pg(bin, 'pg_ctl', ['-D', data, 'stop', '-m', 'immediate'])
      } finally {
        fs.rmSync(root, { recursive: true, force: true })
      }
    }
  }
}

/** Starts redis-server without persistence; resolves with its URL and a `stop()`. */
export async function startRedis () {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'collab-redis-'))
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--dir', root], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines = []
  let spawnError = null
  child.on('error', (error) => { spawnError = error })
  const stdout = readline.createInterface({ input: child.stdout })
  stdout.on('line', (line) => lines.push(line))
  await waitFor('redis-server to accept connections', () => {
    if (spawnError) throw spawnError
    if (child.exitCode !== null) throw new Error(`redis-server exited:\n${lines.join('\n')}`)
    return lines.some((line) => line.includes('Ready to accept connections'))
  }, [[stdout, 'line'], [child, 'exit'], [child, 'error']])
  return {
    url: `redis://127.0.0.1:${port}/`,
    async stop () {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
      fs.rmSync(root, { recursive: true, force: true })
    }
  }
}
