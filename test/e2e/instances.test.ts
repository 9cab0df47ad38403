// Several instances together, as they run in production: three service
// processes on ONE SQLite file and one Redis (REDIS_URL), on loopback. Shown:
// - guesses spread over the three get the same total credential budget as
//   guesses at one (counted, not assumed);
// - a lockout reached through all three holds on each;
// - a logout, a revoke, a client disable and a key rotation (ES256) made on
//   one instance hold on the others within 1.5 s;
// - concurrent refreshes of one token, spread over the three, give exactly one
//   success;
// - Redis killed in the middle: credential routes answer 503 on every
//   instance, validate keeps answering, and both recover when Redis returns
//   on the same port.
// Each part sends from loopback addresses of its own (127.0.x.y), so that
// per-IP budgets of one part do not spend another's. The figures measured are
// printed as comments.
// Skips, saying so, only when redis-server cannot start (.ci/run installs it).
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { PASSWORD } from '../helper.js'
import { ADMIN_ENV, basic } from '../support/clients.js'
import { eventually } from '../support/eventually.js'
import { freshAddress, sendFrom, type Answer, type SendOptions } from '../support/http-from.js'
import { redisUnavailable, startRedis } from '../support/redis-server.js'
import { ONE_SERVICE, startServer, type RunningServer } from '../support/server-process.js'
import { scratchDir } from '../support/stores.js'

const skip = await redisUnavailable()

/** Propagation bound between instances (REVOCATION_SYNC_INTERVAL_MS 100, KEY_RING_SYNC_INTERVAL_MS 200 here). */
const PROPAGATION_MS = 1500
const BUDGET = 12

const fresh = freshAddress

/** One request from a chosen loopback source address (what the per-IP counters key on). */
const send = (server: RunningServer, from: string, method: string, path: string, opts: SendOptions = {}): Promise<Answer> =>
  sendFrom(server.port, from, method, path, opts)

const post = (s: RunningServer, from: string, path: string, json: unknown, headers?: Record<string, string>) =>
  send(s, from, 'POST', path, { json, ...(headers !== undefined ? { headers } : {}) })

const validateOn = async (s: RunningServer, token: string): Promise<{ valid: boolean, error?: string }> =>
  (await post(s, '127.0.0.1', '/token/validate', { token })).body

const kidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid

async function metric (s: RunningServer, name: string): Promise<number | undefined> {
  const text = (await send(s, '127.0.0.1', 'GET', '/metrics')).body as string
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** Polls every instance but `origin` until `check` holds on each; returns the slowest time, in ms. */
async function heldOnOthers (servers: RunningServer[], origin: RunningServer, check: (s: RunningServer) => Promise<boolean>): Promise<number> {
  const times = await Promise.all(servers.filter((s) => s !== origin).map((s) => eventually(() => check(s), PROPAGATION_MS)))
  return Math.max(...times)
}

t.test('three instances on one SQLite file and one Redis', { skip }, async (t: Test) => {
  const redis = await startRedis(t)
  const dir = scratchDir(t, 'token-orchestrator-instances-')
  const env = {
    ...ADMIN_ENV,
    REDIS_URL: redis.url,
    SQLITE_PATH: join(dir, 'shared.sqlite'),
    RATE_LIMIT_AUTH: String(BUDGET),
    LOCKOUT_THRESHOLD: '3',
    JWT_ALGORITHM: 'ES256',
    KEY_ROTATION_OVERLAP: '2',
    KEY_RING_SYNC_INTERVAL_MS: '200',
    REVOCATION_SYNC_INTERVAL_MS: '100',
    LOG_LEVEL: 'warn',
    // One service behind one name: the issuer of every token.
    ...ONE_SERVICE
  }
  // One after the other: the first creates the schema, the key ring and the admin.
  const servers: RunningServer[] = []
  for (let i = 0; i < 3; i++) servers.push(await startServer(t, env))
  const [a, b, c] = servers as [RunningServer, RunningServer, RunningServer]

  t.test('the credential budget is spent across the instances', async (t) => {
    const guess = (s: RunningServer, from: string, i: number) =>
      post(s, from, '/auth/login', { username: `nobody${i}`, password: 'a wrong guess' })
    const one: Answer[] = []
    for (let i = 0; i < 3 * BUDGET; i++) one.push(await guess(a, '127.0.0.2', i))
    // All at once, spread over the three: the counters race on purpose.
    const three = await Promise.all(Array.from({ length: 3 * BUDGET }, (_, i) => guess(servers[i % 3]!, '127.0.0.3', i)))
    const admitted = (answers: Answer[]) => answers.filter((r) => r.status === 401).length
    const refused = (answers: Answer[]) => answers.filter((r) => r.status === 429).length
    t.comment(`measured: ${3 * BUDGET} guesses with RATE_LIMIT_AUTH=${BUDGET}: ${admitted(one)} admitted at one instance, ${admitted(three)} over three`)
    t.equal(admitted(one), BUDGET, 'one instance admits the budget')
    t.equal(refused(one), 2 * BUDGET, 'and refuses the rest')
    t.equal(admitted(three), admitted(one), 'three instances admit the same total')
    t.equal(refused(three), 2 * BUDGET)
    for (const s of servers) {
      const res = await guess(s, '127.0.0.3', 999)
      t.equal(res.status, 429, `instance ${servers.indexOf(s) + 1} refuses the address`)
      t.equal(res.body.error, 'too_many_requests')
      t.ok(Number(res.headers['retry-after']) > 0, 'with Retry-After')
    }
  })

  t.test('a lockout reached through all three holds on each', async (t) => {
    const username = 'locked.user'
    t.equal((await post(a, '127.0.0.4', '/auth/register', { username, password: PASSWORD })).status, 201)
    for (const s of servers) {
      t.equal((await post(s, '127.0.0.4', '/auth/login', { username, password: 'not the password' })).status, 401, 'a wrong password')
    }
    for (const s of servers) {
      const res = await post(s, '127.0.0.4', '/auth/login', { username, password: PASSWORD })
      t.equal(res.status, 429, `instance ${servers.indexOf(s) + 1}: locked, even with the right password`)
      t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After')
    }
    t.equal((await post(b, '127.0.0.5', '/auth/login', { username, password: PASSWORD })).status, 200, 'the owner, from another address, signs in')
  })

  t.test('a logout, a revoke, a client disable and a key rotation on one instance hold on the others within 1.5 s', async (t) => {
    const username = 'moving.user'
    t.equal((await post(a, '127.0.0.6', '/auth/register', { username, password: PASSWORD })).status, 201)
    const signIn = async (s: RunningServer) => {
      const res = await post(s, fresh(), '/auth/login', { username, password: PASSWORD })
      t.equal(res.status, 200)
      return res.body as { access_token: string, refresh_token: string }
    }
    const revokedOn = (token: string) => async (s: RunningServer) => (await validateOn(s, token)).error === 'revoked'

    const first = await signIn(a)
    for (const s of servers) t.equal((await validateOn(s, first.access_token)).valid, true, 'valid everywhere first')
    t.equal((await post(a, '127.0.0.6', '/auth/logout', { refresh_token: first.refresh_token })).status, 204)
    const logout = await heldOnOthers(servers, a, revokedOn(first.access_token))
    t.equal((await post(c, '127.0.0.6', '/auth/refresh', { refresh_token: first.refresh_token })).body.error, 'invalid_grant', 'its refresh token is dead on C')

    const second = await signIn(b)
    t.same((await post(b, '127.0.0.6', '/token/revoke', { token: second.access_token })).body, { revoked: true })
    const revoke = await heldOnOthers(servers, b, revokedOn(second.access_token))

    const admin = (await post(a, '127.0.0.7', '/auth/login', { username: ADMIN_ENV.ADMIN_USERNAME, password: ADMIN_ENV.ADMIN_PASSWORD })).body.access_token as string
    const bearer = { authorization: `Bearer ${admin}` }
    const created = await post(a, '127.0.0.7', '/admin/clients', { name: 'service', grants: ['client_credentials'] }, bearer)
    t.equal(created.status, 201)
    const { client_id: clientId, client_secret: secret } = created.body as { client_id: string, client_secret: string }
    const credentials = (s: RunningServer) => send(s, '127.0.0.7', 'POST', '/oauth/token', { form: 'grant_type=client_credentials', headers: { authorization: basic(clientId, secret) } })
    const serviceToken = (await credentials(b)).body.access_token as string
    for (const s of servers) t.equal((await validateOn(s, serviceToken)).valid, true, 'the client\'s token is valid everywhere')
    t.equal((await post(c, '127.0.0.7', `/admin/clients/${clientId}/disable`, {}, bearer)).status, 200)
    const disable = await heldOnOthers(servers, c, revokedOn(serviceToken))
    for (const s of servers) t.equal((await credentials(s)).status, 401, 'the disabled client cannot authenticate anywhere')

    const oldKid = kidOf((await signIn(a)).access_token)
    const rotated = await post(c, '127.0.0.7', '/admin/keys/rotate', {}, bearer)
    t.equal(rotated.status, 200)
    const newKid = rotated.body.kid as string
    t.not(newKid, oldKid)
    const publishes = async (s: RunningServer) =>
      ((await send(s, '127.0.0.1', 'GET', '/.well-known/jwks.json')).body as { keys: Array<{ kid: string }> }).keys.some((k) => k.kid === newKid)
    const rotation = await heldOnOthers(servers, c, publishes)
    // Once the overlap is over, every instance signs with the new key, and every instance accepts its tokens.
    for (const s of servers) {
      await eventually(async () => kidOf((await signIn(s)).access_token) === newKid)
      const token = (await signIn(s)).access_token
      for (const v of servers) t.equal((await validateOn(v, token)).valid, true, `a token signed by instance ${servers.indexOf(s) + 1} with the new key is valid on instance ${servers.indexOf(v) + 1}`)
    }
    t.comment(`measured propagation to the other two instances (slowest): logout ${logout} ms, revoke ${revoke} ms, client disable ${disable} ms, key rotation (JWKS) ${rotation} ms`)
  })

  t.test('concurrent refreshes of one token spread over the instances give exactly one success', async (t) => {
    const username = 'racing.user'
    t.equal((await post(b, '127.0.0.8', '/auth/register', { username, password: PASSWORD })).status, 201)
    for (let round = 0; round < 3; round++) {
      const from = fresh()
      const pair = (await post(servers[round]!, from, '/auth/login', { username, password: PASSWORD })).body as { refresh_token: string }
      const answers = await Promise.all(Array.from({ length: 9 }, (_, i) => post(servers[i % 3]!, from, '/auth/refresh', { refresh_token: pair.refresh_token })))
      const statuses = answers.map((r) => r.status)
      t.equal(statuses.filter((s) => s === 200).length, 1, `round ${round + 1}: exactly one of nine refreshes succeeds (${statuses.join(' ')})`)
      t.ok(answers.every((r) => r.status === 200 || r.body.error === 'invalid_grant'), 'the others are invalid_grant')
    }
  })

  t.test('Redis killed in the middle: credential routes 503, validate answers, both recover', async (t) => {
    const username = 'outage.user'
    t.equal((await post(c, '127.0.0.9', '/auth/register', { username, password: PASSWORD })).status, 201)
    const session = (await post(c, '127.0.0.9', '/auth/login', { username, password: PASSWORD })).body as { access_token: string, refresh_token: string }
    for (const s of servers) t.equal(await metric(s, 'token_orchestrator_redis_up'), 1)

    await redis.kill()
    const killedAt = Date.now()
    for (const s of servers) {
      const n = servers.indexOf(s) + 1
      const login = await post(s, '127.0.0.9', '/auth/login', { username, password: PASSWORD })
      t.equal(login.status, 503, `instance ${n}: login 503`)
      t.same(login.body, { error: 'rate_limit_unavailable', message: 'the rate limit counters are unavailable, try again later' })
      const refresh = await post(s, '127.0.0.9', '/auth/refresh', { refresh_token: session.refresh_token })
      t.equal(refresh.status, 503, `instance ${n}: refresh 503`)
      const token = await send(s, '127.0.0.9', 'POST', '/oauth/token', { form: `grant_type=password&username=${username}&password=x` })
      t.equal(token.status, 503, `instance ${n}: /oauth/token 503`)
      t.equal(token.body.error, 'temporarily_unavailable')
      t.equal((await validateOn(s, session.access_token)).valid, true, `instance ${n}: validate answers`)
      const verify = await send(s, '127.0.0.9', 'GET', '/auth/verify', { headers: { authorization: `Bearer ${session.access_token}` } })
      t.equal(verify.status, 200, `instance ${n}: gateway verify answers`)
      const ready = await send(s, '127.0.0.9', 'GET', '/ready')
      t.equal(ready.status, 200, `instance ${n}: /ready 200 (the store answers)`)
      t.same(ready.body, { status: 'ok', redis: 'unavailable' })
      t.equal(await metric(s, 'token_orchestrator_redis_up'), 0)
    }
    const outageChecked = Date.now() - killedAt

    await redis.restart()
    const restartedAt = Date.now()
    const recovered = await Promise.all(servers.map((s) => eventually(async () =>
      (await post(s, fresh(), '/auth/login', { username, password: PASSWORD })).status === 200)))
    for (const s of servers) {
      t.same((await send(s, '127.0.0.9', 'GET', '/ready')).body, { status: 'ok', redis: 'ok' })
      t.equal(await metric(s, 'token_orchestrator_redis_up'), 1)
      t.equal((await validateOn(s, session.access_token)).valid, true, 'validate still answers')
    }
    const refreshed = await post(a, '127.0.0.9', '/auth/refresh', { refresh_token: session.refresh_token })
    t.equal(refreshed.status, 200, 'the session refused during the outage refreshes now: nothing was spent')
    t.comment(`measured: with Redis killed, every instance answered login, refresh and /oauth/token 503 and validate, verify and /ready 200 (checked in ${outageChecked} ms); after the restart each answered login again within ${Math.max(...recovered)} ms (${Date.now() - restartedAt} ms to the end of the checks)`)
  })
})
