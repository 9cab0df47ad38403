// Response headers: nosniff and X-Request-Id on every answer; no-store on every
// answer that sets no caching of its own (only the JWKS and the OAuth metadata
// do), errors of every kind included, however the path is spelled; a CSP on
// /docs. (That Swagger UI still works under it is the browser test's job.)
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { build, newSession, PASSWORD } from '../helper.js'

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
  t.match((await app.inject({ url: '/.well-known/jwks.json' })).headers['cache-control'], /^public, max-age=\d+$/, 'the JWKS stays cacheable')
  t.equal((await app.inject({ url: '/.well-known/oauth-authorization-server' })).headers['cache-control'], 'public, max-age=3600', 'so does the OAuth metadata')
  for (const url of ['/health', '/nowhere', '/authority', '/docs/json']) {
    t.equal((await app.inject({ url })).headers['cache-control'], 'no-store', `${url}: no-store`)
  }
})

t.test('a percent-encoded path reaches the same route with the same headers', async (t) => {
  const app = await build(t)
  const session = await newSession(app)
  const answers = [
    ['/%61uth/login', await app.inject({ method: 'POST', url: '/%61uth/login', payload: { username: session.username, password: PASSWORD } })],
    ['/%74oken/validate', await app.inject({ method: 'POST', url: '/%74oken/validate', payload: { token: session.access_token } })],
    ['/%61uth/verify', await app.inject({ url: '/%61uth/verify', headers: { authorization: `Bearer ${session.access_token}` } })],
    ['/%61dmin/clients', await app.inject({ url: '/%61dmin/clients' })]
  ] as const
  t.same(answers.map(([, res]) => res.statusCode), [200, 200, 200, 401], 'routed as the decoded path')
  t.ok(answers[0][1].json().access_token, 'the encoded login answered a token pair')
  for (const [url, res] of answers) {
    t.equal(res.headers['cache-control'], 'no-store', `${url}: no-store`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
    t.ok(res.headers['x-request-id'], `${url}: a request id`)
  }
})

t.test('a malformed percent-escape gets the service\'s 400 and the usual headers, without the URL echoed', async (t) => {
  const app = await build(t)
  for (const url of ['/auth/verify/%zz', '/token/%zz', '/%zz?token=secret']) {
    const res = await app.inject({ url, headers: { 'x-request-id': 'bad-url-1' } })
    t.equal(res.statusCode, 400, url)
    t.same(res.json(), { error: 'invalid_request', message: 'the request URL is not valid' }, `${url}: {error, message}`)
    t.equal(res.headers['x-request-id'], 'bad-url-1', `${url}: the request id`)
    t.equal(res.headers['cache-control'], 'no-store', `${url}: no-store`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
  }
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
