// Poll delivery (RFC 8936). A poll first settles what the receiver says it
// has processed (`ack`, and `setErrs`, which count as processed with an
// error), then answers the oldest SETs it has not acknowledged, at most
// `maxEvents`. Unacknowledged SETs come again on the next poll, with the same
// jti. Without `returnImmediately` and with nothing to send, it waits (up to
// POLL_WAIT_MS) for the outbox to grow, on the outbox's onChange, as the
// revocation feed waits on the revocation follower.
//
// The stream's cursor passes every event that is acknowledged or not for the
// stream; acknowledgements above the first unacknowledged SET are kept with
// the stream (`acked`), so a receiver may acknowledge in any order.
import { AppError } from '../errors.js'
import type { SsfEventRecord, SsfEventStore, SsfStreamRecord } from '../store/types.js'
import { NO_OBSERVER, type SsfObserver } from './events.js'
import type { Outbox } from './outbox.js'
import { carries, jtiFor, readable, setClaims, type SetSigner } from './set.js'
import type { StreamService } from './streams.js'

/** Longest wait of a poll with nothing to send. Below the 30 s at which proxies commonly give up. */
export const POLL_WAIT_MS = 25_000
/** SETs in one answer when the receiver names no maxEvents. */
export const DEFAULT_MAX_EVENTS = 100
export const MAX_EVENTS = 1000
/** Events read behind the cursor to match acknowledgements and find what is pending. */
const WINDOW = 5000
const PAGE = 1000
/**
 * Acknowledgements kept above an unacknowledged SET. A receiver that never
 * acknowledges one SET would otherwise hold the rest forever: past this, that
 * SET is given up (counted as failed, `never_acknowledged`).
 */
export const MAX_ACKED = 10_000

export interface PollRequest {
  ack?: string[]
  setErrs?: Record<string, { err: string, description?: string }>
  maxEvents?: number
  returnImmediately?: boolean
}

export interface PollAnswer {
  sets: Record<string, string>
  moreAvailable?: boolean
}

export interface PollServiceOptions {
  streams: StreamService
  events: SsfEventStore
  outbox: Outbox
  sign: SetSigner
  issuer: string
  observer?: SsfObserver
  onSetError?: (streamId: string, jti: string, err: string) => void
  /** Milliseconds since the epoch. */
  now?: () => number
  waitMs?: number
}

export class PollService {
  private readonly now: () => number
  private readonly observer: SsfObserver
  /** Ends every waiting poll when the server closes. */
  private readonly closing = new AbortController()

  constructor (private readonly options: PollServiceOptions) {
    this.now = options.now ?? Date.now
    this.observer = options.observer ?? NO_OBSERVER
  }

  close (): void {
    this.closing.abort()
  }

  async poll (clientId: string, streamId: string, request: PollRequest, requestSignal?: AbortSignal): Promise<PollAnswer> {
    if ((await this.options.streams.owned(clientId, streamId)).method !== 'poll') {
      throw new AppError('invalid_request', 'this stream is delivered by push, not poll')
    }
    const signal = requestSignal === undefined ? this.closing.signal : AbortSignal.any([this.closing.signal, requestSignal])
    // A jti is at most 128 characters; a longer key matches no SET and is not reported.
    const errors = Object.entries(request.setErrs ?? {}).filter(([jti]) => jti.length > 0 && jti.length <= 128)
    const acks = new Set([...(request.ack ?? []), ...errors.map(([jti]) => jti)])
    for (const [jti, error] of errors) this.options.onSetError?.(streamId, jti, error.err)
    let stream = await this.settle(clientId, streamId, acks)
    const maxEvents = Math.min(request.maxEvents ?? DEFAULT_MAX_EVENTS, MAX_EVENTS)
    if (maxEvents === 0) return { sets: {} }
    const deadline = performance.now() + (request.returnImmediately === true ? 0 : (this.options.waitMs ?? POLL_WAIT_MS))
    for (;;) {
      // Listen before reading: an event appended between the read and the wait still wakes it.
      let wake: () => void = () => {}
      const changed = new Promise<void>((resolve) => { wake = resolve })
      const unsubscribe = this.options.outbox.onChange(wake)
      try {
        const pending = stream.status === 'enabled' && stream.method === 'poll' ? await this.pending(stream, maxEvents + 1) : { events: [] }
        this.observer.lag(streamId, pending.events.length === 0 ? 0 : (this.now() - pending.events[0]!.createdAt.getTime()) / 1000)
        const remaining = deadline - performance.now()
        if (pending.events.length > 0 || remaining <= 0 || signal.aborted) {
          const sending = pending.events.slice(0, maxEvents)
          const sets: Record<string, string> = {}
          for (const event of sending) sets[jtiFor(stream.streamId, event.id)] = this.options.sign(setClaims(event, stream, this.options.issuer))
          return pending.events.length > maxEvents ? { sets, moreAvailable: true } : { sets }
        }
        const retryIn = pending.holeAt === undefined ? remaining : Math.min(remaining, Math.max(0, pending.holeAt - this.now()))
        await waitFor(changed, retryIn, signal)
      } finally {
        unsubscribe()
      }
      stream = await this.options.streams.owned(clientId, streamId)
    }
  }

  /**
   * Records the acknowledgements and moves the cursor over everything
   * acknowledged or not for the stream, by compare-and-set. Returns the stream
   * as it is then.
   */
  private async settle (clientId: string, streamId: string, acks: ReadonlySet<string>): Promise<SsfStreamRecord> {
    const first = await this.options.streams.owned(clientId, streamId)
    // Read once; a lost race reads the stream again, and the window from where its cursor is now.
    const window = await this.read(first.cursor, WINDOW)
    let newlyAcked = 0
    let givenUp = 0
    const updated = await this.options.streams.change(clientId, streamId, (stream) => {
      const events = window.filter((e) => e.seq > stream.cursor)
      const acked = new Set(stream.acked)
      for (const event of events) {
        if (carries(stream, event) && acks.has(jtiFor(stream.streamId, event.id))) acked.add(event.seq)
      }
      newlyAcked = acked.size - stream.acked.length
      givenUp = 0
      let cursor = stream.cursor
      let waiting = acked.size
      for (const event of readable(events, stream.cursor, this.now()).events) {
        if (acked.has(event.seq)) {
          waiting -= 1
        } else if (carries(stream, event)) {
          // Too many acknowledgements wait behind this SET: it is given up.
          if (waiting <= MAX_ACKED) break
          givenUp += 1
        }
        cursor = event.seq
      }
      const kept = [...acked].filter((seq) => seq > cursor).sort((a, b) => a - b)
      if (cursor === stream.cursor && sameNumbers(kept, stream.acked)) return {}
      return { cursor, acked: kept }
    }, first)
    if (newlyAcked > 0) this.observer.delivered(streamId, 'poll', newlyAcked)
    if (givenUp > 0) this.observer.failed(streamId, 'never_acknowledged')
    return updated
  }

  /** The first `limit` SETs the stream has not acknowledged, oldest first. */
  private async pending (stream: SsfStreamRecord, limit: number): Promise<{ events: SsfEventRecord[], holeAt?: number }> {
    const acked = new Set(stream.acked)
    const { events, holeAt } = readable(await this.read(stream.cursor, WINDOW), stream.cursor, this.now())
    const out = events.filter((e) => carries(stream, e) && !acked.has(e.seq)).slice(0, limit)
    return holeAt === undefined ? { events: out } : { events: out, holeAt }
  }

  private async read (after: number, limit: number): Promise<SsfEventRecord[]> {
    const out: SsfEventRecord[] = []
    let cursor = after
    while (out.length < limit) {
      const page = await this.options.events.since(cursor, Math.min(PAGE, limit - out.length))
      out.push(...page)
      if (page.length < PAGE) break
      cursor = page.at(-1)!.seq
    }
    return out
  }
}

function sameNumbers (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

function waitFor (changed: Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, ms))
    signal.addEventListener('abort', done, { once: true })
    changed.then(done, done)
  })
}
