// The log: pino JSON, one object a line, every request line tagged with its
// request id, and no password, token, secret or cookie in it, whatever the
// flow (register, login, refresh, validate, verify, logout, a store outage).
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { build, login, newSession, PASSWORD, registerUser, uniqueName } from './helper.js'
import { memoryStore } from './support/stores.js'
import { faultyStore } from './support/faulty-store.js'
import { captureLogs } from './support/logs.js'
import { RevocationList } from '../src/revocation/revocation-list.js'
import { isHotUrl, prettyLogs, redactUrl, REDACT_PATHS } from '../src/main/server-options.js'

t.test('a whole session leaves no secret in the log, and every request line has a reqId', async (t) => {
  const log = captureLogs()
  const store = faultyStore(memoryStore())
  // debug: the hot routes (validate, batch, verify) log their request lines only at debug and trace.
  const app = await build(t, { logStream: log.stream, store, env: { LOG_LEVEL: 'debug' } })
  log.mark()

  const username = uniqueName('logged')
  const secrets: string[] = [PASSWORD]
  const post = async (url: string, payload: unknown, headers: Record<string, string> = {}): Promise<{ statusCode: number, json: () => Record<string, string> }> =>
    app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers: { cookie: 'session=cookie-secret-value', ...headers } })

  t.equal((await post('/auth/register', { username, password: PASSWORD })).statusCode, 201)
  const wrong = await post('/auth/login', { username, password: 'wrong-password-not-logged' })
  t.equal(wrong.statusCode, 401)
  secrets.push('wrong-password-not-logged', 'cookie-secret-value')
  const first = (await post('/auth/login', { username, password: PASSWORD })).json()
  secrets.push(first.access_token!, first.refresh_token!)
  const refreshed = await post('/auth/refresh', { refresh_token: first.refresh_token })
  t.equal(refreshed.statusCode, 200)
  const pair = refreshed.json()
  secrets.push(pair.access_token!, pair.refresh_token!)

  t.equal((await post('/token/validate', { token: pair.access_token })).statusCode, 200)
  t.equal((await post('/token/validate/batch', { tokens: [pair.access_token, first.access_token] })).statusCode, 200)
  const verify = await app.inject({
    method: 'GET',
    // A client that puts its token in the URL by mistake.
    url: `/auth/verify?scope=&access_token=${pair.access_token!}`,
    headers: { authorization: `Bearer ${pair.access_token!}`, 'x-api-key': 'api-key-secret' }
  })
  t.equal(verify.statusCode, 200)
  secrets.push('api-key-secret')
  // The reuse of a rotated refresh token is a 401 and must not echo it either.
  t.equal((await post('/auth/refresh', { refresh_token: first.refresh_token })).statusCode, 401)

  // A store outage: a 503 whose error is logged in full, without the token.
  const second = (await post('/auth/login', { username, password: PASSWORD })).json()
  secrets.push(second.access_token!, second.refresh_token!)
  store.down = true
  t.equal((await post('/auth/logout', { refresh_token: second.refresh_token })).statusCode, 503)
  store.down = false
  t.equal((await post('/auth/logout', { refresh_token: second.refresh_token })).statusCode, 204)
  t.equal((await post('/auth/logout-all', {}, { authorization: `Bearer ${second.access_token!}` })).statusCode, 401,
    'the ended session\'s access token is refused')

  const lines = log.sinceMark()
  t.ok(lines.length >= 20, `the requests were logged (${lines.length} lines)`)
  const text = lines.join('\n')
  for (const secret of secrets) {
    t.notOk(text.includes(secret), `the log does not contain ${secret.slice(0, 12)}…`)
    // A JWT's signature alone would let nobody forge anything, but its payload names the session.
    const parts = secret.split('.')
    if (parts.length === 3) t.notOk(text.includes(parts[2]!), 'nor its signature')
  }
  const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  for (const entry of entries) {
    t.type(entry.reqId, 'string', `"${String(entry.msg)}" has a reqId`)
    t.type(entry.level, 'number')
    t.type(entry.time, 'number')
  }
  const failed = entries.find((e) => e.level === 50)
  t.ok(failed, 'the 503 was logged as an error')
  t.match(failed, { msg: 'request failed', err: { type: 'StoreUnavailableError' } })
  t.ok(entries.some((e) => typeof e.req === 'object' && String((e.req as { url: string }).url) === '/auth/verify?scope=&access_token=[redacted]'),
    'a token in the URL is redacted from the logged URL')
})

t.test('X-Request-Id: kept when well formed, replaced when not, always echoed', async (t) => {
  const log = captureLogs()
  const app = await build(t, { logStream: log.stream })
  log.mark()
  const kept = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'lb-4f2a.91:7' } })
  t.equal(kept.headers['x-request-id'], 'lb-4f2a.91:7', 'a well-formed id is kept and echoed')

  const forged = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'x"}{"level":60,"msg":"forged' } })
  const replaced = String(forged.headers['x-request-id'])
  t.match(replaced, /^[0-9a-f-]{36}$/, 'an ill-formed id is replaced by a UUID')

  const none = await app.inject({ method: 'GET', url: '/health' })
  t.match(String(none.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'one is generated when none is sent')
  const notFound = await app.inject({ method: 'GET', url: '/nowhere' })
  t.ok(notFound.headers['x-request-id'], 'error answers carry it too')

  const entries = log.sinceMark().map((line) => JSON.parse(line) as Record<string, unknown>)
  t.ok(entries.some((e) => e.reqId === 'lb-4f2a.91:7'), 'the kept id tags the log lines')
  t.ok(entries.some((e) => e.reqId === replaced), 'the replacement tags the log lines')
  t.notOk(log.text().includes('forged'), 'the ill-formed id is not logged')
})

t.test('what code might log on purpose is redacted too', async (t) => {
  const log = captureLogs()
  const app = await build(t, { logStream: log.stream })
  log.mark()
  app.log.info({
    req: { headers: { authorization: 'Bearer aaa.bbb.ccc', cookie: 'c=secret-1' } },
    headers: { authorization: 'Basic c2VjcmV0LTI=', 'x-api-key': 'secret-3' },
    body: { username: 'alice', password: 'secret-4', client_secret: 'secret-5' },
    pair: { access_token: 'secret-6', refresh_token: 'secret-7' },
    client: { client_id: 'c1', client_secret: 'secret-8' },
    config: { JWT_SECRET: 'secret-9', REFRESH_TOKEN_SECRET: 'secret-10', MONGODB_URL: 'mongodb://u:secret-11@db/x', REDIS_URL: 'redis://:secret-14@cache:6379' },
    nested: { body: { password: 'secret-12', token: 'secret-13' } }
  }, 'something happened')
  const [line] = log.sinceMark()
  t.ok(line, 'logged')
  t.notMatch(line!, /secret-|aaa\.bbb|c2VjcmV0/, 'every secret is redacted')
  t.match(JSON.parse(line!), { body: { username: 'alice', password: '[redacted]' }, client: { client_id: 'c1' } },
    'the rest is kept')
  t.ok(REDACT_PATHS.includes('req.headers.authorization'))
})

t.test('redactUrl', async (t) => {
  t.equal(redactUrl('/auth/verify'), '/auth/verify')
  t.equal(redactUrl('/auth/verify?scope=a%20b'), '/auth/verify?scope=a%20b')
  t.equal(redactUrl('/x?token=abc&scope=read&access%5Ftoken=def&flag'), '/x?token=[redacted]&scope=read&access%5Ftoken=[redacted]&flag')
  t.equal(redactUrl('/x?Refresh_Token=a&client_secret=b&code=c&password=d'),
    '/x?Refresh_Token=[redacted]&client_secret=[redacted]&code=[redacted]&password=[redacted]')
  t.equal(redactUrl('/x?%E0%A4%A=1'), '/x?%E0%A4%A=1', 'a name that does not decode is kept raw')
  // Names a client may mangle: the word is found wherever it sits in the name.
  t.equal(redactUrl('/x?client_secret[]=a&a=1;client_secret=b&client_secret+=c&client_secret.=d&client_secret%00=e&?client_secret=f'),
    '/x?client_secret[]=[redacted]&a=1;client_secret=[redacted]&client_secret+=[redacted]&client_secret.=[redacted]&client_secret%00=[redacted]&?client_secret=[redacted]')
  t.equal(redactUrl('/x?Authorization=a&client_assertion=b&X-Api-Key=c&apikey=d&user_password=e&scope=read;state=s'),
    '/x?Authorization=[redacted]&client_assertion=[redacted]&X-Api-Key=[redacted]&apikey=[redacted]&user_password=[redacted]&scope=read;state=s')
  t.equal(redactUrl('/x?client_secret%E0=a'), '/x?client_secret%E0=[redacted]', 'undecodable, but the word is there')
  // The router reads `#` as the start of the query too.
  t.equal(redactUrl('/health#client_secret=a'), '/health#client_secret=[redacted]')
  t.equal(redactUrl('/health?a=1#client_secret=b&c=2'), '/health?a=1#client_secret=[redacted]&c=2')
  t.equal(redactUrl('/x#y?token=a'), '/x#y?token=[redacted]', 'whichever comes first')
  // Userinfo of an absolute-form target.
  t.equal(redactUrl('http://cid:secret@127.0.0.1/health'), 'http://[redacted]@127.0.0.1/health')
  t.equal(redactUrl('http://a:b@c@host:80/x?token=t'), 'http://[redacted]@host:80/x?token=[redacted]')
  t.equal(redactUrl('http://host/x@y?q=1'), 'http://host/x@y?q=1', 'an @ in the path is not userinfo')
  // Short names and matrix parameters.
  t.equal(redactUrl('/x?pw=hunter2&pwd=x&cs=y&sig=z&sid=ok'), '/x?pw=[redacted]&pwd=[redacted]&cs=[redacted]&sig=[redacted]&sid=ok')
  t.equal(redactUrl('/app;jsessionid=0123abc/x;v=1?q=1'), '/app;jsessionid=[redacted]/x;v=1?q=1', 'matrix parameters in the path')
  t.equal(redactUrl('/x?pass=a&passphrase=b&key=c&private_key=d&bearer=e&creds=root:hunter2&otp=123456&keep=ok'),
    '/x?pass=[redacted]&passphrase=[redacted]&key=[redacted]&private_key=[redacted]&bearer=[redacted]&creds=[redacted]&otp=[redacted]&keep=ok')
  t.equal(redactUrl('/auth;pass=hunter2/login'), '/auth;pass=[redacted]/login')
  // A value that looks like a secret, whatever its name.
  t.equal(redactUrl('/x?q=Zk3v9QdM2rT8wLzX4nB7pA'), '/x?q=[redacted]', 'a random base64url value')
  t.equal(redactUrl('/x?x=4f3c2a9b8d7e6f5a4b3c2d1e0f9a8b7c'), '/x?x=[redacted]', 'a hex key')
  t.equal(redactUrl('/x;k=Zk3v9QdM2rT8wLzX4nB7pA/y'), '/x;k=[redacted]/y', 'in a matrix parameter too')
  t.equal(redactUrl('/x?next=/admin/users/list&page=1234567890123456&name=alexander-the-great'),
    '/x?next=/admin/users/list&page=1234567890123456&name=alexander-the-great', 'paths, long numbers and words stay readable')
})

t.test('the value check is linear in the length of the URL', async (t) => {
  const { looksSecret } = await import('../src/main/server-options.js')
  const time = (n: number): number => {
    const url = `/x;${'a1;'.repeat(n)}?${'q=ab12&'.repeat(n)}`
    const start = process.cpuUsage()
    for (let i = 0; i < 5; i++) redactUrl(url)
    const used = process.cpuUsage(start)
    return used.user + used.system
  }
  time(1000)
  const small = Math.max(1, Math.min(time(20_000), time(20_000)))
  const large = Math.min(time(160_000), time(160_000))
  t.ok(large / small < 24, `8 times the input costs ${(large / small).toFixed(1)} times the CPU (linear: about 8)`)
  t.equal(looksSecret('a'.repeat(10_000)), false, 'one repeated character is not a secret')
})

t.test('pretty output only for a person at a terminal', async (t) => {
  const tty = { isTTY: true, ci: false, nodeEnv: 'development' }
  t.equal(prettyLogs('auto', tty), true, 'a terminal')
  t.equal(prettyLogs('auto', { ...tty, isTTY: false }), false, 'a pipe or file')
  t.equal(prettyLogs('auto', { ...tty, ci: true }), false, 'CI')
  t.equal(prettyLogs('auto', { ...tty, nodeEnv: 'test' }), false, 'tests')
  t.equal(prettyLogs('json', tty), false, 'LOG_FORMAT=json wins')
  t.equal(prettyLogs('pretty', { ...tty, isTTY: false }), true, 'LOG_FORMAT=pretty wins')
})

t.test('at info, the hot routes log no per-request lines; the other routes do', async (t) => {
  const log = captureLogs()
  const app = await build(t, { logStream: log.stream })
  log.mark()
  await app.inject({ method: 'POST', url: '/token/validate', payload: { token: 'garbage' } })
  await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: ['garbage'] } })
  await app.inject({ url: '/auth/verify?scope=a' })
  await app.inject({ url: '/auth/verify/orders/1' })
  const hot = log.sinceMark()
  t.same(hot, [], 'validate, batch and verify wrote nothing')
  await app.inject({ url: '/health' })
  const urls = log.sinceMark().map((line) => (JSON.parse(line) as { req?: { url?: string } }).req?.url).filter(Boolean)
  t.same(urls, ['/health'], 'other routes log their incoming request line')
})

t.test('answers end with Fastify\'s "request completed" line: routes, 404s and refused bodies; the hot routes at debug', async (t) => {
  const log = captureLogs()
  const app = await build(t, { logStream: log.stream })
  const completed = async (request: InjectOptions): Promise<Array<Record<string, any>>> => {
    log.mark()
    const res = await app.inject(request)
    await new Promise((resolve) => setImmediate(resolve))
    const records = log.sinceMark().map((line) => JSON.parse(line) as Record<string, any>)
    const done = records.filter((r) => r.msg === 'request completed')
    for (const r of done) {
      t.equal(r.reqId, res.headers['x-request-id'], 'with the request\'s id')
      t.equal(r.res?.statusCode, res.statusCode, 'and its status')
      t.ok(typeof r.responseTime === 'number' && r.responseTime > 0, `and a response time (${String(r.responseTime)} ms)`)
    }
    return done
  }
  t.equal((await completed({ url: '/health' })).length, 1, 'a route')
  t.equal((await completed({ url: '/no/such/route' })).length, 1, 'a 404 from the not-found handler')
  t.equal((await completed({ method: 'POST', url: '/auth/login', payload: { username: 1 } })).length, 1, 'a refused body')
  t.equal((await completed({ method: 'POST', url: '/token/validate', payload: { token: 'garbage' } })).length, 0, 'not the hot routes at info')

  const debugLog = captureLogs()
  const debugApp = await build(t, { logStream: debugLog.stream, env: { LOG_LEVEL: 'debug' } })
  await debugApp.inject({ method: 'POST', url: '/token/validate', payload: { token: 'garbage' } })
  await debugApp.inject({ url: '/auth/verify' })
  await new Promise((resolve) => setImmediate(resolve))
  const hot = debugLog.records().filter((r) => r.msg === 'request completed').map((r) => (r as { res?: { statusCode?: number } }).res?.statusCode)
  t.same(hot, [200, 401], 'at debug the hot routes write it too')
})

t.test('a token written with percent-escapes is redacted from the log and the 404 body', async (t) => {
  const log = captureLogs()
  const app = await build(t, { logStream: log.stream })
  const { access_token: token } = await newSession(app)
  const encodeAll = (s: string): string => [...s].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('')
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const disguises: Record<string, string> = {
    'dots as %2E': token.replaceAll('.', '%2E'),
    'dots as %2e': token.replaceAll('.', '%2e'),
    'one dot escaped': `${header}%2E${payload}.${signature}`,
    'eyJ escaped': `%65%79%4A${token.slice(3).replaceAll('.', '%2E')}`,
    'every character escaped': encodeAll(token)
  }
  log.mark()
  for (const [name, disguised] of Object.entries(disguises)) {
    const inQuery = await app.inject({ method: 'GET', url: `/health?jwt=${disguised}&x=1` })
    t.equal(inQuery.statusCode, 200, `${name}: in a query`)
    const inPath = await app.inject({ method: 'GET', url: `/api/${disguised}/orders` })
    t.equal(inPath.statusCode, 404, `${name}: in a path`)
    t.equal(inPath.json().message, 'no route for GET /api/[redacted]/orders', `${name}: the 404 message is redacted`)
  }
  const lines = log.sinceMark()
  t.ok(lines.length >= 20, `the requests were logged (${lines.length} lines)`)
  const text = lines.join('\n')
  t.notOk(text.includes(signature), 'the log holds no signature')
  t.notOk(text.includes(payload), 'nor a payload, escaped or not')
  t.notOk(text.includes(encodeAll(payload).slice(0, 60)), 'nor a fully escaped payload')
  t.ok(lines.some((l) => l.includes('/health?jwt=[redacted]&x=1')), 'the logged URL keeps the rest of the query')
})

t.test('at info, a hot-route request builds no logger, yet its id is echoed and its failure is logged with it', async (t) => {
  const log = captureLogs()
  const app = await build(t, { logStream: log.stream })
  const username = uniqueName('hot')
  await registerUser(app, username)
  const session = await login(app, username)

  // Every request logger is a child of the app logger: count the children pino is asked for.
  const parent = app.log as unknown as { child: (...args: unknown[]) => unknown }
  const child = parent.child
  let children = 0
  parent.child = function (this: unknown, ...args: unknown[]) { children += 1; return child.apply(this, args) }
  t.teardown(() => { parent.child = child })
  log.mark()

  const hot = [
    await app.inject({ method: 'POST', url: '/token/validate', payload: { token: session.access_token }, headers: { 'x-request-id': 'hot-1' } }),
    await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [session.access_token] }, headers: { 'x-request-id': 'hot-2' } }),
    await app.inject({ url: '/auth/verify', headers: { authorization: `Bearer ${session.access_token}`, 'x-request-id': 'hot-3' } }),
    await app.inject({ method: 'POST', url: '/auth/verify/orders/1', headers: { authorization: `Bearer ${session.access_token}`, 'x-request-id': 'hot-4' } }),
    await app.inject({ method: 'POST', url: '/token/validate', payload: { nope: 1 }, headers: { 'x-request-id': 'hot-5' } }),
    // The same routes spelled with percent-escapes are the same hot routes.
    await app.inject({ method: 'POST', url: '/%74oken/validate', payload: { token: session.access_token }, headers: { 'x-request-id': 'hot-6' } }),
    await app.inject({ url: '/%61uth/verify', headers: { authorization: `Bearer ${session.access_token}`, 'x-request-id': 'hot-7' } })
  ]
  t.same(hot.map((r) => r.statusCode), [200, 200, 200, 200, 400, 200, 200])
  t.same(hot.map((r) => r.headers['x-request-id']), ['hot-1', 'hot-2', 'hot-3', 'hot-4', 'hot-5', 'hot-6', 'hot-7'], 'each id is echoed')
  t.same(log.sinceMark(), [], 'nothing was written')
  t.equal(children, 0, 'no per-request logger was built')

  await app.inject({ url: '/health', headers: { 'x-request-id': 'cold-1' } })
  t.equal(children, 1, 'a route that writes its request lines builds one')
  t.ok(log.sinceMark().every((line) => (JSON.parse(line) as { reqId: string }).reqId === 'cold-1'))

  // A failure on a hot route: the one line written carries the request id, and no token.
  log.mark()
  const isRevoked = RevocationList.prototype.isRevoked
  RevocationList.prototype.isRevoked = () => { throw new Error('revocation view broken') }
  t.teardown(() => { RevocationList.prototype.isRevoked = isRevoked })
  const failed = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: session.access_token }, headers: { 'x-request-id': 'hot-err' } })
  t.equal(failed.statusCode, 500)
  t.equal(failed.headers['x-request-id'], 'hot-err')
  const lines = log.sinceMark()
  t.equal(lines.length, 1, 'one line: the error')
  t.match(JSON.parse(lines[0]!), { level: 50, reqId: 'hot-err', msg: 'request failed', err: { message: 'revocation view broken' } })
  t.notOk(lines[0]!.includes(session.access_token), 'without the token')
})

t.test('a token in the Host header, in X-Forwarded-For behind a trusted proxy, or after a # in the URL stays out of the log', async (t) => {
  const log = captureLogs()
  const app = await build(t, { logStream: log.stream, env: { TRUST_PROXY: 'true' } })
  const { access_token: token } = await newSession(app)
  const signature = token.split('.')[2]!
  log.mark()
  t.equal((await app.inject({ method: 'GET', url: '/health', headers: { host: token } })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/health', headers: { 'x-forwarded-for': token } })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: `/health#token=${token}` })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/health#client_secret=s3cr3t-value' })).statusCode, 200)
  const lines = log.sinceMark()
  t.equal(lines.filter((l) => l.includes('"incoming request"')).length, 4, 'every request was logged')
  const text = lines.join('\n')
  t.notOk(text.includes(signature), 'no token in host, remoteAddress or url')
  t.notOk(text.includes('s3cr3t-value'), 'nor a secret after the #')
})

t.test('hot routes are recognised however the request line spells them', async (t) => {
  for (const url of ['/token/validate', '/token/validate?x=1', '/token/validate/batch', '/auth/verify', '/auth/verify/orders/1',
    '/%74oken/validate', '/%61uth/verify?scope=a', 'http://gw.internal/token/validate', 'http://gw.internal:8080/auth/verify/x',
    '/token/validate#x', '/auth/verify#a?b']) {
    t.ok(isHotUrl(url), url)
  }
  for (const url of ['/health', '/token/revoke', '/auth/login', '/%zz/validate', 'http://gw.internal', '/token/validate/', '/auth/verifyx']) {
    t.notOk(isHotUrl(url), url)
  }
})
