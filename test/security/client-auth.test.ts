// Client authentication on /auth: a token carries a client's scopes and
// audiences only when that client authenticated, or when it is public and its
// grants allow the flow. Confidential clients are named only with their secret;
// refresh tokens go only to clients with the refresh_token grant.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, newSession, PASSWORD, validate } from '../helper.js'
import { ADMIN_ENV, basic, createClient } from '../support/clients.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const decode = (jwt: string): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString())

const tokenRequest = async (app: FastifyInstance, params: Record<string, string>, authorization?: string) =>
  app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { ...FORM, ...(authorization !== undefined ? { authorization } : {}) },
    payload: new URLSearchParams(params).toString()
  })

const loginWith = async (app: FastifyInstance, username: string, clientId?: string) =>
  app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: PASSWORD, ...(clientId !== undefined ? { client_id: clientId } : {}) } })

async function setup (t: Test): Promise<{ app: FastifyInstance, username: string, billing: { id: string, secret: string } }> {
  const app = await build(t, { env: ADMIN_ENV })
  const created = await createClient(app, {
    name: 'Billing', grants: ['password', 'refresh_token'], audiences: ['billing-api'], scopes: ['billing:admin']
  })
  const user = await newSession(app)
  return { app, username: user.username, billing: { id: created.client_id, secret: created.client_secret } }
}

t.test('/auth/login naming a confidential client is invalid_client, as /oauth/token is', async (t) => {
  const { app, username, billing } = await setup(t)
  const viaAuth = await loginWith(app, username, billing.id)
  t.equal(viaAuth.statusCode, 401)
  t.same(viaAuth.json(), {
    error: 'invalid_client', message: 'client_id must name an enabled public client allowed the password grant'
  })
  t.notOk(viaAuth.body.includes('access_token'), 'no token')
  const viaOAuth = await tokenRequest(app, { grant_type: 'password', username, password: PASSWORD, client_id: billing.id })
  t.equal(viaOAuth.statusCode, 401, 'the token endpoint agrees')
  t.equal(viaOAuth.json().error, 'invalid_client')

  // With its secret, at the token endpoint, the client gets its scopes and audiences.
  const authed = await tokenRequest(app, { grant_type: 'password', username, password: PASSWORD }, basic(billing.id, billing.secret))
  t.equal(authed.statusCode, 200)
  t.equal(decode(authed.json().access_token).scope, 'billing:admin')
  t.same(decode(authed.json().access_token).aud, ['token-orchestrator', 'billing-api'])
})

t.test('/auth/refresh refuses a confidential client\'s refresh token without ending its session', async (t) => {
  const { app, username, billing } = await setup(t)
  const pair = (await tokenRequest(app, { grant_type: 'password', username, password: PASSWORD }, basic(billing.id, billing.secret))).json()
  const refused = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().error, 'invalid_grant')
  t.equal((await validate(app, pair.access_token)).valid, true, 'the session goes on')
  const rotated = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: pair.refresh_token }, basic(billing.id, billing.secret))
  t.equal(rotated.statusCode, 200, 'and still refreshes at /oauth/token with the secret (not treated as reuse)')
  const unauthenticated = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: rotated.json().refresh_token, client_id: billing.id })
  t.equal(unauthenticated.statusCode, 401, 'a confidential client_id without its secret is not enough')
  t.equal(unauthenticated.json().error, 'invalid_client')
})

t.test('refresh tokens only for clients with the refresh_token grant', async (t) => {
  const { app, username } = await setup(t)
  const conf = await createClient(app, { name: 'no refresh', grants: ['password'] })
  const oauth = await tokenRequest(app, { grant_type: 'password', username, password: PASSWORD }, basic(conf.client_id, conf.client_secret))
  t.equal(oauth.statusCode, 200)
  t.same(Object.keys(oauth.json()).sort(), ['access_token', 'expires_in', 'scope', 'token_type'], 'no refresh token at /oauth/token')

  const pub = await createClient(app, { name: 'public, no refresh', public: true, grants: ['password'] })
  const login = await loginWith(app, username, pub.client_id)
  t.equal(login.statusCode, 200)
  t.same(Object.keys(login.json()).sort(), ['access_token', 'expires_in', 'token_type'], 'no refresh token at /auth/login')
  t.equal(login.json().expires_in, 900)
  const claims = decode(login.json().access_token)
  t.equal(claims.client_id, pub.client_id)
  t.type(claims.sid, 'string', 'a session all the same, so logout-all reaches it')
  const refused = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${login.json().access_token}` } })
  t.equal(refused.statusCode, 403, 'another client\'s token cannot log the user out everywhere')
  t.same(await validate(app, login.json().access_token), { valid: true, claims }, 'and ended nothing')
  const own = await loginWith(app, username)
  const logoutAll = await app.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${own.json().access_token}` } })
  t.equal(logoutAll.statusCode, 204, 'the user\'s own first-party token can')
  t.same(await validate(app, login.json().access_token), { valid: false, error: 'revoked' }, 'and it reaches that session')
})

t.test('public clients: named by client_id alone, only for the grants they have', async (t) => {
  const { app, username, billing } = await setup(t)
  const shop = await createClient(app, {
    name: 'Shop app', public: true, audiences: ['shop-api'], scopes: ['orders:read']
  })
  t.equal(shop.public, true)
  t.equal(shop.client_secret, null)
  t.same(shop.grants, ['password', 'refresh_token'], 'a public client\'s default grants')

  const login = await loginWith(app, username, shop.client_id)
  t.equal(login.statusCode, 200)
  const pair = login.json()
  t.equal(decode(pair.access_token).scope, 'orders:read')
  t.same(decode(pair.access_token).aud, ['token-orchestrator', 'shop-api'])
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: pair.refresh_token } })
  t.equal(refreshed.statusCode, 200, 'a public client\'s refresh token rotates at /auth/refresh')

  const oauth = await tokenRequest(app, { grant_type: 'password', username, password: PASSWORD, client_id: shop.client_id })
  t.equal(oauth.statusCode, 200, 'client_id without a secret at /oauth/token: a public client')
  t.equal(oauth.json().scope, 'orders:read')
  const oauthRefresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: oauth.json().refresh_token, client_id: shop.client_id })
  t.equal(oauthRefresh.statusCode, 200)
  const stolen = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: oauthRefresh.json().refresh_token, client_id: billing.id })
  t.equal(stolen.statusCode, 401, 'naming a confidential client instead is refused')
  const withSecret = await tokenRequest(app, { grant_type: 'password', username, password: PASSWORD, client_id: shop.client_id, client_secret: 'guess' })
  t.equal(withSecret.statusCode, 401, 'a public client has no secret to present')
  t.equal(withSecret.json().error, 'invalid_client')
  const cc = await tokenRequest(app, { grant_type: 'client_credentials', client_id: shop.client_id })
  t.equal(cc.statusCode, 401, 'no client_credentials for a public client')

  const refreshOnly = await createClient(app, { name: 'refresh only', public: true, grants: ['refresh_token'] })
  const noPassword = await loginWith(app, username, refreshOnly.client_id)
  t.equal(noPassword.statusCode, 401, 'a public client without the password grant cannot log in')
  t.equal(noPassword.json().error, 'invalid_client')

  const dflt = await loginWith(app, username, 'default')
  t.equal(dflt.statusCode, 200, 'the default client is public with password and refresh_token')
  t.type(dflt.json().refresh_token, 'string')
  const dfltRefresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: dflt.json().refresh_token } })
  t.equal(dfltRefresh.statusCode, 200)
})
