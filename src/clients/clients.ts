// Clients: the services and apps that use the orchestrator. A confidential
// client has a secret (256 bits, kept only as an argon2id hash and shown once);
// a public client has none (a first-party app that cannot keep one) and is
// trusted only for the flows its grants allow. Creating one, authenticating one
// by its secret, resolving the public client a login names, turning one into the
// profile its tokens get, and disabling one, which ends every token it holds on
// every instance through the revocation list. HTTP-free: the admin routes, the
// OAuth routes and the CLI call this.
import { randomBytes } from 'node:crypto'
import { AppError } from '../errors.js'
import type { ClientProfile } from '../auth/auth-service.js'
import type { PasswordHasher } from '../auth/passwords.js'
import type { RevocationFollower } from '../revocation/revocation-list.js'
import { NO_SECURITY_EVENTS, type SecurityEventSink } from '../ssf/events.js'
import type { ClientRecord, GrantType, Store } from '../store/types.js'
import type { VerifiedSecrets } from './verified-secrets.js'

export const GRANT_TYPES: readonly GrantType[] = [
  'password', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'
]
/** What a confidential client gets when it names no grants: a service client. */
export const DEFAULT_GRANTS: readonly GrantType[] = ['client_credentials']
/** What a public client gets when it names no grants: a first-party app's sign-in. */
export const DEFAULT_PUBLIC_GRANTS: readonly GrantType[] = ['password', 'refresh_token']
/** The built-in client used when login names none (no secret, no record in the store). */
export const DEFAULT_CLIENT_ID = 'default'

/** How many sid revocations a client's disable writes at once (one transaction in SQLite, one insert in MongoDB). */
const SID_REVOCATIONS_PER_WRITE = 1000

/**
 * 128 random bits, base64url, never starting with '-': a client_id is given
 * to the CLI as an argument (`client secret <client_id>`), where a leading
 * '-' would be read as an option.
 */
export function newClientId (): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (id.charCodeAt(0) !== 45 /* '-' */) return id
  }
}
/** RFC 6749 §3.3 scope-token. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/

export interface ClientInput {
  name: string
  /** No secret: a first-party app that cannot keep one. Default false (confidential). */
  public?: boolean
  grants?: GrantType[]
  audiences?: string[]
  scopes?: string[]
  accessTokenTtl?: number
  refreshTokenTtl?: number
  /** RFC 9449 §5.2: every token request of this client must carry a DPoP proof. Default false. */
  dpopBoundAccessTokens?: boolean
}

export interface ClientPolicy {
  /** JWT_AUDIENCE: every access token carries it, so this service's own verifiers accept it. */
  defaultAudience: string
  accessTtl: number
  /**
   * The longest lifetime any live access token may have (tokens issued under
   * an earlier, longer ACCESS_TOKEN_TTL included): how long a disabled
   * client's revocation is kept. Read at each use.
   */
  readonly maxAccessTtl: number
  refreshTtl: number
  sessionMaxLifetime: number
  /** CLIENT_SECRET_GRACE: seconds a rotated-out secret is still accepted; 0 = refused at once. */
  secretGrace?: number
}

export interface ClientServiceDeps {
  store: Store
  hasher: PasswordHasher
  follower: RevocationFollower
  policy: ClientPolicy
  /** Secrets that verified recently: skips argon2 for a client that just proved itself. */
  verifiedSecrets?: VerifiedSecrets
  now?: () => number
  /** The Shared Signals outbox: a disable's end of every session is written there before the answer. */
  events?: SecurityEventSink
}

/** A client as the admin API and the CLI show it: never the secret or its hash. */
export interface ClientView {
  client_id: string
  name: string
  /** True for a public client (no secret). */
  public: boolean
  grants: GrantType[]
  audiences: string[]
  scopes: string[]
  access_token_ttl: number | null
  refresh_token_ttl: number | null
  /** Every token request must carry a DPoP proof (RFC 9449 §5.2). */
  dpop_bound_access_tokens: boolean
  disabled: boolean
  created_at: string
}

export function clientView (client: ClientRecord): ClientView {
  return {
    client_id: client.clientId,
    name: client.name,
    public: client.secretHash === null,
    grants: [...client.grants],
    audiences: [...client.audiences],
    scopes: [...client.scopes],
    access_token_ttl: client.accessTokenTtl,
    refresh_token_ttl: client.refreshTokenTtl,
    dpop_bound_access_tokens: client.dpopBoundAccessTokens,
    disabled: client.disabled,
    created_at: client.createdAt.toISOString()
  }
}

/** Splits an RFC 6749 scope parameter; null when it holds something that is not a scope-token. */
export function parseScope (scope: string): string[] | null {
  const parts = scope.split(' ').filter((s) => s !== '')
  return parts.every((s) => SCOPE_TOKEN.test(s)) ? [...new Set(parts)] : null
}

const unique = <T>(values: readonly T[]): T[] => [...new Set(values)]

export class ClientService {
  private readonly now: () => number
  readonly defaultProfile: ClientProfile

  constructor (private readonly deps: ClientServiceDeps) {
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000))
    const { policy } = deps
    this.defaultProfile = {
      clientId: DEFAULT_CLIENT_ID,
      audience: policy.defaultAudience,
      scope: '',
      accessTtl: policy.accessTtl,
      refreshTtl: policy.refreshTtl,
      grants: [...DEFAULT_PUBLIC_GRANTS],
      public: true,
      dpopBound: false
    }
  }

  /**
   * Creates a client. A confidential client's secret is returned this once and
   * only its hash is stored; a public client has none (secret null).
   */
  async create (input: ClientInput): Promise<{ client: ClientRecord, secret: string | null }> {
    const { policy } = this.deps
    const isPublic = input.public === true
    const grants = unique(input.grants ?? (isPublic ? DEFAULT_PUBLIC_GRANTS : DEFAULT_GRANTS))
    if (grants.length === 0 || !grants.every((g) => GRANT_TYPES.includes(g))) {
      throw new AppError('invalid_request', `grants must be a non-empty list of ${GRANT_TYPES.join(', ')}`)
    }
    // client_credentials makes the client itself the subject: without a secret, anyone could be it.
    if (isPublic && grants.includes('client_credentials')) {
      throw new AppError('invalid_request', 'a public client cannot have the client_credentials grant')
    }
    // Token exchange acts on someone's behalf: only a client that proves who it is may.
    if (isPublic && grants.includes('urn:ietf:params:oauth:grant-type:token-exchange')) {
      throw new AppError('invalid_request', 'a public client cannot have the token-exchange grant')
    }
    const scopes = unique(input.scopes ?? [])
    if (!scopes.every((s) => SCOPE_TOKEN.test(s))) throw new AppError('invalid_request', 'a scope holds a character RFC 6749 does not allow')
    const name = input.name.trim()
    if (name === '') throw new AppError('invalid_request', 'name must not be blank')
    // Overrides may shorten lifetimes, never lengthen them: how long revocations and
    // retired signing keys are kept is bounded by ACCESS_TOKEN_TTL.
    if (input.accessTokenTtl !== undefined && !(input.accessTokenTtl >= 1 && input.accessTokenTtl <= policy.accessTtl)) {
      throw new AppError('invalid_request', `access_token_ttl must be between 1 and ACCESS_TOKEN_TTL (${policy.accessTtl})`)
    }
    if (input.refreshTokenTtl !== undefined &&
      !(input.refreshTokenTtl >= 1 && input.refreshTokenTtl <= policy.sessionMaxLifetime)) {
      throw new AppError('invalid_request', `refresh_token_ttl must be between 1 and SESSION_MAX_LIFETIME (${policy.sessionMaxLifetime})`)
    }
    const secret = isPublic ? null : randomBytes(32).toString('base64url')
    const client = await this.deps.store.clients.create({
      clientId: newClientId(),
      name,
      secretHash: secret === null ? null : await this.deps.hasher.hash(secret),
      grants,
      audiences: unique(input.audiences ?? []),
      scopes,
      accessTokenTtl: input.accessTokenTtl ?? null,
      refreshTokenTtl: input.refreshTokenTtl ?? null,
      dpopBoundAccessTokens: input.dpopBoundAccessTokens === true
    })
    return { client, secret }
  }

  async list (): Promise<ClientRecord[]> {
    return this.deps.store.clients.list()
  }

  async get (clientId: string): Promise<ClientRecord> {
    const client = await this.deps.store.clients.find(clientId)
    if (client === null) throw new AppError('not_found', 'no such client')
    return client
  }

  /**
   * Disables a client: store first, then a 'client' revocation that every
   * instance applies within a sync interval. It covers every token the client
   * holds until the longest one has expired; no new ones are issued.
   */
  async disable (clientId: string): Promise<ClientRecord> {
    const client = await this.deps.store.clients.setDisabled(clientId, true)
    if (client === null) throw new AppError('not_found', 'no such client')
    this.deps.verifiedSecrets?.forget(clientId)
    await (this.deps.events ?? NO_SECURITY_EVENTS).record([{ type: 'client-sessions-revoked', clientId, reason: 'client_disabled' }])
    const expiresAt = new Date((this.now() + this.deps.policy.maxAccessTtl) * 1000)
    const record = await this.deps.store.revocations.add({ kind: 'client', value: clientId, expiresAt })
    this.deps.follower.applyLocal(record)
    // Its sessions end in the store too, so that enabling the client again does
    // not bring its old refresh tokens back. Each ended session is also revoked
    // by sid: tokens exchanged from its tokens (RFC 8693) carry the session's
    // sid but the caller's client_id, so the client entry alone misses them.
    // They are written a thousand to a transaction (SQLite) or an insert (MongoDB).
    const sids = await this.deps.store.sessions.revokeAllForClient(clientId, 'client_disabled', new Date(this.now() * 1000))
    for (let i = 0; i < sids.length; i += SID_REVOCATIONS_PER_WRITE) {
      const entries = sids.slice(i, i + SID_REVOCATIONS_PER_WRITE).map((sid) => ({ kind: 'sid' as const, value: sid, expiresAt }))
      for (const record of await this.deps.store.revocations.addMany(entries)) this.deps.follower.applyLocal(record)
    }
    return client
  }

  /**
   * Enables a client again. Only tokens issued from now on work: the disable's
   * revocation entry keeps refusing every access token issued up to the disable
   * (the list compares a token's iat with the entry's time) until they have all
   * expired, and the client's sessions were ended by the disable.
   */
  async enable (clientId: string): Promise<ClientRecord> {
    const client = await this.deps.store.clients.setDisabled(clientId, false)
    if (client === null) throw new AppError('not_found', 'no such client')
    return client
  }

  /**
   * A new secret, returned this once. The old one is refused at once, or, with
   * CLIENT_SECRET_GRACE > 0, still accepted for that many seconds so the
   * client's instances can be redeployed with the new one. Tokens already
   * issued are not affected.
   */
  async rotateSecret (clientId: string): Promise<{ client: ClientRecord, secret: string }> {
    const current = await this.deps.store.clients.find(clientId)
    if (current === null) throw new AppError('not_found', 'no such client')
    if (current.secretHash === null) throw new AppError('conflict', 'a public client has no secret to rotate')
    const grace = this.deps.policy.secretGrace ?? 0
    const secret = randomBytes(32).toString('base64url')
    const previous = grace > 0 ? { hash: current.secretHash, expiresAt: new Date((this.now() + grace) * 1000) } : null
    const client = await this.deps.store.clients.setSecret(clientId, await this.deps.hasher.hash(secret), previous)
    if (client === null) throw new AppError('not_found', 'no such client')
    return { client, secret }
  }

  /** Sets or clears dpop_bound_access_tokens: from then on every token request of the client needs a proof, or not. */
  async setDpopBound (clientId: string, bound: boolean): Promise<ClientRecord> {
    const client = await this.deps.store.clients.setDpopBound(clientId, bound)
    if (client === null) throw new AppError('not_found', 'no such client')
    return client
  }

  /**
   * Checks a confidential client's secret. Unknown and public clients cost the
   * same argon2 time; unknown, public, disabled and wrong secret all give null.
   * A secret that verified within the last moments is not verified again
   * (`cachedOnly`: answer from that memory alone, spending no argon2 at all;
   * the throttle asks that way while someone is failing at this client_id).
   * A hit in that mode renews the memory: a client in steady use keeps
   * passing for as long as the guessing lasts, not just until its entry would
   * have expired. The entry stays bound to the stored hash, so a new secret
   * still misses at once. `beforeVerify` runs before any argon2 work (a caller
   * meters that work there: it may throw to refuse it).
   */
  async authenticate (
    clientId: string, secret: string, opts: { cachedOnly?: boolean, beforeVerify?: (() => Promise<void>) | undefined } = {}
  ): Promise<ClientRecord | null> {
    const found = clientId === DEFAULT_CLIENT_ID ? null : await this.deps.store.clients.find(clientId)
    const client = found !== null && found.secretHash !== null && !found.disabled ? { record: found, hash: found.secretHash } : null
    const cache = this.deps.verifiedSecrets
    if (client !== null && cache?.has(clientId, secret, client.hash) === true) {
      if (opts.cachedOnly === true) cache.remember(clientId, secret, client.hash)
      return client.record
    }
    if (opts.cachedOnly === true) return null
    await opts.beforeVerify?.()
    const ok = await this.deps.hasher.verify(found?.secretHash ?? null, secret)
    const previous = found?.previousSecret
    if (!ok && client !== null && previous != null && previous.expiresAt.getTime() > this.now() * 1000) {
      // Within the grace period after a rotation the old secret still authenticates.
      // Never remembered: it must stop working at the deadline.
      return await this.deps.hasher.verify(previous.hash, secret) ? client.record : null
    }
    if (!ok || client === null) return null
    cache?.remember(clientId, secret, client.hash)
    return client.record
  }

  /**
   * A stored, enabled public client, or null (unknown, disabled or confidential).
   * The built-in `default` client is not stored: callers treat it apart.
   */
  async findPublic (clientId: string): Promise<ClientRecord | null> {
    const client = await this.deps.store.clients.find(clientId)
    return client !== null && client.secretHash === null && !client.disabled ? client : null
  }

  /**
   * The profile of a client that may be named without authenticating (login's
   * `client_id`): undefined or `default` is the built-in client, anything else must
   * be an enabled public client with the password grant. Every other case is the
   * same invalid_client, so the answer tells nothing about which clients exist.
   */
  async resolvePublic (clientId: string | undefined): Promise<ClientProfile> {
    if (clientId === undefined || clientId === DEFAULT_CLIENT_ID) return this.defaultProfile
    const client = await this.findPublic(clientId)
    if (client === null || !client.grants.includes('password')) {
      throw new AppError('invalid_client', 'client_id must name an enabled public client allowed the password grant')
    }
    return this.profile(client)
  }

  /** The profile of any enabled client (a session's client, on refresh); throws invalid_client otherwise. */
  async resolve (clientId: string): Promise<ClientProfile> {
    if (clientId === DEFAULT_CLIENT_ID) return this.defaultProfile
    const client = await this.deps.store.clients.find(clientId)
    if (client === null || client.disabled) throw new AppError('invalid_client', 'unknown or disabled client')
    return this.profile(client)
  }

  profile (client: ClientRecord, scope: string[] = client.scopes): ClientProfile {
    const { policy } = this.deps
    const audiences = unique([policy.defaultAudience, ...client.audiences])
    return {
      clientId: client.clientId,
      audience: audiences.length === 1 ? policy.defaultAudience : audiences,
      scope: scope.join(' '),
      // Never past ACCESS_TOKEN_TTL, also for an override set before it was lowered:
      // revocations are kept for the longest lifetime this service issues under.
      accessTtl: Math.min(client.accessTokenTtl ?? policy.accessTtl, policy.accessTtl),
      refreshTtl: client.refreshTokenTtl ?? policy.refreshTtl,
      grants: [...client.grants],
      public: client.secretHash === null,
      dpopBound: client.dpopBoundAccessTokens
    }
  }
}
