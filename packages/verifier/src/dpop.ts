// DPoP (RFC 9449): the proof checks, in one place for the service and for
// resource servers that verify tokens themselves. A proof is a JWT the client
// signs with its own key for one HTTP request (method `htm`, URL `htu`), once
// (`jti`), recently (`iat`), and for one access token (`ath`); the token names
// the key it is bound to by the key's RFC 7638 thumbprint (`cnf.jkt`).
//
// Verified here with node:crypto alone: the key comes from the proof's own
// header (`jwk`), so a JOSE library's key resolution buys nothing, and each
// rule (the algorithms, the key types they need, public members only, the URL
// comparison) stays visible. The checks that need no signature come first, so
// that a flood of garbage costs parsing, not a signature verification.
// Replay is the caller's: `verify` hands back the key to remember
// (`replayKey`) and how long (`expiresAt`); ReplayCache below is the bounded
// in-memory one.
import { constants, createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto'

export const DPOP_PROOF_TYPE = 'dpop+jwt'
/**
 * The algorithms a proof may be signed with: asymmetric only (never `none`,
 * never an HMAC). `Ed25519` is RFC 9864's fully-specified name for EdDSA on
 * Ed25519, which current clients (oauth4webapi among them) send.
 */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const
export type DpopAlgorithm = typeof DPOP_ALGORITHMS[number]
/** Seconds a proof's `iat` may be from now, either way, by default. */
export const DPOP_WINDOW_SECONDS = 60
/** A proof longer than this is refused unread: an RSA-4096 key and every claim fit in a quarter of it. */
export const MAX_PROOF_LENGTH = 8192
const MAX_JTI_LENGTH = 256
const MAX_HTU_LENGTH = 4096
const MAX_NONCE_LENGTH = 512
/** RSA moduli accepted, bits: a larger key only makes every check of its proofs dearer. */
const MIN_RSA_BITS = 2048
const MAX_RSA_BITS = 4096

export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce'

export interface ProofRequest {
  /** The request's method, as received (`GET`, `POST`, …). */
  method: string
  /** The request's absolute URL, as the client addressed it; its query and fragment are ignored. */
  url: string
  /** The access token presented with the proof: `ath` must be its hash. */
  accessToken?: string | undefined
  /** The thumbprint the access token (or session) is bound to: the proof's key must be that key. */
  jkt?: string | undefined
  /** When set, the proof's `nonce` must satisfy it (server-provided nonces). */
  nonce?: ((nonce: string | undefined) => boolean) | undefined
}

export interface VerifiedProof {
  ok: true
  /** RFC 7638 SHA-256 thumbprint of the proof's key. */
  jkt: string
  /** What a replay cache remembers: the key and the jti, hashed (fixed length whatever the jti). */
  replayKey: string
  /** Epoch seconds after which the proof is too old anyway, so the replay cache may forget it. */
  expiresAt: number
}

export type ProofResult = VerifiedProof | { ok: false, error: DpopErrorCode, message: string }

export interface ProofVerifierOptions {
  /** Allowed `alg` values, a subset of DPOP_ALGORITHMS (default: all of them). */
  algorithms?: readonly string[]
  /** Seconds `iat` may be in the past or the future (default DPOP_WINDOW_SECONDS). */
  windowSeconds?: number
  /** Public keys remembered by thumbprint, so a client's next proof skips the key import (default 1,000). */
  keyCacheSize?: number
}

interface Jwk { kty?: unknown, crv?: unknown, x?: unknown, y?: unknown, n?: unknown, e?: unknown }

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
const BASE64URL = /^[A-Za-z0-9_-]+$/

/** What each algorithm needs of its key, and how its signature is checked. */
interface AlgSpec {
  kty: 'EC' | 'OKP' | 'RSA'
  crv?: string
  /** Bytes of each EC/OKP coordinate. */
  size?: number
  hash: string | null
  /** ECDSA signatures in JWS are r || s (IEEE P1363), of this many bytes. */
  ecSignature?: number
  pss?: boolean
}

const SPECS: Record<DpopAlgorithm, AlgSpec> = {
  ES256: { kty: 'EC', crv: 'P-256', size: 32, hash: 'sha256', ecSignature: 64 },
  ES384: { kty: 'EC', crv: 'P-384', size: 48, hash: 'sha384', ecSignature: 96 },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', size: 32, hash: null },
  Ed25519: { kty: 'OKP', crv: 'Ed25519', size: 32, hash: null },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  RS256: { kty: 'RSA', hash: 'sha256' }
}

/** base64url(SHA-256(value)): `ath` of an access token, and the thumbprint's last step. */
export function sha256Base64url (value: string): string {
  return createHash('sha256').update(value).digest('base64url')
}

/** `ath`: what a proof presented with `accessToken` must carry (RFC 9449 §4.2). */
export function accessTokenHash (accessToken: string): string {
  return sha256Base64url(accessToken)
}

/** A base64url member that decodes to exactly `bytes` bytes and is written the one canonical way. */
function canonical (value: unknown, bytes?: number): value is string {
  if (typeof value !== 'string' || !BASE64URL.test(value)) return false
  const decoded = Buffer.from(value, 'base64url')
  return (bytes === undefined || decoded.length === bytes) && decoded.toString('base64url') === value
}

/**
 * The RFC 7638 members of a public key fit for `alg`, in the thumbprint's
 * (lexicographic) order, or a reason it is refused.
 */
function publicMembers (jwk: unknown, alg: DpopAlgorithm): Record<string, string> | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'the jwk header is not a JWK'
  if (PRIVATE_MEMBERS.some((m) => Object.hasOwn(jwk, m))) return 'the jwk header holds private key material'
  const key = jwk as Jwk
  const spec = SPECS[alg]
  if (key.kty !== spec.kty) return `alg ${alg} needs a ${spec.kty} key`
  if (spec.kty === 'RSA') {
    if (!canonical(key.n) || !canonical(key.e)) return 'the RSA key members are malformed'
    const n = Buffer.from(key.n, 'base64url')
    const bits = n.length * 8 - Math.clz32(n[0]!) + 24
    if (n[0] === 0 || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) return `RSA keys must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`
    if (key.e.length > 8) return 'the RSA exponent is too large'
    return { e: key.e, kty: 'RSA', n: key.n }
  }
  const crv = spec.crv ?? ''
  if (key.crv !== crv) return `alg ${alg} needs curve ${crv}`
  if (!canonical(key.x, spec.size)) return 'the key\'s x coordinate is malformed'
  if (spec.kty === 'OKP') return { crv, kty: 'OKP', x: key.x }
  if (!canonical(key.y, spec.size)) return 'the key\'s y coordinate is malformed'
  return { crv, kty: 'EC', x: key.x, y: key.y }
}

/** RFC 7638 SHA-256 thumbprint of a public JWK (the members publicMembers gives, in that order). */
export function jwkThumbprint (members: Record<string, string>): string {
  return sha256Base64url(JSON.stringify(members))
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/

/**
 * A URL as RFC 9449 §4.3 compares `htu`: without query and fragment, after
 * RFC 3986 syntax- and scheme-based normalisation (scheme and host in lower
 * case, the default port dropped, an empty path as `/`, dot segments
 * resolved, percent-encoded unreserved characters decoded and the other
 * escapes in upper case). Only http(s), and never with user information.
 * A host's trailing dot is kept: `example.com.` is not `example.com`.
 * null when it is not such a URL.
 */
export function normalizeHtu (url: string): string | null {
  if (url.length > MAX_HTU_LENGTH) return null
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return null
  }
  if ((parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.username !== '' || parsed.password !== '') return null
  const path = parsed.pathname.replace(/%[0-9A-Fa-f]{2}/g, (escape) => {
    const char = String.fromCharCode(parseInt(escape.slice(1), 16))
    return UNRESERVED.test(char) ? char : escape.toUpperCase()
  })
  return `${parsed.protocol}//${parsed.host}${path}`
}

function decodeSegment (segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}

/** `typ` is a media type: compared without case, `application/` optional (RFC 7515 §4.1.9). */
function isProofType (typ: unknown): boolean {
  if (typeof typ !== 'string') return false
  const lower = typ.toLowerCase()
  return lower === DPOP_PROOF_TYPE || lower === `application/${DPOP_PROOF_TYPE}`
}

const refuse = (message: string, error: DpopErrorCode = 'invalid_dpop_proof'): ProofResult => ({ ok: false, error, message })

/** Verifies DPoP proofs against the request they came with (every check of RFC 9449 §4.3 but replay). */
export class ProofVerifier {
  readonly algorithms: readonly DpopAlgorithm[]
  readonly windowSeconds: number
  private readonly allowed: ReadonlySet<string>
  private readonly keys = new Map<string, KeyObject>()
  private readonly keyCacheSize: number

  constructor (options: ProofVerifierOptions = {}) {
    const wanted = options.algorithms ?? DPOP_ALGORITHMS
    const unknown = wanted.filter((a) => !(DPOP_ALGORITHMS as readonly string[]).includes(a))
    if (unknown.length > 0 || wanted.length === 0) {
      throw new TypeError(`DPoP algorithms must be a non-empty subset of ${DPOP_ALGORITHMS.join(', ')}; got ${wanted.join(', ')}`)
    }
    this.algorithms = DPOP_ALGORITHMS.filter((a) => wanted.includes(a))
    this.allowed = new Set(this.algorithms)
    this.windowSeconds = options.windowSeconds ?? DPOP_WINDOW_SECONDS
    this.keyCacheSize = options.keyCacheSize ?? 1000
  }

  /**
   * Checks a proof (the DPoP header's value: a string, or anything else a
   * client sent) against its request at `nowSeconds`. Replay is not checked:
   * the caller remembers `replayKey` until `expiresAt`.
   */
  verify (proof: unknown, request: ProofRequest, nowSeconds: number): ProofResult {
    if (typeof proof !== 'string') return refuse('send exactly one DPoP header')
    if (proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof)) return refuse('the DPoP proof is not a compact JWS')
    const firstDot = proof.indexOf('.')
    const lastDot = proof.lastIndexOf('.')
    const header = decodeSegment(proof.slice(0, firstDot))
    const payload = decodeSegment(proof.slice(firstDot + 1, lastDot))
    if (header === null || payload === null) return refuse('the DPoP proof\'s header or payload is not a JSON object')

    if (!isProofType(header.typ)) return refuse(`the DPoP proof's typ must be ${DPOP_PROOF_TYPE}`)
    const alg = header.alg
    if (typeof alg !== 'string' || !this.allowed.has(alg)) {
      return refuse(`the DPoP proof's alg must be one of ${this.algorithms.join(', ')}`)
    }
    if (header.crit !== undefined) return refuse('the DPoP proof has critical header parameters this server does not know')
    const members = publicMembers(header.jwk, alg as DpopAlgorithm)
    if (typeof members === 'string') return refuse(members)
    const jkt = jwkThumbprint(members)

    const { jti, htm, htu, iat, ath, nonce } = payload
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) return refuse('the DPoP proof needs a jti')
    if (typeof htm !== 'string' || htm !== request.method) return refuse('the DPoP proof is for another HTTP method (htm)')
    if (typeof htu !== 'string') return refuse('the DPoP proof needs an htu')
    const expected = normalizeHtu(request.url)
    if (expected === null || normalizeHtu(htu) !== expected) return refuse('the DPoP proof is for another URL (htu)')
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return refuse('the DPoP proof needs a numeric iat')
    if (Math.abs(iat - nowSeconds) > this.windowSeconds) {
      return refuse(`the DPoP proof's iat is more than ${this.windowSeconds} s from the server's time`)
    }
    if (request.accessToken !== undefined && ath !== accessTokenHash(request.accessToken)) {
      return refuse('the DPoP proof is for another access token (ath)')
    }
    if (request.jkt !== undefined && jkt !== request.jkt) return refuse('the DPoP proof is signed with another key than the token is bound to')
    if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length > MAX_NONCE_LENGTH)) return refuse('the DPoP proof\'s nonce is malformed')
    if (request.nonce !== undefined && !request.nonce(nonce)) {
      return refuse(nonce === undefined ? 'a DPoP nonce is required' : 'the DPoP nonce is stale or unknown', 'use_dpop_nonce')
    }

    if (!this.signatureHolds(proof, lastDot, alg as DpopAlgorithm, jkt, members)) return refuse('the DPoP proof\'s signature does not verify')
    return {
      ok: true,
      jkt,
      replayKey: sha256Base64url(`${jkt}.${jti}`),
      expiresAt: Math.floor(iat) + this.windowSeconds + 1
    }
  }

  private signatureHolds (proof: string, lastDot: number, alg: DpopAlgorithm, jkt: string, members: Record<string, string>): boolean {
    const spec = SPECS[alg]
    const signature = Buffer.from(proof.slice(lastDot + 1), 'base64url')
    if (spec.ecSignature !== undefined && signature.length !== spec.ecSignature) return false
    try {
      const key = this.keyFor(jkt, members)
      const data = Buffer.from(proof.slice(0, lastDot), 'ascii')
      if (spec.kty === 'EC') return verifySignature(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature)
      if (spec.pss === true) {
        return verifySignature(spec.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature)
      }
      if (spec.kty === 'RSA') return verifySignature(spec.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature)
      return verifySignature(null, data, key, signature)
    } catch {
      // A point off the curve, a key OpenSSL refuses: no valid signature either way.
      return false
    }
  }

  /** The key object for a thumbprint (the same members always make the same key). */
  private keyFor (jkt: string, members: Record<string, string>): KeyObject {
    const cached = this.keys.get(jkt)
    if (cached !== undefined) return cached
    const key = createPublicKey({ key: members, format: 'jwk' })
    if (this.keys.size >= this.keyCacheSize) {
      const oldest = this.keys.keys().next()
      if (oldest.done !== true) this.keys.delete(oldest.value)
    }
    this.keys.set(jkt, key)
    return key
  }
}

/**
 * Proofs seen and not yet expired, bounded by `capacity`. A live entry is never
 * evicted: forgetting one would let whoever fills the cache with proofs of
 * their own replay a captured proof within its window. When the cache is full
 * of live entries a new proof is refused (claim returns false, the caller's
 * replay answer) until entries expire; `onFull` is told at most once per second.
 * In one process; the service backs it with its store or Redis by default.
 */
export class ReplayCache {
  /** replayKey → expiresAt (epoch seconds); insertion order is not expiry order. */
  private readonly seen = new Map<string, number>()
  /** When a full scan for expired entries last ran (epoch seconds): at most one a second. */
  private lastSweep = -Infinity
  private lastWarn = -Infinity

  constructor (
    private readonly capacity = 100_000,
    private readonly onFull?: (size: number) => void
  ) {}

  /** Whether the proof was seen and has not expired. */
  has (key: string, nowSeconds: number): boolean {
    const expiresAt = this.seen.get(key)
    return expiresAt !== undefined && expiresAt > nowSeconds
  }

  /** Records a proof: true the first time, false for a replay or when full of live proofs. */
  claim (key: string, expiresAt: number, nowSeconds: number): boolean {
    if (this.has(key, nowSeconds)) return false
    this.seen.delete(key)
    this.reclaim(nowSeconds)
    if (this.seen.size >= this.capacity) {
      if (nowSeconds - this.lastWarn >= 1) {
        this.lastWarn = nowSeconds
        this.onFull?.(this.seen.size)
      }
      return false
    }
    this.seen.set(key, expiresAt)
    return true
  }

  get size (): number {
    return this.seen.size
  }

  /** Forgets a few expired entries from the old end; when full, one bounded full scan a second. */
  private reclaim (nowSeconds: number): void {
    let budget = 4
    for (const [key, expiresAt] of this.seen) {
      if (budget-- === 0 || expiresAt > nowSeconds) break
      this.seen.delete(key)
    }
    if (this.seen.size >= this.capacity && nowSeconds - this.lastSweep >= 1) {
      this.lastSweep = nowSeconds
      for (const [key, expiresAt] of this.seen) {
        if (expiresAt <= nowSeconds) this.seen.delete(key)
      }
    }
  }
}

/** The proof that came with a token, and the request it came on. */
export interface PresentedProof {
  /** The DPoP header's value (undefined: none was sent). */
  proof: unknown
  method: string
  url: string
}

export type BindingResult = VerifiedProof | { ok: false, error: DpopErrorCode | 'dpop_proof_required', message: string }

/**
 * The binding rule for an access token whose claims are `cnf`: a token bound
 * to a key (`cnf.jkt`) is good only with a proof from that key for this very
 * request and token; an unbound one needs nothing (null), whatever came with it.
 */
export function checkBinding (
  verifier: ProofVerifier, cnf: { jkt: string } | undefined, token: string, presented: PresentedProof | undefined,
  nowSeconds: number, nonce?: (nonce: string | undefined) => boolean
): BindingResult | null {
  if (cnf === undefined) return null
  if (presented === undefined || presented.proof === undefined) {
    return { ok: false, error: 'dpop_proof_required', message: 'the access token is DPoP-bound: send it with a DPoP proof' }
  }
  return verifier.verify(presented.proof, { method: presented.method, url: presented.url, accessToken: token, jkt: cnf.jkt, nonce }, nowSeconds)
}

export type AuthorizationScheme = 'Bearer' | 'DPoP'

const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i

/** The scheme and token of an `Authorization: Bearer …` or `Authorization: DPoP …` value; null for anything else. */
export function authorizationToken (header: string | undefined): { scheme: AuthorizationScheme, token: string } | null {
  if (header === undefined || header.length > 8192) return null
  const match = AUTHORIZATION.exec(header)
  if (match === null) return null
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! }
}

/** The `WWW-Authenticate` challenge of a refused DPoP request (RFC 9449 §7.1). */
export function dpopChallenge (error: string, algorithms: readonly string[]): string {
  return `DPoP error="${error}", algs="${algorithms.join(' ')}"`
}
