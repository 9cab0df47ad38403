// POST /auth/password: the user's own password change. Other sessions end
// (published like logout-all), the current one continues; a wrong current
// password counts toward the lockout; the store failing midway leaves either
// no change or the change with the other sessions ended.
import t from 'tap'
import argon2 from 'argon2'
import type { FastifyInstance } from 'fastify'
import { memoryStore } from '../support/stores.js'
import { build, login, newSession, PASSWORD, validate } from '../helper.js'
import { faultyStore } from '../support/faulty-store.js'
import { accessToken } from '../support/tokens.js'

const NEW_PASSWORD = 'a brand new passphrase'

function change (app: FastifyInstance, token: string, payload: Record<string, unknown>) {
  return app.inject({ method: 'POST', url: '/auth/password', headers: { authorization: `Bearer ${token}` }, payload })
}

t.test('204: the password changes, other sessions end, the current one continues', async (t) => {
  const app = await build(t)
  const me = await newSession(app)
  const other = await login(app, me.username)
  const res = await change(app, me.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal(res.headers['cache-control'], 'no-store')

  t.same(await validate(app, other.access_token), { valid: false, error: 'revoked' }, 'the other session\'s access token is refused')
  const otherRefresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: other.refresh_token } })
  t.equal(otherRefresh.statusCode, 401, 'the other session\'s refresh token is refused')

  t.equal((await validate(app, me.access_token)).valid, true, 'the current access token still validates')
  const mine = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: me.refresh_token } })
  t.equal(mine.statusCode, 200, 'the current session still refreshes')

  const oldLogin = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: me.username, password: PASSWORD } })
  t.equal(oldLogin.statusCode, 401, 'the old password no longer logs in')
  t.ok(await login(app, me.username, NEW_PASSWORD), 'the new one does')
})

t.test('401 invalid_credentials for a wrong current password; it counts toward the lockout', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { store, env: { LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '600' } })
  const me = await newSession(app)
  for (let i = 0; i < 2; i++) {
    const res = await change(app, me.access_token, { current_password: 'not the password', new_password: NEW_PASSWORD })
    t.equal(res.statusCode, 401)
    t.same(res.json(), { error: 'invalid_credentials', message: 'the current password is wrong' })
  }
  t.equal((await store.users.findById(me.userId))?.failedLogins, 2, 'failures are counted in the store')
  // A failed login adds the third failure: the lockout is shared with login.
  const failedLogin = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: me.username, password: 'nope nope' } })
  t.equal(failedLogin.statusCode, 401)
  const locked = await change(app, me.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
  t.equal(locked.statusCode, 429, 'locked: even the right password is refused')
  t.equal(locked.json().error, 'too_many_requests')
  t.ok(Number(locked.headers['retry-after']) > 0, 'with Retry-After')
  t.ok(await login(app, me.username, PASSWORD).catch(() => null) === null, 'login is locked too')
  t.equal((await validate(app, me.access_token)).valid, true, 'failures end no session')
})

t.test('a successful change clears the failure count', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { store, env: { LOCKOUT_THRESHOLD: '3' } })
  const me = await newSession(app)
  await change(app, me.access_token, { current_password: 'wrong one', new_password: NEW_PASSWORD })
  t.equal((await store.users.findById(me.userId))?.failedLogins, 1)
  t.equal((await change(app, me.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })).statusCode, 204)
  t.equal((await store.users.findById(me.userId))?.failedLogins, 0)
})

t.test('400 for bodies outside the rules; nothing changes', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { store })
  const me = await newSession(app)
  const hash = (await store.users.findById(me.userId))?.passwordHash
  const bodies: Array<Record<string, unknown>> = [
    {},
    { current_password: PASSWORD },
    { current_password: PASSWORD, new_password: 'short' },
    { current_password: PASSWORD, new_password: 'x'.repeat(257) },
    { current_password: PASSWORD, new_password: NEW_PASSWORD, extra: true },
    { current_password: 42, new_password: NEW_PASSWORD }
  ]
  for (const body of bodies) {
    const res = await change(app, me.access_token, body)
    t.equal(res.statusCode, 400, JSON.stringify(body).slice(0, 60))
    t.equal(res.json().error, 'invalid_request')
  }
  t.equal((await store.users.findById(me.userId))?.passwordHash, hash, 'the hash is unchanged')
})

t.test('401 without a valid token; 403 for a service token or a delegated one', async (t) => {
  const app = await build(t)
  const none = await app.inject({ method: 'POST', url: '/auth/password', payload: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
  t.equal(none.statusCode, 401)
  t.equal(none.json().error, 'invalid_token')
  t.equal(none.headers['www-authenticate'], 'Bearer error="invalid_token"')
  const me = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: me.refresh_token } })
  t.equal((await change(app, me.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })).statusCode, 401, 'revoked token')

  const service = accessToken({ sid: undefined })
  const res = await change(app, service, { current_password: PASSWORD, new_password: NEW_PASSWORD })
  t.equal(res.statusCode, 403)
  t.same(res.json(), { error: 'forbidden', message: 'a user\'s own access token is required' })
  const fresh = await newSession(app)
  const claims = JSON.parse(Buffer.from(fresh.access_token.split('.')[1]!, 'base64url').toString())
  const delegated = accessToken({ ...claims, jti: 'delegated-jti', act: { sub: 'some-service' } })
  t.equal((await change(app, delegated, { current_password: PASSWORD, new_password: NEW_PASSWORD })).statusCode, 403, 'exchanged token')
})

t.test('store down: 503, nothing changed; store failing between the steps: a retry finishes', async (t) => {
  const inner = memoryStore()
  t.teardown(() => inner.close())
  const store = faultyStore(inner)
  const app = await build(t, { store })
  const me = await newSession(app)
  const other = await login(app, me.username)
  const hash = (await inner.users.findById(me.userId))?.passwordHash
  store.down = true
  const down = await change(app, me.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
  store.down = false
  t.equal(down.statusCode, 503)
  t.same(down.json(), { error: 'store_unavailable', message: 'the token store is unavailable, try again later' })
  t.equal((await inner.users.findById(me.userId))?.passwordHash, hash, 'the hash is unchanged')
  t.equal((await validate(app, other.access_token)).valid, true, 'no session ended')

  // The hash write fails after the other sessions ended: the old password still
  // works, nothing is left live that the change meant to end, and a retry completes.
  const setPasswordHash = inner.users.setPasswordHash.bind(inner.users)
  inner.users.setPasswordHash = async () => { throw new (await import('../../src/errors.js')).StoreUnavailableError() }
  const midway = await change(app, me.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
  inner.users.setPasswordHash = setPasswordHash
  t.equal(midway.statusCode, 503)
  t.equal((await inner.users.findById(me.userId))?.passwordHash, hash, 'the hash is unchanged')
  t.same(await validate(app, other.access_token), { valid: false, error: 'revoked' }, 'the other session already ended')
  t.equal((await change(app, me.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })).statusCode, 204, 'retry: 204')
  t.ok(await login(app, me.username, NEW_PASSWORD))
})

t.test('the lockout holds under concurrency: 20 wrong current passwords at once check at most the threshold', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { store, env: { LOCKOUT_THRESHOLD: '4', LOCKOUT_SECONDS: '600' } })
  const me = await newSession(app)
  // Counts real argon2 verifications (the module object is the one src/auth/passwords.ts uses).
  let checks = 0
  const lib = argon2 as { verify: typeof argon2.verify }
  const verify = lib.verify
  lib.verify = async (...args: Parameters<typeof verify>) => { checks += 1; return verify(...args) }
  t.teardown(() => { lib.verify = verify })
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
    change(app, me.access_token, { current_password: `wrong password ${i}`, new_password: NEW_PASSWORD })))
  const codes = answers.map((res) => res.statusCode)
  t.equal(checks, 4, 'exactly LOCKOUT_THRESHOLD current passwords checked')
  t.equal(codes.filter((code) => code === 401).length, 4, 'the checked ones: 401')
  t.equal(codes.filter((code) => code === 429).length, 16, 'every other attempt: 429')
  const right = await change(app, me.access_token, { current_password: PASSWORD, new_password: NEW_PASSWORD })
  t.equal(right.statusCode, 429, 'the right current password is refused while locked')
  t.ok(Number(right.headers['retry-after']) > 0, 'with Retry-After')
  t.equal(checks, 4, 'no password checked while locked')
})
