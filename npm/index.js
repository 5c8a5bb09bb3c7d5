// collab-textarea: the `<collab-textarea>` custom element and `mount()`, over the wasm widget.
//
// The wasm module (`./wasm/`, built from the repository's `widget/` crate) does the work: the
// Yjs document, the sync connection, the DOM. This file loads it once, on first use, and gives
// it two front doors: `mount(element, options)` for any element, and the custom element, which
// mounts and unmounts itself as it enters and leaves the page.

import init, { Widget } from './wasm/collab_textarea_widget.js'

/** Short event names accepted by `handle.on()`, and the widget's events they stand for. */
const EVENTS = {
  __proto__: null,
  status: 'collab-status',
  save: 'collab-save',
  presence: 'collab-presence',
  text: 'collab-text'
}
const EVENT_NAMES = new Set(Object.values(EVENTS))

const OPTION_KEYS = ['server', 'doc', 'name', 'color', 'debounce', 'readonly', 'placeholder', 'token']

let wasmReady = null

/**
 * Loads and instantiates the wasm module; starts loading on the first call (the first mount
 * calls it) and returns the same promise afterwards. A failed load is forgotten, so the next
 * call tries again.
 */
export function ready () {
  if (!wasmReady) {
    wasmReady = init({ module_or_path: wasmUrl() }).then(
      () => undefined,
      (error) => {
        wasmReady = null
        throw error
      }
    )
  }
  return wasmReady
}

/**
 * Where the wasm file is. The literal `new URL('./…', import.meta.url)` is what bundlers look
 * for: Vite, Rollup, Rolldown, webpack and esbuild-based tools emit the file and rewrite the URL.
 *
 * One case needs help. The dev server of Vite before version 8 copies this module into its
 * dependency cache (`node_modules/.vite/deps/`) without the files it points at, so the URL
 * lands in a folder that has no wasm in it. The package's own files are still where npm put
 * them, beside that cache, and the dev server serves them: point there instead. (Vite 8
 * rewrites the URL itself; a production build never has this path.)
 */
function wasmUrl () {
  const url = new URL('./wasm/collab_textarea_widget_bg.wasm', import.meta.url)
  const cached = /^(.*\/node_modules\/)\.vite\/deps[^/]*\//.exec(url.pathname)
  if (cached) {
    url.pathname = `${cached[1]}collab-textarea/wasm/collab_textarea_widget_bg.wasm`
    url.search = ''
  }
  return url
}

/**
 * Mounts a collaborative textarea into `element` (inside its shadow root) and resolves with a
 * handle once it is mounted. Loads the wasm first if no mount has yet. Rejects with the
 * widget's error when the options are invalid (for example a bad document name).
 */
export async function mount (element, options) {
  if (!isElement(element)) {
    throw new TypeError('collab-textarea: mount() needs an HTMLElement to mount into')
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError('collab-textarea: mount() needs options with at least { doc }')
  }
  await ready()
  return mountNow(element, widgetOptions(options))
}

function isElement (value) {
  return typeof HTMLElement !== 'undefined' && value instanceof HTMLElement
}

/** Only the options the widget knows, and only those given, so its defaults apply to the rest. */
function widgetOptions (options) {
  const out = {}
  for (const key of OPTION_KEYS) {
    if (options[key] !== undefined && options[key] !== null) out[key] = options[key]
  }
  return out
}

/** Creates the widget (the wasm must be loaded) and wraps it in a handle. */
function mountNow (element, options) {
  const widget = new Widget(element, options)
  let live = true
  let lastText = ''
  let lastUnsaved = 0
  const listeners = new Set()

  const handle = {
    element,
    get mounted () {
      return live
    },
    unmount () {
      if (!live) return
      live = false
      for (const off of [...listeners]) off()
      try {
        // What the handle answers from now on.
        lastText = widget.text()
        lastUnsaved = widget.unsaved()
      } catch {}
      try {
        widget.unmount()
      } finally {
        widget.free()
      }
    },
    text: () => (live ? widget.text() : lastText),
    status: () => (live ? widget.status() : 'disconnected'),
    unsaved: () => (live ? widget.unsaved() : lastUnsaved),
    retry () {
      if (live) widget.retry()
    },
    setName (name) {
      if (live) widget.setName(String(name))
    },
    setColor (color) {
      if (live) widget.setColor(String(color))
    },
    setReadonly (readonly) {
      if (live) widget.setReadonly(Boolean(readonly))
    },
    setPlaceholder (text) {
      if (live) widget.setPlaceholder(String(text))
    },
    on (eventName, listener) {
      const type = EVENTS[eventName] ?? (EVENT_NAMES.has(eventName) ? eventName : null)
      if (type === null) {
        throw new TypeError(
          `collab-textarea: unknown event ${JSON.stringify(eventName)}; ` +
            `use ${Object.keys(EVENTS).join(', ')} or the collab-* names`
        )
      }
      if (typeof listener !== 'function') {
        throw new TypeError('collab-textarea: on() needs a function')
      }
      const onEvent = (event) => listener(event.detail, event)
      const off = () => {
        if (listeners.delete(off)) element.removeEventListener(type, onEvent)
      }
      if (!live) return () => {}
      element.addEventListener(type, onEvent)
      listeners.add(off)
      return off
    }
  }
  return handle
}

// ---------------------------------------------------------------------------------------------
// <collab-textarea>

/** Attributes whose change needs a new connection: the old widget goes, a new one comes. */
const REMOUNT_ATTRIBUTES = new Set(['server', 'doc', 'debounce', 'token'])

const Base = typeof HTMLElement === 'undefined' ? class {} : HTMLElement

/**
 * `<collab-textarea doc="notes" name="Ada">`: mounts when it is in the page and has a `doc`,
 * unmounts when it leaves. `server`, `doc`, `debounce` and `token` changes reconnect; `name`, `color`,
 * `readonly` and `placeholder` changes apply in place.
 */
export class CollabTextareaElement extends Base {
  static get observedAttributes () {
    return [...OPTION_KEYS]
  }

  /** The mounted widget's handle, or null while none is mounted (or the wasm is loading). */
  #handle = null
  /** Bumped by every (re)mount and teardown: a load that finishes under an old number is stale. */
  #generation = 0
  /** Whether a mount is waiting for the wasm. */
  #pending = false
  /** The error of the last mount that failed, if the last attempt failed. */
  #error = null

  connectedCallback () {
    this.#upgradeProperties()
    // Moved within the page (removed and re-inserted in one task): keep what is there.
    if (this.#handle || this.#pending) return
    this.#remount()
  }

  disconnectedCallback () {
    // Wait until the current task's DOM changes are done: a move is a removal then an insertion.
    queueMicrotask(() => {
      if (!this.isConnected) this.#teardown()
    })
  }

  attributeChangedCallback (attribute, oldValue, newValue) {
    if (oldValue === newValue || !this.isConnected) return
    if (REMOUNT_ATTRIBUTES.has(attribute)) {
      this.#remount()
      return
    }
    const handle = this.#handle
    // While the wasm loads, the mount reads every attribute when it runs: nothing to do now.
    if (!handle) return
    try {
      switch (attribute) {
        case 'name':
          // The widget shows "Anonymous" for an empty name.
          handle.setName(newValue ?? '')
          break
        case 'color':
          // The default colour is picked from the name when mounting: remount to get it back.
          if (newValue === null) this.#remount()
          else handle.setColor(newValue)
          break
        case 'readonly':
          handle.setReadonly(newValue !== null)
          break
        case 'placeholder':
          handle.setPlaceholder(newValue ?? '')
          break
      }
    } catch (error) {
      console.error(`<collab-textarea>: could not apply ${attribute}="${newValue}"`, error)
    }
  }

  /** Drops the current widget (if any) and, when in the page with a `doc`, mounts a new one. */
  #remount () {
    this.#teardown()
    if (!this.isConnected || !this.getAttribute('doc')) return
    const generation = this.#generation
    this.#pending = true
    ready().then(
      () => {
        if (generation !== this.#generation) return
        this.#pending = false
        if (!this.isConnected) return
        try {
          this.#handle = mountNow(this, this.#options())
          this.#error = null
        } catch (error) {
          this.#error = error
          console.error('<collab-textarea>: could not mount', error)
        }
      },
      (error) => {
        if (generation !== this.#generation) return
        this.#pending = false
        this.#error = error
        console.error('<collab-textarea>: could not load the widget', error)
      }
    )
  }

  #teardown () {
    this.#generation++
    this.#pending = false
    const handle = this.#handle
    this.#handle = null
    if (handle) handle.unmount()
  }

  #options () {
    const options = { doc: this.getAttribute('doc') }
    for (const attribute of ['server', 'name', 'color', 'placeholder', 'token']) {
      const value = this.getAttribute(attribute)
      if (value !== null) options[attribute] = value
    }
    if (this.hasAttribute('readonly')) options.readonly = true
    const debounce = this.debounce
    if (debounce !== null) options.debounce = debounce
    return options
  }

  // Reading the state.

  /** The handle of the mounted widget, or null. */
  get handle () {
    return this.#handle
  }

  /** Why the last mount failed (bad options, wasm failed to load), or null. */
  get error () {
    return this.#error
  }

  text () {
    return this.#handle ? this.#handle.text() : ''
  }

  status () {
    if (this.#handle) return this.#handle.status()
    return this.#pending ? 'connecting' : 'disconnected'
  }

  unsaved () {
    return this.#handle ? this.#handle.unsaved() : 0
  }

  /** Reconnects now; when the last mount failed (say the wasm did not load), tries it again. */
  retry () {
    if (this.#handle) this.#handle.retry()
    else if (!this.#pending) this.#remount()
  }

  // Properties mirror the attributes.

  get server () {
    return this.getAttribute('server') ?? ''
  }

  set server (value) {
    this.#setString('server', value)
  }

  get doc () {
    return this.getAttribute('doc') ?? ''
  }

  set doc (value) {
    this.#setString('doc', value)
  }

  get name () {
    return this.getAttribute('name') ?? ''
  }

  set name (value) {
    this.#setString('name', value)
  }

  get color () {
    return this.getAttribute('color') ?? ''
  }

  set color (value) {
    this.#setString('color', value)
  }

  get placeholder () {
    return this.getAttribute('placeholder') ?? ''
  }

  get token () {
    return this.getAttribute('token') ?? ''
  }

  set token (value) {
    this.#setString('token', value)
  }

  set placeholder (value) {
    this.#setString('placeholder', value)
  }

  /** Milliseconds, or null when the attribute is absent or not a whole number ≥ 0. */
  get debounce () {
    const raw = this.getAttribute('debounce')
    if (raw === null || raw.trim() === '') return null
    const value = Number(raw)
    return Number.isInteger(value) && value >= 0 ? value : null
  }

  set debounce (value) {
    if (value === null || value === undefined) this.removeAttribute('debounce')
    else this.setAttribute('debounce', String(value))
  }

  get readonly () {
    return this.hasAttribute('readonly')
  }

  set readonly (value) {
    this.toggleAttribute('readonly', Boolean(value))
  }

  /** The DOM spelling, as on `<textarea>`. */
  get readOnly () {
    return this.readonly
  }

  set readOnly (value) {
    this.readonly = value
  }

  /**
   * A property set on the element before this class was defined (before the script loaded)
   * sits on the instance and hides the accessor: move it through the accessor.
   */
  #upgradeProperties () {
    for (const property of [...OPTION_KEYS, 'readOnly']) {
      if (Object.prototype.hasOwnProperty.call(this, property)) {
        const value = this[property]
        delete this[property]
        this[property] = value
      }
    }
  }

  #setString (attribute, value) {
    if (value === null || value === undefined) this.removeAttribute(attribute)
    else this.setAttribute(attribute, String(value))
  }
}

if (typeof customElements !== 'undefined' && typeof document !== 'undefined') {
  if (!customElements.get('collab-textarea')) {
    customElements.define('collab-textarea', CollabTextareaElement)
    defaultDisplay()
  }
}

/**
 * `display: block` for the element from the first paint, before the wasm has loaded and put
 * its shadow stylesheet (`:host { display: block }`) in place. `:where()` has no specificity,
 * so any rule of the page still wins.
 */
function defaultDisplay () {
  const css = ':where(collab-textarea) { display: block; }'
  try {
    const sheet = new CSSStyleSheet()
    sheet.replaceSync(css)
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet]
  } catch {
    const style = document.createElement('style')
    style.textContent = css
    document.head.prepend(style)
  }
}
