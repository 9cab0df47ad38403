// Interoperability with independent libraries against the real listening
// server on 127.0.0.1: oauth4webapi discovers the server (RFC 8414), gets a
// client_credentials token, introspects and revokes it; jose verifies the
// tokens through the JWKS URL (createRemoteJWKSet) for ES256, EdDSA and RS256,
// across a key rotation with tokens in flight; oauth4webapi's strict RFC 9068
// validation (validateJwtAccessToken) accepts the access tokens.
import t, { type Test } from 'tap'
import * as oauth from 'oauth4webapi'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import type { FastifyInstance } from 'fastify'
import { build, newSession } from '../helper.js'
import { ADMIN_ENV, adminToken, createClient } from '../support/clients.js'
import { freePort } from '../support/server-process.js'

/** The app listening on 127.0.0.1, with PUBLIC_URL (and so the issuer) its real address. */
async function listening (t: Test, env: Record<string, string>): Promise<{ app: FastifyInstance, issuer: URL }> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const app = await build(t, { env: { ...ADMIN_ENV, PUBLIC_URL: base, PORT: String(port), ...env } })
  await app.listen({ port, host: '127.0.0.1' })
  return { app, issuer: new URL(base) }
}

const insecure = { [oauth.allowInsecureRequests]: true }

async function discover (issuer: URL): Promise<oauth.AuthorizationServer> {
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  return oauth.processDiscoveryResponse(issuer, res)
}

for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
  t.test(`${alg}: oauth4webapi client credentials, introspection, revocation; jose verifies through the JWKS URL`, async (t) => {
    const { app, issuer } = await listening(t, { JWT_ALGORITHM: alg })
    const as = await discover(issuer)
    t.equal(as.token_endpoint, `${issuer.origin}/oauth/token`)
    t.equal(as.jwks_uri, `${issuer.origin}/.well-known/jwks.json`)

    const created = await createClient(app, { name: 'orders', scopes: ['orders:read', 'orders:write'], audiences: ['orders-api'] })
    const client: oauth.Client = { client_id: created.client_id }
    const auth = alg === 'EdDSA' ? oauth.ClientSecretPost(created.client_secret) : oauth.ClientSecretBasic(created.client_secret)

    const tokenRes = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'orders:read' }), insecure)
    const tokens = await oauth.processClientCredentialsResponse(as, client, tokenRes)
    t.equal(tokens.token_type, 'bearer')
    t.equal(tokens.scope, 'orders:read')
    t.type(tokens.expires_in, 'number')
    t.equal(tokens.refresh_token, undefined)

    const jwks = createRemoteJWKSet(new URL(as.jwks_uri ?? ''))
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: as.issuer, audience: 'orders-api', typ: 'at+jwt', algorithms: [alg]
    })
    t.equal(protectedHeader.alg, alg)
    t.type(protectedHeader.kid, 'string')
    t.equal(payload.sub, created.client_id)
    t.equal(payload.client_id, created.client_id)
    t.equal(payload.scope, 'orders:read')

    const user = await newSession(app)
    const userToken = await jwtVerify(user.access_token, jwks, { issuer: as.issuer, audience: 'token-orchestrator', typ: 'at+jwt' })
    t.equal(userToken.payload.sub, user.userId, 'password-grant tokens verify the same way')

    // oauth4webapi's resource-server validation is RFC 9068 to the letter: typ at+jwt, iss equal to the
    // discovered issuer, and sub, client_id, iat, jti, aud and exp present, for both kinds of token.
    const strict = async (token: string, audience: string): Promise<oauth.JWTAccessTokenClaims> => oauth.validateJwtAccessToken(
      as, new Request(`${issuer.origin}/orders`, { headers: { authorization: `Bearer ${token}` } }), audience, insecure)
    const service = await strict(tokens.access_token, 'orders-api')
    t.equal(service.iss, as.issuer)
    t.equal(service.client_id, created.client_id)
    t.equal(service.sub, created.client_id)
    const person = await strict(user.access_token, 'token-orchestrator')
    t.equal(person.sub, user.userId)
    t.equal(person.client_id, 'default')
    const refused = await strict(user.refresh_token, 'token-orchestrator').then(() => null, (e: unknown) => e)
    t.ok(refused instanceof Error, 'a refresh token is not an access token to oauth4webapi either')

    const introspected = await oauth.processIntrospectionResponse(as, client,
      await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure))
    t.equal(introspected.active, true)
    t.equal(introspected.client_id, created.client_id)
    t.equal(introspected.token_type, 'Bearer')
    t.equal(introspected.scope, 'orders:read')

    t.equal(await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, tokens.access_token, insecure)), undefined)
    const after = await oauth.processIntrospectionResponse(as, client,
      await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure))
    t.same(after, { active: false }, 'revoked → inactive')

    const wrong = oauth.ClientSecretBasic('not the secret')
    const denied = await oauth.clientCredentialsGrantRequest(as, client, wrong, new URLSearchParams(), insecure)
    t.equal(denied.status, 401)
    t.match(denied.headers.get('www-authenticate'), /^Basic /)
    const failure = async (res: Response): Promise<unknown> =>
      oauth.processClientCredentialsResponse(as, client, res).then(() => undefined, (e: unknown) => e)
    const challenge = await failure(denied)
    t.ok(challenge instanceof oauth.WWWAuthenticateChallengeError, 'oauth4webapi sees the Basic challenge')
    t.equal((challenge as oauth.WWWAuthenticateChallengeError).cause[0]?.scheme, 'basic')

    const deniedPost = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost('not the secret'), new URLSearchParams(), insecure)
    t.equal(deniedPost.status, 401)
    const deniedErr = await failure(deniedPost)
    t.ok(deniedErr instanceof oauth.ResponseBodyError, 'oauth4webapi reads the RFC 6749 §5.2 error')
    t.equal((deniedErr as oauth.ResponseBodyError).error, 'invalid_client')
    t.equal((deniedErr as oauth.ResponseBodyError).error_description, 'client authentication failed')

    const tooMuch = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'admin' }), insecure)
    t.equal(((await failure(tooMuch)) as oauth.ResponseBodyError).error, 'invalid_scope')
  })
}

t.test('key rotation with tokens in flight, seen through the JWKS URL', async (t) => {
  const { app, issuer } = await listening(t, { JWT_ALGORITHM: 'ES256', KEY_ROTATION_OVERLAP: '1', KEY_RING_SYNC_INTERVAL_MS: '100' })
  const as = await discover(issuer)
  const created = await createClient(app, { name: 'svc' })
  const client: oauth.Client = { client_id: created.client_id }
  const auth = oauth.ClientSecretBasic(created.client_secret)
  const token = async (): Promise<string> => (await oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(), insecure))).access_token
  // A verifier that refetches on an unknown kid (jose's default waits 30 s between fetches).
  const jwks = createRemoteJWKSet(new URL(as.jwks_uri ?? ''), { cooldownDuration: 0 })
  const verify = async (jwt: string) => jwtVerify(jwt, jwks, { issuer: as.issuer, audience: 'token-orchestrator', typ: 'at+jwt' })

  const before = await token()
  const oldKid = decodeProtectedHeader(before).kid
  await verify(before)

  const res = await app.inject({ method: 'POST', url: '/admin/keys/rotate', headers: { authorization: `Bearer ${await adminToken(app)}` } })
  t.equal(res.statusCode, 200)
  const newKid = res.json().kid
  const published = await (await fetch(as.jwks_uri ?? '')).json() as { keys: Array<{ kid: string }> }
  t.same(published.keys.map((k) => k.kid), [oldKid, newKid], 'the next key is published before it signs')

  let after = await token()
  const deadline = Date.now() + 5000
  while (decodeProtectedHeader(after).kid !== newKid && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    after = await token()
  }
  t.equal(decodeProtectedHeader(after).kid, newKid, 'new tokens carry the new kid after the overlap')
  t.equal((await verify(after)).protectedHeader.kid, newKid, 'jose verifies the new token through the JWKS URL')
  t.equal((await verify(before)).protectedHeader.kid, oldKid, 'and still the token signed before the rotation')
})
