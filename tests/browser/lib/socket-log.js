// Injected (context.addInitScript) into pages whose WebSocket connections a test counts: every
// WebSocket the page opens, whoever opens it, is logged in `window.__sockets` as
// `{ url, openedAt, code, reason, closedAt }` (close code and reason as the page saw them).
// The sockets themselves are the browser's own; the subclass only listens.
(() => {
  const Native = window.WebSocket
  const sockets = []
  class LoggedWebSocket extends Native {
    constructor (...args) {
      super(...args)
      const entry = { url: String(args[0]), openedAt: Date.now(), code: null, reason: null, closedAt: null }
      sockets.push(entry)
      this.addEventListener('close', (event) => {
        entry.code = event.code
        entry.reason = event.reason
        entry.closedAt = Date.now()
      })
    }
  }
  window.WebSocket = LoggedWebSocket
  window.__sockets = sockets
})()
