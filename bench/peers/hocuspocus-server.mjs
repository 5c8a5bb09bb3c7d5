// Hocuspocus (@hocuspocus/server 3.4.4) with no extensions (in memory, no auth hook), on 127.0.0.1
// and a free port, printing the line sync-bench reads: `listening on http://HOST:PORT`.
import { Server } from '@hocuspocus/server'

const server = new Server({ port: 0, address: '127.0.0.1', quiet: true })
// 3.4.4 passes `address` where Node's listen() reads `host`, so it would bind every interface:
// keep it on loopback.
const listen = server.httpServer.listen.bind(server.httpServer)
server.httpServer.listen = (options, ...rest) => listen({ ...options, host: '127.0.0.1' }, ...rest)
await server.listen()
const { address, port } = server.httpServer.address()
console.log(`listening on http://${address}:${port}`)
