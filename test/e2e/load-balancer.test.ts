// The documented example of docs/operations.md ("Three instances behind
// nginx"), run as written: its nginx block is read from the page, only the
// ports changed, in front of three service processes (TRUST_PROXY=true) on one
// SQLite file and one Redis. Requests through nginx reach all three; one
// client address gets one credential budget however nginx spreads its
// requests, whatever X-Forwarded-For it forges; another address has its own;
// a session made through nginx refreshes, logs out and is refused through it.
// Skips, saying so, only when nginx or redis-server is missing (.ci/run installs both).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PASSWORD } from '../helper.js'
import { eventually } from '../support/eventually.js'
import { sendFrom } from '../support/http-from.js'
import { findNginx, startNginx } from '../support/nginx.js'
import { redisUnavailable, startRedis } from '../support/redis-server.js'
import { freePort, ONE_SERVICE, startServer, type RunningServer } from '../support/server-process.js'
import { scratchDir } from '../support/stores.js'

const DOC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'operations.md')
const BUDGET = 8

/** The nginx block of the "Three instances behind nginx" example, as documented. */
function documentedConfig (): string {
  const page = readFileSync(DOC, 'utf8')
  const section = page.slice(page.indexOf('#### Three instances behind nginx'))
  const match = /```nginx\n([\s\S]*?)```/.exec(section)
  if (match === null) throw new Error('no nginx block in the "Three instances behind nginx" section')
  return match[1]!
}

const nginx = findNginx()
const redisSkip = await redisUnavailable()
const skip = nginx === null
  ? 'nginx not found on PATH or in /usr/sbin: install nginx-light (.ci/run does) to run the load-balancer example'
  : redisSkip

t.test('the documented nginx example: three instances, one budget, one session', { skip }, async (t) => {
  const redis = await startRedis(t)
  const dir = scratchDir(t, 'token-orchestrator-lb-')
  const env = {
    TRUST_PROXY: 'true',
    REDIS_URL: redis.url,
    SQLITE_PATH: join(dir, 'shared.sqlite'),
    RATE_LIMIT_AUTH: String(BUDGET),
    LOG_LEVEL: 'warn',
    // One service behind one name: the issuer of every token.
    ...ONE_SERVICE
  }
  const servers: RunningServer[] = []
  for (let i = 0; i < 3; i++) servers.push(await startServer(t, env))

  const documented = documentedConfig()
  t.match(documented, /proxy_set_header X-Forwarded-For \$remote_addr;/, 'the example overwrites X-Forwarded-For')
  const listen = await freePort()
  let config = documented.replace('listen 8080;', `listen 127.0.0.1:${listen};`)
  servers.forEach((s, i) => { config = config.replace(`127.0.0.1:${4001 + i}`, `127.0.0.1:${s.port}`) })
  t.equal(config.split('\n').length, documented.split('\n').length, 'only the ports changed')
  await startNginx(t, nginx!, config, `http://127.0.0.1:${listen}/health`)
  const through = (from: string, method: string, path: string, opts: Parameters<typeof sendFrom>[4] = {}) =>
    sendFrom(listen, from, method, path, opts)

  // 1. nginx spreads requests over the three instances.
  for (let i = 0; i < 9; i++) t.equal((await through('127.0.0.2', 'POST', '/token/validate', { json: { token: 'a.b.c' } })).status, 200)
  for (const s of servers) {
    const text = await (await fetch(`${s.url}/metrics`)).text()
    const count = text.split('\n').filter((l) => l.startsWith('http_request_duration_seconds_count{') && l.includes('route="/token/validate"'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
    t.ok(count > 0, `instance ${servers.indexOf(s) + 1} answered ${count} of the 9 validations`)
  }

  // 2. One client address, one budget, whichever instance answers and whatever X-Forwarded-For it sends.
  const statuses: number[] = []
  for (let i = 0; i < 3 * BUDGET; i++) {
    const res = await through('127.0.0.3', 'POST', '/auth/login', {
      json: { username: `nobody${i}`, password: 'a wrong guess' },
      headers: { 'x-forwarded-for': `198.51.100.${i}` }
    })
    statuses.push(res.status)
  }
  const admitted = statuses.filter((s) => s === 401).length
  t.comment(`measured: ${3 * BUDGET} guesses through nginx with RATE_LIMIT_AUTH=${BUDGET}: ${admitted} admitted`)
  t.equal(admitted, BUDGET, 'the budget, once, over the three instances')
  t.equal(statuses.filter((s) => s === 429).length, 2 * BUDGET, 'the rest refused')
  t.equal((await through('127.0.0.4', 'POST', '/auth/login', { json: { username: 'nobody', password: 'a wrong guess' } })).status, 401,
    'another client address has a budget of its own')

  // 3. A session through nginx, whichever instance answers each step.
  const from = '127.0.0.5'
  t.equal((await through(from, 'POST', '/auth/register', { json: { username: 'balanced.user', password: PASSWORD } })).status, 201)
  const login = await through(from, 'POST', '/auth/login', { json: { username: 'balanced.user', password: PASSWORD } })
  t.equal(login.status, 200)
  const refreshed = await through(from, 'POST', '/auth/refresh', { json: { refresh_token: login.body.refresh_token } })
  t.equal(refreshed.status, 200, 'refreshed through nginx')
  const pair = refreshed.body as { access_token: string, refresh_token: string }
  t.equal((await through(from, 'POST', '/auth/logout', { json: { refresh_token: pair.refresh_token } })).status, 204)
  // Every instance must refuse it: three validations in a row go to the three in turn.
  await eventually(async () => {
    const answers = await Promise.all([0, 1, 2].map(async () => (await through(from, 'POST', '/token/validate', { json: { token: pair.access_token } })).body.error))
    return answers.every((e) => e === 'revoked')
  }, 1500)
  t.pass('the logged-out access token is refused through nginx')
})
