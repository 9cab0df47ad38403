// Faults: the store goes away (test/support/faulty-store.ts) or fails between
// two writes of one operation. Writes answer 503 store_unavailable and leave
// nothing half-done: whatever was attempted during the outage either did not
// happen or completes when retried; validate keeps answering from memory;
// /ready tells the truth; everything recovers when the store returns.
// (Shutdown under load is covered by the operations tests, not here.)
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { StoreUnavailableError } from '../../src/errors.js'
import type { Store } from '../../src/store/types.js'
import { memoryStore } from '../support/stores.js'
import { build, login, PASSWORD, registerUser, uniqueName, validate, type Session } from '../helper.js'
import { faultyStore } from '../support/faulty-store.js'
import { decodePart, hostileClient } from './support.js'

function post (app: FastifyInstance, url: string, payload: object, authorization?: string) {
  return app.inject({ method: 'POST', url, payload, ...(authorization !== undefined ? { headers: { authorization } } : {}) })
}

t.test('store unreachable: 503 store_unavailable, nothing written, validate answers from memory, all recover', async (t) => {
  const inner = memoryStore()
  const store = faultyStore(inner)
  const app = await build(t, { store })
  const send = hostileClient(t, app)
  const user = await registerUser(app)
  const a = await login(app, user.username)
  const b = await login(app, user.username)
  const c = await login(app, user.username)
  const revokedBefore = await login(app, user.username)
  t.equal((await post(app, '/token/revoke', { token: revokedBefore.access_token })).statusCode, 200)
  const aSid = decodePart(a.refresh_token, 1).sid as string
  const jtiBefore = (await inner.sessions.find(aSid))?.currentJti
  const newName = uniqueName('during-outage')
  const userBefore = await inner.users.findById(user.id)

  store.down = true
  const writes: Array<[string, () => ReturnType<typeof post>]> = [
    ['login', () => post(app, '/auth/login', { username: user.username, password: PASSWORD })],
    ['login with a wrong password', () => post(app, '/auth/login', { username: user.username, password: 'wrong password' })],
    ['register', () => post(app, '/auth/register', { username: newName, password: PASSWORD })],
    ['refresh', () => post(app, '/auth/refresh', { refresh_token: a.refresh_token })],
    ['logout', () => post(app, '/auth/logout', { refresh_token: b.refresh_token })],
    ['logout-all', () => post(app, '/auth/logout-all', {}, `Bearer ${c.access_token}`)],
    ['revoke an access token', () => post(app, '/token/revoke', { token: c.access_token })],
    ['revoke a refresh token', () => post(app, '/token/revoke', { token: c.refresh_token, token_type_hint: 'refresh_token' })]
  ]
  for (const [label, call] of writes) {
    const res = await call()
    t.equal(res.statusCode, 503, `${label}: 503`)
    t.same(res.json(), { error: 'store_unavailable', message: res.json().message }, `${label}: store_unavailable`)
    await send({ method: 'POST', url: '/token/validate', payload: { token: 'x' } }) // keep the leak scan busy
  }
  const ready = await send({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503, '/ready: 503 while the store is down')
  t.equal(ready.json().error, 'store_unavailable', '/ready: store_unavailable')
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, '/health: the process is alive')
  for (const s of [a, b, c]) t.equal((await validate(app, s.access_token)).valid, true, 'validate answers from memory: live token valid')
  t.same(await validate(app, revokedBefore.access_token), { valid: false, error: 'revoked' }, 'validate answers from memory: revoked token still revoked')
  const batch = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [a.access_token, revokedBefore.access_token] } })
  t.same(batch.json().results.map((r: { valid: boolean }) => r.valid), [true, false], 'batch validate answers from memory')
  const gw = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${a.access_token}` } })
  t.equal(gw.statusCode, 200, 'the gateway endpoint answers from memory')
  await new Promise((resolve) => setTimeout(resolve, 250)) // a few failed revocation polls
  t.ok(store.refused > 0, `the store refused ${store.refused} calls`)

  store.down = false
  // Nothing attempted during the outage took effect.
  t.equal((await inner.sessions.find(aSid))?.currentJti, jtiBefore, 'the refresh during the outage did not rotate')
  t.equal(await inner.users.findByUsername(newName), null, 'the register during the outage created no user')
  t.same(await inner.users.findById(user.id), userBefore, 'the failed logins during the outage changed nothing on the user')
  t.equal((await validate(app, c.access_token)).valid, true, 'the revoke during the outage did not half-happen')
  // And everything works again; the operations can simply be retried.
  t.equal((await send({ method: 'GET', url: '/ready' })).statusCode, 200, '/ready: 200 again')
  const r = await post(app, '/auth/refresh', { refresh_token: a.refresh_token })
  t.equal(r.statusCode, 200, 'refresh with the same token works (it was not rotated, so no reuse)')
  t.equal((await post(app, '/auth/logout', { refresh_token: b.refresh_token })).statusCode, 204, 'the logout can be retried')
  t.same(await validate(app, b.access_token), { valid: false, error: 'revoked' }, 'and it took effect')
  t.equal((await post(app, '/auth/register', { username: newName, password: PASSWORD })).statusCode, 201, 'the register can be retried')
  t.equal((await post(app, '/auth/login', { username: user.username, password: PASSWORD })).statusCode, 200, 'login works')
  t.same((await post(app, '/token/revoke', { token: c.access_token })).json(), { revoked: true }, 'revoke works')
  t.equal((await post(app, '/auth/logout-all', {}, `Bearer ${(r.json() as Session).access_token}`)).statusCode, 204, 'logout-all works')
  t.same(await validate(app, (r.json() as Session).access_token), { valid: false, error: 'revoked' }, 'and took effect')
})

/** Makes revocations.add fail (the store dies between the session write and the revocation write). */
function breakRevocationWrites (inner: Store): () => void {
  const add = inner.revocations.add.bind(inner.revocations)
  inner.revocations.add = async () => { throw new StoreUnavailableError(new Error('connection reset (simulated)')) }
  return () => { inner.revocations.add = add }
}

t.test('the store fails between the session write and the revocation write: a retry finishes the job', async (t) => {
  const inner = memoryStore()
  const app = await build(t, { store: inner })

  t.test('logout', async (t) => {
    const user = await registerUser(app)
    const s = await login(app, user.username)
    const restore = breakRevocationWrites(inner)
    t.equal((await post(app, '/auth/logout', { refresh_token: s.refresh_token })).statusCode, 503, 'logout: 503')
    restore()
    t.equal((await post(app, '/auth/logout', { refresh_token: s.refresh_token })).statusCode, 204, 'retry: 204')
    t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' }, 'the access token is revoked')
  })

  t.test('logout-all', async (t) => {
    const user = await registerUser(app)
    const a = await login(app, user.username)
    const b = await login(app, user.username)
    const restore = breakRevocationWrites(inner)
    t.equal((await post(app, '/auth/logout-all', {}, `Bearer ${a.access_token}`)).statusCode, 503, 'logout-all: 503')
    restore()
    const retry = await post(app, '/auth/logout-all', {}, `Bearer ${a.access_token}`)
    t.ok(retry.statusCode === 204 || retry.statusCode === 401, `retry: 204, or 401 if the first attempt already revoked that token (${retry.statusCode})`)
    for (const [i, s] of [a, b].entries()) {
      t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' }, `session ${i}: access token revoked`)
      t.equal((await post(app, '/auth/refresh', { refresh_token: s.refresh_token })).statusCode, 401, `session ${i}: refresh refused`)
    }
  })

  t.test('refresh-token reuse', async (t) => {
    const user = await registerUser(app)
    const s = await login(app, user.username)
    const next = (await post(app, '/auth/refresh', { refresh_token: s.refresh_token })).json() as Session
    const restore = breakRevocationWrites(inner)
    const replay = await post(app, '/auth/refresh', { refresh_token: s.refresh_token })
    t.equal(replay.statusCode, 503, 'reuse detected while the revocation cannot be written: 503')
    restore()
    const again = await post(app, '/auth/refresh', { refresh_token: s.refresh_token })
    t.equal(again.statusCode, 401, 'replayed again: 401')
    t.same(await validate(app, next.access_token), { valid: false, error: 'revoked' }, "the successor's access token is revoked")
    t.equal((await post(app, '/auth/refresh', { refresh_token: next.refresh_token })).statusCode, 401, "the successor's refresh token is refused")
  })

  t.test('refresh of a disabled user', async (t) => {
    const user = await registerUser(app)
    const s = await login(app, user.username)
    await inner.users.setDisabled(user.id, true)
    const restore = breakRevocationWrites(inner)
    t.equal((await post(app, '/auth/refresh', { refresh_token: s.refresh_token })).statusCode, 503, 'refresh: 503')
    restore()
    t.equal((await post(app, '/auth/refresh', { refresh_token: s.refresh_token })).statusCode, 401, 'retry: 401')
    t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' }, "the disabled user's access token is revoked")
  })

  t.test('revoke of a refresh token', async (t) => {
    const user = await registerUser(app)
    const s = await login(app, user.username)
    const restore = breakRevocationWrites(inner)
    t.equal((await post(app, '/token/revoke', { token: s.refresh_token })).statusCode, 503, 'revoke: 503')
    restore()
    t.same((await post(app, '/token/revoke', { token: s.refresh_token })).json(), { revoked: true }, 'retry: revoked')
    t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' }, 'the access token is revoked')
  })
})
