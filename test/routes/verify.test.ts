// /auth/verify, the gateway endpoint: any method, identity headers out,
// ?scope= checks, 401 with WWW-Authenticate, and no header injection from
// token values.
import t from 'tap'
import { build, newSession } from '../helper.js'
import { accessToken, nowSec } from '../support/tokens.js'

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

t.test('a valid token: 200 with identity headers and an empty body, for any method', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const sid = JSON.parse(Buffer.from(s.access_token.split('.')[1]!, 'base64url').toString()).sid as string
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const) {
    const res = await app.inject({ method, url: '/auth/verify', headers: bearer(s.access_token) })
    t.equal(res.statusCode, 200, method)
    t.equal(res.headers['x-auth-subject'], s.userId, `${method} subject`)
    t.equal(res.headers['x-auth-session'], sid, `${method} session`)
    t.equal(res.headers['x-auth-client'], 'default', `${method} client`)
    t.equal(res.headers['x-auth-scope'], '', `${method} scope`)
    t.equal(res.body, '', `${method} empty body`)
  }
  // The bearer scheme is case-insensitive (RFC 6750 / RFC 7235).
  const lower = await app.inject({ url: '/auth/verify', headers: { authorization: `bearer ${s.access_token}` } })
  t.equal(lower.statusCode, 200)
})

t.test('?role= needs that role in the token\'s roles claim: 403 forbidden otherwise (admin is a role, not a scope)', async (t) => {
  const app = await build(t)
  const admin = accessToken({ sub: 'root-1', roles: ['admin', 'ops'] })
  const scopeOnly = accessToken({ scope: 'admin', roles: [] })
  for (const [token, role, status] of [
    [admin, 'admin', 200], [admin, 'ops', 200], [admin, 'audit', 403], [scopeOnly, 'admin', 403]
  ] as const) {
    const res = await app.inject({ url: '/auth/verify', query: { role }, headers: bearer(token) })
    t.equal(res.statusCode, status, `role=${role}`)
    if (status === 403) {
      t.same(res.json(), { error: 'forbidden', message: 'the access token lacks the required role' })
      t.notOk(res.headers['x-auth-subject'], 'no identity on 403')
    } else {
      t.equal(res.headers['x-auth-subject'], 'root-1')
    }
  }
  const both = await app.inject({ url: '/auth/verify', query: { role: 'admin', scope: 'payroll:write' }, headers: bearer(admin) })
  t.equal(both.statusCode, 403, 'the scope is still required')
  t.equal(both.json().error, 'insufficient_scope')
  const invalid = await app.inject({ url: '/auth/verify', query: { role: 'Not A Role' }, headers: bearer(admin) })
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().error, 'invalid_request')
})

t.test('/auth/verify/<path>: the same check for gateways that append the original path (Envoy)', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const ok = await app.inject({ method: 'POST', url: '/auth/verify/orders/42?page=2', headers: bearer(s.access_token) })
  t.equal(ok.statusCode, 200)
  t.equal(ok.headers['x-auth-subject'], s.userId)
  const denied = await app.inject({ url: '/auth/verify/orders/42', headers: bearer('garbage') })
  t.equal(denied.statusCode, 401)
  t.equal(denied.headers['www-authenticate'], 'Bearer error="invalid_token"')
  const scoped = await app.inject({ url: '/auth/verify/orders?scope=orders:read', headers: bearer(s.access_token) })
  t.equal(scoped.statusCode, 403, 'a scope in the query is still enforced, never relaxed')
})

t.test('service tokens (no sid) get an empty X-Auth-Session', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/auth/verify', headers: bearer(accessToken({ sid: undefined, sub: 'svc-billing' })) })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-auth-subject'], 'svc-billing')
  t.equal(res.headers['x-auth-session'], '')
})

t.test('?scope= needs every listed scope: 403 insufficient_scope otherwise', async (t) => {
  const app = await build(t)
  const token = accessToken({ scope: 'orders:read orders:write' })
  for (const [scope, status] of [
    ['orders:read', 200], ['orders:read orders:write', 200], ['orders:write  orders:read', 200], ['', 200],
    ['orders:delete', 403], ['orders:read admin', 403], ['orders', 403]
  ] as const) {
    const res = await app.inject({ url: '/auth/verify', query: { scope }, headers: bearer(token) })
    t.equal(res.statusCode, status, `scope="${scope}"`)
    if (status === 403) {
      t.same(res.json(), { error: 'insufficient_scope', message: 'the access token lacks a required scope' })
      t.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope"')
      t.notOk(res.headers['x-auth-subject'], 'no identity on 403')
    }
  }
  // A token with no scope at all has none of them.
  const s = await newSession(app)
  const res = await app.inject({ url: '/auth/verify?scope=orders:read', headers: bearer(s.access_token) })
  t.equal(res.statusCode, 403)
  const tooLong = await app.inject({ url: '/auth/verify', query: { scope: 'x'.repeat(1025) }, headers: bearer(token) })
  t.equal(tooLong.statusCode, 400)
})

t.test('401 with WWW-Authenticate for missing, malformed, forged, expired, refresh and revoked tokens', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const revoked = await newSession(app)
  const logout = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: revoked.refresh_token } })
  t.equal(logout.statusCode, 204)
  const now = nowSec()
  const cases: Array<[string, Record<string, string>]> = [
    ['no Authorization', {}],
    ['Basic credentials', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['Bearer with nothing', { authorization: 'Bearer ' }],
    ['two tokens', { authorization: `Bearer ${s.access_token} ${s.access_token}` }],
    ['garbage', bearer('garbage')],
    ['forged (another key)', bearer(accessToken({}, { secret: 'not-the-secret-0123456789-abcdefghijklmnop' }))],
    ['expired', bearer(accessToken({ iat: now - 2000, exp: now - 1 }))],
    ['refresh token', bearer(s.refresh_token)],
    ['revoked (session ended)', bearer(revoked.access_token)]
  ]
  for (const [why, headers] of cases) {
    const res = await app.inject({ method: 'GET', url: '/auth/verify', headers })
    t.equal(res.statusCode, 401, why)
    t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', `${why}: WWW-Authenticate`)
    t.equal(res.json().error, 'invalid_token', `${why}: body`)
    t.notOk(res.headers['x-auth-subject'], `${why}: no identity`)
  }
})

const hostile: Array<[string, Record<string, unknown>]> = [
  ['CRLF in sub', { sub: 'alice\r\nX-Injected: 1' }],
  ['LF in sub', { sub: 'alice\nSet-Cookie: a=b' }],
  ['CRLF in scope', { scope: 'read\r\nX-Injected: 1' }],
  ['CR in client_id', { client_id: 'default\rX-Injected: 1' }],
  ['NUL in sid', { sid: 'abc\u0000def' }],
  ['non-ASCII sub', { sub: 'ålice' }],
  ['non-Latin-1 sub', { sub: 'user\u2028X-Injected: 1' }],
  ['very long sub', { sub: 'a'.repeat(5000) }]
]

t.test('token values that could inject or break a header are refused with 401', async (t) => {
  const app = await build(t)
  for (const [why, claims] of hostile) {
    const res = await app.inject({ url: '/auth/verify', headers: bearer(accessToken(claims)) })
    t.equal(res.statusCode, 401, why)
    t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', why)
    t.notOk(res.headers['x-injected'], `${why}: nothing injected`)
    t.notOk(res.headers['set-cookie'], `${why}: nothing injected`)
    t.notOk(res.headers['x-auth-subject'], `${why}: no identity`)
  }
})

t.test('a refused token stays refused when it comes again from the verified-token cache', async (t) => {
  const app = await build(t)
  const token = accessToken({ sub: 'alice\r\nX-Injected: 1' })
  const good = accessToken({ sub: 'carol' })
  for (const round of [1, 2, 3]) {
    const bad = await app.inject({ url: '/auth/verify', headers: bearer(token) })
    t.equal(bad.statusCode, 401, `hostile, round ${round}`)
    t.notOk(bad.headers['x-auth-subject'], `hostile, round ${round}: no identity`)
    const ok = await app.inject({ url: '/auth/verify', headers: bearer(good) })
    t.equal(ok.statusCode, 200, `good, round ${round}`)
    t.equal(ok.headers['x-auth-subject'], 'carol', `good, round ${round}`)
  }
})

t.test('over a real socket too: hostile values get 401 and the server keeps serving', async (t) => {
  const app = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  for (const [why, claims] of hostile) {
    const res = await fetch(`http://127.0.0.1:${port}/auth/verify`, { headers: bearer(accessToken(claims)) })
    t.equal(res.status, 401, why)
    t.equal(res.headers.get('x-injected'), null, why)
  }
  const ok = await fetch(`http://127.0.0.1:${port}/auth/verify`, { headers: bearer(accessToken({ sub: 'bob' })) })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('x-auth-subject'), 'bob')
})

t.test('?audience= refuses a token whose aud does not contain it', async (t) => {
  const app = await build(t)
  const orders = accessToken({ aud: ['token-orchestrator', 'orders-api'] })
  const shop = accessToken({ aud: ['token-orchestrator', 'shop-api'] })
  const plain = accessToken({ aud: 'token-orchestrator' })

  const pass = await app.inject({ url: '/auth/verify?audience=orders-api', headers: bearer(orders) })
  t.equal(pass.statusCode, 200, 'a token for orders-api passes the orders-api check')
  t.ok(pass.headers['x-auth-subject'])
  for (const [name, token] of [['a token for shop-api', shop], ['a token with only the default audience', plain]] as const) {
    const res = await app.inject({ url: '/auth/verify?audience=orders-api', headers: bearer(token) })
    t.equal(res.statusCode, 401, `${name} is refused`)
    t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
    t.same(res.json(), { error: 'invalid_token', message: 'the access token is not meant for this audience' })
    t.notOk(res.headers['x-auth-subject'], 'and no identity goes out')
  }
  const scoped = await app.inject({ url: '/auth/verify/orders/1?audience=orders-api&scope=orders:read', headers: bearer(orders) })
  t.equal(scoped.statusCode, 200, 'with a scope and an appended path too')
  const plainCheck = await app.inject({ url: '/auth/verify', headers: bearer(shop) })
  t.equal(plainCheck.statusCode, 200, 'without ?audience= any audience passes, as before')
  const bad = await app.inject({ url: '/auth/verify?audience=a%20b', headers: bearer(orders) })
  t.equal(bad.statusCode, 400, 'an audience with a space is a bad query')
})
