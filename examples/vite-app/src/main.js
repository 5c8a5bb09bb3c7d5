// The two ways to use collab-textarea: the <collab-textarea> element (defined by importing the
// package) and mount() into any element.
import { mount } from 'collab-textarea'

// Where the sync server is: ?server=ws://host:port/sync, else VITE_SYNC_SERVER at build time
// (VITE_SYNC_SERVER=ws://… npm run build), else the one scripts/demo.sh starts.
const server =
  new URLSearchParams(location.search).get('server') ||
  import.meta.env.VITE_SYNC_SERVER ||
  'ws://127.0.0.1:8787/sync'
document.querySelector('#server').textContent = server

// The element is already defined (importing the package did it) and waiting for the wasm: set
// now, `server` is what it mounts with.
const element = document.querySelector('#element')
element.server = server

const log = document.querySelector('#log')
const handle = await mount(document.querySelector('#mounted'), {
  server,
  doc: 'notes',
  name: 'Vite mount()',
  placeholder: 'Or here…'
})
let status = handle.status()
let save = ''
const show = () => {
  log.textContent = `mount(): ${status}${save}`
}
handle.on('status', (detail) => {
  status = detail.status
  show()
})
handle.on('save', ({ state, unsaved }) => {
  save = `, ${state}${unsaved ? ` (${unsaved} unsaved)` : ''}`
  show()
})
show()

// For the browser tests and the console.
window.collab = { element, handle, server }
