// The Shared Signals stream API over HTTP (app.inject): metadata, who may
// manage streams, create / read / update / replace / delete, status,
// verification, the per-client limit, and refused input.
import t from 'tap'
import type { Store } from '../../src/store/types.js'
import { memoryStore } from '../support/stores.js'
import { build, newSession } from '../helper.js'
import { adminToken, disableClient } from '../support/clients.js'
import {
  ALL_EVENTS, CREDENTIAL_CHANGE, newReceiver, POLL, PUSH, SESSION_REVOKED, SSF_ENV, ssfApp, ssfRequest
} from '../support/ssf.js'

const ISSUER = SSF_ENV.PUBLIC_URL!

/**
 * A store whose ssfStreams[method] holds every call until `count` calls are
 * waiting (or 500 ms passed): concurrent requests get past it together, so
 * what they checked or read before writing (a count, the last verification)
 * is stale for all but one.
 */
function barrier (method: 'create' | 'find', count: number): Store {
  const inner = memoryStore()
  t.teardown(() => inner.close())
  let waiting: Array<() => void> = []
  const streams = new Proxy(inner.ssfStreams, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop !== method || typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        await new Promise<void>((resolve) => {
          waiting.push(resolve)
          if (waiting.length >= count) {
            for (const release of waiting) release()
            waiting = []
          } else {
            setTimeout(resolve, 500)
          }
        })
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
      }
    }
  })
  const store = Object.create(inner) as Store
  Object.defineProperty(store, 'ssfStreams', { value: streams })
  return store
}

t.test('transmitter metadata at /.well-known/ssf-configuration', async (t) => {
  const { app } = await ssfApp(t)
  const res = await app.inject({ method: 'GET', url: '/.well-known/ssf-configuration' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'public, max-age=3600')
  t.same(res.json(), {
    spec_version: '1_0',
    issuer: ISSUER,
    jwks_uri: `${ISSUER}/.well-known/jwks.json`,
    delivery_methods_supported: [PUSH, POLL],
    configuration_endpoint: `${ISSUER}/ssf/streams`,
    status_endpoint: `${ISSUER}/ssf/status`,
    verification_endpoint: `${ISSUER}/ssf/verify`,
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
    default_subjects: 'ALL'
  })
})

t.test('with HS256 Shared Signals are off: 404 with a clear message, after authentication', async (t) => {
  const app = await build(t, { env: { ...SSF_ENV, JWT_ALGORITHM: 'HS256' } })
  const meta = await app.inject({ method: 'GET', url: '/.well-known/ssf-configuration' })
  t.equal(meta.statusCode, 404)
  t.match(meta.json(), { error: 'not_found', message: /JWT_ALGORITHM ES256, EdDSA or RS256/ })
  t.equal((await app.inject({ method: 'GET', url: '/ssf/streams' })).statusCode, 401, 'no token: 401 still')
  const receiver = await newReceiver(app)
  const res = await ssfRequest(app, receiver, 'GET', '/ssf/streams')
  t.equal(res.statusCode, 404)
  t.match(res.json().message, /Shared Signals are off/)
})

t.test('only a client\'s own client_credentials token with ssf:manage may manage streams', async (t) => {
  const { app } = await ssfApp(t)
  t.equal((await app.inject({ method: 'GET', url: '/ssf/streams' })).statusCode, 401)
  const garbage = await app.inject({ method: 'GET', url: '/ssf/streams', headers: { authorization: 'Bearer nope' } })
  t.equal(garbage.statusCode, 401)
  t.equal(garbage.headers['www-authenticate'], 'Bearer error="invalid_token"')

  const user = await newSession(app)
  const asUser = await ssfRequest(app, { authorization: `Bearer ${user.access_token}` }, 'GET', '/ssf/streams')
  t.equal(asUser.statusCode, 403, 'a user\'s token')
  t.equal(asUser.json().error, 'insufficient_scope')
  const admin = await ssfRequest(app, { authorization: `Bearer ${await adminToken(app)}` }, 'GET', '/ssf/streams')
  t.equal(admin.statusCode, 403, 'an admin\'s token too: streams are a client\'s')

  const noScope = await newReceiver(app, ['orders:read'])
  t.equal((await ssfRequest(app, noScope, 'GET', '/ssf/streams')).statusCode, 403, 'a client without ssf:manage')

  const receiver = await newReceiver(app)
  const ok = await ssfRequest(app, receiver, 'GET', '/ssf/streams')
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), [], 'no streams yet: an empty list')
  t.equal(ok.headers['cache-control'], 'no-store')

  await disableClient(app, receiver.clientId)
  t.equal((await ssfRequest(app, receiver, 'GET', '/ssf/streams')).statusCode, 401, 'a disabled client\'s token is refused')
})

t.test('create, read, list, update, replace and delete a stream', async (t) => {
  const { app, store } = await ssfApp(t)
  const receiver = await newReceiver(app)
  const created = await ssfRequest(app, receiver, 'POST', '/ssf/streams', {
    delivery: { method: PUSH, endpoint_url: 'http://127.0.0.1:9/events', authorization_header: 'Bearer receiver-secret' },
    events_requested: [SESSION_REVOKED, 'urn:example:unknown', SESSION_REVOKED],
    description: 'orders'
  })
  t.equal(created.statusCode, 201, created.body)
  const stream = created.json()
  t.match(stream.stream_id, /^[A-Za-z0-9_-]{22}$/)
  t.same(stream, {
    stream_id: stream.stream_id,
    iss: ISSUER,
    aud: receiver.clientId,
    events_supported: ALL_EVENTS,
    events_requested: [SESSION_REVOKED, 'urn:example:unknown'],
    events_delivered: [SESSION_REVOKED],
    delivery: { method: PUSH, endpoint_url: 'http://127.0.0.1:9/events' },
    min_verification_interval: 30,
    description: 'orders'
  }, 'unknown types ignored, duplicates dropped, the authorization header not shown')
  t.notMatch(created.body, /receiver-secret/)
  const stored = await store.ssfStreams.find(stream.stream_id)
  t.match(stored?.authorizationHeader, /^v1\./, 'stored sealed')
  t.notMatch(stored?.authorizationHeader, /receiver-secret/, 'not in clear')

  const read = await ssfRequest(app, receiver, 'GET', `/ssf/streams?stream_id=${stream.stream_id}`)
  t.same(read.json(), stream)
  const listed = await ssfRequest(app, receiver, 'GET', '/ssf/streams')
  t.same(listed.json(), [stream])

  const patched = await ssfRequest(app, receiver, 'PATCH', '/ssf/streams', {
    stream_id: stream.stream_id, iss: ISSUER, aud: receiver.clientId, events_requested: ALL_EVENTS
  })
  t.equal(patched.statusCode, 200, patched.body)
  t.same(patched.json().events_delivered, ALL_EVENTS)
  t.equal(patched.json().description, 'orders', 'PATCH leaves what it does not name')
  t.same(patched.json().delivery, stream.delivery)
  t.equal((await store.ssfStreams.find(stream.stream_id))?.authorizationHeader, stored?.authorizationHeader, 'the header is kept')

  const replaced = await ssfRequest(app, receiver, 'PUT', '/ssf/streams', { stream_id: stream.stream_id, events_requested: [CREDENTIAL_CHANGE] })
  t.equal(replaced.statusCode, 200, replaced.body)
  t.same(replaced.json(), {
    stream_id: stream.stream_id,
    iss: ISSUER,
    aud: receiver.clientId,
    events_supported: ALL_EVENTS,
    events_requested: [CREDENTIAL_CHANGE],
    events_delivered: [CREDENTIAL_CHANGE],
    delivery: { method: POLL, endpoint_url: `${ISSUER}/ssf/poll/${stream.stream_id}` },
    min_verification_interval: 30
  }, 'PUT: what is left out is deleted (description; delivery falls back to poll)')
  t.equal((await store.ssfStreams.find(stream.stream_id))?.authorizationHeader, null, 'the authorization header went with the delivery')

  const deleted = await ssfRequest(app, receiver, 'DELETE', `/ssf/streams?stream_id=${stream.stream_id}`)
  t.equal(deleted.statusCode, 204)
  t.equal((await ssfRequest(app, receiver, 'GET', `/ssf/streams?stream_id=${stream.stream_id}`)).statusCode, 404)
  t.equal((await ssfRequest(app, receiver, 'DELETE', `/ssf/streams?stream_id=${stream.stream_id}`)).statusCode, 404)
  t.equal(await store.ssfStreams.find(stream.stream_id), null)
})

t.test('a stream without delivery is a poll stream with the transmitter\'s URL', async (t) => {
  const { app } = await ssfApp(t)
  const receiver = await newReceiver(app)
  const res = await ssfRequest(app, receiver, 'POST', '/ssf/streams', { events_requested: [SESSION_REVOKED] })
  t.equal(res.statusCode, 201)
  t.same(res.json().delivery, { method: POLL, endpoint_url: `${ISSUER}/ssf/poll/${res.json().stream_id as string}` })
})

t.test('one client cannot see or touch another\'s stream: 404, exactly as for a stream that does not exist', async (t) => {
  const { app } = await ssfApp(t)
  const owner = await newReceiver(app)
  const other = await newReceiver(app)
  const id = (await ssfRequest(app, owner, 'POST', '/ssf/streams', { events_requested: [SESSION_REVOKED] })).json().stream_id as string
  const attempts: Array<[string, 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', string, unknown?]> = [
    ['read', 'GET', `/ssf/streams?stream_id=${id}`],
    ['update', 'PATCH', '/ssf/streams', { stream_id: id, events_requested: ALL_EVENTS }],
    ['replace', 'PUT', '/ssf/streams', { stream_id: id, delivery: { method: PUSH, endpoint_url: 'http://127.0.0.1:9/x' } }],
    ['delete', 'DELETE', `/ssf/streams?stream_id=${id}`],
    ['read status', 'GET', `/ssf/status?stream_id=${id}`],
    ['set status', 'POST', '/ssf/status', { stream_id: id, status: 'disabled' }],
    ['verify', 'POST', '/ssf/verify', { stream_id: id }],
    ['poll', 'POST', `/ssf/poll/${id}`, { returnImmediately: true }]
  ]
  for (const [what, method, url, body] of attempts) {
    const theirs = await ssfRequest(app, other, method, url, body)
    const unknown = await ssfRequest(app, other, method, url.replace(id, 'nosuchstream0000000000'),
      body === undefined ? undefined : JSON.parse(JSON.stringify(body).replace(id, 'nosuchstream0000000000')))
    t.equal(theirs.statusCode, 404, `${what}: 404`)
    t.same(theirs.json(), unknown.json(), `${what}: the same answer as an unknown id`)
  }
  t.same((await ssfRequest(app, other, 'GET', '/ssf/streams')).json(), [], 'the list holds only one\'s own')
  const untouched = await ssfRequest(app, owner, 'GET', `/ssf/streams?stream_id=${id}`)
  t.equal(untouched.statusCode, 200, 'the owner\'s stream is still there')
  t.same(untouched.json().events_requested, [SESSION_REVOKED], 'unchanged')
  t.equal((await ssfRequest(app, owner, 'GET', `/ssf/status?stream_id=${id}`)).json().status, 'enabled')
})

t.test('transmitter-supplied properties may be sent back but must match', async (t) => {
  const { app } = await ssfApp(t)
  const receiver = await newReceiver(app)
  t.equal((await ssfRequest(app, receiver, 'POST', '/ssf/streams', { stream_id: 'mine' })).statusCode, 400, 'stream_id on create')
  const id = (await ssfRequest(app, receiver, 'POST', '/ssf/streams', {})).json().stream_id as string
  for (const [field, value] of [
    ['iss', 'https://evil.example.com'], ['aud', 'someone-else'], ['events_supported', [SESSION_REVOKED]],
    ['events_delivered', [SESSION_REVOKED]], ['min_verification_interval', 1]
  ] as const) {
    const res = await ssfRequest(app, receiver, 'PATCH', '/ssf/streams', { stream_id: id, [field]: value })
    t.equal(res.statusCode, 400, field)
    t.match(res.json().message, new RegExp(`${field} is supplied by the transmitter`))
  }
  const poll = await ssfRequest(app, receiver, 'PATCH', '/ssf/streams', { stream_id: id, delivery: { method: POLL, endpoint_url: 'https://elsewhere.example.com/' } })
  t.equal(poll.statusCode, 400, 'a poll endpoint_url is the transmitter\'s')
  t.equal((await ssfRequest(app, receiver, 'PATCH', '/ssf/streams', { events_requested: [] })).statusCode, 400, 'PATCH without stream_id')
})

t.test('input limits and refused push endpoints', async (t) => {
  const { app, store } = await ssfApp(t)
  const receiver = await newReceiver(app)
  const create = async (body: unknown) => ssfRequest(app, receiver, 'POST', '/ssf/streams', body)
  const push = (endpoint: string, extra: Record<string, unknown> = {}) => ({ delivery: { method: PUSH, endpoint_url: endpoint, ...extra } })
  const refused: Array<[string, unknown]> = [
    ['a description over 256 characters', { description: 'x'.repeat(257) }],
    ['a control character in the description', { description: 'a\nb' }],
    ['33 event types', { events_requested: Array.from({ length: 33 }, (_, i) => `urn:x:${i}`) }],
    ['an event type with a space', { events_requested: ['urn:a b'] }],
    ['an event type of 257 characters', { events_requested: ['u'.repeat(257)] }],
    ['an unknown property', { format: 'email' }],
    ['an unknown delivery method', { delivery: { method: 'urn:ietf:rfc:9999' } }],
    ['push without endpoint_url', { delivery: { method: PUSH } }],
    ['an ftp endpoint', push('ftp://127.0.0.1/x')],
    ['credentials in the URL', push('https://user:pass@receiver.example.com/x')],
    ['a fragment', push('https://receiver.example.com/x#frag')],
    ['http off loopback', push('http://receiver.example.com/events')],
    ['an endpoint over 2048 characters', push(`https://receiver.example.com/${'a'.repeat(2048)}`)],
    ['CR LF in the authorization header', push('http://127.0.0.1:9/x', { authorization_header: 'Bearer a\r\nX-Injected: 1' })],
    ['a control character in the authorization header', push('http://127.0.0.1:9/x', { authorization_header: 'Bearer a\u0000' })],
    ['an authorization header over 4096 characters', push('http://127.0.0.1:9/x', { authorization_header: 'Bearer ' + 'a'.repeat(4096) })],
    ['an authorization header on a poll stream', { delivery: { method: POLL, authorization_header: 'Bearer x' } }],
    ['a string where a list is meant', { events_requested: SESSION_REVOKED }]
  ]
  for (const [what, body] of refused) {
    const res = await create(body)
    t.equal(res.statusCode, 400, what)
    t.equal(res.json().error, 'invalid_request', what)
  }
  const big = await create({ description: 'x'.repeat(20_000) })
  t.equal(big.statusCode, 413, 'a body over 16 kB')
  t.same(await store.ssfStreams.listForClient(receiver.clientId), [], 'nothing was written')
  t.equal((await create(push('http://localhost:9/events'))).statusCode, 201, 'http to localhost outside production')
  t.equal((await create(push('http://[::1]:9/events'))).statusCode, 201, 'and to ::1')
  t.equal((await create(push('https://receiver.example.com/events'))).statusCode, 201, 'https anywhere')
})

t.test('a client may have SSF_MAX_STREAMS_PER_CLIENT streams, also when creates race', async (t) => {
  const { app, store } = await ssfApp(t, { env: { SSF_MAX_STREAMS_PER_CLIENT: '3' }, store: barrier('create', 10) })
  const receiver = await newReceiver(app)
  const racing = await Promise.all(Array.from({ length: 10 }, async () => ssfRequest(app, receiver, 'POST', '/ssf/streams', {})))
  const statuses = racing.map((r) => r.statusCode)
  t.equal(statuses.filter((s) => s === 201).length, 3, `3 of 10 concurrent creates succeed (${statuses.join(',')})`)
  t.ok(statuses.every((s) => s === 201 || s === 409), 'the others are 409')
  t.match(racing.find((r) => r.statusCode === 409)?.json(), { error: 'conflict', message: /at most 3 streams/ })
  t.equal((await store.ssfStreams.listForClient(receiver.clientId)).length, 3)
  const other = await newReceiver(app)
  t.equal((await ssfRequest(app, other, 'POST', '/ssf/streams', {})).statusCode, 201, 'another client has its own')
})

t.test('stream status: read, set with a reason', async (t) => {
  const { app } = await ssfApp(t)
  const receiver = await newReceiver(app)
  const id = (await ssfRequest(app, receiver, 'POST', '/ssf/streams', {})).json().stream_id as string
  t.same((await ssfRequest(app, receiver, 'GET', `/ssf/status?stream_id=${id}`)).json(), { stream_id: id, status: 'enabled' })
  const paused = await ssfRequest(app, receiver, 'POST', '/ssf/status', { stream_id: id, status: 'paused', reason: 'maintenance' })
  t.equal(paused.statusCode, 200)
  t.same(paused.json(), { stream_id: id, status: 'paused', reason: 'maintenance' })
  t.same((await ssfRequest(app, receiver, 'GET', `/ssf/status?stream_id=${id}`)).json(), { stream_id: id, status: 'paused', reason: 'maintenance' })
  t.equal((await ssfRequest(app, receiver, 'POST', '/ssf/status', { stream_id: id, status: 'stopped' })).statusCode, 400)
  t.equal((await ssfRequest(app, receiver, 'GET', '/ssf/status')).statusCode, 400, 'stream_id is required')
})

t.test('verification: 204, then 429 within min_verification_interval, also when requests race', async (t) => {
  const { app, store } = await ssfApp(t, { store: barrier('find', 6) })
  const receiver = await newReceiver(app)
  const id = (await ssfRequest(app, receiver, 'POST', '/ssf/streams', {})).json().stream_id as string
  const racing = await Promise.all(Array.from({ length: 6 }, async () => ssfRequest(app, receiver, 'POST', '/ssf/verify', { stream_id: id, state: 'abc' })))
  const statuses = racing.map((r) => r.statusCode)
  t.equal(statuses.filter((s) => s === 204).length, 1, `one of 6 concurrent requests queues an event (${statuses.join(',')})`)
  const limited = racing.find((r) => r.statusCode === 429)
  t.ok(limited, 'the others are 429')
  t.ok(Number(limited?.headers['retry-after']) >= 1 && Number(limited?.headers['retry-after']) <= 30, 'with Retry-After')
  const events = await store.ssfEvents.since(0, 10)
  t.equal(events.length, 1, 'one verification event in the outbox')
  t.match(events[0], { type: 'https://schemas.openid.net/secevent/ssf/event-type/verification', streamId: id, subject: { format: 'opaque', id }, payload: { state: 'abc' } })
})
