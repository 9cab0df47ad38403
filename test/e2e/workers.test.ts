// WORKERS=2: the real server as a primary and two worker processes on one
// port and one SQLite file. A logout through one worker is refused by the
// other within 1.5 s and /metrics counts both; a worker killed with -9 is
// replaced, loses no acknowledged write and drops no other worker's traffic;
// SIGTERM drains both; two workers on a fresh data folder agree on one set of
// secrets and one signing key.
//
// Which worker answered is read from the log, not from the answer: each
// request carries its own X-Request-Id, and the worker's log line for that id
// has the worker's pid (LOG_LEVEL=debug logs the hot routes' lines too). The
// service adds nothing to its answers for the test's sake. A client cannot
// pick a worker; a new connection goes to the next worker in turn, so the
// helpers below open one per request and retry until the wanted worker answers.
import { existsSync, readFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { PASSWORD } from '../helper.js'
import { startServer, type RunningServer } from '../support/server-process.js'
import { scratchDir } from '../support/stores.js'

// Each case starts a primary and two workers; on a busy machine that takes seconds.
t.setTimeout(300_000)
/** Generous bounds: they only stop a broken test from hanging, they measure nothing. */
const WAIT_MS = 90_000
/** A client's patience for one answer. */
const REQUEST_TIMEOUT_MS = 60_000

interface Answer { status: number, body: any, headers: Record<string, string | string[] | undefined>, pid: number }

let ids = 0
/** Every answer received, with where it was sent. */
const sent: Array<{ url: string, path: string, answer: Answer }> = []

/** The pid of the process whose log has finished request `reqId`. */
async function servedBy (server: RunningServer, reqId: string): Promise<number> {
  const deadline = Date.now() + WAIT_MS
  for (;;) {
    const line = server.logs.find((e) => e.reqId === reqId && e.msg === 'request completed')
    if (line !== undefined) return Number(line.pid)
    if (Date.now() > deadline) throw new Error(`no log line for request ${reqId}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** One request on a connection of its own (`agent: false`) unless an agent is given; resolves with the answer and the worker's pid. */
function send (server: RunningServer, method: string, path: string, opts: { body?: unknown, headers?: Record<string, string>, agent?: Agent } = {}): Promise<Answer> {
  const reqId = `e2e-workers-${process.pid}-${++ids}`
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body)
  return new Promise<Omit<Answer, 'pid'>>((resolve, reject) => {
    const req = httpRequest(`${server.url}${path}`, {
      method,
      agent: opts.agent ?? false,
      headers: {
        'x-request-id': reqId,
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
        ...opts.headers
      }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => {
        let body: unknown = text
        if ((res.headers['content-type'] ?? '').startsWith('application/json') && text !== '') body = JSON.parse(text)
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    // What a real client has: a connection node:cluster was handing to a worker
    // at the instant it was killed is never answered (the primary drops it).
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('no answer in time')))
    req.end(payload)
  }).then(async (answer) => {
    const full = { ...answer, pid: await servedBy(server, reqId) }
    sent.push({ url: server.url, path, answer: full })
    return full
  })
}

/** Sends (an idempotent request) on new connections until `pid` answers, or throws; the answers on the way are kept. */
async function sendTo (server: RunningServer, pid: number, method: string, path: string, opts: Parameters<typeof send>[3] = {}): Promise<Answer> {
  for (let i = 0; i < 40; i++) {
    const answer = await send(server, method, path, opts)
    if (answer.pid === pid) return answer
  }
  throw new Error(`worker ${pid} never answered ${method} ${path}`)
}

/** The pids of the workers listening, once the primary has said that all are (the last `count` it started). */
async function workersOf (server: RunningServer, count = 2): Promise<number[]> {
  await eventuallyLong(async () => server.logs.some((e) => e.msg === 'workers listening'))
  // Those that listened and have not exited since, as the primary logged them.
  const exited = new Set(server.logs.filter((e) => e.msg === 'worker exited; starting another').map((e) => Number(e.workerPid)))
  return server.logs.filter((e) => e.msg === 'worker listening').map((e) => Number(e.workerPid)).filter((pid) => !exited.has(pid)).slice(-count)
}

async function eventuallyLong (check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('gave up waiting')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function metric (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function twoWorkers (t: Test, env: Record<string, string> = {}, unset: string[] = []): Promise<{ server: RunningServer, pids: number[], folder: string }> {
  const folder = scratchDir(t)
  const server = await startServer(t, { WORKERS: '2', SQLITE_PATH: join(folder, 'data', 'shared.sqlite'), LOG_LEVEL: 'debug', ...env }, { unset })
  const pids = await workersOf(server)
  t.equal(new Set(pids).size, 2, 'two worker processes')
  t.notOk(pids.includes(server.child.pid!), 'neither is the primary')
  return { server, pids, folder }
}

t.test('WORKERS=2 serves; a logout through one worker is refused by the other within 1.5 s; /metrics counts both', async (t) => {
  // The default follower interval: what an operator gets.
  const { server, pids } = await twoWorkers(t, { REVOCATION_SYNC_INTERVAL_MS: '500' })

  t.equal((await send(server, 'POST', '/auth/register', { body: { username: 'workers.user', password: PASSWORD } })).status, 201)
  const login = await send(server, 'POST', '/auth/login', { body: { username: 'workers.user', password: PASSWORD } })
  t.equal(login.status, 200)
  const { access_token: access, refresh_token: refresh } = login.body as { access_token: string, refresh_token: string }

  const validate = async (pid: number): Promise<Answer> => sendTo(server, pid, 'POST', '/token/validate', { body: { token: access } })
  for (const pid of pids) t.same((await validate(pid)).body.valid, true, `worker ${pid} accepts the token`)

  const logout = await send(server, 'POST', '/auth/logout', { body: { refresh_token: refresh } })
  t.equal(logout.status, 204)
  const loggedOutAt = Date.now()
  const other = pids.find((p) => p !== logout.pid)!
  let refusedAfter = -1
  while (Date.now() - loggedOutAt < 5000) {
    const answer = await validate(other)
    if (answer.body.valid === false) {
      t.equal(answer.body.error, 'revoked')
      refusedAfter = Date.now() - loggedOutAt
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.ok(refusedAfter >= 0 && refusedAfter <= 1500,
    `a logout through worker ${logout.pid} is refused by worker ${other} within 1.5 s (${refusedAfter} ms)`)

  // Every scrape, whichever worker takes it, counts both workers' validations.
  const validations = sent.filter((s) => s.url === server.url && s.path === '/token/validate').map((s) => s.answer)
  const counted = {
    valid: validations.filter((a) => a.body.valid === true).length,
    revoked: validations.filter((a) => a.body.error === 'revoked').length
  }
  t.same(new Set(validations.map((a) => a.pid)).size, 2, 'validations were answered by both workers')
  for (const pid of pids) {
    const scrape = await sendTo(server, pid, 'GET', '/metrics')
    const text = scrape.body as string
    t.equal(scrape.status, 200)
    t.equal(metric(text, 'token_orchestrator_validations_total{result="valid"}'), counted.valid, `worker ${scrape.pid}: every valid answer of both workers`)
    t.equal(metric(text, 'token_orchestrator_validations_total{result="revoked"}'), counted.revoked)
    t.equal(metric(text, 'token_orchestrator_workers'), 2)
    t.equal(metric(text, 'token_orchestrator_worker_restarts_total'), 0)
    t.equal(metric(text, 'token_orchestrator_logins_total{result="success"}'), 1)
  }
  t.ok(server.logs.some((e) => e.level === 40 && String(e.msg).startsWith('rate limits are counted per worker')),
    'the start log says the rate limits count per worker')
})

interface Pair { access_token: string, refresh_token: string }

t.test('kill -9 of one worker: it is replaced, no acknowledged write is lost, the other worker\'s connections go on', async (t) => {
  const { server, pids } = await twoWorkers(t, { RATE_LIMIT_AUTH: '100000' })
  // A keep-alive connection stays with the worker that accepted it: the one that is not killed.
  const kept = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => kept.destroy())
  t.equal((await send(server, 'POST', '/auth/register', { body: { username: 'kept.user', password: PASSWORD } })).status, 201)
  const keptPair = (await send(server, 'POST', '/auth/login', { body: { username: 'kept.user', password: PASSWORD } })).body as Pair
  const survivor = (await send(server, 'GET', '/health', { agent: kept })).pid
  const victim = pids.find((p) => p !== survivor)!

  // What the service acknowledged (a 2xx answer received), by kind.
  const users: string[] = []
  const loggedOut: Pair[] = []
  const revokedAccess: string[] = []
  const spent: string[] = []
  const burst = { acknowledged: 0, stop: false }
  const post = async (path: string, body: unknown): Promise<Answer> => send(server, 'POST', path, { body })
  const writer = async (id: number): Promise<void> => {
    for (let round = 0; !burst.stop && round < 200; round++) {
      try {
        const username = `burst${id}x${round}`
        if ((await post('/auth/register', { username, password: PASSWORD })).status !== 201) continue
        users.push(username); burst.acknowledged += 1
        const login = await post('/auth/login', { username, password: PASSWORD })
        if (login.status !== 200) continue
        const refreshed = await post('/auth/refresh', { refresh_token: login.body.refresh_token })
        if (refreshed.status !== 200) continue
        spent.push(login.body.refresh_token as string); burst.acknowledged += 1
        const pair = refreshed.body as Pair
        if (round % 2 === 0) {
          if ((await post('/auth/logout', { refresh_token: pair.refresh_token })).status !== 204) continue
          loggedOut.push(pair); burst.acknowledged += 1
        } else {
          const revoked = await post('/token/revoke', { token: pair.access_token })
          if (revoked.status !== 200 || revoked.body.revoked !== true) continue
          revokedAccess.push(pair.access_token); burst.acknowledged += 1
        }
      } catch {
        // In flight on the killed worker: never acknowledged.
      }
    }
  }
  // The survivor's traffic, on its one connection, all along.
  const keptAnswers: Array<number | string> = []
  const keptTraffic = (async () => {
    while (!burst.stop) {
      try {
        const answer = await send(server, 'POST', '/token/validate', { body: { token: keptPair.access_token }, agent: kept })
        keptAnswers.push(answer.pid === survivor && answer.body.valid === true ? 200 : `${answer.status} from ${answer.pid}`)
      } catch (err) {
        keptAnswers.push(String(err))
      }
    }
  })()

  const writers = Array.from({ length: 4 }, async (_, i) => writer(i))
  await eventuallyLong(async () => burst.acknowledged >= 24)
  process.kill(victim, 'SIGKILL')
  const killedAt = server.logs.length
  await eventuallyLong(async () => server.logs.slice(killedAt).some((e) => e.msg === 'worker listening'))
  const acknowledgedAtRestart = burst.acknowledged
  // Some writes after the replacement listens, then stop.
  await eventuallyLong(async () => burst.acknowledged >= acknowledgedAtRestart + 12)
  burst.stop = true
  await Promise.all([...writers, keptTraffic])

  const exit = server.logs.find((e) => e.msg === 'worker exited; starting another')
  t.match(exit, { level: 50, workerPid: victim, signal: 'SIGKILL', restartInMs: 0 }, 'the exit is logged, and the worker replaced at once')
  t.equal(Number(exit?.pid), server.child.pid, 'by the primary')
  const replacement = await workersOf(server)
  t.ok(replacement.includes(survivor) && !replacement.includes(victim), `worker ${victim} was replaced (${replacement.join(', ')})`)
  t.equal(server.child.exitCode, null, 'the primary is still running')

  t.ok(keptAnswers.length > 0, `the survivor answered ${keptAnswers.length} requests on its connection meanwhile`)
  t.same(keptAnswers.filter((a) => a !== 200), [], 'every one of them, from the survivor, valid: none dropped')

  const scrape = await send(server, 'GET', '/metrics')
  t.equal(metric(scrape.body as string, 'token_orchestrator_worker_restarts_total'), 1, 'the restart is counted in /metrics')
  t.equal(metric(scrape.body as string, 'token_orchestrator_workers'), 2)

  t.ok(loggedOut.length > 0 && revokedAccess.length > 0, `${burst.acknowledged} writes acknowledged, logouts and revocations among them`)
  for (const username of users) {
    t.equal((await post('/auth/login', { username, password: PASSWORD })).status, 200, `${username} logs in`)
  }
  for (const pair of loggedOut) {
    t.equal((await post('/token/validate', { token: pair.access_token })).body.valid, false, 'a logged-out session\'s access token is refused')
    t.equal((await post('/auth/refresh', { refresh_token: pair.refresh_token })).status, 401, 'and its refresh token')
  }
  for (const access of revokedAccess) t.equal((await post('/token/validate', { token: access })).body.valid, false, 'a revoked access token stays revoked')
  for (const token of spent) t.equal((await post('/auth/refresh', { refresh_token: token })).status, 401, 'a rotated refresh token stays spent')
})

function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

t.test('SIGTERM drains both workers: the requests in flight on each finish, then exit 0', async (t) => {
  const CONCURRENCY = 40
  // An argon2 cost above the default keeps the logins busy when the signal comes; the bound is far above what they need.
  const { server, pids } = await twoWorkers(t, {
    LOG_LEVEL: 'info', ARGON2_MEMORY_KIB: '32768', ARGON2_TIME_COST: '2', RATE_LIMIT_AUTH: '10000', LOCKOUT_THRESHOLD: '10000', SHUTDOWN_TIMEOUT: '120'
  })
  t.equal((await send(server, 'POST', '/auth/register', { body: { username: 'drain.user', password: PASSWORD } })).status, 201)
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  t.teardown(() => agent.destroy())
  let answered = 0
  const logins = Array.from({ length: CONCURRENCY }, async () => {
    try {
      return await send(server, 'POST', '/auth/login', { body: { username: 'drain.user', password: PASSWORD }, agent })
    } finally {
      answered += 1
    }
  })
  const settled = Promise.allSettled(logins)
  const arrivals = (): Array<Record<string, unknown>> => server.logs.filter((e) => e.msg === 'incoming request' &&
    (e.req as { url?: string } | undefined)?.url === '/auth/login' && String(e.reqId).startsWith('e2e-'))
  await eventuallyLong(async () => arrivals().length === CONCURRENCY)
  const inFlight = CONCURRENCY - answered
  const arrivedAt = new Set(arrivals().map((e) => Number(e.pid)))
  server.child.kill('SIGTERM')
  t.same([...arrivedAt].sort(), [...pids].sort(), 'logins arrived at both workers')
  t.ok(inFlight >= 1, `requests were in flight at SIGTERM (${inFlight} of ${CONCURRENCY})`)

  const results = await settled
  t.same(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], 'no request failed at the connection level')
  const answers = results.flatMap((r) => r.status === 'fulfilled' ? [r.value] : [])
  t.same(answers.map((a) => a.status).filter((s) => s !== 200), [], `all ${CONCURRENCY} logins answered 200`)
  t.ok(answers.every((a) => typeof a.body.access_token === 'string'), 'each with a token pair')
  t.same(new Set(answers.map((a) => a.pid)).size, 2, 'answered by both workers')

  const exit = await Promise.race([server.ended, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), WAIT_MS))])
  t.same(exit, { code: 0, signal: null }, 'the primary exits 0 on its own')
  t.equal(await canConnect(server.port), false, 'nothing listens any more')
  for (const pid of pids) {
    const own = server.logs.filter((e) => Number(e.pid) === pid).map((e) => e.msg)
    t.ok(own.includes('closing: finishing in-flight requests') && own.indexOf('closing: finishing in-flight requests') < own.indexOf('closed'),
      `worker ${pid} closed gracefully`)
  }
  const primaryLines = server.logs.filter((e) => Number(e.pid) === server.child.pid)
  t.same(primaryLines.filter((e) => e.msg === 'worker closed').map((e) => e.code), [0, 0], 'the primary saw both exit 0')
  t.equal(primaryLines.at(-1)?.msg, 'closed', 'and then closed')
  t.same(server.logs.filter((e) => Number(e.level) >= 50), [], 'no error was logged')
  t.same(server.otherOutput, [], 'stdout held only JSON log lines')
})

t.test('two workers on a fresh data folder agree on one set of secrets and one signing key', async (t) => {
  // No secrets in the environment: they are generated, kept in secrets.json, and must be the same for both.
  const { server, pids, folder } = await twoWorkers(t, { JWT_ALGORITHM: 'ES256' }, ['JWT_SECRET', 'REFRESH_TOKEN_SECRET'])
  const secretsFile = join(folder, 'data', 'secrets.json')
  t.ok(existsSync(secretsFile), 'secrets.json was written')
  const secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, string>
  t.same(Object.keys(secrets).sort(), ['JWT_SECRET', 'REFRESH_TOKEN_SECRET'])
  t.equal(server.logs.filter((e) => e.msg === 'no usable signing key in the store: created one').length, 1, 'one first key was created, by one worker')

  const jwks = await Promise.all(pids.map(async (pid) => sendTo(server, pid, 'GET', '/.well-known/jwks.json')))
  t.equal(jwks[0]!.body.keys.length, 1, 'one key published')
  t.same(jwks[1]!.body, jwks[0]!.body, 'the same JWKS from both workers')
  const kid = jwks[0]!.body.keys[0].kid as string

  t.equal((await send(server, 'POST', '/auth/register', { body: { username: 'fresh.user', password: PASSWORD } })).status, 201)
  const issued: Array<{ pair: Pair, pid: number }> = []
  while (new Set(issued.map((i) => i.pid)).size < 2) {
    const login = await send(server, 'POST', '/auth/login', { body: { username: 'fresh.user', password: PASSWORD } })
    t.equal(login.status, 200)
    issued.push({ pair: login.body as Pair, pid: login.pid })
    if (issued.length > 20) throw new Error('logins never reached both workers')
  }
  for (const { pair, pid } of issued) {
    const header = JSON.parse(Buffer.from(pair.access_token.split('.')[0]!, 'base64url').toString()) as { kid: string, alg: string }
    t.same(header, { ...header, alg: 'ES256', kid }, `worker ${pid} signs with the one key`)
    const other = pids.find((p) => p !== pid)!
    const validated = await sendTo(server, other, 'POST', '/token/validate', { body: { token: pair.access_token } })
    t.equal(validated.body.valid, true, `worker ${other} accepts worker ${pid}'s access token`)
    // Logout checks the refresh token's signature (REFRESH_TOKEN_SECRET), and is idempotent: safe to retry until the other worker answers.
    const loggedOut = await sendTo(server, other, 'POST', '/auth/logout', { body: { refresh_token: pair.refresh_token } })
    t.equal(loggedOut.status, 204, `worker ${other} accepts worker ${pid}'s refresh token`)
  }
})
