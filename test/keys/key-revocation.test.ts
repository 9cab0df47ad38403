// POST /admin/keys/{kid}/revoke: the key leaves the JWKS at once, every token
// it signed is refused as revoked (validate, gateway verify, introspection,
// admin), a new key signs at once, and the store holds what the other
// instances and the feed need (the key gone, a `key` entry in the log).
import t from 'tap'
import { build, newSession, validate } from '../helper.js'
import { ADMIN_ENV, adminToken, basic, createClient } from '../support/clients.js'
import { memoryStore } from '../support/stores.js'

const kidOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid

const ES256_ENV = { ...ADMIN_ENV, JWT_ALGORITHM: 'ES256' }

async function jwksKids (app: Awaited<ReturnType<typeof build>>): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  return (res.json().keys as Array<{ kid: string }>).map((k) => k.kid)
}

t.test('revoking the signing key: out of the JWKS, its tokens revoked everywhere, a new key signs at once', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store, env: ES256_ENV })
  const admin = await adminToken(app)
  const session = await newSession(app)
  const client = await createClient(app, { name: 'rs', scopes: ['tokens:introspect', 'revocations:read'] }, admin)
  const kid = kidOf(session.access_token)
  t.same(await jwksKids(app), [kid])
  t.equal((await validate(app, session.access_token)).valid, true, 'valid (and cached) before')

  const res = await app.inject({ method: 'POST', url: `/admin/keys/${kid}/revoke`, headers: { authorization: `Bearer ${admin}` } })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.kid, kid)
  t.equal(body.alg, 'ES256')
  t.type(body.revocation_seq, 'number')
  t.ok(Math.abs(Date.parse(body.revoked_at) - Date.now()) < 60_000)
  t.type(body.replacement.kid, 'string')
  t.not(body.replacement.kid, kid)
  t.ok(Date.parse(body.replacement.activates_at) <= Date.now(), 'the replacement signs without the rotation overlap')

  t.same(await jwksKids(app), [body.replacement.kid], 'the JWKS no longer holds the key, and publishes its replacement')
  t.same(await validate(app, session.access_token), { valid: false, error: 'revoked' }, 'the cached success is gone')
  const gateway = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${session.access_token}` } })
  t.equal(gateway.statusCode, 401)
  const introspected = await app.inject({
    method: 'POST',
    url: '/oauth/introspect',
    headers: { authorization: basic(client.client_id, client.client_secret) },
    payload: { token: session.access_token }
  })
  t.same(introspected.json(), { active: false })
  const again = await app.inject({ method: 'POST', url: `/admin/keys/${kid}/revoke`, headers: { authorization: `Bearer ${admin}` } })
  t.equal(again.statusCode, 401, 'the admin\'s own token was signed by the key too')

  // New tokens: the replacement's, valid; the session's refresh token (not signed by the ring) still refreshes.
  const fresh = await newSession(app)
  t.equal(kidOf(fresh.access_token), body.replacement.kid)
  t.equal((await validate(app, fresh.access_token)).valid, true)
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: session.refresh_token } })
  t.equal(refreshed.statusCode, 200)
  t.equal(kidOf(refreshed.json().access_token), body.replacement.kid)

  // The store: the key is gone; the log holds the entry other instances and the feed read.
  t.same((await store.keys.list(new Date())).map((k) => k.kid), [body.replacement.kid])
  const entries = await store.revocations.since(0, new Date(), 100)
  t.match(entries.filter((e) => e.kind === 'key'), [{ seq: body.revocation_seq, kind: 'key', value: kid }])
  const feed = await app.inject({ method: 'GET', url: '/token/revocations', headers: { authorization: basic(client.client_id, client.client_secret) } })
  t.match(feed.json().entries.filter((e: { kind: string }) => e.kind === 'key'), [{ kind: 'key', value: kid }])

  // Once revoked, the kid is unknown: 404, nothing written.
  const newAdmin = await adminToken(app)
  const twice = await app.inject({ method: 'POST', url: `/admin/keys/${kid}/revoke`, headers: { authorization: `Bearer ${newAdmin}` } })
  t.equal(twice.statusCode, 404)
  t.same(twice.json(), { error: 'not_found', message: 'no such signing key (unknown, expired or revoked already)' })
  t.equal((await store.revocations.since(0, new Date(), 100)).filter((e) => e.kind === 'key').length, 1)
})

t.test('revoking the next key (published, not signing yet): the current key goes on signing and keeps no expiry', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store, env: ES256_ENV })
  const admin = await adminToken(app)
  const current = kidOf(admin)
  const rotated = await app.inject({ method: 'POST', url: '/admin/keys/rotate', headers: { authorization: `Bearer ${admin}` } })
  const next = rotated.json().kid as string
  t.same(await jwksKids(app), [current, next])
  const res = await app.inject({ method: 'POST', url: `/admin/keys/${next}/revoke`, headers: { authorization: `Bearer ${admin}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().replacement, null, 'no new key: the one signing was not revoked')
  t.same(await jwksKids(app), [current])
  t.equal((await validate(app, admin)).valid, true, 'tokens of the current key are untouched')
  const keys = await store.keys.list(new Date())
  t.same(keys.map((k) => [k.kid, k.expiresAt]), [[current, null]], 'the rotation had retired the current key; it is the newest again')
})

t.test('refusals: bad kid, unknown kid, no admin, HS256', async (t) => {
  const app = await build(t, { env: ES256_ENV })
  const admin = await adminToken(app)
  const unknown = await app.inject({ method: 'POST', url: '/admin/keys/not-a-key/revoke', headers: { authorization: `Bearer ${admin}` } })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'not_found')
  const long = await app.inject({ method: 'POST', url: `/admin/keys/${'a'.repeat(129)}/revoke`, headers: { authorization: `Bearer ${admin}` } })
  t.equal(long.statusCode, 400)
  t.equal(long.json().error, 'invalid_request')
  const kid = kidOf(admin)
  const anonymous = await app.inject({ method: 'POST', url: `/admin/keys/${kid}/revoke` })
  t.equal(anonymous.statusCode, 401)
  const user = await newSession(app)
  const plain = await app.inject({ method: 'POST', url: `/admin/keys/${kid}/revoke`, headers: { authorization: `Bearer ${user.access_token}` } })
  t.equal(plain.statusCode, 403)
  t.same(await jwksKids(app), [kid], 'nothing was revoked')
  t.equal((await validate(app, user.access_token)).valid, true)

  const hs = await build(t, { env: ADMIN_ENV })
  const hsRes = await hs.inject({ method: 'POST', url: '/admin/keys/anything/revoke', headers: { authorization: `Bearer ${await adminToken(hs)}` } })
  t.equal(hsRes.statusCode, 409)
  t.same(hsRes.json(), { error: 'conflict', message: 'key revocation needs JWT_ALGORITHM ES256, EdDSA or RS256' })
})
