// RFC 8693 token exchange on /oauth/token: who may exchange, what the new
// token carries (sub, sid, act, aud, scope, exp), what is refused and how, and
// that the user's logout ends the exchanged token too.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { memoryStore } from '../support/stores.js'
import type { Store } from '../../src/store/types.js'
import { build, PASSWORD, registerUser, validate } from '../helper.js'
import { ADMIN_ENV, adminToken, createClient, disableClient, type CreatedClient } from '../support/clients.js'
import { faultyStore } from '../support/faulty-store.js'
import { accessToken } from '../support/tokens.js'

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
const basic = (c: CreatedClient): string => `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}`
const decode = (jwt: string): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString())

function token (app: FastifyInstance, client: CreatedClient | null, params: Record<string, string>) {
  return app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(client !== null ? { authorization: basic(client) } : {}) },
    payload: new URLSearchParams(params).toString()
  })
}

interface World {
  app: FastifyInstance
  store: Store
  web: CreatedClient
  gateway: CreatedClient
  billing: CreatedClient
  user: { id: string, username: string }
  userPair: { access_token: string, refresh_token: string }
}

async function world (t: Test, env: Record<string, string> = {}, storeOverride?: Store): Promise<World> {
  const store = storeOverride ?? memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: { ...ADMIN_ENV, ...env }, store })
  const admin = await adminToken(app)
  // The user's app: logs users in with the orders and billing scopes.
  const web = await createClient(app, {
    name: 'web', grants: ['password', 'refresh_token'], scopes: ['orders:read', 'orders:write', 'billing:read'], audiences: ['web-api']
  }, admin)
  // A service that received the user's token and calls others for them.
  const gateway = await createClient(app, {
    name: 'gateway', grants: [GRANT], audiences: ['orders-api', 'billing-api'], scopes: ['orders:read', 'billing:read'], access_token_ttl: 600
  }, admin)
  const billing = await createClient(app, { name: 'billing', grants: [GRANT], audiences: ['ledger-api'], scopes: ['billing:read'] }, admin)
  const user = await registerUser(app)
  const login = await token(app, web, { grant_type: 'password', username: user.username, password: PASSWORD })
  if (login.statusCode !== 200) throw new Error(login.body)
  return { app, store, web, gateway, billing, user, userPair: login.json() }
}

const exchange = (w: World, client: CreatedClient | null, subject: string, extra: Record<string, string> = {}) =>
  token(w.app, client, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, ...extra })

t.test('an exchanged token: same sub and sid, act names the caller, narrower scope and audience, no refresh token', async (t) => {
  const w = await world(t)
  const res = await exchange(w, w.gateway, w.userPair.access_token, { audience: 'orders-api', scope: 'orders:read' })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type'])
  t.equal(body.issued_token_type, AT)
  t.equal(body.token_type, 'Bearer')
  t.equal(body.scope, 'orders:read')
  t.ok(body.expires_in > 0 && body.expires_in <= 600, 'the caller\'s lifetime')
  const subject = decode(w.userPair.access_token)
  const claims = decode(body.access_token)
  t.equal(claims.sub, subject.sub, 'sub kept')
  t.equal(claims.sid, subject.sid, 'sid kept')
  t.equal(claims.client_id, w.gateway.client_id)
  t.same(claims.act, { sub: w.gateway.client_id })
  t.same(claims.aud, ['token-orchestrator', 'orders-api'])
  t.ok(claims.exp <= subject.exp, 'no longer than the subject token')
  t.same(claims.roles, subject.roles)
  t.not(claims.jti, subject.jti)

  const validated = await validate(w.app, body.access_token)
  t.equal(validated.valid, true, '/token/validate accepts it')
  t.same(validated.claims?.act, { sub: w.gateway.client_id }, 'act shows in validate\'s claims')
  const verify = await w.app.inject({ url: '/auth/verify', headers: { authorization: `Bearer ${body.access_token}` } })
  t.equal(verify.statusCode, 200, '/auth/verify accepts it')
  t.equal(verify.headers['x-auth-subject'], subject.sub)
  t.equal(verify.headers['x-auth-client'], w.gateway.client_id)
  const introspected = await w.app.inject({
    method: 'POST', url: '/oauth/introspect', headers: { authorization: basic(w.gateway), 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${body.access_token}`
  })
  t.same(introspected.json().act, { sub: w.gateway.client_id }, 'introspection shows act')

  const defaults = (await exchange(w, w.gateway, w.userPair.access_token)).json()
  t.equal(defaults.scope, 'orders:read billing:read', 'no scope: what the subject has and the caller may have')
  t.same(decode(defaults.access_token).aud, ['token-orchestrator', 'orders-api', 'billing-api'], 'no audience: all of the caller\'s')
})

t.test('disabling the login client ends the tokens exchanged from its tokens, everywhere', async (t) => {
  const w = await world(t)
  const exchanged = (await exchange(w, w.gateway, w.userPair.access_token)).json().access_token
  t.equal((await validate(w.app, exchanged)).valid, true, 'valid before the disable (and now in the verified-token cache)')
  const feedBefore = (await w.store.revocations.since(0, new Date(), 1000)).length
  await disableClient(w.app, w.web.client_id)
  t.same(await validate(w.app, w.userPair.access_token), { valid: false, error: 'revoked' }, 'the login client\'s own token')
  t.same(await validate(w.app, exchanged), { valid: false, error: 'revoked' }, 'the exchanged token: validate')
  const verify = await w.app.inject({ url: '/auth/verify', headers: { authorization: `Bearer ${exchanged}` } })
  t.equal(verify.statusCode, 401, 'the exchanged token: gateway verify')
  const introspected = await w.app.inject({
    method: 'POST', url: '/oauth/introspect', headers: { authorization: basic(w.gateway), 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${exchanged}`
  })
  t.same(introspected.json(), { active: false }, 'the exchanged token: introspection')
  const entries = (await w.store.revocations.since(0, new Date(), 1000)).slice(feedBefore)
  const sid = decode(exchanged).sid
  t.ok(entries.some((e) => e.kind === 'sid' && e.value === sid), 'the session is revoked by sid in the feed, for verifiers')
  t.equal((await validate(w.app, (await exchange(w, w.gateway, w.userPair.access_token)).json().access_token ?? 'none')).valid, false, 'no new exchange from it')
  t.equal((await w.store.sessions.find(sid))?.revokedReason, 'client_disabled')
})

t.test('disabling a client in the middle of a chain ends the tokens exchanged from its exchanged tokens', async (t) => {
  const w = await world(t)
  // web login -> gateway exchanges it -> billing exchanges the gateway's token.
  const first = (await exchange(w, w.gateway, w.userPair.access_token, { audience: 'billing-api', scope: 'billing:read' })).json().access_token
  const second = (await exchange(w, w.billing, first, { audience: 'ledger-api' })).json().access_token
  const sibling = (await exchange(w, w.billing, w.userPair.access_token, { audience: 'ledger-api' })).json().access_token
  for (const tok of [first, second, sibling]) t.equal((await validate(w.app, tok)).valid, true, 'valid before (and cached)')
  await disableClient(w.app, w.gateway.client_id)
  t.same(await validate(w.app, first), { valid: false, error: 'revoked' }, 'the gateway\'s own exchanged token')
  t.same(await validate(w.app, second), { valid: false, error: 'revoked' }, 'billing\'s token exchanged from it: act names the gateway')
  const verify = await w.app.inject({ url: '/auth/verify', headers: { authorization: `Bearer ${second}` } })
  t.equal(verify.statusCode, 401, 'gateway verify refuses it')
  const introspected = await w.app.inject({
    method: 'POST', url: '/oauth/introspect', headers: { authorization: basic(w.billing), 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${second}`
  })
  t.same(introspected.json(), { active: false }, 'introspection refuses it')
  t.equal((await validate(w.app, sibling)).valid, true, 'billing\'s token exchanged straight from the login stays valid')
  t.equal((await validate(w.app, w.userPair.access_token)).valid, true, 'so does the login itself')
})

t.test('re-exchange nests act; the lifetime never grows', async (t) => {
  const w = await world(t, { ACCESS_TOKEN_TTL: '900' })
  const first = (await exchange(w, w.gateway, w.userPair.access_token, { audience: 'billing-api', scope: 'billing:read' })).json()
  const second = await exchange(w, w.billing, first.access_token, { audience: 'ledger-api' })
  t.equal(second.statusCode, 200, second.body)
  const claims = decode(second.json().access_token)
  t.same(claims.act, { sub: w.billing.client_id, act: { sub: w.gateway.client_id } })
  t.equal(claims.sid, decode(w.userPair.access_token).sid)
  t.equal(second.json().scope, 'billing:read')
  t.ok(claims.exp <= decode(first.access_token).exp)
  t.same((await validate(w.app, second.json().access_token)).claims?.act, claims.act, 'nested act in validate')
})

t.test('the user\'s logout ends every exchanged token', async (t) => {
  const w = await world(t)
  const first = (await exchange(w, w.gateway, w.userPair.access_token, { audience: 'billing-api' })).json()
  const second = (await exchange(w, w.billing, first.access_token)).json()
  const logout = await w.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: w.userPair.refresh_token } })
  t.equal(logout.statusCode, 204)
  for (const jwt of [first.access_token, second.access_token]) {
    t.same(await validate(w.app, jwt), { valid: false, error: 'revoked' })
    t.equal((await w.app.inject({ url: '/auth/verify', headers: { authorization: `Bearer ${jwt}` } })).statusCode, 401)
  }
  const again = await exchange(w, w.gateway, w.userPair.access_token)
  t.equal(again.statusCode, 400)
  t.same(again.json(), { error: 'invalid_grant', error_description: 'the subject token is invalid, expired or revoked' })
})

t.test('refusals', async (t) => {
  const w = await world(t)
  const subject = w.userPair.access_token
  const cases: Array<[string, CreatedClient | null, Record<string, string>, number, string]> = [
    ['no client authentication', null, { grant_type: GRANT, subject_token: subject, subject_token_type: AT }, 401, 'invalid_client'],
    ['a client without the grant', w.web, { grant_type: GRANT, subject_token: subject, subject_token_type: AT }, 400, 'unauthorized_client'],
    ['no subject_token', w.gateway, { grant_type: GRANT, subject_token_type: AT }, 400, 'invalid_request'],
    ['no subject_token_type', w.gateway, { grant_type: GRANT, subject_token: subject }, 400, 'invalid_request'],
    ['a refresh token type', w.gateway, { grant_type: GRANT, subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }, 400, 'invalid_request'],
    ['an id_token requested', w.gateway, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, requested_token_type: 'urn:ietf:params:oauth:token-type:id_token' }, 400, 'invalid_request'],
    ['an actor token', w.gateway, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, actor_token: subject, actor_token_type: AT }, 400, 'invalid_request'],
    ['an audience not the caller\'s', w.gateway, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, audience: 'web-api' }, 400, 'invalid_target'],
    ['a resource', w.gateway, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, resource: 'https://orders.example' }, 400, 'invalid_target'],
    ['a scope the subject lacks', w.billing, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, scope: 'orders:read' }, 400, 'invalid_scope'],
    ['a scope the caller may not have', w.gateway, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, scope: 'orders:write' }, 400, 'invalid_scope'],
    ['a malformed scope', w.gateway, { grant_type: GRANT, subject_token: subject, subject_token_type: AT, scope: 'a"b' }, 400, 'invalid_scope'],
    ['garbage subject', w.gateway, { grant_type: GRANT, subject_token: 'not.a.token', subject_token_type: AT }, 400, 'invalid_grant'],
    ['a refresh token as subject', w.gateway, { grant_type: GRANT, subject_token: w.userPair.refresh_token, subject_token_type: AT }, 400, 'invalid_grant'],
    ['an expired subject', w.gateway, { grant_type: GRANT, subject_token: accessToken({ ...decode(subject), jti: 'old', iat: 1000, exp: 2000 }), subject_token_type: AT }, 400, 'invalid_grant'],
    ['a service token as subject', w.gateway, { grant_type: GRANT, subject_token: accessToken({ sid: undefined }), subject_token_type: AT }, 400, 'invalid_grant'],
    ['a forged session', w.gateway, { grant_type: GRANT, subject_token: accessToken({ sub: w.user.id, sid: 'no-such-session' }), subject_token_type: AT }, 400, 'invalid_grant']
  ]
  for (const [name, client, params, status, error] of cases) {
    const res = await token(w.app, client, params)
    t.equal(res.statusCode, status, `${name}: ${res.body}`)
    t.equal(res.json().error, error, name)
    t.type(res.json().error_description, 'string')
  }
  // A public client may not have the grant at all.
  const admin = await adminToken(w.app)
  const pub = await w.app.inject({
    method: 'POST', url: '/admin/clients', headers: { authorization: `Bearer ${admin}` }, payload: { name: 'spa', public: true, grants: [GRANT] }
  })
  t.equal(pub.statusCode, 400, 'a public client cannot be given token exchange')
})

t.test('a revoked subject, a disabled user, a disabled caller: refused', async (t) => {
  const w = await world(t)
  const revoked = await w.app.inject({
    method: 'POST',
    url: '/oauth/revoke',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(w.web) },
    payload: new URLSearchParams({ token: w.userPair.access_token }).toString()
  })
  t.equal(revoked.statusCode, 200, 'revoked by its client')
  t.equal((await exchange(w, w.gateway, w.userPair.access_token)).json().error, 'invalid_grant', 'revoked by jti')

  const login = (await token(w.app, w.web, { grant_type: 'password', username: w.user.username, password: PASSWORD })).json()
  const exchanged = (await exchange(w, w.gateway, login.access_token)).json().access_token
  // Disabled in the store only (as another instance would see it before the revocation arrives).
  await w.store.users.setDisabled(w.user.id, true)
  t.equal((await exchange(w, w.gateway, login.access_token)).json().error, 'invalid_grant', 'a disabled user')
  await w.store.users.setDisabled(w.user.id, false)

  await disableClient(w.app, w.gateway.client_id)
  t.same(await validate(w.app, exchanged), { valid: false, error: 'revoked' }, 'the caller\'s disable ends its exchanged tokens')
  t.equal((await exchange(w, w.gateway, login.access_token)).statusCode, 401, 'a disabled caller cannot authenticate')
})

t.test('metadata lists the grant', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/.well-known/oauth-authorization-server' })
  t.ok(res.json().grant_types_supported.includes(GRANT))
})

t.test('store down: 503 temporarily_unavailable, nothing issued', async (t) => {
  const inner = memoryStore()
  const store = faultyStore(inner)
  const w = await world(t, {}, store)
  store.down = true
  const res = await exchange(w, w.gateway, w.userPair.access_token)
  store.down = false
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'temporarily_unavailable')
  t.notMatch(res.body, /eyJ/)
})
