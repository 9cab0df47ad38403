// GET /metrics: Prometheus text with per-route request counts and latency,
// and the service's own counters and gauges, fed by real requests.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, login, newSession, PASSWORD, registerUser, validate } from '../helper.js'

/** Parses the exposition text into "name{labels}" → value. */
async function scrape (app: FastifyInstance): Promise<Map<string, number>> {
  const res = await app.inject({ url: '/metrics' })
  const out = new Map<string, number>()
  for (const line of res.body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

t.test('/metrics is Prometheus text', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(res.body, /# TYPE token_orchestrator_validations_total counter/)
  t.match(res.body, /# TYPE http_request_duration_seconds histogram/)
  t.match(res.body, /# TYPE process_cpu_user_seconds_total counter/)
})

t.test('route counts and latency, not for /metrics itself', async (t) => {
  const app = await build(t)
  for (let i = 0; i < 3; i++) await app.inject({ method: 'POST', url: '/token/validate', payload: { token: 'x' } })
  await app.inject({ method: 'POST', url: '/token/validate', payload: {} })
  await app.inject({ url: '/health' })
  await app.inject({ url: '/no-such-route' })
  await app.inject({ url: '/metrics' })
  const m = await scrape(app)
  t.equal(m.get('http_request_duration_seconds_count{method="POST",route="/token/validate",status_code="200"}'), 3)
  t.equal(m.get('http_request_duration_seconds_count{method="POST",route="/token/validate",status_code="400"}'), 1)
  t.equal(m.get('http_request_duration_seconds_count{method="GET",route="/health",status_code="200"}'), 1)
  t.ok(m.has('http_request_duration_seconds_bucket{le="0.001",method="POST",route="/token/validate",status_code="200"}'),
    'sub-millisecond buckets')
  t.notOk([...m.keys()].some((k) => k.includes('route="/metrics"')), '/metrics is not counted')
  t.notOk([...m.keys()].some((k) => k.includes('no-such-route')), 'unknown URLs do not make new series')
})

t.test('the latency histogram times every answer, logged or not, at any log level', async (t) => {
  for (const level of ['silent', 'info', 'debug']) {
    const app = await build(t, { env: { LOG_LEVEL: level } })
    await app.inject({ method: 'POST', url: '/token/validate', payload: { token: 'x' } })
    await app.inject({ url: '/auth/verify' })
    await app.inject({ url: '/health' })
    const m = await scrape(app)
    for (const series of [
      'method="POST",route="/token/validate",status_code="200"',
      'method="GET",route="/auth/verify",status_code="401"',
      'method="GET",route="/health",status_code="200"'
    ]) {
      const sum = m.get(`http_request_duration_seconds_sum{${series}}`) ?? 0
      t.ok(sum > 0 && sum < 10, `LOG_LEVEL=${level}, ${series}: ${sum} s`)
    }
  }
})

t.test('validations by result, from validate, batch and verify', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const ended = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: ended.refresh_token } })
  await validate(app, s.access_token)
  await validate(app, 'garbage')
  await validate(app, ended.access_token)
  await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [s.access_token, s.refresh_token] } })
  await app.inject({ url: '/auth/verify', headers: { authorization: `Bearer ${s.access_token}` } })
  const m = await scrape(app)
  const v = (result: string): number | undefined => m.get(`token_orchestrator_validations_total{result="${result}"}`)
  t.equal(v('valid'), 3)
  t.equal(v('malformed'), 1)
  t.equal(v('revoked'), 1)
  t.equal(v('wrong_token_type'), 1)
  t.equal(v('expired'), 0, 'every result is exported, at 0 until seen')
  t.equal(m.get('token_orchestrator_revocation_cache_size{kind="sid"}'), 1)
  t.equal(m.get('token_orchestrator_revocation_cache_size{kind="jti"}'), 0)
  t.ok((m.get('token_orchestrator_revocation_sync_lag_seconds') ?? -1) >= 0)
})

t.test('logins, refreshes, reuse and revocations', async (t) => {
  const app = await build(t, { env: { LOCKOUT_THRESHOLD: '2' } })
  const before = await scrape(app)
  t.equal(before.get('token_orchestrator_logins_total{result="success"}'), 0)
  t.equal(before.get('token_orchestrator_refresh_reuse_detected_total'), 0)

  const user = await registerUser(app)
  const first = await login(app, user.username)
  const bad = async (): Promise<number> => (await app.inject({
    method: 'POST', url: '/auth/login', payload: { username: user.username, password: 'wrong password!' }
  })).statusCode
  t.equal(await bad(), 401)
  t.equal(await bad(), 401)
  t.equal(await bad(), 429, 'locked')
  const locked = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })
  t.equal(locked.statusCode, 429)

  const rotated = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: first.refresh_token } })
  t.equal(rotated.statusCode, 200)
  const garbage = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'garbage' } })
  t.equal(garbage.statusCode, 401)
  const reused = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: first.refresh_token } })
  t.equal(reused.statusCode, 401, 'reuse ends the session')

  const other = await newSession(app)
  await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: other.access_token } })
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: other.refresh_token } })

  const m = await scrape(app)
  t.equal(m.get('token_orchestrator_logins_total{result="success"}'), 2)
  t.equal(m.get('token_orchestrator_logins_total{result="invalid_credentials"}'), 2)
  t.equal(m.get('token_orchestrator_logins_total{result="locked"}'), 2)
  t.equal(m.get('token_orchestrator_refreshes_total{result="success"}'), 1)
  t.equal(m.get('token_orchestrator_refreshes_total{result="invalid_grant"}'), 2)
  t.equal(m.get('token_orchestrator_refresh_reuse_detected_total'), 1)
  t.equal(m.get('token_orchestrator_revocations_total{kind="sid",reason="refresh_token_reuse"}'), 1)
  t.equal(m.get('token_orchestrator_revocations_total{kind="jti",reason="revoked"}'), 1)
  t.equal(m.get('token_orchestrator_revocations_total{kind="sid",reason="logout"}'), 1)
  t.equal(m.get('token_orchestrator_revocation_cache_size{kind="sid"}'), 2)
  t.equal(m.get('token_orchestrator_revocation_cache_size{kind="jti"}'), 1)
})

t.test('two instances in one process keep their own registries', async (t) => {
  const a = await build(t)
  const b = await build(t)
  await validate(a, 'garbage')
  const ma = await scrape(a)
  const mb = await scrape(b)
  t.equal(ma.get('token_orchestrator_validations_total{result="malformed"}'), 1)
  t.equal(mb.get('token_orchestrator_validations_total{result="malformed"}'), 0)
})

t.test('with METRICS_TOKEN, /metrics answers only the bearer of that token', async (t) => {
  const token = 'scrape-token-0123456789abcdef'
  const app = await build(t, { env: { METRICS_TOKEN: token } })
  const denied: Array<[string, Record<string, string>]> = [
    ['no credentials', {}],
    ['a wrong token', { authorization: 'Bearer scrape-token-0123456789abcdeX' }],
    ['a prefix of the token', { authorization: `Bearer ${token.slice(0, -1)}` }],
    ['the token with more after it', { authorization: `Bearer ${token}x` }],
    ['another scheme', { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }],
    ['the bare token', { authorization: token }]
  ]
  for (const [name, headers] of denied) {
    const res = await app.inject({ url: '/metrics', headers })
    t.equal(res.statusCode, 401, `${name}: 401`)
    t.same(res.json(), { error: 'unauthorized', message: 'a valid metrics bearer token is required' })
    t.equal(res.headers['www-authenticate'], 'Bearer realm="metrics"')
    t.notMatch(res.body, /process_|token_orchestrator_/, 'and no metric')
  }
  const res = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200, 'the right token: 200')
  t.match(res.body, /# TYPE token_orchestrator_validations_total counter/)
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'other routes are not affected')
})

t.test('without METRICS_TOKEN, /metrics is open, and production warns at start', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 200)
  const { loadConfig } = await import('../../src/main/config.js')
  const strong = { JWT_SECRET: 'Zk3v9QdM2rT8wLzX4nB7pAq1s5u7w9y0', REFRESH_TOKEN_SECRET: 'kV2pN8rQ4tW6yZ1bD3fG5hJ7lM9nP0qR' }
  const warnings: string[] = []
  loadConfig({ NODE_ENV: 'production', ...strong }, (msg) => warnings.push(msg))
  t.ok(warnings.some((w) => w.startsWith('METRICS_TOKEN is not set')), 'production without METRICS_TOKEN: a warning')
  const quiet: string[] = []
  loadConfig({ NODE_ENV: 'production', ...strong, METRICS_TOKEN: 'scrape-token-0123456789abcdef' }, (msg) => quiet.push(msg))
  t.same(quiet.filter((w) => w.includes('METRICS_TOKEN')), [], 'with it: none')
  t.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN/, 'a short token is refused')
})
