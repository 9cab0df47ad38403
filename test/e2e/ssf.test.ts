// Shared Signals end to end: real server processes on a SQLite file, a push
// receiver on a loopback port written here, and jose verifying every SET
// against the JWKS the server publishes. Push within 2 s of a logout (the
// lag is printed); a receiver down for 30 s gets every event, in order, when
// it returns; poll acknowledgements; a kill -9 between an action and its
// delivery loses nothing; two instances deliver each event to a stream once;
// one client cannot manage another's stream; production refuses an http://
// push endpoint.
import { join } from 'node:path'
import t from 'tap'
import { PASSWORD } from '../helper.js'
import { ADMIN_ENV, basic } from '../support/clients.js'
import { freePort, startServer, type RunningServer } from '../support/server-process.js'
import { ALL_EVENTS, POLL, PUSH, pushReceiver, remoteKeys, SESSION_REVOKED, verifySet, type PushReceiver } from '../support/ssf.js'
import { scratchDir } from '../support/stores.js'

// Several cases start two server processes; one waits out a 30 s outage.
t.setTimeout(600_000)

const BASE_ENV = { ...ADMIN_ENV, JWT_ALGORITHM: 'ES256', SSF_RETRY_MIN_MS: '100', SSF_RETRY_MAX_MS: '1000' }

interface Answer { status: number, body: any }

async function call (url: string, method: string, body?: unknown, authorization?: string, form = false): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (authorization !== undefined) headers.authorization = authorization
  if (body !== undefined) headers['content-type'] = form ? 'application/x-www-form-urlencoded' : 'application/json'
  const res = await fetch(url, {
    method,
    headers,
    ...(body !== undefined ? { body: form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body) } : {})
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? null : JSON.parse(text) }
}

/** A server on a port chosen first, so that PUBLIC_URL (the SETs' iss) is its real address. */
async function server (env: Record<string, string>, port?: number): Promise<RunningServer> {
  const p = port ?? await freePort()
  return startServer(t, { ...BASE_ENV, PORT: String(p), PUBLIC_URL: `http://127.0.0.1:${p}`, ...env })
}

interface ReceiverClient { clientId: string, authorization: string }

/** A confidential client with ssf:manage, created by the bootstrap admin, and its client_credentials token. */
async function receiverClient (s: RunningServer): Promise<ReceiverClient> {
  const admin = await call(`${s.url}/auth/login`, 'POST', { username: ADMIN_ENV.ADMIN_USERNAME, password: ADMIN_ENV.ADMIN_PASSWORD })
  const client = await call(`${s.url}/admin/clients`, 'POST', { name: 'receiver', grants: ['client_credentials'], scopes: ['ssf:manage'] },
    `Bearer ${admin.body.access_token as string}`)
  if (client.status !== 201) throw new Error(`create client: ${client.status}`)
  const token = await call(`${s.url}/oauth/token`, 'POST', { grant_type: 'client_credentials' },
    basic(client.body.client_id, client.body.client_secret), true)
  return { clientId: client.body.client_id, authorization: `Bearer ${token.body.access_token as string}` }
}

async function pushStreamTo (s: RunningServer, client: ReceiverClient, endpoint: string): Promise<string> {
  const res = await call(`${s.url}/ssf/streams`, 'POST', {
    delivery: { method: PUSH, endpoint_url: endpoint, authorization_header: 'Bearer receiver-secret' }, events_requested: ALL_EVENTS
  }, client.authorization)
  if (res.status !== 201) throw new Error(`create stream: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.stream_id
}

let users = 0
/** Registers a user and logs in: the session's sid and refresh token. */
async function session (s: RunningServer): Promise<{ sid: string, refresh: string }> {
  users += 1
  const username = `ssf${users}x${process.pid}`
  await call(`${s.url}/auth/register`, 'POST', { username, password: PASSWORD })
  const pair = await call(`${s.url}/auth/login`, 'POST', { username, password: PASSWORD })
  const claims = JSON.parse(Buffer.from((pair.body.access_token as string).split('.')[1]!, 'base64url').toString())
  return { sid: claims.sid, refresh: pair.body.refresh_token }
}

async function logout (s: RunningServer, refresh: string): Promise<void> {
  const res = await call(`${s.url}/auth/logout`, 'POST', { refresh_token: refresh })
  if (res.status !== 204) throw new Error(`logout: ${res.status}`)
}

const sids = (receiver: PushReceiver): string[] => receiver.received.filter((s) => s.type === SESSION_REVOKED).map((s) => s.claims.sub_id.session.id)

async function until (check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('push: a session-revoked reaches the receiver within 2 s of a logout (lag measured); poll; another client\'s stream', async (t) => {
  const s = await server({ SQLITE_PATH: join(scratchDir(t), 'ssf.sqlite') })
  const client = await receiverClient(s)
  const receiver = await pushReceiver(t, { issuer: s.url, audience: () => client.clientId, keys: () => remoteKeys(s.url) })
  const streamId = await pushStreamTo(s, client, receiver.url)

  const lags: number[] = []
  for (let i = 0; i < 10; i++) {
    const { sid, refresh } = await session(s)
    const started = performance.now()
    await logout(s, refresh)
    await until(() => sids(receiver).includes(sid), 2000, `session-revoked for logout ${i}`)
    lags.push(performance.now() - started)
  }
  lags.sort((a, b) => a - b)
  t.comment(`push delivery lag, logout request to SET verified at the receiver (ms, 10 logouts): min ${lags[0]!.toFixed(1)}, ` +
    `median ${lags[5]!.toFixed(1)}, max ${lags[9]!.toFixed(1)}`)
  t.ok(lags[9]! <= 2000, 'every one within 2 s')
  t.equal(receiver.received.length, 10, 'each once, every SET verified by jose against the published JWKS')
  t.ok(receiver.requests.every((r) => r.headers.authorization === 'Bearer receiver-secret'), 'with the stream\'s authorization header')
  t.ok(receiver.requests.every((r) => r.headers['content-type'] === 'application/secevent+jwt'))

  // Poll, through the same server: acknowledged SETs never come again, unacknowledged ones do.
  const poll = await call(`${s.url}/ssf/streams`, 'POST', { delivery: { method: POLL }, events_requested: [SESSION_REVOKED] }, client.authorization)
  const pollUrl = poll.body.delivery.endpoint_url as string
  t.equal(pollUrl, `${s.url}/ssf/poll/${poll.body.stream_id as string}`)
  const ended: string[] = []
  for (let i = 0; i < 3; i++) {
    const { sid, refresh } = await session(s)
    await logout(s, refresh)
    ended.push(sid)
  }
  const keys = remoteKeys(s.url)
  const read = async (body: unknown): Promise<Array<{ jti: string, sid: string }>> => {
    const res = await call(pollUrl, 'POST', body, client.authorization)
    t.equal(res.status, 200)
    const out = []
    for (const set of Object.values(res.body.sets as Record<string, string>)) {
      const verified = await verifySet(set, keys, s.url, client.clientId)
      out.push({ jti: verified.jti, sid: verified.claims.sub_id.session.id as string })
    }
    return out
  }
  const first = await read({ returnImmediately: true })
  t.same(first.map((e) => e.sid), ended, 'the three, in order')
  const second = await read({ ack: [first[0]!.jti, first[2]!.jti], returnImmediately: true })
  t.same(second.map((e) => e.sid), [ended[1]], 'after acknowledging the first and third: exactly the second')
  t.same(await read({ ack: [second[0]!.jti], returnImmediately: true }), [], 'all acknowledged: none')

  // Another client knows the stream's id: 404, and the stream is untouched.
  const other = await receiverClient(s)
  t.equal((await call(`${s.url}/ssf/streams?stream_id=${streamId}`, 'GET', undefined, other.authorization)).status, 404)
  t.equal((await call(`${s.url}/ssf/streams?stream_id=${streamId}`, 'DELETE', undefined, other.authorization)).status, 404)
  t.equal((await call(`${s.url}/ssf/status`, 'POST', { stream_id: streamId, status: 'disabled' }, other.authorization)).status, 404)
  const mine = await call(`${s.url}/ssf/status?stream_id=${streamId}`, 'GET', undefined, client.authorization)
  t.same(mine.body, { stream_id: streamId, status: 'enabled' }, 'the owner\'s stream is as it was')
})

t.test('a receiver down for 30 s gets every event, in order, when it returns', async (t) => {
  const s = await server({ SQLITE_PATH: join(scratchDir(t), 'ssf.sqlite') })
  const client = await receiverClient(s)
  const receiver = await pushReceiver(t, { issuer: s.url, audience: () => client.clientId, keys: () => remoteKeys(s.url) })
  await pushStreamTo(s, client, receiver.url)
  const warm = await session(s)
  await logout(s, warm.refresh)
  await until(() => receiver.received.length === 1, 5000, 'the first event')

  await receiver.close()
  const downAt = Date.now()
  const ended: string[] = []
  for (let i = 0; i < 6; i++) {
    const { sid, refresh } = await session(s)
    await logout(s, refresh)
    ended.push(sid)
    await new Promise((resolve) => setTimeout(resolve, 4000))
  }
  while (Date.now() - downAt < 30_000) await new Promise((resolve) => setTimeout(resolve, 250))
  t.same(sids(receiver), [warm.sid], 'nothing arrived while it was down')
  await receiver.listen()
  await until(() => receiver.received.length === 7, 15_000, 'every held event')
  t.same(sids(receiver), [warm.sid, ...ended], 'every event, in the order of the logouts')
  t.equal(new Set(receiver.received.map((r) => r.jti)).size, 7, 'none twice')
  const metrics = await (await fetch(`${s.url}/metrics`)).text()
  t.match(metrics, /token_orchestrator_ssf_delivery_failures_total\{stream="[^"]+",reason="connection"\} \d+/, 'the failed attempts are counted')
})

t.test('kill -9 between an action and its delivery loses no event', async (t) => {
  const file = join(scratchDir(t), 'ssf.sqlite')
  const port = await freePort()
  // A short lease: the killed process held the stream's; the next one takes over when it lapses.
  const env = { SQLITE_PATH: file, SSF_LEASE_SECONDS: '2', SSF_PUSH_TIMEOUT_MS: '500' }
  const first = await server(env, port)
  const client = await receiverClient(first)
  const receiver = await pushReceiver(t, { issuer: first.url, audience: () => client.clientId, keys: () => remoteKeys(first.url) })
  await pushStreamTo(first, client, receiver.url)
  // The receiver refuses everything: the events stay in the outbox, acknowledged to the users but not delivered.
  receiver.answer = () => ({ status: 503 })
  const ended: string[] = []
  for (let i = 0; i < 5; i++) {
    const { sid, refresh } = await session(first)
    await logout(first, refresh)
    ended.push(sid)
  }
  await until(() => receiver.requests.length > 0, 5000, 'a delivery attempt')
  first.child.kill('SIGKILL')
  t.equal((await first.ended).signal, 'SIGKILL')
  t.same(receiver.received, [], 'nothing was delivered before the kill')

  receiver.answer = () => ({ status: 202 })
  const second = await server(env, port)
  await until(() => receiver.received.length === 5, 20_000, 'the events after the restart')
  t.same(sids(receiver), ended, 'all five, in order, from the restarted process')
  t.ok(second.url.length > 0)
})

t.test('two instances on one store deliver each event to a stream once', async (t) => {
  const file = join(scratchDir(t), 'ssf.sqlite')
  const a = await server({ SQLITE_PATH: file })
  // One service behind one PUBLIC_URL: the same issuer on both.
  const b = await server({ SQLITE_PATH: file, PUBLIC_URL: a.url })
  const client = await receiverClient(a)
  const receiver = await pushReceiver(t, { issuer: a.url, audience: () => client.clientId, keys: () => remoteKeys(a.url) })
  // A slow receiver: deliveries overlap the other instance's attempts to take the stream.
  receiver.answer = async () => {
    await new Promise((resolve) => setTimeout(resolve, 30))
    return { status: 202 }
  }
  await pushStreamTo(a, client, receiver.url)
  const ended: string[] = []
  const lags: number[] = []
  for (let i = 0; i < 20; i++) {
    const at = i % 2 === 0 ? a : b
    const { sid, refresh } = await session(at)
    const started = performance.now()
    await logout(at, refresh)
    ended.push(sid)
    await until(() => sids(receiver).includes(sid), 5000, `session-revoked for logout ${i}`)
    lags.push(performance.now() - started)
  }
  lags.sort((x, y) => x - y)
  t.comment(`push delivery lag with two instances (ms, 20 logouts, half on each; SSF_SYNC_INTERVAL_MS=500): min ${lags[0]!.toFixed(1)}, ` +
    `median ${lags[10]!.toFixed(1)}, max ${lags[19]!.toFixed(1)}`)
  // Time for a second delivery to show, if there were one.
  await new Promise((resolve) => setTimeout(resolve, 3000))
  t.equal(receiver.requests.length, 20, `20 POSTs for 20 events (${receiver.requests.length})`)
  t.equal(new Set(receiver.received.map((d) => d.jti)).size, 20, 'no event twice')
  t.same(sids(receiver), ended, 'in the order of the logouts, whichever instance wrote them')
})

t.test('NODE_ENV=production refuses an http:// push endpoint, and https to loopback', async (t) => {
  const s = await server({ SQLITE_PATH: join(scratchDir(t), 'ssf.sqlite'), NODE_ENV: 'production', METRICS_TOKEN: 'metrics-token-0123456789' })
  const client = await receiverClient(s)
  for (const [endpoint, message] of [
    ['http://receiver.example.com/events', /https/],
    ['http://127.0.0.1:9/events', /https/],
    ['https://127.0.0.1/events', /non-public/],
    ['https://localhost/events', /non-public/],
    ['https://169.254.169.254/latest/meta-data/', /non-public/]
  ] as const) {
    const res = await call(`${s.url}/ssf/streams`, 'POST', { delivery: { method: PUSH, endpoint_url: endpoint } }, client.authorization)
    t.equal(res.status, 400, endpoint)
    t.match(res.body, { error: 'invalid_request', message }, endpoint)
  }
  t.same((await call(`${s.url}/ssf/streams`, 'GET', undefined, client.authorization)).body, [], 'no stream was created')
})
