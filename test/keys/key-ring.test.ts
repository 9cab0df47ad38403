// Asymmetric signing (ES256, EdDSA, RS256) through the key ring: kid on every
// token, JWKS with public members only, algorithm confusion and header tricks
// refused, staged rotation across two instances, retired keys dropped once
// their tokens have expired, private keys sealed at rest.
import { createHmac, generateKeyPairSync, sign as cryptoSign } from 'node:crypto'
import t from 'tap'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { KeyRing, openPrivateKey, symmetricKid } from '../../src/keys/key-ring.js'
import { memoryStore } from '../support/stores.js'
import { build, login, newSession, TEST_ENV, TEST_ISSUER, validate } from '../helper.js'
import { faultyStore } from '../support/faulty-store.js'
import { ADMIN_ENV, adminToken } from '../support/clients.js'

const part = (jwt: string, i: number): Record<string, any> => JSON.parse(Buffer.from(jwt.split('.')[i] ?? '', 'base64url').toString())
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']

const waitFor = async (check: () => Promise<boolean>, ms = 5000): Promise<boolean> => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return check()
}

for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
  t.test(`${alg}: kid on every token, JWKS public members only, verifiable by jose`, async (t) => {
    const store = memoryStore()
    t.teardown(() => store.close())
    const app = await build(t, { env: { JWT_ALGORITHM: alg }, store })
    const session = await newSession(app)
    const header = part(session.access_token, 0)
    t.equal(header.alg, alg)
    t.equal(header.typ, 'at+jwt')
    t.type(header.kid, 'string')
    t.equal((await validate(app, session.access_token)).valid, true)
    t.equal(part(session.refresh_token, 0).alg, 'HS256', 'refresh tokens stay HS256 with their own secret')

    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['cache-control'], /^public, max-age=\d+$/)
    const maxAge = Number(/max-age=(\d+)/.exec(String(res.headers['cache-control']))?.[1])
    t.ok(maxAge < 600, `max-age ${maxAge} < KEY_ROTATION_OVERLAP (600)`)
    const jwks = res.json()
    t.equal(jwks.keys.length, 1)
    const jwk = jwks.keys[0]
    t.equal(jwk.kid, header.kid)
    t.equal(jwk.alg, alg)
    t.equal(jwk.use, 'sig')
    for (const member of PRIVATE_MEMBERS) t.notOk(member in jwk, `no private member ${member}`)
    t.notOk(res.body.includes('PRIVATE'), 'no PEM')

    const { payload, protectedHeader } = await jwtVerify(session.access_token, createLocalJWKSet(jwks), {
      issuer: TEST_ISSUER, audience: 'token-orchestrator', typ: 'at+jwt', algorithms: [alg]
    })
    t.equal(payload.sub, session.userId)
    t.equal(protectedHeader.kid, header.kid)

    const [stored] = await store.keys.list(new Date())
    t.ok(stored !== undefined && stored.privateKey.startsWith('v1.'), 'the private key is sealed at rest')
    t.notOk(stored?.privateKey.includes('PRIVATE KEY'))
    t.match(openPrivateKey(stored?.privateKey ?? '', TEST_ENV.JWT_SECRET ?? '', stored?.kid ?? ''), /^-----BEGIN PRIVATE KEY-----/,
      'JWT_SECRET opens it')
    t.equal(openPrivateKey(stored?.privateKey ?? '', 'another secret of enough length 0123456789', stored?.kid ?? ''), null,
      'another secret does not')

    const second = await build(t, { env: { JWT_ALGORITHM: alg }, store })
    t.equal((await validate(second, session.access_token)).valid, true, 'a second instance loads the same ring')
    const again = await second.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    t.same(again.json(), jwks, 'and creates no key of its own')
  })
}

t.test('forgeries: algorithm confusion, unknown kid, embedded jwk / jku, alg none, the HMAC secret', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const app = await build(t, { env: { JWT_ALGORITHM: 'ES256' }, store })
  const session = await newSession(app)
  const claims = part(session.access_token, 1)
  const kid = part(session.access_token, 0).kid
  const jwk = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys[0]
  const [stored] = await store.keys.list(new Date())
  const publicPem = stored?.publicKey ?? ''

  const hmac = (header: Record<string, unknown>, secret: string | Buffer): string => {
    const input = `${b64(header)}.${b64(claims)}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const es256 = (header: Record<string, unknown>): string => {
    const input = `${b64(header)}.${b64(claims)}`
    const sig = cryptoSign('sha256', Buffer.from(input), { key: attacker.privateKey, dsaEncoding: 'ieee-p1363' })
    return `${input}.${sig.toString('base64url')}`
  }
  const attackerJwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: 'attacker', alg: 'ES256' }

  const forgeries: Array<[string, string]> = [
    ['HS256 with the public key PEM as secret', hmac({ alg: 'HS256', typ: 'at+jwt', kid }, publicPem)],
    ['HS256 with the JWK JSON as secret', hmac({ alg: 'HS256', typ: 'at+jwt', kid }, JSON.stringify(jwk))],
    ['HS256 with JWT_SECRET (the symmetric key)', hmac({ alg: 'HS256', typ: 'at+jwt', kid: symmetricKid(TEST_ENV.JWT_SECRET ?? '') }, TEST_ENV.JWT_SECRET ?? '')],
    ['HS256 with JWT_SECRET and the real kid', hmac({ alg: 'HS256', typ: 'at+jwt', kid }, TEST_ENV.JWT_SECRET ?? '')],
    ['unknown kid', es256({ alg: 'ES256', typ: 'at+jwt', kid: 'nope' })],
    ['no kid', es256({ alg: 'ES256', typ: 'at+jwt' })],
    ['attacker key embedded as jwk', es256({ alg: 'ES256', typ: 'at+jwt', kid: 'attacker', jwk: attackerJwk })],
    ['attacker key embedded as jwk with the real kid', es256({ alg: 'ES256', typ: 'at+jwt', kid, jwk: attackerJwk })],
    ['jku pointing elsewhere', es256({ alg: 'ES256', typ: 'at+jwt', kid: 'attacker', jku: 'http://127.0.0.1:1/jwks.json' })],
    ['x5u pointing elsewhere', es256({ alg: 'ES256', typ: 'at+jwt', kid, x5u: 'http://127.0.0.1:1/cert.pem' })],
    ['alg none', `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`]
  ]
  for (const [why, token] of forgeries) {
    const result = await validate(app, token)
    t.equal(result.valid, false, why)
    t.equal(result.error, 'invalid_signature', `${why}: invalid_signature`)
  }
  t.equal((await validate(app, session.refresh_token)).error, 'wrong_token_type', 'a refresh token is still recognised')
  t.equal((await validate(app, 'not-a-jwt')).error, 'malformed')
})

t.test('HS256 (default): kid derived from the secret, empty JWKS, no rotation', async (t) => {
  const app = await build(t, { env: ADMIN_ENV })
  const session = await newSession(app)
  t.equal(part(session.access_token, 0).kid, symmetricKid(TEST_ENV.JWT_SECRET ?? ''))
  t.notOk(part(session.access_token, 0).kid.includes(TEST_ENV.JWT_SECRET ?? ''), 'the kid does not reveal the secret')
  const jwks = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.same(jwks.json(), { keys: [] })
  const rotate = await app.inject({ method: 'POST', url: '/admin/keys/rotate', headers: { authorization: `Bearer ${await adminToken(app)}` } })
  t.equal(rotate.statusCode, 409)
  t.equal(rotate.json().error, 'conflict')
  const anonymous = await app.inject({ method: 'POST', url: '/admin/keys/rotate' })
  t.equal(anonymous.statusCode, 401)
  const plain = await app.inject({ method: 'POST', url: '/admin/keys/rotate', headers: { authorization: `Bearer ${session.access_token}` } })
  t.equal(plain.statusCode, 403)
})

t.test('staged rotation with tokens in flight, across two instances', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  const env = { ...ADMIN_ENV, JWT_ALGORITHM: 'EdDSA', KEY_ROTATION_OVERLAP: '1', KEY_RING_SYNC_INTERVAL_MS: '100' }
  const a = await build(t, { env, store })
  const b = await build(t, { env, store })
  const user = await newSession(a)
  const before = user.access_token
  const k1 = part(before, 0).kid
  const jwks = async (app: typeof a): Promise<string[]> =>
    (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys.map((k: { kid: string }) => k.kid)

  const small = await a.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(small.headers['cache-control'], 'public, max-age=0', 'max-age below a 1 s overlap')

  const res = await a.inject({ method: 'POST', url: '/admin/keys/rotate', headers: { authorization: `Bearer ${await adminToken(a)}` } })
  t.equal(res.statusCode, 200)
  const rotated = res.json()
  t.equal(rotated.alg, 'EdDSA')
  t.not(rotated.kid, k1)
  const activatesAt = Date.parse(rotated.activates_at)
  const lead = activatesAt - Date.parse(rotated.published_at)
  t.ok(lead > 0 && lead <= 1000, 'signs KEY_ROTATION_OVERLAP after it is published')
  t.same(await jwks(a), [k1, rotated.kid], 'published at once on A')
  t.ok(await waitFor(async () => (await jwks(b)).includes(rotated.kid)), 'and on B after a sync')

  const early = await login(a, user.username)
  if (Date.now() < activatesAt - 100) t.equal(part(early.access_token, 0).kid, k1, 'still the old key during the overlap')

  t.ok(await waitFor(async () => part((await login(a, user.username)).access_token, 0).kid === rotated.kid), 'A signs with the new key after the overlap')
  t.ok(await waitFor(async () => part((await login(b, user.username)).access_token, 0).kid === rotated.kid), 'so does B')
  const after = await login(b, user.username)
  t.equal((await validate(a, after.access_token)).valid, true, 'a new token validates on the other instance')
  t.equal((await validate(a, before)).valid, true, 'a token signed before the rotation still validates on A')
  t.equal((await validate(b, before)).valid, true, '... and on B')
  t.equal((await validate(b, early.access_token)).valid, true, 'so does one signed during the overlap')

  const keys = await store.keys.list(new Date())
  t.equal(keys[0]?.kid, k1)
  t.equal(keys[0]?.expiresAt?.getTime(), activatesAt + 900 * 1000, 'the old key is kept until its last token expires')
  t.equal(keys[1]?.expiresAt, null)
})

t.test('a retired key leaves the ring (and its tokens fail) once its tokens have expired', async (t) => {
  const store = memoryStore()
  t.teardown(() => store.close())
  let now = Date.now()
  const ring = new KeyRing(store.keys, {
    algorithm: 'ES256',
    secret: TEST_ENV.JWT_SECRET ?? '',
    overlapSeconds: 10,
    maxAccessTtl: 60,
    verify: { typ: 'at+jwt', issuer: 'iss', audience: 'aud', requiredClaims: ['iss', 'aud', 'exp'] },
    now: () => now
  })
  t.equal(await ring.ensureSigningKey(), true, 'creates the first key')
  t.equal(await ring.ensureSigningKey(), false, 'only once')
  const k1 = ring.currentKid
  const sec = (): number => Math.floor(now / 1000)
  const old = ring.codec.sign({ iss: 'iss', aud: 'aud', iat: sec(), exp: sec() + 3600 })
  const k2 = (await ring.rotate()).kid
  t.same(ring.kids, [k1, k2])
  t.equal(ring.currentKid, k1, 'during the overlap the old key signs')
  now += 10_000
  t.equal(ring.currentKid, k2, 'after it, the new one')
  t.same(ring.codec.verify(old).iss, 'iss')
  now += 60_000
  await ring.load()
  t.same(ring.kids, [k2], 'the old key is gone once every token it signed has expired')
  t.same(ring.jwks().keys.map((k) => k.kid), [k2])
  t.throws(() => ring.codec.verify(old), { code: 'FAST_JWT_INVALID_SIGNATURE' })
})

t.test('the key ring keeps verifying with the keys it has while the store is down', async (t) => {
  const inner = memoryStore()
  t.teardown(() => inner.close())
  const store = faultyStore(inner)
  const lines: string[] = []
  const logStream = { write: (line: string) => { lines.push(line) } }
  const app = await build(t, { env: { JWT_ALGORITHM: 'ES256', KEY_RING_SYNC_INTERVAL_MS: '50' }, store, logStream })
  const session = await newSession(app)
  store.down = true
  t.ok(await waitFor(async () => lines.some((l) => l.includes('key ring sync failed'))), 'the failure is logged')
  t.equal((await validate(app, session.access_token)).valid, true, 'validate still verifies')
  const jwks = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(jwks.json().keys.length, 1, 'and the JWKS is still served')
  t.equal(lines.filter((l) => l.includes('key ring sync failed')).length, 1, 'logged once per outage')
  store.down = false
  t.ok(await waitFor(async () => lines.some((l) => l.includes('key ring sync recovered'))), 'recovery is logged')
})
