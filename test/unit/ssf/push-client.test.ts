// One push delivery against real sockets on loopback, and the SSRF rules: what
// a receiver may name as its endpoint, which addresses are connected to (a
// name that resolves to loopback included), no redirect followed, a deadline,
// a bounded answer, and how an answer is read.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import t, { type Test } from 'tap'
import { guardedLookup, isNonPublic, pushEndpointProblem, resolvedEndpointProblem } from '../../../src/ssf/endpoint.js'
import { classify, pushSet } from '../../../src/ssf/push-client.js'

const dev = { production: false, allowedHosts: new Set<string>() }
const production = { production: true, allowedHosts: new Set<string>() }

async function server (t: Test, handle: (req: IncomingMessage, body: string, res: import('node:http').ServerResponse) => void): Promise<{ url: string, seen: Array<{ headers: IncomingMessage['headers'], body: string }> }> {
  const seen: Array<{ headers: IncomingMessage['headers'], body: string }> = []
  const s: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      seen.push({ headers: req.headers, body })
      handle(req, body, res)
    })
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()) }))
  const address = s.address()
  return { url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/events`, seen }
}

t.test('non-public addresses', async (t) => {
  for (const address of ['127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254',
    '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12::1', '::ffff:127.0.0.1',
    '::ffff:10.0.0.1', '64:ff9b::a00:1', '2002:7f00:1::', '2001:db8::1', 'ff02::1']) {
    t.equal(isNonPublic(address), true, `${address} is not public`)
  }
  for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111']) {
    t.equal(isNonPublic(address), false, `${address} is public`)
  }
})

t.test('endpoint rules at configuration time', async (t) => {
  t.equal(pushEndpointProblem('https://receiver.example.com/events', production), null)
  t.match(pushEndpointProblem('http://receiver.example.com/events', production), /https/)
  t.match(pushEndpointProblem('http://127.0.0.1:9/events', production), /https/, 'production: not even loopback over http')
  t.match(pushEndpointProblem('https://127.0.0.1/events', production), /non-public/)
  t.match(pushEndpointProblem('https://[::ffff:7f00:1]/events', production), /non-public/)
  t.match(pushEndpointProblem('https://169.254.169.254/latest/meta-data', production), /non-public/, 'the cloud metadata address')
  t.equal(pushEndpointProblem('https://10.0.0.5/events', { production: true, allowedHosts: new Set(['10.0.0.5']) }), null, 'allow-listed')
  t.match(pushEndpointProblem('https://a:b@receiver.example.com/', production), /credentials/)
  t.match(pushEndpointProblem('https://receiver.example.com/#x', production), /fragment/)
  t.match(pushEndpointProblem('file:///etc/passwd', dev), /https/)
  t.match(pushEndpointProblem('not a url', dev), /absolute/)
  t.equal(pushEndpointProblem('http://127.0.0.1:9/', dev), null, 'development: http to loopback')
  t.equal(pushEndpointProblem('http://localhost:9/', dev), null)
  t.match(pushEndpointProblem('http://10.0.0.1/', dev), /loopback/, 'development: http only to loopback')
  t.match(await resolvedEndpointProblem('https://localhost/events', production), /non-public/, 'production: a name that resolves to loopback')
  t.equal(await resolvedEndpointProblem('https://localhost/events', { production: true, allowedHosts: new Set(['localhost']) }), null)
  t.equal(await resolvedEndpointProblem('https://no-such-host.invalid/events', production), null, 'a name that does not resolve yet is checked at delivery')
})

t.test('the connection-time lookup refuses a name that resolves to a non-public address', async (t) => {
  const refused = await new Promise<Error | null>((resolve) => {
    guardedLookup(new URL('https://localhost/x'), production)('localhost', { all: true }, (err) => resolve(err))
  })
  t.match(refused?.message, /non-public/)
  const allowed = await new Promise<unknown>((resolve) => {
    guardedLookup(new URL('http://localhost/x'), dev)('localhost', {}, (err, address) => resolve(err ?? address))
  })
  t.ok(typeof allowed === 'string' && (allowed === '127.0.0.1' || allowed === '::1'), `development http to localhost: ${String(allowed)}`)
})

t.test('a push: POST application/secevent+jwt with the authorization header; 202 is delivered', async (t) => {
  const receiver = await server(t, (_req, _body, res) => { res.writeHead(202); res.end() })
  const result = await pushSet(receiver.url, 'eyJ.set.sig', 'Bearer receiver-secret', { timeoutMs: 2000, policy: dev })
  t.same(result, { ok: true })
  t.equal(receiver.seen[0]?.body, 'eyJ.set.sig')
  t.equal(receiver.seen[0]?.headers['content-type'], 'application/secevent+jwt')
  t.equal(receiver.seen[0]?.headers.accept, 'application/json')
  t.equal(receiver.seen[0]?.headers.authorization, 'Bearer receiver-secret')
  const none = await pushSet(receiver.url, 'x', null, { timeoutMs: 2000, policy: dev })
  t.same(none, { ok: true })
  t.equal(receiver.seen[1]?.headers.authorization, undefined, 'no header when the stream has none')
})

t.test('a redirect is not followed', async (t) => {
  const target = await server(t, (_req, _body, res) => { res.writeHead(202); res.end() })
  const redirecting = await server(t, (_req, _body, res) => { res.writeHead(307, { location: target.url }); res.end() })
  t.same(await pushSet(redirecting.url, 'x', 'Bearer s', { timeoutMs: 2000, policy: dev }), { ok: false, permanent: false, reason: 'redirect' })
  t.equal(target.seen.length, 0, 'the redirect target never heard of it')
})

t.test('a receiver that does not answer in time; one that answers a huge body', async (t) => {
  const silent = await server(t, () => {})
  const started = Date.now()
  t.same(await pushSet(silent.url, 'x', null, { timeoutMs: 300, policy: dev }), { ok: false, permanent: false, reason: 'timeout' })
  t.ok(Date.now() - started < 5000)
  const chatty = await server(t, (_req, _body, res) => {
    res.writeHead(400, { 'content-type': 'application/json' })
    res.end('{"err":"invalid_key",' + ' '.repeat(1_000_000) + '}')
  })
  t.same(await pushSet(chatty.url, 'x', null, { timeoutMs: 2000, policy: dev }), { ok: false, permanent: true, reason: 'invalid_request' },
    'only the first 4 kB are read (not JSON then: a refused SET)')
})

t.test('addresses the rules refuse are never connected to', async (t) => {
  const receiver = await server(t, (_req, _body, res) => { res.writeHead(202); res.end() })
  const url = receiver.url
  t.same(await pushSet(url, 'x', null, { timeoutMs: 2000, policy: production }), { ok: false, permanent: false, reason: 'address_refused' },
    'production: http to 127.0.0.1')
  const port = new URL(url).port
  t.same(await pushSet(`https://localhost:${port}/events`, 'x', null, { timeoutMs: 2000, policy: production }),
    { ok: false, permanent: false, reason: 'address_refused' }, 'production: a name resolving to loopback')
  t.same(await pushSet(`https://127.0.0.1:${port}/events`, 'x', null, { timeoutMs: 2000, policy: production }),
    { ok: false, permanent: false, reason: 'address_refused' }, 'production: a loopback literal')
  t.equal(receiver.seen.length, 0, 'no request reached the loopback receiver')
  t.same(await pushSet('http://127.0.0.1:1/events', 'x', null, { timeoutMs: 2000, policy: dev }), { ok: false, permanent: false, reason: 'connection' })
})

t.test('reading an answer', async (t) => {
  t.same(classify(202, ''), { ok: true })
  t.same(classify(200, ''), { ok: true }, 'any 2xx')
  t.same(classify(400, '{"err":"invalid_request","description":"bad"}'), { ok: false, permanent: true, reason: 'invalid_request' })
  t.same(classify(400, ''), { ok: false, permanent: true, reason: 'invalid_request' })
  t.same(classify(400, '{"err":"invalid_audience"}'), { ok: false, permanent: false, reason: 'invalid_audience' }, 'a configuration problem: retried')
  t.same(classify(400, '{"err":"invalid_key"}'), { ok: false, permanent: false, reason: 'invalid_key' })
  t.same(classify(400, '{"err":"<script>"}'), { ok: false, permanent: true, reason: 'invalid_request' }, 'an unknown err is not echoed')
  t.same(classify(413, ''), { ok: false, permanent: true, reason: 'invalid_request' })
  t.same(classify(401, ''), { ok: false, permanent: false, reason: 'http_4xx' })
  t.same(classify(429, ''), { ok: false, permanent: false, reason: 'http_429' })
  t.same(classify(503, ''), { ok: false, permanent: false, reason: 'http_5xx' })
  t.same(classify(302, ''), { ok: false, permanent: false, reason: 'redirect' })
})
