// DPoP (RFC 9449) for the service: proofs sent to its own endpoints (the token
// endpoints, which bind what they issue to the proof's key, and the routes that
// take an access token), and proofs a resource server or gateway forwards with
// a token it was given (validate, gateway verify). The proof rules are the
// verifier package's (shared with resource servers); this adds the replay
// guard every instance shares, the server nonces, and the errors' names.
// HTTP-free: callers give the method and the URL the client addressed.
import {
  checkBinding, dpopChallenge, ProofVerifier, type DpopAlgorithm, type PresentedProof, type ProofResult, type VerifiedProof
} from '@token-orchestrator/verifier/dpop'
import { AppError } from '../errors.js'
import type { DpopNonces } from './nonces.js'
import type { ReplayGuard } from './replay.js'

export interface DpopPolicy {
  algorithms: readonly string[]
  /** Seconds a proof's iat may be from the server's time, either way; also how long its jti is remembered. */
  windowSeconds: number
  /** Whether proofs sent to this service's own endpoints must carry a nonce it handed out (DPoP-Nonce). */
  requireNonce: boolean
}

export interface DpopServiceDeps {
  policy: DpopPolicy
  replay: ReplayGuard
  nonces: DpopNonces
  now?: () => number
}

/** Visible ASCII but the backslash: URL parsers read a backslash as `/` and drop tabs and newlines. */
const PLAIN_URL = /^[\x21-\x5b\x5d-\x7e]+$/
/** A `.` or `..` path segment, written plainly or percent-encoded. */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i
/** A percent-encoded unreserved character (ALPHA, DIGIT, `-`, `.`, `_`, `~`), which no URI producer should encode. */
const ENCODED_UNRESERVED = /%(?:3[0-9]|[46][1-9a-f]|[57][0-9a]|2[de]|5f|7e)/i

/**
 * Why a forwarded request URL cannot be compared with a proof's htu as the
 * gateway routed it, or null. Proofs are compared after RFC 3986
 * normalization (dot segments removed, encoded unreserved characters
 * decoded), while a gateway may route on the raw path: `/admin/%2e%2e/public`
 * would match a proof for `/public` and reach what is behind `/admin`. A
 * client's own requests never carry such paths, so they are refused.
 */
export function forwardedUrlProblem (url: string): string | null {
  if (!PLAIN_URL.test(url)) return 'the request URL holds a backslash, whitespace, a control or a non-ASCII character'
  const end = url.search(/[?#]/)
  const path = end === -1 ? url : url.slice(0, end)
  if (DOT_SEGMENT.test(path)) return 'the request path holds a dot segment (. or ..)'
  if (ENCODED_UNRESERVED.test(path)) return 'the request path percent-encodes a letter, a digit or one of - . _ ~'
  return null
}

/** A request to one of this service's own endpoints. */
export interface OwnRequest {
  method: string
  /** The URL the client addressed: PUBLIC_URL and the path. */
  url: string
  accessToken?: string | undefined
  jkt?: string | undefined
}

const REPLAYED = 'the DPoP proof was already used'

/** What validate and gateway verify make of a forwarded proof. */
export type ForwardedResult = VerifiedProof | { ok: false, error: 'invalid_dpop_proof' | 'dpop_proof_required', message: string }

export class DpopService {
  readonly verifier: ProofVerifier
  private readonly now: () => number

  constructor (private readonly deps: DpopServiceDeps) {
    this.verifier = new ProofVerifier({ algorithms: deps.policy.algorithms, windowSeconds: deps.policy.windowSeconds })
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000))
  }

  get algorithms (): readonly DpopAlgorithm[] {
    return this.verifier.algorithms
  }

  get requireNonce (): boolean {
    return this.deps.policy.requireNonce
  }

  /** The nonce to send in DPoP-Nonce (meaningful when nonces are required). */
  nonce (): string {
    return this.deps.nonces.current()
  }

  /** The WWW-Authenticate value of a refusal on a resource route (RFC 9449 §7.1). */
  challenge (error: string): string {
    return dpopChallenge(error, this.algorithms)
  }

  /**
   * A proof sent to a token endpoint of this service: its key's thumbprint,
   * which the tokens issued are bound to. Throws AppError invalid_dpop_proof or
   * use_dpop_nonce (400, the token endpoint's answer), or store_unavailable.
   */
  async tokenRequest (proof: unknown, request: OwnRequest): Promise<string> {
    const result = await this.accept(this.verifier.verify(proof, { ...request, nonce: this.nonceRule() }, this.now()))
    if (!result.ok) throw new AppError(result.error, result.message)
    return result.jkt
  }

  /**
   * An access token with claims `cnf` presented to a resource route of this
   * service under `scheme`, with `proof` (the DPoP header, if any). A bound
   * token needs the DPoP scheme and a proof from its key for this request; the
   * DPoP scheme needs a bound token. Throws AppError (401 with a DPoP challenge).
   */
  async resourceRequest (scheme: 'Bearer' | 'DPoP', token: string, cnf: { jkt: string } | undefined, proof: unknown, request: OwnRequest): Promise<void> {
    if (cnf === undefined) {
      // The DPoP scheme with a bearer token: a client that thinks its token is bound, or a downgrade being probed.
      if (scheme === 'DPoP') throw this.refusal('invalid_token', 'the access token is not DPoP-bound: send it as a Bearer token')
      return
    }
    if (scheme !== 'DPoP') throw this.refusal('invalid_token', 'the access token is DPoP-bound: send it as `Authorization: DPoP` with a DPoP proof')
    const verified = this.verifier.verify(proof, { ...request, accessToken: token, jkt: cnf.jkt, nonce: this.nonceRule() }, this.now())
    const result = await this.accept(verified)
    if (!result.ok) throw this.refusal(result.error, result.message)
  }

  /**
   * The binding check for a token a resource server or gateway forwards with
   * the proof it received and its own request's method and URL (no nonce: a
   * resource server's nonces are its own). null when the token is not bound.
   */
  async forwarded (cnf: { jkt: string } | undefined, token: string, presented: PresentedProof | undefined): Promise<ForwardedResult | null> {
    if (cnf !== undefined && presented !== undefined) {
      const problem = forwardedUrlProblem(presented.url)
      if (problem !== null) return { ok: false, error: 'invalid_dpop_proof', message: problem }
    }
    const result = checkBinding(this.verifier, cnf, token, presented, this.now())
    if (result === null) return null
    // Without a nonce rule no proof is refused for its nonce; the type does not know that.
    if (!result.ok) return { ok: false, error: result.error === 'use_dpop_nonce' ? 'invalid_dpop_proof' : result.error, message: result.message }
    return this.accept(result)
  }

  private nonceRule (): ((nonce: string | undefined) => boolean) | undefined {
    if (!this.deps.policy.requireNonce) return undefined
    const nonces = this.deps.nonces
    return (nonce) => nonces.isValid(nonce)
  }

  /** A verified proof is accepted once: its replay key is claimed, a second claim is a replay. */
  private async accept<R extends ProofResult> (result: R): Promise<R | { ok: false, error: 'invalid_dpop_proof', message: string }> {
    if (!result.ok) return result
    const first = await this.deps.replay.claim(result.replayKey, result.expiresAt, this.now())
    return first ? result : { ok: false, error: 'invalid_dpop_proof', message: REPLAYED }
  }

  private refusal (error: 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce', message: string): AppError {
    return new AppError(error, message, { challenge: this.challenge(error) })
  }
}
