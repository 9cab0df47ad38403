// The DPoP proof rules (packages/verifier/src/dpop.ts) without HTTP, against
// proofs made by jose, at a fixed time: each check of RFC 9449 §4.3 refuses
// what it should, and an honest proof passes for every allowed algorithm.
import { generateKeyPairSync, sign } from 'node:crypto'
import t from 'tap'
import { base64url, exportJWK } from 'jose'
import {
  accessTokenHash, authorizationToken, checkBinding, normalizeHtu, ProofVerifier, ReplayCache
} from '@token-orchestrator/verifier/dpop'
import { dpopKey, tamperPayload } from '../../support/dpop.js'
import { MemoryReplayGuard } from '../../../src/dpop/replay.js'

const NOW = 1_800_000_000
const URL_ = 'https://api.example.com/orders'
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'

t.test('an honest proof passes, for every algorithm, and gives the key thumbprint jose computes', async (t) => {
  const verifier = new ProofVerifier()
  for (const alg of ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256']) {
    const key = await dpopKey(alg)
    const proof = await key.proof({ method: 'GET', url: URL_, iat: NOW, accessToken: TOKEN })
    const result = verifier.verify(proof, { method: 'GET', url: URL_, accessToken: TOKEN, jkt: key.jkt }, NOW)
    t.ok(result.ok, `${alg} verifies`)
    if (result.ok) {
      t.equal(result.jkt, key.jkt, `${alg}: the RFC 7638 thumbprint`)
      t.equal(result.expiresAt, NOW + 61, 'remembered until the proof is too old anyway')
      t.match(result.replayKey, /^[A-Za-z0-9_-]{43}$/)
    }
  }
})

t.test('each check refuses what it should', async (t) => {
  const verifier = new ProofVerifier()
  const key = await dpopKey('ES256')
  const other = await dpopKey('ES256')
  const request = { method: 'POST', url: URL_, accessToken: TOKEN, jkt: key.jkt }
  const good = { method: 'POST', url: URL_, iat: NOW, accessToken: TOKEN }
  const refused = async (name: string, proof: unknown, req: Parameters<ProofVerifier['verify']>[1] = request, pattern?: RegExp) => {
    const result = verifier.verify(proof, req, NOW)
    t.equal(result.ok, false, name)
    if (!result.ok) {
      t.equal(result.error, 'invalid_dpop_proof', `${name}: invalid_dpop_proof`)
      if (pattern !== undefined) t.match(result.message, pattern, `${name}: ${result.message}`)
    }
  }
  t.ok(verifier.verify(await key.proof(good), request, NOW).ok, 'the baseline passes')

  await refused('no header', undefined, request, /exactly one DPoP header/)
  await refused('two headers joined', `${await key.proof(good)}, ${await key.proof(good)}`)
  await refused('not a JWS', 'garbage')
  await refused('too long', 'a'.repeat(9000) + '.b.c')
  await refused('typ jwt', await key.proof({ ...good, header: { typ: 'JWT' } }), request, /typ/)
  await refused('no typ', await key.proof({ ...good, header: { typ: undefined } }), request, /typ/)
  await refused('crit', await key.proof({ ...good, header: { crit: ['b64'], b64: true } }), request, /critical/)
  await refused('htm', await key.proof({ ...good, method: 'GET' }), request, /htm/)
  await refused('htm in lower case', await key.proof({ ...good, method: 'post' }), request, /htm/)
  await refused('htu other path', await key.proof({ ...good, url: 'https://api.example.com/orders/1' }), request, /htu/)
  await refused('htu other host', await key.proof({ ...good, url: 'https://evil.example.com/orders' }), request, /htu/)
  await refused('htu other scheme', await key.proof({ ...good, url: 'http://api.example.com/orders' }), request, /htu/)
  await refused('htu other port', await key.proof({ ...good, url: 'https://api.example.com:8443/orders' }), request, /htu/)
  await refused('htu trailing dot', await key.proof({ ...good, url: 'https://api.example.com./orders' }), request, /htu/)
  await refused('htu path case', await key.proof({ ...good, url: 'https://api.example.com/Orders' }), request, /htu/)
  await refused('htu with user info', await key.proof({ ...good, url: 'https://u:p@api.example.com/orders' }), request, /htu/)
  await refused('htu not a URL', await key.proof({ ...good, url: 'orders' }), request, /htu/)
  await refused('htu missing', await key.proof({ ...good, claims: { htu: undefined } }), request, /htu/)
  await refused('jti missing', await key.proof({ ...good, claims: { jti: undefined } }), request, /jti/)
  await refused('jti huge', await key.proof({ ...good, jti: 'j'.repeat(300) }), request, /jti/)
  await refused('iat missing', await key.proof({ ...good, claims: { iat: undefined } }), request, /iat/)
  await refused('iat a string', await key.proof({ ...good, claims: { iat: String(NOW) } }), request, /iat/)
  await refused('iat far past', await key.proof({ ...good, iat: NOW - 61 }), request, /iat/)
  await refused('iat far future', await key.proof({ ...good, iat: NOW + 61 }), request, /iat/)
  t.ok(verifier.verify(await key.proof({ ...good, iat: NOW - 60 }), request, NOW).ok, 'iat at the window\'s edge passes')
  await refused('no ath', await key.proof({ ...good, accessToken: undefined }), request, /ath/)
  await refused('ath of another token', await key.proof({ ...good, accessToken: TOKEN + 'x' }), request, /ath/)
  await refused('another key', await other.proof(good), request, /another key/)
  await refused('signature over another payload', tamperPayload(await key.proof(good), (p) => { p.jti = 'swapped' }), request, /signature/)
  await refused('nonce not a string', await key.proof({ ...good, claims: { nonce: 42 } }), request, /nonce/)
})

t.test('alg confusion, private keys and hostile keys are refused', async (t) => {
  const verifier = new ProofVerifier()
  const key = await dpopKey('ES256')
  const good = { method: 'POST', url: URL_, iat: NOW }
  const request = { method: 'POST', url: URL_ }
  const refused = (name: string, proof: string, pattern: RegExp) => {
    const result = verifier.verify(proof, request, NOW)
    t.equal(result.ok, false, name)
    if (!result.ok) t.match(result.message, pattern, `${name}: ${result.message}`)
  }
  const payload = base64url.encode(JSON.stringify({ jti: 'x', htm: 'POST', htu: URL_, iat: NOW }))
  const unsigned = (header: Record<string, unknown>, signature = ''): string =>
    `${base64url.encode(JSON.stringify(header))}.${payload}.${signature === '' ? 'AA' : signature}`

  refused('alg none', unsigned({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk }), /alg/)
  // An HMAC "signed" with the public key's bytes: the classic confusion.
  refused('alg HS256', unsigned({ typ: 'dpop+jwt', alg: 'HS256', jwk: key.publicJwk }), /alg/)
  const rsa = await dpopKey('RS256')
  refused('alg ES256 with an RSA key', unsigned({ typ: 'dpop+jwt', alg: 'ES256', jwk: rsa.publicJwk }), /EC key/)
  refused('alg ES384 with a P-256 key', unsigned({ typ: 'dpop+jwt', alg: 'ES384', jwk: key.publicJwk }), /curve/)
  refused('RS256 key declared PS256', unsigned({ typ: 'dpop+jwt', alg: 'PS256', jwk: rsa.publicJwk }, 'AAAA'), /signature/)

  const privateJwk = await exportJWK(key.privateKey)
  refused('private EC key embedded', await key.proof({ ...good, header: { jwk: privateJwk } }), /private/)
  const rsaPrivate = await exportJWK(rsa.privateKey)
  refused('private RSA key embedded', await rsa.proof({ ...good, header: { jwk: rsaPrivate } }), /private/)
  refused('symmetric key', unsigned({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'oct', k: 'c2VjcmV0' } }), /private|EC key/)
  refused('no jwk', unsigned({ typ: 'dpop+jwt', alg: 'ES256' }), /JWK/)
  refused('jwk a string', unsigned({ typ: 'dpop+jwt', alg: 'ES256', jwk: 'x' }), /JWK/)
  refused('x coordinate too short', unsigned({ typ: 'dpop+jwt', alg: 'ES256', jwk: { ...key.publicJwk, x: 'AAAA' } }), /x coordinate/)
  refused('x padded', unsigned({ typ: 'dpop+jwt', alg: 'ES256', jwk: { ...key.publicJwk, x: `${String(key.publicJwk.x)}=` } }), /x coordinate/)
  // A point that is not on the curve: the import fails, the proof is refused, nothing throws.
  const offCurve = { ...key.publicJwk, y: base64url.encode(Buffer.alloc(32, 1)) }
  refused('point off the curve', await key.proof({ ...good, header: { jwk: offCurve } }), /signature/)

  // RSA moduli outside 2048..4096 bits.
  const { publicKey: small, privateKey: smallPrivate } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const smallJwk = small.export({ format: 'jwk' })
  // jose refuses to sign with a key this small: signed here with node:crypto.
  const smallInput = `${base64url.encode(JSON.stringify({ typ: 'dpop+jwt', alg: 'RS256', jwk: smallJwk }))}.${payload}`
  const smallProof = `${smallInput}.${sign('sha256', Buffer.from(smallInput), smallPrivate).toString('base64url')}`
  refused('RSA-1024', smallProof, /2048/)
  const { publicKey: big } = generateKeyPairSync('rsa', { modulusLength: 6144 })
  refused('RSA-6144', unsigned({ typ: 'dpop+jwt', alg: 'RS256', jwk: big.export({ format: 'jwk' }) }), /2048 to 4096 bits/)
  refused('huge RSA modulus', unsigned({ typ: 'dpop+jwt', alg: 'RS256', jwk: { kty: 'RSA', e: 'AQAB', n: base64url.encode(Buffer.alloc(1100, 0xff)) } }), /bits/)
  refused('huge jwk', unsigned({ typ: 'dpop+jwt', alg: 'RS256', jwk: { kty: 'RSA', e: 'AQAB', n: 'A'.repeat(9000) } }), /compact JWS/)
})

t.test('an allow-list narrower than the default refuses the rest', async (t) => {
  const verifier = new ProofVerifier({ algorithms: ['ES256'] })
  t.same(verifier.algorithms, ['ES256'])
  const rsa = await dpopKey('PS256')
  const result = verifier.verify(await rsa.proof({ url: URL_, iat: NOW }), { method: 'POST', url: URL_ }, NOW)
  t.equal(result.ok, false)
  t.throws(() => new ProofVerifier({ algorithms: ['HS256'] }), /subset/)
  t.throws(() => new ProofVerifier({ algorithms: [] }), /subset/)
})

t.test('nonces: a missing or refused nonce is use_dpop_nonce', async (t) => {
  const verifier = new ProofVerifier()
  const key = await dpopKey()
  const nonce = (n: string | undefined): boolean => n === 'fresh'
  const request = { method: 'POST', url: URL_, nonce }
  const without = verifier.verify(await key.proof({ url: URL_, iat: NOW }), request, NOW)
  t.match(without, { ok: false, error: 'use_dpop_nonce', message: /required/ })
  const stale = verifier.verify(await key.proof({ url: URL_, iat: NOW, nonce: 'old' }), request, NOW)
  t.match(stale, { ok: false, error: 'use_dpop_nonce', message: /stale/ })
  t.ok(verifier.verify(await key.proof({ url: URL_, iat: NOW, nonce: 'fresh' }), request, NOW).ok)
})

t.test('htu is compared after RFC 3986 normalisation, without query and fragment', async (t) => {
  const same = [
    'https://api.example.com/orders',
    'HTTPS://API.EXAMPLE.COM/orders',
    'https://api.example.com:443/orders',
    'https://api.example.com/orders?page=2',
    'https://api.example.com/orders#top',
    'https://api.example.com/%6Frders',
    'https://api.example.com/x/../orders',
    'https://api.example.com/./orders'
  ]
  for (const url of same) t.equal(normalizeHtu(url), 'https://api.example.com/orders', url)
  t.equal(normalizeHtu('https://api.example.com'), 'https://api.example.com/', 'an empty path is /')
  t.equal(normalizeHtu('http://h:80/a%2fb'), 'http://h/a%2Fb', 'a reserved escape stays, in upper case')
  t.not(normalizeHtu('https://api.example.com/orders/'), 'https://api.example.com/orders', 'a trailing slash is another URL')
  t.equal(normalizeHtu('ftp://api.example.com/orders'), null)
  t.equal(normalizeHtu('/orders'), null)
  t.equal(normalizeHtu('https://u@api.example.com/orders'), null)
  t.equal(normalizeHtu('https://' + 'a'.repeat(5000)), null)
})

t.test('checkBinding: an unbound token needs nothing; a bound one a proof from its key', async (t) => {
  const verifier = new ProofVerifier()
  const key = await dpopKey()
  t.equal(checkBinding(verifier, undefined, TOKEN, undefined, NOW), null)
  t.equal(checkBinding(verifier, undefined, TOKEN, { proof: 'junk', method: 'GET', url: URL_ }, NOW), null, 'a proof with an unbound token is not looked at')
  t.match(checkBinding(verifier, { jkt: key.jkt }, TOKEN, undefined, NOW), { ok: false, error: 'dpop_proof_required' })
  const proof = await key.proof({ method: 'GET', url: URL_, iat: NOW, accessToken: TOKEN })
  t.match(checkBinding(verifier, { jkt: key.jkt }, TOKEN, { proof, method: 'GET', url: URL_ }, NOW), { ok: true, jkt: key.jkt })
  t.match(checkBinding(verifier, { jkt: 'someone-else' }, TOKEN, { proof, method: 'GET', url: URL_ }, NOW), { ok: false, error: 'invalid_dpop_proof' })
})

t.test('ReplayCache: a proof once, until it expires; bounded', async (t) => {
  const cache = new ReplayCache(3)
  t.equal(cache.claim('a', NOW + 10, NOW), true)
  t.equal(cache.claim('a', NOW + 10, NOW), false, 'a replay')
  t.equal(cache.claim('a', NOW + 10, NOW + 5), false, 'still within its window')
  t.equal(cache.claim('a', NOW + 20, NOW + 10), true, 'forgotten once expired')
  cache.claim('b', NOW + 100, NOW)
  cache.claim('c', NOW + 100, NOW)
  cache.claim('d', NOW + 100, NOW)
  t.ok(cache.size <= 3, 'never above its capacity')
})

t.test('ReplayCache: full of live proofs, a new one is refused and a captured one stays remembered', async (t) => {
  const warnings: number[] = []
  const cache = new ReplayCache(3, (size) => warnings.push(size))
  t.equal(cache.claim('captured', NOW + 60, NOW), true)
  t.equal(cache.claim('own-1', NOW + 30, NOW), true)
  t.equal(cache.claim('own-2', NOW + 30, NOW), true)
  for (let i = 3; i < 50; i++) t.equal(cache.claim(`own-${i}`, NOW + 30, NOW), false, 'refused while full of live entries')
  t.equal(cache.claim('captured', NOW + 60, NOW + 1), false, 'the captured proof is still a replay after the flood')
  t.equal(cache.claim('own-late', NOW + 31, NOW + 1), false, 'still full a second later')
  t.equal(cache.size, 3)
  t.same(warnings, [3, 3], 'one warning per second, not per refusal')
  t.equal(cache.claim('fresh', NOW + 90, NOW + 31), true, 'accepted once expired entries are reclaimed')
  t.equal(cache.claim('captured', NOW + 60, NOW + 31), false, 'the live captured proof survived the reclaim')
})

t.test('MemoryReplayGuard: full of live proofs, it refuses new ones and tells onFull', async (t) => {
  const told: number[] = []
  const guard = new MemoryReplayGuard(2, (size) => told.push(size))
  t.equal(await guard.claim('a', NOW + 30, NOW), true)
  t.equal(await guard.claim('b', NOW + 30, NOW), true)
  t.equal(await guard.claim('c', NOW + 30, NOW), false, 'full: refused as a replay')
  t.equal(await guard.claim('a', NOW + 30, NOW), false, 'a replay stays one')
  t.same(told, [2])
  t.equal(await guard.claim('c', NOW + 60, NOW + 31), true, 'accepted once the others expired')
})

t.test('authorizationToken reads both schemes, and nothing else', async (t) => {
  t.same(authorizationToken('Bearer abc.def'), { scheme: 'Bearer', token: 'abc.def' })
  t.same(authorizationToken('DPoP abc.def'), { scheme: 'DPoP', token: 'abc.def' })
  t.same(authorizationToken('dpop abc.def'), { scheme: 'DPoP', token: 'abc.def' })
  t.equal(authorizationToken('Basic abc'), null)
  t.equal(authorizationToken('DPoP'), null)
  t.equal(authorizationToken(undefined), null)
  t.equal(accessTokenHash('x'), 'LXEWQrcmsEQBYnyp-6wy9chTD7GQPMTbAiWHF5IaSIE')
})
