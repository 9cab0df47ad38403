// Property-based tests (fast-check): random JSON bodies and random token-like
// strings never produce a 5xx on the token and credential routes, and validate
// never says valid:true for a token we did not sign. Runs are bounded (about
// 500 requests in all) so the suite stays quick; a failure prints the seed.
import fc from 'fast-check'
import t from 'tap'
import { build, registerUser } from '../helper.js'
import { AUDIENCE, ISSUER, b64url, forge, nowSec } from './support.js'

const b64urlText = fc.stringMatching(/^[A-Za-z0-9_-]{0,120}$/)

/** Headers an attacker would try: real and bogus algs and typs, key-fetching members, junk. */
const headerArb = fc.record({
  alg: fc.oneof(fc.constantFrom('none', 'None', 'NONE', 'HS256', 'HS384', 'HS512', 'RS256', 'ES256', 'EdDSA', 'hs256', ''), fc.string(), fc.jsonValue()),
  typ: fc.oneof(fc.constantFrom('at+jwt', 'rt+jwt', 'JWT', 'application/at+jwt'), fc.jsonValue()),
  kid: fc.oneof(fc.constantFrom('../../../dev/null', "' OR 1=1 --", 'k1'), fc.string()),
  jku: fc.constant('http://127.0.0.1:9/jwks.json'),
  crit: fc.array(fc.string(), { maxLength: 2 })
}, { requiredKeys: ['alg'] })

/** Payloads that would pass every claim check, with random changes and random junk. */
const payloadArb = fc.oneof(
  fc.record({
    iss: fc.oneof(fc.constant(ISSUER), fc.jsonValue()),
    sub: fc.oneof(fc.string(), fc.jsonValue()),
    aud: fc.oneof(fc.constant(AUDIENCE), fc.jsonValue()),
    iat: fc.oneof(fc.constant(nowSec()), fc.integer(), fc.jsonValue()),
    exp: fc.oneof(fc.constant(nowSec() + 600), fc.integer(), fc.double(), fc.jsonValue()),
    nbf: fc.oneof(fc.integer(), fc.jsonValue()),
    jti: fc.oneof(fc.string(), fc.jsonValue()),
    sid: fc.oneof(fc.string(), fc.jsonValue()),
    client_id: fc.oneof(fc.constant('default'), fc.jsonValue()),
    scope: fc.oneof(fc.string(), fc.jsonValue()),
    roles: fc.oneof(fc.constant(['admin']), fc.jsonValue())
  }, { requiredKeys: [] }),
  fc.jsonValue()
)

/** Token-like strings none of which we signed: forged JSON parts with random or foreign-key signatures, or raw segments. */
const foreignToken = fc.oneof(
  fc.tuple(headerArb, payloadArb, b64urlText).map(([header, payload, signature]) => forge({ header, payload: payload ?? null, signature })),
  fc.tuple(headerArb, payloadArb, fc.string({ minLength: 1 })).map(([header, payload, key]) => forge({ header, payload: payload ?? null, key })),
  fc.tuple(headerArb, payloadArb).map(([header, payload]) => forge({ header, payload: payload ?? null })),
  fc.tuple(b64urlText, b64urlText, b64urlText).map(([h, p, s]) => `${h}.${p}.${s}`),
  fc.tuple(fc.string(), fc.string(), fc.string()).map(([h, p, s]) => `${b64url(h)}.${b64url(p)}.${s}`),
  fc.string({ minLength: 1, maxLength: 300 }),
  fc.array(b64urlText, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.'))
)

/** A body: random JSON, or the right shape with random values, or the right shape with token-like strings. */
function bodyArb (shape: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.jsonValue(),
    fc.record(Object.fromEntries(Object.keys(shape).map((k) => [k, fc.jsonValue()])), { requiredKeys: [] }),
    fc.record(shape),
    fc.tuple(fc.record(shape), fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue(), { maxKeys: 2 })).map(([a, b]) => ({ ...b, ...a }))
  )
}

t.test('random bodies and token-like strings: never a 5xx, never valid for a token we did not sign', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_AUTH: '100000', LOCKOUT_THRESHOLD: '100000' } })
  const user = await registerUser(app)
  let requests = 0
  const statuses = new Map<number, number>()
  const post = async (url: string, body: unknown): Promise<{ status: number, json: () => any }> => {
    const res = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) ?? 'null' })
    requests += 1
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    return { status: res.statusCode, json: () => res.json() }
  }
  const check = async (name: string, property: fc.IAsyncPropertyWithHooks<any> | fc.IAsyncProperty<any>, numRuns: number): Promise<void> => {
    const result = await fc.check(property, { numRuns })
    t.notOk(result.failed, `${name} (${numRuns} runs)${result.failed ? `: ${fc.defaultReportMessage(result) ?? ''}` : ''}`)
  }

  await check('/token/validate with a foreign token: 200 and valid false', fc.asyncProperty(foreignToken, async (token) => {
    const res = await post('/token/validate', { token })
    if (res.status === 400) return token.length > 8192 || token.length === 0
    return res.status === 200 && res.json().valid === false
  }), 150)

  await check('/token/validate with any body: no 5xx, and valid only for real tokens', fc.asyncProperty(bodyArb({ token: foreignToken }), async (body) => {
    const res = await post('/token/validate', body)
    return res.status < 500 && (res.status !== 200 || res.json().valid === false)
  }), 60)

  await check('/token/validate/batch: no 5xx, every foreign token invalid', fc.asyncProperty(
    fc.oneof(bodyArb({ tokens: fc.array(foreignToken, { minLength: 1, maxLength: 20 }) }), fc.record({ tokens: fc.array(foreignToken, { minLength: 0, maxLength: 120 }) })),
    async (body) => {
      const res = await post('/token/validate/batch', body)
      if (res.status >= 500) return false
      if (res.status !== 200) return true
      const { results } = res.json() as { results: Array<{ valid: boolean }> }
      return results.length === (body as { tokens: unknown[] }).tokens.length && results.every((r) => !r.valid)
    }), 50)

  await check('/auth/login: no 5xx, no tokens for a wrong password', fc.asyncProperty(
    bodyArb({
      username: fc.oneof(fc.constant(user.username), fc.stringMatching(/^[A-Za-z0-9._@-]{3,20}$/), fc.string()),
      password: fc.string({ maxLength: 300 }),
      client_id: fc.oneof(fc.constant('default'), fc.string())
    }),
    async (body) => {
      const res = await post('/auth/login', body)
      return res.status < 500 && res.status !== 200
    }), 60)

  await check('/auth/refresh: no 5xx, no new pair for a foreign token', fc.asyncProperty(bodyArb({ refresh_token: foreignToken }), async (body) => {
    const res = await post('/auth/refresh', body)
    return res.status === 400 || res.status === 401
  }), 80)

  await check('/token/revoke: no 5xx, nothing revoked for a foreign token', fc.asyncProperty(
    bodyArb({ token: foreignToken, token_type_hint: fc.oneof(fc.constantFrom('access_token', 'refresh_token'), fc.string()) }),
    async (body) => {
      const res = await post('/token/revoke', body)
      return res.status === 400 || (res.status === 200 && res.json().revoked === false)
    }), 80)

  t.comment(`${requests} requests; statuses: ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(', ')}`)
  t.notOk([...statuses.keys()].some((s) => s >= 500), 'no 5xx at all')
})
