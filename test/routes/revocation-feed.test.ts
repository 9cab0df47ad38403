// GET /token/revocations: client authentication and scope, the log after a
// cursor, long-polls woken by new revocations, and resynchronisation.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, newSession } from '../helper.js'
import { testClock } from '../support/clock.js'
import { memoryStore } from '../support/stores.js'
import { ADMIN_ENV, basic, createClient, disableClient } from '../support/clients.js'

async function reader (app: FastifyInstance, scopes = ['revocations:read']): Promise<string> {
  const client = await createClient(app, { name: 'resource server', scopes })
  return basic(client.client_id, client.client_secret)
}

async function feed (app: FastifyInstance, authorization: string, query = ''): Promise<{ status: number, body: any, headers: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url: `/token/revocations${query}`, headers: { authorization } })
  return { status: res.statusCode, body: res.json(), headers: res.headers }
}

t.test('the feed needs HTTP Basic client credentials and the revocations:read scope', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const none = await app.inject({ method: 'GET', url: '/token/revocations' })
  t.equal(none.statusCode, 401)
  t.equal(none.json().error, 'invalid_client')
  t.type(none.json().message, 'string')
  t.match(none.headers['www-authenticate'], /^Basic realm="token-orchestrator"/)

  const good = await reader(app)
  const [id] = Buffer.from(good.slice(6), 'base64').toString().split(':')
  const wrong = await feed(app, basic(id!, 'not-the-secret'))
  t.equal(wrong.status, 401, 'a wrong secret')
  t.match(wrong.headers['www-authenticate'], /^Basic /)
  t.equal((await feed(app, 'Basic !!!')).status, 401, 'malformed Basic credentials')
  const session = await newSession(app)
  t.equal((await feed(app, `Bearer ${session.access_token}`)).status, 401, 'a bearer token is not client authentication')

  const unscoped = await feed(app, await reader(app, ['orders:read']))
  t.equal(unscoped.status, 403)
  t.same(unscoped.body, { error: 'insufficient_scope', message: 'this client lacks the revocations:read scope' })

  const ok = await feed(app, good)
  t.equal(ok.status, 200)
  t.equal(ok.headers['cache-control'], 'no-store')

  await disableClient(app, id!)
  t.equal((await feed(app, good)).status, 401, 'a disabled client is refused')
})

t.test('the log after a cursor, oldest first, with the next cursor', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const auth = await reader(app)
  const start = await feed(app, auth)
  t.same(start.body, { resync: false, entries: [], next_cursor: 0 }, 'an empty log')

  const a = await newSession(app)
  const b = await newSession(app)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: a.refresh_token } })).statusCode, 204)
  t.equal((await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: b.access_token } })).statusCode, 200)
  const sid = JSON.parse(Buffer.from(a.access_token.split('.')[1]!, 'base64url').toString()).sid
  const jti = JSON.parse(Buffer.from(b.access_token.split('.')[1]!, 'base64url').toString()).jti

  const page = await feed(app, auth, '?after=0')
  t.equal(page.status, 200)
  t.same(page.body.entries.map((e: any) => [e.kind, e.value]), [['sid', sid], ['jti', jti]])
  t.equal(page.body.resync, false)
  const seqs = page.body.entries.map((e: any) => e.seq)
  t.ok(seqs[0] < seqs[1], 'oldest first')
  t.equal(page.body.next_cursor, seqs[1])
  for (const entry of page.body.entries) t.ok(entry.expires_at > Date.now() / 1000, 'expiry in epoch seconds, in the future')

  const later = await feed(app, auth, `?after=${seqs[0] as number}`)
  t.same(later.body.entries.map((e: any) => e.value), [jti], 'only what comes after the cursor')
  t.same((await feed(app, auth, `?after=${page.body.next_cursor as number}`)).body,
    { resync: false, entries: [], next_cursor: page.body.next_cursor }, 'nothing new')

  for (const query of ['?after=-1', '?wait=31', '?after=x', '?other=1']) {
    const bad = await feed(app, auth, query)
    t.equal(bad.status, 400, query)
    t.equal(bad.body.error, 'invalid_request')
  }
})

t.test('a long-poll answers as soon as a revocation arrives, or empty when the wait is over', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const auth = await reader(app)
  const s = await newSession(app)

  const started = Date.now()
  const empty = await feed(app, auth, '?after=0&wait=1')
  t.same(empty.body, { resync: false, entries: [], next_cursor: 0 })
  t.ok(Date.now() - started >= 900, 'it waited')

  const waiting = feed(app, auth, '?after=0&wait=20')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const revokedAt = Date.now()
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refresh_token } })
  const page = await waiting
  t.equal(page.body.entries.length, 1)
  t.equal(page.body.entries[0].kind, 'sid')
  t.ok(Date.now() - revokedAt < 10_000, 'woken by the revocation, not by the end of the wait')
})

t.test('closing the server ends waiting long-polls', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const auth = await reader(app)
  const waiting = feed(app, auth, '?after=0&wait=30')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const closing = Date.now()
  await app.close()
  const page = await waiting
  t.equal(page.status, 200)
  t.same(page.body.entries, [])
  t.ok(Date.now() - closing < 10_000, 'close did not wait out the long-poll')
})

t.test('a cursor the log no longer covers gets every live entry and resync', async (t) => {
  const store = memoryStore()
  const app = await build(t, { env: ADMIN_ENV, store })
  const auth = await reader(app)
  const now = Date.now()
  const old = await store.revocations.add({ kind: 'jti', value: 'expired-one', expiresAt: new Date(now - 1000) })
  const live = await store.revocations.add({ kind: 'sid', value: 'live-one', expiresAt: new Date(now + 60_000) })
  t.same(await store.revocations.bounds(), { prunedThrough: 0, lastSeq: live.seq })
  await store.sweep(new Date(now))
  t.same(await store.revocations.bounds(), { prunedThrough: old.seq, lastSeq: live.seq }, 'the sweep moves the watermark')

  const behind = await feed(app, auth, '?after=0')
  t.equal(behind.body.resync, true, 'a cursor below the watermark resynchronises')
  t.same(behind.body.entries.map((e: any) => e.value), ['live-one'])
  t.equal(behind.body.next_cursor, live.seq)

  const current = await feed(app, auth, `?after=${old.seq}`)
  t.equal(current.body.resync, false, 'a cursor at the watermark goes on')
  t.same(current.body.entries.map((e: any) => e.value), ['live-one'])

  const ahead = await feed(app, auth, `?after=${live.seq + 50}`)
  t.equal(ahead.body.resync, true, 'a cursor past the end of the log (a reset store) resynchronises')
  t.same(ahead.body.entries.map((e: any) => e.value), ['live-one'])
})

t.test('the feed follows the app\'s injected clock', async (t) => {
  const clock = testClock()
  const store = memoryStore()
  const app = await build(t, { env: ADMIN_ENV, store, now: clock.now })
  const auth = await reader(app)
  const soon = await store.revocations.add({ kind: 'jti', value: 'soon', expiresAt: new Date((clock.now() + 60) * 1000) })
  const later = await store.revocations.add({ kind: 'jti', value: 'later', expiresAt: new Date((clock.now() + 600) * 1000) })
  t.same((await feed(app, auth)).body.entries.map((e: any) => e.value), ['soon', 'later'])
  clock.advance(120)
  const page = await feed(app, auth)
  t.same(page.body.entries.map((e: any) => e.value), ['later'], 'an entry past its expiry on the app\'s clock is left out')
  t.equal(page.body.next_cursor, later.seq)
  t.ok(soon.seq < later.seq)
})

t.test('failed secrets on the feed count in the client throttle the OAuth endpoints share', async (t) => {
  const app = await build(t, { env: { ...ADMIN_ENV, LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '60' } })
  const good = await reader(app)
  const [id, secret] = Buffer.from(good.slice(6), 'base64').toString().split(':')
  t.equal((await feed(app, good)).status, 200, 'the right secret passes (and is now known)')
  for (let i = 0; i < 3; i++) t.equal((await feed(app, basic(id!, `wrong-${i}`))).status, 401)
  const locked = await feed(app, basic(id!, 'wrong-again'))
  t.equal(locked.status, 429, 'the client_id is throttled')
  t.equal(locked.body.error, 'too_many_requests')
  t.type(locked.body.message, 'string')
  t.ok(Number(locked.headers['retry-after']) > 0, 'with Retry-After')
  const introspect = await app.inject({
    method: 'POST',
    url: '/oauth/introspect',
    headers: { authorization: basic(id!, 'wrong-again'), 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'token=x'
  })
  t.equal(introspect.statusCode, 429, 'the OAuth endpoints see the same throttle')
  t.equal((await feed(app, basic(id!, decodeURIComponent(secret!)))).status, 200,
    'the reader\'s own secret, verified moments ago, still passes')
})
