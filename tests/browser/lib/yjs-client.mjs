// A stock Yjs client in the test process: yjs + y-websocket from npm, unmodified, with `ws`.

import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { waitUntil } from './wait.mjs'

export class YjsClient {
  /** Connects to `${wsBase}/{doc}` as `name` (awareness `user`, the Yjs editor convention). */
  constructor (wsBase, doc, name, color = '#0ea5e9') {
    this.name = name
    this.doc = new Y.Doc()
    this.text = this.doc.getText('content')
    this.provider = new WebsocketProvider(wsBase, doc, this.doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true // clients in one process would otherwise sync past the server
    })
    this.awareness = this.provider.awareness
    this.awareness.setLocalStateField('user', { name, color, colorLight: `${color}33` })
  }

  waitSynced () {
    return waitUntil(`${this.name} (Yjs client) to sync`, () => this.provider.synced)
  }

  waitText (predicate, what) {
    return waitUntil(`${this.name} (Yjs client) to see ${what}`, () => predicate(this.text.toString()))
  }

  /** Names of the other users in this client's awareness. */
  peerNames () {
    return [...this.awareness.getStates()]
      .filter(([id]) => id !== this.doc.clientID)
      .map(([, state]) => state.user?.name)
      .filter(Boolean)
      .sort()
  }

  /** Puts this client's cursor at `index` (anchor = head), as Yjs editor bindings do. */
  setCursor (index) {
    const pos = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(this.text, index))
    this.awareness.setLocalStateField('cursor', { anchor: pos, head: pos })
  }

  destroy () {
    this.provider.destroy()
    this.doc.destroy()
  }
}
