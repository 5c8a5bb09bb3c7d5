// The demo page: pick a name, a colour and a document; one <collab-textarea> edits it.
//
// Where each setting comes from, first match wins:
//   the query string (?doc=&name=&color=&debounce=; the browser tests use it),
//   then what this browser remembered (localStorage),
//   then a default (document "welcome", a generated guest name, the widget's own colour).
// The document is always in the URL, so a second tab with the same URL edits the same text.
// Changing an input updates the element's attributes; the element reconnects by itself.

const DOC_NAME = /^[A-Za-z0-9._-]{1,128}$/
const STORE = 'collab-textarea-demo.'
const PALETTE = ['#4f46e5', '#0ea5e9', '#10b981', '#84cc16', '#f59e0b', '#f97316', '#ef4444', '#ec4899', '#8b5cf6']
const GUESTS = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Linus', 'Frances', 'Donald']

const $ = (id) => document.getElementById(id)

const remembered = {
  get (key) {
    try { return localStorage.getItem(STORE + key) } catch { return null }
  },
  set (key, value) {
    try {
      if (value === null || value === '') localStorage.removeItem(STORE + key)
      else localStorage.setItem(STORE + key, value)
    } catch {}
  }
}

const query = new URLSearchParams(location.search)
const fromQuery = (key) => {
  const value = query.get(key)
  return value !== null && value.trim() !== '' ? value.trim() : null
}

function guestName () {
  return `${GUESTS[Math.floor(Math.random() * GUESTS.length)]} ${Math.floor(10 + Math.random() * 90)}`
}

const settings = {
  doc: fromQuery('doc') ?? remembered.get('doc') ?? 'welcome',
  name: fromQuery('name') ?? remembered.get('name') ?? guestName(),
  color: fromQuery('color') ?? remembered.get('color'), // null: the widget picks one from the name
  debounce: fromQuery('debounce') // only from the URL: a testing knob, not a preference
}
if (!DOC_NAME.test(settings.doc)) settings.doc = 'welcome'
// A generated name is kept, so a reload is still the same person.
if (!fromQuery('name') && !remembered.get('name')) remembered.set('name', settings.name)

// The element, with its attributes set before the package defines it.
const editor = document.createElement('collab-textarea')
editor.id = 'editor'
editor.setAttribute('placeholder', 'Start typing — everyone on this document sees it live.')
editor.setAttribute('doc', settings.doc)
editor.setAttribute('user-name', settings.name)
if (settings.color) editor.setAttribute('user-color', settings.color)
if (settings.debounce !== null) editor.setAttribute('debounce', settings.debounce)
$('editor-slot').append(editor)

// ---- URL and share link -------------------------------------------------------------------

/** The link to share: this page with only the document (each person keeps their own name). */
function shareUrl () {
  const url = new URL(location.pathname, location.origin)
  url.searchParams.set('doc', settings.doc)
  return url.href
}

/** Keeps the address bar on the current document; keeps other parameters that still apply. */
function updateLocation () {
  const url = new URL(location.href)
  url.searchParams.set('doc', settings.doc)
  history.replaceState(null, '', url)
  const link = shareUrl()
  $('share-url').value = link
  $('open-tab').href = link
  document.title = `${settings.doc} · collab-textarea demo`
}

/** The user chose a setting by hand: it replaces any value the URL forced. */
function dropFromLocation (key) {
  const url = new URL(location.href)
  if (!url.searchParams.has(key)) return
  url.searchParams.delete(key)
  history.replaceState(null, '', url)
}

// ---- Inputs -------------------------------------------------------------------------------

const nameInput = $('name')
const docInput = $('doc')
nameInput.value = settings.name
docInput.value = settings.doc

let nameTimer = 0
nameInput.addEventListener('input', () => {
  clearTimeout(nameTimer)
  nameTimer = setTimeout(applyName, 250)
})
nameInput.addEventListener('change', applyName)

function applyName () {
  clearTimeout(nameTimer)
  const name = nameInput.value.trim()
  if (name === settings.name) return
  settings.name = name
  remembered.set('name', name)
  dropFromLocation('name')
  // An empty name means the widget's default ("Anonymous").
  if (name) editor.setAttribute('user-name', name)
  else editor.removeAttribute('user-name')
}

let docTimer = 0
docInput.addEventListener('input', () => {
  clearTimeout(docTimer)
  const valid = DOC_NAME.test(docInput.value.trim())
  showDocError(!valid)
  // Switch once the typing pauses, so every keystroke is not a new connection.
  if (valid) docTimer = setTimeout(applyDoc, 600)
})
docInput.addEventListener('change', applyDoc)
$('settings').addEventListener('submit', (event) => {
  event.preventDefault()
  applyName()
  applyDoc()
})

function applyDoc () {
  clearTimeout(docTimer)
  const doc = docInput.value.trim()
  if (!DOC_NAME.test(doc)) {
    showDocError(true)
    return
  }
  showDocError(false)
  if (doc === settings.doc) return
  settings.doc = doc
  remembered.set('doc', doc)
  editor.setAttribute('doc', doc)
  updateLocation()
}

function showDocError (invalid) {
  docInput.setAttribute('aria-invalid', String(invalid))
  const hint = $('doc-hint')
  hint.classList.toggle('error', invalid)
}

// ---- Colour -------------------------------------------------------------------------------

function renderSwatches () {
  const box = $('swatches')
  const colors = [...PALETTE]
  if (settings.color && !colors.some((c) => c.toLowerCase() === settings.color.toLowerCase())) {
    colors.push(settings.color)
  }
  const swatch = (value, label) => {
    const wrap = document.createElement('label')
    wrap.className = value ? 'swatch' : 'swatch auto'
    wrap.title = label
    const input = document.createElement('input')
    input.type = 'radio'
    input.name = 'color'
    input.value = value
    input.setAttribute('aria-label', label)
    input.checked = (settings.color ?? '').toLowerCase() === value.toLowerCase()
    input.addEventListener('change', () => applyColor(value || null))
    const dot = document.createElement('span')
    if (value) dot.style.setProperty('--swatch', value)
    else dot.textContent = 'Auto'
    wrap.append(input, dot)
    return wrap
  }
  box.replaceChildren(swatch('', 'Automatic (from your name)'), ...colors.map((c) => swatch(c, c)))
}

function applyColor (color) {
  settings.color = color
  remembered.set('color', color)
  dropFromLocation('color')
  if (color) editor.setAttribute('user-color', color)
  else editor.removeAttribute('user-color')
}

// ---- Share buttons ------------------------------------------------------------------------

$('copy-link').addEventListener('click', async () => {
  const button = $('copy-link')
  const link = shareUrl()
  let copied = false
  try {
    await navigator.clipboard.writeText(link)
    copied = true
  } catch {
    // No clipboard API (plain http on another host): select the text for Ctrl+C instead.
    const field = $('share-url')
    field.focus()
    field.select()
    copied = document.execCommand?.('copy') ?? false
  }
  button.textContent = copied ? 'Copied ✓' : 'Press Ctrl+C'
  button.classList.toggle('done', copied)
  setTimeout(() => {
    button.textContent = 'Copy link'
    button.classList.remove('done')
  }, 1800)
})
$('share-url').addEventListener('focus', (event) => event.target.select())

// ---- Known documents (suggestions for the document field) ----------------------------------

async function loadDocList () {
  try {
    const response = await fetch('/api/docs', { cache: 'no-store' })
    if (!response.ok) return
    const docs = await response.json()
    const list = $('doc-list')
    list.replaceChildren(...docs
      .sort((a, b) => String(b.updated_at).localeCompare(String(a.updated_at)))
      .slice(0, 50)
      .map((d) => {
        const option = document.createElement('option')
        option.value = d.name
        return option
      }))
  } catch {}
}

// ---- The package failed to load? Say how to fix it. ---------------------------------------

function showLoadError () {
  $('load-error').hidden = false
}
$('package-script')?.addEventListener('error', showLoadError)
Promise.race([
  customElements.whenDefined('collab-textarea').then(() => true),
  new Promise((resolve) => setTimeout(() => resolve(false), 10_000))
]).then((defined) => {
  if (!defined) showLoadError()
  // Defined, but the wasm did not load or the widget refused its options: the element says why.
  else setTimeout(() => { if (editor.error) showLoadError() }, 3000)
})

renderSwatches()
updateLocation()
loadDocList()
docInput.addEventListener('focus', loadDocList)
