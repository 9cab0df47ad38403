// Hostile bodies on the account and delegation routes: wrong types, query
// operators, oversize values and extra properties in every field of
// POST /auth/password, PUT /admin/users/:id/roles, POST /admin/users/:id/password,
// GET /admin/users?username= and the token-exchange parameters of /oauth/token.
// Each is a 4xx with a clean error body; nothing is written and argon2 never runs
// (the admin guard's own read of the caller is the only store call allowed).
import t from 'tap'
import type { InjectOptions } from 'fastify'
import argon2 from 'argon2'
import { build, login, newSession, PASSWORD } from '../helper.js'
import { ADMIN_ENV, createClient } from '../support/clients.js'
import { countingStore, hostileClient } from './support.js'

const HOSTILE_VALUES: Array<[string, unknown]> = [
  ['{$gt: ""}', { $gt: '' }],
  ['{$ne: null}', { $ne: null }],
  ['{$regex: ".*"}', { $regex: '.*' }],
  ['{$where: "sleep(1000)"}', { $where: 'sleep(1000)' }],
  ['number', 42],
  ['true', true],
  ['null', null],
  ['array with an operator', [{ $gt: '' }]],
  ['nested object', { a: { b: 'c' } }],
  ['empty string', ''],
  ['oversize string', 'x'.repeat(20_000)]
]

/** Store calls that only read: the guard's look-up of the caller, the bearer check's nothing. */
const READS = new Set(['users.findById', 'users.findByUsername', 'clients.find', 'sessions.find'])

t.test('account bodies: every field, every hostile value: 400, nothing written, no argon2', async (t) => {
  const store = countingStore()
  const app = await build(t, { store, env: ADMIN_ENV })
  const send = hostileClient(t, app)
  const user = await newSession(app)
  const admin = await login(app, ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)
  const hashed = { hash: 0, verify: 0 }
  const { hash, verify } = argon2
  const lib = argon2 as { hash: typeof hash, verify: typeof verify }
  lib.hash = (async (...args: Parameters<typeof hash>) => { hashed.hash += 1; return hash(...args) }) as typeof hash
  lib.verify = async (...args: Parameters<typeof verify>) => { hashed.verify += 1; return verify(...args) }
  t.teardown(() => { lib.hash = hash; lib.verify = verify })

  const routes: Array<{ method: 'POST' | 'PUT', url: string, token: string, body: Record<string, unknown>, fields: string[] }> = [
    { method: 'POST', url: '/auth/password', token: user.access_token, body: { current_password: PASSWORD, new_password: 'a new passphrase' }, fields: ['current_password', 'new_password'] },
    { method: 'PUT', url: `/admin/users/${user.userId}/roles`, token: admin.access_token, body: { roles: ['ops'] }, fields: ['roles'] },
    { method: 'POST', url: `/admin/users/${user.userId}/password`, token: admin.access_token, body: { new_password: 'a new passphrase' }, fields: ['new_password'] }
  ]
  const writes = (): string[] => [...store.calls.keys()].filter((name) => !READS.has(name) && name !== 'revocations.since' && name !== 'keys.list')
  for (const route of routes) {
    const headers = { authorization: `Bearer ${route.token}` }
    for (const field of route.fields) {
      for (const [label, value] of HOSTILE_VALUES) {
        store.reset()
        const res = await send({ method: route.method, url: route.url, headers, payload: { ...route.body, [field]: value } }, `${route.url} ${field}=${label}`)
        t.equal(res.statusCode, 400, `${route.url} ${field}=${label}: 400`)
        t.equal(res.json().error, 'invalid_request')
        t.same(writes(), [], `${route.url} ${field}=${label}: nothing written`)
      }
    }
    for (const [label, payload] of [['extra $where', { ...route.body, $where: '1' }], ['extra roles', { ...route.body, roles_extra: ['admin'] }],
      ['array body', [route.body]], ['string body', 'x']] as Array<[string, unknown]>) {
      store.reset()
      const res = await send({ method: route.method, url: route.url, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(payload) }, `${route.url} ${label}`)
      t.equal(res.statusCode, 400, `${route.url} ${label}: 400`)
      t.same(writes(), [], `${route.url} ${label}: nothing written`)
    }
  }
  // Roles: operator text and mass-assignment shapes are not role names.
  for (const roles of [['$ne'], ['admin', { $gt: '' }], ['ADMIN'], ['a'.repeat(65)], Array.from({ length: 33 }, (_, i) => `r${i}`)]) {
    const res = await send({ method: 'PUT', url: `/admin/users/${user.userId}/roles`, headers: { authorization: `Bearer ${admin.access_token}` }, payload: { roles } })
    t.equal(res.statusCode, 400, `roles ${JSON.stringify(roles).slice(0, 40)}: 400`)
  }
  t.same((await store.users.findById(user.userId))?.roles, [], 'the user has no roles')
  // Lookup: the username is a pattern-checked query string; an operator in the query string is only text.
  for (const query of ['username[$ne]=x', 'username=%7B%22%24gt%22%3A%22%22%7D', `username=${'a'.repeat(65)}`, 'username=alice&extra=1']) {
    const res = await send({ method: 'GET', url: `/admin/users?${query}`, headers: { authorization: `Bearer ${admin.access_token}` } })
    t.equal(res.statusCode, 400, `GET /admin/users?${query.slice(0, 40)}: 400`)
  }
  t.same(hashed, { hash: 0, verify: 0 }, 'argon2 never ran for any of these bodies')
})

t.test('token exchange parameters: wrong types, operators, oversize values: 400 invalid_request, nothing issued', async (t) => {
  const store = countingStore()
  const app = await build(t, { store, env: ADMIN_ENV })
  // /oauth errors are RFC 6749 {error, error_description}: checked here rather than by hostileClient.
  const send = async (opts: InjectOptions, label = '') => {
    const res = await app.inject(opts)
    t.ok(res.statusCode < 500, `${label}: no 5xx`)
    if (res.statusCode >= 400) {
      t.same(Object.keys(res.json()).sort(), ['error', 'error_description'], `${label}: an OAuth error body`)
      t.notMatch(res.body, /eyJ|at .+\(|node_modules/, `${label}: no token or stack in the answer`)
    }
    return res
  }
  const user = await newSession(app)
  const gateway = await createClient(app, { name: 'gateway', grants: ['urn:ietf:params:oauth:grant-type:token-exchange'], audiences: ['orders-api'] })
  const authorization = `Basic ${Buffer.from(`${gateway.client_id}:${gateway.client_secret}`).toString('base64')}`
  const body = {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: user.access_token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    audience: 'orders-api',
    scope: ''
  }
  for (const field of ['subject_token', 'subject_token_type', 'audience', 'scope', 'requested_token_type', 'actor_token', 'resource']) {
    for (const [label, value] of HOSTILE_VALUES) {
      if (label === 'empty string') continue // a string: the grant's own rules judge it
      store.reset()
      const res = await send({ method: 'POST', url: '/oauth/token', headers: { authorization }, payload: { ...body, [field]: value } }, `${field}=${label}`)
      t.equal(res.statusCode, 400, `${field}=${label}: 400`)
      t.equal(res.json().error, 'invalid_request', `${field}=${label}: invalid_request`)
      t.type(res.json().error_description, 'string')
      t.equal(store.total(), 0, `${field}=${label}: refused before any store call`)
    }
  }
  const form = await send({
    method: 'POST',
    url: '/oauth/token',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ ...body, audience: 'orders-api' }).toString() + '&audience=other-api'
  })
  t.equal(form.statusCode, 400, 'a repeated audience is invalid_request')
  t.equal(form.json().error, 'invalid_request')
})
