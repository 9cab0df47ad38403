// The RFC 9068 profile of access tokens (typ at+jwt; iss equal to the
// metadata's issuer; client_id, iat, jti, aud and sub on every kind) and the
// bounded window in which an older issuer is still accepted after an upgrade.
import t from 'tap'
import { build, newSession, TEST_ENV, TEST_ISSUER, validate } from '../helper.js'
import { ADMIN_ENV, basic, createClient } from '../support/clients.js'
import { testClock } from '../support/clock.js'
import { accessToken } from '../support/tokens.js'
import { ConfigError, loadConfig } from '../../src/main/config.js'

const decode = (token: string, part: 0 | 1): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split('.')[part]!, 'base64url').toString('utf8')) as Record<string, unknown>

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString()

async function metadata (app: Awaited<ReturnType<typeof build>>): Promise<Record<string, unknown>> {
  return (await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).json()
}

t.test('every access token is at+jwt with iss = the metadata issuer and the RFC 9068 §2.2 claims', async (t) => {
  for (const alg of ['HS256', 'ES256'] as const) {
    const app = await build(t, { env: { ...ADMIN_ENV, JWT_ALGORITHM: alg, PUBLIC_URL: 'https://auth.example.com/' } })
    const meta = await metadata(app)
    t.equal(meta.issuer, 'https://auth.example.com')
    t.notOk('jwt_issuer' in meta, 'no override: the metadata names no separate token issuer')
    t.notOk('jwt_issuer_previous' in meta)

    const client = await createClient(app, { name: 'svc', scopes: ['orders:read'] })
    const cc = await app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: basic(client.client_id, client.client_secret) },
      payload: { grant_type: 'client_credentials' }
    })
    t.equal(cc.statusCode, 200)
    const session = await newSession(app)
    for (const [kind, token] of [['client_credentials', cc.json().access_token], ['password login', session.access_token]] as const) {
      const header = decode(token, 0)
      const claims = decode(token, 1)
      t.equal(header.typ, 'at+jwt', `${alg} ${kind}: typ`)
      t.equal(header.alg, alg)
      t.equal(claims.iss, meta.issuer, `${alg} ${kind}: iss is the metadata's issuer`)
      for (const claim of ['sub', 'client_id', 'jti'] as const) t.type(claims[claim], 'string', `${alg} ${kind}: ${claim}`)
      for (const claim of ['iat', 'exp'] as const) t.type(claims[claim], 'number', `${alg} ${kind}: ${claim}`)
      t.ok(claims.aud !== undefined, `${alg} ${kind}: aud`)
      t.equal((await validate(app, token)).valid, true)
    }
    t.equal(decode(cc.json().access_token, 1).sub, client.client_id, 'a service token\'s sub is its client')
    const refresh = decode(session.refresh_token, 0)
    t.equal(refresh.typ, 'rt+jwt', 'refresh tokens keep their own typ')
    t.equal((await validate(app, session.refresh_token)).error, 'wrong_token_type', 'and never pass as access tokens')
    const gateway = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${session.refresh_token}` } })
    t.equal(gateway.statusCode, 401)
  }
})

t.test('JWT_ISSUER overrides the token issuer, and the metadata says so', async (t) => {
  const app = await build(t, { env: { JWT_ISSUER: 'token-orchestrator' } })
  const meta = await metadata(app)
  t.equal(meta.issuer, 'http://localhost:4000', 'the metadata issuer stays PUBLIC_URL')
  t.equal(meta.jwt_issuer, 'token-orchestrator')
  const session = await newSession(app)
  t.equal(decode(session.access_token, 1).iss, 'token-orchestrator')
  t.equal((await validate(app, accessToken())).error, 'invalid_claims', 'the default issuer is then refused')
})

t.test('a previous issuer is accepted until JWT_ISSUER_PREVIOUS_UNTIL, then refused; the current one always', async (t) => {
  const clock = testClock()
  const until = clock.now() + 3600
  const app = await build(t, {
    now: clock.now,
    env: { ...ADMIN_ENV, JWT_ISSUER_PREVIOUS: 'token-orchestrator,legacy-issuer', JWT_ISSUER_PREVIOUS_UNTIL: iso(until) }
  })
  const meta = await metadata(app)
  t.same(meta.jwt_issuer_previous, ['token-orchestrator', 'legacy-issuer'])
  t.equal(meta.jwt_issuer_previous_until, until)
  t.notOk('jwt_issuer' in meta)

  const old = accessToken({ iss: 'token-orchestrator', iat: clock.now(), exp: clock.now() + 7200 })
  const legacy = accessToken({ iss: 'legacy-issuer', iat: clock.now(), exp: clock.now() + 7200 })
  const current = (await newSession(app)).access_token
  t.equal(decode(current, 1).iss, TEST_ISSUER, 'new tokens carry the current issuer only')
  t.equal((await validate(app, old)).valid, true, 'validate accepts the previous issuer')
  t.equal((await validate(app, legacy)).valid, true)
  t.equal((await validate(app, accessToken({ iss: 'someone-else' }))).error, 'invalid_claims', 'any other issuer is refused')
  const verify = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${old}` } })
  t.equal(verify.statusCode, 200, 'gateway verify accepts it')
  clock.advance(3600)
  t.equal((await validate(app, old)).error, 'invalid_claims', 'after the window (the cached success ends with it)')
  t.equal((await validate(app, legacy)).error, 'invalid_claims')
  const after = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${old}` } })
  t.equal(after.statusCode, 401)
  t.equal((await validate(app, current)).valid, true, 'the current issuer is unaffected')
})

t.test('introspection accepts a previous issuer during the window', async (t) => {
  const clock = testClock()
  const app = await build(t, {
    now: clock.now,
    env: { ...ADMIN_ENV, JWT_ISSUER_PREVIOUS: 'token-orchestrator', JWT_ISSUER_PREVIOUS_UNTIL: iso(clock.now() + 60) }
  })
  const client = await createClient(app, { name: 'rs', scopes: ['tokens:introspect'] })
  const old = accessToken({ iss: 'token-orchestrator', iat: clock.now(), exp: clock.now() + 600 })
  const introspect = async (): Promise<Record<string, unknown>> => (await app.inject({
    method: 'POST',
    url: '/oauth/introspect',
    headers: { authorization: basic(client.client_id, client.client_secret) },
    payload: { token: old }
  })).json()
  t.match(await introspect(), { active: true, iss: 'token-orchestrator' })
  clock.advance(60)
  t.same(await introspect(), { active: false })
})

t.test('the window is bounded and named at boot', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const load = (env: Record<string, string>, warn?: (msg: string) => void) => () => loadConfig({ ...TEST_ENV, ...env }, warn)
  t.throws(load({ JWT_ISSUER_PREVIOUS: 'token-orchestrator' }), new ConfigError(
    'JWT_ISSUER_PREVIOUS and JWT_ISSUER_PREVIOUS_UNTIL must be set together: the previous issuers are accepted until that date-time'))
  t.throws(load({ JWT_ISSUER_PREVIOUS_UNTIL: iso(now + 60) }), /must be set together/)
  t.throws(load({ JWT_ISSUER_PREVIOUS: 'token-orchestrator', JWT_ISSUER_PREVIOUS_UNTIL: iso(now + 2_592_000 + 3600) }),
    /JWT_ISSUER_PREVIOUS_UNTIL must be at most SESSION_MAX_LIFETIME \(2592000 s\) from now/)
  t.throws(load({ JWT_ISSUER_PREVIOUS: 'http://localhost:4000', JWT_ISSUER_PREVIOUS_UNTIL: iso(now + 60) }),
    /JWT_ISSUER_PREVIOUS must not name the current issuer/)
  t.throws(load({ JWT_ISSUER_PREVIOUS: 'a, b', JWT_ISSUER_PREVIOUS_UNTIL: iso(now + 60) }), /JWT_ISSUER_PREVIOUS must match pattern/)
  t.throws(load({ JWT_ISSUER_PREVIOUS: 'a', JWT_ISSUER_PREVIOUS_UNTIL: '2026-07-01 00:00' }), /JWT_ISSUER_PREVIOUS_UNTIL must match pattern/)
  const warnings: string[] = []
  const config = load({ JWT_ISSUER_PREVIOUS: 'token-orchestrator', JWT_ISSUER_PREVIOUS_UNTIL: iso(now - 60) }, (w) => warnings.push(w))()
  t.equal(config.JWT_ISSUER, 'http://localhost:4000')
  t.match(warnings, [/JWT_ISSUER_PREVIOUS_UNTIL has passed/])
})
