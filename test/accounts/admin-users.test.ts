// /admin/users: lookup, disable / enable, roles, password reset. Each route's
// success, its documented failures, and that a store failure leaves nothing
// half-done (a retry completes).
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { memoryStore } from '../support/stores.js'
import { StoreUnavailableError } from '../../src/errors.js'
import { build, login, newSession, PASSWORD, uniqueName, registerUser, validate } from '../helper.js'
import { ADMIN_ENV, adminToken } from '../support/clients.js'
import { faultyStore } from '../support/faulty-store.js'
import { eventually, WITHIN_MS } from '../support/eventually.js'

type Method = 'GET' | 'POST' | 'PUT'
const call = (app: FastifyInstance, token: string, method: Method, url: string, payload?: unknown) =>
  app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as object } : {}) })

t.test('every new user route needs the admin role', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const user = await newSession(app)
  const routes: Array<[Method, string, unknown?]> = [
    ['GET', `/admin/users?username=${user.username}`],
    ['GET', `/admin/users/${user.userId}`],
    ['POST', `/admin/users/${user.userId}/disable`],
    ['POST', `/admin/users/${user.userId}/enable`],
    ['PUT', `/admin/users/${user.userId}/roles`, { roles: ['admin'] }],
    ['POST', `/admin/users/${user.userId}/password`, { new_password: 'another passphrase' }]
  ]
  for (const [method, url, payload] of routes) {
    const none = await app.inject({ method, url, ...(payload !== undefined ? { payload: payload as object } : {}) })
    t.equal(none.statusCode, 401, `${method} ${url}: no token`)
    const plain = await call(app, user.access_token, method, url, payload)
    t.equal(plain.statusCode, 403, `${method} ${url}: not an admin`)
  }
  t.equal((await validate(app, user.access_token)).valid, true, 'nothing happened to the user')
})

t.test('lookup by username and by id; views hold no hash or counters', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const token = await adminToken(app)
  const user = await registerUser(app, uniqueName('Lookup'))
  const found = await call(app, token, 'GET', `/admin/users?username=${user.username.toUpperCase()}`)
  t.equal(found.statusCode, 200)
  t.equal(found.headers['cache-control'], 'no-store')
  const body = found.json()
  t.same(body.users.map((u: { id: string }) => u.id), [user.id], 'case-insensitive exact match')
  t.same(Object.keys(body.users[0]).sort(), ['created_at', 'disabled', 'id', 'locked_until', 'roles', 'username'])
  t.notMatch(found.body, /argon2|passwordHash|failed/i)
  t.same((await call(app, token, 'GET', '/admin/users?username=nobody-here')).json(), { users: [] })
  t.equal((await call(app, token, 'GET', '/admin/users')).statusCode, 400, 'username is required')
  t.equal((await call(app, token, 'GET', '/admin/users?username=a')).statusCode, 400, 'too short')

  const byId = await call(app, token, 'GET', `/admin/users/${user.id}`)
  t.equal(byId.statusCode, 200)
  t.match(byId.json(), { id: user.id, username: user.username, roles: [], disabled: false, locked_until: null })
  const missing = await call(app, token, 'GET', '/admin/users/nobody')
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: 'not_found', message: 'no such user' })
  t.equal((await call(app, token, 'GET', `/admin/users/${'x'.repeat(129)}`)).statusCode, 400)
})

t.test('unlock lifts an account-wide lockout, and each address\'s', async (t) => {
  const app = await build(t, { env: { ...ADMIN_ENV, LOCKOUT_THRESHOLD: '2', LOCKOUT_ACCOUNT_THRESHOLD: '3' } })
  const token = await adminToken(app)
  const user = await registerUser(app)
  const attempt = (remoteAddress: string, password: string) =>
    app.inject({ method: 'POST', url: '/auth/login', remoteAddress, payload: { username: user.username, password } })
  for (let i = 0; i < 2; i++) await attempt('203.0.113.1', 'wrong wrong')
  await attempt('203.0.113.2', 'wrong wrong')
  t.equal((await attempt('203.0.113.3', PASSWORD)).statusCode, 429, 'three failures from two addresses lock everyone out')
  t.ok(Date.parse((await call(app, token, 'GET', `/admin/users/${user.id}`)).json().locked_until) > Date.now())
  const unlocked = await call(app, token, 'POST', `/admin/users/${user.id}/unlock`)
  t.equal(unlocked.statusCode, 200)
  t.equal(unlocked.json().locked_until, null)
  t.equal((await attempt('203.0.113.1', PASSWORD)).statusCode, 200, 'the address locked on its own is unlocked too')
  t.equal((await call(app, token, 'POST', '/admin/users/no-such-user/unlock')).statusCode, 404)
})

t.test('locked_until shows a lockout in force', async (t) => {
  const app = await build(t, { env: { ...ADMIN_ENV, LOCKOUT_THRESHOLD: '2', LOCKOUT_ACCOUNT_THRESHOLD: '2' } })
  const token = await adminToken(app)
  const user = await registerUser(app)
  for (let i = 0; i < 2; i++) await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: 'wrong wrong' } })
  const view = (await call(app, token, 'GET', `/admin/users/${user.id}`)).json()
  t.ok(Date.parse(view.locked_until) > Date.now(), 'locked_until is in the future')
  t.equal((await call(app, token, 'POST', `/admin/users/${user.id}/password`, { new_password: 'reset passphrase' })).statusCode, 204)
  t.equal((await call(app, token, 'GET', `/admin/users/${user.id}`)).json().locked_until, null, 'a reset lifts the lockout')
  t.ok(await login(app, user.username, 'reset passphrase'))
})

t.test('disable: every session ends, login answers as a wrong password; enable restores login', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const a = await build(t, { env: ADMIN_ENV, store })
  const b = await build(t, { env: ADMIN_ENV, store })
  const token = await adminToken(a)
  const user = await newSession(a)
  const other = await login(a, user.username)
  t.equal((await validate(b, user.access_token)).valid, true, 'valid on B before')

  const res = await call(a, token, 'POST', `/admin/users/${user.userId}/disable`)
  t.equal(res.statusCode, 200)
  t.match(res.json(), { id: user.userId, disabled: true })
  for (const s of [user, other]) {
    t.same(await validate(a, s.access_token), { valid: false, error: 'revoked' }, 'refused at once on A')
    const refresh = await a.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refresh_token } })
    t.equal(refresh.statusCode, 401, 'refresh refused')
  }
  const took = await eventually(async () => (await validate(b, user.access_token)).error === 'revoked')
  t.ok(took < WITHIN_MS, `instance B refused the disabled user's token after ${took} ms`)

  const right = await a.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })
  const wrong = await a.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: 'wrong password' } })
  const unknown = await a.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nobody-at-all', password: PASSWORD } })
  t.equal(right.statusCode, 401)
  t.same(right.json(), wrong.json(), 'the right password of a disabled user answers as a wrong one')
  t.same(right.json(), unknown.json())

  t.equal((await call(a, token, 'POST', `/admin/users/${user.userId}/disable`)).statusCode, 200, 'idempotent')
  const enabled = await call(a, token, 'POST', `/admin/users/${user.userId}/enable`)
  t.equal(enabled.statusCode, 200)
  t.equal(enabled.json().disabled, false)
  t.same(await validate(a, user.access_token), { valid: false, error: 'revoked' }, 'old sessions stay ended')
  t.ok(await login(a, user.username), 'login works again')
  t.equal((await call(a, token, 'POST', '/admin/users/nobody/disable')).statusCode, 404)
  t.equal((await call(a, token, 'POST', '/admin/users/nobody/enable')).statusCode, 404)
})

t.test('an admin cannot disable or demote themselves', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: ADMIN_ENV, store })
  const token = await adminToken(app)
  const me = (await store.users.findByUsername(ADMIN_ENV.ADMIN_USERNAME))!
  const disable = await call(app, token, 'POST', `/admin/users/${me.id}/disable`)
  t.equal(disable.statusCode, 409)
  t.same(disable.json(), { error: 'conflict', message: 'an admin cannot disable their own account' })
  const demote = await call(app, token, 'PUT', `/admin/users/${me.id}/roles`, { roles: ['ops'] })
  t.equal(demote.statusCode, 409)
  t.same((await store.users.findById(me.id))?.roles, ['admin'], 'unchanged')
  t.equal((await call(app, token, 'PUT', `/admin/users/${me.id}/roles`, { roles: ['admin', 'ops'] })).statusCode, 200, 'adding is fine')
})

t.test('roles: adding ends nothing, taking away ends every session; a promoted admin is admitted', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: ADMIN_ENV, store })
  const token = await adminToken(app)
  const user = await newSession(app)
  const add = await call(app, token, 'PUT', `/admin/users/${user.userId}/roles`, { roles: ['admin', 'ops'] })
  t.equal(add.statusCode, 200)
  t.same(add.json().roles, ['admin', 'ops'])
  t.equal((await validate(app, user.access_token)).valid, true, 'adding roles ends no session')
  t.equal((await call(app, user.access_token, 'GET', '/admin/clients')).statusCode, 200, 'admitted at once')
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })
  t.same((await validate(app, refreshed.json().access_token)).claims?.roles, ['admin', 'ops'], 'the next refresh carries them')

  const remove = await call(app, token, 'PUT', `/admin/users/${user.userId}/roles`, { roles: ['ops'] })
  t.equal(remove.statusCode, 200)
  t.same((await store.users.findById(user.userId))?.roles, ['ops'])
  t.same(await validate(app, refreshed.json().access_token), { valid: false, error: 'revoked' }, 'taking a role away ends sessions')

  for (const body of [{ roles: ['Admin'] }, { roles: ['a b'] }, { roles: ['x', 'x'] }, { roles: 'admin' }, {},
    { roles: Array.from({ length: 33 }, (_, i) => `r${i}`) }, { roles: [], extra: 1 }]) {
    const res = await call(app, token, 'PUT', `/admin/users/${user.userId}/roles`, body)
    t.equal(res.statusCode, 400, JSON.stringify(body).slice(0, 50))
  }
  t.same((await store.users.findById(user.userId))?.roles, ['ops'], 'bad bodies change nothing')
  t.equal((await call(app, token, 'PUT', '/admin/users/nobody/roles', { roles: [] })).statusCode, 404)
})

t.test('password reset: every session ends, the new password works', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const token = await adminToken(app)
  const user = await newSession(app)
  const res = await call(app, token, 'POST', `/admin/users/${user.userId}/password`, { new_password: 'reset passphrase' })
  t.equal(res.statusCode, 204)
  t.same(await validate(app, user.access_token), { valid: false, error: 'revoked' })
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: user.username, password: PASSWORD } })).statusCode, 401)
  t.ok(await login(app, user.username, 'reset passphrase'))
  t.equal((await call(app, token, 'POST', `/admin/users/${user.userId}/password`, { new_password: 'short' })).statusCode, 400)
  t.equal((await call(app, token, 'POST', '/admin/users/nobody/password', { new_password: 'reset passphrase' })).statusCode, 404)
})

t.test('store failures: 503, and a retry completes; nothing is left half-done', async (t) => {
  const inner = memoryStore()
  t.teardown(() => inner.close())
  const store = faultyStore(inner)
  const app = await build(t, { env: ADMIN_ENV, store })
  const token = await adminToken(app)
  const user = await newSession(app)

  store.down = true
  for (const [method, url, payload] of [
    ['GET', `/admin/users/${user.userId}`],
    ['POST', `/admin/users/${user.userId}/disable`],
    ['PUT', `/admin/users/${user.userId}/roles`, { roles: ['ops'] }],
    ['POST', `/admin/users/${user.userId}/password`, { new_password: 'reset passphrase' }]
  ] as Array<[Method, string, unknown?]>) {
    const res = await call(app, token, method, url, payload)
    t.equal(res.statusCode, 503, `${method} ${url}`)
    t.same(res.json(), { error: 'store_unavailable', message: 'the token store is unavailable, try again later' })
  }
  store.down = false
  const record = await inner.users.findById(user.userId)
  t.equal(record?.disabled, false)
  t.same(record?.roles, [])
  t.equal((await validate(app, user.access_token)).valid, true, 'nothing happened')

  // Disable: the flag is written, then the revocation write fails. The account is
  // already refused; a retry ends the sessions.
  const add = inner.revocations.add.bind(inner.revocations)
  inner.revocations.add = async () => { throw new StoreUnavailableError() }
  const midway = await call(app, token, 'POST', `/admin/users/${user.userId}/disable`)
  inner.revocations.add = add
  t.equal(midway.statusCode, 503)
  t.equal((await inner.users.findById(user.userId))?.disabled, true, 'the flag was written')
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })).statusCode, 401,
    'the refresh token is refused already')
  t.equal((await call(app, token, 'POST', `/admin/users/${user.userId}/disable`)).statusCode, 200, 'retry')
  t.same(await validate(app, user.access_token), { valid: false, error: 'revoked' }, 'the retry ended the sessions')

  // Reset: the hash write fails after the sessions ended: the old password is kept.
  await call(app, token, 'POST', `/admin/users/${user.userId}/enable`)
  const again = await login(app, user.username)
  const hash = (await inner.users.findById(user.userId))?.passwordHash
  const setPasswordHash = inner.users.setPasswordHash.bind(inner.users)
  inner.users.setPasswordHash = async () => { throw new StoreUnavailableError() }
  const reset = await call(app, token, 'POST', `/admin/users/${user.userId}/password`, { new_password: 'reset passphrase' })
  inner.users.setPasswordHash = setPasswordHash
  t.equal(reset.statusCode, 503)
  t.equal((await inner.users.findById(user.userId))?.passwordHash, hash, 'hash unchanged')
  t.same(await validate(app, again.access_token), { valid: false, error: 'revoked' }, 'sessions already ended (the safe side)')
  t.equal((await call(app, token, 'POST', `/admin/users/${user.userId}/password`, { new_password: 'reset passphrase' })).statusCode, 204)
  t.ok(await login(app, user.username, 'reset passphrase'))
})

t.test('an admin\'s new password follows the admin password policy (reset and own change)', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const token = await adminToken(app)
  const other = await newSession(app)
  t.equal((await call(app, token, 'PUT', `/admin/users/${other.userId}/roles`, { roles: ['admin'] })).statusCode, 200)
  const weak = await call(app, token, 'POST', `/admin/users/${other.userId}/password`, { new_password: 'password1234' })
  t.equal(weak.statusCode, 400)
  t.match(weak.json().message, /an admin's password is refused \(shorter than 16 characters\)/)
  const again = await login(app, other.username)
  const own = await call(app, again.access_token, 'POST', '/auth/password', { current_password: PASSWORD, new_password: 'passwordpassword' })
  t.equal(own.statusCode, 400)
  t.match(own.json().message, /a common password/)
  t.ok(await login(app, other.username, PASSWORD), 'the password is unchanged')
  t.equal((await call(app, token, 'POST', `/admin/users/${other.userId}/password`, { new_password: 'Vivid-Quartz-Lantern-42' })).statusCode, 204)
})
