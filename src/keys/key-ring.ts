// The signing key ring for asymmetric access tokens (JWT_ALGORITHM ES256,
// EdDSA or RS256). Keys live in the store; each instance loads them and
// follows changes by polling, so a rotation reaches every instance without a
// restart.
//
// Staged rotation: a new key is published (JWKS) at once but only signs from
// `activatesAt` = now + KEY_ROTATION_OVERLAP, so verifiers that cache the JWKS
// learn it before they meet tokens signed with it. The key it supersedes stays
// published until every token it signed has expired (activation of the new key
// plus the longest access-token lifetime), then the store forgets it.
//
// Verification is synchronous: one verifier per key, built once when the key is
// loaded, with that key's algorithm pinned; the token's `kid` picks it. Unknown
// or missing `kid` is invalid_signature; `jku`, `x5u` and `jwk` headers are
// never looked at. A public key is never used as an HMAC secret: each verifier
// accepts only its key's asymmetric algorithm.
//
// Emergency revocation (a leaked private key): the key leaves the store at
// once, a revocation of kind `key` in the revocation log makes every instance
// and every verifier refuse the tokens whose `kid` names it (and drop it from
// the JWKS and from signing) within a sync interval, and when it was the key
// that signed, a new key that signs at once takes over.
//
// Private keys are stored as PKCS8 PEM sealed with AES-256-GCM under a key
// derived (HKDF-SHA256) from JWT_SECRET, so a copy of the store alone does not
// yield a signing key. The service and the CLI must share JWT_SECRET.
import {
  createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, generateKeyPairSync, hkdfSync,
  randomBytes, type JsonWebKey
} from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { headerKid, KeyRevokedError, unknownKid, verifierOptions, type TokenRules } from '@token-orchestrator/verifier/rules'
import { AppError } from '../errors.js'
import type { KeyStore, RevocationRecord, RevocationStore, SigningAlgorithm, SigningKeyRecord } from '../store/types.js'
import type { JwtCodec } from '../tokens/tokens.js'

export const ASYMMETRIC_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'EdDSA', 'RS256']

export function isAsymmetric (alg: string): alg is SigningAlgorithm {
  return (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)
}

/** The `kid` of HS256 access tokens: derived from the secret, revealing nothing about it. */
export function symmetricKid (secret: string): string {
  return 'hs-' + createHmac('sha256', secret).update('token-orchestrator access kid').digest('base64url').slice(0, 16)
}

// ---------------------------------------------------------------------------
// Private keys at rest

const SEAL_VERSION = 'v1'

function sealKey (secret: string, kid: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, kid, 'token-orchestrator signing key', 32))
}

export function sealPrivateKey (pem: string, secret: string, kid: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealKey(secret, kid), iv)
  const body = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()])
  return [SEAL_VERSION, ...[iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url'))].join('.')
}

/** The PEM, or null when it was sealed under another JWT_SECRET (or tampered with). */
export function openPrivateKey (sealed: string, secret: string, kid: string): string | null {
  const [version, ...parts] = sealed.split('.')
  const [iv, tag, body] = parts.map((p) => Buffer.from(p, 'base64url'))
  if (version !== SEAL_VERSION || iv === undefined || tag === undefined || body === undefined) return null
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealKey(secret, kid), iv)
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------
// Keys and JWKs

export interface PublicJwk {
  kty: string
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
  kid: string
  alg: SigningAlgorithm
  use: 'sig'
}

/** Public members only: whatever node:crypto exports, nothing private can pass. */
export function publicJwk (publicKeyPem: string, kid: string, alg: SigningAlgorithm): PublicJwk {
  const jwk = createPublicKey(publicKeyPem).export({ format: 'jwk' }) as JsonWebKey
  const out: PublicJwk = { kty: String(jwk.kty), kid, alg, use: 'sig' }
  for (const member of ['crv', 'x', 'y', 'n', 'e'] as const) {
    const value = jwk[member]
    if (typeof value === 'string') out[member] = value
  }
  return out
}

/** RFC 7638 JWK thumbprint (SHA-256): a stable kid that names the key itself. */
function thumbprint (jwk: JsonWebKey): string {
  const required = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : jwk.kty === 'OKP'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
      : { e: jwk.e, kty: jwk.kty, n: jwk.n }
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url')
}

export function generateSigningKey (alg: SigningAlgorithm, secret: string, activatesAt: Date): Omit<SigningKeyRecord, 'createdAt' | 'expiresAt'> {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const
  const { publicKey, privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding, privateKeyEncoding })
    : alg === 'EdDSA'
      ? generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding })
      : generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding, privateKeyEncoding })
  const kid = thumbprint(createPublicKey(publicKey).export({ format: 'jwk' }))
  return { kid, alg, publicKey, privateKey: sealPrivateKey(privateKey, secret, kid), activatesAt }
}

export interface RotationPolicy {
  algorithm: SigningAlgorithm
  /** JWT_SECRET: seals the private key. */
  secret: string
  overlapSeconds: number
  /** ACCESS_TOKEN_TTL: the longest any access token lives (client overrides can only shorten it). */
  maxAccessTtl: number
}

/**
 * Adds the next signing key: published now, signing after the overlap. Every
 * older key is kept until the tokens it can still sign have all expired.
 * Used by POST /admin/keys/rotate and the CLI.
 */
export async function rotateKeys (keys: KeyStore, policy: RotationPolicy, nowMs = Date.now()): Promise<SigningKeyRecord> {
  const activatesAt = new Date(nowMs + policy.overlapSeconds * 1000)
  const key = generateSigningKey(policy.algorithm, policy.secret, activatesAt)
  return keys.add(key, new Date(activatesAt.getTime() + policy.maxAccessTtl * 1000))
}

export interface KeyRevocation {
  /** The key removed. */
  key: SigningKeyRecord
  /** The key that signs from now on in its place; null when the revoked key was not the one signing. */
  replacement: SigningKeyRecord | null
  /** The entry of the revocation log that makes every instance and verifier refuse the key's tokens. */
  revocation: RevocationRecord
}

/**
 * Revokes a signing key in an emergency. In this order, so that a retry after
 * a failure half-way finishes the job and no instance is ever left without a
 * key to sign with: (1) when the key is the one that signs now (or no other
 * key could sign), a new key of `policy.algorithm` is added, active at once;
 * (2) a revocation of kind `key` is appended to the log, kept as long as any
 * token the key signed may live; (3) the key is removed from the store.
 * Throws AppError('not_found') for a kid the store does not hold (unknown,
 * expired, or revoked already). Used by POST /admin/keys/{kid}/revoke and the CLI.
 */
export async function revokeSigningKey (
  keys: KeyStore, revocations: RevocationStore, policy: RotationPolicy, kid: string, nowMs = Date.now()
): Promise<KeyRevocation> {
  const records = await keys.list(new Date(nowMs))
  const key = records.find((r) => r.kid === kid)
  if (key === undefined) throw new AppError('not_found', 'no such signing key (unknown, expired or revoked already)')
  const others = records.filter((r) => r.kid !== kid)
  const signing = signingOrder(records, policy.algorithm, nowMs)[0]
  // An older, retired key must not sign again: its own expiry does not cover new tokens.
  const needsReplacement = signing?.kid === kid || signingOrder(others, policy.algorithm, nowMs).length === 0
  let replacement: SigningKeyRecord | null = null
  if (needsReplacement) {
    const next = generateSigningKey(policy.algorithm, policy.secret, new Date(nowMs))
    replacement = await keys.add(next, new Date(nowMs + policy.maxAccessTtl * 1000))
  }
  const revocation = await revocations.add({ kind: 'key', value: kid, expiresAt: new Date(nowMs + policy.maxAccessTtl * 1000) })
  await keys.remove(kid, new Date(nowMs))
  return { key, replacement, revocation }
}

// ---------------------------------------------------------------------------
// The ring as one instance sees it

/** What access-token verification checks besides the signature (the shared rules' accessRules). */
export type AccessVerifyOptions = TokenRules

export interface KeyRingOptions extends RotationPolicy {
  verify: AccessVerifyOptions
  now?: () => number
  /**
   * Whether a kid was revoked (the instance's revocation view): such a key is
   * neither loaded, published nor used to sign, and its tokens are refused as
   * `revoked`, even while the store still lists it.
   */
  isRevoked?: (kid: string) => boolean
  /**
   * Where revoke writes the key's revocation (the store's log), and how the
   * instance applies it to its own view at once. Without it, revoke refuses.
   */
  revocations?: { store: RevocationStore, apply: (revocation: RevocationRecord) => void }
}

interface LoadedKey {
  record: SigningKeyRecord
  verify: (token: string) => Record<string, unknown>
  /** Built on first use; null when the private key cannot be opened with this JWT_SECRET. */
  sign?: ((payload: Record<string, unknown>) => string) | null
  /** Signers of other token types with this key (Security Event Tokens), by `typ`. */
  signAs?: Map<string, (payload: Record<string, unknown>) => string>
}

export class KeyRing {
  private keys = new Map<string, LoadedKey>()
  /** Ascending by activation. */
  private ordered: LoadedKey[] = []
  private jwksBody: { keys: PublicJwk[] } = { keys: [] }
  private readonly now: () => number

  constructor (private readonly store: KeyStore, private readonly options: KeyRingOptions) {
    this.now = options.now ?? Date.now
  }

  /** The access-token codec: signs with the current key, verifies with the key the `kid` names. */
  readonly codec: JwtCodec = {
    sign: (payload) => this.currentSigner().sign(payload),
    verify: (token) => {
      const kid = headerKid(token)
      if (kid !== undefined && this.options.isRevoked?.(kid) === true) throw new KeyRevokedError()
      const key = kid === undefined ? undefined : this.keys.get(kid)
      if (key === undefined) throw unknownKid()
      return key.verify(token)
    },
    costsSignatureCheck: (token) => {
      let kid: string | undefined
      try {
        kid = headerKid(token)
      } catch {
        return false
      }
      return kid !== undefined && this.keys.has(kid) && this.options.isRevoked?.(kid) !== true
    }
  }

  /** `{keys: [...]}`: every published key (pending, current and retired but not yet expired). */
  jwks (): { keys: PublicJwk[] } {
    return this.jwksBody
  }

  get kids (): string[] {
    return this.ordered.map((k) => k.record.kid)
  }

  /** The kid that signs now. */
  get currentKid (): string {
    return this.currentSigner().kid
  }

  /** Publishes the next key (see rotateKeys) and loads the ring at once. */
  async rotate (): Promise<SigningKeyRecord> {
    const key = await rotateKeys(this.store, this.options, this.now())
    await this.load()
    return key
  }

  /**
   * Revokes `kid` (see revokeSigningKey), applies the revocation to this
   * instance's view (the others read it from the log) and loads the ring: this
   * instance stops publishing and signing with the key, and signs with its
   * replacement, before it answers.
   */
  async revoke (kid: string): Promise<KeyRevocation> {
    const revocations = this.options.revocations
    if (revocations === undefined) throw new Error('this key ring was built without a revocation log')
    const revoked = await revokeSigningKey(this.store, revocations.store, this.options, kid, this.now())
    revocations.apply(revoked.revocation)
    this.drop(kid)
    await this.load()
    return revoked
  }

  /** Stops publishing, signing and verifying with `kid` at once, before the next load. */
  drop (kid: string): void {
    if (!this.keys.has(kid)) return
    this.keys.delete(kid)
    this.index()
  }

  /** Reads the ring from the store; keys already loaded keep their verifier. Throws when the store fails. */
  async load (): Promise<void> {
    const records = await this.store.list(new Date(this.now()))
    const next = new Map<string, LoadedKey>()
    for (const record of records) {
      if (this.options.isRevoked?.(record.kid) === true) continue
      const known = this.keys.get(record.kid)
      // expiresAt changes when a later key retires this one; the verifier stays.
      next.set(record.kid, known !== undefined ? { ...known, record } : { record, verify: this.buildVerifier(record) })
    }
    this.keys = next
    this.index()
  }

  private index (): void {
    this.ordered = [...this.keys.values()]
    this.jwksBody = { keys: this.ordered.map((k) => publicJwk(k.record.publicKey, k.record.kid, k.record.alg)) }
  }

  /**
   * Loads the ring and makes sure a key of the configured algorithm can sign
   * now; creates one (active at once) when none can, e.g. on first start or
   * after JWT_ALGORITHM changed. Returns true when it created one.
   */
  async ensureSigningKey (): Promise<boolean> {
    await this.load()
    if (this.findSigner() !== undefined) return false
    const nowMs = this.now()
    const key = generateSigningKey(this.options.algorithm, this.options.secret, new Date(nowMs))
    await this.store.add(key, new Date(nowMs + this.options.maxAccessTtl * 1000))
    await this.load()
    return true
  }

  private buildVerifier (record: SigningKeyRecord): (token: string) => Record<string, unknown> {
    // The shared rules: this key's algorithm only, typ, iss, aud, required claims.
    return createVerifier(verifierOptions(this.options.verify, record.publicKey, record.alg)) as (token: string) => Record<string, unknown>
  }

  /** The newest key of the configured algorithm that is active and whose private key opens. */
  private findSigner (): { kid: string, sign: (payload: Record<string, unknown>) => string } | undefined {
    for (const record of signingOrder(this.ordered.map((k) => k.record), this.options.algorithm, this.now())) {
      const key = this.keys.get(record.kid)
      if (key === undefined) continue
      if (key.sign === undefined) {
        const pem = openPrivateKey(key.record.privateKey, this.options.secret, key.record.kid)
        key.sign = pem === null
          ? null
          // fast-jwt's `typ` option is missing from its type definitions.
          : createSigner({ key: pem, algorithm: key.record.alg, kid: key.record.kid, typ: this.options.verify.typ } as
            unknown as Parameters<typeof createSigner>[0]) as unknown as (payload: Record<string, unknown>) => string
      }
      if (key.sign !== null) return { kid: key.record.kid, sign: key.sign }
    }
    return undefined
  }

  /**
   * Signs `payload` with the key that signs now, under another JOSE `typ`
   * (`secevent+jwt` for Security Event Tokens): the JWKS that verifies access
   * tokens verifies these too, and the `typ` keeps each kind from passing as
   * the other. `iat` is taken from the payload when it has one.
   */
  signAs (typ: string, payload: Record<string, unknown>): string {
    const current = this.currentSigner()
    const key = this.keys.get(current.kid)!
    key.signAs ??= new Map()
    let sign = key.signAs.get(typ)
    if (sign === undefined) {
      // currentSigner() opened this key's private key already.
      const pem = openPrivateKey(key.record.privateKey, this.options.secret, key.record.kid)!
      sign = createSigner({ key: pem, algorithm: key.record.alg, kid: key.record.kid, typ } as
        unknown as Parameters<typeof createSigner>[0]) as unknown as (payload: Record<string, unknown>) => string
      key.signAs.set(typ, sign)
    }
    return sign(payload)
  }

  private currentSigner (): { kid: string, sign: (payload: Record<string, unknown>) => string } {
    const signer = this.findSigner()
    // Only when the ring changed under us to keys this JWT_SECRET cannot open.
    if (signer === undefined) throw new AppError('store_unavailable', 'no usable signing key')
    return signer
  }
}

/**
 * The keys that may sign now with `algorithm`, the one to try first first:
 * activated, of that algorithm, newest activation first. The ring signs with
 * the first whose private key opens under its JWT_SECRET.
 */
export function signingOrder (records: readonly SigningKeyRecord[], algorithm: SigningAlgorithm, nowMs: number): SigningKeyRecord[] {
  return records
    .filter((r) => r.alg === algorithm && r.activatesAt.getTime() <= nowMs)
    .sort((a, b) => b.activatesAt.getTime() - a.activatesAt.getTime() || (a.kid < b.kid ? 1 : -1))
}

/** A key of the ring as the CLI shows it: never the private key. */
export interface KeyView {
  kid: string
  alg: SigningAlgorithm
  /** next: published, signs from activates_at; signing: signs now; retired: only verifies, until expires_at. */
  state: 'next' | 'signing' | 'retired'
  published_at: string
  activates_at: string
  expires_at: string | null
}

export function keyViews (records: readonly SigningKeyRecord[], algorithm: SigningAlgorithm, nowMs: number): KeyView[] {
  const signing = signingOrder(records, algorithm, nowMs)[0]?.kid
  return records.map((r) => ({
    kid: r.kid,
    alg: r.alg,
    state: r.activatesAt.getTime() > nowMs ? 'next' : r.kid === signing ? 'signing' : 'retired',
    published_at: r.createdAt.toISOString(),
    activates_at: r.activatesAt.toISOString(),
    expires_at: r.expiresAt?.toISOString() ?? null
  }))
}

/** A key revocation as the admin API and the CLI show it (snake_case, ISO dates). */
export function keyRevocationView ({ key, replacement, revocation }: KeyRevocation): {
  kid: string
  alg: string
  revoked_at: string
  revocation_seq: number
  replacement: { kid: string, alg: string, activates_at: string } | null
} {
  return {
    kid: key.kid,
    alg: key.alg,
    revoked_at: revocation.createdAt.toISOString(),
    revocation_seq: revocation.seq,
    replacement: replacement === null
      ? null
      : { kid: replacement.kid, alg: replacement.alg, activates_at: replacement.activatesAt.toISOString() }
  }
}

/** Seconds a JWKS answer may be cached: well inside the overlap, so no cache misses a key that signs. */
export function jwksMaxAge (overlapSeconds: number, syncIntervalMs: number): number {
  return Math.max(0, Math.min(300, Math.floor((overlapSeconds - syncIntervalMs / 1000) / 2)))
}
