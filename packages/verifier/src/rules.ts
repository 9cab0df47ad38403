// The verification rules of Token Orchestrator access and refresh tokens, in
// one place for the service and for resource servers that verify tokens
// themselves: the fast-jwt options (algorithm pinned per key, `typ`, `iss`,
// `aud`, required claims, no clock tolerance), the claim checks fast-jwt does
// not make (a future `iat`, the claim types), and how a failure is named
// (the error codes of POST /token/validate).
import { TokenError, type Algorithm, type VerifierOptions } from 'fast-jwt'

export const ACCESS_TOKEN_TYPE = 'at+jwt'
export const REFRESH_TOKEN_TYPE = 'rt+jwt'
/** How far in the future an `iat` may be before the token is refused (clock skew between machines). */
export const IAT_LEEWAY_SECONDS = 30
export const ACCESS_REQUIRED_CLAIMS: readonly string[] = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti']
export const REFRESH_REQUIRED_CLAIMS: readonly string[] = ['iss', 'sub', 'sid', 'exp', 'iat', 'jti']

/** RFC 8693 actor: who acts for `sub`; nested when a delegated token is exchanged again. */
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
  /** Present on DPoP-bound tokens (RFC 9449 §6.1): the RFC 7638 thumbprint of the key that must sign each proof. */
  cnf?: { jkt: string }
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

/**
 * Issuers a service accepted before its `iss` changed, still accepted (never
 * issued) until `until`: tokens signed before an upgrade keep working for a
 * bounded window instead of all failing at once.
 */
export interface PreviousIssuers {
  issuers: readonly string[]
  /** Epoch seconds: from then on only the current issuer passes. */
  until: number
}

/** What a verifier checks besides the signature. */
export interface TokenRules {
  typ: string
  issuer: string
  /** Checked when set: the token's `aud` must contain it. */
  audience?: string
  requiredClaims: readonly string[]
  previous?: PreviousIssuers
}

export function accessRules (issuer: string, audience: string, previous?: PreviousIssuers): TokenRules {
  return { typ: ACCESS_TOKEN_TYPE, issuer, audience, requiredClaims: ACCESS_REQUIRED_CLAIMS, ...(previous !== undefined ? { previous } : {}) }
}

export function refreshRules (issuer: string, previous?: PreviousIssuers): TokenRules {
  return { typ: REFRESH_TOKEN_TYPE, issuer, requiredClaims: REFRESH_REQUIRED_CLAIMS, ...(previous !== undefined ? { previous } : {}) }
}

/** The rules' part verifyToken reads. */
export type ClaimRules = Pick<TokenRules, 'typ' | 'issuer' | 'previous'>

/**
 * Until when (epoch seconds) a verification that passed holds: the token's
 * exp, or sooner when it carries a previous issuer whose window ends first.
 * Caches of verified tokens keep an entry no longer than this.
 */
export function verifiedUntil (rules: ClaimRules, claims: { iss: string, exp: number }): number {
  return rules.previous !== undefined && claims.iss !== rules.issuer ? Math.min(claims.exp, rules.previous.until) : claims.exp
}

/**
 * fast-jwt verifier options for one key: only that key's algorithm is accepted
 * (so a public key can never serve as an HMAC secret), `alg: none` never.
 * No fast-jwt cache: callers keep their own cache of verified tokens, keyed by
 * the token itself, where fast-jwt's would add a hash per call.
 */
export function verifierOptions (rules: TokenRules, key: string, algorithm: Algorithm): Partial<VerifierOptions> & { key: string } {
  return {
    key,
    algorithms: [algorithm],
    checkTyp: rules.typ,
    // fast-jwt checks membership; verifyToken ends the previous issuers' window.
    allowedIss: rules.previous !== undefined ? [rules.issuer, ...rules.previous.issuers] : rules.issuer,
    ...(rules.audience !== undefined ? { allowedAud: rules.audience } : {}),
    requiredClaims: [...rules.requiredClaims],
    clockTolerance: 0,
    cache: false
  }
}

/** Longest header segment read when classifying a failure: a real JOSE header is a few hundred characters. */
const MAX_HEADER_SEGMENT = 2048

/**
 * The `typ` of a token's header, read from the header segment alone: a forged
 * token's payload (of any size or depth) is not decoded a second time to
 * explain why it failed.
 */
function headerType (token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0 || dot > MAX_HEADER_SEGMENT) return undefined
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as { typ?: unknown } | null
    return typeof header?.typ === 'string' ? header.typ.toLowerCase() : undefined
  } catch {
    return undefined
  }
}

/** The error code of a verification that threw (fast-jwt's TokenError, or anything else). */
export function classifyError (err: unknown, token: string, expectedTyp: string): TokenErrorCode {
  if (err instanceof KeyRevokedError) return 'revoked'
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

/** RFC 7800 confirmation: this service binds access tokens by `jkt` only. */
function isConfirmation (value: unknown): value is { jkt: string } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) &&
    typeof (value as { jkt?: unknown }).jkt === 'string' && Object.keys(value).length === 1
}

export function hasAccessShape (p: Record<string, unknown>): boolean {
  return typeof p.client_id === 'string' && typeof p.scope === 'string' && isStringArray(p.roles) &&
    (p.sid === undefined || typeof p.sid === 'string') && (p.act === undefined || isActor(p.act)) &&
    (p.cnf === undefined || isConfirmation(p.cnf))
}

export function hasRefreshShape (p: Record<string, unknown>): boolean {
  return typeof p.sid === 'string'
}

/**
 * Runs a signature verifier and the checks it does not make. `verify` is a
 * fast-jwt verifier built from verifierOptions (or anything that throws
 * fast-jwt's TokenError the same way).
 */
export function verifyToken<T> (
  verify: (token: string) => Record<string, unknown>, rules: ClaimRules, token: string, nowSeconds: number,
  hasShape: (payload: Record<string, unknown>) => boolean
): Verified<T> {
  let payload: Record<string, unknown>
  try {
    payload = verify(token)
  } catch (err) {
    return { ok: false, error: classifyError(err, token, rules.typ) }
  }
  // fast-jwt checks exp and nbf; a future iat is ours to refuse.
  if (typeof payload.iat !== 'number') return { ok: false, error: 'invalid_claims' }
  if (payload.iat > nowSeconds + IAT_LEEWAY_SECONDS) return { ok: false, error: 'not_yet_valid' }
  if (rules.previous !== undefined && payload.iss !== rules.issuer && nowSeconds >= rules.previous.until) {
    return { ok: false, error: 'invalid_claims' }
  }
  if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string' || typeof payload.exp !== 'number' ||
    !hasShape(payload)) {
    return { ok: false, error: 'invalid_claims' }
  }
  return { ok: true, claims: payload as unknown as T }
}

/**
 * The `kid` of a token's header, read without verifying anything; undefined
 * when there is none. Throws fast-jwt's malformed TokenError when the header
 * is not JSON. `jku`, `x5u` and `jwk` are never looked at.
 */
export function headerKid (token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0) throw new TokenError(TokenError.codes.malformed, 'The token is malformed.')
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'))
  } catch {
    throw new TokenError(TokenError.codes.malformed, 'The token header is not a valid base64url serialized JSON.')
  }
  if (header === null || typeof header !== 'object') throw new TokenError(TokenError.codes.malformed, 'The token header is not an object.')
  const kid = (header as { kid?: unknown }).kid
  return typeof kid === 'string' ? kid : undefined
}

/**
 * Thrown for a token whose `kid` names a signing key revoked in an emergency
 * (a revocation of kind `key`): every token that key signed is `revoked`,
 * whatever its signature says.
 */
export class KeyRevokedError extends TokenError {
  constructor () {
    super(TokenError.codes.invalidSignature, 'The signing key was revoked.')
  }
}

/** The error a verifier throws for a kid it does not hold (named invalid_signature by classifyError). */
export function unknownKid (): TokenError {
  return new TokenError(TokenError.codes.invalidSignature, 'Unknown or missing kid.')
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

/** The token of an `Authorization: Bearer` header value (RFC 6750 §2.1), or null when there is none. */
export function bearerToken (header: string | undefined): string | null {
  if (header === undefined || header.length > 8192) return null
  const match = BEARER.exec(header)
  return match?.[1] ?? null
}

/** Whether a space-separated `scope` claim holds every scope of `required` (space-separated too). */
export function hasScopes (granted: string, required: string | readonly string[]): boolean {
  const have = new Set(granted.split(' '))
  const wanted = typeof required === 'string' ? required.split(' ') : required
  return wanted.every((s) => s === '' || have.has(s))
}
