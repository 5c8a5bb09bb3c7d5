// The y-websocket reference server (@y/websocket-server 0.1.1, its bin's code: ws + setupWSConnection),
// on 127.0.0.1 and a free port, printing the line sync-bench reads: `listening on http://HOST:PORT`.
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'

const wss = new WebSocketServer({ noServer: true })
wss.on('connection', setupWSConnection)
const server = http.createServer((_req, res) => { res.writeHead(200); res.end('okay') })
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, ws => wss.emit('connection', ws, req))
})
server.listen(0, '127.0.0.1', () => {
  const { address, port } = server.address()
  console.log(`listening on http://${address}:${port}`)
})
