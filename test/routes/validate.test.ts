// POST /token/validate and /token/validate/batch: every `error` value, the
// claims of a valid token, revocation, body errors, batch order and bounds.
import t from 'tap'
import { build, newSession, TEST_ENV, TEST_ISSUER, validate } from '../helper.js'
import { accessClaims, accessToken, craft, nowSec } from '../support/tokens.js'
import { memoryStore } from '../support/stores.js'

t.test('a token from login is valid, with its claims, and not cached downstream', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const res = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: s.access_token } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.equal(body.valid, true)
  t.notOk('error' in body)
  t.equal(body.claims.sub, s.userId)
  t.equal(body.claims.iss, TEST_ISSUER)
  const metadata = (await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).json()
  t.equal(body.claims.iss, metadata.issuer, 'iss is the metadata\'s issuer (RFC 9068 §2.2, RFC 8414)')
  t.equal(body.claims.aud, 'token-orchestrator')
  t.equal(body.claims.client_id, 'default')
  t.type(body.claims.sid, 'string')
  t.type(body.claims.jti, 'string')
  t.same(body.claims.roles, [])
  t.ok(body.claims.exp > nowSec())
  // Twice: the second answer comes from the verified-token cache and is the same.
  t.same(await validate(app, s.access_token), body)
})

t.test('a crafted token with the service claims is valid; extra claims are not echoed', async (t) => {
  const app = await build(t)
  const claims = accessClaims({ custom: 'x' })
  const body = await validate(app, craft(claims))
  t.equal(body.valid, true)
  t.equal(body.claims?.sub, claims.sub)
  t.notOk('custom' in (body.claims ?? {}))
})

t.test('every error value is reachable', async (t) => {
  const app = await build(t)
  const s = await newSession(app)
  const now = nowSec()
  const [header, payload, signature] = accessToken().split('.') as [string, string, string]
  const cases: Array<[string, string, string]> = [
    ['malformed', 'not-a-jwt', 'not a JWT at all'],
    ['malformed', 'a.b.c', 'three parts, none decodes'],
    ['malformed', `${header}.${Buffer.from('not json').toString('base64url')}.${signature}`, 'payload is not JSON'],
    ['invalid_signature', accessToken({}, { secret: 'another-secret-0123456789-abcdefghijklmnopqrs' }), 'signed with another key'],
    ['invalid_signature', `${header}.${payload}.${signature.slice(0, -4)}AAAA`, 'signature tampered'],
    ['invalid_signature', `${header}.${Buffer.from(JSON.stringify({ ...accessClaims(), sub: 'admin' })).toString('base64url')}.${signature}`, 'payload tampered'],
    ['invalid_signature', accessToken({}, { algorithm: 'HS512' }), 'algorithm outside the pinned list'],
    ['invalid_signature', accessToken({}, { secret: TEST_ENV.REFRESH_TOKEN_SECRET }), 'signed with the refresh secret'],
    ['expired', accessToken({ iat: now - 1000, exp: now - 10 }), 'exp in the past'],
    ['not_yet_valid', accessToken({ nbf: now + 600 }), 'nbf in the future'],
    ['not_yet_valid', accessToken({ iat: now + 600, exp: now + 1500 }), 'iat in the future beyond the leeway'],
    ['invalid_claims', accessToken({ iss: 'someone-else' }), 'wrong iss'],
    ['invalid_claims', accessToken({ aud: 'another-audience' }), 'wrong aud'],
    ['invalid_claims', accessToken({ exp: undefined }), 'no exp'],
    ['invalid_claims', accessToken({ jti: undefined }), 'no jti'],
    ['invalid_claims', accessToken({ client_id: undefined }), 'no client_id'],
    ['invalid_claims', accessToken({ roles: 'admin' }), 'roles not an array'],
    ['invalid_claims', accessToken({ sub: 42 }), 'sub not a string'],
    ['wrong_token_type', s.refresh_token, 'a refresh token'],
    ['wrong_token_type', accessToken({}, { typ: 'rt+jwt' }), 'typ rt+jwt'],
    ['invalid_signature', accessToken({}, { typ: 'JWT' }), 'plain JWT typ']
  ]
  for (const [error, token, why] of cases) {
    const res = await app.inject({ method: 'POST', url: '/token/validate', payload: { token } })
    t.equal(res.statusCode, 200, why)
    t.same(res.json(), { valid: false, error }, `${why} → ${error}`)
  }
})

t.test('revoked: after logout (sid) and after /token/revoke (jti), even when cached', async (t) => {
  const store = memoryStore()
  const app = await build(t, { store })
  const a = await newSession(app)
  const b = await newSession(app)
  t.equal((await validate(app, a.access_token)).valid, true)
  t.equal((await validate(app, b.access_token)).valid, true)

  const logout = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: a.refresh_token } })
  t.equal(logout.statusCode, 204)
  t.same(await validate(app, a.access_token), { valid: false, error: 'revoked' })

  const revoke = await app.inject({ method: 'POST', url: '/token/revoke', payload: { token: b.access_token } })
  t.same(revoke.json(), { revoked: true })
  t.same(await validate(app, b.access_token), { valid: false, error: 'revoked' })
  const written = await store.revocations.since(0, new Date(), 10)
  t.same(written.map((r) => r.kind).sort(), ['jti', 'sid'], 'both revocations are in the store')
})

t.test('400 only when the body itself is invalid', async (t) => {
  const app = await build(t)
  for (const payload of [{}, { token: 42 }, { token: '' }, { token: 'a', extra: 1 }, { token: ['a'] }, { token: 'x'.repeat(8193) }]) {
    const res = await app.inject({ method: 'POST', url: '/token/validate', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 60))
    t.equal(res.json().error, 'invalid_request')
  }
  const res = await app.inject({ method: 'POST', url: '/token/validate', headers: { 'content-type': 'application/json' }, payload: '{"token":' })
  t.equal(res.statusCode, 400)
})

t.test('batch: one result per token, in order', async (t) => {
  const app = await build(t)
  const live = await newSession(app)
  const ended = await newSession(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: ended.refresh_token } })
  const now = nowSec()
  const tokens = [
    live.access_token,
    'garbage',
    accessToken({ iat: now - 1000, exp: now - 1 }),
    ended.access_token,
    live.refresh_token,
    live.access_token
  ]
  const res = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const { results } = res.json() as { results: Array<{ valid: boolean, error?: string, claims?: { sub: string } }> }
  t.equal(results.length, tokens.length)
  t.same(results.map((r) => r.valid ? 'valid' : r.error), ['valid', 'malformed', 'expired', 'revoked', 'wrong_token_type', 'valid'])
  t.equal(results[0]!.claims!.sub, live.userId)
})

t.test('batch: at most a few failed verifications per batch; the rest are not checked', async (t) => {
  const app = await build(t)
  const metric = async (result: string): Promise<number> => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
    const line = text.split('\n').find((l) => l.startsWith(`token_orchestrator_validations_total{result="${result}"}`))
    return line === undefined ? 0 : Number(line.split(' ').pop())
  }
  const seen = await newSession(app)
  t.equal((await validate(app, seen.access_token)).valid, true, 'verified once, so in the verified-token cache')
  const unseen = accessToken()
  const forged = Array.from({ length: 97 }, () => accessToken({}, { secret: 'another-secret-0123456789-abcdefghijklmnopqrs' }))
  const before = await metric('invalid_signature')
  const res = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [...forged, seen.access_token, unseen, 'garbage'] } })
  t.equal(res.statusCode, 200)
  const results = res.json().results as Array<{ valid: boolean, error?: string }>
  t.equal(results.length, 100)
  t.same(results.slice(0, 10).map((r) => r.error), Array(10).fill('invalid_signature'), 'the first ten are verified and fail')
  t.same(results.slice(10, 97).map((r) => r.error), Array(87).fill('not_verified'), 'the rest are not verified')
  t.equal(results[97]!.valid, true, 'a token already verified by this instance is still answered')
  t.same(results[98], { valid: false, error: 'not_verified' }, 'a good token not seen before is not checked either')
  t.same(results[99], { valid: false, error: 'not_verified' })
  t.equal(await metric('invalid_signature') - before, 10, 'ten signature verifications failed, not 97')
  t.equal(await metric('not_verified'), 89, '87 forged, the unseen good token and the garbage')
  // On its own, or in a batch without forgeries, the good token is checked.
  const again = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [...forged.slice(0, 9), unseen] } })
  t.equal(again.json().results[9].valid, true, 'under the budget, every token is verified')
})

t.test('batch: 1 to 100 tokens; 0 or 101 is a 400', async (t) => {
  const app = await build(t)
  const distinct = Array.from({ length: 100 }, () => accessToken())
  const full = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: distinct } })
  t.equal(full.statusCode, 200)
  const results = full.json().results as Array<{ valid: boolean, claims: { jti: string } }>
  t.equal(results.length, 100)
  t.ok(results.every((r) => r.valid))
  t.same(results.map((r) => r.claims.jti), distinct.map((tok) => JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()).jti))

  const one = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: ['x'] } })
  t.same(one.json(), { results: [{ valid: false, error: 'malformed' }] })

  for (const tokens of [[], [...distinct, accessToken()]]) {
    const res = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens } })
    t.equal(res.statusCode, 400, `${tokens.length} tokens`)
    t.equal(res.json().error, 'invalid_request')
  }
  const notArray = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: 'abc' } })
  t.equal(notArray.statusCode, 400)
})
