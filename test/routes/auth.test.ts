// /auth: register, login, refresh (rotation, reuse, concurrency, grace), logout, logout-all.
import t from 'tap'
import { createDecoder } from 'fast-jwt'
import { memoryStore } from '../support/stores.js'
import { build, login, newSession, PASSWORD, registerUser, TEST_ISSUER, uniqueName, validate } from '../helper.js'
import { testClock } from '../support/clock.js'

const decode = createDecoder({ complete: true })
const decodeToken = (token: string): { header: Record<string, unknown>, payload: Record<string, unknown> } =>
  decode(token) as { header: Record<string, unknown>, payload: Record<string, unknown> }

t.test('POST /auth/register', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })

  t.test('creates a user, lower-cased, with an argon2id hash', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'Alice.Example@test', password: PASSWORD } })
    t.equal(res.statusCode, 201)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['id', 'username'])
    t.equal(body.username, 'alice.example@test')
    const stored = await store.users.findById(body.id)
    t.ok(stored)
    t.match(stored!.passwordHash, /^\$argon2id\$/)
    t.not(stored!.passwordHash.includes(PASSWORD), true)
    t.same(stored!.roles, [])
  })

  t.test('409 username_taken, whatever the case', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'ALICE.example@test', password: PASSWORD } })
    t.equal(res.statusCode, 409)
    t.same(res.json(), { error: 'username_taken', message: 'that username is already taken' })
  })

  t.test('400 invalid_request for bad usernames, passwords and extra fields', async (t) => {
    const bad = [
      { username: 'ab', password: PASSWORD },
      { username: 'x'.repeat(65), password: PASSWORD },
      { username: 'has space', password: PASSWORD },
      { username: 'ok-name', password: 'short' },
      { username: 'ok-name', password: 'x'.repeat(257) },
      { username: 'ok-name', password: PASSWORD, roles: ['admin'] },
      { username: 'ok-name' },
      { username: 123, password: PASSWORD }
    ]
    for (const payload of bad) {
      const res = await app.inject({ method: 'POST', url: '/auth/register', payload })
      t.equal(res.statusCode, 400, JSON.stringify(payload))
      t.equal(res.json().error, 'invalid_request')
      t.type(res.json().message, 'string')
    }
    t.equal(await store.users.findByUsername('ok-name'), null, 'nothing was written')
  })
})

t.test('403 registration_closed when ALLOW_REGISTRATION=false', async (t) => {
  const app = await build(t, { env: { ALLOW_REGISTRATION: 'false' } })
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'bob', password: PASSWORD } })
  t.equal(res.statusCode, 403)
  t.same(res.json(), { error: 'registration_closed', message: 'registration is closed' })
})

t.test('POST /auth/login', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const user = await registerUser(app)

  t.test('returns a token pair with the documented claims and no-store', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username.toUpperCase(), password: PASSWORD } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const body = res.json()
    t.equal(body.token_type, 'Bearer')
    t.equal(body.expires_in, 900)
    t.equal(body.refresh_expires_in, 1209600)
    const access = decodeToken(body.access_token)
    t.equal(access.header.typ, 'at+jwt')
    t.equal(access.header.alg, 'HS256')
    t.match(access.payload, {
      iss: TEST_ISSUER, sub: user.id, aud: 'token-orchestrator', client_id: 'default', scope: '', roles: []
    })
    t.type(access.payload.sid, 'string')
    t.ok(Buffer.from(access.payload.jti as string, 'base64url').length >= 16, 'jti has at least 128 bits')
    t.equal((access.payload.exp as number) - (access.payload.iat as number), 900)
    const refresh = decodeToken(body.refresh_token)
    t.equal(refresh.header.typ, 'rt+jwt')
    t.same(Object.keys(refresh.payload).sort(), ['exp', 'iat', 'iss', 'jti', 'sid', 'sub'])
    t.equal(refresh.payload.sid, access.payload.sid)
    const session = await store.sessions.find(refresh.payload.sid as string)
    t.equal(session?.currentJti, refresh.payload.jti, 'the store keeps the current refresh jti')
    t.equal(session?.userId, user.id)
  })

  t.test('unknown user and wrong password answer identically', async (t) => {
    const unknown = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nobody-here', password: PASSWORD } })
    const wrong = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: 'wrong password!' } })
    t.equal(unknown.statusCode, 401)
    t.equal(wrong.statusCode, 401)
    t.equal(unknown.body, wrong.body)
    t.same(unknown.json(), { error: 'invalid_credentials', message: 'invalid username or password' })
    const names = (h: Record<string, unknown>): string[] => Object.keys(h).filter((k) => k !== 'date').sort()
    t.same(names(unknown.headers), names(wrong.headers))
  })

  t.test('401 invalid_client for an unknown client_id', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD, client_id: 'nope' } })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error, 'invalid_client')
  })

  t.test('rehashes a password stored with older argon2 parameters', async (t) => {
    const other = await registerUser(app)
    const before = (await store.users.findById(other.id))!.passwordHash
    const stronger = await build(t, { store, env: { ARGON2_TIME_COST: '2' } })
    await login(stronger, other.username)
    const after = (await store.users.findById(other.id))!.passwordHash
    t.not(after, before)
    t.match(after, /t=2/)
    t.match(before, /t=1/)
  })
})

t.test('lockout: LOCKOUT_THRESHOLD failures from one address lock the account for that address, in the store', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store, env: { LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '600' } })
  const user = await registerUser(app)
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: 'not the password' } })
    t.equal(res.statusCode, 401, `failure ${i + 1}`)
  }
  const locked = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })
  t.equal(locked.statusCode, 429, 'even the right password is refused while locked')
  t.equal(locked.json().error, 'too_many_requests')
  const retryAfter = Number(locked.headers['retry-after'])
  t.ok(retryAfter > 590 && retryAfter <= 600, `Retry-After ${retryAfter}`)
  t.equal((await store.users.findById(user.id))!.lockedUntil, null, 'the account as a whole is not locked')

  // A second instance on the same store sees the lock.
  const other = await build(t, { store })
  const res = await other.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })
  t.equal(res.statusCode, 429)

  // The owner, from another address, still gets in: guessing from one address cannot lock them out.
  const elsewhere = await other.inject({
    method: 'POST', url: '/auth/login', remoteAddress: '198.51.100.7', payload: { username: user.username, password: PASSWORD }
  })
  t.equal(elsewhere.statusCode, 200, 'the right password from another address logs in')
  const still = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })
  t.equal(still.statusCode, 429, 'and the guessing address stays locked')
})

t.test('lockout: an IPv6 host counts as its /64, as the rate limit counts it', async (t) => {
  const app = await build(t, { env: { LOCKOUT_THRESHOLD: '3', LOCKOUT_SECONDS: '600' } })
  const user = await registerUser(app)
  const attempt = (remoteAddress: string, password: string) =>
    app.inject({ method: 'POST', url: '/auth/login', remoteAddress, payload: { username: user.username, password } })
  const statuses = []
  for (let i = 1; i <= 6; i++) statuses.push((await attempt(`2001:db8:1:2::${i.toString(16)}`, 'not the password')).statusCode)
  t.same(statuses, [401, 401, 401, 429, 429, 429], 'six addresses of one /64 share its three guesses')
  t.equal((await attempt('2001:db8:1:2:ffff::1', PASSWORD)).statusCode, 429, 'the whole /64 is locked')
  t.equal((await attempt('2001:db8:1:3::1', PASSWORD)).statusCode, 200, 'the next /64 is not')
})

t.test('lockout: one address locked out again and again never adds up to the account-wide lock', async (t) => {
  const clock = testClock()
  const app = await build(t, { now: clock.now, env: { LOCKOUT_THRESHOLD: '3', LOCKOUT_ACCOUNT_THRESHOLD: '6', LOCKOUT_SECONDS: '60' } })
  const user = await registerUser(app)
  const attempt = (remoteAddress: string, password: string) =>
    app.inject({ method: 'POST', url: '/auth/login', remoteAddress, payload: { username: user.username, password } })
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 3; i++) t.equal((await attempt('203.0.113.9', 'not the password')).statusCode, 401, `round ${round}, guess ${i + 1}`)
    t.equal((await attempt('203.0.113.9', 'not the password')).statusCode, 429, 'then that address is locked')
    clock.advance(61)
  }
  t.equal((await attempt('198.51.100.7', PASSWORD)).statusCode, 200, 'after 15 guesses over 5 minutes the owner still gets in from elsewhere')
})

t.test('lockout: LOCKOUT_ACCOUNT_THRESHOLD failures from many addresses lock the account for everyone until an unlock', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store, env: { LOCKOUT_THRESHOLD: '3', LOCKOUT_ACCOUNT_THRESHOLD: '6', LOCKOUT_SECONDS: '600' } })
  const user = await registerUser(app)
  const from = (i: number): string => `203.0.113.${i}`
  for (let i = 0; i < 6; i++) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: from(i), payload: { username: user.username, password: 'not the password' } })
    t.equal(res.statusCode, 401, `failure ${i + 1}, each from a new address`)
  }
  const owner = await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '198.51.100.7', payload: { username: user.username, password: PASSWORD } })
  t.equal(owner.statusCode, 429, 'guesses spread over addresses reach the account-wide ceiling')
  t.ok((await store.users.findById(user.id))!.lockedUntil, 'the account-wide lock lives in the store')
  // What `user unlock` and POST /admin/users/{id}/unlock do (test/accounts/admin-users.test.ts drives the latter).
  await store.users.clearAllLoginFailures(user.id)
  const again = await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '198.51.100.7', payload: { username: user.username, password: PASSWORD } })
  t.equal(again.statusCode, 200, 'and the owner gets in')
})

t.test('a successful login clears the failure count', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store, env: { LOCKOUT_THRESHOLD: '3' } })
  const user = await registerUser(app)
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 2; i++) {
      await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: 'not the password' } })
    }
    await login(app, user.username)
  }
  t.equal((await store.users.findById(user.id))!.failedLogins, 0)
})

t.test('per-IP rate limit answers 429 with Retry-After', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_AUTH: '3' } })
  const codes: number[] = []
  let last
  for (let i = 0; i < 4; i++) {
    last = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nobody-here', password: 'whatever' } })
    codes.push(last.statusCode)
  }
  t.same(codes, [401, 401, 401, 429])
  t.equal(last!.json().error, 'too_many_requests')
  t.ok(Number(last!.headers['retry-after']) > 0)
  const validate = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: 'a.b.c' } })
  t.equal(validate.statusCode, 200, 'validate is not rate limited')
})

t.test('POST /auth/refresh rotates', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const first = await newSession(app)

  const res = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: first.refresh_token } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const second = res.json()
  t.not(second.refresh_token, first.refresh_token)
  t.not(second.access_token, first.access_token)
  const sid = decodeToken(first.refresh_token).payload.sid as string
  t.equal(decodeToken(second.refresh_token).payload.sid, sid, 'same session')
  t.equal((await store.sessions.find(sid))!.currentJti, decodeToken(second.refresh_token).payload.jti)
  t.equal((await validate(app, second.access_token)).valid, true)

  t.test('the new refresh token works in turn', async (t) => {
    const again = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: second.refresh_token } })
    t.equal(again.statusCode, 200)
  })

  t.test('invalid refresh tokens give 401 invalid_grant', async (t) => {
    for (const token of ['garbage', first.access_token, `${second.refresh_token.slice(0, -2)}xx`]) {
      const bad = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } })
      t.equal(bad.statusCode, 401)
      t.same(bad.json(), { error: 'invalid_grant', message: 'the refresh token is invalid, expired or revoked' })
    }
  })
})

t.test('replaying a rotated refresh token revokes the whole session', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const first = await newSession(app)
  const rotated = (await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: first.refresh_token } })).json()

  const replay = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: first.refresh_token } })
  t.equal(replay.statusCode, 401)
  t.equal(replay.json().error, 'invalid_grant')

  const sid = decodeToken(first.refresh_token).payload.sid as string
  const session = await store.sessions.find(sid)
  t.ok(session!.revokedAt)
  t.equal(session!.revokedReason, 'refresh_token_reuse')
  const newest = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: rotated.refresh_token } })
  t.equal(newest.statusCode, 401, 'the newest refresh token is dead too')
  t.same(await validate(app, rotated.access_token), { valid: false, error: 'revoked' })
  t.same(await validate(app, first.access_token), { valid: false, error: 'revoked' })
})

t.test('20 concurrent refreshes of one token: exactly one 200', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const results = await Promise.all(Array.from({ length: 20 }, () =>
    app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })))
  const codes = results.map((r) => r.statusCode)
  t.equal(codes.filter((c) => c === 200).length, 1, codes.join(','))
  t.equal(codes.filter((c) => c === 401).length, 19)
})

t.test('REFRESH_REUSE_INTERVAL: a repeat within the window gets the same pair', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store, env: { REFRESH_REUSE_INTERVAL: '30' } })
  const s = await newSession(app)
  const results = await Promise.all(Array.from({ length: 10 }, () =>
    app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })))
  t.same(results.map((r) => r.statusCode), Array(10).fill(200))
  const pairs = new Set(results.map((r) => `${r.json().access_token} ${r.json().refresh_token}`))
  t.equal(pairs.size, 1, 'every repeat got the same successor pair')
  const sid = decodeToken(s.refresh_token).payload.sid as string
  const session = (await store.sessions.find(sid))!
  t.equal(session.revokedAt, null)
  t.type(session.previous?.successor, 'string')
  const successor = results[0]!.json().refresh_token as string
  t.notOk(session.previous!.successor!.includes(successor.split('.')[1]!), 'the stored successor is sealed')

  const next = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: successor } })
  t.equal(next.statusCode, 200, 'the successor rotates normally')
  const stale = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })
  t.equal(stale.statusCode, 401, 'a token two rotations old is reuse')
  t.ok((await store.sessions.find(sid))!.revokedAt)
})

t.test('REFRESH_REUSE_INTERVAL: a repeat after the window is reuse', async (t) => {
  const clock = testClock()
  const store = memoryStore()
  const app = await build(t, { store, env: { REFRESH_REUSE_INTERVAL: '5' }, now: clock.now })
  const s = await newSession(app)
  const sid = decodeToken(s.refresh_token).payload.sid as string
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })).statusCode, 200)
  clock.advance(6)
  const late = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })
  t.equal(late.statusCode, 401)
  t.equal((await store.sessions.find(sid))!.revokedReason, 'refresh_token_reuse')
})

t.test('a lock ends after LOCKOUT_SECONDS', async (t) => {
  const clock = testClock()
  const app = await build(t, { env: { LOCKOUT_THRESHOLD: '2', LOCKOUT_SECONDS: '600' }, now: clock.now })
  const user = await registerUser(app)
  const attempt = (password: string) => app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password } })
  await attempt('not the password')
  await attempt('not the password')
  t.equal((await attempt(PASSWORD)).statusCode, 429, 'locked')
  clock.advance(599)
  t.equal((await attempt(PASSWORD)).statusCode, 429, 'still locked one second before the end')
  clock.advance(2)
  t.equal((await attempt(PASSWORD)).statusCode, 200, 'the right password works once the lock has ended')
})

t.test('SESSION_MAX_LIFETIME caps the refresh token', async (t) => {
  const app = await build(t, { env: { SESSION_MAX_LIFETIME: '3600', REFRESH_TOKEN_TTL: '3600' } })
  const s = await newSession(app)
  const rotated = (await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })).json()
  const firstExp = decodeToken(s.refresh_token).payload.exp as number
  const secondExp = decodeToken(rotated.refresh_token).payload.exp as number
  t.ok(secondExp <= firstExp, 'rotation never extends the session past its absolute cap')
  t.ok(rotated.refresh_expires_in <= 3600)
})

t.test('POST /auth/logout ends the session', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const s = await newSession(app)
  const other = await login(app, s.username)

  const res = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refresh_token } })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' })
  const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })
  t.equal(refresh.statusCode, 401)
  const sid = decodeToken(s.refresh_token).payload.sid as string
  t.equal((await store.sessions.find(sid))!.revokedReason, 'logout')

  const again = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refresh_token } })
  t.equal(again.statusCode, 204, 'idempotent')
  t.equal((await validate(app, other.access_token)).valid, true, 'other sessions of the user are untouched')

  const bad = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.access_token } })
  t.equal(bad.statusCode, 401)
  t.equal(bad.json().error, 'invalid_grant')
})

t.test('POST /auth/logout-all ends every session of the user', async (t) => {
  const app = await build(t)
  const a = await newSession(app)
  const b = await login(app, a.username)
  const stranger = await newSession(app)

  const res = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${a.access_token}` } })
  t.equal(res.statusCode, 204)
  for (const s of [a, b]) {
    t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' })
    const r = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })
    t.equal(r.statusCode, 401)
  }
  t.equal((await validate(app, stranger.access_token)).valid, true, 'other users are untouched')

  const reused = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${a.access_token}` } })
  t.equal(reused.statusCode, 401, 'the revoked access token no longer authenticates')
  t.equal(reused.headers['www-authenticate'], 'Bearer error="invalid_token"')

  for (const authorization of [undefined, 'Bearer', 'Basic abc', `Bearer ${a.refresh_token}`]) {
    const r = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: authorization === undefined ? {} : { authorization } })
    t.equal(r.statusCode, 401, String(authorization))
    t.equal(r.json().error, 'invalid_token')
  }
})

t.test('a disabled user can neither log in nor refresh', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const s = await newSession(app)
  await store.users.setDisabled(s.userId, true)
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: s.username, password: PASSWORD } })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'invalid_credentials')
  const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })
  t.equal(refresh.statusCode, 401)
  t.same(await validate(app, s.access_token), { valid: false, error: 'revoked' }, 'its session ended')
})

t.test('usernames are unique across concurrent registrations', async (t) => {
  const app = await build(t)
  const username = uniqueName('race')
  const results = await Promise.all(Array.from({ length: 5 }, () =>
    app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })))
  t.same(results.map((r) => r.statusCode).sort(), [201, 409, 409, 409, 409])
})
