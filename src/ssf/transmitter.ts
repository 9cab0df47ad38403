// The Shared Signals transmitter as the routes see it (`fastify.ssf`): who
// may manage streams, the transmitter metadata, stream management, poll
// delivery, and the push worker and outbox retention that run in the
// background. Wired by plugins/ssf.ts; HTTP-free.
import { AppError } from '../errors.js'
import type { ClientStore, SsfEventStore } from '../store/types.js'
import type { AccessClaims } from '../tokens/tokens.js'
import type { PollService } from './poll.js'
import type { PushWorker } from './push.js'
import { POLL_METHOD, PUSH_METHOD, type StreamService } from './streams.js'

/** What every Shared Signals endpoint answers (404) with JWT_ALGORITHM=HS256. */
export const SSF_OFF = 'Shared Signals are off: they need JWT_ALGORITHM ES256, EdDSA or RS256 (SETs are signed with the key ring)'

/** The client scope a receiver's token needs for every stream endpoint. */
export const SSF_MANAGE_SCOPE = 'ssf:manage'

/** Paths of the endpoints, under the metadata's issuer (PUBLIC_URL). */
export const SSF_PATHS = {
  configuration: '/ssf/streams',
  status: '/ssf/status',
  verification: '/ssf/verify',
  poll: '/ssf/poll'
} as const

export interface TransmitterMetadata {
  spec_version: string
  issuer: string
  jwks_uri: string
  delivery_methods_supported: string[]
  configuration_endpoint: string
  status_endpoint: string
  verification_endpoint: string
  authorization_schemes: Array<{ spec_urn: string }>
  default_subjects: 'ALL' | 'NONE'
}

/** SSF §7.1 metadata for an issuer (PUBLIC_URL, without a trailing slash). */
export function transmitterMetadata (issuer: string): TransmitterMetadata {
  return {
    spec_version: '1_0',
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    delivery_methods_supported: [PUSH_METHOD, POLL_METHOD],
    configuration_endpoint: `${issuer}${SSF_PATHS.configuration}`,
    status_endpoint: `${issuer}${SSF_PATHS.status}`,
    verification_endpoint: `${issuer}${SSF_PATHS.verification}`,
    // OAuth 2.0: an access token from the client_credentials grant, with the ssf:manage scope.
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
    // Every stream gets every user's events of the types it asked for; there is no subject list to manage.
    default_subjects: 'ALL'
  }
}

/**
 * The receiver behind a verified, unrevoked access token: only a client's own
 * token (client_credentials: sub = client_id, no session, not delegated) with
 * the ssf:manage scope, of a client that is enabled and still has that scope
 * now. A user's token is refused even when its client has the scope: streams
 * belong to clients, and a user could otherwise read every user's events.
 * Returns the client_id that owns the streams it may manage.
 */
export async function authorizeReceiver (claims: AccessClaims, clients: ClientStore): Promise<string> {
  const scopes = claims.scope.split(' ')
  if (claims.sid !== undefined || claims.act !== undefined || claims.sub !== claims.client_id || !scopes.includes(SSF_MANAGE_SCOPE)) {
    throw new AppError('insufficient_scope', `a client's own access token (client_credentials) with the ${SSF_MANAGE_SCOPE} scope is required`)
  }
  const client = await clients.find(claims.client_id)
  if (client === null || client.disabled) throw new AppError('invalid_token', 'the client is disabled')
  if (!client.scopes.includes(SSF_MANAGE_SCOPE)) {
    throw new AppError('insufficient_scope', `the client no longer has the ${SSF_MANAGE_SCOPE} scope`)
  }
  return client.clientId
}

export interface TransmitterParts {
  issuer: string
  clients: ClientStore
  streams: StreamService
  poll: PollService
  push: PushWorker
  events: SsfEventStore
  /** SSF_EVENT_RETENTION, seconds. */
  retentionSeconds: number
  pruneIntervalMs?: number
  onPruneError?: (err: unknown) => void
  /** Milliseconds since the epoch. */
  now?: () => number
}

export class Transmitter {
  readonly metadata: TransmitterMetadata
  readonly streams: StreamService
  readonly poll: PollService
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly parts: TransmitterParts) {
    this.metadata = transmitterMetadata(parts.issuer)
    this.streams = parts.streams
    this.poll = parts.poll
  }

  /** The client_id whose streams the token's bearer may manage (see authorizeReceiver). */
  async authorize (claims: AccessClaims): Promise<string> {
    return authorizeReceiver(claims, this.parts.clients)
  }

  start (): void {
    this.parts.push.start()
    if (this.timer !== undefined) return
    this.timer = setInterval(() => { this.prune().catch(() => {}) }, this.parts.pruneIntervalMs ?? 60_000)
    this.timer.unref()
  }

  /** Deletes what every stream has, and what is older than the retention. */
  async prune (): Promise<number> {
    const now = this.parts.now?.() ?? Date.now()
    try {
      return await this.parts.events.prune(new Date(now - this.parts.retentionSeconds * 1000))
    } catch (err) {
      this.parts.onPruneError?.(err)
      return 0
    }
  }

  /** Waiting polls answer at once; the push worker stops and gives its leases up. */
  async stop (): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.poll.close()
    await this.parts.push.stop()
  }
}
