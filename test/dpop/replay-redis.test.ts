// DPOP_REPLAY_CACHE=redis against a real redis-server on loopback: two
// instances that share nothing but Redis (each its own throw-away SQLite store)
// refuse a proof the other accepted; the entry is written with SET NX and an
// expiry; with Redis gone a proof is refused with 503, never accepted.
// Skips, saying so, only when redis-server is not installed.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { build, PASSWORD, registerUser, TEST_ENV } from '../helper.js'
import { dpopKey } from '../support/dpop.js'
import { eventually } from '../support/eventually.js'
import { freePort } from '../support/server-process.js'
import { loadConfig, ConfigError } from '../../src/main/config.js'

const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p))

t.test('DPOP_REPLAY_CACHE=redis needs REDIS_URL', async (t) => {
  t.throws(() => loadConfig({ ...TEST_ENV, DPOP_REPLAY_CACHE: 'redis' }), ConfigError)
  t.throws(() => loadConfig({ ...TEST_ENV, DPOP_REPLAY_CACHE: 'redis', REDIS_URL: 'http://x' }), ConfigError)
  t.equal(loadConfig({ ...TEST_ENV, DPOP_REPLAY_CACHE: 'redis', REDIS_URL: 'redis://127.0.0.1:6379' }).DPOP_REPLAY_CACHE, 'redis')
})

t.test('a replay to another instance is refused through Redis', { skip: REDIS_SERVER === undefined ? 'redis-server not installed' : false }, async (t) => {
  const port = await freePort()
  const redis = spawn(REDIS_SERVER!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const exited = once(redis, 'exit')
  t.teardown(async () => { if (redis.exitCode === null) { redis.kill('SIGKILL'); await exited } })
  const url = `redis://127.0.0.1:${port}`
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await eventually(async () => client.connect().then(() => true, () => false))
  t.teardown(() => { client.disconnect() })

  const env = { PUBLIC_URL: 'http://localhost:4000', DPOP_REPLAY_CACHE: 'redis', REDIS_URL: url }
  const one = await build(t, { env })
  const two = await build(t, { env })
  const key = await dpopKey()
  const loginUrl = 'http://localhost:4000/auth/login'
  const login = async (app: typeof one, username: string, proof: string): Promise<{ statusCode: number, json: () => any }> =>
    app.inject({ method: 'POST', url: '/auth/login', headers: { dpop: proof }, payload: { username, password: PASSWORD } })
  const userOne = await registerUser(one)
  const userTwo = await registerUser(two, userOne.username)

  const proof = await key.proof({ method: 'POST', url: loginUrl })
  const first = await login(one, userOne.username, proof)
  t.equal(first.statusCode, 200)
  t.equal(first.json().token_type, 'DPoP')
  const again = await login(two, userTwo.username, proof)
  t.equal(again.statusCode, 400, 'the other instance, sharing only Redis, refuses the replay')
  t.equal(again.json().error, 'invalid_dpop_proof')

  const keys = await client.keys('token-orchestrator:dpop:*')
  t.equal(keys.length, 1, 'one entry in Redis')
  const ttl = await client.ttl(keys[0]!)
  t.ok(ttl > 0 && ttl <= 62, `it expires with the proof window (ttl ${ttl} s)`)

  const fresh = await login(two, userTwo.username, await key.proof({ method: 'POST', url: loginUrl }))
  t.equal(fresh.statusCode, 200, 'a fresh proof works on the other instance')

  redis.kill('SIGKILL')
  await exited
  const down = await login(one, userOne.username, await key.proof({ method: 'POST', url: loginUrl }))
  t.equal(down.statusCode, 503, 'with Redis gone a login is refused (its credential budget counts in the same Redis)')
  t.equal(down.json().error, 'rate_limit_unavailable')
  // A route with no credential budget: the proof's replay claim itself cannot be made.
  const resourceUrl = 'https://api.example.com/orders'
  const validated = await one.inject({
    method: 'POST',
    url: '/token/validate',
    payload: { token: first.json().access_token, dpop: { proof: await key.proof({ method: 'GET', url: resourceUrl, accessToken: first.json().access_token }), method: 'GET', url: resourceUrl } }
  })
  t.equal(validated.statusCode, 503, 'a proof is refused, not accepted on one instance\'s word')
  t.same(validated.json(), { error: 'store_unavailable', message: 'the token store is unavailable, try again later' })
})
