// Refresh-token theft and replay (RFC 9700 §4.14, RFC 6819 §5.2.2.3): a rotated
// refresh token presented again ends the whole session; concurrent replays
// yield at most one new pair; nothing revives a session that was ended.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, newSession, validate, type Session } from '../helper.js'
import { memoryStore } from '../support/stores.js'
import { decodePart, hostileClient } from './support.js'

async function refresh (app: FastifyInstance, token: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } })
  return { status: res.statusCode, body: res.json() }
}

async function assertSessionDead (t: Test, app: FastifyInstance, tokens: Session[], label: string): Promise<void> {
  for (const [i, s] of tokens.entries()) {
    t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' }, `${label}: access token ${i} is revoked`)
    const gw = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${s.access_token}` } })
    t.equal(gw.statusCode, 401, `${label}: access token ${i} refused by the gateway endpoint`)
    const r = await refresh(app, s.refresh_token)
    t.equal(r.status, 401, `${label}: refresh token ${i} refused`)
    t.equal(r.body.error, 'invalid_grant', `${label}: refresh token ${i}: invalid_grant`)
  }
}

t.test('replay of a rotated refresh token ends the session', async (t) => {
  const app = await build(t)
  const first = await newSession(app)
  const r1 = await refresh(app, first.refresh_token)
  t.equal(r1.status, 200, 'first rotation')
  const second = r1.body as unknown as Session
  t.equal((await validate(app, second.access_token)).valid, true, 'new access token valid')

  const replay = await refresh(app, first.refresh_token)
  t.equal(replay.status, 401, 'replay: 401')
  t.same(replay.body, { error: 'invalid_grant', message: replay.body.message }, 'replay: invalid_grant')
  await assertSessionDead(t, app, [first, second], 'after replay')

  const another = await newSession(app)
  t.equal((await validate(app, another.access_token)).valid, true, 'other sessions are not affected')
})

t.test('20 concurrent refreshes of one token: at most one 200, then the session is over', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const results = await Promise.all(Array.from({ length: 20 }, async () => refresh(app, s.refresh_token)))
  const ok = results.filter((r) => r.status === 200)
  t.ok(ok.length <= 1, `at most one 200 (got ${ok.length})`)
  t.ok(results.every((r) => r.status === 200 || (r.status === 401 && r.body.error === 'invalid_grant')),
    'the others are 401 invalid_grant')
  // The losers were reuse: the whole session, the winner's new pair included, is revoked.
  await assertSessionDead(t, app, [s, ...ok.map((r) => r.body as unknown as Session)], 'after concurrent replay')
})

t.test('20 concurrent refreshes of an already rotated token: none succeeds', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const next = await refresh(app, s.refresh_token)
  const results = await Promise.all(Array.from({ length: 20 }, async () => refresh(app, s.refresh_token)))
  t.equal(results.filter((r) => r.status === 200).length, 0, 'no 200')
  await assertSessionDead(t, app, [s, next.body as unknown as Session], 'after replay storm')
})

t.test('refresh after logout', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const s = await newSession(app)
  const res = await send({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refresh_token } })
  t.equal(res.statusCode, 204, 'logout 204')
  const again = await send({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refresh_token } })
  t.equal(again.statusCode, 204, 'logout is idempotent')
  await assertSessionDead(t, app, [s], 'after logout')
})

t.test('refresh after logout-all, for every session of the user', async (t) => {
  const app = await build(t)
  const send = hostileClient(t, app)
  const a = await newSession(app)
  const loginAgain = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: a.username, password: 'correct horse battery staple' } })
  const b = loginAgain.json() as Session
  const stranger = await newSession(app)
  const res = await send({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${a.access_token}` } })
  t.equal(res.statusCode, 204, 'logout-all 204')
  await assertSessionDead(t, app, [a, b], 'after logout-all')
  t.equal((await validate(app, stranger.access_token)).valid, true, "another user's session is untouched")
  const reuse = await send({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${a.access_token}` } })
  t.equal(reuse.statusCode, 401, 'the access token that ended everything cannot be used again')
})

t.test('refresh after the user is disabled', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const s = await newSession(app)
  await store.users.setDisabled(s.userId, true)
  const r = await refresh(app, s.refresh_token)
  t.equal(r.status, 401, 'refresh of a disabled user: 401')
  t.equal(r.body.error, 'invalid_grant', 'invalid_grant')
  const session = await store.sessions.find(decodePart(s.refresh_token, 1).sid as string)
  t.not(session?.revokedAt ?? null, null, 'the session is revoked in the store')
  await assertSessionDead(t, app, [s], 'after disable')
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: s.username, password: 'correct horse battery staple' } })
  t.equal(login.statusCode, 401, 'a disabled user cannot log in')
  t.equal(login.json().error, 'invalid_credentials', 'same answer as a wrong password')
  await store.users.setDisabled(s.userId, false)
  t.equal((await refresh(app, s.refresh_token)).status, 401, 're-enabling the user does not revive the ended session')
})

t.test('an access token is never a refresh token', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const r = await refresh(app, s.access_token)
  t.equal(r.status, 401, 'access token on /auth/refresh: 401')
  t.equal(r.body.error, 'invalid_grant', 'invalid_grant')
  t.equal((await refresh(app, s.refresh_token)).status, 200, 'and the attempt did not disturb the session')
})
