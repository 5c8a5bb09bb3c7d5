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

const OPTION_KEYS = ['server', 'doc', 'name', 'color', 'debounce', 'readonly', 'placeholder', 'token', 'persist', 'history', 'messages']

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
    /** Deletes this device's copy of the document and stops keeping one (sign-out). */
    forget () {
      return live ? widget.forget() : Promise.reject(new Error('collab-textarea: forget() after unmount()'))
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
    setHistory (on) {
      if (live) widget.setHistory(Boolean(on))
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
const REMOUNT_ATTRIBUTES = new Set(['server', 'doc', 'debounce', 'token', 'persist', 'lang'])

/** Attributes that name the element: mirrored onto the inner textarea (see `#applyLabel`). */
const LABEL_ATTRIBUTES = new Set(['aria-label', 'aria-labelledby'])

/** Every attribute the element reacts to. */
const ELEMENT_ATTRIBUTES = [
  'server',
  'doc',
  'user-name',
  'user-color',
  'color',
  'debounce',
  'readonly',
  'placeholder',
  'token',
  'persist',
  'history',
  'name',
  'required',
  'disabled',
  'maxlength',
  'lang',
  'aria-label',
  'aria-labelledby'
]

/** Properties a page may set before the class is defined (see `#upgradeProperties`). */
const ELEMENT_PROPERTIES = [
  'server',
  'doc',
  'userName',
  'userColor',
  'color',
  'debounce',
  'readonly',
  'readOnly',
  'placeholder',
  'token',
  'persist',
  'history',
  'name',
  'required',
  'disabled',
  'maxLength',
  'messages'
]

const Base = typeof HTMLElement === 'undefined' ? class {} : HTMLElement

/**
 * `<collab-textarea doc="notes" user-name="Ada" name="notes">`: mounts when it is in the page
 * and has a `doc`, unmounts when it leaves. `server`, `doc`, `debounce`, `token`, `lang` and
 * `messages` changes remount; `user-name`, `user-color`, `readonly`, `disabled`,
 * `placeholder` and `history` changes apply in place.
 *
 * Its accessible name (a `<label for>`, `aria-labelledby` or `aria-label` on the element) is
 * mirrored onto the textarea inside, which is what a screen reader lands on.
 *
 * It is a form control, like a `<textarea>`: the text is its value in a form under its `name`;
 * `required`, `maxlength`, `disabled` and `readonly` take part in validation (`:invalid`,
 * `checkValidity()`, `reportValidity()`). `form.reset()` leaves the shared text alone: it is
 * everyone's, not this form's (see `formResetCallback`).
 */
export class CollabTextareaElement extends Base {
  static get observedAttributes () {
    return [...ELEMENT_ATTRIBUTES]
  }

  static get formAssociated () {
    return true
  }

  /** The mounted widget's handle, or null while none is mounted (or the wasm is loading). */
  #handle = null
  /** Bumped by every (re)mount and teardown: a load that finishes under an old number is stale. */
  #generation = 0
  /** Whether a mount is waiting for the wasm. */
  #pending = false
  /** The error of the last mount that failed, if the last attempt failed. */
  #error = null
  /** The form side (value, validity); null where the browser has no `attachInternals`. */
  #internals = null
  /** Whether an ancestor `<fieldset disabled>` disables this control. */
  #formDisabled = false
  /** The message set with `setCustomValidity()`; `""` for none. */
  #customMessage = ''
  /** The `token` property when it was set to a function (called before each connect). */
  #tokenFunction = null
  /** The text when the last widget was unmounted: the form value while none is mounted. */
  #lastText = ''
  /** Whether the `name`-as-display-name warning was printed for this element. */
  #warnedName = false
  /** The `messages` property: the widget's texts, or null for the defaults. */
  #messages = null

  constructor () {
    super()
    if (typeof this.attachInternals === 'function') {
      this.#internals = this.attachInternals()
    }
    if (typeof this.addEventListener === 'function') {
      // The widget dispatches `collab-text` on this element for every change, local or remote.
      this.addEventListener('collab-text', () => this.#updateForm())
    }
  }

  connectedCallback () {
    this.#upgradeProperties()
    // Moved within the page (removed and re-inserted in one task): keep what is there.
    if (this.#handle || this.#pending) return
    this.#remount()
    this.#updateForm()
  }

  disconnectedCallback () {
    // Wait until the current task's DOM changes are done: a move is a removal then an insertion.
    queueMicrotask(() => {
      if (!this.isConnected) this.#teardown()
    })
  }

  attributeChangedCallback (attribute, oldValue, newValue) {
    if (oldValue === newValue || !this.isConnected) return
    if (LABEL_ATTRIBUTES.has(attribute)) {
      this.#applyLabel()
      return
    }
    if (REMOUNT_ATTRIBUTES.has(attribute)) {
      this.#remount()
      return
    }
    if (['required', 'maxlength', 'readonly', 'disabled'].includes(attribute)) {
      this.#applyControl()
      return
    }
    const handle = this.#handle
    // While the wasm loads, the mount reads every attribute when it runs: nothing to do now.
    if (!handle) return
    try {
      switch (attribute) {
        case 'user-name':
        case 'name':
          this.#warnNameAsDisplayName()
          // The widget shows "Anonymous" for an empty name.
          handle.setName(this.#displayName() ?? '')
          break
        case 'user-color':
        case 'color':
          // The default colour is picked from the name when mounting: remount to get it back.
          if (this.#displayColor() === null) this.#remount()
          else handle.setColor(this.#displayColor())
          break
        case 'placeholder':
          handle.setPlaceholder(newValue ?? '')
          break
        case 'history':
          handle.setHistory(this.history)
          break
      }
    } catch (error) {
      console.error(`<collab-textarea>: could not apply ${attribute}="${newValue}"`, error)
    }
  }

  // The form side, called by the browser.

  /** An ancestor `<fieldset>` was disabled or enabled: as `disabled`, without the attribute. */
  formDisabledCallback (disabled) {
    this.#formDisabled = Boolean(disabled)
    this.#applyControl()
  }

  /**
   * `form.reset()`. A `<textarea>` goes back to its default text; this one's text is a shared
   * document that other people are editing, so reset does not touch it (nor send anything):
   * the text stays, and the form value and validity are read again from it. A custom validity
   * message stays too, as on a `<textarea>`. To clear the document, edit it like any other.
   */
  formResetCallback () {
    this.#updateForm()
  }

  /**
   * The browser restoring a value (back/forward navigation, autofill) is ignored: the text is
   * whatever the shared document holds, which the widget loads from the server.
   */
  formStateRestoreCallback () {
    this.#updateForm()
  }

  /** Drops the current widget (if any) and, when in the page with a `doc`, mounts a new one. */
  #remount () {
    this.#teardown()
    if (!this.isConnected || !this.getAttribute('doc')) return
    this.#warnNameAsDisplayName()
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
        this.#applyControl()
        this.#applyLabel()
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
    if (handle) {
      handle.unmount()
      this.#lastText = handle.text()
    }
  }

  #options () {
    const options = { doc: this.getAttribute('doc') }
    for (const attribute of ['server', 'placeholder', 'token', 'persist']) {
      const value = this.getAttribute(attribute)
      if (value !== null) options[attribute] = value
    }
    if (this.#tokenFunction) options.token = this.#tokenFunction
    const name = this.#displayName()
    if (name !== null) options.name = name
    const color = this.#displayColor()
    if (color !== null) options.color = color
    if (this.#locked()) options.readonly = true
    if (this.history) options.history = true
    const debounce = this.debounce
    if (debounce !== null) options.debounce = debounce
    if (this.#messages !== null) options.messages = this.#messages
    return options
  }

  /**
   * The name others see: `user-name`. For one release, an element with a `name` and no
   * `user-name` still shows `name` to others, as it did when `name` meant that (with a warning).
   */
  #displayName () {
    return this.getAttribute('user-name') ?? this.getAttribute('name')
  }

  /** `user-color`, or `color`, its older spelling. */
  #displayColor () {
    return this.getAttribute('user-color') ?? this.getAttribute('color')
  }

  #warnNameAsDisplayName () {
    if (this.#warnedName || !this.hasAttribute('name') || this.hasAttribute('user-name')) return
    this.#warnedName = true
    const name = this.getAttribute('name')
    console.warn(
      `<collab-textarea>: name="${name}" is the form field name now; the name others see is ` +
        `user-name. Until the next release, an element without user-name still shows its name ` +
        `to others ("${name}"); after that it will show "Anonymous". Set user-name="…" for the ` +
        'display name (and user-color instead of color), and keep name for the form field.'
    )
  }

  /** No typing: `readonly`, `disabled`, or disabled by a `<fieldset>`. */
  #locked () {
    return this.readonly || this.#isDisabled()
  }

  #isDisabled () {
    return this.disabled || this.#formDisabled
  }

  /** The widget's own `<textarea>`, inside the shadow root, once mounted. */
  #innerTextarea () {
    return this.shadowRoot?.querySelector('[part~="textarea"]') ?? null
  }

  /** Readonly, disabled and maxlength onto the mounted widget and its textarea; then the form. */
  #applyControl () {
    const handle = this.#handle
    if (handle) {
      handle.setReadonly(this.#locked())
      const textarea = this.#innerTextarea()
      if (textarea) {
        textarea.disabled = this.#isDisabled()
        const max = this.maxLength
        if (max >= 0) textarea.maxLength = max
        else textarea.removeAttribute('maxlength')
        textarea.required = this.required
      }
    }
    this.#updateForm()
  }

  /**
   * The element's accessible name onto the inner textarea, which is what gets focus and what
   * a screen reader announces: `aria-labelledby` (the referenced elements' text), else
   * `aria-label`, else the text of its `<label>`s; with none, the widget's own (the
   * `textLabel` message).
   */
  #applyLabel () {
    const textarea = this.#innerTextarea()
    if (!textarea) return
    if (!textarea.hasAttribute('data-own-label')) {
      textarea.setAttribute('data-own-label', textarea.getAttribute('aria-label') ?? '')
    }
    const name = this.#accessibleName()
    textarea.setAttribute('aria-label', name || textarea.getAttribute('data-own-label'))
  }

  #accessibleName () {
    const clean = (text) => (text ?? '').replace(/\s+/g, ' ').trim()
    const ids = clean(this.getAttribute('aria-labelledby'))
    if (ids) {
      const root = this.getRootNode()
      const text = ids
        .split(' ')
        .map((id) => clean(root.getElementById?.(id)?.textContent))
        .filter(Boolean)
        .join(' ')
      if (text) return text
    }
    const label = clean(this.getAttribute('aria-label'))
    if (label) return label
    return [...this.labels].map((l) => clean(l.textContent)).filter(Boolean).join(' ')
  }

  /** The form value (the text) and the validity flags it gives. */
  #updateForm () {
    const internals = this.#internals
    if (!internals) return
    const text = this.text()
    internals.setFormValue(text)
    const flags = {}
    const messages = []
    // As on a <textarea>: a readonly or disabled control is barred from validation.
    if (!this.#locked()) {
      if (this.required && text === '') {
        flags.valueMissing = true
        messages.push(requiredMessage())
      }
      const max = this.maxLength
      if (max >= 0 && text.length > max) {
        flags.tooLong = true
        messages.push(`Please shorten this text to ${max} characters or less (it is ${text.length} now).`)
      }
    }
    if (this.#customMessage !== '') {
      flags.customError = true
      messages.unshift(this.#customMessage)
    }
    const anchor = this.#innerTextarea()
    try {
      if (messages.length === 0) internals.setValidity({})
      else if (anchor) internals.setValidity(flags, messages[0], anchor)
      else internals.setValidity(flags, messages[0])
    } catch (error) {
      console.error('<collab-textarea>: could not set validity', error)
    }
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
    return this.#handle ? this.#handle.text() : this.#lastText
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

  // The form control, as on a <textarea>.

  /** The text (read-only: the text is the shared document's; edit it through the widget). */
  get value () {
    return this.text()
  }

  get type () {
    return 'textarea'
  }

  get form () {
    return this.#internals?.form ?? null
  }

  get labels () {
    return this.#internals?.labels ?? []
  }

  get validity () {
    return this.#internals?.validity
  }

  get validationMessage () {
    return this.#internals?.validationMessage ?? ''
  }

  get willValidate () {
    return this.#internals?.willValidate ?? false
  }

  checkValidity () {
    return this.#internals ? this.#internals.checkValidity() : true
  }

  reportValidity () {
    return this.#internals ? this.#internals.reportValidity() : true
  }

  setCustomValidity (message) {
    this.#customMessage = String(message ?? '')
    this.#updateForm()
  }

  /** Attribute `name`: the form field's name. */
  get name () {
    return this.getAttribute('name') ?? ''
  }

  set name (value) {
    this.#setString('name', value)
  }

  get required () {
    return this.hasAttribute('required')
  }

  set required (value) {
    this.toggleAttribute('required', Boolean(value))
  }

  get disabled () {
    return this.hasAttribute('disabled')
  }

  set disabled (value) {
    this.toggleAttribute('disabled', Boolean(value))
  }

  /** Attribute `maxlength` (UTF-16 code units, as on a `<textarea>`); -1 when absent or invalid. */
  get maxLength () {
    const raw = this.getAttribute('maxlength')
    if (raw === null || !/^\s*\d+\s*$/.test(raw)) return -1
    return Number(raw)
  }

  set maxLength (value) {
    if (value === null || value === undefined || Number(value) < 0) this.removeAttribute('maxlength')
    else this.setAttribute('maxlength', String(Math.floor(Number(value))))
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

  /** Attribute `user-name`: the name others see. */
  get userName () {
    return this.getAttribute('user-name') ?? ''
  }

  set userName (value) {
    this.#setString('user-name', value)
  }

  /** Attribute `user-color`: the colour of this user's caret and avatar. */
  get userColor () {
    return this.getAttribute('user-color') ?? ''
  }

  set userColor (value) {
    this.#setString('user-color', value)
  }

  /** Attribute `color`, the older spelling of `user-color`. */
  get color () {
    return this.getAttribute('color') ?? ''
  }

  set color (value) {
    this.#setString('color', value)
  }

  get placeholder () {
    return this.getAttribute('placeholder') ?? ''
  }

  set placeholder (value) {
    this.#setString('placeholder', value)
  }

  /** Attribute `token`, or the function set as the `token` property. */
  get token () {
    return this.#tokenFunction ?? this.getAttribute('token') ?? ''
  }

  /** A string sets the attribute; a function returning (a promise of) a token is kept as is. */
  set token (value) {
    if (typeof value === 'function') {
      this.#tokenFunction = value
      this.removeAttribute('token')
      if (this.isConnected) this.#remount()
      return
    }
    const hadFunction = this.#tokenFunction !== null
    this.#tokenFunction = null
    this.#setString('token', value)
    if (hadFunction && this.isConnected && (value === null || value === undefined)) this.#remount()
  }

  /** Attribute `persist`: `"none"` keeps no copy on this device; absent or `"indexeddb"` does. */
  get persist () {
    return this.getAttribute('persist') ?? 'indexeddb'
  }

  set persist (value) {
    this.#setString('persist', value)
  }

  /**
   * Deletes this device's copy of the document (for sign-out) and stops keeping one for the
   * mounted widget; resolves when it is gone.
   */
  forget () {
    if (this.#handle) return this.#handle.forget()
    return Promise.reject(new Error('<collab-textarea>: forget() needs a mounted widget'))
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

  /** Boolean attribute `history`: a History button in the header opens the version history. */
  get history () {
    return this.hasAttribute('history')
  }

  set history (value) {
    this.toggleAttribute('history', Boolean(value))
  }

  /** The widget's texts (see `CollabMessages` in index.d.ts); setting them remounts. */
  get messages () {
    return this.#messages
  }

  set messages (value) {
    if (value !== null && value !== undefined && typeof value !== 'object') {
      throw new TypeError('<collab-textarea>: messages must be an object of texts, or null')
    }
    this.#messages = value ?? null
    if (this.isConnected) this.#remount()
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
    for (const property of ELEMENT_PROPERTIES) {
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

let requiredText = null

/** The browser's own words for an empty required field, in the browser's language. */
function requiredMessage () {
  if (requiredText === null) {
    const probe = document.createElement('textarea')
    probe.required = true
    requiredText = probe.validationMessage || 'Please fill out this field.'
  }
  return requiredText
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
