// The admin API: 401/403 guard, clients (create, list, disable), sessions, and
// the bootstrap admin from ADMIN_USERNAME / ADMIN_PASSWORD.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../../src/config.js'
import { memoryStore } from '../support/stores.js'
import { build, login, newSession, PASSWORD, TEST_ENV, validate } from '../helper.js'
import { ADMIN_ENV, adminToken, createClient as createClientAs } from '../support/clients.js'

const ADMIN = ADMIN_ENV

async function createClient (app: FastifyInstance, token: string, payload: Record<string, unknown>): Promise<Record<string, any>> {
  return createClientAs(app, payload, token)
}

const decode = (jwt: string): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString())

const waitFor = async (check: () => Promise<boolean>, ms = 3000): Promise<boolean> => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return check()
}

t.test('every admin route: 401 without a token, 403 without the admin role', async (t) => {
  const app = await build(t, { env: ADMIN })
  const user = await newSession(app)
  const routes: Array<{ method: 'GET' | 'POST' | 'DELETE', url: string, payload?: Record<string, unknown> }> = [
    { method: 'POST', url: '/admin/clients', payload: { name: 'x' } },
    { method: 'GET', url: '/admin/clients' },
    { method: 'POST', url: '/admin/clients/abc/disable' },
    { method: 'GET', url: `/admin/users/${user.userId}/sessions` },
    { method: 'DELETE', url: '/admin/sessions/abc' }
  ]
  for (const route of routes) {
    const none = await app.inject({ ...route })
    t.equal(none.statusCode, 401, `${route.method} ${route.url}: no token`)
    t.equal(none.json().error, 'invalid_token')
    t.equal(none.headers['www-authenticate'], 'Bearer error="invalid_token"')
    const bad = await app.inject({ ...route, headers: { authorization: 'Bearer not.a.token' } })
    t.equal(bad.statusCode, 401, `${route.method} ${route.url}: bad token`)
    const plain = await app.inject({ ...route, headers: { authorization: `Bearer ${user.access_token}` } })
    t.equal(plain.statusCode, 403, `${route.method} ${route.url}: no admin role`)
    t.same(plain.json(), { error: 'forbidden', message: 'the admin role is required' })
  }
  // A revoked admin token is refused too.
  const admin = await login(app, ADMIN.ADMIN_USERNAME, ADMIN.ADMIN_PASSWORD)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: admin.refresh_token } })
  const revoked = await app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${admin.access_token}` } })
  t.equal(revoked.statusCode, 401, 'revoked admin token')
})

t.test('create a client: the secret is shown once and stored only as an argon2id hash', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: ADMIN, store })
  const token = await adminToken(app)
  const res = await app.inject({
    method: 'POST',
    url: '/admin/clients',
    headers: { authorization: `Bearer ${token}` },
    payload: {
      name: 'Orders',
      grants: ['password', 'refresh_token', 'client_credentials'],
      audiences: ['orders-api'],
      scopes: ['orders:read', 'orders:write'],
      access_token_ttl: 60,
      refresh_token_ttl: 3600
    }
  })
  t.equal(res.statusCode, 201)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.match(body, {
    name: 'Orders',
    grants: ['password', 'refresh_token', 'client_credentials'],
    audiences: ['orders-api'],
    scopes: ['orders:read', 'orders:write'],
    access_token_ttl: 60,
    refresh_token_ttl: 3600,
    disabled: false
  })
  t.match(body.client_id, /^[A-Za-z0-9_-]{22}$/, 'random, URL-safe client_id')
  t.match(body.client_secret, /^[A-Za-z0-9_-]{43}$/, '256-bit secret')
  t.ok(!Number.isNaN(Date.parse(body.created_at)))

  const stored = await store.clients.find(body.client_id)
  t.ok(stored?.secretHash?.startsWith('$argon2id$'), 'argon2id hash stored')
  t.notOk(JSON.stringify(stored).includes(body.client_secret), 'the secret itself is not stored')

  const list = await app.inject({ method: 'GET', url: '/admin/clients', headers: { authorization: `Bearer ${token}` } })
  t.equal(list.statusCode, 200)
  t.equal(list.json().clients.length, 1)
  t.notOk(list.body.includes(body.client_secret), 'never listed again')
  t.notOk('client_secret' in list.json().clients[0])
  t.notOk(list.body.includes('argon2'), 'nor its hash')

  const defaults = await createClient(app, token, { name: 'svc' })
  t.same(defaults.grants, ['client_credentials'], 'default grants')
  t.equal(defaults.public, false, 'confidential by default')
  t.same(defaults.audiences, [])
  t.equal(defaults.access_token_ttl, null)

  for (const [payload, why] of [
    [{}, 'no name'],
    [{ name: 'x', grants: ['implicit'] }, 'unknown grant'],
    [{ name: 'x', scopes: ['bad scope'] }, 'scope with a space'],
    [{ name: 'x', access_token_ttl: 901 }, 'access ttl above ACCESS_TOKEN_TTL'],
    [{ name: 'x', extra: 1 }, 'unknown property'],
    [{ name: '   ' }, 'blank name'],
    [{ name: 'x', public: true, grants: ['password', 'client_credentials'] }, 'a public client with client_credentials'],
    [{ name: 'x', public: 'yes' }, 'public is a boolean']
  ] as const) {
    const bad = await app.inject({ method: 'POST', url: '/admin/clients', headers: { authorization: `Bearer ${token}` }, payload })
    t.equal(bad.statusCode, 400, why)
    t.equal(bad.json().error, 'invalid_request', why)
  }
})

t.test('login with a public client_id: the client picks audience, scope and lifetimes', async (t) => {
  const app = await build(t, { env: ADMIN })
  const token = await adminToken(app)
  const client = await createClient(app, token, {
    name: 'Orders', public: true, grants: ['password', 'refresh_token'], audiences: ['orders-api'], scopes: ['orders:read'],
    access_token_ttl: 60, refresh_token_ttl: 3600
  })
  t.equal(client.public, true)
  t.equal(client.client_secret, null, 'a public client has no secret')
  const user = await newSession(app)
  const res = await app.inject({
    method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, client_id: client.client_id }
  })
  t.equal(res.statusCode, 200)
  const pair = res.json()
  t.equal(pair.expires_in, 60)
  t.equal(pair.refresh_expires_in, 3600)
  const claims = decode(pair.access_token)
  t.same(claims.aud, ['token-orchestrator', 'orders-api'], 'service audience plus the client\'s')
  t.equal(claims.client_id, client.client_id)
  t.equal(claims.scope, 'orders:read')
  t.equal(claims.exp - claims.iat, 60)
  t.equal((await validate(app, pair.access_token)).valid, true, 'validates here')

  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } })
  t.equal(refreshed.statusCode, 200)
  t.equal(decode(refreshed.json().access_token).client_id, client.client_id, 'refresh keeps the client')

  const unknown = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, client_id: 'nope' } })
  t.equal(unknown.statusCode, 401)
  t.equal(unknown.json().error, 'invalid_client')

  const serviceOnly = await createClient(app, token, { name: 'svc' })
  const refused = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, client_id: serviceOnly.client_id } })
  t.equal(refused.statusCode, 401, 'a confidential client cannot be named at /auth/login')
  t.equal(refused.json().error, 'invalid_client')

  const dflt = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, client_id: 'default' } })
  t.equal(dflt.statusCode, 200, 'the built-in default client still works')
  t.equal(decode(dflt.json().access_token).aud, 'token-orchestrator')
})

t.test('disabling a client: no login, no refresh, and its tokens stop validating on every instance', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const a = await build(t, { env: ADMIN, store })
  const b = await build(t, { env: ADMIN, store })
  const token = await adminToken(a)
  const client = await createClient(a, token, { name: 'Orders', public: true, grants: ['password', 'refresh_token'] })
  const user = await newSession(a)
  const loginBody = { username: user.username, password: PASSWORD, client_id: client.client_id }
  const pair = (await a.inject({ method: 'POST', url: '/auth/login', payload: loginBody })).json()
  const other = user.access_token
  t.equal((await validate(b, pair.access_token)).valid, true, 'valid on B before')

  const disabled = await a.inject({ method: 'POST', url: `/admin/clients/${client.client_id}/disable`, headers: { authorization: `Bearer ${token}` } })
  t.equal(disabled.statusCode, 200)
  t.equal(disabled.json().disabled, true)
  t.equal((await store.clients.find(client.client_id))?.disabled, true, 'stored')
  const entries = await store.revocations.since(0, new Date(), 100)
  t.ok(entries.some((e) => e.kind === 'client' && e.value === client.client_id), 'a client revocation in the store')

  t.same(await validate(a, pair.access_token), { valid: false, error: 'revoked' }, 'refused at once on A')
  t.ok(await waitFor(async () => (await validate(b, pair.access_token)).error === 'revoked'), 'refused on B after a sync')
  const authed = await b.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${pair.access_token}` } })
  t.equal(authed.statusCode, 401, 'bearer-protected routes refuse it too')
  t.equal((await validate(b, other)).valid, true, 'other clients\' tokens are untouched')

  const relogin = await a.inject({ method: 'POST', url: '/auth/login', payload: loginBody })
  t.equal(relogin.statusCode, 401, 'cannot log in')
  t.equal(relogin.json().error, 'invalid_client')
  const refresh = await a.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } })
  t.equal(refresh.statusCode, 401, 'cannot refresh')
  t.equal(refresh.json().error, 'invalid_grant')

  const again = await a.inject({ method: 'POST', url: `/admin/clients/${client.client_id}/disable`, headers: { authorization: `Bearer ${token}` } })
  t.equal(again.statusCode, 200, 'idempotent')
  const missing = await a.inject({ method: 'POST', url: '/admin/clients/nobody/disable', headers: { authorization: `Bearer ${token}` } })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'not_found')
})

t.test('sessions: list a user\'s live sessions and end one', async (t) => {
  const app = await build(t, { env: ADMIN })
  const token = await adminToken(app)
  const auth = { authorization: `Bearer ${token}` }
  const user = await newSession(app)
  const second = await login(app, user.username)
  const list = await app.inject({ method: 'GET', url: `/admin/users/${user.userId}/sessions`, headers: auth })
  t.equal(list.statusCode, 200)
  const sessions = list.json().sessions
  t.equal(sessions.length, 2)
  const sid = decode(second.access_token).sid
  t.same(sessions.map((s: { sid: string }) => s.sid).sort(), [decode(user.access_token).sid, sid].sort())
  t.equal(sessions[0].client_id, 'default')

  const del = await app.inject({ method: 'DELETE', url: `/admin/sessions/${sid}`, headers: auth })
  t.equal(del.statusCode, 204)
  t.equal(del.body, '')
  t.same(await validate(app, second.access_token), { valid: false, error: 'revoked' })
  t.equal((await validate(app, user.access_token)).valid, true, 'the other session lives')
  const after = await app.inject({ method: 'GET', url: `/admin/users/${user.userId}/sessions`, headers: auth })
  t.equal(after.json().sessions.length, 1)

  const unknownSid = await app.inject({ method: 'DELETE', url: '/admin/sessions/nope', headers: auth })
  t.equal(unknownSid.statusCode, 404)
  const unknownUser = await app.inject({ method: 'GET', url: '/admin/users/nope/sessions', headers: auth })
  t.equal(unknownUser.statusCode, 404)
})

t.test('bootstrap admin: created once, idempotent, config rules', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  await build(t, { env: ADMIN, store })
  await build(t, { env: { ...ADMIN, ADMIN_PASSWORD: 'another-long-password-ignored' }, store })
  const admin = await store.users.findByUsername('root')
  t.same(admin?.roles, ['admin'])
  t.ok(admin?.passwordHash.startsWith('$argon2id$'))
  const app = await build(t, { env: { ...ADMIN, ALLOW_REGISTRATION: 'false' }, store })
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'root', password: ADMIN.ADMIN_PASSWORD } })).statusCode, 200,
    'the first password stays')

  t.throws(() => loadConfig({ ...TEST_ENV, ADMIN_USERNAME: 'root' }), /ADMIN_USERNAME and ADMIN_PASSWORD must be set together/)
  t.throws(() => loadConfig({ ...TEST_ENV, NODE_ENV: 'production', ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'short-pass' }),
    /ADMIN_PASSWORD is too weak/)
  t.throws(() => loadConfig({ ...TEST_ENV, NODE_ENV: 'production', ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'aaaaaaaaaaaaaaaaaaaaaa' }),
    /ADMIN_PASSWORD is too weak/, 'too few distinct characters')
  const warnings: string[] = []
  loadConfig({ ...TEST_ENV, ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'short-pass' }, (m) => warnings.push(m))
  t.match(warnings, [/ADMIN_PASSWORD is weak/], 'a warning outside production')
  t.doesNotThrow(() => loadConfig({ ...TEST_ENV, NODE_ENV: 'production', ...ADMIN }))
})
