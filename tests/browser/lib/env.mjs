// Where things are, from the environment scripts/test.sh sets, with defaults for a run by hand.

import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const REPO = path.resolve(HERE, '../../..')

const fromEnv = (name, fallback) => (process.env[name] ? path.resolve(process.env[name]) : fallback)

/** The sync-server binary under test. */
export const SERVER_BIN = fromEnv('SYNC_SERVER_BIN', path.join(REPO, 'target/debug/sync-server'))
/** The assembled web root: demo `index.html` and the package under `collab-textarea/`. */
export const WEB_ROOT = fromEnv('WEB_ROOT', path.join(REPO, 'target/web'))
/** The Chromium executable (driven over CDP by playwright-core). */
export const CHROME_BIN = fromEnv('CHROME_BIN', '/usr/bin/chromium')
/** Screenshots go to `$ARTIFACTS/browser/`. */
export const SCREENSHOT_DIR = path.join(fromEnv('ARTIFACTS', path.join(REPO, 'target/artifacts')), 'browser')
/** The Vite example's production build, made from the packed npm tarball (VITE_DIST overrides). */
export const VITE_DIST = fromEnv('VITE_DIST', path.join(REPO, 'examples/vite-app/dist'))

/** Cap on any single wait for a condition: generous, so a slow machine is never the reason for a failure. */
export const WAIT_MS = 20_000
/** Cap on one test. */
export const TEST_MS = 120_000
/** The examples folder: the React, Vue and Svelte apps' builds are `{app}/dist` (EXAMPLES_DIR overrides). */
export const EXAMPLES_DIR = fromEnv('EXAMPLES_DIR', path.join(REPO, 'examples'))
