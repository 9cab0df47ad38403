// RFC 8693 token exchange driven by an independent OAuth library (oauth4webapi's
// generic token endpoint request) against the real server on 127.0.0.1: the
// metadata lists the grant, the answer parses as a token response, jose
// verifies the exchanged token through the JWKS URL for the target audience,
// and the user's logout makes it inactive.
import t from 'tap'
import * as oauth from 'oauth4webapi'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { build, PASSWORD, registerUser } from '../helper.js'
import { ADMIN_ENV, createClient } from '../support/clients.js'
import { freePort } from '../support/server-process.js'

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const AT = 'urn:ietf:params:oauth:token-type:access_token'
const insecure = { [oauth.allowInsecureRequests]: true }

t.test('oauth4webapi exchanges a user\'s token for the orders API; logout ends it', async (t) => {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const app = await build(t, { env: { ...ADMIN_ENV, PUBLIC_URL: base, PORT: String(port), JWT_ALGORITHM: 'ES256' } })
  await app.listen({ port, host: '127.0.0.1' })
  const issuer = new URL(base)
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  t.ok(as.grant_types_supported?.includes(GRANT), 'the metadata lists token exchange')

  const web = await createClient(app, { name: 'web', grants: ['password', 'refresh_token'], scopes: ['orders:read', 'orders:write'] })
  const gateway = await createClient(app, { name: 'gateway', grants: [GRANT], audiences: ['orders-api'], scopes: ['orders:read'] })
  const user = await registerUser(app)
  const webClient: oauth.Client = { client_id: web.client_id }
  const login = await oauth.processGenericTokenEndpointResponse(as, webClient, await oauth.genericTokenEndpointRequest(
    as, webClient, oauth.ClientSecretBasic(web.client_secret), 'password',
    new URLSearchParams({ username: user.username, password: PASSWORD }), insecure))
  t.type(login.refresh_token, 'string')

  const client: oauth.Client = { client_id: gateway.client_id }
  const auth = oauth.ClientSecretBasic(gateway.client_secret)
  const res = await oauth.genericTokenEndpointRequest(as, client, auth, GRANT, new URLSearchParams({
    subject_token: login.access_token, subject_token_type: AT, audience: 'orders-api', scope: 'orders:read'
  }), insecure)
  const exchanged = await oauth.processGenericTokenEndpointResponse(as, client, res)
  t.equal(exchanged.token_type, 'bearer')
  t.equal(exchanged.issued_token_type, AT)
  t.equal(exchanged.scope, 'orders:read')
  t.equal(exchanged.refresh_token, undefined, 'no refresh token')

  const jwks = createRemoteJWKSet(new URL(as.jwks_uri ?? ''))
  const { payload } = await jwtVerify(exchanged.access_token, jwks, { issuer: as.issuer, audience: 'orders-api', typ: 'at+jwt' })
  t.equal(payload.sub, user.id)
  t.same(payload.act, { sub: gateway.client_id })
  t.equal(payload.client_id, gateway.client_id)

  const introspect = async (): Promise<oauth.IntrospectionResponse> => oauth.processIntrospectionResponse(as, client,
    await oauth.introspectionRequest(as, client, auth, exchanged.access_token, insecure))
  t.same((await introspect()).act, { sub: gateway.client_id })

  const wrongAudience = await oauth.genericTokenEndpointRequest(as, client, auth, GRANT, new URLSearchParams({
    subject_token: login.access_token, subject_token_type: AT, audience: 'payroll-api'
  }), insecure)
  const err = await oauth.processGenericTokenEndpointResponse(as, client, wrongAudience).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof oauth.ResponseBodyError, 'an OAuth error the library parses')
  t.equal((err as oauth.ResponseBodyError).error, 'invalid_target')

  const logout = await fetch(`${base}/auth/logout`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: login.refresh_token })
  })
  t.equal(logout.status, 204)
  t.same(await introspect(), { active: false }, 'the user\'s logout ends the exchanged token')
})
