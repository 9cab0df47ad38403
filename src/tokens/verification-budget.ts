// The per-address budget of failed verifications on the unauthenticated hot
// path (/token/validate, /token/validate/batch, /auth/verify). Those routes
// have no rate limit, by design; what an address can make them spend is
// bounded here instead: a failed public-key signature check, or a DPoP proof
// that does not hold, counts against the address that sent it, and an address
// that spent `perSecond` of them within the current second has its tokens
// that this instance has not verified before refused (429, Retry-After) until
// the second ends. Tokens it verified before (the verified-token cache) are
// still answered: a locked address keeps its working set.
//
// Counted in this process's memory, never in Redis: what the budget protects
// is this process's CPU, which each instance and worker has for itself, and a
// forged signature is not a guess that sharing counts would slow down (there
// is nothing to guess). The window is one second so that a lock, which every
// client behind the same address (a gateway, a NAT) shares, lasts one second.
//
// A failure costs a public-key check only with an asymmetric JWT_ALGORITHM and
// a `kid` of the key ring: HMAC checks, unknown kids and revoked keys cost
// next to nothing and are not counted (TokenService.costsSignatureCheck).
import { AppError } from '../errors.js'
import { verifyLiveAccess, type AccessClaims, type RevocationView, type TokenService, type Verified } from './tokens.js'

export interface VerificationBudgetOptions {
  /** Failed verifications one address may spend per second; 0 turns the budget off. */
  perSecond: number
  /** Addresses counted within one second, at most: past it, new ones go uncounted until the next second. */
  maxAddresses?: number
  now?: () => number
}

/** Per address, per one-second window, in memory. */
export class VerificationBudget {
  private readonly perSecond: number
  private readonly maxAddresses: number
  private readonly now: () => number
  /** Failures of the current second, by address. */
  private readonly failures = new Map<string, number>()
  private second = 0
  /** Addresses over budget, with the time (ms) their lock ends. Usually empty: the hot path checks its size. */
  private readonly locked = new Map<string, number>()
  /** When the last lock ends (ms): past it, every lock has ended. */
  private lockedUntil = 0

  constructor (opts: VerificationBudgetOptions) {
    this.perSecond = opts.perSecond
    this.maxAddresses = opts.maxAddresses ?? 100_000
    this.now = opts.now ?? Date.now
  }

  /** Whether any address may be over budget now: the hot path's one check while none is. */
  get anyLocked (): boolean {
    if (this.locked.size === 0) return false
    if (this.now() < this.lockedUntil) return true
    this.locked.clear()
    return false
  }

  /** Seconds until `from` may spend failed verifications again, or null when it may now. */
  retryAfter (from: string): number | null {
    const until = this.locked.get(from)
    if (until === undefined) return null
    const wait = until - this.now()
    if (wait <= 0) {
      this.locked.delete(from)
      return null
    }
    return Math.ceil(wait / 1000)
  }

  /** Counts one failed verification from `from`; the perSecond'th within a second locks it for the rest of it. */
  failed (from: string): void {
    if (this.perSecond === 0) return
    const now = this.now()
    const second = Math.floor(now / 1000)
    if (second !== this.second) {
      this.second = second
      this.failures.clear()
      for (const [address, until] of this.locked) if (until <= now) this.locked.delete(address)
    }
    const count = (this.failures.get(from) ?? 0) + 1
    if (count === 1 && this.failures.size >= this.maxAddresses) return
    this.failures.set(from, count)
    if (count >= this.perSecond) {
      this.lockedUntil = (second + 1) * 1000
      this.locked.set(from, this.lockedUntil)
    }
  }
}

/** The hot path's refusal for an address over its budget (429 with Retry-After). */
export class TooManyFailedVerifications extends AppError {
  constructor (retryAfter: number) {
    super('too_many_requests', `too many failed verifications from this address, retry in ${retryAfter} s`, { retryAfter })
  }
}

/**
 * verifyLiveAccess within the budget of the request's address. `R` is the
 * request (the address is read from it only when needed: while no address is
 * locked and the token verifies, never).
 */
export class BudgetedAccessVerifier<R> {
  constructor (
    private readonly tokens: TokenService,
    private readonly revocations: RevocationView,
    private readonly budget: VerificationBudget,
    private readonly addressOf: (request: R) => string,
    /** Told of each refusal (a 429), e.g. to count it. */
    private readonly onRefused: () => void = () => {}
  ) {}

  /**
   * Seconds until `request`'s address may have `token` checked (and, with
   * `withProof`, a DPoP proof), or null when it may now: always while the
   * address is within its budget, and for a token that costs no check (in the
   * verified-token cache, malformed, of no key of the ring).
   */
  wait (token: string, request: R, withProof = false): number | null {
    if (!this.budget.anyLocked) return null
    if (!withProof && (this.tokens.isVerified(token) || !this.tokens.costsSignatureCheck(token))) return null
    return this.budget.retryAfter(this.addressOf(request))
  }

  /** Throws TooManyFailedVerifications when the address is over budget and the token would need a check. */
  verify (token: string, request: R): Verified<AccessClaims> {
    const wait = this.wait(token, request)
    if (wait !== null) {
      this.onRefused()
      throw new TooManyFailedVerifications(wait)
    }
    const verified = verifyLiveAccess(this.tokens, this.revocations, token)
    if (!verified.ok && verified.error === 'invalid_signature' && this.tokens.costsSignatureCheck(token)) {
      this.budget.failed(this.addressOf(request))
    }
    return verified
  }

  /**
   * Before a DPoP proof is checked: a proof is never in a cache, so an address
   * over budget gets no proof check, whether or not its token was verified before.
   */
  beforeProof (token: string, request: R): void {
    const wait = this.wait(token, request, true)
    if (wait !== null) {
      this.onRefused()
      throw new TooManyFailedVerifications(wait)
    }
  }

  /** A DPoP proof that came with a token from this request and does not hold. */
  proofFailed (request: R): void {
    this.budget.failed(this.addressOf(request))
  }
}
