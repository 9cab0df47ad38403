// The OAuth 2.0 endpoints with hand-built requests: RFC 6749 token endpoint
// (grants, client authentication, §5.1 responses, §5.2 errors), RFC 7662
// introspection, RFC 7009 revocation, RFC 8414 metadata.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, newSession, PASSWORD, validate } from '../helper.js'
import { ADMIN_ENV, basic, createClient, disableClient } from '../support/clients.js'

const form = (params: Record<string, string>): string => new URLSearchParams(params).toString()
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const decode = (jwt: string): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString())

async function setup (t: Test): Promise<{
  app: FastifyInstance
  client: { id: string, secret: string }
  other: { id: string, secret: string }
}> {
  const app = await build(t, { env: { ...ADMIN_ENV, PUBLIC_URL: 'https://auth.example.com/' } })
  const make = async (grants: Array<'password' | 'refresh_token' | 'client_credentials'>, extraScopes: string[] = []) => {
    const created = await createClient(app, {
      name: 'svc', grants, scopes: ['orders:read', 'orders:write', ...extraScopes], audiences: ['orders-api']
    })
    return { id: created.client_id, secret: created.client_secret }
  }
  // `other` is the resource server that introspects everyone's tokens.
  return {
    app,
    client: await make(['client_credentials', 'password', 'refresh_token']),
    other: await make(['client_credentials'], ['tokens:introspect'])
  }
}

const tokenRequest = async (app: FastifyInstance, params: Record<string, string>, authorization?: string) =>
  app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { ...FORM, ...(authorization !== undefined ? { authorization } : {}) },
    payload: form(params)
  })

t.test('client_credentials: Basic or body auth, form or JSON, scope rules', async (t) => {
  const { app, client } = await setup(t)
  const res = await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, client.secret))
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers.pragma, 'no-cache')
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'], 'no refresh token')
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 900)
  t.equal(body.scope, 'orders:read orders:write', 'all allowed scopes when none requested')
  const claims = decode(body.access_token)
  t.equal(claims.sub, client.id, 'sub = client_id')
  t.equal(claims.client_id, client.id)
  t.notOk('sid' in claims, 'no session')
  t.same(claims.roles, [])
  t.same(claims.aud, ['token-orchestrator', 'orders-api'])
  t.equal((await validate(app, body.access_token)).valid, true)

  const post = await tokenRequest(app, { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret, scope: 'orders:read' })
  t.equal(post.statusCode, 200, 'client_secret_post')
  t.equal(post.json().scope, 'orders:read', 'the requested subset')
  t.equal(decode(post.json().access_token).scope, 'orders:read')

  const json = await app.inject({
    method: 'POST', url: '/oauth/token', payload: { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }
  })
  t.equal(json.statusCode, 200, 'JSON body')

  const badScope = await tokenRequest(app, { grant_type: 'client_credentials', scope: 'orders:read admin' }, basic(client.id, client.secret))
  t.equal(badScope.statusCode, 400)
  t.same(badScope.json(), { error: 'invalid_scope', error_description: 'scope not allowed for this client: admin' })
})

t.test('RFC 6749 §5.2 errors', async (t) => {
  const { app, client, other } = await setup(t)
  const wrongBasic = await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, 'wrong'))
  t.equal(wrongBasic.statusCode, 401)
  t.equal(wrongBasic.json().error, 'invalid_client')
  t.match(wrongBasic.headers['www-authenticate'], /^Basic realm=/, 'Basic challenge when Basic was used')
  t.equal(wrongBasic.headers['cache-control'], 'no-store')
  t.notOk('message' in wrongBasic.json(), 'OAuth shape, not {error, message}')

  const wrongPost = await tokenRequest(app, { grant_type: 'client_credentials', client_id: client.id, client_secret: 'wrong' })
  t.equal(wrongPost.statusCode, 401)
  t.equal(wrongPost.json().error, 'invalid_client')
  t.equal(wrongPost.headers['www-authenticate'], undefined, 'no Basic challenge for body credentials')

  const cases: Array<[Record<string, string>, string | undefined, number, string, string]> = [
    [{ grant_type: 'client_credentials' }, basic('nobody', 'x'), 401, 'invalid_client', 'unknown client'],
    [{ grant_type: 'client_credentials' }, undefined, 401, 'invalid_client', 'no client authentication'],
    [{ grant_type: 'client_credentials', client_id: client.id }, undefined, 401, 'invalid_client', 'client_id without secret'],
    [{ grant_type: 'client_credentials', client_secret: client.secret }, basic(client.id, client.secret), 400, 'invalid_request', 'two auth methods'],
    [{}, basic(client.id, client.secret), 400, 'invalid_request', 'no grant_type'],
    [{ grant_type: 'authorization_code', code: 'x' }, basic(client.id, client.secret), 400, 'unsupported_grant_type', 'unsupported grant'],
    [{ grant_type: 'password', username: 'a', password: 'b' }, basic(other.id, other.secret), 400, 'unauthorized_client', 'grant not allowed'],
    [{ grant_type: 'client_credentials', client_id: 'default' }, undefined, 401, 'invalid_client', 'the public client'],
    [{ grant_type: 'password', username: 'nobody' }, undefined, 400, 'invalid_request', 'password grant without password'],
    [{ grant_type: 'refresh_token' }, undefined, 400, 'invalid_request', 'no refresh_token'],
    [{ grant_type: 'refresh_token', refresh_token: 'garbage' }, undefined, 400, 'invalid_grant', 'bad refresh token']
  ]
  for (const [params, auth, status, error, why] of cases) {
    const res = await tokenRequest(app, params, auth)
    t.equal(res.statusCode, status, `${why}: status`)
    t.equal(res.json().error, error, `${why}: ${error}`)
    t.type(res.json().error_description, 'string')
  }

  const repeated = await app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { ...FORM, authorization: basic(client.id, client.secret) },
    payload: 'grant_type=client_credentials&scope=orders:read&scope=orders:write'
  })
  t.equal(repeated.statusCode, 400)
  t.same(repeated.json(), { error: 'invalid_request', error_description: 'parameter scope is repeated' })

  const wrongType = await app.inject({ method: 'POST', url: '/oauth/token', payload: { grant_type: 5 } })
  t.equal(wrongType.statusCode, 400)
  t.equal(wrongType.json().error, 'invalid_request', 'schema errors are OAuth-shaped too')

  const xml = await app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'text/xml' }, payload: '<a/>' })
  t.equal(xml.statusCode, 400, 'unsupported media type')
  t.equal(xml.json().error, 'invalid_request')
  const badJson = await app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(badJson.statusCode, 400)
  t.equal(badJson.json().error, 'invalid_request')

  const malformedBasic = await tokenRequest(app, { grant_type: 'client_credentials' }, 'Basic !!!')
  t.equal(malformedBasic.statusCode, 401)
  t.equal(malformedBasic.json().error, 'invalid_client')

  // HTTP Basic has the body's limits: 128 characters of client_id, 256 of secret.
  const longId = await tokenRequest(app, { grant_type: 'client_credentials' }, basic('i'.repeat(129), 'wrong'))
  t.same([longId.statusCode, longId.json()], [401, { error: 'invalid_client', error_description: 'malformed HTTP Basic credentials' }], 'a client_id over 128 characters')
  const longSecret = await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, 's'.repeat(257)))
  t.same([longSecret.statusCode, longSecret.json().error_description], [401, 'malformed HTTP Basic credentials'], 'a secret over 256 characters')
  const atLimits = await tokenRequest(app, { grant_type: 'client_credentials' }, basic('i'.repeat(128), 's'.repeat(256)))
  t.same([atLimits.statusCode, atLimits.json().error_description], [401, 'client authentication failed'], 'at the limits: checked, and wrong')
})

t.test('password and refresh_token grants follow /auth rotation and reuse rules', async (t) => {
  const { app, client, other } = await setup(t)
  const user = await newSession(app)
  const pub = await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD })
  t.equal(pub.statusCode, 200, 'the public default client')
  t.equal(decode(pub.json().access_token).client_id, 'default')
  t.type(pub.json().refresh_token, 'string')
  t.equal(pub.json().scope, '')

  const wrong = await tokenRequest(app, { grant_type: 'password', username: user.username, password: 'wrong password' })
  t.equal(wrong.statusCode, 400)
  t.equal(wrong.json().error, 'invalid_grant')

  const conf = await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD }, basic(client.id, client.secret))
  t.equal(conf.statusCode, 200)
  const pair = conf.json()
  t.equal(decode(pair.access_token).client_id, client.id)
  t.equal(pair.scope, 'orders:read orders:write')

  const bad = await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD, scope: 'nope' }, basic(client.id, client.secret))
  t.equal(bad.json().error, 'invalid_scope')

  const otherClient = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: pair.refresh_token })
  t.equal(otherClient.statusCode, 400, 'a refresh token is bound to its client')
  t.equal(otherClient.json().error, 'invalid_grant')
  const notAllowed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: pair.refresh_token }, basic(other.id, other.secret))
  t.equal(notAllowed.json().error, 'unauthorized_client')

  const rotated = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: pair.refresh_token }, basic(client.id, client.secret))
  t.equal(rotated.statusCode, 200, 'rotation')
  const next = rotated.json()
  t.not(next.refresh_token, pair.refresh_token)
  t.equal(decode(next.access_token).sid, decode(pair.access_token).sid, 'same session')

  const reuse = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: pair.refresh_token }, basic(client.id, client.secret))
  t.equal(reuse.statusCode, 400)
  t.equal(reuse.json().error, 'invalid_grant', 'reuse')
  const after = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: next.refresh_token }, basic(client.id, client.secret))
  t.equal(after.json().error, 'invalid_grant', 'reuse ended the whole session')
  t.same(await validate(app, next.access_token), { valid: false, error: 'revoked' })
  const viaAuth = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: next.refresh_token } })
  t.equal(viaAuth.statusCode, 401, '/auth/refresh agrees')
})

t.test('password and refresh_token grants issue the requested subset of scopes', async (t) => {
  const { app, client } = await setup(t)
  const user = await newSession(app)
  const auth = basic(client.id, client.secret)
  const narrow = await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD, scope: 'orders:read' }, auth)
  t.equal(narrow.statusCode, 200, narrow.body)
  t.equal(narrow.json().scope, 'orders:read', 'password grant: the requested subset')
  t.equal(decode(narrow.json().access_token).scope, 'orders:read', 'and the access token carries only it')

  const refreshed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: narrow.json().refresh_token, scope: 'orders:read' }, auth)
  t.equal(refreshed.statusCode, 200, refreshed.body)
  t.equal(refreshed.json().scope, 'orders:read', 'refresh_token grant: the requested subset')
  t.equal(decode(refreshed.json().access_token).scope, 'orders:read')

  const wider = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: refreshed.json().refresh_token, scope: 'orders:read admin' }, auth)
  t.equal(wider.statusCode, 400)
  t.same(wider.json(), { error: 'invalid_scope', error_description: 'scope not allowed for this client: admin' })
  const still = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: refreshed.json().refresh_token, scope: 'orders:write' }, auth)
  t.equal(still.statusCode, 200, 'a refused scope ends nothing: the refresh token still rotates')
  t.equal(decode(still.json().access_token).scope, 'orders:write')
})

t.test('introspection (RFC 7662)', async (t) => {
  const { app, client, other } = await setup(t)
  const auth = basic(other.id, other.secret)
  const introspect = async (token: string, authorization?: string, extra: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/oauth/introspect',
      headers: { ...FORM, ...(authorization !== undefined ? { authorization } : {}) },
      payload: form({ token, ...extra })
    })
  const cc = (await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, client.secret))).json()

  const none = await introspect(cc.access_token)
  t.equal(none.statusCode, 401, 'client authentication required')
  t.equal(none.json().error, 'invalid_client')
  t.equal((await introspect(cc.access_token, basic(other.id, 'wrong'))).statusCode, 401)

  const active = await introspect(cc.access_token, auth)
  t.equal(active.statusCode, 200)
  t.equal(active.headers['cache-control'], 'no-store')
  const info = active.json()
  t.match(info, { active: true, token_type: 'Bearer', sub: client.id, client_id: client.id, scope: 'orders:read orders:write' })
  t.same(info.aud, ['token-orchestrator', 'orders-api'])
  t.type(info.exp, 'number')
  t.type(info.jti, 'string')

  for (const token of ['garbage', 'a.b.c', cc.access_token.slice(0, -2) + 'xx']) {
    const res = await introspect(token, auth)
    t.equal(res.statusCode, 200)
    t.equal(res.body, '{"active":false}', 'inactive is exactly {"active":false}')
  }

  const user = await newSession(app)
  const rt = await introspect(user.refresh_token, auth, { token_type_hint: 'refresh_token' })
  t.match(rt.json(), { active: true, token_type: 'refresh_token', sub: user.userId, client_id: 'default' })

  await app.inject({ method: 'POST', url: '/oauth/revoke', headers: { ...FORM, authorization: basic(client.id, client.secret) }, payload: form({ token: cc.access_token }) })
  t.equal((await introspect(cc.access_token, auth)).body, '{"active":false}', 'revoked → inactive')
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.refresh_token } })
  t.equal((await introspect(user.refresh_token, auth)).body, '{"active":false}', 'ended session → inactive')

  const missing = await app.inject({ method: 'POST', url: '/oauth/introspect', headers: { ...FORM, authorization: auth }, payload: '' })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'invalid_request')
})

t.test('revocation (RFC 7009)', async (t) => {
  const { app, client, other } = await setup(t)
  const revoke = async (token: string, authorization?: string, extra: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/oauth/revoke',
      headers: { ...FORM, ...(authorization !== undefined ? { authorization } : {}) },
      payload: form({ token, ...extra })
    })
  const mine = (await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, client.secret))).json().access_token
  const theirs = (await tokenRequest(app, { grant_type: 'client_credentials' }, basic(other.id, other.secret))).json().access_token

  t.equal((await revoke(mine)).statusCode, 401, 'client authentication required')
  t.equal((await validate(app, mine)).valid, true)

  const res = await revoke(mine, basic(client.id, client.secret))
  t.equal(res.statusCode, 200)
  t.equal(res.body, '')
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(await validate(app, mine), { valid: false, error: 'revoked' })

  t.equal((await revoke('garbage', basic(client.id, client.secret))).statusCode, 200, 'unknown token: 200')
  t.equal((await revoke(mine, basic(client.id, client.secret))).statusCode, 200, 'again: 200')
  t.equal((await revoke(theirs, basic(client.id, client.secret))).statusCode, 200, 'another client\'s token: 200')
  t.equal((await validate(app, theirs)).valid, true, '... and left alone')

  const user = await newSession(app)
  const pair = (await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD }, basic(client.id, client.secret))).json()
  const rt = await revoke(pair.refresh_token, basic(client.id, client.secret), { token_type_hint: 'refresh_token' })
  t.equal(rt.statusCode, 200)
  t.same(await validate(app, pair.access_token), { valid: false, error: 'revoked' }, 'the session ended')
})

t.test('/token/revoke leaves a confidential client\'s tokens to /oauth/revoke, where the client authenticates (RFC 7009 §2.1)', async (t) => {
  const { app, client } = await setup(t)
  const cc = (await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, client.secret))).json().access_token
  const user = await newSession(app)
  const pair = (await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD }, basic(client.id, client.secret))).json()
  for (const [token, why] of [[cc, 'its client_credentials token'], [pair.access_token, 'its access token for a user'], [pair.refresh_token, 'its refresh token']]) {
    const res = await app.inject({ method: 'POST', url: '/token/revoke', payload: { token } })
    t.equal(res.statusCode, 401, `${why}: refused without the client`)
    t.equal(res.json().error, 'invalid_client')
    t.match(res.json().message, /\/oauth\/revoke/)
  }
  t.equal((await validate(app, cc)).valid, true, 'nothing was revoked')
  t.equal((await validate(app, pair.access_token)).valid, true, 'the session goes on')
  const refreshed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: pair.refresh_token }, basic(client.id, client.secret))
  t.equal(refreshed.statusCode, 200, 'the refresh token still works')
  // First-party logins and garbage are as before.
  t.same((await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: user.access_token } })).json(), { revoked: true })
  t.same((await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: 'garbage' } })).json(), { revoked: false })
  // A public client's tokens need no client authentication (it has none).
  const spa = await createClient(app, { name: 'spa', public: true, grants: ['password', 'refresh_token'] })
  const spaPair = (await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD, client_id: spa.client_id })).json()
  t.ok(spaPair.access_token, 'a public client got tokens')
  t.same((await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: spaPair.access_token } })).json(), { revoked: true })
  t.same(await validate(app, spaPair.access_token), { valid: false, error: 'revoked' })
})

t.test('a disabled client gets nothing and its tokens stop validating', async (t) => {
  const { app, client } = await setup(t)
  const token = (await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, client.secret))).json().access_token
  await disableClient(app, client.id)
  t.same(await validate(app, token), { valid: false, error: 'revoked' })
  const res = await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, client.secret))
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'invalid_client')
})

t.test('RFC 8414 metadata', async (t) => {
  const { app } = await setup(t)
  const res = await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    issuer: 'https://auth.example.com',
    token_endpoint: 'https://auth.example.com/oauth/token',
    jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
    introspection_endpoint: 'https://auth.example.com/oauth/introspect',
    revocation_endpoint: 'https://auth.example.com/oauth/revoke',
    grant_types_supported: ['password', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    dpop_signing_alg_values_supported: ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256']
  })
})

t.test('the token endpoint is rate limited per IP, answered in the OAuth shape', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_AUTH: '2' } })
  const statuses: number[] = []
  let last
  for (let i = 0; i < 3; i++) {
    last = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: 'garbage' })
    statuses.push(last.statusCode)
  }
  t.same(statuses, [400, 400, 429])
  t.equal(last?.json().error, 'too_many_requests')
  t.type(last?.json().error_description, 'string')
  t.ok(last?.headers['retry-after'] !== undefined, 'Retry-After')
  t.equal(last?.headers['cache-control'], 'no-store')
})

t.test('a disabled client\'s refresh tokens introspect as inactive', async (t) => {
  const { app, client, other } = await setup(t)
  const user = await newSession(app)
  const pair = (await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD }, basic(client.id, client.secret))).json()
  const introspect = async () => app.inject({
    method: 'POST', url: '/oauth/introspect', headers: { ...FORM, authorization: basic(other.id, other.secret) }, payload: form({ token: pair.refresh_token })
  })
  t.equal((await introspect()).json().active, true)
  await disableClient(app, client.id)
  t.equal((await introspect()).body, '{"active":false}')
})

t.test('who may introspect: a client its own tokens; every token only with tokens:introspect', async (t) => {
  const { app, client, other } = await setup(t)
  const third = await createClient(app, { name: 'nosy', grants: ['client_credentials'] })
  const introspect = async (token: string, id: string, secret: string) => app.inject({
    method: 'POST', url: '/oauth/introspect', headers: { ...FORM, authorization: basic(id, secret) }, payload: form({ token })
  })
  const own = (await tokenRequest(app, { grant_type: 'client_credentials' }, basic(client.id, client.secret))).json()
  const user = await newSession(app)
  const pair = (await tokenRequest(app, { grant_type: 'password', username: user.username, password: PASSWORD }, basic(client.id, client.secret))).json()

  t.match((await introspect(own.access_token, client.id, client.secret)).json(), { active: true, client_id: client.id }, 'its own access token')
  t.match((await introspect(pair.refresh_token, client.id, client.secret)).json(), { active: true, token_type: 'refresh_token' }, 'its own refresh token')
  for (const token of [own.access_token, pair.access_token, pair.refresh_token, user.access_token, user.refresh_token]) {
    t.equal((await introspect(token, third.client_id, third.client_secret)).body, '{"active":false}', 'another client\'s token: inactive')
  }
  t.equal((await introspect(user.access_token, client.id, client.secret)).body, '{"active":false}', 'the default client\'s token: inactive')
  t.match((await introspect(user.access_token, other.id, other.secret)).json(), { active: true, client_id: 'default' }, 'with tokens:introspect: every token')
  t.match((await introspect(pair.refresh_token, other.id, other.secret)).json(), { active: true, client_id: client.id })
})
