// Graceful shutdown of the real server under load: SIGTERM while 200 logins
// are in flight (argon2 at its production cost keeps them busy). Correct
// means: every request the server had received is answered normally (200
// with a token pair), new connections are refused from then on, the store is
// closed after the last answer, and the process exits 0 on its own.
import { request as httpRequest, Agent } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { PASSWORD } from '../helper.js'
import { startServer, type RunningServer } from '../support/server-process.js'

const CONCURRENCY = 200
/** Generous bounds: these only stop a broken test from hanging, they measure nothing. */
const WAIT_MS = 90_000

interface Answer { status: number, body: string, connection: string | undefined }

function post (server: RunningServer, agent: Agent, path: string, body: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body)
    const req = httpRequest(`${server.url}${path}`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** Resolves once `predicate` holds on the server's log, polling it; rejects after WAIT_MS. */
async function waitForLog (server: RunningServer, what: string, predicate: (logs: RunningServer['logs']) => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (!predicate(server.logs)) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

async function exitWithin (server: RunningServer, ms: number): Promise<{ code: number | null, signal: NodeJS.Signals | null } | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms) })
  return Promise.race([server.ended, timeout]).finally(() => clearTimeout(timer))
}

const isLoginArrival = (entry: Record<string, unknown>): boolean =>
  entry.msg === 'incoming request' && (entry.req as { url?: string } | undefined)?.url === '/auth/login'

t.test('SIGTERM under load: in-flight requests finish, new connections are refused, exit 0', async (t) => {
  const server = await startServer(t,
    // The production argon2 memory cost: logins queue on libuv's 4 threads, so
    // most are still running when the signal comes. The shutdown bound is far
    // above the seconds they need: this test measures nothing.
    {
      ARGON2_MEMORY_KIB: '19456',
      ARGON2_TIME_COST: '1',
      UV_THREADPOOL_SIZE: '4',
      RATE_LIMIT_AUTH: '10000',
      // Every login in flight holds a lockout reservation on the one account.
      LOCKOUT_THRESHOLD: '10000',
      SHUTDOWN_TIMEOUT: '120'
    })
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  t.teardown(() => agent.destroy())
  const username = 'shutdown.user'
  const registered = await post(server, agent, '/auth/register', { username, password: PASSWORD })
  t.equal(registered.status, 201)

  // 200 logins at once, each on its own keep-alive connection.
  let answered = 0
  const logins = Array.from({ length: CONCURRENCY }, async () => {
    try {
      const answer = await post(server, agent, '/auth/login', { username, password: PASSWORD })
      return answer
    } finally {
      answered += 1
    }
  })
  const settled = Promise.allSettled(logins)

  // Signal once the server has received every one of them (it logs each
  // arrival synchronously, before the login's argon2 work is queued).
  await waitForLog(server, 'all logins to arrive', (logs) => logs.filter(isLoginArrival).length === CONCURRENCY)
  const answeredBeforeSignal = answered
  server.child.kill('SIGTERM')
  // A precondition, not a measurement: some logins must still be running (how many depends on the machine's load).
  t.ok(CONCURRENCY - answeredBeforeSignal >= 10, `requests were in flight at SIGTERM (${CONCURRENCY - answeredBeforeSignal} of ${CONCURRENCY})`)

  await waitForLog(server, 'the closing line', (logs) => logs.some((e) => e.msg === 'closing: finishing in-flight requests'))
  const results = await settled
  const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))
  t.same(failures, [], 'no request failed at the connection level')
  const answers = results.flatMap((r) => r.status === 'fulfilled' ? [r.value] : [])
  const statuses = new Map<number, number>()
  for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1)
  t.same(Object.fromEntries(statuses), { 200: CONCURRENCY }, 'every in-flight login answered 200')
  t.ok(answers.every((a) => typeof (JSON.parse(a.body) as { access_token?: unknown }).access_token === 'string'),
    'each with a token pair')

  t.equal(await canConnect(server.port), false, 'new connections are refused')

  const exit = await exitWithin(server, WAIT_MS)
  t.same(exit, { code: 0, signal: null }, 'the process exits 0 on its own')
  const messages = server.logs.map((e) => e.msg)
  t.ok(messages.indexOf('closing: finishing in-flight requests') < messages.indexOf('closed'), 'logged closing, then closed')
  t.same(server.logs.filter((e) => Number(e.level) >= 50), [], 'no error was logged')
  t.same(server.otherOutput, [], 'stdout held only JSON log lines')
})

t.test('SIGINT when idle: exits 0', async (t) => {
  const server = await startServer(t)
  const res = await fetch(`${server.url}/health`)
  t.equal(res.status, 200)
  server.child.kill('SIGINT')
  t.same(await exitWithin(server, WAIT_MS), { code: 0, signal: null })
  t.ok(server.logs.some((e) => e.msg === 'closing: finishing in-flight requests' && e.signal === 'SIGINT'))
})
