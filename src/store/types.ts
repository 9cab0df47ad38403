// The storage contract. Two implementations (sqlite-store.ts, mongo-store.ts)
// satisfy it and one contract suite (test/store/contract.ts) checks both.
// Every method either completes fully or throws: StoreUnavailableError when the
// database cannot be reached, AppError('username_taken') on a duplicate user.

export interface UserRecord {
  id: string
  /** Lower-cased, unique. */
  username: string
  passwordHash: string
  roles: string[]
  disabled: boolean
  createdAt: Date
  /** Consecutive failed logins since the last success or lock (the account-wide count). */
  failedLogins: number
  lockedUntil: Date | null
  /**
   * Bumped in the same write by every change of the password hash (but a
   * rehash of the same password), the disabled flag or the roles: a session
   * is created only while it is still the version its password check read.
   */
  securityVersion: number
}

export interface NewUser {
  username: string
  passwordHash: string
  roles?: string[]
}

/** The successor pair of a rotated refresh token, encrypted (see src/auth/refresh-successor.ts). */
export interface RotatedFrom {
  jti: string
  rotatedAt: Date
  /** Ciphertext of the pair handed out by that rotation; null when reuse grace is off. */
  successor: string | null
}

export interface SessionRecord {
  sid: string
  userId: string
  clientId: string
  /** jti of the one refresh token that is current for this session. */
  currentJti: string
  createdAt: Date
  /** Idle expiry: the current refresh token's exp. A TTL index may delete the session after it. */
  expiresAt: Date
  /** Absolute cap (SESSION_MAX_LIFETIME); rotation never moves it. */
  absoluteExpiresAt: Date
  revokedAt: Date | null
  revokedReason: string | null
  /** The refresh token this session's current one replaced, for the reuse grace. */
  previous: RotatedFrom | null
  /** The DPoP key (RFC 7638 thumbprint) its refresh tokens are bound to; null when they are not bound. */
  dpopJkt: string | null
}

/** What a new session is made of; `dpopJkt` absent means unbound. */
export type NewSession = Omit<SessionRecord, 'revokedAt' | 'revokedReason' | 'previous' | 'dpopJkt'> & { dpopJkt?: string | null }

export interface Rotation {
  nextJti: string
  expiresAt: Date
  previous: RotatedFrom
}

/**
 * jti: one access token; sid: every token of a session; client: every token of
 * a disabled client; user: every token of a user issued before the entry;
 * key: every token signed by a signing key revoked in an emergency (value: its kid).
 */
export type RevocationKind = 'jti' | 'sid' | 'client' | 'user' | 'key'

export interface RevocationRecord {
  /**
   * Increasing per store; followers poll by it. Not gapless, and on MongoDB
   * concurrent writers can make N+1 visible before N: followers re-read an overlap.
   */
  seq: number
  kind: RevocationKind
  value: string
  /** When every token this entry covers has expired; it may be forgotten after that. */
  expiresAt: Date
  createdAt: Date
  /** A user entry only: epoch seconds; the user's tokens with an earlier iat are covered. Null otherwise. */
  issuedBefore: number | null
  /** A user entry only: the session it spares (a password change keeps the session that made it); null otherwise. */
  exceptSid: string | null
}

/** What revocations.add takes. */
export interface NewRevocation {
  kind: RevocationKind
  value: string
  expiresAt: Date
  issuedBefore?: number | null
  exceptSid?: string | null
}

export interface LockoutPolicy {
  /** Failures before a lock: of the account, or, with `address`, of that address on the account. */
  threshold: number
  lockSeconds: number
  now: Date
  /**
   * The client address of the attempt. With it, failures count per (account,
   * address), locking that pair at `threshold`, and the account as a whole
   * locks only at `accountThreshold` failures from any address.
   */
  address?: string
  accountThreshold?: number
}

export interface UserStore {
  /** Throws AppError('username_taken') when the (lower-cased) username exists. */
  create (user: NewUser): Promise<UserRecord>
  findByUsername (username: string): Promise<UserRecord | null>
  findById (id: string): Promise<UserRecord | null>
  /** Up to `limit` users ordered by username, those after `after` (exclusive) when given: a page to follow. */
  list (page: { after?: string, limit: number }): Promise<UserRecord[]>
  /** Replaces the password hash and bumps securityVersion. */
  setPasswordHash (id: string, passwordHash: string): Promise<void>
  /**
   * The same password rehashed with newer parameters: replaces the hash only
   * while it is still `expectedHash`, and leaves securityVersion alone.
   */
  upgradePasswordHash (id: string, expectedHash: string, passwordHash: string): Promise<void>
  /** Sets the flag and bumps securityVersion. */
  setDisabled (id: string, disabled: boolean): Promise<void>
  /** Replaces the user's roles and bumps securityVersion; returns the user as it is now, or null if unknown. */
  setRoles (id: string, roles: string[]): Promise<UserRecord | null>
  /**
   * Reserves one password check, atomically, before the (slow) check runs, so
   * that concurrent attempts cannot all pass a lock that is not yet written.
   * A locked account (lockedUntil > now) is refused: returns its lockedUntil and
   * counts nothing. Otherwise the attempt is counted as a failure until the
   * caller clears it; when the count reaches the threshold the account is locked
   * until now + lockSeconds (this attempt itself is still admitted) and the count
   * restarts. Returns null when admitted (and for an unknown id).
   *
   * With `policy.address`, the (account, address) pair is counted and locked
   * the same way at `threshold`, and the account at `accountThreshold`; a
   * lock of either refuses (the later lock end is returned). A pair's count
   * is forgotten lockSeconds after its last failure.
   */
  beginLoginAttempt (id: string, policy: LockoutPolicy): Promise<Date | null>
  /** Clears the account's failure count and any lock, and those of `address` (after a successful password check). */
  clearLoginFailures (id: string, address?: string): Promise<void>
  /** Clears the account's count and lock and those of every address (an operator's unlock, a password reset). */
  clearAllLoginFailures (id: string): Promise<void>
}

export interface SessionStore {
  create (session: NewSession): Promise<SessionRecord>
  /**
   * Creates the session only while its user exists, is enabled, and has the
   * securityVersion the caller's password check read, atomically with that
   * check: no password change, reset, disable or role change can land between
   * the two unseen. Returns null (and stores nothing live) otherwise.
   */
  createIfCurrent (session: NewSession, securityVersion: number): Promise<SessionRecord | null>
  find (sid: string): Promise<SessionRecord | null>
  /**
   * Compare-and-set rotation: only when the session is not revoked and its
   * currentJti equals expectedJti, sets currentJti, expiresAt and previous.
   * Expiry is not checked here: the service refuses expired sessions before rotating.
   * Returns the updated session, or null when another rotation won.
   */
  rotate (sid: string, expectedJti: string, rotation: Rotation): Promise<SessionRecord | null>
  /** Marks one session revoked (idempotent). Returns the session as it was, or null if unknown. */
  revoke (sid: string, reason: string, now: Date): Promise<SessionRecord | null>
  /**
   * Revokes every not-yet-revoked session of the user (expired ones too) except
   * `keepSid` when given (a password change keeps the session that made it);
   * returns those it revoked.
   */
  revokeAllForUser (userId: string, reason: string, now: Date, keepSid?: string): Promise<SessionRecord[]>
  /**
   * Revokes every not-yet-revoked session started for the client (a disabled
   * client's refresh tokens must stay refused after it is enabled again); returns
   * the sids this call revoked, so that their access tokens, and tokens
   * exchanged from them, can be revoked too.
   */
  revokeAllForClient (clientId: string, reason: string, now: Date): Promise<string[]>
  /** Live (not revoked, not expired) sessions of a user, newest first. */
  listForUser (userId: string, now: Date): Promise<SessionRecord[]>
}

/**
 * A revocation stored more than this long after its seq was handed out is
 * stored again under a fresh seq: readers skip a hole in the sequence once it
 * is a second old (it is then an entry deleted or a write that failed), so a
 * late entry must reappear above whatever cursor passed it.
 */
export const REVOCATION_LATE_MS = 500

/**
 * Where numbering and storing are two steps (MongoDB), the watermark
 * (bounds().prunedThrough) only moves over entries stored at least this long
 * ago: every lower seq was handed out before them, so it is stored, expired,
 * or late (and then stored again above), never still on its way. Well above
 * REVOCATION_LATE_MS and the feed's one-second hole grace, so that clocks
 * a few seconds apart between instances cannot break it.
 */
export const REVOCATION_SETTLE_MS = 10_000

export interface RevocationStore {
  /**
   * Appends an entry with the next sequence number (majority write concern on
   * MongoDB). Where numbering and storing are two steps (MongoDB), an entry
   * stored later than REVOCATION_LATE_MS after its numbering is stored again
   * under a fresh number, and that record is returned.
   */
  add (entry: NewRevocation): Promise<RevocationRecord>
  /**
   * Appends several entries at once, numbered consecutively in their order:
   * one transaction in SQLite, one numbering and one insert in MongoDB (with
   * the same late-storage rule as `add`). Returns their records in that order.
   */
  addMany (entries: readonly NewRevocation[]): Promise<RevocationRecord[]>
  /** Entries with seq > afterSeq and expiresAt > now, ascending by seq, at most `limit`. */
  since (afterSeq: number, now: Date, limit: number): Promise<RevocationRecord[]>
  /** What the log still covers: a follower whose cursor is outside it must resynchronise. */
  bounds (): Promise<RevocationBounds>
}

/**
 * The span of the revocation log a store can still serve by sequence number.
 * A reader at cursor c (it has seen every entry up to c) misses no live entry
 * by reading `since(c)` only when prunedThrough <= c <= lastSeq: below, entries
 * it has not seen may have been deleted; above, the log was reset (a new
 * store) and its numbers mean something else. Stores delete expired entries
 * only, but a reader cannot tell an expired entry from a lost one.
 */
export interface RevocationBounds {
  /**
   * Entries with seq <= prunedThrough may have been deleted; above it, every
   * live entry is held. 0 while nothing was deleted. Only the sweep raises it,
   * to the highest seq it deletes, before it deletes; it never decreases, never
   * exceeds lastSeq, and never covers a seq still on its way into the log
   * (see REVOCATION_SETTLE_MS).
   */
  prunedThrough: number
  /** The highest seq handed out so far (0 for an empty log). */
  lastSeq: number
}

export type GrantType = 'password' | 'refresh_token' | 'client_credentials' | 'urn:ietf:params:oauth:grant-type:token-exchange'

/** A service that uses the orchestrator. */
export interface ClientRecord {
  /** Random, URL-safe, unique. */
  clientId: string
  name: string
  /**
   * argon2id hash of the client secret (a confidential client); the secret itself
   * is never stored. null: a public client, which has no secret.
   */
  secretHash: string | null
  grants: GrantType[]
  audiences: string[]
  scopes: string[]
  /** Seconds; null → the service default. */
  accessTokenTtl: number | null
  refreshTokenTtl: number | null
  disabled: boolean
  createdAt: Date
  /** After a secret rotation with a grace period: the old secret's hash, accepted until expiresAt. */
  previousSecret: { hash: string, expiresAt: Date } | null
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request of this client must carry a DPoP proof. */
  dpopBoundAccessTokens: boolean
}

export type NewClient = Omit<ClientRecord, 'disabled' | 'createdAt' | 'previousSecret' | 'dpopBoundAccessTokens'> & {
  dpopBoundAccessTokens?: boolean
}

export interface ClientStore {
  /** Throws AppError('conflict') when the client_id exists. */
  create (client: NewClient): Promise<ClientRecord>
  find (clientId: string): Promise<ClientRecord | null>
  /** Every client, oldest first. */
  list (): Promise<ClientRecord[]>
  /** Sets the flag; returns the client as it is now, or null if unknown. */
  setDisabled (clientId: string, disabled: boolean): Promise<ClientRecord | null>
  /**
   * Replaces the secret's hash and sets previousSecret (null: the old secret is
   * forgotten at once) in one write; returns the client as it is now, or null if unknown.
   */
  setSecret (clientId: string, secretHash: string, previous: { hash: string, expiresAt: Date } | null): Promise<ClientRecord | null>
  /** Sets dpopBoundAccessTokens; returns the client as it is now, or null if unknown. */
  setDpopBound (clientId: string, bound: boolean): Promise<ClientRecord | null>
}

export type SigningAlgorithm = 'ES256' | 'EdDSA' | 'RS256'

/** One asymmetric signing key of the key ring (see src/keys/key-ring.ts). */
export interface SigningKeyRecord {
  kid: string
  alg: SigningAlgorithm
  /** SPKI PEM. */
  publicKey: string
  /** PKCS8 PEM, sealed with a key derived from JWT_SECRET (src/keys/key-ring.ts). */
  privateKey: string
  createdAt: Date
  /** From then on (until a later key activates) this key signs; before, it is only published. */
  activatesAt: Date
  /** When every token it signed has expired; null while it is the newest key. The store may forget it after. */
  expiresAt: Date | null
}

export interface KeyStore {
  /**
   * Adds a key and gives every OLDER key that has no expiry yet `retireExpiresAt`
   * (the new key's activation plus the longest access-token lifetime). Keys are
   * ordered by (activatesAt, kid): an add never retires a newer key, so of two
   * concurrent adds the newer key always stays unretired. A key added while a
   * newer one is already stored is retired itself, as that newer key's add
   * would have retired it. Throws AppError('conflict') when the kid exists.
   */
  add (key: Omit<SigningKeyRecord, 'createdAt' | 'expiresAt'>, retireExpiresAt: Date): Promise<SigningKeyRecord>
  /** Keys not expired at `now` (expiresAt null or > now), ascending by activatesAt. */
  list (now: Date): Promise<SigningKeyRecord[]>
  /**
   * Forgets a key at once (an emergency revocation): it is never listed again.
   * The newest key left that has not expired at `now` loses its expiry, so a
   * ring whose newest key was removed still has a key that never retires on its
   * own. Returns the key removed, or null when there was none.
   */
  remove (kid: string, now: Date): Promise<SigningKeyRecord | null>
}

// ---------------------------------------------------------------------------
// Shared Signals (src/ssf/): the streams receivers manage and the outbox of
// security events delivered to them.

export type SsfDeliveryMethod = 'push' | 'poll'
export type SsfStreamStatus = 'enabled' | 'paused' | 'disabled'

/** One SSF event stream: a receiver's subscription, owned by the client whose token created it. */
export interface SsfStreamRecord {
  /** Random, URL-safe, unique. */
  streamId: string
  /** Only this client may read or change the stream. */
  clientId: string
  /** The `aud` of every SET sent on the stream. */
  audience: string
  description: string | null
  /** As the receiver asked (bounded, unknown types kept for the echo). */
  eventsRequested: string[]
  /** The requested types the transmitter supports: what the stream carries. */
  eventsDelivered: string[]
  method: SsfDeliveryMethod
  /** Push: the receiver's URL. Poll: null (the transmitter's URL is derived from the id). */
  endpointUrl: string | null
  /** Push: the Authorization header value to send, sealed (src/ssf/streams.ts); null when none. */
  authorizationHeader: string | null
  status: SsfStreamStatus
  statusReason: string | null
  /** Every event with seq <= cursor was delivered and acknowledged, or is not for this stream. */
  cursor: number
  /** Poll: seqs above the cursor that the receiver acknowledged already, ascending. */
  acked: number[]
  /** Bumped by every change but a lease's: the compare-and-set token of update(). */
  version: number
  /** The instance delivering the stream (push), and until when; null when none. */
  leaseOwner: string | null
  leaseUntil: Date | null
  /** When a verification event was last requested (min_verification_interval). */
  verificationRequestedAt: Date | null
  createdAt: Date
  updatedAt: Date
}

export type NewSsfStream = Pick<SsfStreamRecord,
  'streamId' | 'clientId' | 'audience' | 'description' | 'eventsRequested' | 'eventsDelivered' | 'method' |
  'endpointUrl' | 'authorizationHeader'>

/** What update() may change. */
export type SsfStreamChanges = Partial<Pick<SsfStreamRecord,
  'description' | 'eventsRequested' | 'eventsDelivered' | 'method' | 'endpointUrl' | 'authorizationHeader' |
  'status' | 'statusReason' | 'cursor' | 'acked' | 'verificationRequestedAt'>>

export interface SsfStreamStore {
  /**
   * Creates an enabled stream whose cursor is the outbox's last seq (it gets
   * the events appended after it), unless the client already owns
   * `maxPerClient` streams: then null. The count and the insert are one
   * atomic step (SQLite), or the insert is undone when a concurrent create
   * took the last place (MongoDB). Throws AppError('conflict') on a duplicate id.
   */
  create (stream: NewSsfStream, maxPerClient: number, now: Date): Promise<SsfStreamRecord | null>
  find (streamId: string): Promise<SsfStreamRecord | null>
  /** The client's streams, oldest first. */
  listForClient (clientId: string): Promise<SsfStreamRecord[]>
  /** Every stream that is not disabled, oldest first. */
  listActive (): Promise<SsfStreamRecord[]>
  /**
   * Compare-and-set: applies `changes` only while the stream's version is
   * still `expectedVersion`, bumps the version and sets updatedAt. Returns the
   * stream as it is now, or null when it changed meanwhile or is gone.
   */
  update (streamId: string, expectedVersion: number, changes: SsfStreamChanges, now: Date): Promise<SsfStreamRecord | null>
  /** Deletes the stream; false when there was none. */
  delete (streamId: string): Promise<boolean>
  /**
   * Takes or renews the delivery lease until `until`: only when nobody holds
   * it, it expired (leaseUntil <= now) or `owner` holds it already. Returns the
   * stream as it is now, or null (another instance holds it, or the stream is gone).
   */
  takeLease (streamId: string, owner: string, now: Date, until: Date): Promise<SsfStreamRecord | null>
  /** Gives the lease up when `owner` holds it. */
  releaseLease (streamId: string, owner: string): Promise<void>
  /**
   * The lease holder moves the cursor from `from` to `to` (and bumps the
   * version); false when `owner` no longer holds the lease, the cursor moved
   * or the stream is gone.
   */
  advance (streamId: string, owner: string, from: number, to: number, now: Date): Promise<boolean>
}

/** One security event in the outbox: what every stream it is for will carry, in seq order. */
export interface SsfEventRecord {
  /** Increasing; readers follow the outbox by it, as they follow the revocation log. */
  seq: number
  /** Random, 128 bits; with a stream's id it gives the SET's jti. Kept when an entry is stored again. */
  id: string
  /** The SETs' `txn`: shared by the events one action caused. */
  txn: string
  /** Event type URI. */
  type: string
  /** For one stream only (verification), or null: for every stream that asked for the type. */
  streamId: string | null
  /** The SET's `sub_id`. */
  subject: Record<string, unknown>
  /** The event object under the type in the SET's `events`. */
  payload: Record<string, unknown>
  createdAt: Date
}

export type NewSsfEvent = Omit<SsfEventRecord, 'seq' | 'createdAt'>

export interface SsfEventStore {
  /**
   * Appends the events with increasing seqs, all or none. Where numbering and
   * storing are two steps (MongoDB), a batch stored later than
   * REVOCATION_LATE_MS after its numbering is stored again under fresh seqs
   * (same ids), as a late revocation is.
   */
  append (events: NewSsfEvent[], now: Date): Promise<SsfEventRecord[]>
  /** Events with seq > afterSeq, ascending, at most `limit`. */
  since (afterSeq: number, limit: number): Promise<SsfEventRecord[]>
  /** The highest seq handed out so far (0 for an empty outbox). */
  lastSeq (): Promise<number>
  /**
   * Deletes events created before `before` (the retention), and events every
   * stream that is not disabled has passed (seq <= the lowest such cursor; with
   * no such stream, every event numbered so far). Returns how many went.
   */
  prune (before: Date): Promise<number>
}

/**
 * DPoP proofs seen recently (RFC 9449 §11.1), shared by every instance so that
 * a proof replayed to another instance is refused too. Keys are fixed-length
 * hashes; an entry is useless after its expiry and may be deleted then.
 */
export interface DpopProofStore {
  /**
   * Records `key` until `expiresAt`. Atomic insert-if-absent: true for the
   * first claim of a key (or of a key whose entry had expired at `now`),
   * false for every other, concurrent ones included.
   */
  claim (key: string, expiresAt: Date, now: Date): Promise<boolean>
}

/**
 * Test-only pauses inside the writes whose steps can interleave across
 * processes, so that the contract suite can make those races happen on purpose.
 * Only code constructs stores with hooks; no configuration reaches them.
 * Where a store does the steps in one statement (SQLite), a hook runs after it.
 */
export interface StoreHooks {
  /** revocations.add and addMany: after the entries' seqs are handed out (the first is given), before they are stored. */
  revocationNumbered?: (firstSeq: number) => Promise<void>
  /** keys.add: after the key is stored, before older keys are retired. */
  keyInserted?: (kid: string) => Promise<void>
  /** ssfEvents.append: after the batch's seqs are handed out, before it is stored. */
  ssfEventsNumbered?: (firstSeq: number) => Promise<void>
}

/**
 * The access-token lifetimes instances have issued under, so that revocations
 * are kept for the longest lifetime any live token may have, across restarts
 * that lowered ACCESS_TOKEN_TTL.
 */
export interface AccessLifetimeStore {
  /** Tokens of `ttlSeconds` may be issued until `until` (the later time is kept). */
  record (ttlSeconds: number, until: Date): Promise<void>
  /** The longest recorded lifetime whose tokens may still be live at `now` (until + ttl > now); 0 when none. */
  longestLive (now: Date): Promise<number>
}

export interface Store {
  readonly kind: 'sqlite' | 'mongodb'
  readonly users: UserStore
  readonly sessions: SessionStore
  readonly revocations: RevocationStore
  readonly clients: ClientStore
  readonly keys: KeyStore
  readonly lifetimes: AccessLifetimeStore
  readonly ssfStreams: SsfStreamStore
  readonly ssfEvents: SsfEventStore
  readonly dpopProofs: DpopProofStore
  /** Creates indexes and anything else the store needs; idempotent. */
  init (): Promise<void>
  /** Resolves when the store answers; throws StoreUnavailableError otherwise. */
  ping (): Promise<void>
  /**
   * Deletes what has expired at `now` that the database does not expire by
   * itself (SQLite: sessions, revocations, retired keys; MongoDB, whose TTL
   * indexes expire sessions and keys: the revocation log), raising the
   * revocation watermark over what goes. Returns how many records went. After
   * init() it runs every minute.
   */
  sweep (now: Date): Promise<number>
  close (): Promise<void>
}
