// The revocation feed offered to resource servers (GET /token/revocations):
// the store's revocation log after a cursor, oldest first, in bounded pages,
// with the cursor to ask next. A reader that waits is woken by this instance's
// own revocation follower, so every instance can answer and none polls the
// store per waiting reader. A cursor the log no longer covers (entries deleted
// below it, or a log reset) gets a snapshot of everything live and a
// `resync` flag: the reader replaces its view, entries are never skipped silently.
// HTTP-free: routes/token/revocations maps it to the wire.
import { createHash } from 'node:crypto'
import type { ClientService } from '../clients/clients.js'
import { AppError } from '../errors.js'
import { authenticateClient, presentedClient } from '../oauth/client-auth.js'
import type { ClientThrottle } from '../oauth/client-throttle.js'
import { OAuthError } from '../oauth/errors.js'
import type { RevocationFollower } from './revocation-list.js'
import type { RevocationKind, RevocationRecord, RevocationStore } from '../store/types.js'

/** The client scope a reader of the feed needs. */
export const REVOCATIONS_READ_SCOPE = 'revocations:read'
/** Longest long-poll, seconds. */
export const MAX_WAIT_SECONDS = 30
/** Entries per page. */
export const FEED_PAGE_SIZE = 1000
/**
 * How long a hole in the sequence may be an entry that is written but not yet
 * visible (MongoDB: concurrent writers can make N+1 visible before N). The feed
 * stops before a younger hole so the reader's cursor never passes an entry it has
 * not seen; an older hole is an entry the store deleted or a write that failed.
 */
export const SEQUENCE_HOLE_GRACE_MS = 1000

export interface FeedEntry {
  seq: number
  kind: RevocationKind
  value: string
  /** Epoch seconds: when every token the entry covers has expired. */
  expires_at: number
  /** Epoch seconds: when the entry was written. */
  created_at: number
  /** A user entry only: epoch seconds; the user's tokens with an earlier iat are covered. */
  issued_before?: number
  /** A user entry only: the session it spares. */
  except_sid?: string
}

export interface FeedPage {
  /** True: the entries are everything live; the reader replaces its view with them. */
  resync: boolean
  entries: FeedEntry[]
  /** The `after` to ask next. */
  next_cursor: number
}

export interface RevocationFeedOptions {
  store: RevocationStore
  follower: RevocationFollower
  pageSize?: number
  now?: () => number
}

const EPOCH = new Date(0)

function toEntry (record: RevocationRecord): FeedEntry {
  const entry: FeedEntry = {
    seq: record.seq,
    kind: record.kind,
    value: record.value,
    expires_at: Math.ceil(record.expiresAt.getTime() / 1000),
    // Floored: a reader's cutoff is then never later than the service's own.
    created_at: Math.floor(record.createdAt.getTime() / 1000)
  }
  if (record.issuedBefore !== null) entry.issued_before = record.issuedBefore
  if (record.exceptSid !== null) entry.except_sid = record.exceptSid
  return entry
}

export class RevocationFeed {
  private readonly now: () => number
  private readonly pageSize: number
  /** Aborts every waiting read when the server closes, so shutdown does not wait out long-polls. */
  private readonly closing = new AbortController()

  constructor (private readonly options: RevocationFeedOptions) {
    this.now = options.now ?? Date.now
    this.pageSize = options.pageSize ?? FEED_PAGE_SIZE
  }

  /**
   * The page after `after`. With `waitMs` > 0 and nothing new, waits until new
   * revocations reach this instance, the wait is over or `signal` aborts
   * (client gone, server closing), then answers (possibly empty).
   */
  async read (after: number, waitMs = 0, requestSignal?: AbortSignal): Promise<FeedPage> {
    const signal = requestSignal === undefined ? this.closing.signal : AbortSignal.any([this.closing.signal, requestSignal])
    // The wait is real time whatever the injected clock says (a frozen test clock must not make it endless).
    const deadline = performance.now() + Math.min(waitMs, MAX_WAIT_SECONDS * 1000)
    for (;;) {
      // Listen before reading: a change between the read and the wait is not lost.
      let wake: () => void = () => {}
      const changed = new Promise<void>((resolve) => { wake = resolve })
      const unsubscribe = this.options.follower.onChange(wake)
      try {
        const { page, retryAt } = await this.readOnce(after)
        const remaining = deadline - performance.now()
        if (page.resync || page.next_cursor !== after || remaining <= 0 || signal.aborted) return page
        await waitFor(changed, Math.min(remaining, retryAt === undefined ? remaining : retryAt - this.now()), signal)
      } finally {
        unsubscribe()
      }
    }
  }

  /** Ends every wait at once (the server is closing). */
  close (): void {
    this.closing.abort()
  }

  private async readOnce (after: number): Promise<{ page: FeedPage, retryAt?: number }> {
    const { store } = this.options
    const bounds = await store.bounds()
    if (after < bounds.prunedThrough || after > bounds.lastSeq) return { page: await this.snapshot(bounds.prunedThrough) }
    // Expired entries are read too (and left out of the answer) so that they are not taken for holes.
    const records = await store.since(after, EPOCH, this.pageSize)
    const nowMs = this.now()
    const entries: FeedEntry[] = []
    let next = after
    for (const record of records) {
      if (record.seq !== next + 1 && record.createdAt.getTime() > nowMs - SEQUENCE_HOLE_GRACE_MS) {
        return { page: { resync: false, entries, next_cursor: next }, retryAt: record.createdAt.getTime() + SEQUENCE_HOLE_GRACE_MS }
      }
      next = record.seq
      if (record.expiresAt.getTime() > nowMs) entries.push(toEntry(record))
    }
    return { page: { resync: false, entries, next_cursor: next } }
  }

  /**
   * Every live entry, whatever its number: what a reader with an unusable
   * cursor starts again from. The cursor it gets walks up from the watermark
   * as readOnce's does and stops before a young hole: an entry numbered but
   * not yet visible must still reach the reader on its next read (the entries
   * above the hole come again then; applying one twice changes nothing).
   */
  private async snapshot (prunedThrough: number): Promise<FeedPage> {
    const nowMs = this.now()
    const entries: FeedEntry[] = []
    let scanned = 0
    let cursor = prunedThrough
    let holding = false
    for (;;) {
      // Expired entries are read too, so that they are not taken for holes.
      const records = await this.options.store.since(scanned, EPOCH, this.pageSize)
      for (const record of records) {
        if (record.expiresAt.getTime() > nowMs) entries.push(toEntry(record))
        if (holding || record.seq <= cursor) continue
        if (record.seq !== cursor + 1 && record.createdAt.getTime() > nowMs - SEQUENCE_HOLE_GRACE_MS) holding = true
        else cursor = record.seq
      }
      scanned = records.at(-1)?.seq ?? scanned
      if (records.length < this.pageSize) break
    }
    return { resync: true, entries, next_cursor: cursor }
  }
}

function waitFor (changed: Promise<void>, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, ms))
    signal?.addEventListener('abort', done, { once: true })
    changed.then(done, done)
  })
}

/** How long a reader's credentials, once accepted, are exempt from the rate limit of credential checks. */
const KNOWN_READER_MS = 5 * 60_000
const KNOWN_READERS_MAX = 10_000

/**
 * Who may read the feed: a confidential client authenticated by HTTP Basic
 * (the OAuth endpoints' client authentication, failures counted in the same
 * throttle per client_id and address) whose scopes include revocations:read.
 * Readers come back every few seconds, so credentials that passed recently
 * are remembered (as a hash) to keep them out of the per-IP budget of
 * credential checks. They are still checked every time, and the exemption
 * covers only checks the verified-secret memory answers: any check that needs
 * argon2 (a secret not remembered, a rotated-out one, a wrong one) is metered
 * first, and credentials that fail are forgotten.
 */
export class FeedReaders {
  private readonly known = new Map<string, number>()

  constructor (
    private readonly clients: ClientService,
    private readonly throttle?: ClientThrottle,
    private readonly now: () => number = Date.now
  ) {}

  /**
   * Authenticates a reader from `from` (its client IP). `meter` draws one
   * credential check from the per-IP budget, or throws when it is spent; it is
   * called before any argon2 work (a no-op when the request was metered already).
   */
  async authenticate (authorization: string | undefined, from: string, meter: () => Promise<void>): Promise<void> {
    const key = fingerprint(authorization ?? '')
    try {
      const presented = presentedClient(authorization, {}, from)
      if (presented === null || presented.method !== 'client_secret_basic') {
        throw new AppError('invalid_client', 'client authentication (HTTP Basic) is required')
      }
      const caller = await authenticateClient(this.clients, presented, false, this.throttle, meter)
      // Without allowPublic, authenticateClient only ever answers a confidential client.
      if (caller.kind !== 'confidential') throw new AppError('invalid_client', 'client authentication failed')
      if (!caller.client.scopes.includes(REVOCATIONS_READ_SCOPE)) {
        throw new AppError('insufficient_scope', `this client lacks the ${REVOCATIONS_READ_SCOPE} scope`)
      }
    } catch (err) {
      this.known.delete(key)
      throw err instanceof OAuthError ? feedError(err) : err
    }
    // Deleted first, so that the entry moves to the newest end.
    this.known.delete(key)
    if (this.known.size >= KNOWN_READERS_MAX) {
      const oldest = this.known.keys().next()
      if (oldest.done !== true) this.known.delete(oldest.value)
    }
    this.known.set(key, this.now() + KNOWN_READER_MS)
  }

  /** Whether these exact credentials were accepted recently. */
  isKnown (authorization: string | undefined): boolean {
    if (authorization === undefined) return false
    const until = this.known.get(fingerprint(authorization))
    return until !== undefined && until > this.now()
  }
}

/** The feed answers `{error, message}`: an OAuth client-authentication error in that form. */
function feedError (err: OAuthError): AppError {
  if (err.code === 'too_many_requests') {
    return new AppError('too_many_requests', err.message, err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {})
  }
  return new AppError('invalid_client', err.message)
}

function fingerprint (authorization: string): string {
  return createHash('sha256').update(authorization).digest('base64url')
}
