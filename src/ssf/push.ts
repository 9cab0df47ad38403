// Push delivery (RFC 8935), one worker per instance. A stream is delivered
// by at most one instance at a time: the one holding its lease, taken by
// compare-and-set in the store and renewed before every POST. Events go out
// in seq order, one at a time: the next is sent only after the receiver
// accepted the previous one (or refused it for good), and the cursor moves
// in the store after each, so a restart, or another instance taking over an
// expired lease, goes on from the first event not yet accepted.
//
// Guarantee: at least once. An event accepted by the receiver whose cursor
// move did not happen (a crash between the two, or a lease lost during a
// slow POST) is sent again by the next holder, with the same jti and iat.
// Otherwise each event reaches each stream once.
//
// A failed POST (no answer, timeout, 5xx, 429, a 4xx other than a refused
// SET) is tried again after an exponential backoff with jitter, capped at
// SSF_RETRY_MAX_MS, for as long as the event is kept (SSF_EVENT_RETENTION);
// meanwhile the stream's later events wait, and the lease is renewed so that
// no other instance starts on the same stream. With nothing to send the
// lease is given up, so idle streams cost no writes.
import { setTimeout as delay } from 'node:timers/promises'
import { randomUUID } from 'node:crypto'
import type { SsfEventRecord, SsfEventStore, SsfStreamRecord, SsfStreamStore } from '../store/types.js'
import type { EndpointPolicy } from './endpoint.js'
import { NO_OBSERVER, type SsfObserver } from './events.js'
import type { Outbox } from './outbox.js'
import type { PushSender } from './push-client.js'
import { carries, readable, setClaims, type SetSigner } from './set.js'

const BATCH = 100

export interface DeliveryLog {
  warn: (details: Record<string, unknown>, message: string) => void
  error: (details: Record<string, unknown>, message: string) => void
}

export interface PushWorkerOptions {
  streams: SsfStreamStore
  events: SsfEventStore
  outbox: Outbox
  /** The stream's Authorization header in clear (null: none, or sealed under another JWT_SECRET). */
  authorization: (stream: SsfStreamRecord) => string | null
  /** Whether the stream's owner may still receive events (an enabled client). */
  ownerActive: (clientId: string) => Promise<boolean>
  sign: SetSigner
  issuer: string
  send: PushSender
  policy: EndpointPolicy
  timeoutMs: number
  leaseMs: number
  retryMinMs: number
  retryMaxMs: number
  /** How often the streams are looked at besides the outbox's changes (leases another instance let lapse). */
  scanIntervalMs: number
  observer?: SsfObserver
  log?: DeliveryLog
  random?: () => number
  /** This instance's name in the leases. */
  owner?: string
}

/** The wait before attempt n + 1 (n >= 1 failures): min · 2^(n-1), capped at max, then between half and all of it. */
export function backoffMs (failures: number, minMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(0, failures - 1), 40))
  return Math.round(exp * (0.5 + random() * 0.5))
}

export class PushWorker {
  readonly owner: string
  private readonly running = new Map<string, Promise<void>>()
  /** Streams that saw a change while their task ran: looked at again when it ends. */
  private readonly dirty = new Set<string>()
  private readonly closing = new AbortController()
  private readonly observer: SsfObserver
  private readonly random: () => number
  private timer: NodeJS.Timeout | undefined
  private unsubscribe: (() => void) | undefined
  private scanning = false
  private rescan = false
  private scanFailing = false

  constructor (private readonly options: PushWorkerOptions) {
    this.owner = options.owner ?? randomUUID()
    this.observer = options.observer ?? NO_OBSERVER
    this.random = options.random ?? Math.random
  }

  start (): void {
    if (this.timer !== undefined) return
    this.unsubscribe = this.options.outbox.onChange(() => { this.kick() })
    this.timer = setInterval(() => { this.kick() }, this.options.scanIntervalMs)
    this.timer.unref()
    this.kick()
  }

  /** Stops: every wait ends, in-flight POSTs are abandoned, the leases held are given up. */
  async stop (): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.unsubscribe?.()
    this.closing.abort()
    await Promise.all([...this.running.values()])
  }

  /** A scan in the background (scan never rejects: it logs). */
  private kick (): void {
    this.scan().catch(() => {})
  }

  /** Starts a task for every enabled push stream with events after its cursor that nobody else is delivering. */
  async scan (): Promise<void> {
    if (this.closing.signal.aborted) return
    if (this.scanning) {
      this.rescan = true
      return
    }
    this.scanning = true
    try {
      const now = Date.now()
      for (const stream of await this.options.streams.listActive()) {
        if (stream.method !== 'push' || stream.status !== 'enabled') continue
        if (this.running.has(stream.streamId)) {
          this.dirty.add(stream.streamId)
          continue
        }
        const free = stream.leaseOwner === null || stream.leaseOwner === this.owner || (stream.leaseUntil?.getTime() ?? 0) <= now
        if (free && stream.cursor < this.options.outbox.lastSeq) this.begin(stream.streamId)
      }
      this.scanFailing = false
    } catch (err) {
      if (!this.scanFailing) this.options.log?.error({ err }, 'push delivery: reading the streams failed; trying again')
      this.scanFailing = true
    } finally {
      this.scanning = false
      if (this.rescan) {
        this.rescan = false
        this.kick()
      }
    }
  }

  private begin (streamId: string): void {
    const task = this.deliver(streamId).finally(() => {
      this.running.delete(streamId)
      if (this.dirty.delete(streamId)) this.kick()
    })
    this.running.set(streamId, task)
  }

  /** Delivers the stream's events in order while this instance holds its lease. */
  private async deliver (streamId: string): Promise<void> {
    const { streams, events, leaseMs } = this.options
    let failures = 0
    let holding = false
    try {
      for (;;) {
        if (this.closing.signal.aborted) return
        const stream = await streams.takeLease(streamId, this.owner, new Date(), new Date(Date.now() + leaseMs))
        if (stream === null) {
          // Another instance delivers it now (or it is gone): its series are that instance's.
          this.observer.forget(streamId)
          return
        }
        holding = true
        if (stream.status !== 'enabled' || stream.method !== 'push' || stream.endpointUrl === null ||
          !await this.options.ownerActive(stream.clientId)) {
          this.observer.forget(streamId)
          return
        }
        const { events: ready, holeAt } = readable(await events.since(stream.cursor, BATCH), stream.cursor, Date.now())
        let cursor = stream.cursor
        const next = ready.find((e) => carries(stream, e))
        const passed = next === undefined ? ready.at(-1)?.seq ?? cursor : next.seq - 1
        if (passed > cursor) {
          // Events for other streams or types: passed over in one move.
          if (!await streams.advance(streamId, this.owner, cursor, passed, new Date())) return
          cursor = passed
        }
        if (next === undefined) {
          if (passed > stream.cursor) continue
          if (holeAt !== undefined) {
            if (!await this.pause(streamId, holeAt - Date.now())) return
            continue
          }
          this.observer.lag(streamId, 0)
          return
        }
        this.observer.lag(streamId, Math.max(0, (Date.now() - next.createdAt.getTime()) / 1000))
        const outcome = await this.send(stream, next)
        if (outcome === 'done') {
          failures = 0
          if (!await streams.advance(streamId, this.owner, cursor, next.seq, new Date())) return
          continue
        }
        failures += 1
        if (!await this.pause(streamId, backoffMs(failures, this.options.retryMinMs, this.options.retryMaxMs, this.random))) return
      }
    } catch (err) {
      // The store failed: the next scan starts again from the stored cursor.
      this.options.log?.error({ err, streamId }, 'push delivery stopped: the store failed')
    } finally {
      if (holding) await streams.releaseLease(streamId, this.owner).catch(() => {})
    }
  }

  /** One POST of one SET: 'done' when accepted or refused for good, 'retry' otherwise. */
  private async send (stream: SsfStreamRecord, event: SsfEventRecord): Promise<'done' | 'retry'> {
    const authorization = this.options.authorization(stream)
    if (stream.authorizationHeader !== null && authorization === null) {
      this.observer.failed(stream.streamId, 'authorization_unreadable')
      this.options.log?.error({ streamId: stream.streamId },
        'push delivery: the stream\'s authorization header cannot be opened with this JWT_SECRET; the receiver must set it again')
      return 'retry'
    }
    const set = this.options.sign(setClaims(event, stream, this.options.issuer))
    const result = await this.options.send(stream.endpointUrl!, set, authorization, {
      timeoutMs: this.options.timeoutMs, policy: this.options.policy, signal: this.closing.signal
    })
    if (result.ok) {
      this.observer.delivered(stream.streamId, 'push', 1)
      return 'done'
    }
    this.observer.failed(stream.streamId, result.reason)
    if (result.permanent) {
      this.options.log?.warn({ streamId: stream.streamId, seq: event.seq, reason: result.reason },
        'push delivery: the receiver refused a SET as malformed; it is not sent again')
      return 'done'
    }
    return 'retry'
  }

  /** Waits `ms`, renewing the lease meanwhile; false when it was lost or the worker is stopping. */
  private async pause (streamId: string, ms: number): Promise<boolean> {
    const end = Date.now() + Math.max(0, ms)
    for (;;) {
      const left = end - Date.now()
      if (left <= 0) return !this.closing.signal.aborted
      await wait(Math.min(left, Math.max(50, Math.floor(this.options.leaseMs / 3))), this.closing.signal)
      if (this.closing.signal.aborted) return false
      const renewed = await this.options.streams.takeLease(streamId, this.owner, new Date(), new Date(Date.now() + this.options.leaseMs))
      if (renewed === null) return false
    }
  }
}

/** Waits `ms`, or less once `signal` aborts (also when it already has); never rejects. */
async function wait (ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => {})
}
