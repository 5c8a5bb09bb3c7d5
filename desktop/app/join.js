// The page a sharing link opens: http://HOST:PORT/join/#token=…&title=…
//
// The token (an HS256 JWT the desktop app signed for one document, read or write) travels in
// the URL fragment, which the browser never sends to any server; this page reads it and hands
// it to the widget. Its payload names the document and the access; the server checks the
// signature, the expiry and the document. The guest picks a name once (remembered in
// localStorage); the server shows it to others marked as a guest's.
//
// When the server refuses the link (closes with 4401 or 4402: the link was reset, sharing
// stopped, it expired, or it is for another document) the widget stops retrying and reports
// `disconnected` with attempt 0; the page then says "This link no longer works".

const NAME_KEY = 'collab-textarea-guest.name'
const $ = (id) => document.getElementById(id)

function problem (text) {
  const el = $('problem')
  el.textContent = text
  el.hidden = false
  document.body.dataset.state = 'refused'
}

/** The claims of a JWT, unverified (the server verifies). `null` if it does not decode. */
function claimsOf (token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const json = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)))
    const claims = JSON.parse(json)
    return claims && Array.isArray(claims.docs) && typeof claims.docs[0] === 'string' ? claims : null
  } catch {
    return null
  }
}

function rememberedName () {
  try { return localStorage.getItem(NAME_KEY) || '' } catch { return '' }
}

function askName () {
  return new Promise((resolve) => {
    const form = $('name-form')
    form.hidden = false
    $('guest-name').focus()
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const name = $('guest-name').value.trim()
      if (!name) return
      try { localStorage.setItem(NAME_KEY, name) } catch {}
      form.hidden = true
      resolve(name)
    })
  })
}

async function start () {
  const fragment = new URLSearchParams(location.hash.slice(1))
  const token = fragment.get('token') || ''
  const title = fragment.get('title')
  if (title) {
    $('title').textContent = title
    document.title = `${title} · shared`
  }
  const claims = claimsOf(token)
  if (!claims) {
    problem('This link does not work: it is incomplete. Ask for the link again.')
    return
  }
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
    problem('This link no longer works: it has expired. Ask for a new one.')
    return
  }
  const doc = claims.docs[0]
  const canEdit = claims.access === 'write' || claims.access === 'admin'
  $('access').textContent = canEdit ? 'Can edit' : 'Can view'
  $('access').hidden = false
  const name = rememberedName() || await askName()
  await import('/collab-textarea/index.js')
  const editor = document.createElement('collab-textarea')
  editor.setAttribute('doc', doc)
  editor.setAttribute('token', token)
  editor.setAttribute('name', name)
  editor.setAttribute('debounce', '100')
  if (!canEdit) editor.setAttribute('readonly', '')
  editor.setAttribute('placeholder', canEdit ? 'Start typing…' : 'Nothing written yet.')
  editor.addEventListener('collab-status', (event) => {
    const { status, attempt } = event.detail
    document.body.dataset.status = status
    if (status === 'connected') {
      $('problem').hidden = true
      document.body.dataset.state = 'joined'
    } else if (status === 'disconnected' && attempt === 0) {
      // Refused (4401/4402): the widget does not retry this token.
      problem('This link no longer works. Ask the person who shared it for a new one.')
      editor.setAttribute('readonly', '')
    }
  })
  $('editor-slot').append(editor)
  document.body.dataset.ready = 'true'
}

start().catch((error) => {
  console.error(error)
  problem(`The page could not start: ${error}`)
})
