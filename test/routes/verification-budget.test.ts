// The per-address budget of failed verifications on validate, batch validate
// and /auth/verify (RATE_LIMIT_FAILED_VERIFICATIONS a second): an address that
// spent it has its unverified tokens refused (429, Retry-After) until the
// second ends; its verified tokens, and other addresses, are answered as usual.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, login, newSession, PASSWORD, registerUser } from '../helper.js'
import { testClock } from '../support/clock.js'
import { dpopKey } from '../support/dpop.js'
import { setTimeout } from 'node:timers/promises'
import { ADMIN_ENV, createClient } from '../support/clients.js'

const LIMIT = 5

/** `token` with its signature changed (`n` picks which character): same header, same kid, a signature that fails. */
function forgedFrom (token: string, n: number): string {
  const dot = token.lastIndexOf('.')
  const signature = token.slice(dot + 1).split('')
  const i = 4 + (n % (signature.length - 8))
  signature[i] = signature[i] === 'A' ? 'B' : 'A'
  return `${token.slice(0, dot)}.${signature.join('')}`
}

async function metric (app: FastifyInstance, result: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const line = text.split('\n').find((l) => l.startsWith(`token_orchestrator_validations_total{result="${result}"}`))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

const validateFrom = async (app: FastifyInstance, token: string, remoteAddress = '127.0.0.1'): Promise<{ status: number, body: Record<string, unknown>, retryAfter: string | undefined }> => {
  const res = await app.inject({ method: 'POST', url: '/token/validate', remoteAddress, payload: { token } })
  return { status: res.statusCode, body: res.json(), retryAfter: res.headers['retry-after'] as string | undefined }
}

t.test('an address that spent its failed signature checks gets 429 for tokens not verified before, until the second ends', async (t) => {
  const clock = testClock()
  const app = await build(t, { env: { JWT_ALGORITHM: 'ES256', RATE_LIMIT_FAILED_VERIFICATIONS: String(LIMIT) }, now: clock.now })
  const seen = await newSession(app)
  const unseen = await newSession(app)
  const forBatch = await newSession(app)
  const forGateway = await newSession(app)
  t.equal((await validateFrom(app, seen.access_token)).body.valid, true, 'verified once: in the verified-token cache')

  for (let i = 0; i < LIMIT; i++) {
    const res = await validateFrom(app, forgedFrom(seen.access_token, i))
    t.same([res.status, res.body], [200, { valid: false, error: 'invalid_signature' }], `forgery ${i + 1} is checked and fails`)
  }
  const over = await validateFrom(app, forgedFrom(seen.access_token, LIMIT))
  t.equal(over.status, 429, 'the next forgery is not checked')
  t.same(over.body, { error: 'too_many_requests', message: 'too many failed verifications from this address, retry in 1 s' })
  t.equal(over.retryAfter, '1')
  t.equal((await validateFrom(app, unseen.access_token)).status, 429, 'a good token not verified before is not checked either')
  t.same((await validateFrom(app, seen.access_token)).body.valid, true, 'a token verified before is still answered')

  const batch = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [seen.access_token, forBatch.access_token, 'garbage'] } })
  t.equal(batch.statusCode, 200, 'a batch is answered item by item')
  t.same(batch.json().results.map((r: { valid: boolean, error?: string }) => r.error ?? 'valid'), ['valid', 'not_verified', 'malformed'],
    'the verified token in full, the one that needs a check not_verified, garbage (which costs no check) as usual')
  t.same((await validateFrom(app, 'garbage')).body, { valid: false, error: 'malformed' }, 'alone too: no check, no 429')

  const gateway = (token: string): Promise<{ statusCode: number, headers: Record<string, unknown> }> =>
    app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${token}` } })
  const verifyOver = await gateway(forGateway.access_token)
  t.equal(verifyOver.statusCode, 429, '/auth/verify counts the same budget')
  t.equal(verifyOver.headers['retry-after'], '1')
  t.equal((await gateway(seen.access_token)).statusCode, 200)
  t.equal(await metric(app, 'too_many_requests'), 3, 'each refusal is counted')
  t.equal(await metric(app, 'invalid_signature'), LIMIT, 'no signature check past the budget')
  t.same((await validateFrom(app, unseen.access_token, '10.1.2.3')).body.valid, true, 'another address is not affected')

  clock.advance(1)
  t.same((await validateFrom(app, forBatch.access_token)).body.valid, true, 'the next second, the address is checked again')
  t.equal((await gateway(forGateway.access_token)).statusCode, 200)
})

t.test('failures that cost no public-key check are not counted: HMAC tokens, unknown kids, garbage', async (t) => {
  const hmac = await build(t, { env: { RATE_LIMIT_FAILED_VERIFICATIONS: String(LIMIT) } })
  const s = await newSession(hmac)
  for (let i = 0; i < LIMIT * 3; i++) {
    t.equal((await validateFrom(hmac, forgedFrom(s.access_token, i))).body.error, 'invalid_signature')
  }
  t.equal((await validateFrom(hmac, s.access_token)).body.valid, true, 'HS256: an HMAC check is cheap, and not counted')

  const es = await build(t, { env: { JWT_ALGORITHM: 'ES256', RATE_LIMIT_FAILED_VERIFICATIONS: String(LIMIT) } })
  const e = await newSession(es)
  const [header, payload, signature] = e.access_token.split('.') as [string, string, string]
  const otherKid = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header, 'base64url').toString()), kid: 'no-such-kid' })).toString('base64url')
  for (let i = 0; i < LIMIT * 3; i++) {
    t.equal((await validateFrom(es, `${otherKid}.${payload}.${signature}`)).body.error, 'invalid_signature')
    t.equal((await validateFrom(es, `garbage${i}`)).body.error, 'malformed')
  }
  t.equal((await validateFrom(es, e.access_token)).body.valid, true, 'unknown kids and garbage are not counted')
})

const resource = { method: 'GET', url: 'https://api.example.com/orders' }

async function boundLogin (app: FastifyInstance, now: number): Promise<{ bound: string, username: string, key: Awaited<ReturnType<typeof dpopKey>> }> {
  const key = await dpopKey()
  const user = await registerUser(app)
  const res = await app.inject({
    method: 'POST',
    url: '/auth/login',
    headers: { dpop: await key.proof({ url: 'http://localhost:4000/auth/login', iat: now }) },
    payload: { username: user.username, password: PASSWORD }
  })
  if (res.statusCode !== 200) throw new Error(res.body)
  return { bound: res.json().access_token, username: user.username, key }
}

t.test('DPoP proofs that do not hold count against the address; over budget, no proof is checked', async (t) => {
  const clock = testClock()
  const app = await build(t, { env: { JWT_ALGORITHM: 'ES256', RATE_LIMIT_FAILED_VERIFICATIONS: String(LIMIT) }, now: clock.now })
  const { bound, username: user, key } = await boundLogin(app, clock.now())
  for (let i = 0; i < LIMIT; i++) {
    // A proof for another token: it does not hold.
    const proof = await key.proof({ ...resource, accessToken: 'another-token', iat: clock.now() })
    const answer = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: bound, dpop: { proof, ...resource } } })
    t.equal(answer.json().error, 'invalid_dpop_proof', `bad proof ${i + 1}`)
  }
  const fresh = await login(app, user)
  t.equal((await validateFrom(app, fresh.access_token)).status, 429, 'the address spent its budget on proofs')
  // The bound token is in the verified-token cache, but its proof would still need a check.
  const good = { proof: await key.proof({ ...resource, accessToken: bound, iat: clock.now() }), ...resource }
  const proofOver = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: bound, dpop: good } })
  t.equal(proofOver.statusCode, 429, 'a proof is not checked over budget, even for a verified token')
  const inBatch = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: [{ token: bound, dpop: good }, bound] } })
  t.same(inBatch.json().results.map((r: { error?: string }) => r.error), ['not_verified', 'dpop_proof_required'], 'in a batch, the proof is not checked')
  const gatewayOver = await app.inject({
    method: 'GET', url: '/auth/verify', headers: { authorization: `DPoP ${bound}`, dpop: good.proof, 'x-original-method': 'GET', 'x-original-url': resource.url }
  })
  t.equal(gatewayOver.statusCode, 429, '/auth/verify checks no proof either')
  clock.advance(1)
  t.equal((await validateFrom(app, fresh.access_token)).body.valid, true)
  const after = await app.inject({ method: 'POST', url: '/token/validate', payload: { token: bound, dpop: good } })
  t.equal(after.json().valid, true, 'the next second the proof is checked, and holds')
})

t.test('batch: past 10 failed verifications, no later DPoP proof is checked, even with a verified token', async (t) => {
  const clock = testClock()
  const app = await build(t, { env: { RATE_LIMIT_FAILED_VERIFICATIONS: '0' }, now: clock.now })
  const { bound, key } = await boundLogin(app, clock.now())
  const bad = async (): Promise<{ token: string, dpop: Record<string, string> }> =>
    ({ token: bound, dpop: { proof: await key.proof({ ...resource, accessToken: 'another-token', iat: clock.now() }), ...resource } })
  const first = await app.inject({ method: 'POST', url: '/token/validate', payload: await bad() })
  t.equal(first.json().error, 'invalid_dpop_proof', 'the token is now verified and cached; its proof was not')
  const items = await Promise.all(Array.from({ length: 30 }, bad))
  const res = await app.inject({ method: 'POST', url: '/token/validate/batch', payload: { tokens: items } })
  const errors = res.json().results.map((r: { error?: string }) => r.error)
  t.same(errors.slice(0, 10), Array(10).fill('invalid_dpop_proof'), 'ten proofs are checked and fail')
  t.same(errors.slice(10), Array(20).fill('not_verified'), 'the other twenty are not checked')
  t.equal(await metric(app, 'invalid_dpop_proof'), 11, 'eleven proof checks in all, not 31')
})

t.test('a genuine expired token costs one signature check, not one per request', async (t) => {
  const app = await build(t, { env: { ...ADMIN_ENV, JWT_ALGORITHM: 'ES256', RATE_LIMIT_FAILED_VERIFICATIONS: String(LIMIT) } })
  const client = await createClient(app, { name: 'short', public: true, grants: ['password'], access_token_ttl: 1 })
  const user = await registerUser(app)
  const shortLived = async (): Promise<string> => {
    const res = await app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'password', client_id: client.client_id, username: user.username, password: PASSWORD }).toString()
    })
    if (res.statusCode !== 200) throw new Error(res.body)
    return res.json().access_token
  }
  const [expired, untouched] = [await shortLived(), await shortLived()]
  await setTimeout(2100)
  t.equal((await validateFrom(app, expired)).body.error, 'expired', 'checked once')
  // Lock the address: from now on, only what costs no check is answered.
  for (let i = 0; i < LIMIT; i++) await validateFrom(app, forgedFrom(expired, i))
  t.equal((await validateFrom(app, untouched)).status, 429, 'an expired token never checked needs a check: refused')
  t.same((await validateFrom(app, expired)).body, { valid: false, error: 'expired' }, 'the refusal is remembered: answered without a check')
})

t.test('RATE_LIMIT_FAILED_VERIFICATIONS=0 turns the budget off', async (t) => {
  const app = await build(t, { env: { JWT_ALGORITHM: 'ES256', RATE_LIMIT_FAILED_VERIFICATIONS: '0' } })
  const s = await newSession(app)
  for (let i = 0; i < 20; i++) t.equal((await validateFrom(app, forgedFrom(s.access_token, i))).status, 200)
  const fresh = await newSession(app)
  t.equal((await validateFrom(app, fresh.access_token)).body.valid, true)
})
