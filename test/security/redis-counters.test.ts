// The counters that decide a refusal, shared through a real Redis
// (REDIS_URL): two app instances on one store and one Redis get ONE per-IP
// credential budget and ONE client-secret failure throttle between them, also
// when their requests race. When Redis is down or hangs, credential routes
// answer 503 rate_limit_unavailable without any argon2 work, validate, batch
// validate and gateway verify keep answering, /ready and /metrics show it, and
// everything recovers by itself when Redis returns. Without REDIS_URL the
// start log says the budget is per process.
// Skips, saying so, only when redis-server cannot start (.ci/run installs it).
import t, { type Test } from 'tap'
import argon2 from 'argon2'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { build, newSession } from '../helper.js'
import { ADMIN_ENV, basic, createClient } from '../support/clients.js'
import { eventually } from '../support/eventually.js'
import { captureLogs } from '../support/logs.js'
import { redisUnavailable, startRedis, type RedisServer } from '../support/redis-server.js'
import { memoryStore } from '../support/stores.js'
import { MemoryClientThrottle, RedisClientThrottle, type ClientThrottle } from '../../src/oauth/client-throttle.js'
import { RateLimitUnavailableError } from '../../src/errors.js'

const skip = await redisUnavailable()
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** Counts argon2 verifications and hashes from now until teardown. */
function countArgon2 (t: Test): { hash: number, verify: number } {
  const counted = { hash: 0, verify: 0 }
  const lib = argon2 as { hash: typeof argon2.hash, verify: typeof argon2.verify }
  const { hash, verify } = lib
  lib.hash = (async (...args: Parameters<typeof hash>) => { counted.hash += 1; return hash(...args) }) as typeof hash
  lib.verify = async (...args: Parameters<typeof verify>) => { counted.verify += 1; return verify(...args) }
  t.teardown(() => { lib.hash = hash; lib.verify = verify })
  return counted
}

/** A connection of the test's own, failing fast like the service's once Redis is gone. */
async function testConnection (t: Test, redis: RedisServer): Promise<Redis> {
  const connection = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  connection.on('error', () => {})
  t.teardown(() => { connection.disconnect() })
  await connection.connect()
  return connection
}

async function metric (app: FastifyInstance, name: string): Promise<number | undefined> {
  const res = await app.inject({ url: '/metrics' })
  const line = res.body.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

const login = (app: FastifyInstance, remoteAddress: string, password = 'a wrong guess') =>
  app.inject({ method: 'POST', url: '/auth/login', remoteAddress, payload: { username: 'nobody.here', password } })

/** Two instances on one store and one Redis. */
async function pair (t: Test, redis: RedisServer, env: Record<string, string> = {}): Promise<[FastifyInstance, FastifyInstance]> {
  const store = memoryStore()
  const full = { ...ADMIN_ENV, REDIS_URL: redis.url, ...env }
  return [await build(t, { store, env: full }), await build(t, { store, env: full })]
}

t.test('two instances on one Redis share one per-IP credential budget', { skip }, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await pair(t, redis, { RATE_LIMIT_AUTH: '6', LOCKOUT_THRESHOLD: '1000' })
  const attacker = '192.0.2.31'
  const statuses: number[] = []
  for (let i = 0; i < 10; i++) statuses.push((await login(i % 2 === 0 ? a : b, attacker)).statusCode)
  t.same(statuses, [401, 401, 401, 401, 401, 401, 429, 429, 429, 429], 'six guesses over both instances, then 429 on both')
  const refused = await login(b, attacker)
  t.equal(refused.json().error, 'too_many_requests')
  t.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After')
  const token = await a.inject({ method: 'POST', url: '/oauth/token', remoteAddress: attacker, headers: FORM, payload: 'grant_type=password&username=x&password=y' })
  t.equal(token.statusCode, 429, '/oauth/token on A draws on the same budget')
  t.equal((await login(a, '192.0.2.32')).statusCode, 401, 'another address has its own budget')

  const client = await testConnection(t, redis)
  t.equal(Number(await client.get(`token-orchestrator:credentials:${attacker}`)), 12, 'the count is in Redis, under the documented key')
  t.ok(await client.pttl(`token-orchestrator:credentials:${attacker}`) > 0, 'and lapses with its window')
})

t.test('concurrent guesses on two instances: none is lost, none admitted beyond the budget', { skip }, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await pair(t, redis, { RATE_LIMIT_AUTH: '10', LOCKOUT_THRESHOLD: '1000' })
  const attacker = '192.0.2.33'
  // 30 guesses in flight at once, half on each instance.
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => login(i % 2 === 0 ? a : b, attacker)))
  const admitted = answers.filter((r) => r.statusCode === 401).length
  const refused = answers.filter((r) => r.statusCode === 429).length
  t.equal(admitted, 10, 'exactly RATE_LIMIT_AUTH admitted over both')
  t.equal(refused, 20, 'the rest refused')
})

t.test('the client-secret failure throttle is one count across instances, also for failures at the same moment', { skip }, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await pair(t, redis, { LOCKOUT_THRESHOLD: '4' })
  const client = await createClient(a, { name: 'service', grants: ['client_credentials'] })
  const from = '192.0.2.40'
  const wrong = basic(client.client_id, 'not-the-secret')
  const attempt = (app: FastifyInstance, authorization: string, remoteAddress = from) =>
    app.inject({ method: 'POST', url: '/oauth/token', remoteAddress, headers: { ...FORM, authorization }, payload: 'grant_type=client_credentials' })
  // Two wrong secrets on each instance, all four in flight together: per instance
  // (in memory) each would count 2 of 4 and never lock.
  const first = await Promise.all([attempt(a, wrong), attempt(b, wrong), attempt(a, wrong), attempt(b, wrong)])
  t.same(first.map((r) => r.statusCode), [401, 401, 401, 401], 'four failures')
  const argon = countArgon2(t)
  for (const app of [a, b]) {
    const res = await attempt(app, wrong)
    t.equal(res.statusCode, 429, 'throttled on both instances')
    t.equal(res.json().error, 'too_many_requests')
    t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After')
  }
  t.equal(argon.verify, 0, 'no argon2 for a throttled client_id')
  t.equal((await attempt(b, wrong, '192.0.2.41')).statusCode, 401, 'another address is not throttled')

  // A success clears the count everywhere: three failures then a success on A, then three on B do not lock.
  const other = await createClient(a, { name: 'other', grants: ['client_credentials'] })
  const otherWrong = basic(other.client_id, 'wrong')
  const otherRight = basic(other.client_id, other.client_secret)
  for (let i = 0; i < 3; i++) t.equal((await attempt(b, otherWrong)).statusCode, 401)
  t.equal((await attempt(a, otherRight)).statusCode, 200, 'the right secret on A')
  for (let i = 0; i < 3; i++) t.equal((await attempt(b, otherWrong)).statusCode, 401, 'counted from zero again')
  t.equal((await attempt(a, otherWrong)).statusCode, 401, 'the fourth after the success locks…')
  t.equal((await attempt(b, otherWrong)).statusCode, 429, '…on the other instance too')
})

t.test('RedisClientThrottle and MemoryClientThrottle follow one rule', { skip }, async (t) => {
  const redis = await startRedis(t)
  const connection = await testConnection(t, redis)
  const throttles: Array<[string, ClientThrottle]> = [
    ['memory', new MemoryClientThrottle({ threshold: 3, lockSeconds: 60 })],
    ['redis', new RedisClientThrottle(connection, { threshold: 3, lockSeconds: 60, prefix: 'test:throttle:' })]
  ]
  for (const [kind, throttle] of throttles) {
    const ip = '192.0.2.1'
    await throttle.failure('c', ip)
    await throttle.failure('c', ip)
    t.equal(await throttle.retryAfter('c', ip), null, `${kind}: below the threshold`)
    await throttle.success('c', ip)
    await throttle.failure('c', ip)
    await throttle.failure('c', ip)
    t.equal(await throttle.retryAfter('c', ip), null, `${kind}: a success started the count again`)
    await throttle.failure('c', ip)
    t.equal(await throttle.retryAfter('c', ip), 60, `${kind}: locked for the lock period`)
    t.equal(await throttle.retryAfter('other', ip), null, `${kind}: per client_id`)
    t.equal(await throttle.retryAfter('c', '192.0.2.2'), null, `${kind}: per address`)
    for (let i = 0; i < 3; i++) await throttle.failure('c 192.0.2.1', '192.0.2.2')
    t.equal(await throttle.retryAfter('192.0.2.2 c', '192.0.2.1'), null, `${kind}: no pair poses as another`)
  }
  // Redis keeps the count for a lock period from the first failure, and the lock for a lock period.
  const short = new RedisClientThrottle(connection, { threshold: 2, lockSeconds: 1, prefix: 'test:short:' })
  await short.failure('d', '192.0.2.9')
  t.ok(await connection.pttl('test:short:{9:192.0.2.9 d}:failures') > 0, 'the count lapses')
  await short.failure('d', '192.0.2.9')
  t.equal(await connection.exists('test:short:{9:192.0.2.9 d}:failures'), 0, 'the lock started the count again')
  t.equal(await short.retryAfter('d', '192.0.2.9'), 1)
  await eventually(async () => (await short.retryAfter('d', '192.0.2.9')) === null)
  t.pass('unlocked after the lock period')

  await redis.kill()
  await t.rejects(throttles[1]![1].retryAfter('c', '192.0.2.1'), RateLimitUnavailableError, 'Redis down: RateLimitUnavailableError')
  await t.rejects(throttles[1]![1].failure('c', '192.0.2.1'), RateLimitUnavailableError)
})

t.test('Redis down: credential routes fail closed, validate keeps answering, both recover', { skip }, async (t) => {
  const redis = await startRedis(t)
  const [a] = await pair(t, redis, { LOCKOUT_THRESHOLD: '1000' })
  const user = await newSession(a)
  const reader = await createClient(a, { name: 'reader', scopes: ['revocations:read'] })
  const readerAuth = basic(reader.client_id, reader.client_secret)
  const feed = (authorization: string) => a.inject({ method: 'GET', url: '/token/revocations', remoteAddress: '192.0.2.50', headers: { authorization } })
  t.equal((await feed(readerAuth)).statusCode, 200, 'the reader reads once (its secret is now remembered)')
  t.same((await a.inject({ url: '/ready' })).json(), { status: 'ok', redis: 'ok' })
  t.equal(await metric(a, 'token_orchestrator_redis_up'), 1)

  await redis.kill()
  const argon = countArgon2(t)
  const denied = await login(a, '192.0.2.51', 'correct horse battery staple')
  t.equal(denied.statusCode, 503, 'login: 503')
  t.same(Object.keys(denied.json()).sort(), ['error', 'message'])
  t.equal(denied.json().error, 'rate_limit_unavailable')
  const routes: Array<{ url: string, payload: string | Record<string, string>, headers?: Record<string, string>, code: string }> = [
    { url: '/auth/register', payload: { username: 'someone.new', password: 'long enough password' }, code: 'rate_limit_unavailable' },
    { url: '/auth/refresh', payload: { refresh_token: user.refresh_token }, code: 'rate_limit_unavailable' },
    { url: '/oauth/token', headers: FORM, payload: 'grant_type=password&username=x&password=y', code: 'temporarily_unavailable' },
    { url: '/oauth/introspect', headers: { ...FORM, authorization: readerAuth }, payload: 'token=x', code: 'temporarily_unavailable' }
  ]
  for (const route of routes) {
    const res = await a.inject({ method: 'POST', remoteAddress: '192.0.2.51', ...route })
    t.equal(res.statusCode, 503, `${route.url}: 503`)
    t.equal(res.json().error, route.code, `${route.url}: ${route.code}`)
  }
  const password = await a.inject({ method: 'POST', url: '/auth/password', headers: { authorization: `Bearer ${user.access_token}` }, payload: { current_password: 'correct horse battery staple', new_password: 'another long passphrase' } })
  t.equal(password.statusCode, 503, '/auth/password: 503')
  const stranger = await feed(basic(reader.client_id, 'a guessed secret'))
  t.equal(stranger.statusCode, 503, 'a feed reader whose secret needs argon2: 503')
  t.equal(stranger.json().error, 'rate_limit_unavailable')
  t.same(argon, { hash: 0, verify: 0 }, 'no argon2 work while the counters are down')
  t.equal((await feed(readerAuth)).statusCode, 200, 'a reader whose secret is remembered keeps following the feed')

  const validate = await a.inject({ method: 'POST', url: '/token/validate', payload: { token: user.access_token } })
  t.equal(validate.json().valid, true, 'validate answers')
  const batch = await a.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [user.access_token, 'a.b.c'] } })
  t.same(batch.json().results.map((r: { valid: boolean }) => r.valid), [true, false], 'batch validate answers')
  const verify = await a.inject({ url: '/auth/verify', headers: { authorization: `Bearer ${user.access_token}` } })
  t.equal(verify.statusCode, 200, 'gateway verify answers')
  const ready = await a.inject({ url: '/ready' })
  t.equal(ready.statusCode, 200, '/ready stays 200: the store answers')
  t.same(ready.json(), { status: 'ok', redis: 'unavailable' }, 'and says Redis is unavailable')
  t.equal(await metric(a, 'token_orchestrator_redis_up'), 0, 'redis_up 0')

  await redis.restart()
  await eventually(async () => (await login(a, '192.0.2.51')).statusCode === 401)
  t.pass('login is counted and answered again once Redis is back, by itself')
  t.same((await a.inject({ url: '/ready' })).json(), { status: 'ok', redis: 'ok' })
  t.equal(await metric(a, 'token_orchestrator_redis_up'), 1)
  t.equal((await feed(basic(reader.client_id, reader.client_secret))).statusCode, 200)
})

t.test('Redis that hangs: credential routes answer 503 after the command timeout, then recover', { skip }, async (t) => {
  const redis = await startRedis(t)
  const [a] = await pair(t, redis, { REDIS_COMMAND_TIMEOUT_MS: '200', LOCKOUT_THRESHOLD: '1000' })
  const user = await newSession(a)
  redis.pause()
  t.teardown(() => redis.resume())
  const started = Date.now()
  const res = await login(a, '192.0.2.60')
  t.equal(res.statusCode, 503, 'login: 503 instead of waiting on Redis')
  t.equal(res.json().error, 'rate_limit_unavailable')
  t.ok(Date.now() - started < 10_000, 'answered, not queued behind Redis')
  t.equal((await a.inject({ method: 'POST', url: '/token/validate', payload: { token: user.access_token } })).json().valid, true, 'validate answers')
  t.same((await a.inject({ url: '/ready' })).json(), { status: 'ok', redis: 'unavailable' }, 'the PING times out too')
  redis.resume()
  await eventually(async () => (await login(a, '192.0.2.60')).statusCode === 401)
  t.pass('recovered')
})

t.test('Redis unreachable at start: the service starts, refuses credential routes, and takes up Redis when it comes', { skip }, async (t) => {
  const redis = await startRedis(t)
  await redis.kill()
  const logs = captureLogs()
  // A password in the URL (this redis-server asks for none: ioredis goes on without it).
  const url = redis.url.replace('redis://', 'redis://:a-redis-password-0123@')
  const app = await build(t, { logStream: logs.stream, env: { REDIS_URL: url, REDIS_CONNECT_TIMEOUT_MS: '200' } })
  t.ok(logs.records().some((r) => r.level === 50 && String(r.msg).startsWith('redis: unreachable at start')), 'the start says so')
  t.equal((await login(app, '192.0.2.70')).statusCode, 503)
  t.equal((await app.inject({ url: '/health' })).statusCode, 200)
  await redis.restart()
  await eventually(async () => (await login(app, '192.0.2.70')).statusCode === 401)
  t.ok(logs.records().some((r) => String(r.msg).startsWith('redis: connected')), 'the connection is logged')
  t.notOk(logs.text().includes('a-redis-password-0123'), 'the password is never logged')
})

t.test('without REDIS_URL the start log says the budget is per process', async (t) => {
  const logs = captureLogs()
  const app = await build(t, { logStream: logs.stream })
  t.ok(logs.records().some((r) => String(r.msg).includes('count in memory, per process')), 'logged at start')
  t.equal((await app.inject({ url: '/ready' })).json().redis, undefined, '/ready has no redis field')
  t.equal(await metric(app, 'token_orchestrator_redis_up'), undefined, 'no redis_up metric')
})
