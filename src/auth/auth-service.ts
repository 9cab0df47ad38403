// The authentication flows: register, login, refresh with rotation and reuse
// detection, logout, logout-all and revocation. HTTP-free: routes call these
// and map AppError codes to statuses.
import { AppError } from '../errors.js'
import { createUser, isFirstPartyLogin } from './accounts.js'
import type { PasswordHasher } from './passwords.js'
import { checkUserPassword } from './password-check.js'
import { isSessionLive } from './session-liveness.js'
import { openSuccessor, sealSuccessor, type SealedPair } from './refresh-successor.js'
import type { RevocationFollower, RevocationList } from '../revocation/revocation-list.js'
import { NO_SECURITY_EVENTS, type SecurityEventSink } from '../ssf/events.js'
import type { GrantType, NewRevocation, RevocationKind, SessionRecord, Store, UserRecord } from '../store/types.js'
import { newId, type AccessClaims, type TokenService } from '../tokens/tokens.js'
import { DEFAULT_CLIENT_ID } from '../clients/clients.js'

/** What a client (the service a token is for) contributes to the tokens it gets. */
export interface ClientProfile {
  clientId: string
  audience: string | string[]
  scope: string
  accessTtl: number
  refreshTtl: number
  /** Grants the client may use: a session gets a refresh token only with `refresh_token`. */
  grants: GrantType[]
  /** No secret: it may be named without authenticating, and its refresh tokens rotate at /auth/refresh. */
  public: boolean
  /** RFC 9449 `dpop_bound_access_tokens`: its token requests must carry a DPoP proof. */
  dpopBound: boolean
}

/** `DPoP` when the access token is bound to a key (RFC 9449 §5), `Bearer` otherwise. */
export type TokenType = 'Bearer' | 'DPoP'

export interface AuthPolicy {
  allowRegistration: boolean
  sessionMaxLifetime: number
  reuseInterval: number
  /** Failed logins from one address, and from all together, that lock an account (see checkUserPassword). */
  lockoutThreshold: number
  lockoutAccountThreshold: number
  lockoutSeconds: number
  /**
   * Longest lifetime any live access token may have (tokens issued under an
   * earlier, longer configuration included): how long a session or user
   * revocation must be remembered. Read at each use.
   */
  readonly maxAccessTtl: number
}

/** A login for a client without the refresh_token grant: an access token only. */
export interface AccessTokenAnswer {
  access_token: string
  token_type: TokenType
  expires_in: number
}

export interface TokenPair extends AccessTokenAnswer {
  refresh_token: string
  refresh_expires_in: number
}

/**
 * What happened, for observers (metrics). Emitted after the outcome is known;
 * an observer that throws is ignored, it never changes an answer.
 */
export type AuthEvent =
  | { type: 'login', result: 'success' | 'invalid_credentials' | 'locked' }
  | { type: 'refresh', result: 'success' | 'invalid_grant' }
  | { type: 'refresh_reuse' }
  | { type: 'revocation', kind: RevocationKind, reason: string }

export interface AuthServiceDeps {
  store: Store
  tokens: TokenService
  hasher: PasswordHasher
  revocations: RevocationList
  follower: RevocationFollower
  policy: AuthPolicy
  /**
   * Resolves a client_id named without authentication (login's): undefined → the
   * default client; anything but an enabled public client throws invalid_client.
   */
  resolvePublicClient: (clientId: string | undefined) => Promise<ClientProfile>
  /** Resolves a session's client (any enabled one); throws AppError for unknown or disabled ones. */
  resolveClient: (clientId: string) => Promise<ClientProfile>
  now?: () => number
  onEvent?: (event: AuthEvent) => void
  /** The Shared Signals outbox: every ended session is written there before the answer (default: nowhere). */
  events?: SecurityEventSink
}

/** A client_credentials answer: an access token only (RFC 6749 §4.4.3). */
export interface ServiceToken {
  access_token: string
  token_type: TokenType
  expires_in: number
  scope: string
}

export interface RevokeResult {
  revoked: boolean
}

export class AuthService {
  private readonly now: () => number
  private readonly events: SecurityEventSink

  constructor (private readonly deps: AuthServiceDeps) {
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000))
    this.events = deps.events ?? NO_SECURITY_EVENTS
  }

  async register (username: string, password: string, roles: string[] = []): Promise<{ id: string, username: string }> {
    if (!this.deps.policy.allowRegistration) throw new AppError('registration_closed', 'registration is closed')
    const user = await createUser(this.deps, { username, password, roles })
    return { id: user.id, username: user.username }
  }

  private emit (event: AuthEvent): void {
    try {
      this.deps.onEvent?.(event)
    } catch {
      // Observing must never change the outcome.
    }
  }

  /**
   * Login with a client that did not authenticate (/auth/login): `clientId` must
   * name a public client (or be absent: the default client). `from`: the
   * client address, for the lockout. `jkt`: the DPoP key the request proved it
   * holds; the tokens, and the session's refresh tokens (a public client's),
   * are bound to it.
   */
  async login (username: string, password: string, clientId: string | undefined, from: string, jkt?: string): Promise<TokenPair | AccessTokenAnswer> {
    return this.loginFor(async () => this.deps.resolvePublicClient(clientId), username, password, from, jkt)
  }

  /** Login for a client the caller has already authenticated (or a public one): the OAuth password grant. */
  async loginAs (client: ClientProfile, username: string, password: string, from: string, jkt?: string): Promise<TokenPair | AccessTokenAnswer> {
    return this.loginFor(async () => client, username, password, from, jkt)
  }

  private async loginFor (
    client: () => Promise<ClientProfile>, username: string, password: string, from: string, jkt: string | undefined
  ): Promise<TokenPair | AccessTokenAnswer> {
    try {
      const profile = await client()
      // Before the password is checked: a refused request costs no argon2 and counts toward no lockout.
      requireProof(profile, jkt)
      const pair = await this.attemptLogin(username, password, profile, from, jkt)
      this.emit({ type: 'login', result: 'success' })
      return pair
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_credentials') {
        this.emit({ type: 'login', result: 'invalid_credentials' })
      } else if (err instanceof AppError && err.code === 'too_many_requests') {
        this.emit({ type: 'login', result: 'locked' })
      }
      throw err
    }
  }

  private async attemptLogin (
    username: string, password: string, client: ClientProfile, from: string, jkt: string | undefined
  ): Promise<TokenPair | AccessTokenAnswer> {
    const { store, hasher, policy } = this.deps
    if (!client.grants.includes('password')) {
      throw new AppError('invalid_client', 'this client may not use the password grant')
    }
    const found = await store.users.findByUsername(username)
    const lockout = { threshold: policy.lockoutThreshold, accountThreshold: policy.lockoutAccountThreshold, lockSeconds: policy.lockoutSeconds }
    const ok = await checkUserPassword({ store, hasher, lockout }, found, password, new Date(this.now() * 1000), from)
    if (found === null || !ok || found.disabled) {
      throw new AppError('invalid_credentials', 'invalid username or password')
    }
    let user = found
    if (hasher.needsRehash(user.passwordHash)) {
      // The same password under newer parameters: not a change of the account's
      // security state, so it leaves securityVersion (and this login's check) as it is.
      const passwordHash = await hasher.hash(password)
      await store.users.upgradePasswordHash(user.id, user.passwordHash, passwordHash)
      user = { ...user, passwordHash }
    }
    return this.startSession(user, client, jkt)
  }

  /**
   * A session for every login, so that logout-all and the admin API reach its
   * access tokens through `sid`. Without the refresh_token grant it lasts as long
   * as its access token and no refresh token is handed out.
   *
   * The session is created only while the user's security state is the one the
   * password check read (createIfCurrent, atomic with the insert): a password
   * change, reset, disable or role change that lands while argon2 runs makes
   * it fail, and the login is answered as a wrong password. (Not retried with
   * the user as it is now: a disable and an enable in between look like no
   * change at all, yet the disable ended every session.) The client logs in
   * again, against the account as it now is.
   */
  private async startSession (user: UserRecord, client: ClientProfile, jkt: string | undefined): Promise<TokenPair | AccessTokenAnswer> {
    const now = this.now()
    const sid = newId()
    const jti = newId()
    const withRefresh = client.grants.includes('refresh_token')
    const absoluteExp = withRefresh ? now + this.deps.policy.sessionMaxLifetime : now + client.accessTtl
    const refreshExp = Math.min(now + client.refreshTtl, absoluteExp)
    const created = await this.deps.store.sessions.createIfCurrent({
      sid,
      userId: user.id,
      clientId: client.clientId,
      currentJti: jti,
      createdAt: new Date(now * 1000),
      expiresAt: new Date(refreshExp * 1000),
      absoluteExpiresAt: new Date(absoluteExp * 1000),
      // RFC 9449 §5: a public client's refresh tokens are bound to its key (a
      // confidential client's are bound to its authentication instead).
      dpopJkt: jkt !== undefined && client.public ? jkt : null
    }, user.securityVersion)
    if (created === null) throw new AppError('invalid_credentials', 'invalid username or password')
    return this.answer(user, client, sid, jti, refreshExp, withRefresh, jkt)
  }

  private answer (
    user: UserRecord, client: ClientProfile, sid: string, jti: string, refreshExp: number, withRefresh: boolean, jkt: string | undefined
  ): TokenPair | AccessTokenAnswer {
    const now = this.now()
    const minted = this.mint(user, client, sid, jti, refreshExp, jkt)
    if (withRefresh) return this.pair(minted)
    return {
      access_token: minted.accessToken,
      token_type: tokenType(minted.dpop),
      expires_in: Math.max(0, minted.accessExp - now)
    }
  }

  private mint (user: UserRecord, client: ClientProfile, sid: string, jti: string, refreshExp: number, jkt: string | undefined): SealedPair {
    const access = this.deps.tokens.issueAccess({
      sub: user.id,
      sid,
      clientId: client.clientId,
      audience: client.audience,
      scope: client.scope,
      roles: user.roles,
      ttl: client.accessTtl,
      ...(jkt !== undefined ? { jkt } : {})
    })
    return {
      accessToken: access.token,
      accessExp: access.claims.exp,
      refreshToken: this.deps.tokens.issueRefresh(user.id, sid, jti, refreshExp),
      refreshExp,
      ...(jkt !== undefined ? { dpop: true } : {})
    }
  }

  private pair (sealed: SealedPair): TokenPair {
    const now = this.now()
    return {
      access_token: sealed.accessToken,
      refresh_token: sealed.refreshToken,
      token_type: tokenType(sealed.dpop),
      expires_in: Math.max(0, sealed.accessExp - now),
      refresh_expires_in: Math.max(0, sealed.refreshExp - now)
    }
  }

  /**
   * `scope`, when given, narrows the new access token to those of the client's
   * scopes. `jkt`: the DPoP key the request proved it holds; a session bound
   * to a key refreshes only with that key, and the new access token is bound to it.
   */
  async refresh (refreshToken: string, clientId?: string, scope?: string[], jkt?: string): Promise<TokenPair> {
    try {
      const pair = await this.rotate(refreshToken, clientId, scope, jkt)
      this.emit({ type: 'refresh', result: 'success' })
      return pair
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_grant') this.emit({ type: 'refresh', result: 'invalid_grant' })
      throw err
    }
  }

  /**
   * `clientId` (the OAuth token endpoint's client, authenticated or public) must
   * be the session's client (RFC 6749 §6). Without one (/auth/refresh, where no
   * client authenticates) the session's client must be public: a confidential
   * client's refresh tokens rotate only at the token endpoint with its secret.
   * Either refusal is invalid_grant and ends nothing.
   */
  private async rotate (refreshToken: string, clientId: string | undefined, scope: string[] | undefined, jkt: string | undefined): Promise<TokenPair> {
    const verified = this.deps.tokens.verifyRefresh(refreshToken)
    if (!verified.ok) throw invalidGrant()
    const { sid, jti } = verified.claims
    const { store, policy } = this.deps
    const session = await store.sessions.find(sid)
    const now = this.now()
    if (session !== null && session.revokedAt !== null && !this.deps.revocations.isSessionEnded(sid)) {
      // Ended in the store but its revocation was never written (the store failed
      // between the two writes): write it now so the session's access tokens stop too.
      await this.recordRevocation('sid', sid, this.sessionRevocationExpiry(), session.revokedReason ?? 'revoked')
    }
    if (session === null || (clientId !== undefined && session.clientId !== clientId)) throw invalidGrant()
    // A bound refresh token without its key is refused before anything else, and
    // ends nothing: a thief holding only the token must not be able to end the
    // session either (reuse detection would).
    if (session.dpopJkt !== null && jkt !== session.dpopJkt) {
      throw new AppError('invalid_grant', 'the refresh token is DPoP-bound: refresh with a DPoP proof from its key')
    }
    if (!isSessionLive(session, now, this.deps.revocations)) {
      // A disabled client's sessions end (as they do below when the store says so).
      if (session.revokedAt === null && this.deps.revocations.isClientDisabled(session.clientId, Math.floor(session.createdAt.getTime() / 1000))) {
        await this.endSession(sid, 'client_unavailable')
      }
      throw invalidGrant()
    }
    const resolved = await this.deps.resolveClient(session.clientId).catch(async (err: unknown) => {
      if (err instanceof AppError && err.code === 'store_unavailable') throw err
      // The client was disabled (or removed): its sessions end.
      await this.endSession(sid, 'client_unavailable')
      throw invalidGrant()
    })
    const client = scope === undefined ? resolved : narrowScope(resolved, scope)
    if (!client.grants.includes('refresh_token') || (clientId === undefined && !client.public)) throw invalidGrant()
    requireProof(client, jkt)
    if (session.currentJti === jti) {
      const user = await store.users.findById(session.userId)
      if (user === null || user.disabled) {
        await this.endSession(sid, 'user_unavailable')
        throw invalidGrant()
      }
      const nextJti = newId()
      const refreshExp = Math.min(now + client.refreshTtl, Math.floor(session.absoluteExpiresAt.getTime() / 1000))
      const minted = this.mint(user, client, sid, nextJti, refreshExp, jkt)
      const successor = policy.reuseInterval > 0 ? sealSuccessor(refreshToken, sid, minted) : null
      const rotated = await store.sessions.rotate(sid, jti, {
        nextJti,
        expiresAt: new Date(refreshExp * 1000),
        previous: { jti, rotatedAt: new Date(now * 1000), successor }
      })
      if (rotated !== null) return this.pair(minted)
      // Another refresh of this same token won the compare-and-set: this one is a repeat.
      const latest = await store.sessions.find(sid)
      if (latest !== null) return this.repeatOrReuse(refreshToken, latest, jti)
      throw invalidGrant()
    }
    return this.repeatOrReuse(refreshToken, session, jti)
  }

  /** A refresh token that is no longer current: the grace window's repeat, or reuse. */
  private async repeatOrReuse (refreshToken: string, session: SessionRecord, jti: string): Promise<TokenPair> {
    const grace = this.deps.policy.reuseInterval
    const previous = session.previous
    if (grace > 0 && session.revokedAt === null && previous !== null && previous.jti === jti &&
      previous.successor !== null && this.now() * 1000 - previous.rotatedAt.getTime() <= grace * 1000) {
      const sealed = openSuccessor(refreshToken, session.sid, previous.successor)
      if (sealed !== null) return this.pair(sealed)
    }
    this.emit({ type: 'refresh_reuse' })
    await this.endSession(session.sid, 'refresh_token_reuse')
    throw invalidGrant()
  }

  /** client_credentials (RFC 6749 §4.4): sub = client_id, no session, no refresh token; bound to `jkt` when given. */
  issueServiceToken (client: ClientProfile, jkt?: string): ServiceToken {
    requireProof(client, jkt)
    const access = this.deps.tokens.issueAccess({
      sub: client.clientId,
      clientId: client.clientId,
      audience: client.audience,
      scope: client.scope,
      roles: [],
      ttl: client.accessTtl,
      ...(jkt !== undefined ? { jkt } : {})
    })
    return {
      access_token: access.token,
      token_type: tokenType(jkt !== undefined),
      expires_in: Math.max(0, access.claims.exp - this.now()),
      scope: client.scope
    }
  }

  /**
   * Ends the refresh token's session. A DPoP-bound session (a public client's,
   * logged in with a proof) ends only with a proof from its key (`jkt`): a
   * thief holding the refresh token alone cannot log its owner out.
   */
  async logout (refreshToken: string, jkt?: string): Promise<void> {
    const verified = this.deps.tokens.verifyRefresh(refreshToken)
    if (!verified.ok) throw invalidGrant()
    await this.requireSessionKey(verified.claims.sid, jkt, 'log out')
    await this.endSession(verified.claims.sid, 'logout')
  }

  private async requireSessionKey (sid: string, jkt: string | undefined, action: string): Promise<void> {
    requireKeyOf(await this.deps.store.sessions.find(sid), jkt, action)
  }

  /** Revoking a refresh token: its session is read once, for its client and its key. */
  private async checkRefreshRevoke (sid: string, jkt: string | undefined): Promise<void> {
    const session = await this.deps.store.sessions.find(sid)
    if (session !== null) await this.refuseConfidential(session.clientId)
    requireKeyOf(session, jkt, 'revoke it')
  }

  async logoutAll (userId: string, reason = 'logout_all'): Promise<number> {
    return this.endUserSessions(userId, reason)
  }

  /**
   * /auth/logout-all: the user ends every session with their own access token,
   * which must be a first-party login's (isFirstPartyLogin): a token a
   * downstream service holds for the user cannot log them out everywhere.
   */
  async logoutAllWith (claims: AccessClaims): Promise<number> {
    if (!isFirstPartyLogin(claims)) {
      throw new AppError('forbidden', 'logout-all takes only a first-party login\'s token (client default)')
    }
    return this.logoutAll(claims.sub)
  }

  /** Ends every session of the user but `keepSid`, exactly as logoutAll does (a password change keeps its own). */
  async logoutOthers (userId: string, keepSid: string, reason: string): Promise<number> {
    return this.endUserSessions(userId, reason, keepSid)
  }

  private async endUserSessions (userId: string, reason: string, keepSid?: string): Promise<number> {
    const { store, revocations, policy } = this.deps
    const now = this.now()
    // First one entry for the user: every access token of theirs issued in an
    // earlier second is refused from now on, whether or not its session row
    // still exists (the sweep deletes rows once their refresh token has
    // expired, while an access token may outlive it). `keepSid` is spared.
    await this.recordRevocation('user', userId, this.sessionRevocationExpiry(), reason, { issuedBefore: now, exceptSid: keepSid ?? null })
    // Then the sessions one by one: they cover the tokens issued in this very
    // second, and end the refresh tokens. Revocations first, then the store's
    // sessions: if the store fails part-way, the sessions are still live in the
    // store and a retry finds them again. (The other order left sessions
    // revoked whose access tokens nothing stopped.)
    // Sessions idle-expired less than an access-token lifetime ago may still have live access tokens.
    const live = await store.sessions.listForUser(userId, new Date((now - policy.maxAccessTtl) * 1000))
    for (const session of live) {
      if (session.sid !== keepSid && !revocations.isSessionEnded(session.sid)) {
        await this.recordRevocation('sid', session.sid, this.sessionRevocationExpiry(), reason)
      }
    }
    await this.events.record(live.filter((s) => s.sid !== keepSid).map((s) => ({ type: 'session-revoked', userId, sid: s.sid, reason })))
    const sessions = await store.sessions.revokeAllForUser(userId, reason, new Date(now * 1000), keepSid)
    await this.events.record(sessions.filter((s) => !live.some((l) => l.sid === s.sid)).map((s) => ({ type: 'session-revoked', userId, sid: s.sid, reason })))
    // Sessions started between the two calls.
    for (const session of sessions) {
      if (!revocations.isSessionEnded(session.sid)) await this.recordRevocation('sid', session.sid, this.sessionRevocationExpiry(), reason)
    }
    return sessions.length
  }

  /** A user's sessions that have neither ended nor expired, newest first (not_found for an unknown user). */
  async listSessions (userId: string): Promise<SessionRecord[]> {
    const user = await this.deps.store.users.findById(userId)
    if (user === null) throw new AppError('not_found', 'no such user')
    return this.deps.store.sessions.listForUser(user.id, new Date(this.now() * 1000))
  }

  /** Ends one session: its security event, the store, then the revocation that stops its access tokens. */
  async endSession (sid: string, reason: string): Promise<boolean> {
    // The event first (a failure after it leaves at worst an event for a session that a retry then ends).
    const live = await this.deps.store.sessions.find(sid)
    if (live !== null && live.revokedAt === null) await this.events.record([{ type: 'session-revoked', userId: live.userId, sid, reason }])
    const before = await this.deps.store.sessions.revoke(sid, reason, new Date(this.now() * 1000))
    if (before === null) return false
    if (before.revokedAt === null || !this.deps.revocations.isSessionEnded(sid)) {
      await this.recordRevocation('sid', sid, this.sessionRevocationExpiry(), reason)
    }
    return true
  }

  /** RFC 7009 spirit: anything that is not a live token of ours is `{revoked: false}`, not an error. */
  /**
   * `jkt`: the key of the request's DPoP proof, which a DPoP-bound token needs
   * to be revoked by its holder. `byClient`: the token's own client
   * authenticated (/oauth/revoke), which needs no proof.
   */
  async revoke (token: string, hint?: 'access_token' | 'refresh_token', jkt?: string, byClient = false): Promise<RevokeResult> {
    const tryAccess = async (): Promise<RevokeResult | null> => {
      const verified = this.deps.tokens.verifyAccess(token)
      if (!verified.ok) return null
      if (!byClient) await this.refuseConfidential(verified.claims.client_id)
      const bound = verified.claims.cnf?.jkt
      if (!byClient && bound !== undefined && jkt !== bound) {
        throw new AppError('invalid_dpop_proof', 'the access token is DPoP-bound: revoke it with a DPoP proof from its key')
      }
      return { revoked: await this.revokeAccess(verified.claims) }
    }
    const tryRefresh = async (): Promise<RevokeResult | null> => {
      const verified = this.deps.tokens.verifyRefresh(token)
      if (!verified.ok) return null
      if (!byClient) await this.checkRefreshRevoke(verified.claims.sid, jkt)
      return { revoked: await this.endSession(verified.claims.sid, 'revoked') }
    }
    const order = hint === 'refresh_token' ? [tryRefresh, tryAccess] : [tryAccess, tryRefresh]
    for (const attempt of order) {
      const result = await attempt()
      if (result !== null) return result
    }
    return { revoked: false }
  }

  /**
   * A confidential client's tokens are revoked only where that client
   * authenticates (RFC 7009 §2.1: /oauth/revoke), not by whoever holds one.
   * A client that is gone or disabled has no tokens left to protect.
   */
  private async refuseConfidential (clientId: string): Promise<void> {
    if (clientId === DEFAULT_CLIENT_ID) return
    const client = await this.deps.resolveClient(clientId).catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'store_unavailable') throw err
      return null
    })
    if (client !== null && !client.public) {
      throw new AppError('invalid_client', 'the token belongs to a confidential client: revoke it at /oauth/revoke with that client\'s authentication')
    }
  }

  private async revokeAccess (claims: AccessClaims): Promise<boolean> {
    if (!this.deps.revocations.isRevoked(claims.jti, undefined)) {
      await this.recordRevocation('jti', claims.jti, claims.exp, 'revoked')
    }
    return true
  }

  private sessionRevocationExpiry (): number {
    return this.now() + this.deps.policy.maxAccessTtl
  }

  private async recordRevocation (
    kind: RevocationKind, value: string, expSeconds: number, reason: string, scope: Pick<NewRevocation, 'issuedBefore' | 'exceptSid'> = {}
  ): Promise<void> {
    const record = await this.deps.store.revocations.add({ kind, value, expiresAt: new Date(expSeconds * 1000), ...scope })
    this.deps.follower.applyLocal(record)
    this.emit({ type: 'revocation', kind, reason })
  }
}

/** Only scopes the client still has: what it asked for was checked when it authenticated, the client may have changed since. */
function narrowScope (client: ClientProfile, scope: string[]): ClientProfile {
  const allowed = client.scope.split(' ')
  return { ...client, scope: scope.filter((s) => allowed.includes(s)).join(' ') }
}

function tokenType (bound: boolean | undefined): TokenType {
  return bound === true ? 'DPoP' : 'Bearer'
}

/** A DPoP-bound session's refresh token acts only with a proof from that key. */
function requireKeyOf (session: SessionRecord | null, jkt: string | undefined, action: string): void {
  if (session !== null && session.dpopJkt !== null && jkt !== session.dpopJkt) {
    throw new AppError('invalid_dpop_proof', `the refresh token is DPoP-bound: ${action} with a DPoP proof from its key`)
  }
}

/** A client that must use DPoP (dpop_bound_access_tokens) gets nothing without a proof. */
function requireProof (client: ClientProfile, jkt: string | undefined): void {
  if (client.dpopBound && jkt === undefined) {
    throw new AppError('invalid_dpop_proof', 'this client must use DPoP: send a DPoP proof with each token request')
  }
}

function invalidGrant (): AppError {
  return new AppError('invalid_grant', 'the refresh token is invalid, expired or revoked')
}
