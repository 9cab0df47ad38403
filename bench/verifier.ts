// `npm run bench:verifier`: the in-process verifier (@token-orchestrator/verifier)
// on one core. A benchmark, not a test: nothing here fails a build.
//   - verify of a cached token, revocation check included (the revocation view
//     holds REVOKED entries, as a busy service's would);
//   - the first verification of a new ES256 and a new EdDSA token (signature
//     and claim checks: the underlying cost that the cache saves);
//   - memory per cached token (heap growth over CACHED distinct tokens; run with
//     --expose-gc, which the npm script does).
// The service is played by a stub fetch (metadata, JWKS and the revocation
// feed), so the numbers are the verifier's alone. bench/run.ts can import
// `verifierRows` to print them beside the service's.
//
// Knobs (environment): BENCH_VERIFY_CALLS (cached verifies timed, 5,000,000),
// BENCH_FIRST_TOKENS (distinct tokens per algorithm, 3,000), BENCH_CACHED (20,000).
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createSigner } from 'fast-jwt'
import { createVerifier, type Verifier } from '@token-orchestrator/verifier'
import { ACCESS_TOKEN_TYPE } from '@token-orchestrator/verifier/rules'

const CALLS = Number(process.env.BENCH_VERIFY_CALLS ?? 5_000_000)
const FIRST_TOKENS = Number(process.env.BENCH_FIRST_TOKENS ?? 3_000)
const CACHED = Number(process.env.BENCH_CACHED ?? 20_000)
const REVOKED = 10_000
const URL_BASE = 'http://service.invalid'

type Alg = 'ES256' | 'EdDSA'

function keyPair (alg: Alg): { privateKey: KeyObject, publicKey: KeyObject } {
  return alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
}

function minter (alg: Alg, kid: string, privateKey: KeyObject): (i: number) => string {
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  // fast-jwt's `typ` option is missing from its type definitions.
  const sign = createSigner({ key: pem, algorithm: alg, kid, typ: ACCESS_TOKEN_TYPE } as unknown as Parameters<typeof createSigner>[0]) as
    unknown as (payload: Record<string, unknown>) => string
  const now = Math.floor(Date.now() / 1000)
  return (i) => sign({
    iss: 'token-orchestrator',
    sub: `user-${i}`,
    aud: 'token-orchestrator',
    iat: now,
    exp: now + 900,
    jti: `jti-${i}-${Math.random().toString(36).slice(2)}`,
    sid: `sid-${i}`,
    client_id: 'default',
    scope: '',
    roles: []
  })
}

/** A stub of the service: metadata, a JWKS of the given keys, and a feed holding REVOKED entries. */
function stubFetch (keys: Array<{ alg: Alg, kid: string, publicKey: KeyObject }>): typeof fetch {
  const jwks = { keys: keys.map(({ alg, kid, publicKey }) => ({ ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' })) }
  const exp = Math.floor(Date.now() / 1000) + 3600
  const entries = Array.from({ length: REVOKED }, (_, i) => ({ seq: i + 1, kind: 'jti', value: `revoked-${i}`, expires_at: exp }))
  const json = (body: unknown, headers: Record<string, string> = {}): Response =>
    new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', ...headers } })
  return async (input, init) => {
    const url = new URL(String(input))
    if (url.pathname === '/.well-known/oauth-authorization-server') return json({ issuer: URL_BASE, jwks_uri: `${URL_BASE}/.well-known/jwks.json` })
    if (url.pathname === '/.well-known/jwks.json') return json(jwks, { 'cache-control': 'public, max-age=300' })
    const after = Number(url.searchParams.get('after'))
    if (after === 0) return json({ resync: false, entries, next_cursor: REVOKED })
    if (url.searchParams.get('wait') === '0') return json({ resync: false, entries: [], next_cursor: after })
    // Nothing new: a long-poll that waits until the verifier closes.
    await new Promise((resolve) => init?.signal?.addEventListener('abort', resolve, { once: true }))
    throw new DOMException('aborted', 'AbortError')
  }
}

function perSecond (calls: number, ms: number): number {
  return calls / (ms / 1000)
}

function fmt (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

export interface VerifierRow { name: string, value: string, note: string }

export async function verifierRows (): Promise<VerifierRow[]> {
  const algs: Alg[] = ['ES256', 'EdDSA']
  const pairs = algs.map((alg) => ({ alg, kid: `bench-${alg}`, ...keyPair(alg) }))
  const verifier: Verifier = await createVerifier({
    url: URL_BASE, clientId: 'bench', clientSecret: 'bench', fetch: stubFetch(pairs), cacheSize: Math.max(CACHED, FIRST_TOKENS) * 2
  })
  const rows: VerifierRow[] = []
  try {
    const mint = Object.fromEntries(pairs.map((p) => [p.alg, minter(p.alg, p.kid, p.privateKey)])) as Record<Alg, (i: number) => string>

    // Cached verify, revocation check included.
    const hot = mint.ES256(0)
    if (!verifier.verify(hot).valid) throw new Error('the hot token does not verify')
    let valid = 0
    for (let i = 0; i < 200_000; i++) if (verifier.verify(hot).valid) valid++ // warm-up
    let started = performance.now()
    for (let i = 0; i < CALLS; i++) if (verifier.verify(hot).valid) valid++
    const cachedRate = perSecond(CALLS, performance.now() - started)
    rows.push({
      name: 'verifier: verify, cached token',
      value: `${fmt(cachedRate)} /s`,
      note: `one core, revocation check against ${fmt(verifier.status().revocations)} entries; target >= 1,000,000/s: ${cachedRate >= 1_000_000 ? 'met' : 'NOT met'}`
    })

    // First verification of new tokens: signature and claims (each token verified once).
    for (const alg of algs) {
      const tokens = Array.from({ length: FIRST_TOKENS }, (_, i) => mint[alg](i + 1))
      started = performance.now()
      for (const token of tokens) if (verifier.verify(token).valid) valid++
      const ms = performance.now() - started
      rows.push({
        name: `verifier: first verify, new ${alg} token`,
        value: `${fmt(perSecond(FIRST_TOKENS, ms))} /s`,
        note: `${(ms * 1000 / FIRST_TOKENS).toFixed(1)} µs each (signature + claims), ${fmt(FIRST_TOKENS)} distinct tokens`
      })
    }

    // Memory per cached token.
    const gc = (globalThis as { gc?: () => void }).gc
    const tokens = Array.from({ length: CACHED }, (_, i) => mint.EdDSA(1_000_000 + i))
    gc?.()
    const before = process.memoryUsage().heapUsed
    for (const token of tokens) if (verifier.verify(token).valid) valid++
    gc?.()
    const perToken = (process.memoryUsage().heapUsed - before) / CACHED
    rows.push({
      name: 'verifier: memory per cached token',
      value: `${fmt(perToken)} bytes`,
      note: `${fmt(CACHED)} tokens: the entry and its claims; the token string (${tokens[0]!.length} chars here) comes on top ` +
        'once the caller lets go of it' +
        (gc === undefined ? '; without --expose-gc: rough' : '')
    })
    if (valid === 0) throw new Error('nothing verified')
  } finally {
    await verifier.close()
  }
  return rows
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const rows = await verifierRows()
  const width = Math.max(...rows.map((r) => r.name.length))
  for (const row of rows) console.log(`${row.name.padEnd(width)}  ${row.value.padStart(18)}  ${row.note}`)
}
