// Slow clients against the server listening on loopback (the app and the
// server options of production, in this process): a request that is not complete within
// REQUEST_TIMEOUT, whether it trickles its headers or its body, or sends
// nothing at all, is closed; so is a keep-alive connection left idle longer
// than KEEP_ALIVE_TIMEOUT. A well-behaved client on the same server is served.
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { build } from '../helper.js'

interface Outcome { closed: boolean, received: string, bytesSent: number }

/** Long past the 1 s deadlines of the test: a connection still open then was never going to be closed. */
const GIVE_UP_MS = 15_000

/**
 * Opens a connection, writes `first`, then one byte of `drip` every `everyMs`
 * until the server closes the connection (or the drip runs out: then it
 * waits), for at most GIVE_UP_MS.
 */
async function slowClient (port: number, first: string, drip = '', everyMs = 200): Promise<Outcome> {
  const socket: Socket = connect(port, '127.0.0.1')
  let received = ''
  let bytesSent = 0
  socket.on('data', (d) => { received += d.toString() })
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  if (first !== '') { socket.write(first); bytesSent += first.length }
  let i = 0
  const timer = setInterval(() => {
    if (i < drip.length && !socket.destroyed) { socket.write(drip[i]!); bytesSent += 1; i += 1 }
  }, everyMs)
  const closed = await new Promise<boolean>((resolve) => {
    const giveUp = setTimeout(() => resolve(false), GIVE_UP_MS)
    socket.once('close', () => { clearTimeout(giveUp); resolve(true) })
  })
  clearInterval(timer)
  socket.destroy()
  return { closed, received, bytesSent }
}

t.test('slow and idle connections are closed; others are served', async (t) => {
  const app = await build(t, { env: { REQUEST_TIMEOUT: '1', KEEP_ALIVE_TIMEOUT: '1' } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const url = `http://127.0.0.1:${port}`
  const endless = 'x'.repeat(10_000)

  const [headers, body, silent, idle] = await Promise.all([
    // Headers, one byte at a time, never finished.
    slowClient(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', endless),
    // Complete headers, then a body that trickles and never reaches its length.
    slowClient(port, 'POST /token/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"token":"', endless),
    // A connection that never sends a byte.
    slowClient(port, ''),
    // One complete request on a keep-alive connection, then nothing.
    slowClient(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  ])

  t.ok(headers.closed, `trickled headers: closed (${headers.bytesSent} bytes sent)`)
  t.ok(headers.bytesSent < 200, 'long before the client was done')
  t.ok(body.closed, `trickled body: closed (${body.bytesSent} bytes sent)`)
  t.ok(body.bytesSent < 1000, 'long before the body was complete')
  t.match(body.received, /^HTTP\/1\.1 408 /, 'with 408 Request Timeout')
  t.ok(silent.closed, 'a connection that sends nothing: closed')
  t.match(idle.received, /^HTTP\/1\.1 200 /, 'the keep-alive request was answered')
  t.match(idle.received, /keep-alive/i, 'and the connection kept open for a while')
  t.ok(idle.closed, 'then closed once idle')

  const res = await fetch(`${url}/health`)
  t.equal(res.status, 200, 'a normal client is served all along')
})
