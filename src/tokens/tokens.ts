// Access and refresh tokens: how they are issued, and the service's verified
// access-token cache. The verification rules (fast-jwt options, claim checks,
// error codes) are those of @token-orchestrator/verifier, which resource
// servers run too: one copy of each rule. Signing and verification are done by
// codecs (built once in plugins/jwt.ts and src/keys/key-ring.ts) so this module
// stays free of Fastify and of key handling.
import { randomBytes } from 'node:crypto'
import {
  ACCESS_TOKEN_TYPE, hasAccessShape, hasRefreshShape, REFRESH_TOKEN_TYPE, verifiedUntil, verifyToken,
  type AccessClaims, type Actor, type ClaimRules, type PreviousIssuers, type RefreshClaims, type Verified
} from '@token-orchestrator/verifier/rules'
import type { RevocationView } from '@token-orchestrator/verifier/revocation-list'
import { VerifiedTokenCache } from './verified-token-cache.js'

export {
  ACCESS_TOKEN_TYPE, IAT_LEEWAY_SECONDS, isActor, MAX_ACTOR_DEPTH, REFRESH_TOKEN_TYPE
} from '@token-orchestrator/verifier/rules'
export type { AccessClaims, Actor, RefreshClaims, TokenErrorCode, Verified } from '@token-orchestrator/verifier/rules'
export type { RevocationView } from '@token-orchestrator/verifier/revocation-list'

export interface JwtCodec {
  /** Signs a complete payload (the caller sets iss, iat, exp, …). */
  sign (payload: Record<string, unknown>): string
  /** Verifies signature, algorithm, typ and registered claims; throws fast-jwt's TokenError. */
  verify (token: string): Record<string, unknown>
  /**
   * Whether verifying `token` costs a public-key signature check (its `kid`
   * names a key held): absent for HMAC codecs, whose checks cost next to nothing.
   */
  costsSignatureCheck?: (token: string) => boolean
}

export interface AccessGrant {
  sub: string
  sid?: string
  clientId: string
  audience: string | string[]
  scope: string
  roles: string[]
  ttl: number
  act?: Actor
  /** The DPoP key (RFC 7638 thumbprint) the token is bound to: `cnf.jkt` (RFC 9449 §6.1). */
  jkt?: string
}

/** 128 random bits, base64url: jti and sid values. */
export function newId (): string {
  return randomBytes(16).toString('base64url')
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

export interface TokenServiceOptions {
  /** `iss` of every token issued, and the one verification always accepts. */
  issuer: string
  /** Older issuers still accepted (never issued) for a bounded window after an issuer change. */
  previousIssuers?: PreviousIssuers
  now?: () => number
  /** Verified access tokens remembered (by exact token string) until their exp; 0 turns the cache off. */
  accessCacheSize?: number
}

/** Default size of the verified access-token cache: the hot path's working set. */
export const ACCESS_CACHE_SIZE = 20_000

/**
 * Failed verifications (a token's signature, or its DPoP proof) one batch
 * validate may spend: a batch of forged tokens then costs this many signature
 * checks, not one per token, and the rest are answered `not_verified`.
 */
export const BATCH_FAILED_VERIFICATIONS = 10

/**
 * Refusals that time cannot undo, found after the signature held (a token
 * past its exp, or with claims these rules refuse): remembered in the
 * verified-token cache for FAILURE_CACHE_SECONDS, so a genuine old token sent
 * again and again costs one signature check, not one per request. Failures
 * that need no check (malformed, unknown kid) or may pass later (nbf, iat)
 * are not kept, nor are forged signatures (each is a new string).
 */
const FINAL_FAILURES: ReadonlySet<string> = new Set(['expired', 'invalid_claims'])
const FAILURE_CACHE_SECONDS = 60

export class TokenService {
  private readonly now: () => number
  private readonly nowMs: () => number
  private readonly accessCache: VerifiedTokenCache<Verified<AccessClaims>>
  private readonly accessRules: ClaimRules
  private readonly refreshRules: ClaimRules

  constructor (
    private readonly access: JwtCodec,
    private readonly refresh: JwtCodec,
    private readonly options: TokenServiceOptions
  ) {
    const now = options.now
    this.now = now ?? nowSeconds
    this.nowMs = now !== undefined ? () => now() * 1000 : Date.now
    this.accessCache = new VerifiedTokenCache(options.accessCacheSize ?? ACCESS_CACHE_SIZE)
    const previous = options.previousIssuers !== undefined ? { previous: options.previousIssuers } : {}
    this.accessRules = { typ: ACCESS_TOKEN_TYPE, issuer: options.issuer, ...previous }
    this.refreshRules = { typ: REFRESH_TOKEN_TYPE, issuer: options.issuer, ...previous }
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
    if (grant.jkt !== undefined) claims.cnf = { jkt: grant.jkt }
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
    const result = verifyToken<AccessClaims>(this.access.verify, this.accessRules, token, this.now(), hasAccessShape)
    if (result.ok) {
      this.accessCache.set(token, result, verifiedUntil(this.accessRules, result.claims))
    } else if (FINAL_FAILURES.has(result.error)) {
      // A genuine token that is expired (or carries the wrong claims) stays so, and
      // refusing it again must not cost another signature check.
      this.accessCache.set(token, result, this.now() + FAILURE_CACHE_SECONDS)
    }
    return result
  }

  /** Whether `token` is in the verified-token cache (valid, or refused for good): verifying it again costs no signature check. */
  isVerified (token: string): boolean {
    return this.accessCache.get(token, this.nowMs()) !== undefined
  }

  /** Whether a failed verification of `token` spent a public-key signature check (see JwtCodec). */
  costsSignatureCheck (token: string): boolean {
    return this.access.costsSignatureCheck?.(token) ?? false
  }

  verifyRefresh (token: string): Verified<RefreshClaims> {
    return verifyToken(this.refresh.verify, this.refreshRules, token, this.now(), hasRefreshShape)
  }

  /**
   * Forgets every verified access token, so each is verified again on its next
   * use: after a signing key is revoked, the tokens it signed must meet the
   * key ring's refusal instead of a cached success.
   */
  forgetVerified (): void {
    this.accessCache.clear()
  }
}

/**
 * Verifies an access token and refuses it when its jti, session, client or
 * user has been revoked: the one check every consumer of access tokens makes (validate,
 * gateway verify, bearer authentication, introspection).
 */
export function verifyLiveAccess (tokens: TokenService, revocations: RevocationView, token: string): Verified<AccessClaims> {
  const verified = tokens.verifyAccess(token)
  const claims = verified.ok ? verified.claims : undefined
  if (claims !== undefined && revocations.isRevoked(claims.jti, claims.sid, claims.client_id, claims.iat, claims.sub, claims.act)) {
    return { ok: false, error: 'revoked' }
  }
  return verified
}
