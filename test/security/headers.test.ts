// Response headers: nosniff on every answer; no-store on every answer under
// /admin, /token, /oauth and /auth, errors of every kind included; a CSP on
// /docs. (That Swagger UI still works under it is the browser test's job.)
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { build, newSession } from '../helper.js'

t.test('nosniff everywhere, no-store on every token and identity answer, errors included', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_AUTH: '2' } })
  const json = { 'content-type': 'application/json' }
  const cases: Array<[string, InjectOptions, number]> = [
    ['validate', { method: 'POST', url: '/token/validate', payload: { token: 'x' } }, 200],
    ['validate, bad body', { method: 'POST', url: '/token/validate', payload: { nope: 1 } }, 400],
    ['validate, wrong media type', { method: 'POST', url: '/token/validate', headers: { 'content-type': 'text/plain' }, payload: 'x' }, 415],
    ['batch, bad JSON', { method: 'POST', url: '/token/validate/batch', headers: json, payload: '{' }, 400],
    ['unknown /token path', { method: 'GET', url: '/token/nowhere' }, 404],
    ['verify without a token', { method: 'GET', url: '/auth/verify' }, 401],
    ['login, bad body', { method: 'POST', url: '/auth/login', payload: {} }, 400],
    ['unknown /auth path', { method: 'GET', url: '/auth' }, 404],
    ['admin without a token', { method: 'GET', url: '/admin/clients' }, 401],
    ['unknown /admin path', { method: 'GET', url: '/admin/nowhere' }, 404],
    ['oauth, bad grant', { method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=nope' }, 400],
    ['unknown /oauth path', { method: 'GET', url: '/oauth/nowhere?x=1' }, 404]
  ]
  for (const [name, request, status] of cases) {
    const res = await app.inject(request)
    t.equal(res.statusCode, status, `${name}: ${status}`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${name}: nosniff`)
    t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  }
  // The rate limit's own 429.
  let limited
  for (let i = 0; i < 5; i++) limited = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nobody', password: 'wrong-password' } })
  t.equal(limited!.statusCode, 429, 'rate limited')
  t.equal(limited!.headers['cache-control'], 'no-store', '429: no-store')
  t.equal(limited!.headers['x-content-type-options'], 'nosniff', '429: nosniff')

  for (const url of ['/health', '/nowhere', '/.well-known/jwks.json', '/metrics']) {
    const res = await app.inject({ url })
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
  }
  t.not((await app.inject({ url: '/.well-known/jwks.json' })).headers['cache-control'], 'no-store', 'the JWKS stays cacheable')
  t.not((await app.inject({ url: '/authority' })).headers['cache-control'], 'no-store', 'a path that only begins like /auth is not matched')
})

t.test('/docs carries a Content-Security-Policy that allows the UI\'s own scripts only', async (t) => {
  const app = await build(t)
  for (const url of ['/docs', '/docs/static/swagger-initializer.js', '/docs/json']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    const csp = String(res.headers['content-security-policy'] ?? '')
    t.match(csp, /default-src 'self'/, `${url}: a CSP`)
    t.match(csp, /object-src 'none'/)
    t.match(csp, /script-src 'self'/)
    t.notMatch(csp, /unsafe-eval/)
    t.notMatch(csp, /upgrade-insecure-requests/, 'no upgrade to an HTTPS port that may not exist')
    t.equal(res.headers['x-content-type-options'], 'nosniff')
  }
})

t.test('an /auth/verify 200 carries identity headers: no-store, so no proxy cache hands them to another caller', async (t) => {
  const app = await build(t)
  const session = await newSession(app)
  for (const method of ['GET', 'POST'] as const) {
    const res = await app.inject({ method, url: '/auth/verify', headers: { authorization: `Bearer ${session.access_token}` } })
    t.equal(res.statusCode, 200, `${method}: 200`)
    t.equal(res.headers['x-auth-subject'], session.userId, `${method}: the identity headers are there`)
    t.equal(res.headers['cache-control'], 'no-store', `${method}: no-store`)
  }
})
