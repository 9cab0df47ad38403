// Stream management (SSF 1.0 §8.1): create, read, update (PATCH), replace
// (PUT) and delete a receiver's streams, their status, and verification.
// Every operation names the client that asks (the owner of the ssf:manage
// token): another client's stream is answered exactly like a stream that does
// not exist (404), so stream ids tell nothing to anyone else. Changes are
// compare-and-set on the stream's version, retried on a race. HTTP-free:
// routes/ssf maps it to the wire.
import { randomBytes } from 'node:crypto'
import { AppError } from '../errors.js'
import { openPrivateKey, sealPrivateKey } from '../keys/key-ring.js'
import type { SsfEventStore, SsfStreamChanges, SsfStreamRecord, SsfStreamStatus, SsfStreamStore } from '../store/types.js'
import { pushEndpointProblem, resolvedEndpointProblem, type EndpointPolicy } from './endpoint.js'
import { EVENTS_SUPPORTED } from './events.js'
import type { Outbox } from './outbox.js'

export const PUSH_METHOD = 'urn:ietf:rfc:8935'
export const POLL_METHOD = 'urn:ietf:rfc:8936'

export interface DeliveryInput {
  method: string
  endpoint_url?: string
  authorization_header?: string
}

/** A create, PATCH or PUT body: the receiver-supplied properties, and transmitter-supplied ones that must match. */
export interface StreamInput {
  stream_id?: string
  iss?: string
  aud?: string | string[]
  events_supported?: string[]
  events_requested?: string[]
  events_delivered?: string[]
  delivery?: DeliveryInput
  description?: string
  min_verification_interval?: number
}

/** A stream as the API shows it. The authorization header is write-only: never shown again. */
export interface StreamView {
  stream_id: string
  iss: string
  aud: string
  events_supported: string[]
  events_requested: string[]
  events_delivered: string[]
  delivery: { method: string, endpoint_url: string }
  min_verification_interval: number
  description?: string
}

export interface StatusView {
  stream_id: string
  status: SsfStreamStatus
  reason?: string
}

export interface StreamServiceOptions {
  streams: SsfStreamStore
  events: SsfEventStore
  outbox: Outbox
  /** The metadata's issuer (PUBLIC_URL): every SET's `iss`. */
  issuer: string
  /** The URL a poll stream is read from. */
  pollUrl: (streamId: string) => string
  policy: EndpointPolicy
  maxStreamsPerClient: number
  minVerificationInterval: number
  /** JWT_SECRET: seals the stored authorization headers. */
  secret: string
  /** Milliseconds since the epoch. */
  now?: () => number
}

/** How often a change that lost a compare-and-set is tried again. */
const CAS_ATTEMPTS = 8

/** The sealing salt of a stream's authorization header: no key is shared with another stream or with the key ring. */
const sealSalt = (streamId: string): string => `ssf authorization header ${streamId}`

const notFound = (): AppError => new AppError('not_found', 'no such stream')
const invalid = (message: string): AppError => new AppError('invalid_request', message)

export class StreamService {
  private readonly now: () => number

  constructor (private readonly options: StreamServiceOptions) {
    this.now = options.now ?? Date.now
  }

  view (stream: SsfStreamRecord): StreamView {
    return {
      stream_id: stream.streamId,
      iss: this.options.issuer,
      aud: stream.audience,
      events_supported: [...EVENTS_SUPPORTED],
      events_requested: [...stream.eventsRequested],
      events_delivered: [...stream.eventsDelivered],
      delivery: stream.method === 'push'
        ? { method: PUSH_METHOD, endpoint_url: stream.endpointUrl ?? '' }
        : { method: POLL_METHOD, endpoint_url: this.options.pollUrl(stream.streamId) },
      min_verification_interval: this.options.minVerificationInterval,
      ...(stream.description !== null ? { description: stream.description } : {})
    }
  }

  /** The stream's Authorization header in clear, for the push worker; null when none or sealed under another JWT_SECRET. */
  authorization (stream: SsfStreamRecord): string | null {
    return stream.authorizationHeader === null ? null : openPrivateKey(stream.authorizationHeader, this.options.secret, sealSalt(stream.streamId))
  }

  async create (clientId: string, input: StreamInput): Promise<StreamView> {
    if (input.stream_id !== undefined) throw invalid('stream_id is supplied by the transmitter')
    const streamId = randomBytes(16).toString('base64url')
    this.checkTransmitterSupplied(input, { streamId, audience: clientId, eventsDelivered: undefined })
    const requested = unique(input.events_requested ?? [])
    const delivery = await this.delivery(streamId, input.delivery)
    const created = await this.options.streams.create({
      streamId,
      clientId,
      audience: clientId,
      description: input.description ?? null,
      eventsRequested: requested,
      eventsDelivered: delivered(requested),
      ...delivery
    }, this.options.maxStreamsPerClient, new Date(this.now()))
    if (created === null) {
      throw new AppError('conflict', `a client may have at most ${this.options.maxStreamsPerClient} streams (SSF_MAX_STREAMS_PER_CLIENT)`)
    }
    return this.view(created)
  }

  async list (clientId: string): Promise<StreamView[]> {
    return (await this.options.streams.listForClient(clientId)).map((s) => this.view(s))
  }

  async get (clientId: string, streamId: string): Promise<StreamView> {
    return this.view(await this.owned(clientId, streamId))
  }

  /** The client's stream, or not_found (also when it is another client's). */
  async owned (clientId: string, streamId: string): Promise<SsfStreamRecord> {
    const stream = await this.options.streams.find(streamId)
    if (stream === null || stream.clientId !== clientId) throw notFound()
    return stream
  }

  /**
   * PATCH changes the receiver-supplied properties present; PUT replaces all
   * of them (a missing one is deleted: no description, no events, poll delivery).
   * `delivery` is one property: given, it replaces the whole delivery object.
   */
  async update (clientId: string, input: StreamInput, mode: 'patch' | 'put'): Promise<StreamView> {
    const streamId = input.stream_id
    if (streamId === undefined) throw invalid('stream_id is required')
    const first = await this.owned(clientId, streamId)
    const delivery = mode === 'put' || input.delivery !== undefined ? await this.delivery(streamId, input.delivery) : undefined
    const updated = await this.change(clientId, streamId, (stream) => {
      this.checkTransmitterSupplied(input, stream)
      const changes: SsfStreamChanges = {}
      if (mode === 'put' || input.events_requested !== undefined) {
        changes.eventsRequested = unique(input.events_requested ?? [])
        changes.eventsDelivered = delivered(changes.eventsRequested)
      }
      if (mode === 'put' || input.description !== undefined) changes.description = input.description ?? null
      if (delivery !== undefined) {
        Object.assign(changes, delivery)
        // Acknowledgements belong to one poll conversation; a new method starts afresh from the cursor.
        if (delivery.method !== stream.method) changes.acked = []
      }
      return changes
    }, first)
    return this.view(updated)
  }

  async delete (clientId: string, streamId: string): Promise<void> {
    await this.owned(clientId, streamId)
    if (!await this.options.streams.delete(streamId)) throw notFound()
  }

  async status (clientId: string, streamId: string): Promise<StatusView> {
    return statusView(await this.owned(clientId, streamId))
  }

  /**
   * enabled: events flow; paused: they are held and flow again on enable;
   * disabled: none are held, and an enable starts from the events after it.
   */
  async setStatus (clientId: string, streamId: string, status: SsfStreamStatus, reason: string | undefined): Promise<StatusView> {
    const lastSeq = status === 'enabled' ? await this.options.events.lastSeq() : 0
    const updated = await this.change(clientId, streamId, (stream) => ({
      status,
      statusReason: reason ?? null,
      ...(stream.status === 'disabled' && status === 'enabled' ? { cursor: Math.max(stream.cursor, lastSeq), acked: [] } : {})
    }))
    return statusView(updated)
  }

  /**
   * Queues a verification event for the stream (SSF §8.1.4). At most one per
   * min_verification_interval: the time is claimed by compare-and-set first,
   * so of concurrent requests one passes and the others get 429.
   */
  async verify (clientId: string, streamId: string, state: string | undefined): Promise<void> {
    const interval = this.options.minVerificationInterval * 1000
    await this.change(clientId, streamId, (stream) => {
      const last = stream.verificationRequestedAt?.getTime()
      const wait = last === undefined ? 0 : last + interval - this.now()
      if (wait > 0) {
        throw new AppError('too_many_requests', `one verification per ${this.options.minVerificationInterval} s (min_verification_interval)`,
          { retryAfter: Math.ceil(wait / 1000) })
      }
      return { verificationRequestedAt: new Date(this.now()) }
    })
    await this.options.outbox.verification(streamId, state)
  }

  /** Applies `changes(stream)` by compare-and-set, reading the stream again after a lost race. */
  async change (
    clientId: string, streamId: string, changes: (stream: SsfStreamRecord) => SsfStreamChanges, known?: SsfStreamRecord
  ): Promise<SsfStreamRecord> {
    let stream = known ?? await this.owned(clientId, streamId)
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const wanted = changes(stream)
      if (Object.keys(wanted).length === 0) return stream
      const updated = await this.options.streams.update(streamId, stream.version, wanted, new Date(this.now()))
      if (updated !== null) return updated
      stream = await this.owned(clientId, streamId)
    }
    throw new AppError('conflict', 'the stream kept changing meanwhile; try again')
  }

  /** The stored form of a delivery object; absent is poll (SSF §8.1.1.1). */
  private async delivery (streamId: string, input: DeliveryInput | undefined): Promise<Pick<SsfStreamRecord, 'method' | 'endpointUrl' | 'authorizationHeader'>> {
    if (input === undefined || input.method === POLL_METHOD) {
      if (input?.authorization_header !== undefined) throw invalid('authorization_header is for push delivery only')
      if (input?.endpoint_url !== undefined && input.endpoint_url !== this.options.pollUrl(streamId)) {
        throw invalid('the endpoint_url of a poll stream is supplied by the transmitter')
      }
      return { method: 'poll', endpointUrl: null, authorizationHeader: null }
    }
    if (input.method !== PUSH_METHOD) throw invalid(`delivery.method must be ${PUSH_METHOD} (push) or ${POLL_METHOD} (poll)`)
    if (input.endpoint_url === undefined) throw invalid('push delivery needs delivery.endpoint_url')
    const problem = pushEndpointProblem(input.endpoint_url, this.options.policy) ??
      await resolvedEndpointProblem(input.endpoint_url, this.options.policy)
    if (problem !== null) throw invalid(problem)
    return {
      method: 'push',
      endpointUrl: input.endpoint_url,
      authorizationHeader: input.authorization_header === undefined
        ? null
        : sealPrivateKey(input.authorization_header, this.options.secret, sealSalt(streamId))
    }
  }

  /** Transmitter-supplied properties may be sent back, but must then be what the transmitter says (SSF §8.1.1.3). */
  private checkTransmitterSupplied (
    input: StreamInput, stream: { streamId: string, audience: string, eventsDelivered: string[] | undefined }
  ): void {
    const mismatch = (name: string): AppError => invalid(`${name} is supplied by the transmitter and does not match`)
    if (input.iss !== undefined && input.iss !== this.options.issuer) throw mismatch('iss')
    if (input.aud !== undefined && !sameList(typeof input.aud === 'string' ? [input.aud] : input.aud, [stream.audience])) throw mismatch('aud')
    if (input.events_supported !== undefined && !sameList(input.events_supported, EVENTS_SUPPORTED)) throw mismatch('events_supported')
    if (input.events_delivered !== undefined && (stream.eventsDelivered === undefined || !sameList(input.events_delivered, stream.eventsDelivered))) {
      throw mismatch('events_delivered')
    }
    if (input.min_verification_interval !== undefined && input.min_verification_interval !== this.options.minVerificationInterval) {
      throw mismatch('min_verification_interval')
    }
  }
}

function statusView (stream: SsfStreamRecord): StatusView {
  return { stream_id: stream.streamId, status: stream.status, ...(stream.statusReason !== null ? { reason: stream.statusReason } : {}) }
}

const unique = (values: readonly string[]): string[] => [...new Set(values)]

/** events_delivered: the requested types the transmitter supports (unknown ones are ignored, SSF §8.1.1). */
const delivered = (requested: readonly string[]): string[] => EVENTS_SUPPORTED.filter((type) => requested.includes(type))

function sameList (a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a)
  const right = new Set(b)
  return left.size === right.size && [...left].every((v) => right.has(v))
}
