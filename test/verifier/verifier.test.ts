// @token-orchestrator/verifier against a real service process (ES256): the
// same answers as POST /token/validate, revocations seen within 1.5 s, key
// rotation without a restart, staleness, resynchronisation, refused credentials
// and forged tokens.
import { createHmac, createPublicKey } from 'node:crypto'
import t, { type Test } from 'tap'
import { createVerifier, VerifierError, type Verifier } from '@token-orchestrator/verifier'
import { payloadOf, sleep, startService, within, type Service } from './support.js'

const REVOKED_WITHIN_MS = 1500

async function verifierFor (t: Test, service: Service, options: Record<string, unknown> = {}): Promise<Verifier> {
  const { clientId, clientSecret } = await service.createClient(['revocations:read'])
  const verifier = await createVerifier({ url: service.url, clientId, clientSecret, ...options })
  t.teardown(() => verifier.close())
  return verifier
}

t.test('verify answers what POST /token/validate answers, and sees revocations within 1.5 s', async (t) => {
  const service = await startService(t)
  const verifier = await verifierFor(t, service)

  const s = await service.newSession()
  const bad = [s.refresh_token, 'not-a-jwt', s.access_token.slice(0, -4) + 'AAAA', s.access_token + 'x']
  for (const token of [s.access_token, ...bad]) {
    const remote = await service.call('POST', '/token/validate', { body: { token } })
    t.same(verifier.verify(token), remote.body, `same answer as /token/validate (${remote.body.valid === true ? 'valid' : remote.body.error as string})`)
  }
  t.equal(verifier.verify(s.access_token).valid, true)
  t.equal(verifier.verify(s.refresh_token).valid, false)

  // logout
  await service.call('POST', '/auth/logout', { body: { refresh_token: s.refresh_token } })
  const afterLogout = await within(REVOKED_WITHIN_MS, () => !verifier.verify(s.access_token).valid)
  t.same(verifier.verify(s.access_token), { valid: false, error: 'revoked' }, `refused after logout (${afterLogout} ms)`)

  // /token/revoke of one access token
  const other = await service.newSession()
  const sibling = await service.login(other.username)
  t.equal(verifier.verify(other.access_token).valid, true)
  await service.call('POST', '/token/revoke', { body: { token: other.access_token } })
  const afterRevoke = await within(REVOKED_WITHIN_MS, () => !verifier.verify(other.access_token).valid)
  t.same(verifier.verify(other.access_token), { valid: false, error: 'revoked' }, `refused after /token/revoke (${afterRevoke} ms)`)
  t.equal(verifier.verify(sibling.access_token).valid, true, 'the user\'s other session is untouched')

  // logout-all
  const third = await service.login(other.username)
  await service.call('POST', '/auth/logout-all', { headers: { authorization: `Bearer ${third.access_token}` } })
  const afterAll = await within(REVOKED_WITHIN_MS, () => !verifier.verify(sibling.access_token).valid && !verifier.verify(third.access_token).valid)
  t.same(verifier.verify(sibling.access_token), { valid: false, error: 'revoked' }, `every session refused after logout-all (${afterAll} ms)`)

  // client disable
  const api = await service.createClient(['orders:read'])
  const serviceToken = await service.serviceToken(api.clientId, api.clientSecret)
  t.equal(verifier.verify(serviceToken).valid, true)
  const disabled = await service.call('POST', `/admin/clients/${api.clientId}/disable`, { headers: { authorization: `Bearer ${await service.adminToken()}` } })
  t.equal(disabled.status, 200)
  const afterDisable = await within(REVOKED_WITHIN_MS, () => !verifier.verify(serviceToken).valid)
  t.same(verifier.verify(serviceToken), { valid: false, error: 'revoked' }, `refused after the client was disabled (${afterDisable} ms)`)

  const status = verifier.status()
  t.ok(status.lastSyncAt instanceof Date)
  t.equal(status.stale, false)
  t.ok(status.revocations >= 4, 'sid, jti, the sessions of logout-all and the client are held')
  t.ok(status.cachedTokens >= 1)
  t.ok(status.cursor >= 4)
})

t.test('forged tokens are refused', async (t) => {
  const service = await startService(t)
  const verifier = await verifierFor(t, service)
  const s = await service.newSession()
  const [header, payload, signature] = s.access_token.split('.') as [string, string, string]

  const claims = payloadOf(s.access_token)
  const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url')}.${signature}`
  t.same(verifier.verify(tampered), { valid: false, error: 'invalid_signature' }, 'tampered payload')

  // The classic confusion: HS256 with the published public key as the HMAC secret.
  const jwks = await service.call('GET', '/.well-known/jwks.json')
  const jwk = jwks.body.keys[0]
  const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const hsHeader = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: jwk.kid })).toString('base64url')
  const hsInput = `${hsHeader}.${payload}`
  const hs = `${hsInput}.${createHmac('sha256', pem).update(hsInput).digest('base64url')}`
  t.same(verifier.verify(hs), { valid: false, error: 'invalid_signature' }, 'HS256 signed with the public key')

  const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: jwk.kid })).toString('base64url')
  t.equal(verifier.verify(`${noneHeader}.${payload}.`).valid, false, 'alg none')

  const elsewhere = await verifierFor(t, service, { audience: 'billing-api' })
  t.same(elsewhere.verify(s.access_token), { valid: false, error: 'invalid_claims' }, 'a token for another audience')
  // An issuer option the service's metadata contradicts would refuse every token: creation says so instead.
  await t.rejects(verifierFor(t, service, { issuer: 'someone-else' }), { name: 'VerifierError', code: 'issuer_mismatch' })
  t.equal(verifier.verify(s.access_token).valid, true, 'the genuine token passes')
})

t.test('creation fails clearly: wrong credentials, missing scope, unreachable service, HS256 service', async (t) => {
  const service = await startService(t)
  const { clientId } = await service.createClient(['revocations:read'])
  const wrong = createVerifier({ url: service.url, clientId, clientSecret: 'not-the-secret' })
  await t.rejects(wrong, { name: 'VerifierError', code: 'credentials_refused' }, 'wrong secret')
  await t.rejects(createVerifier({ url: service.url, clientId: 'nobody', clientSecret: 'x' }), { code: 'credentials_refused' }, 'unknown client')
  const unscoped = await service.createClient(['orders:read'])
  await t.rejects(createVerifier({ url: service.url, ...unscoped }), { code: 'insufficient_scope', message: /revocations:read/ })
  await t.rejects(createVerifier({ url: 'http://127.0.0.1:9', clientId, clientSecret: 'x' }), { code: 'unreachable' })

  const hs = await startService(t, { JWT_ALGORITHM: 'HS256' })
  const hsClient = await hs.createClient(['revocations:read'])
  const err = await createVerifier({ url: hs.url, ...hsClient }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof VerifierError, 'a VerifierError')
  t.equal((err as VerifierError).code, 'symmetric_keys')
  t.match((err as VerifierError).message, /HS256/)
})

t.test('after a key rotation, new tokens verify without a restart; the new key is known before it signs', async (t) => {
  // max-age of the JWKS: (4 - 0.5) / 2 → 1 s.
  const service = await startService(t, { KEY_ROTATION_OVERLAP: '4', KEY_RING_SYNC_INTERVAL_MS: '500' })
  const verifier = await verifierFor(t, service, { unknownKidRefetchInterval: 3600 })
  const before = await service.newSession()
  const oldKid = verifier.status().keys
  t.equal(oldKid.length, 1)

  const rotated = await service.call('POST', '/admin/keys/rotate', { headers: { authorization: `Bearer ${await service.adminToken()}` } })
  t.equal(rotated.status, 200)
  const newKid: string = rotated.body.kid
  await within(3500, () => verifier.status().keys.includes(newKid))
  t.pass('the next key is fetched while it is only published')

  // Wait for the new key to sign (activation after the overlap).
  let after: { access_token: string } | undefined
  for (let i = 0; i < 50; i++) {
    after = await service.login(before.username)
    if (JSON.parse(Buffer.from(after.access_token.split('.')[0]!, 'base64url').toString()).kid === newKid) break
    await sleep(200)
  }
  const header = JSON.parse(Buffer.from(after!.access_token.split('.')[0]!, 'base64url').toString())
  t.equal(header.kid, newKid, 'the service now signs with the new key')
  t.equal(verifier.verify(after!.access_token).valid, true, 'a token of the new key verifies')
  t.equal(verifier.verify(before.access_token).valid, true, 'a token of the old key still verifies')
})

t.test('service stopped: the last state answers, staleness is reported, then verify fails closed', async (t) => {
  const service = await startService(t)
  const verifier = await verifierFor(t, service, { maxStaleness: 2 })
  const lenient = await verifierFor(t, service, { maxStaleness: 2, onStale: 'allow' })
  const s = await service.newSession()
  const revoked = await service.newSession()
  await service.call('POST', '/token/revoke', { body: { token: revoked.access_token } })
  await within(REVOKED_WITHIN_MS, () => !verifier.verify(revoked.access_token).valid && !lenient.verify(revoked.access_token).valid)
  t.equal(verifier.verify(s.access_token).valid, true)

  service.child.kill('SIGTERM')
  await service.exited
  const stoppedAt = Date.now()
  t.equal(verifier.verify(s.access_token).valid, true, 'answers from the last state')
  t.same(verifier.verify(revoked.access_token), { valid: false, error: 'revoked' }, 'and keeps what it knew')

  // Each verifier follows on its own schedule: wait until both have gone stale.
  await within(4000, () => verifier.status().stale && lenient.status().stale)
  const status = verifier.status()
  t.ok(status.lagSeconds > 2, `lag reported (${status.lagSeconds.toFixed(1)} s)`)
  t.type(status.lastError, 'string', 'the failure is reported')
  // Not a timed assertion (a loaded machine can take seconds to stop the service): the staleness
  // comes from the time since the last answer, which came before the stop.
  t.ok(status.lastSyncAt !== null && status.lastSyncAt.getTime() <= stoppedAt, 'the last answer came before the stop')
  t.same(verifier.verify(s.access_token), { valid: false, error: 'revocation_state_stale' }, 'fails closed after maxStaleness')
  t.equal(lenient.verify(s.access_token).valid, true, 'onStale: allow answers from the last state')
  t.same(lenient.verify(revoked.access_token), { valid: false, error: 'revoked' })
  t.equal(lenient.status().stale, true, 'and reports the staleness')
})
