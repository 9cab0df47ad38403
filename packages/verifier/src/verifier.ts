// A verifier of Token Orchestrator access tokens for resource servers: it
// verifies in process (the service's own rules, see rules.ts), against the
// service's JWKS, and follows the service's revocation feed so a logout, a
// revoke, a logout-all or a client disable is refused here within about a
// second. `verify` never waits on the network: keys and revocations are
// fetched in the background, and when the feed has been out of reach for
// longer than `maxStaleness` the answer says so instead of guessing.
import { setTimeout as delay } from 'node:timers/promises'
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { createVerifier as createJwtVerifier, type Algorithm } from 'fast-jwt'
import { checkBinding, ProofVerifier, ReplayCache, type PresentedProof } from './dpop.js'
import { RevocationList, type RevocationKind } from './revocation-list.js'
import {
  accessRules, hasAccessShape, headerKid, KeyRevokedError, unknownKid, verifiedUntil, verifierOptions, verifyToken,
  type AccessClaims, type PreviousIssuers, type TokenErrorCode, type TokenRules
} from './rules.js'

export type VerifyResult =
  | { valid: true, claims: AccessClaims }
  | { valid: false, error: TokenErrorCode | 'revocation_state_stale' }
  | { valid: false, error: 'dpop_proof_required' | 'invalid_dpop_proof', message: string }

export interface VerifierOptions {
  /** Base URL of the service, e.g. https://auth.example.com (its metadata is read at /.well-known/oauth-authorization-server). */
  url: string
  /** A client of the service with the `revocations:read` scope. */
  clientId: string
  clientSecret: string
  /**
   * The `iss` tokens must carry. Default: what the service's metadata names (its
   * `issuer`, or `jwt_issuer` when the service overrides it). When given, it must
   * be that value: createVerifier rejects (issuer_mismatch) rather than refuse
   * every token. Older issuers the metadata lists (`jwt_issuer_previous`) are
   * accepted until `jwt_issuer_previous_until`, as the service accepts them.
   */
  issuer?: string
  /** An audience tokens must carry: the service's JWT_AUDIENCE or one of a client's audiences (default `token-orchestrator`). */
  audience?: string
  /** Seconds without reaching the revocation feed after which the revocation state is stale (default 30). */
  maxStaleness?: number
  /** What verify answers while stale: `deny` (default) refuses every token, `allow` answers from the last state. */
  onStale?: 'deny' | 'allow'
  /** Verified tokens remembered, by exact token, never past their exp (default 10,000; 0 turns it off). */
  cacheSize?: number
  /** Minimum seconds between two JWKS fetches caused by an unknown kid (default 10). */
  unknownKidRefetchInterval?: number
  /** DPoP proof algorithms accepted (default: ES256, ES384, EdDSA, PS256, RS256). */
  dpopAlgorithms?: readonly string[]
  /** Seconds a DPoP proof's iat may be from this machine's time, either way (default 60); proofs are remembered that long. */
  dpopWindow?: number
  /** DPoP proofs remembered to refuse replays, in this process (default 100,000). */
  dpopReplayCacheSize?: number
  /** Called with background failures (feed or JWKS), once per streak. */
  onError?: (err: Error) => void
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch
}

export interface VerifierStatus {
  /** When the feed last answered; null before the first answer. */
  lastSyncAt: Date | null
  /** Seconds since then. */
  lagSeconds: number
  /** lagSeconds > maxStaleness. */
  stale: boolean
  /** The feed cursor. */
  cursor: number
  /** Revocation entries held. */
  revocations: number
  /** Verified tokens cached. */
  cachedTokens: number
  /** Signing keys known (kids). */
  keys: string[]
  /** The last background failure, if the latest attempt failed. */
  lastError: string | null
}

export interface Verifier {
  /**
   * Synchronous: what POST /token/validate would answer, or `revocation_state_stale`.
   * A DPoP-bound token is valid only with `dpop`: the proof its holder sent with
   * this request (the DPoP header), and the request's method and absolute URL.
   * Replays are refused within this process (the verifier's own memory).
   */
  verify (token: string, dpop?: PresentedProof): VerifyResult
  /** The DPoP proof algorithms it accepts (for a `WWW-Authenticate: DPoP algs=…` challenge). */
  readonly dpopAlgorithms: readonly string[]
  status (): VerifierStatus
  /** Stops the feed, the JWKS refreshes and every request in flight. */
  close (): Promise<void>
}

export type VerifierErrorCode =
  | 'unreachable' | 'bad_response' | 'symmetric_keys' | 'credentials_refused' | 'insufficient_scope' | 'closed'
  | 'issuer_mismatch'

export class VerifierError extends Error {
  constructor (readonly code: VerifierErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VerifierError'
  }
}

const ASYMMETRIC: ReadonlySet<string> = new Set(['ES256', 'EdDSA', 'RS256', 'RS384', 'RS512', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'])
const REQUEST_TIMEOUT_MS = 10_000
const MAX_BACKOFF_MS = 5_000
const FEED_KINDS: ReadonlySet<string> = new Set(['jti', 'sid', 'client', 'user', 'key'])
/** JWKS refresh bounds, seconds: never hammer the service, never keep a key set for long. */
const MIN_JWKS_REFRESH = 1
const MAX_JWKS_REFRESH = 300

interface FeedPage {
  resync: boolean
  entries: Array<{
    seq: number
    kind: RevocationKind
    value: string
    expires_at: number
    created_at?: number
    issued_before?: number
    except_sid?: string
  }>
  next_cursor: number
}

interface Jwk extends JsonWebKey {
  kid?: string
  alg?: string
  use?: string
}

type KeyVerifier = (token: string) => Record<string, unknown>

/** Cached answers: the result object itself (no allocation on a hit) and the token's exp. */
interface CacheEntry {
  result: { valid: true, claims: AccessClaims }
  expMs: number
}

function maxAge (cacheControl: string | null): number | undefined {
  const match = /(?:^|,)\s*max-age=(\d+)/i.exec(cacheControl ?? '')
  return match?.[1] !== undefined ? Number(match[1]) : undefined
}

/** Waits `ms`, or less once `signal` aborts (also when it already has); never rejects. */
async function wait (ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => {})
}

class LocalVerifier implements Verifier {
  private readonly list = new RevocationList()
  private readonly proofs: ProofVerifier
  private readonly replays: ReplayCache
  private readonly cache = new Map<string, CacheEntry>()
  private keys = new Map<string, KeyVerifier>()
  /** Set by start() from the service's metadata. */
  private rules: TokenRules
  private readonly maxStalenessMs: number
  private readonly allowStale: boolean
  private readonly cacheSize: number
  private readonly fetchImpl: typeof fetch
  private readonly closing = new AbortController()
  private readonly authorization: string
  private readonly feedUrl: string
  private jwksUri = ''
  private cursor = 0
  /** Epoch ms of the feed's last answer; 0 before the first. */
  private lastSyncMs = 0
  private lastError: string | null = null
  private failing = false
  private following: Promise<void> | undefined
  private jwksTimer: NodeJS.Timeout | undefined
  private jwksFetch: Promise<void> | undefined
  private lastKidRefetchMs = 0
  private lastSweepMs = 0

  constructor (private readonly options: VerifierOptions) {
    this.rules = accessRules(options.issuer ?? '', options.audience ?? 'token-orchestrator')
    this.maxStalenessMs = (options.maxStaleness ?? 30) * 1000
    this.allowStale = options.onStale === 'allow'
    this.cacheSize = options.cacheSize ?? 10_000
    this.fetchImpl = options.fetch ?? globalThis.fetch
    this.proofs = new ProofVerifier({
      ...(options.dpopAlgorithms !== undefined ? { algorithms: options.dpopAlgorithms } : {}),
      ...(options.dpopWindow !== undefined ? { windowSeconds: options.dpopWindow } : {})
    })
    this.replays = new ReplayCache(options.dpopReplayCacheSize ?? 100_000)
    const base = options.url.replace(/\/+$/, '')
    this.feedUrl = `${base}/token/revocations`
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    const form = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+')
    this.authorization = 'Basic ' + Buffer.from(`${form(options.clientId)}:${form(options.clientSecret)}`).toString('base64')
    // A revoked signing key: verify refuses its kid from now on (keyVerifier), cached
    // successes are dropped, and the JWKS is read again at once for the key that replaces it.
    this.list.onKeyRevoked(() => {
      this.cache.clear()
      this.lastKidRefetchMs = 0
      if (this.jwksUri !== '') this.loadKeys()
    })
  }

  verify (token: string, dpop?: PresentedProof): VerifyResult {
    const nowMs = Date.now()
    let result: VerifyResult
    const cached = this.cache.get(token)
    if (cached !== undefined && nowMs < cached.expMs) {
      result = cached.result
    } else {
      if (cached !== undefined) this.cache.delete(token)
      const verified = verifyToken<AccessClaims>(this.keyVerifier, this.rules, token, Math.floor(nowMs / 1000), hasAccessShape)
      if (!verified.ok) return { valid: false, error: verified.error }
      result = { valid: true, claims: verified.claims }
      this.remember(token, result, verifiedUntil(this.rules, verified.claims) * 1000)
    }
    if (!this.allowStale && nowMs - this.lastSyncMs > this.maxStalenessMs) return { valid: false, error: 'revocation_state_stale' }
    const { claims } = result
    if (this.list.isRevoked(claims.jti, claims.sid, claims.client_id, claims.iat, claims.sub, claims.act)) return { valid: false, error: 'revoked' }
    // A DPoP-bound token: one proof verification and a replay check; an unbound one pays nothing here.
    if (claims.cnf !== undefined) return this.checkProof(token, claims.cnf, dpop, nowMs, result)
    return result
  }

  private checkProof (token: string, cnf: { jkt: string }, dpop: PresentedProof | undefined, nowMs: number, result: VerifyResult): VerifyResult {
    const nowSeconds = Math.floor(nowMs / 1000)
    const binding = checkBinding(this.proofs, cnf, token, dpop, nowSeconds)
    if (binding === null) return result
    if (!binding.ok) return { valid: false, error: binding.error === 'use_dpop_nonce' ? 'invalid_dpop_proof' : binding.error, message: binding.message }
    if (!this.replays.claim(binding.replayKey, binding.expiresAt, nowSeconds)) {
      return { valid: false, error: 'invalid_dpop_proof', message: 'the DPoP proof was already used' }
    }
    return result
  }

  get dpopAlgorithms (): readonly string[] {
    return this.proofs.algorithms
  }

  status (): VerifierStatus {
    const lagMs = this.lastSyncMs === 0 ? Infinity : Date.now() - this.lastSyncMs
    return {
      lastSyncAt: this.lastSyncMs === 0 ? null : new Date(this.lastSyncMs),
      lagSeconds: lagMs / 1000,
      stale: lagMs > this.maxStalenessMs,
      cursor: this.cursor,
      revocations: this.list.size,
      cachedTokens: this.cache.size,
      keys: [...this.keys.keys()],
      lastError: this.lastError
    }
  }

  async close (): Promise<void> {
    this.closing.abort()
    if (this.jwksTimer !== undefined) clearTimeout(this.jwksTimer)
    this.jwksTimer = undefined
    await Promise.allSettled([this.following, this.jwksFetch])
  }

  /** Metadata, keys and the revocation state as of now; then follows the feed. */
  async start (): Promise<void> {
    const metadata = await this.getJson(`${this.options.url.replace(/\/+$/, '')}/.well-known/oauth-authorization-server`)
    const jwksUri = (metadata.body as { jwks_uri?: unknown }).jwks_uri
    if (typeof jwksUri !== 'string') throw new VerifierError('bad_response', 'the authorization server metadata has no jwks_uri')
    this.rules = accessRules(this.issuerFrom(metadata.body), this.options.audience ?? 'token-orchestrator', previousFrom(metadata.body))
    this.jwksUri = jwksUri
    await this.refreshKeys(true)
    // Catch up with the whole log before the first verify; a refusal here is the caller's to see.
    for (;;) {
      const before = this.cursor
      await this.readFeed(0)
      if (this.cursor === before) break
    }
    this.following = this.follow()
  }

  /** The `iss` the service's tokens carry, as its metadata says (checked against the `issuer` option). */
  private issuerFrom (metadata: unknown): string {
    const { issuer, jwt_issuer: jwtIssuer } = (metadata ?? {}) as { issuer?: unknown, jwt_issuer?: unknown }
    const tokenIssuer = typeof jwtIssuer === 'string' ? jwtIssuer : issuer
    if (typeof tokenIssuer !== 'string') throw new VerifierError('bad_response', 'the authorization server metadata has no issuer')
    if (this.options.issuer !== undefined && this.options.issuer !== tokenIssuer) {
      throw new VerifierError('issuer_mismatch', `the service's tokens carry iss ${JSON.stringify(tokenIssuer).slice(0, 200)}, ` +
        `not ${JSON.stringify(this.options.issuer).slice(0, 200)}: leave the issuer option out (it defaults to the service's) or correct it`)
    }
    return tokenIssuer
  }

  private readonly keyVerifier = (token: string): Record<string, unknown> => {
    const kid = headerKid(token)
    if (kid !== undefined && this.list.isKeyRevoked(kid)) throw new KeyRevokedError()
    const verify = kid === undefined ? undefined : this.keys.get(kid)
    if (verify === undefined) {
      if (kid !== undefined) this.refetchForUnknownKid()
      throw unknownKid()
    }
    return verify(token)
  }

  private remember (token: string, result: CacheEntry['result'], expMs: number): void {
    if (this.cacheSize <= 0) return
    if (this.cache.size >= this.cacheSize) {
      // FIFO: a working set up to the size always hits; a flood of new tokens can only make it miss.
      const oldest = this.cache.keys().next()
      if (oldest.done !== true) this.cache.delete(oldest.value)
    }
    this.cache.set(token, { result, expMs })
  }

  // ------------------------------------------------------------------ keys

  /** Loads the JWKS and schedules the next load within its max-age (the service publishes keys ahead of use). */
  private async refreshKeys (first = false): Promise<void> {
    try {
      const { body, headers } = await this.getJson(this.jwksUri)
      const keys = (body as { keys?: unknown }).keys
      if (!Array.isArray(keys)) throw new VerifierError('bad_response', 'the JWKS has no keys array')
      const next = new Map<string, KeyVerifier>()
      for (const jwk of keys as Jwk[]) {
        if (typeof jwk.kid !== 'string' || typeof jwk.alg !== 'string' || !ASYMMETRIC.has(jwk.alg)) continue
        if (jwk.use !== undefined && jwk.use !== 'sig') continue
        // A JWKS read just before a revocation may still hold the key; it is never loaded again.
        if (this.list.isKeyRevoked(jwk.kid)) continue
        const known = this.keys.get(jwk.kid)
        if (known !== undefined) {
          next.set(jwk.kid, known)
          continue
        }
        const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
        next.set(jwk.kid, createJwtVerifier(verifierOptions(this.rules, pem, jwk.alg as Algorithm)) as KeyVerifier)
      }
      if (next.size === 0) {
        throw new VerifierError('symmetric_keys', 'the service publishes no asymmetric signing keys: it signs access ' +
          'tokens with HS256, whose secret must not be shared with resource servers. Set JWT_ALGORITHM to ES256, ' +
          'EdDSA or RS256 on the service to verify its tokens locally.')
      }
      this.keys = next
      this.schedule(maxAge(headers.get('cache-control')) ?? 60)
    } catch (err) {
      if (first) throw err
      this.report(err)
      this.schedule(MIN_JWKS_REFRESH * 5)
    }
  }

  private schedule (seconds: number): void {
    if (this.closing.signal.aborted) return
    if (this.jwksTimer !== undefined) clearTimeout(this.jwksTimer)
    const delay = Math.min(MAX_JWKS_REFRESH, Math.max(MIN_JWKS_REFRESH, seconds)) * 1000
    this.jwksTimer = setTimeout(() => { this.loadKeys() }, delay)
    this.jwksTimer.unref()
  }

  private loadKeys (): void {
    this.jwksFetch ??= this.refreshKeys().finally(() => { this.jwksFetch = undefined })
  }

  private refetchForUnknownKid (): void {
    const nowMs = Date.now()
    if (nowMs - this.lastKidRefetchMs < (this.options.unknownKidRefetchInterval ?? 10) * 1000) return
    this.lastKidRefetchMs = nowMs
    this.loadKeys()
  }

  // ------------------------------------------------------------------ revocations

  /** Seconds each long-poll may wait: well inside maxStaleness, since the state ages while a poll waits. */
  private get waitSeconds (): number {
    return this.allowStale ? 25 : Math.max(0, Math.min(25, Math.floor(this.maxStalenessMs / 2000)))
  }

  private async follow (): Promise<void> {
    let backoffMs = 250
    while (!this.closing.signal.aborted) {
      try {
        await this.readFeed(this.waitSeconds)
        backoffMs = 250
      } catch (err) {
        if (this.closing.signal.aborted) return
        this.report(err)
        await wait(backoffMs, this.closing.signal)
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2)
      }
    }
  }

  private async readFeed (waitSeconds: number): Promise<void> {
    const url = `${this.feedUrl}?after=${this.cursor}&wait=${waitSeconds}`
    const { body } = await this.getJson(url, { authorization: this.authorization }, waitSeconds * 1000)
    const page = body as FeedPage
    if (typeof page.next_cursor !== 'number' || !Array.isArray(page.entries)) {
      throw new VerifierError('bad_response', 'the revocation feed answered an unexpected body')
    }
    if (page.resync) this.list.clear()
    for (const entry of page.entries) {
      // An entry kind this version does not know cannot be enforced: refuse to go on as if it were applied.
      if (!FEED_KINDS.has(entry.kind)) throw new VerifierError('bad_response', `unknown revocation kind ${String(entry.kind).slice(0, 32)}`)
      this.list.apply({
        kind: entry.kind,
        value: entry.value,
        expiresAt: new Date(entry.expires_at * 1000),
        ...(typeof entry.created_at === 'number' ? { createdAt: new Date(entry.created_at * 1000) } : {}),
        ...(typeof entry.issued_before === 'number' ? { issuedBefore: entry.issued_before } : {}),
        ...(typeof entry.except_sid === 'string' ? { exceptSid: entry.except_sid } : {})
      })
    }
    this.cursor = page.next_cursor
    const nowMs = Date.now()
    this.lastSyncMs = nowMs
    if (this.failing) this.lastError = null
    this.failing = false
    if (nowMs - this.lastSweepMs > 30_000) {
      this.lastSweepMs = nowMs
      this.list.sweep(Math.floor(nowMs / 1000))
    }
  }

  // ------------------------------------------------------------------ http

  private async getJson (url: string, headers: Record<string, string> = {}, extraTimeoutMs = 0): Promise<{ body: unknown, headers: Headers }> {
    if (this.closing.signal.aborted) throw new VerifierError('closed', 'the verifier is closed')
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS + extraTimeoutMs)])
    let res: Response
    try {
      res = await this.fetchImpl(url, { headers: { accept: 'application/json', ...headers }, signal })
    } catch (err) {
      throw new VerifierError('unreachable', `cannot reach ${new URL(url).origin}: ${(err as Error).message}`, { cause: err })
    }
    let body: unknown
    try {
      body = await res.json()
    } catch (err) {
      throw new VerifierError('bad_response', `${new URL(url).pathname} answered ${res.status} with a body that is not JSON`, { cause: err })
    }
    if (res.status === 401) {
      throw new VerifierError('credentials_refused', `the service refused the client credentials (${describe(body)})`)
    }
    if (res.status === 403) {
      throw new VerifierError('insufficient_scope', `the client may not read revocations (${describe(body)}); give it the revocations:read scope`)
    }
    if (res.status !== 200) throw new VerifierError('bad_response', `${new URL(url).pathname} answered ${res.status} (${describe(body)})`)
    return { body, headers: res.headers }
  }

  private report (err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.lastError = error.message
    if (!this.failing) this.options.onError?.(error)
    this.failing = true
  }
}

/** The metadata's window for older issuers (jwt_issuer_previous until jwt_issuer_previous_until), if any. */
function previousFrom (metadata: unknown): PreviousIssuers | undefined {
  const { jwt_issuer_previous: issuers, jwt_issuer_previous_until: until } = (metadata ?? {}) as Record<string, unknown>
  if (!Array.isArray(issuers) || typeof until !== 'number') return undefined
  return { issuers: issuers.filter((i): i is string => typeof i === 'string'), until }
}

function describe (body: unknown): string {
  const { error, message } = (body ?? {}) as { error?: unknown, message?: unknown }
  return [error, message].filter((v) => typeof v === 'string').join(': ').slice(0, 200) || 'no details'
}

/**
 * Reads the service's metadata and JWKS, catches up with its revocation feed,
 * and resolves with a verifier that follows the feed from then on. Rejects
 * (VerifierError) when the service cannot be reached, signs with HS256, or
 * refuses the client credentials.
 */
export async function createVerifier (options: VerifierOptions): Promise<Verifier> {
  const verifier = new LocalVerifier(options)
  try {
    await verifier.start()
  } catch (err) {
    await verifier.close()
    throw err
  }
  return verifier
}
