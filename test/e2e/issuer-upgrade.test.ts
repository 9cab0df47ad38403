// An upgrade from tokens with `iss = token-orchestrator` (the old default) to
// `iss` = the metadata's issuer, on real server processes sharing one SQLite
// file: during the configured window the old tokens still pass validate,
// gateway verify, refresh and an installed verifier, while new tokens meet
// oauth4webapi's strict RFC 9068 validation; once the window is over only the
// new issuer passes.
import { join } from 'node:path'
import t from 'tap'
import * as oauth from 'oauth4webapi'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { createVerifier } from '@token-orchestrator/verifier'
import { scratchDir } from '../support/stores.js'
import { payloadOf, sleep, startService, type Service } from '../verifier/support.js'

// Two server processes, one after the other, and a wait for the window's end.
t.setTimeout(300_000)

const OLD_ISSUER = 'token-orchestrator'
/** Long enough for a loaded machine to start the second process and run the checks inside it. */
const WINDOW_SECONDS = 45
const insecure = { [oauth.allowInsecureRequests]: true }

async function validate (service: Service, token: string): Promise<Record<string, unknown>> {
  return (await service.call('POST', '/token/validate', { body: { token } })).body
}

async function gateway (service: Service, token: string): Promise<number> {
  return (await service.call('GET', '/auth/verify', { headers: { authorization: `Bearer ${token}` } })).status
}

t.test('JWT_ISSUER_PREVIOUS keeps the old iss accepted until JWT_ISSUER_PREVIOUS_UNTIL, on every surface', async (t) => {
  const file = join(scratchDir(t), 'upgrade.sqlite')
  const before = await startService(t, { SQLITE_PATH: file, JWT_ISSUER: OLD_ISSUER })
  const old = await before.newSession()
  const spare = await before.login(old.username)
  t.equal(payloadOf(old.access_token).iss, OLD_ISSUER, 'the old deployment issues the old iss')
  before.child.kill('SIGTERM')
  await before.exited

  const until = Math.floor(Date.now() / 1000) + WINDOW_SECONDS
  const after = await startService(t, {
    SQLITE_PATH: file, JWT_ISSUER_PREVIOUS: OLD_ISSUER, JWT_ISSUER_PREVIOUS_UNTIL: new Date(until * 1000).toISOString()
  })
  const meta = (await after.call('GET', '/.well-known/oauth-authorization-server')).body
  t.equal(meta.issuer, after.url)
  t.same(meta.jwt_issuer_previous, [OLD_ISSUER])
  t.equal(meta.jwt_issuer_previous_until, until)
  t.notOk('jwt_issuer' in meta, 'the tokens\' iss is the metadata issuer')

  const { clientId, clientSecret } = await after.createClient(['revocations:read'])
  const verifier = await createVerifier({ url: after.url, clientId, clientSecret })
  t.teardown(() => verifier.close())

  // Inside the window: the old token passes everywhere.
  t.match(await validate(after, old.access_token), { valid: true, claims: { iss: OLD_ISSUER } })
  t.equal(await gateway(after, old.access_token), 200)
  t.match(verifier.verify(old.access_token), { valid: true, claims: { iss: OLD_ISSUER } }, 'the installed verifier reads the window from the metadata')

  // A session of the old deployment refreshes into tokens of the new issuer.
  const refreshed = await after.call('POST', '/auth/refresh', { body: { refresh_token: spare.refresh_token } })
  t.equal(refreshed.status, 200)
  t.equal(payloadOf(refreshed.body.access_token).iss, after.url)
  t.equal(payloadOf(refreshed.body.refresh_token).iss, after.url)

  // New tokens are RFC 9068 to the letter for a strict client; the old one is not, and it says so.
  const issuer = new URL(after.url)
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  const strict = async (token: string): Promise<oauth.JWTAccessTokenClaims> => oauth.validateJwtAccessToken(
    as, new Request(`${after.url}/orders`, { headers: { authorization: `Bearer ${token}` } }), 'token-orchestrator', insecure)
  const claims = await strict(refreshed.body.access_token)
  t.equal(claims.iss, as.issuer)
  t.equal(claims.client_id, 'default')
  const refused = await strict(old.access_token).then(() => null, (e: unknown) => e)
  t.ok(refused instanceof Error, 'oauth4webapi refuses the old iss: the window is for this service and its verifiers only')
  const jwks = createRemoteJWKSet(new URL(as.jwks_uri!))
  const verified = await jwtVerify(refreshed.body.access_token, jwks, { issuer: after.url, audience: 'token-orchestrator', typ: 'at+jwt' })
  t.equal(verified.payload.sub, payloadOf(old.access_token).sub)

  // After the window: only the new issuer passes (the old access token itself lives 15 minutes).
  const wait = until * 1000 - Date.now()
  t.ok(wait > 0, 'the checks above ran inside the window')
  await sleep(wait + 1100)
  t.same(await validate(after, old.access_token), { valid: false, error: 'invalid_claims' })
  t.equal(await gateway(after, old.access_token), 401)
  t.same(verifier.verify(old.access_token), { valid: false, error: 'invalid_claims' }, 'the verifier\'s cached success ended with the window')
  t.equal((await validate(after, refreshed.body.access_token)).valid, true)
  t.equal(verifier.verify(refreshed.body.access_token).valid, true)
})
