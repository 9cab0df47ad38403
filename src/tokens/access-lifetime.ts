// How long an access token of this service can live, as far as revocations
// are concerned: a session or user revocation must be kept until every token
// it covers has expired. That is ACCESS_TOKEN_TTL for the tokens this process
// issues, but an instance that ran with a longer ACCESS_TOKEN_TTL (before a
// restart that lowered it, or beside this one during a rolling change) may
// have issued longer-lived tokens. Each instance records in the store the
// lifetime it issues under and until when; the longest one whose tokens may
// still be live is the retention every instance uses.
import type { AccessLifetimeStore } from '../store/types.js'

/** How far ahead an instance records that it issues tokens: well past its next refresh. */
export const RECORD_AHEAD_MS = 5 * 60_000

export class AccessLifetime {
  private longest: number

  constructor (
    private readonly store: AccessLifetimeStore,
    /** ACCESS_TOKEN_TTL: client overrides never exceed it (see ClientService). */
    private readonly configured: number,
    private readonly nowMs: () => number = Date.now
  ) {
    this.longest = configured
  }

  /** Seconds: the longest lifetime any live access token may have. */
  get seconds (): number {
    return this.longest
  }

  /** Records this instance's lifetime and reads everyone's. Throws when the store fails (the last figure stays). */
  async refresh (): Promise<void> {
    const now = this.nowMs()
    await this.store.record(this.configured, new Date(now + RECORD_AHEAD_MS))
    this.longest = Math.max(this.configured, await this.store.longestLive(new Date(now)))
  }
}
