// MongoDB store: the shared, durable implementation used when MONGODB_URL is set.
//
// Collections (all string `_id`s except revocations):
//   users        _id = random UUID; username stored lower-cased, unique index.
//   sessions     _id = sid; index on userId; TTL index on expiresAt (idle expiry).
//                The service caps expiresAt at absoluteExpiresAt, so one TTL index
//                on expiresAt also bounds the absolute lifetime.
//   revocations  unique index on seq; index on (expiresAt, seq) for the sweep. No
//                TTL index: only sweep() deletes entries, after it has raised the
//                watermark over them.
//   counters     { _id: 'revocations', seq, prunedThrough } hands out revocation
//                sequence numbers and holds the log's watermark, in one document.
//   settings     development secrets (see keptSettings).
//   clients      _id = client_id; index on createdAt (listing order).
//   signing_keys _id = kid; index on activatesAt; TTL index on expiresAt (retired
//                keys are forgotten once every token they signed has expired;
//                the newest key has expiresAt null, which a TTL index never deletes).
//   ssf_streams  _id = stream_id; index on (clientId, createdAt).
//   ssf_events   the outbox: unique index on seq, index on createdAt (the
//                retention sweep); counters { _id: 'ssf_events', seq } numbers it.
//
// Documents are mapped to and from the record types field by field: no `_id` (or
// any other storage detail) ever reaches callers, and nothing callers hold aliases
// stored state.
//
// Errors: every operation goes through `guard()`. A driver error that means the
// database cannot be reached or did not answer in time becomes
// StoreUnavailableError (HTTP 503 store_unavailable); the driver's message only
// survives as `cause`, for the log. Anything else is rethrown unchanged (the HTTP
// layer turns non-AppErrors into a bare 500).
//
// Revocation sequence hazard (for whoever writes the follower): `add()` takes its
// number from `counters` and then inserts the entry, in two steps. With several
// concurrent writers, entry N+1 can be inserted, and so become visible to
// `since()`, before entry N. A follower that remembers only "the highest seq I
// have seen" and asks `since(highest)` can therefore skip N for good. `since()`
// itself is exact (seq > afterSeq, ascending, expired entries left out); a follower
// must re-read a small overlap (e.g. `since(highest - K)`, or re-read the entries
// of the last few seconds) and de-duplicate by seq. A number can also be skipped
// entirely (counter incremented, insert failed), so gaps are not an error either.
// An entry that took longer than REVOCATION_LATE_MS to store is stored again
// under a fresh number, so that it reappears above any cursor that passed it.
import { randomUUID } from 'node:crypto'
import {
  MongoClientClosedError,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type Collection,
  type Db,
  type Document,
  type InsertOneOptions,
  type OptionalUnlessRequiredId,
  type WriteConcernSettings
} from 'mongodb'
import { AppError, StoreUnavailableError } from '../errors.js'
import type {
  AccessLifetimeStore, ClientRecord, ClientStore, DpopProofStore, KeyStore, LockoutPolicy, NewClient, NewRevocation, NewSession,
  NewSsfEvent, NewSsfStream, NewUser,
  RevocationBounds, RevocationRecord, RevocationStore, RotatedFrom, Rotation, SessionRecord, SessionStore,
  SigningKeyRecord, SsfEventRecord, SsfEventStore, SsfStreamChanges, SsfStreamRecord, SsfStreamStore, Store,
  StoreHooks, UserRecord, UserStore
} from './types.js'
import { REVOCATION_LATE_MS, REVOCATION_SETTLE_MS } from './types.js'

// ---------------------------------------------------------------------------
// Error mapping

const UNAVAILABLE_CLASSES = [
  MongoServerSelectionError,
  MongoNetworkError, // includes MongoNetworkTimeoutError
  MongoNotConnectedError,
  MongoTopologyClosedError,
  MongoClientClosedError,
  MongoServerClosedError,
  MongoOperationTimeoutError
] as const

// The same classes by name, in case two copies of the driver are ever loaded
// (instanceof would then fail across them).
const UNAVAILABLE_NAMES = new Set([
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoClientClosedError',
  'MongoServerClosedError',
  'MongoOperationTimeoutError'
])

// Server error codes that mean "no usable primary / did not answer in time".
const UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  64, // WriteConcernFailed (write concern timeout)
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436 // NotPrimaryOrSecondary
])

export function isUnavailableError (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if (UNAVAILABLE_CLASSES.some((cls) => err instanceof cls)) return true
  if (UNAVAILABLE_NAMES.has(err.name)) return true
  if (err instanceof MongoError) {
    // Labels the driver attaches to errors that it would retry (network errors,
    // primary step-downs, overload): once its own retry has failed, the store is
    // unavailable for now.
    if (err.hasErrorLabel(MongoErrorLabel.RetryableWriteError)) return true
    if (err.hasErrorLabel(MongoErrorLabel.SystemOverloadedError)) return true
    if (err instanceof MongoServerError && typeof err.code === 'number' && UNAVAILABLE_CODES.has(err.code)) return true
  }
  return false
}

async function guard<T> (op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (err) {
    if (err instanceof AppError) throw err
    if (isUnavailableError(err)) throw new StoreUnavailableError(err)
    throw err
  }
}

function isDuplicateKey (err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000
}

/** insertOne with a duplicate key (11000) reported as the given domain error. */
async function insertUnique<T extends Document> (
  collection: Collection<T>, doc: OptionalUnlessRequiredId<T>, onDuplicate: () => AppError, options: InsertOneOptions = {}
): Promise<void> {
  try {
    await collection.insertOne(doc, options)
  } catch (err) {
    if (isDuplicateKey(err)) throw onDuplicate()
    throw err
  }
}

// Security-relevant writes (revocations, rotations, lockout, password hashes,
// roles, disable flags, clients, keys) use this write concern. With the
// server's default (w:1 on a replica set with an arbiter) an acknowledged
// write can be rolled back by a fail-over: a revocation that came back, a
// disable undone. The timeout keeps a write from hanging forever when a
// majority is not reachable; the error it raises (code 64) is reported as
// StoreUnavailableError.
export const MAJORITY: WriteConcernSettings = { w: 'majority', wtimeoutMS: 10_000 }

export interface MongoStoreOptions {
  /** Write concern of the security-relevant writes (default MAJORITY). */
  writeConcern?: WriteConcernSettings
  /** How often init()'s sweep prunes the revocation log, ms (default 60 000). */
  sweepIntervalMs?: number
  /** Test-only pauses (see StoreHooks); no configuration sets them. */
  hooks?: StoreHooks
}

/** MONGODB_WRITE_CONCERN ('majority' or a number of members) as driver settings. */
export function writeConcernFor (setting: string): WriteConcernSettings {
  return setting === 'majority' ? MAJORITY : { w: Number(setting), wtimeoutMS: MAJORITY.wtimeoutMS }
}

// ---------------------------------------------------------------------------
// Documents

type UserDoc = Omit<UserRecord, 'id'> & {
  _id: string
  /** Internal: the end of the window the account-wide failure count covers. Never mapped out. */
  failuresUntil?: Date | null
}

type RotatedFromDoc = RotatedFrom

type SessionDoc = Omit<SessionRecord, 'sid'> & {
  _id: string
  /** Internal: marks the sessions one revokeAllForUser call revoked. Never mapped out. */
  revokeOp?: string
}

type RevocationDoc = Omit<RevocationRecord, 'issuedBefore' | 'exceptSid'> & { issuedBefore?: number | null, exceptSid?: string | null }

/** Failed logins of one (account, address) pair; the TTL index forgets it at expiresAt. */
interface LoginFailureDoc {
  _id: string
  userId: string
  failed: number
  lockedUntil: Date | null
  expiresAt: Date
}

/** Tokens of `_id` seconds may have been issued until issuedUntil; the TTL index forgets it once they have all expired. */
interface LifetimeDoc {
  _id: number
  issuedUntil: Date
  expiresAt: Date
}

type ClientDoc = Omit<ClientRecord, 'clientId'> & { _id: string }

type SigningKeyDoc = Omit<SigningKeyRecord, 'kid'> & { _id: string }

interface CounterDoc {
  _id: string
  seq: number
  /** The revocation counter: the log's watermark (bounds().prunedThrough), raised with $max only. */
  prunedThrough?: number
}

const date = (d: Date): Date => new Date(d.getTime())
const dateOrNull = (d: Date | null | undefined): Date | null => (d == null ? null : date(d))

function toUser (doc: UserDoc): UserRecord {
  return {
    id: doc._id,
    username: doc.username,
    passwordHash: doc.passwordHash,
    roles: [...(doc.roles ?? [])],
    disabled: doc.disabled === true,
    createdAt: date(doc.createdAt),
    failedLogins: doc.failedLogins ?? 0,
    lockedUntil: dateOrNull(doc.lockedUntil),
    securityVersion: doc.securityVersion ?? 0
  }
}

function toRotatedFromDoc (previous: RotatedFrom): RotatedFromDoc {
  return { jti: previous.jti, rotatedAt: date(previous.rotatedAt), successor: previous.successor ?? null }
}

function toRotatedFrom (doc: RotatedFromDoc | null | undefined): RotatedFrom | null {
  if (doc == null) return null
  return { jti: doc.jti, rotatedAt: date(doc.rotatedAt), successor: doc.successor ?? null }
}

function toSession (doc: SessionDoc): SessionRecord {
  return {
    sid: doc._id,
    userId: doc.userId,
    clientId: doc.clientId,
    currentJti: doc.currentJti,
    createdAt: date(doc.createdAt),
    expiresAt: date(doc.expiresAt),
    absoluteExpiresAt: date(doc.absoluteExpiresAt),
    revokedAt: dateOrNull(doc.revokedAt),
    revokedReason: doc.revokedReason ?? null,
    previous: toRotatedFrom(doc.previous),
    dpopJkt: doc.dpopJkt ?? null
  }
}

function toRevocation (doc: RevocationDoc): RevocationRecord {
  return {
    seq: doc.seq,
    kind: doc.kind,
    value: doc.value,
    expiresAt: date(doc.expiresAt),
    createdAt: date(doc.createdAt),
    issuedBefore: doc.issuedBefore ?? null,
    exceptSid: doc.exceptSid ?? null
  }
}

function toClient (doc: ClientDoc): ClientRecord {
  return {
    clientId: doc._id,
    name: doc.name,
    secretHash: doc.secretHash ?? null,
    grants: [...(doc.grants ?? [])],
    audiences: [...(doc.audiences ?? [])],
    scopes: [...(doc.scopes ?? [])],
    accessTokenTtl: doc.accessTokenTtl ?? null,
    refreshTokenTtl: doc.refreshTokenTtl ?? null,
    disabled: doc.disabled === true,
    createdAt: date(doc.createdAt),
    previousSecret: doc.previousSecret == null
      ? null
      : { hash: doc.previousSecret.hash, expiresAt: date(doc.previousSecret.expiresAt) },
    dpopBoundAccessTokens: doc.dpopBoundAccessTokens === true
  }
}

function toSigningKey (doc: SigningKeyDoc): SigningKeyRecord {
  return {
    kid: doc._id,
    alg: doc.alg,
    publicKey: doc.publicKey,
    privateKey: doc.privateKey,
    createdAt: date(doc.createdAt),
    activatesAt: date(doc.activatesAt),
    expiresAt: dateOrNull(doc.expiresAt)
  }
}

// ---------------------------------------------------------------------------
// Users

/** The _id of an (account, address) pair's failures: length-prefixed, so no address can pose as another pair. */
function pairKey (id: string, address: string): string {
  return `${id.length}:${id}:${address}`
}

class MongoUsers implements UserStore {
  constructor (
    private readonly users: Collection<UserDoc>,
    private readonly failures: Collection<LoginFailureDoc>,
    private readonly wc: WriteConcernSettings
  ) {}

  async create (user: NewUser): Promise<UserRecord> {
    const doc: UserDoc = {
      _id: randomUUID(),
      username: user.username.toLowerCase(),
      passwordHash: user.passwordHash,
      roles: [...(user.roles ?? [])],
      disabled: false,
      createdAt: new Date(),
      failedLogins: 0,
      lockedUntil: null,
      securityVersion: 0
    }
    return guard(async () => {
      await insertUnique(this.users, doc, () => new AppError('username_taken', 'that username is already taken'),
        { writeConcern: this.wc })
      return toUser(doc)
    })
  }

  async findByUsername (username: string): Promise<UserRecord | null> {
    return guard(async () => {
      const doc = await this.users.findOne({ username: username.toLowerCase() })
      return doc === null ? null : toUser(doc)
    })
  }

  async findById (id: string): Promise<UserRecord | null> {
    return guard(async () => {
      const doc = await this.users.findOne({ _id: id })
      return doc === null ? null : toUser(doc)
    })
  }

  async list (page: { after?: string, limit: number }): Promise<UserRecord[]> {
    return guard(async () => {
      const filter = page.after === undefined ? {} : { username: { $gt: page.after.toLowerCase() } }
      // The unique index on username serves both the filter and the order.
      const docs = await this.users.find(filter).sort({ username: 1 }).limit(page.limit).toArray()
      return docs.map(toUser)
    })
  }

  async setPasswordHash (id: string, passwordHash: string): Promise<void> {
    await guard(() => this.users.updateOne({ _id: id }, { $set: { passwordHash }, $inc: { securityVersion: 1 } }, { writeConcern: this.wc }))
  }

  async upgradePasswordHash (id: string, expectedHash: string, passwordHash: string): Promise<void> {
    // The filter is the compare: a hash changed meanwhile (a password change) is left alone.
    await guard(() => this.users.updateOne({ _id: id, passwordHash: expectedHash }, { $set: { passwordHash } }, { writeConcern: this.wc }))
  }

  async setDisabled (id: string, disabled: boolean): Promise<void> {
    await guard(() => this.users.updateOne({ _id: id }, { $set: { disabled }, $inc: { securityVersion: 1 } }, { writeConcern: this.wc }))
  }

  async setRoles (id: string, roles: string[]): Promise<UserRecord | null> {
    return guard(async () => {
      const doc = await this.users.findOneAndUpdate({ _id: id }, { $set: { roles: [...roles] }, $inc: { securityVersion: 1 } }, { returnDocument: 'after', writeConcern: this.wc })
      return doc === null ? null : toUser(doc)
    })
  }

  async beginLoginAttempt (id: string, policy: LockoutPolicy): Promise<Date | null> {
    if (policy.address !== undefined) {
      // The pair first: attempts refused at a locked address never reach the account's count.
      const pairLock = await this.beginPairAttempt(id, policy.address, policy)
      if (pairLock !== null) return pairLock
      return this.beginAccountAttempt(id, { ...policy, threshold: policy.accountThreshold ?? policy.threshold })
    }
    return this.beginAccountAttempt(id, policy)
  }

  /**
   * One atomic upsert of the pair's document decides and counts: a lock in
   * force (a live document whose lockedUntil > now) is left as it is; a
   * document past its expiry counts from zero again. The document as it was
   * before is returned, so a refusal reads the lock end in the same step.
   */
  private async beginPairAttempt (id: string, address: string, policy: LockoutPolicy): Promise<Date | null> {
    const now = policy.now
    const lockedUntil = new Date(now.getTime() + policy.lockSeconds * 1000)
    const live = { $gt: [{ $ifNull: ['$expiresAt', null] }, { $literal: now }] }
    const locked = { $and: [live, { $gt: [{ $ifNull: ['$lockedUntil', null] }, { $literal: now }] }] }
    const reached = { $gte: ['$failed', policy.threshold] }
    const pipeline = [
      { $set: { userId: { $literal: id }, wasLocked: locked, failed: { $cond: [locked, '$failed', { $add: [{ $cond: [live, { $ifNull: ['$failed', 0] }, 0] }, 1] }] } } },
      {
        $set: {
          lockedUntil: { $cond: ['$wasLocked', '$lockedUntil', { $cond: [reached, { $literal: lockedUntil }, null] }] },
          failed: { $cond: ['$wasLocked', '$failed', { $cond: [reached, 0, '$failed'] }] },
          expiresAt: { $cond: ['$wasLocked', '$expiresAt', { $literal: lockedUntil }] }
        }
      },
      { $unset: 'wasLocked' }
    ]
    return guard(async () => {
      const before = await this.failures.findOneAndUpdate({ _id: pairKey(id, address) }, pipeline,
        { upsert: true, returnDocument: 'before', writeConcern: this.wc })
      if (before === null || before.expiresAt <= now) return null
      const until = dateOrNull(before.lockedUntil)
      return until !== null && until > now ? until : null
    })
  }

  private async beginAccountAttempt (id: string, policy: LockoutPolicy): Promise<Date | null> {
    const now = policy.now
    const lockedUntil = new Date(now.getTime() + policy.lockSeconds * 1000)
    // One atomic update of the user's document decides and counts: a locked
    // account (lockedUntil > now) is left as it is; otherwise stage 1 counts
    // the attempt, and in stage 2 every expression reads the document as
    // stage 1 left it, so both $conds see the new count (and `locked`, which
    // reads lockedUntil, still sees the value from before this update). The
    // document as it was before is returned, so a refusal answers the lock end
    // the store holds, read in the same atomic step that refused.
    // The count covers a window of lockSeconds from its first failure
    // (failuresUntil): a count whose window has passed starts again, so one
    // address, locked out again and again, never adds up to the threshold.
    const locked = { $gt: [{ $ifNull: ['$lockedUntil', null] }, { $literal: now }] }
    const live = { $gt: [{ $ifNull: ['$failuresUntil', null] }, { $literal: now }] }
    const reached = { $gte: ['$failedLogins', policy.threshold] }
    const pipeline = [
      {
        $set: {
          failedLogins: { $cond: [locked, '$failedLogins', { $add: [{ $cond: [live, { $ifNull: ['$failedLogins', 0] }, 0] }, 1] }] },
          failuresUntil: { $cond: [{ $or: [locked, live] }, { $ifNull: ['$failuresUntil', null] }, { $literal: lockedUntil }] }
        }
      },
      {
        $set: {
          lockedUntil: {
            $cond: [locked, '$lockedUntil', { $cond: [reached, { $literal: lockedUntil }, { $ifNull: ['$lockedUntil', null] }] }]
          },
          failedLogins: { $cond: [locked, '$failedLogins', { $cond: [reached, 0, '$failedLogins'] }] },
          failuresUntil: { $cond: [locked, '$failuresUntil', { $cond: [reached, null, '$failuresUntil'] }] }
        }
      }
    ]
    return guard(async () => {
      const before = await this.users.findOneAndUpdate({ _id: id }, pipeline, { returnDocument: 'before', writeConcern: this.wc })
      if (before === null) return null
      const until = dateOrNull(before.lockedUntil)
      return until !== null && until > now ? until : null
    })
  }

  async clearAllLoginFailures (id: string): Promise<void> {
    await guard(async () => {
      await this.users.updateOne({ _id: id }, { $set: { failedLogins: 0, lockedUntil: null, failuresUntil: null } }, { writeConcern: this.wc })
      await this.failures.deleteMany({ userId: id }, { writeConcern: this.wc })
    })
  }

  async clearLoginFailures (id: string, address?: string): Promise<void> {
    await guard(async () => {
      await this.users.updateOne({ _id: id }, { $set: { failedLogins: 0, lockedUntil: null, failuresUntil: null } }, { writeConcern: this.wc })
      if (address !== undefined) await this.failures.deleteOne({ _id: pairKey(id, address) }, { writeConcern: this.wc })
    })
  }
}

// ---------------------------------------------------------------------------
// Sessions

class MongoSessions implements SessionStore {
  constructor (
    private readonly sessions: Collection<SessionDoc>,
    private readonly users: Collection<UserDoc>,
    private readonly wc: WriteConcernSettings
  ) {}

  /**
   * No transaction (standalone servers and replica sets alike): the session is
   * inserted first, then the user is read back with majority read concern. Every
   * change of the user's security state bumps securityVersion in the user's
   * document (acknowledged) BEFORE it ends the user's sessions. So either this
   * read sees the new version, and the session is ended here, or the bump was
   * not yet visible, hence came after the insert was acknowledged, and the
   * change's own sweep of the user's sessions finds this session. No order
   * leaves a session created from a stale check live.
   */
  async createIfCurrent (session: NewSession, securityVersion: number): Promise<SessionRecord | null> {
    const created = await this.create(session)
    return guard(async () => {
      const user = await this.users.findOne({ _id: session.userId }, { readConcern: { level: 'majority' } })
      if (user !== null && user.disabled !== true && (user.securityVersion ?? 0) === securityVersion) return created
      await this.sessions.updateOne({ _id: session.sid, revokedAt: null },
        { $set: { revokedAt: new Date(), revokedReason: 'stale_login' } }, { writeConcern: this.wc })
      return null
    })
  }

  async create (session: NewSession): Promise<SessionRecord> {
    const doc: SessionDoc = {
      _id: session.sid,
      userId: session.userId,
      clientId: session.clientId,
      currentJti: session.currentJti,
      createdAt: date(session.createdAt),
      expiresAt: date(session.expiresAt),
      absoluteExpiresAt: date(session.absoluteExpiresAt),
      revokedAt: null,
      revokedReason: null,
      previous: null,
      dpopJkt: session.dpopJkt ?? null
    }
    return guard(async () => {
      await this.sessions.insertOne(doc, { writeConcern: this.wc })
      return toSession(doc)
    })
  }

  async find (sid: string): Promise<SessionRecord | null> {
    return guard(async () => {
      const doc = await this.sessions.findOne({ _id: sid })
      return doc === null ? null : toSession(doc)
    })
  }

  async rotate (sid: string, expectedJti: string, rotation: Rotation): Promise<SessionRecord | null> {
    return guard(async () => {
      // Compare-and-set: the filter is the "compare", so of several concurrent
      // rotations with the same expectedJti exactly one matches.
      const doc = await this.sessions.findOneAndUpdate(
        { _id: sid, currentJti: expectedJti, revokedAt: null },
        {
          $set: {
            currentJti: rotation.nextJti,
            expiresAt: date(rotation.expiresAt),
            previous: toRotatedFromDoc(rotation.previous)
          }
        },
        // Majority: a rotation rolled back by a failover would revive the old token
        // and orphan the new one.
        { returnDocument: 'after', writeConcern: this.wc }
      )
      return doc === null ? null : toSession(doc)
    })
  }

  async revoke (sid: string, reason: string, now: Date): Promise<SessionRecord | null> {
    // Idempotent in one atomic update: a session that is already revoked keeps its
    // first revokedAt and reason. ($ifNull also treats a missing field as null,
    // unlike $eq.) $literal keeps a reason starting with '$' from being read as a
    // field path.
    const notYetRevoked = { $eq: [{ $ifNull: ['$revokedAt', null] }, null] }
    const pipeline = [
      {
        $set: {
          revokedAt: { $cond: [notYetRevoked, { $literal: date(now) }, '$revokedAt'] },
          revokedReason: { $cond: [notYetRevoked, { $literal: reason }, { $ifNull: ['$revokedReason', null] }] }
        }
      }
    ]
    return guard(async () => {
      const before = await this.sessions.findOneAndUpdate({ _id: sid }, pipeline, { returnDocument: 'before', writeConcern: this.wc })
      return before === null ? null : toSession(before)
    })
  }

  async revokeAllForUser (userId: string, reason: string, now: Date, keepSid?: string): Promise<SessionRecord[]> {
    // Every document is updated atomically and tagged with this call's own id, so
    // the read-back returns exactly the sessions this call revoked: not the ones a
    // concurrent revoke got to first, and including any session created between a
    // find and the update.
    const op = randomUUID()
    return guard(async () => {
      await this.sessions.updateMany(
        keepSid === undefined ? { userId, revokedAt: null } : { userId, revokedAt: null, _id: { $ne: keepSid } },
        { $set: { revokedAt: date(now), revokedReason: reason, revokeOp: op } },
        { writeConcern: this.wc }
      )
      const docs = await this.sessions.find({ userId, revokeOp: op }).sort({ createdAt: -1 }).toArray()
      return docs.map(toSession)
    })
  }

  async revokeAllForClient (clientId: string, reason: string, now: Date): Promise<string[]> {
    // Tagged with this call's id, as in revokeAllForUser: exactly the sessions it revoked come back.
    const op = randomUUID()
    return guard(async () => {
      await this.sessions.updateMany(
        { clientId, revokedAt: null },
        { $set: { revokedAt: date(now), revokedReason: reason, revokeOp: op } },
        { writeConcern: this.wc }
      )
      const docs = await this.sessions.find({ clientId, revokeOp: op }, { projection: { _id: 1 } }).toArray()
      return docs.map((doc) => doc._id)
    })
  }

  async listForUser (userId: string, now: Date): Promise<SessionRecord[]> {
    return guard(async () => {
      const docs = await this.sessions
        .find({ userId, revokedAt: null, expiresAt: { $gt: now }, absoluteExpiresAt: { $gt: now } })
        .sort({ createdAt: -1, _id: 1 })
        .toArray()
      return docs.map(toSession)
    })
  }
}

// ---------------------------------------------------------------------------
// Revocations

const REVOCATION_COUNTER = 'revocations'
/** Where an earlier version of this store kept the watermark; init() folds it into the counter. */
const LEGACY_WATERMARK = 'revocations_pruned'
/** How many times a late revocation is stored again before add() gives up. */
const LATE_RETRIES = 3

class MongoRevocations implements RevocationStore {
  constructor (
    private readonly revocations: Collection<RevocationDoc>,
    private readonly counters: Collection<CounterDoc>,
    private readonly wc: WriteConcernSettings,
    private readonly hooks: StoreHooks
  ) {}

  async add (entry: NewRevocation): Promise<RevocationRecord> {
    return (await this.addMany([entry]))[0]!
  }

  async addMany (entries: readonly NewRevocation[]): Promise<RevocationRecord[]> {
    if (entries.length === 0) return []
    return guard(async () => {
      for (let attempt = 0; ; attempt++) {
        const started = performance.now()
        // One atomic update of one document numbers the whole batch: seqs
        // last - n + 1 .. last. Upsert with returnDocument 'after' always
        // returns the document.
        const counter = await this.counters.findOneAndUpdate(
          { _id: REVOCATION_COUNTER },
          { $inc: { seq: entries.length } },
          { upsert: true, returnDocument: 'after', writeConcern: this.wc }
        )
        if (counter === null) throw new Error('revocation counter upsert returned no document')
        const first = counter.seq - entries.length + 1
        await this.hooks.revocationNumbered?.(first)
        // Stamped once the numbers are out, never before: every lower number was
        // handed out before this instant, which the feed's hole grace and the
        // sweep's settle rule both rely on.
        const createdAt = new Date()
        const docs: RevocationDoc[] = entries.map((entry, i) => ({
          seq: first + i,
          kind: entry.kind,
          value: entry.value,
          expiresAt: date(entry.expiresAt),
          createdAt,
          issuedBefore: entry.issuedBefore ?? null,
          exceptSid: entry.exceptSid ?? null
        }))
        // insertMany would add an ObjectId `_id` to the objects it is given; keep ours clean.
        await this.revocations.insertMany(docs.map((d) => ({ ...d })), { ordered: true, writeConcern: this.wc })
        // Stored late: a reader may already have passed these numbers as a hole
        // (a later entry was visible first). Store the entries again under new
        // numbers, above every cursor that passed them; applying an entry twice
        // is harmless.
        if (performance.now() - started <= REVOCATION_LATE_MS || attempt >= LATE_RETRIES) return docs.map(toRevocation)
      }
    })
  }

  async since (afterSeq: number, now: Date, limit: number): Promise<RevocationRecord[]> {
    // MongoDB reads limit 0 as "no limit" and a negative one as a single batch.
    if (!(limit >= 1)) return []
    return guard(async () => {
      const docs = await this.revocations
        .find({ seq: { $gt: afterSeq }, expiresAt: { $gt: now } })
        .sort({ seq: 1 })
        .limit(Math.floor(limit))
        .toArray()
      return docs.map(toRevocation)
    })
  }

  /**
   * The counter and the watermark are fields of one document, read in one
   * atomic read: the watermark is only ever raised to the seq of an entry that
   * was stored, hence handed out, so it never exceeds the counter.
   */
  async bounds (): Promise<RevocationBounds> {
    return guard(async () => {
      const counter = await this.counters.findOne({ _id: REVOCATION_COUNTER })
      const lastSeq = counter?.seq ?? 0
      return { prunedThrough: Math.min(counter?.prunedThrough ?? 0, lastSeq), lastSeq }
    })
  }

  /**
   * Deletes expired entries, the only way entries leave the log (no TTL index:
   * it would delete them without a mark). The watermark first rises with $max
   * (so it never moves back) to M, the highest expired entry stored at least
   * REVOCATION_SETTLE_MS ago, then expired entries up to M are deleted: nothing
   * above the watermark is ever deleted, and since every seq below M was handed
   * out before M was stored, none of them is still on its way in (a late one is
   * stored again above, see add()). Several instances may sweep at once: each
   * step is idempotent.
   */
  async sweep (now: Date): Promise<number> {
    return guard(async () => {
      const settled = new Date(now.getTime() - REVOCATION_SETTLE_MS)
      const newest = await this.revocations
        .find({ expiresAt: { $lte: now }, createdAt: { $lte: settled } }, { projection: { seq: 1 } })
        .sort({ seq: -1 })
        .limit(1)
        .next()
      if (newest === null) return 0
      const raised = await this.counters.updateOne(
        { _id: REVOCATION_COUNTER },
        { $max: { prunedThrough: newest.seq } },
        { writeConcern: this.wc }
      )
      // No counter, no watermark: then nothing may go.
      if (raised.matchedCount !== 1) return 0
      const deleted = await this.revocations.deleteMany(
        { seq: { $lte: newest.seq }, expiresAt: { $lte: now } },
        { writeConcern: this.wc }
      )
      return deleted.deletedCount
    })
  }

  /** Indexes, the counter, and the watermark of a database an earlier version kept differently. */
  async init (): Promise<void> {
    await this.revocations.createIndex({ seq: 1 }, { name: 'seq_unique', unique: true })
    // Earlier versions let a TTL index delete entries; the sweep does it now.
    await dropIndexIfPresent(this.revocations, 'expiresAt_ttl')
    // A key other than { expiresAt: 1 }: an older instance re-creating its TTL
    // index on that key must not collide with this one.
    await this.revocations.createIndex({ expiresAt: 1, seq: 1 }, { name: 'expiresAt_seq' })
    // Created up front so concurrent first add()s do not race on the upsert.
    await this.counters.updateOne(
      { _id: REVOCATION_COUNTER },
      { $setOnInsert: { seq: 0, prunedThrough: 0 } },
      { upsert: true, writeConcern: this.wc }
    )
    // Readers may have been resynchronised against a watermark kept apart: it must not move back.
    const legacy = await this.counters.findOne({ _id: LEGACY_WATERMARK })
    if (legacy !== null && legacy.seq > 0) {
      await this.counters.updateOne({ _id: REVOCATION_COUNTER }, { $max: { prunedThrough: legacy.seq } }, { writeConcern: this.wc })
    }
  }
}

/** dropIndex, where a missing index (27) or collection (26) is already the goal. */
async function dropIndexIfPresent (collection: Collection<RevocationDoc>, name: string): Promise<void> {
  try {
    await collection.dropIndex(name)
  } catch (err) {
    if (err instanceof MongoServerError && (err.code === 27 || err.code === 26)) return
    throw err
  }
}

// ---------------------------------------------------------------------------
// Clients

class MongoClients implements ClientStore {
  constructor (private readonly clients: Collection<ClientDoc>, private readonly wc: WriteConcernSettings) {}

  async create (client: NewClient): Promise<ClientRecord> {
    const doc: ClientDoc = {
      _id: client.clientId,
      name: client.name,
      secretHash: client.secretHash,
      grants: [...client.grants],
      audiences: [...client.audiences],
      scopes: [...client.scopes],
      accessTokenTtl: client.accessTokenTtl,
      refreshTokenTtl: client.refreshTokenTtl,
      disabled: false,
      createdAt: new Date(),
      previousSecret: null,
      dpopBoundAccessTokens: client.dpopBoundAccessTokens === true
    }
    return guard(async () => {
      await insertUnique(this.clients, doc, () => new AppError('conflict', 'that client_id already exists'),
        { writeConcern: this.wc })
      return toClient(doc)
    })
  }

  async find (clientId: string): Promise<ClientRecord | null> {
    return guard(async () => {
      const doc = await this.clients.findOne({ _id: clientId })
      return doc === null ? null : toClient(doc)
    })
  }

  async list (): Promise<ClientRecord[]> {
    return guard(async () => {
      const docs = await this.clients.find({}).sort({ createdAt: 1, _id: 1 }).toArray()
      return docs.map(toClient)
    })
  }

  async setDisabled (clientId: string, disabled: boolean): Promise<ClientRecord | null> {
    return guard(async () => {
      // Majority: a disable must not be rolled back by a fail-over after its revocation was published.
      const doc = await this.clients.findOneAndUpdate(
        { _id: clientId },
        { $set: { disabled } },
        { returnDocument: 'after', writeConcern: this.wc }
      )
      return doc === null ? null : toClient(doc)
    })
  }

  async setSecret (clientId: string, secretHash: string, previous: { hash: string, expiresAt: Date } | null): Promise<ClientRecord | null> {
    const previousSecret = previous === null ? null : { hash: previous.hash, expiresAt: date(previous.expiresAt) }
    return guard(async () => {
      // Majority: a rotation the operator was told about must not be rolled back by a fail-over.
      const doc = await this.clients.findOneAndUpdate(
        { _id: clientId },
        { $set: { secretHash, previousSecret } },
        { returnDocument: 'after', writeConcern: this.wc }
      )
      return doc === null ? null : toClient(doc)
    })
  }

  async setDpopBound (clientId: string, bound: boolean): Promise<ClientRecord | null> {
    return guard(async () => {
      const doc = await this.clients.findOneAndUpdate(
        { _id: clientId },
        { $set: { dpopBoundAccessTokens: bound } },
        { returnDocument: 'after', writeConcern: this.wc }
      )
      return doc === null ? null : toClient(doc)
    })
  }
}

// ---------------------------------------------------------------------------
// DPoP proofs

interface DpopProofDoc {
  _id: string
  expiresAt: Date
}

class MongoDpopProofs implements DpopProofStore {
  constructor (private readonly proofs: Collection<DpopProofDoc>, private readonly wc: WriteConcernSettings) {}

  /**
   * insertOne on the key as `_id`: the unique index decides between concurrent
   * claims. A duplicate (11000) is a replay, unless the entry it met has
   * expired and the TTL monitor (which runs about once a minute) has not
   * deleted it yet: then one conditional update takes it over, and of
   * concurrent takers only one matches.
   */
  async claim (key: string, expiresAt: Date, now: Date): Promise<boolean> {
    return guard(async () => {
      try {
        await this.proofs.insertOne({ _id: key, expiresAt: date(expiresAt) }, { writeConcern: this.wc })
        return true
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
      }
      const taken = await this.proofs.updateOne(
        { _id: key, expiresAt: { $lte: date(now) } },
        { $set: { expiresAt: date(expiresAt) } },
        { writeConcern: this.wc }
      )
      return taken.modifiedCount === 1
    })
  }
}

// ---------------------------------------------------------------------------
// Signing keys

class MongoKeys implements KeyStore {
  constructor (
    private readonly keys: Collection<SigningKeyDoc>,
    private readonly wc: WriteConcernSettings,
    private readonly hooks: StoreHooks
  ) {}

  async add (key: Omit<SigningKeyRecord, 'createdAt' | 'expiresAt'>, retireExpiresAt: Date): Promise<SigningKeyRecord> {
    const doc: SigningKeyDoc = {
      _id: key.kid,
      alg: key.alg,
      publicKey: key.publicKey,
      privateKey: key.privateKey,
      createdAt: new Date(),
      activatesAt: date(key.activatesAt),
      expiresAt: null
    }
    const activatesAt = date(key.activatesAt)
    // Keys are ordered by (activatesAt, _id). The update filter is evaluated
    // per document, atomically with its update, so "older than this key" is
    // checked at the moment each key is retired: of two concurrent adds, the
    // older key's add can never match the newer key, whichever runs first.
    const older = { $or: [{ activatesAt: { $lt: activatesAt } }, { activatesAt, _id: { $lt: key.kid } }] }
    const newer = { $or: [{ activatesAt: { $gt: activatesAt } }, { activatesAt, _id: { $gt: key.kid } }] }
    return guard(async () => {
      // Insert first, then retire the older ones: if the second step fails, the
      // older keys merely stay published longer (until the next rotation retires
      // them); no key that signed a live token is ever dropped early.
      await insertUnique(this.keys, { ...doc }, () => new AppError('conflict', 'that kid already exists'),
        { writeConcern: this.wc })
      await this.hooks.keyInserted?.(key.kid)
      await this.keys.updateMany(
        { ...older, expiresAt: null },
        { $set: { expiresAt: date(retireExpiresAt) } },
        { writeConcern: this.wc }
      )
      // A newer key stored before this one was: its add has retired its older
      // keys already, or will once this key is visible to it. Retire this one
      // as that add would (its own retirement date, if later, wins either way).
      const newest = await this.keys.find(newer).sort({ activatesAt: -1, _id: -1 }).limit(1).next()
      if (newest === null) return toSigningKey(doc)
      const lifetime = retireExpiresAt.getTime() - activatesAt.getTime()
      const expiresAt = new Date(Math.max(retireExpiresAt.getTime(), newest.activatesAt.getTime() + lifetime))
      const retired = await this.keys.findOneAndUpdate(
        { _id: key.kid },
        [{ $set: { expiresAt: { $max: [{ $ifNull: ['$expiresAt', null] }, { $literal: expiresAt }] } } }],
        { returnDocument: 'after', writeConcern: this.wc }
      )
      return toSigningKey(retired ?? doc)
    })
  }

  async list (now: Date): Promise<SigningKeyRecord[]> {
    return guard(async () => {
      const docs = await this.keys
        .find({ $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] })
        .sort({ activatesAt: 1, _id: 1 })
        .toArray()
      return docs.map(toSigningKey)
    })
  }

  async remove (kid: string, now: Date): Promise<SigningKeyRecord | null> {
    return guard(async () => {
      const removed = await this.keys.findOneAndDelete({ _id: kid }, { writeConcern: this.wc })
      if (removed === null) return null
      // Two steps here: an add that lands in between may leave an older key
      // without expiry too; the next rotation's add retires it.
      const newest = await this.keys.find({ $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] })
        .sort({ activatesAt: -1, _id: -1 }).limit(1).next()
      if (newest !== null && newest.expiresAt !== null) {
        await this.keys.updateOne({ _id: newest._id }, { $set: { expiresAt: null } }, { writeConcern: this.wc })
      }
      return toSigningKey(removed)
    })
  }
}

// ---------------------------------------------------------------------------
// Access-token lifetimes

class MongoLifetimes implements AccessLifetimeStore {
  constructor (private readonly lifetimes: Collection<LifetimeDoc>, private readonly wc: WriteConcernSettings) {}

  async record (ttlSeconds: number, until: Date): Promise<void> {
    // $max on upsert: the later time wins, whichever instance writes last.
    await guard(() => this.lifetimes.updateOne(
      { _id: ttlSeconds },
      { $max: { issuedUntil: date(until), expiresAt: new Date(until.getTime() + ttlSeconds * 1000) } },
      { upsert: true, writeConcern: this.wc }
    ))
  }

  async longestLive (now: Date): Promise<number> {
    return guard(async () => {
      const doc = await this.lifetimes.find({ expiresAt: { $gt: now } }).sort({ _id: -1 }).limit(1).next()
      return doc?._id ?? 0
    })
  }
}

// ---------------------------------------------------------------------------
// Settings kept in the database

interface SettingsDoc {
  _id: string
  values: Record<string, string>
}

/**
 * The values kept under `id` in the `settings` collection, stored first as
 * `fresh` when there are none: every process on the database gets the same
 * ones, whichever starts first. The upsert's $setOnInsert writes only when no
 * document matched; two processes upserting at once may see a duplicate key
 * (11000) on _id, and the loser then reads the winner's document.
 */
export async function keptSettings (db: Db, id: string, fresh: Record<string, string>, writeConcern: WriteConcernSettings = MAJORITY): Promise<Record<string, string>> {
  const settings = db.collection<SettingsDoc>('settings')
  return guard(async () => {
    try {
      await settings.updateOne({ _id: id }, { $setOnInsert: { values: fresh } }, { upsert: true, writeConcern })
    } catch (err) {
      if (!isDuplicateKey(err)) throw err
    }
    // A plain read from the primary: it sees the document the upsert just wrote
    // or matched. A majority read could miss it when MONGODB_WRITE_CONCERN is a
    // number, and the start would fail.
    const doc = await settings.findOne({ _id: id })
    if (doc === null) throw new Error(`settings ${id} vanished after their upsert`)
    return { ...doc.values }
  })
}

// ---------------------------------------------------------------------------
// Shared Signals: streams and the outbox

type SsfStreamDoc = Omit<SsfStreamRecord, 'streamId'> & { _id: string }

type SsfEventDoc = SsfEventRecord

const SSF_EVENTS_COUNTER = 'ssf_events'

function toSsfStream (doc: SsfStreamDoc): SsfStreamRecord {
  return {
    streamId: doc._id,
    clientId: doc.clientId,
    audience: doc.audience,
    description: doc.description ?? null,
    eventsRequested: [...(doc.eventsRequested ?? [])],
    eventsDelivered: [...(doc.eventsDelivered ?? [])],
    method: doc.method,
    endpointUrl: doc.endpointUrl ?? null,
    authorizationHeader: doc.authorizationHeader ?? null,
    status: doc.status,
    statusReason: doc.statusReason ?? null,
    cursor: doc.cursor,
    acked: [...(doc.acked ?? [])],
    version: doc.version,
    leaseOwner: doc.leaseOwner ?? null,
    leaseUntil: dateOrNull(doc.leaseUntil),
    verificationRequestedAt: dateOrNull(doc.verificationRequestedAt),
    createdAt: date(doc.createdAt),
    updatedAt: date(doc.updatedAt)
  }
}

function toSsfEvent (doc: SsfEventDoc): SsfEventRecord {
  return {
    seq: doc.seq,
    id: doc.id,
    txn: doc.txn,
    type: doc.type,
    streamId: doc.streamId ?? null,
    // Documents nest; a structured copy keeps callers from aliasing what the driver returned.
    subject: structuredClone(doc.subject),
    payload: structuredClone(doc.payload),
    createdAt: date(doc.createdAt)
  }
}

async function lastSsfSeq (counters: Collection<CounterDoc>): Promise<number> {
  return (await counters.findOne({ _id: SSF_EVENTS_COUNTER }))?.seq ?? 0
}

class MongoSsfStreams implements SsfStreamStore {
  constructor (
    private readonly streams: Collection<SsfStreamDoc>,
    private readonly counters: Collection<CounterDoc>,
    private readonly wc: WriteConcernSettings
  ) {}

  async create (stream: NewSsfStream, maxPerClient: number, now: Date): Promise<SsfStreamRecord | null> {
    return guard(async () => {
      const doc: SsfStreamDoc = {
        _id: stream.streamId,
        clientId: stream.clientId,
        audience: stream.audience,
        description: stream.description,
        eventsRequested: [...stream.eventsRequested],
        eventsDelivered: [...stream.eventsDelivered],
        method: stream.method,
        endpointUrl: stream.endpointUrl,
        authorizationHeader: stream.authorizationHeader,
        status: 'enabled',
        statusReason: null,
        cursor: await lastSsfSeq(this.counters),
        acked: [],
        version: 1,
        leaseOwner: null,
        leaseUntil: null,
        verificationRequestedAt: null,
        createdAt: date(now),
        updatedAt: date(now)
      }
      // Insert, then count: of concurrent creates that pass the limit together,
      // each sees the others and takes its own insert back, so the limit is
      // never exceeded (at worst all of them are refused and may try again).
      await insertUnique(this.streams, { ...doc }, () => new AppError('conflict', 'that stream_id already exists'),
        { writeConcern: this.wc })
      const count = await this.streams.countDocuments({ clientId: stream.clientId })
      if (count > maxPerClient) {
        await this.streams.deleteOne({ _id: stream.streamId }, { writeConcern: this.wc })
        return null
      }
      return toSsfStream(doc)
    })
  }

  async find (streamId: string): Promise<SsfStreamRecord | null> {
    return guard(async () => {
      const doc = await this.streams.findOne({ _id: streamId })
      return doc === null ? null : toSsfStream(doc)
    })
  }

  async listForClient (clientId: string): Promise<SsfStreamRecord[]> {
    return guard(async () => (await this.streams.find({ clientId }).sort({ createdAt: 1, _id: 1 }).toArray()).map(toSsfStream))
  }

  async listActive (): Promise<SsfStreamRecord[]> {
    return guard(async () =>
      (await this.streams.find({ status: { $ne: 'disabled' } }).sort({ createdAt: 1, _id: 1 }).toArray()).map(toSsfStream))
  }

  async update (streamId: string, expectedVersion: number, changes: SsfStreamChanges, now: Date): Promise<SsfStreamRecord | null> {
    const set: Record<string, unknown> = { updatedAt: date(now) }
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) continue
      set[key] = value instanceof Date ? date(value) : Array.isArray(value) ? [...(value as unknown[])] : value
    }
    return guard(async () => {
      // The version in the filter is the compare: of concurrent updates from one version, one matches.
      const doc = await this.streams.findOneAndUpdate(
        { _id: streamId, version: expectedVersion },
        { $set: set, $inc: { version: 1 } },
        { returnDocument: 'after', writeConcern: this.wc }
      )
      return doc === null ? null : toSsfStream(doc)
    })
  }

  async delete (streamId: string): Promise<boolean> {
    return guard(async () => (await this.streams.deleteOne({ _id: streamId }, { writeConcern: this.wc })).deletedCount > 0)
  }

  async takeLease (streamId: string, owner: string, now: Date, until: Date): Promise<SsfStreamRecord | null> {
    return guard(async () => {
      const doc = await this.streams.findOneAndUpdate(
        { _id: streamId, $or: [{ leaseOwner: null }, { leaseOwner: owner }, { leaseUntil: { $lte: now } }] },
        { $set: { leaseOwner: owner, leaseUntil: date(until) } },
        { returnDocument: 'after', writeConcern: this.wc }
      )
      return doc === null ? null : toSsfStream(doc)
    })
  }

  async releaseLease (streamId: string, owner: string): Promise<void> {
    await guard(() => this.streams.updateOne({ _id: streamId, leaseOwner: owner }, { $set: { leaseOwner: null, leaseUntil: null } }))
  }

  async advance (streamId: string, owner: string, from: number, to: number, now: Date): Promise<boolean> {
    return guard(async () => {
      const result = await this.streams.updateOne(
        { _id: streamId, leaseOwner: owner, cursor: from },
        { $set: { cursor: to, updatedAt: date(now) }, $inc: { version: 1 } },
        { writeConcern: this.wc }
      )
      return result.modifiedCount > 0
    })
  }
}

class MongoSsfEvents implements SsfEventStore {
  constructor (
    private readonly events: Collection<SsfEventDoc>,
    private readonly streams: Collection<SsfStreamDoc>,
    private readonly counters: Collection<CounterDoc>,
    private readonly wc: WriteConcernSettings,
    private readonly hooks: StoreHooks
  ) {}

  async append (events: NewSsfEvent[], now: Date): Promise<SsfEventRecord[]> {
    if (events.length === 0) return []
    return guard(async () => {
      for (let attempt = 0; ; attempt++) {
        const started = performance.now()
        // One atomic update numbers the whole batch: seqs last - n + 1 .. last.
        const counter = await this.counters.findOneAndUpdate(
          { _id: SSF_EVENTS_COUNTER },
          { $inc: { seq: events.length } },
          { upsert: true, returnDocument: 'after', writeConcern: this.wc }
        )
        if (counter === null) throw new Error('outbox counter upsert returned no document')
        const first = counter.seq - events.length + 1
        await this.hooks.ssfEventsNumbered?.(first)
        const docs: SsfEventDoc[] = events.map((event, i) => ({
          seq: first + i,
          id: event.id,
          txn: event.txn,
          type: event.type,
          streamId: event.streamId,
          subject: structuredClone(event.subject),
          payload: structuredClone(event.payload),
          createdAt: date(now)
        }))
        await this.events.insertMany(docs.map((d) => ({ ...d })), { ordered: true, writeConcern: this.wc })
        // Stored late: a reader may have passed these numbers as a hole. Store the
        // batch again above every cursor (same ids, so the same jtis: receivers
        // that saw the first copy recognise the second).
        if (performance.now() - started <= REVOCATION_LATE_MS || attempt >= LATE_RETRIES) return docs.map(toSsfEvent)
      }
    })
  }

  async since (afterSeq: number, limit: number): Promise<SsfEventRecord[]> {
    if (!(limit >= 1)) return []
    return guard(async () =>
      (await this.events.find({ seq: { $gt: afterSeq } }).sort({ seq: 1 }).limit(Math.floor(limit)).toArray()).map(toSsfEvent))
  }

  async lastSeq (): Promise<number> {
    return guard(async () => lastSsfSeq(this.counters))
  }

  async prune (before: Date): Promise<number> {
    return guard(async () => {
      // The counter first: a stream created after this read starts at or above it.
      const last = await lastSsfSeq(this.counters)
      const lowest = await this.streams.find({ status: { $ne: 'disabled' } }, { projection: { cursor: 1 } })
        .sort({ cursor: 1 }).limit(1).next()
      const through = Math.min(last, lowest?.cursor ?? last)
      const result = await this.events.deleteMany({ $or: [{ createdAt: { $lt: before } }, { seq: { $lte: through } }] })
      return result.deletedCount
    })
  }
}

// ---------------------------------------------------------------------------
// Store

export class MongoStore implements Store {
  readonly kind = 'mongodb' as const
  readonly users: UserStore
  readonly sessions: SessionStore
  readonly revocations: RevocationStore
  readonly clients: ClientStore
  readonly keys: KeyStore
  readonly lifetimes: AccessLifetimeStore
  readonly ssfStreams: SsfStreamStore
  readonly ssfEvents: SsfEventStore
  readonly dpopProofs: DpopProofStore

  private readonly usersCol: Collection<UserDoc>
  private readonly sessionsCol: Collection<SessionDoc>
  private readonly clientsCol: Collection<ClientDoc>
  private readonly keysCol: Collection<SigningKeyDoc>
  private readonly log: MongoRevocations
  private readonly sweepIntervalMs: number
  private sweeper: NodeJS.Timeout | undefined
  private readonly ssfStreamsCol: Collection<SsfStreamDoc>
  private readonly ssfEventsCol: Collection<SsfEventDoc>
  /** The Db belongs to whoever connected it (@fastify/mongodb); close() leaves it open. */
  /** Collections whose documents carry an expiresAt for a TTL index and nothing else to index. */
  private readonly extraTtlIndexes: Array<Collection<LoginFailureDoc> | Collection<LifetimeDoc> | Collection<DpopProofDoc>>

  /** The write concern of the store's own setup writes (the counters it creates). */
  private readonly wc: WriteConcernSettings

  constructor (private readonly db: Db, options: MongoStoreOptions = {}) {
    const wc = options.writeConcern ?? MAJORITY
    const hooks = options.hooks ?? {}
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000
    this.usersCol = db.collection<UserDoc>('users')
    this.sessionsCol = db.collection<SessionDoc>('sessions')
    this.clientsCol = db.collection<ClientDoc>('clients')
    this.keysCol = db.collection<SigningKeyDoc>('signing_keys')
    const failures = db.collection<LoginFailureDoc>('login_failures')
    const lifetimes = db.collection<LifetimeDoc>('access_lifetimes')
    this.extraTtlIndexes = [failures, lifetimes]
    this.users = new MongoUsers(this.usersCol, failures, wc)
    this.sessions = new MongoSessions(this.sessionsCol, this.usersCol, wc)
    this.lifetimes = new MongoLifetimes(lifetimes, wc)
    this.log = new MongoRevocations(db.collection<RevocationDoc>('revocations'), db.collection<CounterDoc>('counters'), wc, hooks)
    this.revocations = this.log
    this.clients = new MongoClients(this.clientsCol, wc)
    this.keys = new MongoKeys(this.keysCol, wc, hooks)
    this.ssfStreamsCol = db.collection<SsfStreamDoc>('ssf_streams')
    this.ssfEventsCol = db.collection<SsfEventDoc>('ssf_events')
    const counters = db.collection<CounterDoc>('counters')
    this.ssfStreams = new MongoSsfStreams(this.ssfStreamsCol, counters, wc)
    this.ssfEvents = new MongoSsfEvents(this.ssfEventsCol, this.ssfStreamsCol, counters, wc, hooks)
    this.wc = wc
    const dpopProofs = db.collection<DpopProofDoc>('dpop_proofs')
    this.extraTtlIndexes.push(dpopProofs)
    this.dpopProofs = new MongoDpopProofs(dpopProofs, wc)
  }

  /** Indexes and the revocation counter, then the periodic sweep of the revocation log; idempotent. */
  async init (): Promise<void> {
    // createIndex is a no-op when an identical index (same name, keys, options)
    // already exists, so init() can run on every start-up.
    await guard(async () => {
      await this.usersCol.createIndex({ username: 1 }, { name: 'username_unique', unique: true })
      await this.sessionsCol.createIndex({ userId: 1 }, { name: 'userId' })
      await this.sessionsCol.createIndex({ clientId: 1 }, { name: 'clientId' })
      await this.sessionsCol.createIndex({ expiresAt: 1 }, { name: 'expiresAt_ttl', expireAfterSeconds: 0 })
      await this.clientsCol.createIndex({ createdAt: 1 }, { name: 'createdAt' })
      await this.keysCol.createIndex({ activatesAt: 1 }, { name: 'activatesAt' })
      await this.keysCol.createIndex({ expiresAt: 1 }, { name: 'expiresAt_ttl', expireAfterSeconds: 0 })
      for (const collection of this.extraTtlIndexes) {
        await collection.createIndex({ expiresAt: 1 }, { name: 'expiresAt_ttl', expireAfterSeconds: 0 })
      }
      await this.db.collection('login_failures').createIndex({ userId: 1 }, { name: 'userId' })
      await this.log.init()
      await this.ssfStreamsCol.createIndex({ clientId: 1, createdAt: 1 }, { name: 'clientId_createdAt' })
      await this.ssfEventsCol.createIndex({ seq: 1 }, { name: 'seq_unique', unique: true })
      await this.ssfEventsCol.createIndex({ createdAt: 1 }, { name: 'createdAt' })
      // Created up front so concurrent first appends do not race on the upsert.
      await this.db.collection<CounterDoc>('counters').updateOne(
        { _id: SSF_EVENTS_COUNTER },
        { $setOnInsert: { seq: 0 } },
        { upsert: true, writeConcern: this.wc }
      )
    })
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(() => {
        // A sweep that fails (store down) simply runs again next time.
        this.sweep(new Date()).catch(() => {})
      }, this.sweepIntervalMs)
      this.sweeper.unref()
    }
  }

  async sweep (now: Date): Promise<number> {
    return this.log.sweep(now)
  }

  async ping (): Promise<void> {
    await guard(() => this.db.command({ ping: 1 }))
  }

  async close (): Promise<void> {
    // The MongoClient is owned (and closed) by @fastify/mongodb; only the sweep stops here.
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    this.sweeper = undefined
  }
}
