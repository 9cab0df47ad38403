// /token/revoke: access tokens by jti, refresh tokens by session, garbage is not an error.
import t from 'tap'
import { memoryStore } from '../support/stores.js'
import { build, login, newSession, validate } from '../helper.js'

t.test('revoking an access token denies it by jti only', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const s = await newSession(app)
  const sibling = await login(app, s.username)
  const sameSession = (await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })).json()

  const res = await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: s.access_token } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { revoked: true })
  t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' })
  t.equal((await validate(app, sameSession.access_token)).valid, true, 'another access token of the same session still works')
  t.equal((await validate(app, sibling.access_token)).valid, true, 'other sessions are untouched')
  const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: sameSession.refresh_token } })
  t.equal(refresh.statusCode, 200, 'the session goes on')

  const entries = await store.revocations.since(0, new Date(), 100)
  t.equal(entries.length, 1)
  t.equal(entries[0]!.kind, 'jti')
  const again = await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: s.access_token } })
  t.same(again.json(), { revoked: true }, 'idempotent')
  t.equal((await store.revocations.since(0, new Date(), 100)).length, 1, 'no second entry')
})

t.test('revoking a refresh token ends its session', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  for (const hint of [undefined, 'refresh_token', 'access_token'] as const) {
    const fresh = hint === undefined ? s : await login(app, s.username)
    const res = await app.inject({
      method: 'POST', url: '/token/revoke', payload: { token: fresh.refresh_token, ...(hint !== undefined ? { token_type_hint: hint } : {}) }
    })
    t.same(res.json(), { revoked: true }, `hint ${String(hint)}`)
    t.same(await validate(app, fresh.access_token), { valid: false, error: 'revoked' })
    const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: fresh.refresh_token } })
    t.equal(refresh.statusCode, 401)
  }
})

t.test('garbage and foreign tokens are {revoked: false}, not errors', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const foreign = 'eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW5vdC1vdXJz'
  for (const token of ['garbage', 'a.b.c', foreign]) {
    const res = await app.inject({ method: 'POST', url: '/token/revoke', payload: { token } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { revoked: false })
  }
  t.same(await store.revocations.since(0, new Date(), 10), [], 'nothing was written')
  const bad = await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: 'x', token_type_hint: 'id_token' } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().error, 'invalid_request')
})
