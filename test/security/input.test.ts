// Hostile bodies (OWASP NoSQL injection and mass assignment), oversized
// passwords, user enumeration and account lockout. "Refused before any store
// call" and "never reaches argon2" are proven by counting: a store wrapper
// counts every call, and the password hasher's methods are wrapped.
import t, { type Test } from 'tap'
import argon2 from 'argon2'
import { build, login, PASSWORD, registerUser, uniqueName, validate } from '../helper.js'
import { countingStore, decodePart, hostileClient } from './support.js'

/**
 * Counts argon2 hash/verify calls in this process. The argon2 module object is
 * shared with src/auth/passwords.ts, so this sees the real work, dummy-hash
 * verifications of unknown users included.
 */
function countHashing (t: Test): { hash: number, verify: number } {
  const counts = { hash: 0, verify: 0 }
  const { hash, verify } = argon2
  const lib = argon2 as { hash: typeof hash, verify: typeof verify }
  lib.hash = (async (...args: Parameters<typeof hash>) => { counts.hash += 1; return hash(...args) }) as typeof hash
  lib.verify = async (...args: Parameters<typeof verify>) => { counts.verify += 1; return verify(...args) }
  t.teardown(() => { lib.hash = hash; lib.verify = verify })
  return counts
}

/** Values that are not the string a field expects, or that are query operators. */
const HOSTILE_VALUES: Array<[string, unknown]> = [
  ['{$gt: ""}', { $gt: '' }],
  ['{$ne: null}', { $ne: null }],
  ['{$regex: ".*"}', { $regex: '.*' }],
  ['{$where: "sleep(1000)"}', { $where: 'sleep(1000)' }],
  ['{$in: [...]}', { $in: ['admin', 'root'] }],
  ['{$exists: true}', { $exists: true }],
  ['number', 42],
  ['zero', 0],
  ['float', 1.5],
  ['true', true],
  ['false', false],
  ['null', null],
  ['empty array', []],
  ['array of strings', ['admin', 'admin']],
  ['array with an operator', [{ $gt: '' }]],
  ['empty object', {}],
  ['nested object', { a: { b: { c: 'd' } } }],
  ['empty string', '']
]

interface Route { url: string, body: Record<string, unknown>, fields: string[] }

function routes (token: string, refresh: string): Route[] {
  return [
    { url: '/auth/register', body: { username: uniqueName('victim'), password: PASSWORD }, fields: ['username', 'password'] },
    { url: '/auth/login', body: { username: 'nobody-here', password: PASSWORD, client_id: 'default' }, fields: ['username', 'password', 'client_id'] },
    { url: '/auth/refresh', body: { refresh_token: refresh }, fields: ['refresh_token'] },
    { url: '/auth/logout', body: { refresh_token: refresh }, fields: ['refresh_token'] },
    { url: '/token/validate', body: { token }, fields: ['token'] },
    { url: '/token/validate/batch', body: { tokens: [token] }, fields: ['tokens'] },
    { url: '/token/revoke', body: { token, token_type_hint: 'access_token' }, fields: ['token', 'token_type_hint'] }
  ]
}

t.test('operators and wrong types in every field of every body: 400 before any store call or hashing', async (t) => {
  const store = countingStore()
  const app = await build(t, { store })
  const send = hostileClient(t, app)
  const user = await registerUser(app)
  const s = await login(app, user.username)
  const hashing = countHashing(t)
  store.reset()

  for (const route of routes(s.access_token, s.refresh_token)) {
    for (const field of route.fields) {
      for (const [label, value] of HOSTILE_VALUES) {
        if (field === 'tokens' && label === 'array of strings') continue // a real array of strings is the right type
        store.reset()
        const res = await send({ method: 'POST', url: route.url, payload: { ...route.body, [field]: value } }, `${route.url} ${field}=${label}`)
        t.equal(res.statusCode, 400, `${route.url} ${field}=${label}: 400`)
        t.equal(res.json().error, 'invalid_request', `${route.url} ${field}=${label}: invalid_request`)
        t.equal(store.total(), 0, `${route.url} ${field}=${label}: no store call`)
      }
    }
    for (const [label, body] of [['array body', [route.body]], ['string body', 'x'], ['number body', 1], ['null body', null], ['empty object', {}]] as Array<[string, unknown]>) {
      store.reset()
      const res = await send({ method: 'POST', url: route.url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) }, `${route.url} ${label}`)
      t.equal(res.statusCode, 400, `${route.url} ${label}: 400`)
      t.equal(store.total(), 0, `${route.url} ${label}: no store call`)
    }
    store.reset()
    const extra = await send({ method: 'POST', url: route.url, payload: { ...route.body, $where: '1 == 1' } }, `${route.url} extra $where key`)
    t.equal(extra.statusCode, 400, `${route.url}: an extra key is refused`)
    t.equal(store.total(), 0, `${route.url} extra key: no store call`)
  }
  store.reset()
  const batch = await send({ method: 'POST', url: '/token/validate/batch', payload: { tokens: Array.from({ length: 101 }, () => s.access_token) } })
  t.equal(batch.statusCode, 400, 'batch of 101 tokens: 400')
  const mixed = await send({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [s.access_token, { $gt: '' }] } })
  t.equal(mixed.statusCode, 400, 'batch with one operator among strings: 400')
  t.equal(store.total(), 0, 'no store call for the batches')
  t.same(hashing, { hash: 0, verify: 0 }, 'argon2 never ran for any of these bodies')

  // An operator spelled as a string is only a string: a pattern refuses it as a
  // username; as a password it is compared like any other password.
  store.reset()
  const asName = await send({ method: 'POST', url: '/auth/login', payload: { username: '{"$gt": ""}', password: PASSWORD } })
  t.equal(asName.statusCode, 400, 'operator text as a username: 400')
  t.equal(store.total(), 0, 'operator text as a username: no store call')
  const asPassword = await send({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: '{"$gt": ""}' } })
  t.equal(asPassword.statusCode, 401, 'operator text as a password is just a wrong password')
  const asToken = await send({ method: 'POST', url: '/token/validate', payload: { token: '{"$gt": ""}' } })
  t.same(asToken.json(), { valid: false, error: 'malformed' }, 'operator text as a token is malformed')

  // And the hot path never touches the store even for valid input.
  store.reset()
  t.equal((await validate(app, s.access_token)).valid, true, 'a valid token validates')
  t.equal(store.total(), 0, 'validate made no store call')
})

t.test('mass assignment on register: 400 and no role granted', async (t) => {
  const store = countingStore()
  const app = await build(t, { store })
  const send = hostileClient(t, app)
  const hashing = countHashing(t)
  for (const [key, value] of [
    ['role', 'admin'], ['roles', ['admin']], ['isAdmin', true], ['admin', true], ['id', 'admin-id'],
    ['disabled', false], ['passwordHash', '$argon2id$v=19$m=8192,t=1,p=1$x$y'], ['failedLogins', 0], ['lockedUntil', null],
    ['scope', 'admin'], ['client_id', 'default'], ['createdAt', '1970-01-01']
  ] as Array<[string, unknown]>) {
    const username = uniqueName('mass')
    store.reset()
    const res = await send({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD, [key]: value } }, `register with ${key}`)
    t.equal(res.statusCode, 400, `register with ${key}: 400`)
    t.equal(store.total(), 0, `register with ${key}: no store call`)
    t.equal(await store.users.findByUsername(username), null, `register with ${key}: no user created`)
  }
  t.same(hashing, { hash: 0, verify: 0 }, 'no password was hashed')
  const user = await registerUser(app)
  const s = await login(app, user.username)
  t.same(decodePart(s.access_token, 1).roles, [], 'a registered user has no roles')
  const stored = await store.users.findById(user.id)
  t.same(stored?.roles, [], 'and none in the store')
  const upper = await send({ method: 'POST', url: '/auth/register', payload: { username: user.username.toUpperCase(), password: PASSWORD } })
  t.equal(upper.statusCode, 409, 'the same name in another case is taken (no shadow account)')
})

t.test('passwords over 256 characters are refused quickly and never hashed', async (t) => {
  const store = countingStore()
  const app = await build(t, { store })
  const send = hostileClient(t, app)
  const user = await registerUser(app)
  const hashing = countHashing(t)
  store.reset()
  for (const [label, password] of [
    ['257 chars', 'a'.repeat(257)], ['10 kB', 'a'.repeat(10_000)], ['200 kB', 'a'.repeat(200_000)]
  ] as Array<[string, string]>) {
    for (const url of ['/auth/register', '/auth/login']) {
      const username = url === '/auth/login' ? user.username : uniqueName('long')
      const started = process.hrtime.bigint()
      const res = await send({ method: 'POST', url, payload: { username, password } }, `${url} ${label}`)
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      t.equal(res.statusCode, 400, `${url} password of ${label}: 400`)
      t.match(res.json().message, /password/, `${url} ${label}: the message names the field`)
      t.comment(`${url} password of ${label}: answered in ${ms.toFixed(1)} ms`)
    }
  }
  t.same(hashing, { hash: 0, verify: 0 }, 'argon2 never ran')
  t.equal(store.total(), 0, 'no store call')
  const failures = (await store.users.findById(user.id))?.failedLogins
  t.equal(failures, 0, 'over-long login attempts did not count as failed logins either')
  // The limit counts characters (code points), not bytes: 256 four-byte characters are still a bounded 1 kB.
  const reg = await send({ method: 'POST', url: '/auth/register', payload: { username: uniqueName('emoji'), password: '\u{1F511}'.repeat(256) } })
  t.equal(reg.statusCode, 201, '256 astral characters (1 kB of UTF-8) are accepted')
  const tooMany = await send({ method: 'POST', url: '/auth/register', payload: { username: uniqueName('emoji'), password: '\u{1F511}'.repeat(257) } })
  t.equal(tooMany.statusCode, 400, '257 astral characters are refused')
})

const VOLATILE_HEADERS = new Set(['date', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'x-request-id'])

function stableHeaders (headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !VOLATILE_HEADERS.has(name)).sort(([a], [b]) => a.localeCompare(b)))
}

function stats (samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]!
  const mean = samples.reduce((s, v) => s + v, 0) / samples.length
  return `median ${median.toFixed(2)} ms, mean ${mean.toFixed(2)} ms, min ${sorted[0]!.toFixed(2)}, max ${sorted.at(-1)!.toFixed(2)}`
}

t.test('user enumeration: unknown user and wrong password look the same', async (t) => {
  const store = countingStore()
  const app = await build(t, { store, env: { LOCKOUT_THRESHOLD: '1000' } })
  const send = hostileClient(t, app)
  const user = await registerUser(app)
  const hashing = countHashing(t)
  const unknown: number[] = []
  const wrong: number[] = []
  let first: { unknown?: ReturnType<typeof snapshot>, wrong?: ReturnType<typeof snapshot> } = {}
  function snapshot (res: Awaited<ReturnType<typeof send>>): { status: number, body: string, headers: Record<string, unknown> } {
    return { status: res.statusCode, body: res.body, headers: stableHeaders(res.headers) }
  }
  for (let i = 0; i < 15; i++) {
    for (const kind of i % 2 === 0 ? ['unknown', 'wrong'] as const : ['wrong', 'unknown'] as const) {
      const username = kind === 'unknown' ? uniqueName('ghost') : user.username
      const password = kind === 'unknown' ? PASSWORD : `${PASSWORD}!`
      const started = process.hrtime.bigint()
      const res = await send({ method: 'POST', url: '/auth/login', payload: { username, password } }, `login ${kind}`)
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      ;(kind === 'unknown' ? unknown : wrong).push(ms)
      const snap = snapshot(res)
      first[kind] ??= snap
      t.same(snap, first[kind], `${kind} #${i}: same answer every time`)
    }
  }
  t.equal(first.unknown?.status, 401, 'unknown user: 401')
  t.same(JSON.parse(first.unknown?.body ?? '{}'), { error: 'invalid_credentials', message: 'invalid username or password' }, 'unknown user: invalid_credentials')
  t.same(first.unknown, first.wrong, 'unknown user and wrong password: identical status, body and headers (date and rate-limit counters aside)')
  t.equal(hashing.verify, 30, 'argon2 verify ran for every attempt, unknown users included (dummy hash)')
  t.comment(`unknown user:   ${stats(unknown)}`)
  t.comment(`wrong password: ${stats(wrong)}`)
  first = {}
})

t.test('lockout: headers cannot reset it, and the right password is refused while locked', async (t) => {
  const app = await build(t, { env: { LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '900', TRUST_PROXY: 'false' } })
  const send = hostileClient(t, app)
  const user = await registerUser(app)
  const disguise = (i: number): Record<string, string> => ({
    'x-forwarded-for': `203.0.113.${i}`,
    'x-real-ip': `198.51.100.${i}`,
    forwarded: `for=192.0.2.${i}`,
    'user-agent': `attacker-agent/${i}`,
    'x-request-id': `req-${i}`,
    cookie: `session=${i}`,
    'accept-language': i % 2 === 0 ? 'en' : 'fr'
  })
  for (let i = 0; i < 3; i++) {
    const res = await send({ method: 'POST', url: '/auth/login', headers: disguise(i), payload: { username: user.username, password: 'wrong password' } })
    t.equal(res.statusCode, 401, `failure ${i + 1}: 401`)
  }
  for (let i = 3; i < 8; i++) {
    const name = i % 2 === 0 ? user.username.toUpperCase() : user.username
    const res = await send({ method: 'POST', url: '/auth/login', headers: disguise(i), payload: { username: name, password: PASSWORD } })
    t.equal(res.statusCode, 429, `attempt ${i + 1} with the right password and new headers: 429`)
    t.equal(res.json().error, 'too_many_requests', 'too_many_requests')
    const retry = Number(res.headers['retry-after'])
    t.ok(Number.isInteger(retry) && retry > 0 && retry <= 900, `Retry-After is whole seconds within the lock (${res.headers['retry-after']})`)
    t.notOk('access_token' in res.json(), 'no tokens handed out')
  }
})

t.test('lockout holds under concurrency: 30 wrong passwords and the right one at once', async (t) => {
  const store = countingStore()
  const app = await build(t, { store, env: { LOCKOUT_THRESHOLD: '5', LOCKOUT_SECONDS: '600' } })
  const user = await registerUser(app)
  const hashing = countHashing(t)
  const attempt = async (password: string): Promise<Awaited<ReturnType<typeof app.inject>>> =>
    app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password } })
  const answers = await Promise.all([
    ...Array.from({ length: 30 }, async (_, i) => attempt(`wrong password ${i}`)),
    attempt(PASSWORD)
  ])
  const checks = hashing.verify
  const codes = answers.map((res) => res.statusCode)
  t.ok(checks <= 5, `at most LOCKOUT_THRESHOLD passwords checked (${checks})`)
  t.equal(codes.filter((code) => code === 401).length, checks, 'every checked password was wrong: 401')
  t.equal(codes.filter((code) => code === 429).length, 31 - checks, 'every other attempt: 429')
  const right = answers[answers.length - 1]!
  t.equal(right.statusCode, 429, 'the right password, sent after the threshold, is refused too')
  t.ok(Number(right.headers['retry-after']) > 0, 'with Retry-After')
  t.equal((await attempt(PASSWORD)).statusCode, 429, 'and stays locked for that address')
  t.equal(hashing.verify, checks, 'no password checked while locked')
})

t.test('per-IP rate limit on login ignores X-Forwarded-For when TRUST_PROXY is false', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_AUTH: '5', TRUST_PROXY: 'false' } })
  const send = hostileClient(t, app)
  const statuses: number[] = []
  let last: Awaited<ReturnType<typeof send>> | undefined
  for (let i = 0; i < 8; i++) {
    last = await send({
      method: 'POST',
      url: '/auth/login',
      headers: { 'x-forwarded-for': `203.0.113.${i}`, 'user-agent': `ua-${i}` },
      payload: { username: uniqueName('ghost'), password: PASSWORD }
    })
    statuses.push(last.statusCode)
  }
  t.same(statuses, [401, 401, 401, 401, 401, 429, 429, 429], 'the sixth request from one peer is limited whatever XFF says')
  t.equal(last?.json().error, 'too_many_requests', 'too_many_requests')
  t.ok(Number(last?.headers['retry-after']) > 0, 'with Retry-After')
})
