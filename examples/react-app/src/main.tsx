// collab-textarea in React: the element in JSX (typed by the package's JSX declarations), its
// attributes from React state, and its events into React state through a ref.
import 'collab-textarea'
import type { CollabTextareaElement, ConnectionStatus } from 'collab-textarea'
import { StrictMode, useEffect, useRef, useState } from 'react'
import { createRoot } from 'react-dom/client'

// ?server=ws://host:port/sync and ?doc=, else VITE_SYNC_SERVER at build time, else the demo's.
const params = new URLSearchParams(location.search)
const server = params.get('server') || import.meta.env.VITE_SYNC_SERVER || 'ws://127.0.0.1:8787/sync'
const doc = params.get('doc') || 'notes'

function App () {
  const ref = useRef<CollabTextareaElement>(null)
  const [text, setText] = useState('')
  const [status, setStatus] = useState<ConnectionStatus>('connecting')
  const [userName, setUserName] = useState('React user')
  const [readonly, setReadonly] = useState(false)

  // The element's events are DOM events: listen through the ref, stop on unmount.
  useEffect(() => {
    const element = ref.current
    if (!element) return
    const onText = () => setText(element.text())
    const onStatus = (event: CustomEvent<{ status: ConnectionStatus }>) => setStatus(event.detail.status)
    element.addEventListener('collab-text', onText)
    element.addEventListener('collab-status', onStatus)
    return () => {
      element.removeEventListener('collab-text', onText)
      element.removeEventListener('collab-status', onStatus)
    }
  }, [])

  return (
    <>
      <p>
        <label>
          Your name <input id="user-name" value={userName} onChange={(e) => setUserName(e.target.value)} />
        </label>{' '}
        <label>
          <input id="readonly" type="checkbox" checked={readonly} onChange={(e) => setReadonly(e.target.checked)} /> read only
        </label>
      </p>
      <collab-textarea
        ref={ref}
        id="editor"
        doc={doc}
        server={server}
        user-name={userName}
        readonly={readonly}
        placeholder="Type here…"
      />
      <output id="status">{status}, {text.length} characters</output>
      <pre id="mirror">{text}</pre>
    </>
  )
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>
)
