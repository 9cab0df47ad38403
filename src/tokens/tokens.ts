// Access and refresh tokens: their claims, how they are issued, and how a
// presented token is classified. Signing and verification are done by codecs
// (built once from @fastify/jwt / fast-jwt in plugins/jwt.ts) so this module
// stays free of Fastify and of key handling.
import { randomBytes } from 'node:crypto'
import { createDecoder, TokenError } from 'fast-jwt'
import { VerifiedTokenCache } from './verified-token-cache.js'

export const ACCESS_TOKEN_TYPE = 'at+jwt'
export const REFRESH_TOKEN_TYPE = 'rt+jwt'
/** How far in the future an `iat` may be before the token is refused (clock skew between instances). */
export const IAT_LEEWAY_SECONDS = 30

export interface JwtCodec {
  /** Signs a complete payload (the caller sets iss, iat, exp, …). */
  sign (payload: Record<string, unknown>): string
  /** Verifies signature, algorithm, typ and registered claims; throws fast-jwt's TokenError. */
  verify (token: string): Record<string, unknown>
}

/** RFC 8693 §4.1 actor: who acts for `sub`; nested when a delegated token is exchanged again. */
export interface Actor {
  sub: string
  act?: Actor
}

/** Deepest delegation chain a token may carry. */
export const MAX_ACTOR_DEPTH = 8

export function isActor (value: unknown, depth = 1): value is Actor {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || depth > MAX_ACTOR_DEPTH) return false
  const { sub, act } = value as { sub?: unknown, act?: unknown }
  return typeof sub === 'string' && (act === undefined || isActor(act, depth + 1))
}

export interface AccessClaims {
  iss: string
  sub: string
  aud: string | string[]
  iat: number
  exp: number
  jti: string
  sid?: string
  client_id: string
  scope: string
  roles: string[]
  /** Present on tokens issued by token exchange: the party acting for `sub`. */
  act?: Actor
}

export interface RefreshClaims {
  iss: string
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
}

export type TokenErrorCode =
  | 'malformed' | 'invalid_signature' | 'expired' | 'not_yet_valid'
  | 'invalid_claims' | 'wrong_token_type' | 'revoked'

export type Verified<T> = { ok: true, claims: T } | { ok: false, error: TokenErrorCode }

export interface AccessGrant {
  sub: string
  sid?: string
  clientId: string
  audience: string | string[]
  scope: string
  roles: string[]
  ttl: number
  act?: Actor
}

/** 128 random bits, base64url: jti and sid values. */
export function newId (): string {
  return randomBytes(16).toString('base64url')
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

const decodeHeader = createDecoder({ complete: true })

function headerType (token: string): string | undefined {
  try {
    const { header } = decodeHeader(token) as { header: { typ?: unknown } }
    return typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined
  } catch {
    return undefined
  }
}

function classify (err: unknown, token: string, expectedTyp: string): TokenErrorCode {
  const code = (err as { code?: string }).code
  switch (code) {
    case TokenError.codes.expired: return 'expired'
    case TokenError.codes.inactive: return 'not_yet_valid'
    case TokenError.codes.malformed:
    case TokenError.codes.invalidPayload:
      return 'malformed'
    case TokenError.codes.invalidClaimType:
    case TokenError.codes.invalidClaimValue:
    case TokenError.codes.missingRequiredClaim:
      return 'invalid_claims'
  }
  // The other failures (bad signature, other algorithm, wrong typ, crit headers):
  // a token of the other kind is reported as such, since that is the likely mistake.
  const typ = headerType(token)
  if (typ !== undefined && typ !== expectedTyp && (typ === ACCESS_TOKEN_TYPE || typ === REFRESH_TOKEN_TYPE)) {
    return 'wrong_token_type'
  }
  if (code === TokenError.codes.invalidType && typ === undefined) return 'malformed'
  return 'invalid_signature'
}

function isStringArray (value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
}

export interface TokenServiceOptions {
  issuer: string
  now?: () => number
  /** Verified access tokens remembered (by exact token string) until their exp; 0 turns the cache off. */
  accessCacheSize?: number
}

/** Default size of the verified access-token cache: the hot path's working set. */
export const ACCESS_CACHE_SIZE = 20_000

export class TokenService {
  private readonly now: () => number
  private readonly nowMs: () => number
  private readonly accessCache: VerifiedTokenCache<Verified<AccessClaims>>

  constructor (
    private readonly access: JwtCodec,
    private readonly refresh: JwtCodec,
    private readonly options: TokenServiceOptions
  ) {
    const now = options.now
    this.now = now ?? nowSeconds
    this.nowMs = now !== undefined ? () => now() * 1000 : Date.now
    this.accessCache = new VerifiedTokenCache(options.accessCacheSize ?? ACCESS_CACHE_SIZE)
  }

  issueAccess (grant: AccessGrant): { token: string, claims: AccessClaims } {
    const iat = this.now()
    const claims: AccessClaims = {
      iss: this.options.issuer,
      sub: grant.sub,
      aud: grant.audience,
      iat,
      exp: iat + grant.ttl,
      jti: newId(),
      client_id: grant.clientId,
      scope: grant.scope,
      roles: grant.roles
    }
    if (grant.sid !== undefined) claims.sid = grant.sid
    if (grant.act !== undefined) claims.act = grant.act
    return { token: this.access.sign({ ...claims }), claims }
  }

  issueRefresh (sub: string, sid: string, jti: string, exp: number): string {
    const claims: RefreshClaims = { iss: this.options.issuer, sub, sid, jti, iat: this.now(), exp }
    return this.refresh.sign({ ...claims })
  }

  /**
   * The hot path. A token seen before answers from the cache (one Map lookup and
   * a clock read, no hashing, no allocation); the caller still checks revocation.
   */
  verifyAccess (token: string): Verified<AccessClaims> {
    const cached = this.accessCache.get(token, this.nowMs())
    if (cached !== undefined) return cached
    const result = this.verifyWith<AccessClaims>(this.access, ACCESS_TOKEN_TYPE, token, (p) =>
      typeof p.client_id === 'string' && typeof p.scope === 'string' && isStringArray(p.roles) &&
      (p.sid === undefined || typeof p.sid === 'string') && (p.act === undefined || isActor(p.act)))
    // Only successes are kept: failures are cheap to recompute, and some (nbf, iat) change with time.
    if (result.ok) this.accessCache.set(token, result, result.claims.exp)
    return result
  }

  verifyRefresh (token: string): Verified<RefreshClaims> {
    return this.verifyWith(this.refresh, REFRESH_TOKEN_TYPE, token, (p) => typeof p.sid === 'string')
  }

  private verifyWith<T> (
    codec: JwtCodec, typ: string, token: string, hasShape: (payload: Record<string, unknown>) => boolean
  ): Verified<T> {
    let payload: Record<string, unknown>
    try {
      payload = codec.verify(token)
    } catch (err) {
      return { ok: false, error: classify(err, token, typ) }
    }
    // fast-jwt checks exp and nbf; a future iat is ours to refuse.
    if (typeof payload.iat !== 'number') return { ok: false, error: 'invalid_claims' }
    if (payload.iat > this.now() + IAT_LEEWAY_SECONDS) return { ok: false, error: 'not_yet_valid' }
    if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string' || typeof payload.exp !== 'number' ||
      !hasShape(payload)) {
      return { ok: false, error: 'invalid_claims' }
    }
    return { ok: true, claims: payload as unknown as T }
  }
}

/** Whether a verified access token has since been revoked (src/revocation-list.ts). */
export interface RevocationView {
  isRevoked (jti: string, sid: string | undefined, clientId?: string, iat?: number): boolean
}

/**
 * Verifies an access token and refuses it when its jti, session or client has
 * been revoked: the one check every consumer of access tokens makes (validate,
 * gateway verify, bearer authentication, introspection).
 */
export function verifyLiveAccess (tokens: TokenService, revocations: RevocationView, token: string): Verified<AccessClaims> {
  const verified = tokens.verifyAccess(token)
  const claims = verified.ok ? verified.claims : undefined
  if (claims !== undefined && revocations.isRevoked(claims.jti, claims.sid, claims.client_id, claims.iat)) {
    return { ok: false, error: 'revoked' }
  }
  return verified
}
