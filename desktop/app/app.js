// The desktop window's page: served by the app's own sync server at /desktop/, it talks to
// the app through Tauri's IPC (window.__TAURI_INTERNALS__.invoke; the commands are in
// desktop/src/main.rs) and to the server over HTTP (/api/docs, DELETE /api/docs/{id}) and,
// through the widget, over WebSocket, always with the owner token the app gives it
// (status.token: every document, admin). Documents are named by ids; titles, the user's name
// and colour, the LAN port, the links' lifetime and deleted documents are kept by the app in
// settings.json. Sharing links come from the app (share_links); the guest page is /join/.

const $ = (sel) => document.querySelector(sel)
const tauri = window.__TAURI_INTERNALS__
const invoke = (cmd, args = {}) => tauri.invoke(cmd, args)

let status = null
let current = null // the open document's id
let serverDocs = [] // [{ name, size_bytes, updated_at }]
let editor = null // the <collab-textarea>
let armed = null // the document whose Delete button awaits its confirming click
let armedTimer = 0
let links = null // the open document's sharing links: { view, edit, viewQr, editQr, expiresAt }

/** The server's API, as the window (owner token). */
function api (path, init = {}) {
  return fetch(path, { cache: 'no-store', ...init, headers: { Authorization: `Bearer ${status.token}`, ...(init.headers || {}) } })
}

function showError (where, message) {
  const el = $(where)
  el.textContent = message
  el.hidden = !message
}

// ---- time ---------------------------------------------------------------------------------

function ago (ms) {
  if (!ms) return 'not edited yet'
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  if (s < 45) return 'edited just now'
  if (s < 90) return 'edited a minute ago'
  const m = Math.round(s / 60)
  if (m < 60) return `edited ${m} min ago`
  const h = Math.round(m / 60)
  if (h < 24) return `edited ${h} h ago`
  return 'edited ' + new Date(ms).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
}

// ---- documents ----------------------------------------------------------------------------

/** The list: documents the server has stored and documents created here (not typed in yet),
 *  minus deleted ones; newest edit first. */
function documents () {
  const meta = status.settings.docs
  const deleted = new Set(status.settings.deleted)
  const byId = new Map()
  for (const d of serverDocs) {
    if (deleted.has(d.name)) continue
    byId.set(d.name, { id: d.name, title: meta[d.name]?.title || d.name, edited: Date.parse(d.updated_at) || 0, created: meta[d.name]?.createdAt || 0 })
  }
  for (const [id, m] of Object.entries(meta)) {
    if (!byId.has(id) && !deleted.has(id)) byId.set(id, { id, title: m.title || id, edited: 0, created: m.createdAt || 0 })
  }
  return [...byId.values()].sort((a, b) => (b.edited || b.created) - (a.edited || a.created) || a.title.localeCompare(b.title))
}

async function refreshDocs () {
  try {
    const res = await api('/api/docs')
    if (res.ok) serverDocs = await res.json()
    // A deleted document back in storage (a guest's client that still had it open uploaded
    // it again): delete it again.
    const deleted = new Set(status.settings.deleted)
    for (const d of serverDocs) {
      if (deleted.has(d.name)) api(`/api/docs/${encodeURIComponent(d.name)}`, { method: 'DELETE' }).catch(() => {})
    }
  } catch { /* the server is rebinding; the next refresh catches up */ }
  renderDocs()
}

function renderDocs () {
  const list = $('#docs')
  if (list.querySelector('input.rename')) return // do not disturb a rename in progress
  const docs = documents()
  list.replaceChildren(...docs.map(docItem))
  $('#docs-empty').hidden = docs.length > 0
  const open = docs.find((d) => d.id === current)
  if (open) {
    $('#doc-title').textContent = open.title
    $('#doc-meta').textContent = ago(open.edited)
  }
}

function docItem (doc) {
  const li = document.createElement('li')
  li.className = 'doc'
  li.dataset.doc = doc.id
  li.setAttribute('aria-current', String(doc.id === current))
  const open = document.createElement('button')
  open.className = 'open'
  open.title = doc.id
  const title = document.createElement('span')
  title.className = 'title'
  title.textContent = doc.title
  const when = document.createElement('span')
  when.className = 'when'
  when.textContent = ago(doc.edited)
  open.append(title, when)
  open.addEventListener('click', () => openDoc(doc.id))
  const rename = document.createElement('button')
  rename.className = 'act rename'
  rename.textContent = 'Rename'
  rename.addEventListener('click', () => startRename(li, doc))
  const del = document.createElement('button')
  del.className = 'act delete'
  del.textContent = 'Delete'
  // Two clicks: the first arms the button for a few seconds (kept across list refreshes).
  if (armed === doc.id) {
    del.classList.add('armed')
    del.textContent = 'Delete?'
  }
  del.addEventListener('click', () => {
    if (armed !== doc.id) {
      armed = doc.id
      clearTimeout(armedTimer)
      armedTimer = setTimeout(() => { armed = null; renderDocs() }, 4000)
      renderDocs()
      return
    }
    armed = null
    deleteDoc(doc.id)
  })
  li.append(open, rename, del)
  return li
}

function startRename (li, doc) {
  const input = document.createElement('input')
  input.type = 'text'
  input.className = 'rename'
  input.maxLength = 200
  input.value = doc.title
  let done = false
  const finish = async (save) => {
    if (done) return
    done = true
    if (save && input.value.trim() && input.value.trim() !== doc.title) {
      await invoke('rename_doc', { id: doc.id, title: input.value })
      status = await invoke('app_state')
    }
    input.remove()
    renderDocs()
  }
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') finish(true)
    if (e.key === 'Escape') finish(false)
  })
  input.addEventListener('blur', () => finish(true))
  li.replaceChildren(input)
  input.focus()
  input.select()
}

async function createDoc (title) {
  const id = await invoke('create_doc', { title })
  status = await invoke('app_state')
  await openDoc(id)
}

async function deleteDoc (id) {
  // The server closes the document's connections (4410) and deletes its rows; 404: it was
  // never typed in.
  if (current === id) closeEditor()
  const res = await api(`/api/docs/${encodeURIComponent(id)}`, { method: 'DELETE' })
  if (!res.ok && res.status !== 404) {
    showError('#share-error', `Could not delete: ${(await res.text()).trim()}`)
    return
  }
  await invoke('delete_doc', { id })
  status = await invoke('app_state')
  if (current === id) closeEditor()
  renderDocs()
}

// ---- the editor ---------------------------------------------------------------------------

function closeEditor () {
  current = null
  if (editor) editor.remove()
  editor = null
  $('#no-doc').hidden = false
  $('#doc-title').textContent = 'No document open'
  $('#doc-meta').textContent = ''
  renderShare()
}

async function openDoc (id) {
  current = id
  await invoke('open_doc', { id })
  if (!editor) {
    editor = document.createElement('collab-textarea')
    editor.id = 'editor'
    editor.setAttribute('debounce', '100')
    editor.setAttribute('placeholder', 'Start typing…')
    editor.setAttribute('user-name', status.settings.name)
    editor.setAttribute('user-color', status.settings.color)
    editor.setAttribute('token', status.token)
    // The History button: the versions the app's server keeps, a preview, Restore.
    editor.setAttribute('history', '')
    editor.addEventListener('collab-save', (e) => { if (e.detail.state === 'saved') refreshDocs() })
    $('#no-doc').hidden = true
    editor.setAttribute('doc', id)
    $('#editor-slot').append(editor)
  } else {
    editor.setAttribute('doc', id)
  }
  renderDocs()
  renderShare()
  editor.focus?.()
}

// ---- you ----------------------------------------------------------------------------------

function renderProfile () {
  $('#name').value = status.settings.name
  $('#color').value = /^#[0-9a-f]{6}$/i.test(status.settings.color) ? status.settings.color : '#0e7490'
}

async function saveProfile () {
  const name = $('#name').value.trim() || 'Anonymous'
  const color = $('#color').value
  await invoke('save_profile', { name, color })
  // The token carries the name and colour others see: take the new one.
  status = await invoke('app_state')
  if (editor) {
    editor.setAttribute('user-name', name)
    editor.setAttribute('user-color', color)
    editor.setAttribute('token', status.token)
  }
}

// ---- share on LAN -------------------------------------------------------------------------

async function renderShare () {
  $('#share').checked = status.sharing
  $('#share-port').value = status.settings.sharePort
  $('#share-port').disabled = status.sharing
  showError('#share-error', status.error || '')
  const details = $('#share-details')
  if (!status.sharing) {
    details.hidden = true
    $('#share-status').textContent = 'Only this computer can open your documents.'
    return
  }
  $('#share-ttl').value = String(status.settings.linkHours)
  if (!current) {
    details.hidden = true
    links = null
    $('#share-status').textContent = status.shareNote || 'Open a document to make links for it.'
    return
  }
  $('#share-status').textContent = status.shareNote || 'People on your network with a link open this document:'
  const doc = current
  const title = documents().find((d) => d.id === doc)?.title || doc
  try {
    const made = await invoke('share_links', { doc, title, ttlHours: Number($('#share-ttl').value) })
    if (doc !== current) return // another document was opened meanwhile
    links = made
  } catch (error) {
    showError('#share-error', String(error))
    return
  }
  $('#share-view-url').value = links.view
  $('#share-edit-url').value = links.edit
  $('#share-expiry').textContent = `These links work until ${new Date(links.expiresAt * 1000).toLocaleString()}.`
  renderQr()
  details.hidden = false
}

/** The QR code of the link chosen (Can view / Can edit); SVG made by the app. */
function renderQr () {
  if (!links) return
  const kind = document.querySelector('input[name=link-kind]:checked').value
  $('#share-qr').innerHTML = kind === 'edit' ? links.editQr : links.viewQr
  $('#share-qr').dataset.kind = kind
}

async function resetLinks () {
  $('#reset-links').disabled = true
  try {
    status = await invoke('reset_links')
    await renderShare()
  } catch (error) {
    showError('#share-error', String(error))
  } finally {
    $('#reset-links').disabled = false
  }
}

async function setSharing (on) {
  const port = Number($('#share-port').value)
  if (on && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    $('#share').checked = false
    showError('#share-error', 'Choose a port between 1 and 65535.')
    return
  }
  $('#share').disabled = true
  $('#share-status').textContent = on ? 'Opening to the network…' : 'Closing to the network…'
  try {
    status = await invoke('set_sharing', { on, port })
  } catch (error) {
    showError('#share-error', String(error))
  } finally {
    $('#share').disabled = false
  }
  // The server now listens on another port: reload the page from there.
  if (status.origin !== location.origin) {
    sessionStorage.setItem('collab-desktop-error', status.error || '')
    location.replace(`${status.origin}/desktop/`)
    return
  }
  renderShare()
}

// ---- menu actions (desktop/src/main.rs calls window.collabDesktop.menu(name)) --------------

function textarea () {
  return editor?.shadowRoot?.querySelector('textarea') ?? null
}

function key (init) {
  const ta = textarea()
  if (!ta) return
  ta.focus()
  ta.dispatchEvent(new KeyboardEvent('keydown', { bubbles: true, composed: true, cancelable: true, ctrlKey: true, ...init }))
}

window.collabDesktop = {
  menu (action) {
    switch (action) {
      case 'new': $('#new-title').focus(); break
      case 'undo': key({ key: 'z', code: 'KeyZ' }); break
      case 'redo': key({ key: 'Z', code: 'KeyZ', shiftKey: true }); break
      case 'cut': document.execCommand('cut'); break
      case 'copy': document.execCommand('copy'); break
      case 'paste':
        if (!document.execCommand('paste')) {
          navigator.clipboard?.readText?.().then((text) => document.execCommand('insertText', false, text)).catch(() => {})
        }
        break
      case 'select-all': document.execCommand('selectAll'); break
    }
  }
}

// ---- start --------------------------------------------------------------------------------

async function start () {
  if (!tauri) {
    document.body.textContent = 'This page is the Collab Textarea desktop app’s window; open the app instead.'
    return
  }
  status = await invoke('app_state')
  if (status.origin !== location.origin) {
    location.replace(`${status.origin}/desktop/`)
    return
  }
  status.error = status.error || sessionStorage.getItem('collab-desktop-error') || null
  sessionStorage.removeItem('collab-desktop-error')
  $('#widget-missing').hidden = status.widgetFound
  if (status.widgetFound) {
    await import('/collab-textarea/index.js')
  }
  renderProfile()
  $('#name').addEventListener('change', saveProfile)
  $('#color').addEventListener('change', saveProfile)
  $('#new-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const title = $('#new-title').value
    $('#new-title').value = ''
    createDoc(title)
  })
  $('#share').addEventListener('change', () => setSharing($('#share').checked))
  $('#share-ttl').addEventListener('change', () => {
    status.settings.linkHours = Number($('#share-ttl').value) // share_links remembers it
    renderShare()
  })
  $('#reset-links').addEventListener('click', resetLinks)
  for (const radio of document.querySelectorAll('input[name=link-kind]')) radio.addEventListener('change', renderQr)
  for (const field of ['#share-view-url', '#share-edit-url']) $(field).addEventListener('focus', (e) => e.target.select())
  await refreshDocs()
  const last = status.settings.lastDoc
  if (last && status.widgetFound && !status.settings.deleted.includes(last)) {
    await openDoc(last)
  } else {
    renderShare()
  }
  setInterval(refreshDocs, 5000)
  document.body.dataset.ready = 'true'
}

start().catch((error) => {
  console.error(error)
  document.body.dataset.ready = 'error'
  showError('#widget-missing', `Start-up failed: ${error}`)
})
