// The verified-token cache: bounded, never answers past a token's exp, and
// never lets a cached token skip the revocation check (checked by callers).
import t from 'tap'
import { VerifiedTokenCache } from '../src/tokens/verified-token-cache.js'
import { TokenService, type JwtCodec } from '../src/tokens/tokens.js'
import { RouteLatency } from '../plugins/metrics/route-latency.js'

t.test('answers until exp, then forgets', async (t) => {
  const cache = new VerifiedTokenCache<string>(10)
  cache.set('a', 'claims-a', 100)
  t.equal(cache.get('a', 99_999), 'claims-a')
  t.equal(cache.get('a', 100_000), undefined, 'at exp it is gone')
  t.equal(cache.size, 0)
})

t.test('bounded: the oldest entry goes first', async (t) => {
  const cache = new VerifiedTokenCache<number>(3)
  for (let i = 0; i < 5; i++) cache.set(`t${i}`, i, 1e9)
  t.equal(cache.size, 3)
  t.equal(cache.get('t0', 0), undefined)
  t.equal(cache.get('t1', 0), undefined)
  t.equal(cache.get('t4', 0), 4)
  const off = new VerifiedTokenCache<number>(0)
  off.set('x', 1, 1e9)
  t.equal(off.get('x', 0), undefined, 'capacity 0 turns it off')
  cache.clear()
  t.equal(cache.size, 0)
})

t.test('an entry answers for its exact token only, not for another with the same signature segment', async (t) => {
  const cache = new VerifiedTokenCache<string>(10)
  cache.set('h.p1.sig', 'claims-1', 1e9)
  t.equal(cache.get('h.p1.sig', 0), 'claims-1')
  t.equal(cache.get('h.p2.sig', 0), undefined, 'a forged payload under a copied signature misses')
  t.equal(cache.get('sig', 0), undefined, 'the signature alone misses')
  t.equal(cache.get('h.p1.sig', 0), 'claims-1', 'and the real token still hits')
  cache.set('h.p1.sig', 'again', 1e9)
  t.equal(cache.size, 1, 'setting the same token again replaces its entry')
  t.equal(cache.get('h.p1.sig', 0), 'again')
})

t.test('TokenService: a forged payload under a cached token\'s signature is verified, and refused', async (t) => {
  const claims = { iss: 'i', sub: 's', aud: 'a', iat: 1_000_000, exp: 1_000_060, jti: 'j', client_id: 'c', scope: '', roles: [] }
  const codec: JwtCodec = {
    sign: () => 'signed',
    verify: (token) => {
      if (token !== 'h.real.sig') throw Object.assign(new Error('bad signature'), { code: 'FAST_JWT_INVALID_SIGNATURE' })
      return { ...claims }
    }
  }
  const tokens = new TokenService(codec, codec, { issuer: 'i', now: () => 1_000_000 })
  t.equal(tokens.verifyAccess('h.real.sig').ok, true)
  t.same(tokens.verifyAccess('h.forged.sig'), { ok: false, error: 'invalid_signature' })
  t.equal(tokens.verifyAccess('h.real.sig').ok, true, 'the real token still answers')
})

t.test('TokenService: a cached token still expires on time', async (t) => {
  let now = 1_000_000
  let verifications = 0
  const claims = { iss: 'i', sub: 's', aud: 'a', iat: now, exp: now + 60, jti: 'j', client_id: 'c', scope: '', roles: [] }
  const codec: JwtCodec = {
    sign: () => 'signed',
    verify: () => {
      verifications += 1
      if (now >= claims.exp) throw Object.assign(new Error('expired'), { code: 'FAST_JWT_EXPIRED' })
      return { ...claims }
    }
  }
  const tokens = new TokenService(codec, codec, { issuer: 'i', now: () => now })
  t.equal(tokens.verifyAccess('tok').ok, true)
  t.equal(tokens.verifyAccess('tok').ok, true)
  t.equal(verifications, 1, 'the second answer came from the cache')
  now = claims.exp
  t.same(tokens.verifyAccess('tok'), { ok: false, error: 'expired' })
  t.equal(verifications, 2)
})

t.test('RouteLatency: cumulative buckets, sum and count per method and status', async (t) => {
  const latency = new RouteLatency('/x', [0.001, 0.01])
  latency.observe('GET', 200, 0.0005)
  latency.observe('GET', 200, 0.005)
  latency.observe('GET', 200, 5)
  latency.observe('BREW', 401, 0.0001)
  const values = latency.values('h')
  const get = (metricName: string, labels: Record<string, unknown>): number | undefined =>
    values.find((v) => v.metricName === metricName && Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value
  t.equal(get('h_bucket', { method: 'GET', status_code: 200, le: 0.001 }), 1)
  t.equal(get('h_bucket', { method: 'GET', status_code: 200, le: 0.01 }), 2)
  t.equal(get('h_bucket', { method: 'GET', status_code: 200, le: '+Inf' }), 3)
  t.equal(get('h_count', { method: 'GET', status_code: 200 }), 3)
  t.equal(get('h_sum', { method: 'GET', status_code: 200 }), 5.0055)
  t.equal(get('h_count', { method: 'OTHER', status_code: 401, route: '/x' }), 1)
})
