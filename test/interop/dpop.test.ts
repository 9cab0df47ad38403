// DPoP (RFC 9449) from independent clients against the real listening server
// on 127.0.0.1: oauth4webapi gets DPoP-bound tokens (client credentials, the
// password grant of a public client, refresh) and uses them on a route behind
// the bearer guard; proofs made with jose (test/support/dpop.ts) drive every
// surface that takes an access token through the same refusals: no proof, a
// proof for another method, URL, token or key, a replayed proof; and the
// fresh proof that works.
import t, { type Test } from 'tap'
import * as oauth from 'oauth4webapi'
import { calculateJwkThumbprint, exportJWK } from 'jose'
import type { FastifyInstance } from 'fastify'
import { build, PASSWORD, registerUser } from '../helper.js'
import { ADMIN_ENV, adminToken, createClient } from '../support/clients.js'
import { dpopKey, refusesWhatIsNotItsProof, type Surface } from '../support/dpop.js'
import { freePort } from '../support/server-process.js'
import { countingStore } from '../security/support.js'

const insecure = { [oauth.allowInsecureRequests]: true }

async function listening (t: Test, env: Record<string, string> = {}): Promise<{ app: FastifyInstance, base: string, as: oauth.AuthorizationServer }> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const app = await build(t, { env: { ...ADMIN_ENV, JWT_ALGORITHM: 'ES256', PUBLIC_URL: base, JWT_ISSUER: base, PORT: String(port), ...env } })
  await app.listen({ port, host: '127.0.0.1' })
  const issuer = new URL(base)
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  return { app, base, as }
}

function payloadOf (token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
}

t.test('DPoP on every surface, from oauth4webapi and jose', async (t) => {
  const { app, base, as } = await listening(t)
  t.ok(as.dpop_signing_alg_values_supported?.includes('ES256'), 'metadata: dpop_signing_alg_values_supported')

  // oauth4webapi: client credentials under DPoP.
  const created = await createClient(app, { name: 'orders', scopes: ['orders:read'] })
  const client: oauth.Client = { client_id: created.client_id }
  const auth = oauth.ClientSecretBasic(created.client_secret)
  const key = await dpopKey()
  const DPoP = oauth.DPoP(client, key.keyPair)
  const tokens = await oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'orders:read' }), { DPoP, ...insecure }))
  t.equal(tokens.token_type, 'dpop', 'token_type DPoP')
  const token = tokens.access_token
  t.same(payloadOf(token).cnf, { jkt: await calculateJwkThumbprint(await exportJWK(key.keyPair.publicKey)) },
    'cnf.jkt is the thumbprint of the key oauth4webapi signed with')
  const other = await oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(), { DPoP, ...insecure }))
  const unbound = await oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(), insecure))
  t.equal(unbound.token_type, 'bearer', 'without a proof: a Bearer token')
  t.equal(payloadOf(unbound.access_token).cnf, undefined, 'and no cnf')

  const api = { method: 'GET', url: 'https://api.example.com/orders' }

  await t.test('/token/validate with the forwarded proof', async (t) => {
    const surface: Surface = async (tok, proof, request) => {
      const res = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: tok, ...(proof !== undefined ? { dpop: { proof, ...request } } : {}) } })
      t.equal(res.statusCode, 200)
      const body = res.json()
      if (!body.valid) t.match(body, { error: proof === undefined ? 'dpop_proof_required' : 'invalid_dpop_proof', message: String })
      return body.valid
    }
    await refusesWhatIsNotItsProof(t, surface, token, other.access_token, key, api)
    const ok = await app.inject({ method: 'POST', url: '/token/validate', payload: { token, dpop: { proof: await key.proof({ ...api, accessToken: token }), ...api } } })
    t.same(ok.json().claims.cnf, { jkt: key.jkt }, 'the claims carry cnf')
    const plain = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: unbound.access_token } })
    t.equal(plain.json().valid, true, 'an unbound token needs no proof')
  })

  await t.test('/token/validate/batch with {token, dpop}', async (t) => {
    const surface: Surface = async (tok, proof, request) => {
      const res = await app.inject({
        method: 'POST',
        url: '/token/validate/batch',
        payload: { tokens: [unbound.access_token, proof === undefined ? tok : { token: tok, dpop: { proof, ...request } }] }
      })
      t.equal(res.statusCode, 200)
      const [first, second] = res.json().results
      t.equal(first.valid, true, 'the unbound token beside it is valid')
      return second.valid
    }
    await refusesWhatIsNotItsProof(t, surface, token, other.access_token, key, api)
  })

  await t.test('/auth/verify with the forwarded DPoP and Authorization headers and the original method and URL', async (t) => {
    const surface: Surface = async (tok, proof, request) => {
      const res = await app.inject({
        method: 'GET',
        url: '/auth/verify',
        headers: {
          authorization: `DPoP ${tok}`,
          'x-original-method': request.method,
          'x-original-url': request.url,
          ...(proof !== undefined ? { dpop: proof } : {})
        }
      })
      if (res.statusCode !== 200) {
        t.equal(res.statusCode, 401)
        t.match(res.headers['www-authenticate'], /^DPoP error="(invalid_token|invalid_dpop_proof)", algs="/)
      } else {
        t.equal(res.headers['x-auth-client'], created.client_id)
      }
      return res.statusCode === 200
    }
    await refusesWhatIsNotItsProof(t, surface, token, other.access_token, key, api)
    const asBearer = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${token}` } })
    t.equal(asBearer.statusCode, 401, 'a bound token as a Bearer token: refused')
    const noOriginal = await app.inject({
      method: 'GET', url: '/auth/verify', headers: { authorization: `DPoP ${token}`, dpop: await key.proof({ ...api, accessToken: token }) }
    })
    t.equal(noOriginal.statusCode, 401, 'without the original method and URL: refused')
    t.equal(noOriginal.json().error, 'invalid_dpop_proof')
    // One complete header set, never a mix of the gateway's and the client's.
    const verifyWith = async (headers: Record<string, string>, url = '/auth/verify'): Promise<{ status: number, message: string }> => {
      const res = await app.inject({
        method: 'GET', url, headers: { authorization: `DPoP ${token}`, dpop: await key.proof({ ...api, accessToken: token }), ...headers }
      })
      return { status: res.statusCode, message: res.statusCode === 200 ? '' : res.json().message }
    }
    const mixed: Array<[string, Record<string, string>, string?]> = [
      ['X-Original-Method with the client\'s X-Forwarded-* for the URL',
        { 'x-original-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/orders' }],
      ['X-Original-URL without X-Original-Method', { 'x-original-url': api.url }],
      ['X-Original-URL that is not absolute', { 'x-original-method': 'GET', 'x-original-url': '/orders' }],
      ['X-Original-URL with a path in its authority', { 'x-original-method': 'GET', 'x-original-url': 'https://api.example.com@evil.example/orders' }],
      ['a partial X-Forwarded-* set', { 'x-forwarded-method': 'GET', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/orders' }],
      ['X-Forwarded-Host holding a path', { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com/orders?', 'x-forwarded-uri': '/x' }],
      ['an appended path on a Host holding a slash', { host: 'api.example.com/orders#', 'x-forwarded-proto': 'https' }, '/auth/verify/x'],
      // URL parsers read a backslash as a slash: /x\..\orders would be /orders, for the proof, not for a proxy.
      ['X-Forwarded-Uri with backslashes', { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/x\\..\\orders' }],
      ['X-Forwarded-Uri with a tab', { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/\torders' }],
      ['X-Original-URL with backslashes', { 'x-original-method': 'GET', 'x-original-url': 'https://api.example.com/x\\..\\orders' }],
      // Proofs are compared after normalization; a gateway may route on the raw path (/admin/... here).
      ['X-Original-URL with an encoded dot segment', { 'x-original-method': 'GET', 'x-original-url': 'https://api.example.com/admin/%2e%2e/orders' }],
      ['X-Forwarded-Uri with a dot segment', { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/admin/.%2E/orders' }],
      ['an appended path with an encoded letter', { host: 'api.example.com', 'x-forwarded-proto': 'https' }, '/auth/verify/%6frders']
    ]
    for (const [why, headers, url] of mixed) {
      const res = await verifyWith(headers, url)
      t.equal(res.status, 401, `${why}: refused`)
      t.match(res.message, /forwarded only|malformed|not an absolute|request (URL|path)/, `${why}: the message says what is wrong with the headers`)
    }
    t.equal((await verifyWith({ 'x-original-method': 'GET', 'x-original-url': api.url })).status, 200, 'nginx\'s set, complete: accepted')
    t.equal((await verifyWith({ 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/orders' })).status,
      200, 'Traefik\'s set, complete: accepted')
    t.equal((await verifyWith({ host: 'api.example.com', 'x-forwarded-proto': 'https' }, '/auth/verify/orders')).status, 200, 'Envoy\'s appended path: accepted')
    const plain = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${unbound.access_token}` } })
    t.equal(plain.statusCode, 200, 'an unbound Bearer token needs nothing more')
  })

  await t.test('introspection shows cnf and token_type DPoP', async (t) => {
    const bound = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, insecure))
    t.equal(bound.active, true)
    t.equal(bound.token_type, 'DPoP')
    t.same(bound.cnf, { jkt: key.jkt })
    const plain = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, unbound.access_token, insecure))
    t.equal(plain.token_type, 'Bearer')
    t.equal(plain.cnf, undefined)
  })

  await t.test('the bearer guard (/admin), with a DPoP-bound admin login', async (t) => {
    const adminKey = await dpopKey('EdDSA')
    const loginUrl = `${base}/auth/login`
    const res = await fetch(loginUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', dpop: await adminKey.proof({ method: 'POST', url: loginUrl }) },
      body: JSON.stringify({ username: ADMIN_ENV.ADMIN_USERNAME, password: ADMIN_ENV.ADMIN_PASSWORD })
    })
    t.equal(res.status, 200)
    const session = await res.json() as { access_token: string, token_type: string }
    t.equal(session.token_type, 'DPoP')
    t.same(payloadOf(session.access_token).cnf, { jkt: adminKey.jkt })
    const otherAdmin = await adminToken(app)
    const clientsUrl = `${base}/admin/clients`
    const surface: Surface = async (tok, proof) => {
      const r = await fetch(clientsUrl, { headers: { authorization: `DPoP ${tok}`, ...(proof !== undefined ? { dpop: proof } : {}) } })
      if (r.status !== 200) t.match(r.headers.get('www-authenticate'), /^DPoP error="(invalid_token|invalid_dpop_proof)"/)
      return r.status === 200
    }
    await refusesWhatIsNotItsProof(t, surface, session.access_token, otherAdmin, adminKey, { method: 'GET', url: clientsUrl })
    const asBearer = await fetch(clientsUrl, { headers: { authorization: `Bearer ${session.access_token}` } })
    t.equal(asBearer.status, 401, 'a bound token as a Bearer token: refused')
    // oauth4webapi, as a resource client, with the admin's key.
    const viaLib = await oauth.protectedResourceRequest(session.access_token, 'GET', new URL(clientsUrl), undefined, undefined,
      { DPoP: oauth.DPoP(client, adminKey.keyPair), ...insecure })
    t.equal(viaLib.status, 200, 'oauth4webapi\'s protectedResourceRequest with the key: accepted')
    const unboundAsDpop = await fetch(clientsUrl, {
      headers: { authorization: `DPoP ${otherAdmin}`, dpop: await adminKey.proof({ method: 'GET', url: clientsUrl, accessToken: otherAdmin }) }
    })
    t.equal(unboundAsDpop.status, 401, 'an unbound token under the DPoP scheme: refused (no downgrade confusion)')
  })

  await t.test('a public client\'s refresh token refreshes only with the same key (oauth4webapi)', async (t) => {
    const user = await registerUser(app)
    const publicClient: oauth.Client = { client_id: 'default' }
    const userKey = await dpopKey()
    const userDPoP = oauth.DPoP(publicClient, userKey.keyPair)
    const first = await oauth.processGenericTokenEndpointResponse(as, publicClient, await oauth.genericTokenEndpointRequest(as, publicClient, oauth.None(),
      'password', new URLSearchParams({ username: user.username, password: PASSWORD }), { DPoP: userDPoP, ...insecure }))
    t.equal(first.token_type, 'dpop')
    t.type(first.refresh_token, 'string')
    const refresh = first.refresh_token!
    const refuse = async (options: Record<string, unknown>, label: string): Promise<void> => {
      const r = await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), refresh, { ...options, ...insecure })
      t.equal(r.status, 400, label)
      t.equal((await r.json()).error, 'invalid_grant', label)
    }
    await refuse({}, 'without a proof: invalid_grant')
    await refuse({ DPoP: oauth.DPoP(publicClient, (await dpopKey()).keyPair) }, 'with a proof from another key: invalid_grant')
    const next = await oauth.processRefreshTokenResponse(as, publicClient,
      await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), refresh, { DPoP: userDPoP, ...insecure }))
    t.equal(next.token_type, 'dpop', 'with its key: rotated (the refusals ended nothing)')
    t.same(payloadOf(next.access_token).cnf, { jkt: userKey.jkt }, 'the new access token is bound to the same key')
  })

  await t.test('a client with dpop_bound_access_tokens gets no token without a proof', async (t) => {
    const strict = await createClient(app, { name: 'strict', dpop_bound_access_tokens: true })
    t.equal(strict.dpop_bound_access_tokens, true)
    const strictClient: oauth.Client = { client_id: strict.client_id }
    const strictAuth = oauth.ClientSecretBasic(strict.client_secret)
    const refused = await oauth.clientCredentialsGrantRequest(as, strictClient, strictAuth, new URLSearchParams(), insecure)
    t.equal(refused.status, 400)
    t.equal((await refused.json()).error, 'invalid_dpop_proof')
    const ok = await oauth.processClientCredentialsResponse(as, strictClient,
      await oauth.clientCredentialsGrantRequest(as, strictClient, strictAuth, new URLSearchParams(), { DPoP: oauth.DPoP(strictClient, key.keyPair), ...insecure }))
    t.equal(ok.token_type, 'dpop')
  })

  await t.test('a token request\'s proof is checked: another URL, a replay, a private key in the header', async (t) => {
    const tokenUrl = `${base}/oauth/token`
    const send = async (proof: string): Promise<{ status: number, body: any }> => {
      const r = await fetch(tokenUrl, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
        body: 'grant_type=client_credentials'
      })
      return { status: r.status, body: await r.json() }
    }
    const good = await key.proof({ method: 'POST', url: tokenUrl })
    t.equal((await send(good)).status, 200)
    t.match(await send(good), { status: 400, body: { error: 'invalid_dpop_proof' } }, 'replayed: refused')
    t.match(await send(await key.proof({ method: 'POST', url: `${base}/auth/login` })), { status: 400, body: { error: 'invalid_dpop_proof' } }, 'another htu: refused')
    const privateJwk = await exportJWK(key.privateKey)
    t.match(await send(await key.proof({ method: 'POST', url: tokenUrl, header: { jwk: privateJwk } })), { status: 400, body: { error: 'invalid_dpop_proof' } },
      'a private key in the jwk header: refused')
    t.match(await send(await key.proof({ method: 'POST', url: tokenUrl, iat: Math.floor(Date.now() / 1000) - 3600 })), { status: 400, body: { error: 'invalid_dpop_proof' } },
      'an old iat: refused')
  })
})

t.test('a token that is not DPoP-bound costs no replay check; a bound one costs one', async (t) => {
  const store = countingStore()
  const app = await build(t, { store, env: { ...ADMIN_ENV, PUBLIC_URL: 'http://localhost:4000' } })
  const created = await createClient(app, { name: 'svc' })
  const authz = `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}`
  const key = await dpopKey()
  const tokenUrl = 'http://localhost:4000/oauth/token'
  const issue = async (proof?: string): Promise<string> => {
    const res = await app.inject({
      method: 'POST', url: '/oauth/token', headers: { authorization: authz, ...(proof !== undefined ? { dpop: proof } : {}) }, payload: { grant_type: 'client_credentials' }
    })
    t.equal(res.statusCode, 200, res.body)
    return res.json().access_token
  }
  const plain = await issue()
  const bound = await issue(await key.proof({ method: 'POST', url: tokenUrl }))
  const api = { method: 'GET', url: 'https://api.example.com/x' }
  store.reset()
  for (let i = 0; i < 20; i++) {
    const res = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: plain } })
    t.equal(res.json().valid, true)
  }
  t.equal(store.total(), 0, '20 validations of an unbound token: no store call')
  const res = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: bound, dpop: { proof: await key.proof({ ...api, accessToken: bound }), ...api } } })
  t.equal(res.json().valid, true)
  t.equal(store.calls.get('dpopProofs.claim'), 1, 'a bound one: one replay claim')
  t.equal(store.total(), 1, 'and nothing else')
})

t.test('a proof accepted by one instance is a replay on another that shares the store', async (t) => {
  const dir = t.testdir()
  const env = { ...ADMIN_ENV, PUBLIC_URL: 'http://localhost:4000', SQLITE_PATH: `${dir}/shared.sqlite` }
  const one = await build(t, { env })
  const two = await build(t, { env })
  const key = await dpopKey()
  const proof = await key.proof({ method: 'POST', url: 'http://localhost:4000/auth/login' })
  const user = await registerUser(one)
  const loginWith = async (app: FastifyInstance): Promise<{ statusCode: number, json: () => any }> =>
    app.inject({ method: 'POST', url: '/auth/login', headers: { dpop: proof }, payload: { username: user.username, password: PASSWORD } })
  const first = await loginWith(one)
  t.equal(first.statusCode, 200)
  t.equal(first.json().token_type, 'DPoP')
  const again = await loginWith(two)
  t.equal(again.statusCode, 400, 'the other instance refuses the replay')
  t.equal(again.json().error, 'invalid_dpop_proof')
})

// The race: one proof sent at once, ten times, to two instances sharing the
// store (a thief replaying a proof it saw, in parallel, to every instance it
// can reach). Exactly one request may be accepted. With DPOP_REPLAY_CACHE=memory
// (each instance remembers only its own proofs) this fails: each instance
// accepts it once.
t.test('ten concurrent uses of one proof across two instances: exactly one is accepted', async (t) => {
  const dir = t.testdir()
  const env = { ...ADMIN_ENV, PUBLIC_URL: 'http://localhost:4000', SQLITE_PATH: `${dir}/shared.sqlite` }
  const one = await build(t, { env })
  const two = await build(t, { env })
  const key = await dpopKey()
  const user = await registerUser(one)
  const loginRes = await one.inject({
    method: 'POST', url: '/auth/login', headers: { dpop: await key.proof({ method: 'POST', url: 'http://localhost:4000/auth/login' }) }, payload: { username: user.username, password: PASSWORD }
  })
  const token = loginRes.json().access_token as string
  const api = { method: 'GET', url: 'https://api.example.com/orders' }
  const proof = await key.proof({ ...api, accessToken: token })
  const answers = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const res = await (i % 2 === 0 ? one : two).inject({ method: 'POST', url: '/token/validate', payload: { token, dpop: { proof, ...api } } })
    return res.json() as { valid: boolean, error?: string }
  }))
  t.equal(answers.filter((a) => a.valid).length, 1, 'one accepted')
  t.ok(answers.filter((a) => !a.valid).every((a) => a.error === 'invalid_dpop_proof'), 'the other nine refused as replays')
})

t.test('a thief holding only a bound refresh or access token cannot log out or revoke with it; its key can', async (t) => {
  const base = 'http://localhost:4000'
  const app = await build(t, { env: { ...ADMIN_ENV, PUBLIC_URL: base } })
  const key = await dpopKey()
  const other = await dpopKey()
  const user = await registerUser(app)
  const login = async (): Promise<{ access_token: string, refresh_token: string }> => {
    const res = await app.inject({
      method: 'POST', url: '/auth/login', headers: { dpop: await key.proof({ method: 'POST', url: `${base}/auth/login` }) }, payload: { username: user.username, password: PASSWORD }
    })
    t.equal(res.json().token_type, 'DPoP')
    return res.json()
  }
  const post = async (path: string, payload: Record<string, unknown>, proof?: string): Promise<{ statusCode: number, json: () => any }> =>
    app.inject({ method: 'POST', url: path, payload, ...(proof !== undefined ? { headers: { dpop: proof } } : {}) })
  const live = async (pair: { refresh_token: string }): Promise<boolean> =>
    (await post('/auth/refresh', { refresh_token: pair.refresh_token }, await key.proof({ method: 'POST', url: `${base}/auth/refresh` }))).statusCode === 200

  const pair = await login()
  for (const [path, body, proof, what] of [
    ['/auth/logout', { refresh_token: pair.refresh_token }, undefined, 'logout without a proof'],
    ['/auth/logout', { refresh_token: pair.refresh_token }, await other.proof({ method: 'POST', url: `${base}/auth/logout` }), 'logout with another key\'s proof'],
    ['/token/revoke', { token: pair.refresh_token, token_type_hint: 'refresh_token' }, undefined, 'revoking the refresh token without a proof'],
    ['/token/revoke', { token: pair.access_token }, undefined, 'revoking the access token without a proof']
  ] as const) {
    const res = await post(path, body, proof)
    t.equal(res.statusCode, 400, what)
    t.equal(res.json().error, 'invalid_dpop_proof', what)
  }
  t.equal((await post('/token/validate', { token: pair.access_token, dpop: { proof: await key.proof({ method: 'GET', url: 'https://api.example.com/x', accessToken: pair.access_token }), method: 'GET', url: 'https://api.example.com/x' } })).json().valid, true, 'the access token still works with its key')
  t.ok(await live(pair), 'and its session lives: it refreshes with its key')

  const mine = await login()
  t.equal((await post('/auth/logout', { refresh_token: mine.refresh_token }, await key.proof({ method: 'POST', url: `${base}/auth/logout` }))).statusCode, 204, 'logout with the key\'s proof')
  t.notOk(await live(mine), 'the session ended')
  const again = await login()
  const revoked = await post('/token/revoke', { token: again.access_token }, await key.proof({ method: 'POST', url: `${base}/token/revoke` }))
  t.same(revoked.json(), { revoked: true }, 'revoking with the key\'s proof')
})
