// Leaks: a run of ordinary and hostile flows with a known password and known
// secrets, every log line captured at trace level. No password, token (or its
// signature) or secret may appear in the log; no error body may carry a stack,
// a path, a driver message or token text; token answers are never cacheable.
import t from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { memoryStore } from '../support/stores.js'
import { build, uniqueName } from '../helper.js'
import { faultyStore } from '../support/faulty-store.js'
import { assertCleanError, captureLogs, countingStore, leaksIn } from './support.js'

const ACCESS_SECRET = 'leak-canary-access-secret-7f3a9c2e41d8b6f0a5e3'
const REFRESH_SECRET = 'leak-canary-refresh-secret-2b8d4f6a0c9e1d3b5a7f'
const PASSWORD = 'leak-canary-password-Q9w8E7r6'
const WRONG_PASSWORD = 'leak-canary-wrong-password-Z1x2C3v4'
const NEW_USER_PASSWORD = 'leak-canary-new-user-password-M5n6B7'

t.test('no secret, password or token reaches the log or an error body', async (t) => {
  const logs = captureLogs()
  const inner = memoryStore()
  const faulty = faultyStore(inner)
  const store = countingStore(faulty)
  const app = await build(t, {
    store,
    env: { JWT_SECRET: ACCESS_SECRET, REFRESH_TOKEN_SECRET: REFRESH_SECRET, LOG_LEVEL: 'trace', LOCKOUT_THRESHOLD: '2' },
    logStream: logs.stream
  })
  const responses: LightMyRequestResponse[] = []
  const tokens: string[] = []
  const go = async (opts: InjectOptions): Promise<LightMyRequestResponse> => {
    const res = await app.inject(opts)
    responses.push(res)
    return res
  }

  const username = uniqueName('leaky')
  t.equal((await go({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })).statusCode, 201)
  const login = await go({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } })
  t.equal(login.statusCode, 200, 'login')
  t.equal(login.headers['cache-control'], 'no-store', 'login answer: Cache-Control: no-store')
  const pair = login.json() as { access_token: string, refresh_token: string }
  tokens.push(pair.access_token, pair.refresh_token)
  const refreshed = await go({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } })
  t.equal(refreshed.statusCode, 200, 'refresh')
  t.equal(refreshed.headers['cache-control'], 'no-store', 'refresh answer: Cache-Control: no-store')
  const next = refreshed.json() as { access_token: string, refresh_token: string }
  tokens.push(next.access_token, next.refresh_token)

  const flows: Array<InjectOptions> = [
    { method: 'POST', url: '/token/validate', payload: { token: next.access_token } },
    { method: 'POST', url: '/token/validate/batch', payload: { tokens: [next.access_token, pair.access_token, 'x.y.z'] } },
    { method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${next.access_token}` } },
    { method: 'GET', url: `/auth/verify?access_token=${next.access_token}&scope=a`, headers: { authorization: `Bearer ${next.access_token}` } },
    { method: 'GET', url: `/auth/verify?access_token=${next.access_token}` },
    { method: 'GET', url: `/auth/verify/${next.access_token}` },
    { method: 'POST', url: `/token/validate?token=${next.access_token}`, payload: { token: next.access_token } },
    { method: 'POST', url: '/token/validate', headers: { 'content-type': 'application/json' }, payload: `{"token": "${next.access_token}"` },
    { method: 'POST', url: '/token/validate', headers: { 'content-type': 'text/plain' }, payload: next.access_token },
    { method: 'POST', url: '/auth/login', payload: { username, password: WRONG_PASSWORD } },
    { method: 'POST', url: '/auth/login', payload: { username: uniqueName('ghost'), password: WRONG_PASSWORD } },
    { method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: `{"username": "${username}", "password": "${PASSWORD}"` },
    { method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD, extra: PASSWORD } },
    { method: 'POST', url: '/auth/login', payload: { username, password: `${PASSWORD}${'x'.repeat(300)}` } },
    { method: 'POST', url: '/auth/register', payload: { username: `${PASSWORD}!`, password: PASSWORD } },
    { method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } }, // reuse → session ended
    { method: 'POST', url: '/auth/refresh', payload: { refresh_token: next.access_token } },
    { method: 'POST', url: '/auth/logout', payload: { refresh_token: next.refresh_token } },
    { method: 'POST', url: '/token/revoke', payload: { token: next.access_token } },
    { method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${next.access_token}` } },
    { method: 'POST', url: '/auth/logout-all', headers: { authorization: `Basic ${Buffer.from(`${username}:${PASSWORD}`).toString('base64')}` } },
    { method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${ACCESS_SECRET}` } },
    { method: 'POST', url: '/token/validate', payload: { token: `${REFRESH_SECRET}.${ACCESS_SECRET}.x` } },
    { method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } } // locked by now
  ]
  for (const flow of flows) await go(flow)

  // A second user with a fresh pair, then the store goes down: 503s and error logs, with tokens in flight.
  const secondName = uniqueName('second')
  await go({ method: 'POST', url: '/auth/register', payload: { username: secondName, password: NEW_USER_PASSWORD } })
  const second = await go({ method: 'POST', url: '/auth/login', payload: { username: secondName, password: NEW_USER_PASSWORD } })
  t.equal(second.statusCode, 200)
  const secondPair = second.json() as { access_token: string, refresh_token: string }
  tokens.push(secondPair.access_token, secondPair.refresh_token)
  faulty.down = true
  for (const flow of [
    { method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD } },
    { method: 'POST', url: '/auth/register', payload: { username: uniqueName('down'), password: NEW_USER_PASSWORD } },
    { method: 'POST', url: '/auth/login', payload: { username: secondName, password: NEW_USER_PASSWORD } },
    { method: 'POST', url: '/auth/refresh', payload: { refresh_token: secondPair.refresh_token } },
    { method: 'POST', url: '/auth/logout', payload: { refresh_token: secondPair.refresh_token } },
    { method: 'POST', url: '/token/revoke', payload: { token: secondPair.access_token } },
    { method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${secondPair.access_token}` } },
    { method: 'GET', url: '/ready' }
  ] as Array<InjectOptions>) {
    const res = await go(flow)
    t.equal(res.statusCode, 503, `${flow.method} ${flow.url as string} while the store is down: 503`)
  }
  faulty.down = false

  // A store that throws an unexpected error (driver text, a path): a 500 that says nothing.
  const create = inner.users.create.bind(inner.users)
  inner.users.create = async (user) => { throw new Error(`MongoServerError: driver exploded on ${user.username} at /work/src/store.ts:12`) }
  const boom = await go({ method: 'POST', url: '/auth/register', payload: { username: uniqueName('boom'), password: PASSWORD } })
  inner.users.create = create
  t.equal(boom.statusCode, 500, 'an unexpected store error: 500')
  t.same(boom.json(), { error: 'internal_error', message: 'internal server error' }, 'with nothing in the body')

  await new Promise((resolve) => setTimeout(resolve, 50)) // let the logger flush
  const log = logs.text()
  t.ok(logs.lines().length > 50, `captured the log (${logs.lines().length} lines)`)
  const secrets: Array<[string, string]> = [
    ['JWT_SECRET', ACCESS_SECRET], ['REFRESH_TOKEN_SECRET', REFRESH_SECRET],
    ['password', PASSWORD], ['wrong password', WRONG_PASSWORD], ['new user password', NEW_USER_PASSWORD]
  ]
  for (const [name, value] of secrets) t.notOk(log.includes(value), `log does not contain the ${name}`)
  for (const [i, token] of tokens.entries()) {
    t.notOk(log.includes(token), `log does not contain token ${i}`)
    t.notOk(log.includes(token.split('.')[2]!), `log does not contain the signature of token ${i}`)
  }
  t.notOk(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/.test(log), 'no JWT-shaped text anywhere in the log')
  t.ok(log.includes('[redacted]'), 'the URL with a token in it was logged, redacted')
  t.ok(log.includes('"level":50'), 'the 500 was logged as an error (for the operator, tied to the request id)')

  const errors = responses.filter((r) => r.statusCode >= 400)
  t.ok(errors.length >= 20, `collected ${errors.length} error bodies`)
  for (const [i, res] of errors.entries()) {
    assertCleanError(t, res, `error body ${i} (${res.statusCode})`)
    for (const [name, value] of secrets) t.notOk(res.body.includes(value), `error body ${i} does not contain the ${name}`)
    for (const token of tokens) t.notOk(res.body.includes(token.split('.')[1]!), `error body ${i} does not contain token text`)
  }
  for (const res of responses.filter((r) => r.statusCode === 200 && r.body.includes('"access_token"'))) {
    t.equal(res.headers['cache-control'], 'no-store', 'every token answer: Cache-Control: no-store')
    t.equal(res.headers.pragma ?? 'no-cache', 'no-cache', 'no contradicting Pragma')
  }
  t.same(leaksIn('at Object.<anonymous> (/work/x.js:1:1)'), ['stack frame', 'source file', 'file path'], 'control: the leak patterns do match a stack line')
})
