// Server-provided DPoP nonces (RFC 9449 §8 and §9): a value the client must
// put in its next proofs, so that a proof cannot be made ahead of time.
// Stateless: a nonce is an HMAC of the current time step under a key derived
// from a secret every instance shares (JWT_SECRET), so any instance accepts
// what another handed out, and nothing is stored. A nonce is good for the
// step it was made in and the steps either side (clock skew between
// instances, and a client that fetched one just before a step ended).
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'

/** Seconds of one nonce step: a nonce lives two to three of them. */
export const NONCE_STEP_SECONDS = 60

export class DpopNonces {
  private readonly key: Buffer
  private readonly now: () => number
  /** step → nonce, for the last few steps (computing one is an HMAC; each request asks for several). */
  private readonly made = new Map<number, string>()

  constructor (secret: string, now: () => number = () => Math.floor(Date.now() / 1000), private readonly stepSeconds = NONCE_STEP_SECONDS) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'token-orchestrator', 'dpop nonce', 32))
    this.now = now
  }

  /** The nonce to hand out now (the DPoP-Nonce header). */
  current (): string {
    return this.forStep(this.step())
  }

  /** Whether a proof's nonce is one this service handed out recently. */
  isValid (nonce: string | undefined): boolean {
    if (nonce === undefined || nonce.length !== 43) return false
    const presented = Buffer.from(nonce)
    const step = this.step()
    for (const candidate of [step, step - 1, step + 1]) {
      const expected = Buffer.from(this.forStep(candidate))
      if (presented.length === expected.length && timingSafeEqual(presented, expected)) return true
    }
    return false
  }

  private step (): number {
    return Math.floor(this.now() / this.stepSeconds)
  }

  private forStep (step: number): string {
    let nonce = this.made.get(step)
    if (nonce === undefined) {
      nonce = createHmac('sha256', this.key).update(String(step)).digest('base64url')
      if (this.made.size >= 8) this.made.clear()
      this.made.set(step, nonce)
    }
    return nonce
  }
}
