// The outbox of security events: the SecurityEventSink the services write to
// (in the same store as their action, before they answer), and each
// instance's view of how far it goes. Like the revocation follower, it learns
// of other instances' events by polling the store's last seq, and of its own
// at once; push delivery and waiting polls wake on onChange instead of
// polling the store themselves.
import { randomBytes } from 'node:crypto'
import type { NewSsfEvent, SsfEventStore, UserStore } from '../store/types.js'
import {
  EVENT_TYPES, emailOf, NO_OBSERVER, toSsfEvent, userOf, type SecurityEvent, type SecurityEventSink, type SsfObserver
} from './events.js'
import { Ticker } from '../ticker.js'

const newId = (): string => randomBytes(16).toString('base64url')

export interface OutboxOptions {
  events: SsfEventStore
  users: UserStore
  /** JWT_ISSUER: the `iss` of a user's iss_sub subject. */
  tokenIssuer: string
  /** SSF_EMAIL_SUBJECTS: a username that is an email address is sent as an email subject too. */
  emailSubjects: boolean
  /** How often the last seq is read from the store, ms. */
  intervalMs: number
  observer?: SsfObserver
  /** Milliseconds since the epoch (the app's clock). */
  now?: () => number
  onError?: (err: unknown) => void
}

export class Outbox implements SecurityEventSink {
  private known = 0
  private readonly ticker: Ticker
  private readonly listeners = new Set<() => void>()
  private readonly now: () => number
  private readonly observer: SsfObserver

  constructor (private readonly options: OutboxOptions) {
    this.now = options.now ?? Date.now
    this.observer = options.observer ?? NO_OBSERVER
    this.ticker = new Ticker(async () => { this.advance(await options.events.lastSeq()) }, options)
  }

  /** The highest seq this instance knows of. */
  get lastSeq (): number {
    return this.known
  }

  async record (events: readonly SecurityEvent[]): Promise<void> {
    if (events.length === 0) return
    const nowMs = this.now()
    const at = Math.floor(nowMs / 1000)
    // One txn for the events of one action (RFC 8417 `txn`, SSF §4.1.7).
    const txn = newId()
    const emails = new Map<string, string | undefined>()
    if (this.options.emailSubjects) {
      for (const userId of new Set(events.map(userOf))) {
        if (userId === undefined) continue
        const user = await this.options.users.findById(userId)
        emails.set(userId, user === null ? undefined : emailOf(user.username))
      }
    }
    const rows: NewSsfEvent[] = events.map((event) => {
      const userId = userOf(event)
      const mapped = toSsfEvent(event, this.options.tokenIssuer, at, userId === undefined ? undefined : emails.get(userId))
      return { id: newId(), txn, type: mapped.type, streamId: null, subject: mapped.subject, payload: mapped.payload }
    })
    await this.append(rows, nowMs)
  }

  /** A verification event (SSF §8.1.4) for one stream only. */
  async verification (streamId: string, state: string | undefined): Promise<void> {
    const id = newId()
    await this.append([{
      id,
      txn: id,
      type: EVENT_TYPES.verification,
      streamId,
      subject: { format: 'opaque', id: streamId },
      payload: state === undefined ? {} : { state }
    }], this.now())
  }

  private async append (rows: NewSsfEvent[], nowMs: number): Promise<void> {
    const records = await this.options.events.append(rows, new Date(nowMs))
    for (const record of records) this.observer.queued(record.type)
    this.advance(Math.max(...records.map((r) => r.seq)))
  }

  /** Calls `listener` whenever the outbox grows (here or, within a poll interval, on another instance). Returns the remover. */
  onChange (listener: () => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private advance (seq: number): void {
    if (seq <= this.known) return
    this.known = seq
    for (const listener of [...this.listeners]) listener()
  }

  /** One read of the store's last seq; failures are reported once per streak. */
  tick (): Promise<void> {
    return this.ticker.tick()
  }

  /** Reads the last seq every `intervalMs`, one read at a time. */
  start (): void {
    this.ticker.start()
  }

  async stop (): Promise<void> {
    await this.ticker.stop()
  }
}
