// Injected into every test page before the page's own scripts run (context.addInitScript).
// Gives the tests one way to read the widget as a user sees it, through its documented DOM
// (widget/README.md): the open shadow root, parts, data attributes and events. It never
// touches the widget's internals.
(() => {
  /** Every collab-* event the widget dispatched, in order. The events do not bubble, but
   *  they still pass window in the capture phase, so nothing has to know the host early. */
  const events = []
  const record = (event) => {
    let detail = null
    try { detail = JSON.parse(JSON.stringify(event.detail ?? null)) } catch { detail = String(event.detail) }
    events.push({ type: event.type, detail, at: Date.now() })
  }
  /** (Re)installs the listeners: document.open() (page.setContent) removes the window's. The
   *  same function added twice is one listener, so calling this again never double-counts. */
  const listen = () => {
    for (const type of ['collab-status', 'collab-save', 'collab-presence', 'collab-text']) {
      window.addEventListener(type, record, true)
    }
  }
  listen()

  /** The element whose open shadow root holds the widget (`[part=root]`): the one matching the
   *  CSS selector `sel`, or when `sel` is not given, the first in the page. */
  const host = (sel) => {
    for (const el of document.querySelectorAll(sel ?? '*')) {
      if (el.shadowRoot && el.shadowRoot.querySelector('[part=root]')) return el
    }
    return null
  }
  const shadow = (sel) => host(sel)?.shadowRoot ?? null
  const part = (name, sel) => shadow(sel)?.querySelector(`[part~="${name}"]`) ?? null
  const rect = (el) => {
    const r = el.getBoundingClientRect()
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height }
  }
  const visible = (el) => !!el && el.checkVisibility({ opacityProperty: true, visibilityProperty: true }) &&
    el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().height > 0

  /** Any CSS colour as [r, g, b, a] (0–255), whatever notation the computed style uses. */
  const rgba = (css) => {
    const canvas = document.createElement('canvas')
    canvas.width = canvas.height = 1
    const ctx = canvas.getContext('2d', { willReadFrequently: true })
    ctx.fillStyle = css
    ctx.fillRect(0, 0, 1, 1)
    return [...ctx.getImageData(0, 0, 1, 1).data]
  }

  /** A snapshot of everything a user can see or the contract promises. */
  const state = (sel) => {
    const root = part('root', sel)
    if (!root) return { mounted: false }
    const dot = part('status-dot', sel)
    const textarea = part('textarea', sel)
    const retry = part('retry', sel)
    const saveLine = part('save-line', sel)
    return {
      mounted: true,
      status: root.dataset.status,
      save: root.dataset.save,
      saveLine: saveLine ? saveLine.textContent.trim() : null,
      dot: dot && { label: dot.getAttribute('aria-label'), title: dot.getAttribute('title'), color: getComputedStyle(dot).backgroundColor, rgba: rgba(getComputedStyle(dot).backgroundColor) },
      retryVisible: visible(retry),
      text: textarea ? textarea.value : null,
      selection: textarea ? [textarea.selectionStart, textarea.selectionEnd] : null,
      focused: shadow(sel).activeElement === textarea,
      avatars: [...shadow(sel).querySelectorAll('[part~="avatar"]')].map((a) => ({
        title: a.getAttribute('title'),
        label: a.textContent.trim(),
        self: a.dataset.self === 'true',
        clientId: a.dataset.clientId,
        visible: visible(a)
      })),
      cursors: [...shadow(sel).querySelectorAll('.ct-cursor')].map((c) => ({
        name: c.dataset.name,
        clientId: c.dataset.clientId,
        caret: c.querySelector('.ct-caret') ? rect(c.querySelector('.ct-caret')) : null,
        caretVisible: visible(c.querySelector('.ct-caret')),
        selections: [...c.querySelectorAll('.ct-selection')].map(rect).filter((r) => r.width > 0 && r.height > 0),
        label: c.querySelector('.ct-label')?.textContent.trim() ?? null
      }))
    }
  }

  /**
   * Where the character boundary `index` of the textarea is drawn, in viewport coordinates:
   * `{ x, top, bottom }` of a zero-width caret there. Measured with a mirror element that copies
   * the textarea's text layout (the usual technique); independent of the widget's own code.
   */
  const caretPosition = (index, sel) => {
    const textarea = part('textarea', sel)
    const style = getComputedStyle(textarea)
    const mirror = document.createElement('pre')
    const copied = ['boxSizing', 'borderTopWidth', 'borderRightWidth', 'borderBottomWidth',
      'borderLeftWidth', 'borderStyle', 'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft',
      'fontFamily', 'fontSize', 'fontWeight', 'fontStyle', 'fontVariant', 'fontStretch', 'lineHeight',
      'letterSpacing', 'wordSpacing', 'textIndent', 'textTransform', 'tabSize', 'direction']
    for (const key of copied) mirror.style[key] = style[key]
    Object.assign(mirror.style, {
      position: 'fixed', visibility: 'hidden', margin: '0', overflow: 'hidden',
      whiteSpace: 'pre-wrap', overflowWrap: 'break-word', wordBreak: style.wordBreak,
      left: `${textarea.getBoundingClientRect().left}px`, top: `${textarea.getBoundingClientRect().top}px`
    })
    // Account for a scrollbar the textarea shows: the text wraps narrower.
    mirror.style.width = `${textarea.getBoundingClientRect().width}px`
    mirror.style.paddingRight = `${parseFloat(style.paddingRight) + (textarea.offsetWidth - textarea.clientWidth -
      parseFloat(style.borderLeftWidth) - parseFloat(style.borderRightWidth))}px`
    mirror.textContent = textarea.value.slice(0, index)
    const marker = document.createElement('span')
    marker.textContent = '\u200b'
    mirror.appendChild(marker)
    document.documentElement.appendChild(mirror)
    const r = marker.getBoundingClientRect()
    mirror.remove()
    return { x: r.left - textarea.scrollLeft, top: r.top - textarea.scrollTop, bottom: r.bottom - textarea.scrollTop }
  }

  /** Records every value of the save line and `data-save` from now on (MutationObserver). */
  const saveLineLog = []
  let saveObserver = null
  const watchSaveLine = (sel) => {
    if (saveObserver) return
    const root = part('root', sel)
    const record = () => {
      const entry = { save: root.dataset.save, line: part('save-line', sel)?.textContent.trim(), at: Date.now() }
      const last = saveLineLog[saveLineLog.length - 1]
      if (!last || last.save !== entry.save || last.line !== entry.line) saveLineLog.push(entry)
    }
    saveObserver = new MutationObserver(record)
    saveObserver.observe(root, { attributes: true, attributeFilter: ['data-save'], subtree: true, childList: true, characterData: true })
    record()
  }

  window.__ct = { listen, rgba, events, host, shadow, part, state, visible, rect, caretPosition, saveLineLog, watchSaveLine }
})()
