// MongoDB store: the shared, durable implementation used when MONGODB_URL is set.
//
// Collections (all string `_id`s except revocations):
//   users        _id = random UUID; username stored lower-cased, unique index.
//   sessions     _id = sid; index on userId; TTL index on expiresAt (idle expiry).
//                The service caps expiresAt at absoluteExpiresAt, so one TTL index
//                on expiresAt also bounds the absolute lifetime.
//   revocations  unique index on seq; TTL index on expiresAt.
//   counters     { _id: 'revocations', seq } hands out revocation sequence numbers.
//   clients      _id = client_id; index on createdAt (listing order).
//   signing_keys _id = kid; index on activatesAt; TTL index on expiresAt (retired
//                keys are forgotten once every token they signed has expired;
//                the newest key has expiresAt null, which a TTL index never deletes).
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
  ClientRecord, ClientStore, DpopProofStore, KeyStore, LockoutPolicy, NewClient, NewSession, NewUser, RevocationKind,
  RevocationBounds, RevocationRecord, RevocationStore, RotatedFrom, Rotation, SessionRecord, SessionStore,
  SigningKeyRecord, Store, StoreHooks, UserRecord, UserStore
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
  hooks?: StoreHooks
}

/** MONGODB_WRITE_CONCERN ('majority' or a number of members) as driver settings. */
export function writeConcernFor (setting: string): WriteConcernSettings {
  return setting === 'majority' ? MAJORITY : { w: Number(setting), wtimeoutMS: MAJORITY.wtimeoutMS }
}

// ---------------------------------------------------------------------------
// Documents

type UserDoc = Omit<UserRecord, 'id'> & { _id: string }

type RotatedFromDoc = RotatedFrom

type SessionDoc = Omit<SessionRecord, 'sid'> & {
  _id: string
  /** Internal: marks the sessions one revokeAllForUser call revoked. Never mapped out. */
  revokeOp?: string
}

type RevocationDoc = RevocationRecord

type ClientDoc = Omit<ClientRecord, 'clientId'> & { _id: string }

type SigningKeyDoc = Omit<SigningKeyRecord, 'kid'> & { _id: string }

interface CounterDoc {
  _id: string
  seq: number
  /** The revocation counter: when its latest number was handed out. */
  at?: Date | null
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
    lockedUntil: dateOrNull(doc.lockedUntil)
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
    createdAt: date(doc.createdAt)
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

class MongoUsers implements UserStore {
  constructor (private readonly users: Collection<UserDoc>, private readonly wc: WriteConcernSettings) {}

  async create (user: NewUser): Promise<UserRecord> {
    const doc: UserDoc = {
      _id: randomUUID(),
      username: user.username.toLowerCase(),
      passwordHash: user.passwordHash,
      roles: [...(user.roles ?? [])],
      disabled: false,
      createdAt: new Date(),
      failedLogins: 0,
      lockedUntil: null
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

  async setPasswordHash (id: string, passwordHash: string): Promise<void> {
    await guard(() => this.users.updateOne({ _id: id }, { $set: { passwordHash } }, { writeConcern: this.wc }))
  }

  async setDisabled (id: string, disabled: boolean): Promise<void> {
    await guard(() => this.users.updateOne({ _id: id }, { $set: { disabled } }, { writeConcern: this.wc }))
  }

  async setRoles (id: string, roles: string[]): Promise<UserRecord | null> {
    return guard(async () => {
      const doc = await this.users.findOneAndUpdate({ _id: id }, { $set: { roles: [...roles] } }, { returnDocument: 'after', writeConcern: this.wc })
      return doc === null ? null : toUser(doc)
    })
  }

  async beginLoginAttempt (id: string, policy: LockoutPolicy): Promise<Date | null> {
    const now = policy.now
    const lockedUntil = new Date(now.getTime() + policy.lockSeconds * 1000)
    // One atomic update, applied only when the account is not locked (the
    // filter). Stage 1 counts the attempt; in stage 2 every expression reads the
    // document as stage 1 left it, so both $conds see the new count.
    const pipeline = [
      { $set: { failedLogins: { $add: [{ $ifNull: ['$failedLogins', 0] }, 1] } } },
      {
        $set: {
          lockedUntil: {
            $cond: [{ $gte: ['$failedLogins', policy.threshold] }, { $literal: lockedUntil }, { $ifNull: ['$lockedUntil', null] }]
          },
          failedLogins: {
            $cond: [{ $gte: ['$failedLogins', policy.threshold] }, 0, '$failedLogins']
          }
        }
      }
    ]
    const unlocked = { _id: id, $or: [{ lockedUntil: null }, { lockedUntil: { $lte: now } }] }
    return guard(async () => {
      // A refused update is a lock, or an unknown id, or a lock cleared between
      // the update and the read (a successful login): then try again. Bounded: a
      // lock that keeps coming and going under a burst of logins is answered as
      // locked for a second, never with a lock end the store does not hold.
      for (let tries = 0; tries < 3; tries++) {
        const before = await this.users.findOneAndUpdate(unlocked, pipeline, { returnDocument: 'before', writeConcern: this.wc })
        if (before !== null) return null
        const doc = await this.users.findOne({ _id: id }, { projection: { lockedUntil: 1 } })
        if (doc === null) return null
        const until = dateOrNull(doc.lockedUntil)
        if (until !== null && until > now) return until
      }
      return new Date(now.getTime() + 1000)
    })
  }

  async clearLoginFailures (id: string): Promise<void> {
    await guard(() => this.users.updateOne({ _id: id }, { $set: { failedLogins: 0, lockedUntil: null } }, { writeConcern: this.wc }))
  }
}

// ---------------------------------------------------------------------------
// Sessions

class MongoSessions implements SessionStore {
  constructor (private readonly sessions: Collection<SessionDoc>, private readonly wc: WriteConcernSettings) {}

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

  async revokeAllForClient (clientId: string, reason: string, now: Date): Promise<number> {
    return guard(async () => {
      const result = await this.sessions.updateMany(
        { clientId, revokedAt: null },
        { $set: { revokedAt: date(now), revokedReason: reason } },
        { writeConcern: this.wc }
      )
      return result.modifiedCount
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
/** counters document holding the revocation log's watermark (bounds().prunedThrough), raised with $max only. */
const REVOCATION_WATERMARK = 'revocations_pruned'
/** How many times a late revocation is stored again before add() gives up. */
const LATE_RETRIES = 3

class MongoRevocations implements RevocationStore {
  constructor (
    private readonly revocations: Collection<RevocationDoc>,
    private readonly counters: Collection<CounterDoc>,
    private readonly wc: WriteConcernSettings,
    private readonly hooks: StoreHooks
  ) {}

  async add (entry: { kind: RevocationKind, value: string, expiresAt: Date }): Promise<RevocationRecord> {
    return guard(async () => {
      for (let attempt = 0; ; attempt++) {
        const started = performance.now()
        const numberedAt = new Date()
        // One atomic update of one document hands out the number and records
        // when the latest number went out ($max: a slower writer's older clock
        // never moves it back), which bounds() reads to know when every number
        // up to `seq` is settled. Upsert with returnDocument 'after' always
        // returns the document.
        const counter = await this.counters.findOneAndUpdate(
          { _id: REVOCATION_COUNTER },
          [{ $set: { seq: { $add: [{ $ifNull: ['$seq', 0] }, 1] }, at: { $max: [{ $ifNull: ['$at', null] }, { $literal: numberedAt }] } } }],
          { upsert: true, returnDocument: 'after', writeConcern: this.wc }
        )
        if (counter === null) throw new Error('revocation counter upsert returned no document')
        await this.hooks.revocationNumbered?.(counter.seq)
        const doc: RevocationDoc = {
          seq: counter.seq,
          kind: entry.kind,
          value: entry.value,
          expiresAt: date(entry.expiresAt),
          createdAt: numberedAt
        }
        // insertOne would add an ObjectId `_id` to the object it is given; keep ours clean.
        await this.revocations.insertOne({ ...doc }, { writeConcern: this.wc })
        // Stored late: a reader may already have passed this number as a hole
        // (entry N+1 was visible first). Store the entry again under a new number,
        // above every cursor that passed it; applying an entry twice is harmless.
        if (performance.now() - started <= REVOCATION_LATE_MS || attempt >= LATE_RETRIES) return toRevocation(doc)
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
   * The TTL index deletes expired entries and leaves no mark, so the watermark
   * is derived from what is left: every seq below the lowest entry still held
   * is deleted (expired) or lost, unless it is still on its way in. A seq is
   * settled once it was handed out REVOCATION_SETTLE_MS ago: the lowest entry
   * moves the watermark only when it is that old (every lower seq went out
   * before it), and an empty log only when the counter's last number is. The
   * watermark is kept in `counters` and raised with $max, so it never moves
   * back. The lowest entry is read before the counter, so lastSeq is at least
   * every seq that read saw and prunedThrough never exceeds lastSeq.
   */
  async bounds (): Promise<RevocationBounds> {
    return guard(async () => {
      const lowest = await this.revocations.find({}, { projection: { seq: 1, createdAt: 1 } }).sort({ seq: 1 }).limit(1).next()
      const docs = await this.counters.find({ _id: { $in: [REVOCATION_COUNTER, REVOCATION_WATERMARK] } }).toArray()
      const counter = docs.find((d) => d._id === REVOCATION_COUNTER)
      const stored = docs.find((d) => d._id === REVOCATION_WATERMARK)?.seq ?? 0
      const lastSeq = counter?.seq ?? 0
      const settledBefore = Date.now() - REVOCATION_SETTLE_MS
      let candidate = stored
      if (lowest !== null) {
        if (lowest.createdAt.getTime() <= settledBefore) candidate = lowest.seq - 1
      } else if (counter?.at != null && counter.at.getTime() <= settledBefore) {
        candidate = lastSeq
      }
      const prunedThrough = Math.min(Math.max(stored, candidate), lastSeq)
      if (prunedThrough > stored) {
        await this.counters.updateOne(
          { _id: REVOCATION_WATERMARK },
          { $max: { seq: prunedThrough } },
          { upsert: true, writeConcern: this.wc }
        )
      }
      return { prunedThrough, lastSeq }
    })
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
    const doc = await settings.findOne({ _id: id }, { readConcern: { level: 'majority' } })
    if (doc === null) throw new Error(`settings ${id} vanished after their upsert`)
    return { ...doc.values }
  })
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
  readonly dpopProofs: DpopProofStore

  private readonly usersCol: Collection<UserDoc>
  private readonly sessionsCol: Collection<SessionDoc>
  private readonly revocationsCol: Collection<RevocationDoc>
  private readonly countersCol: Collection<CounterDoc>
  private readonly clientsCol: Collection<ClientDoc>
  private readonly keysCol: Collection<SigningKeyDoc>
  private readonly dpopProofsCol: Collection<DpopProofDoc>

  /** The Db belongs to whoever connected it (@fastify/mongodb); close() leaves it open. */
  private readonly wc: WriteConcernSettings

  constructor (private readonly db: Db, options: MongoStoreOptions = {}) {
    const wc = options.writeConcern ?? MAJORITY
    const hooks = options.hooks ?? {}
    this.wc = wc
    this.usersCol = db.collection<UserDoc>('users')
    this.sessionsCol = db.collection<SessionDoc>('sessions')
    this.revocationsCol = db.collection<RevocationDoc>('revocations')
    this.countersCol = db.collection<CounterDoc>('counters')
    this.clientsCol = db.collection<ClientDoc>('clients')
    this.keysCol = db.collection<SigningKeyDoc>('signing_keys')
    this.users = new MongoUsers(this.usersCol, wc)
    this.sessions = new MongoSessions(this.sessionsCol, wc)
    this.revocations = new MongoRevocations(this.revocationsCol, this.countersCol, wc, hooks)
    this.clients = new MongoClients(this.clientsCol, wc)
    this.keys = new MongoKeys(this.keysCol, wc, hooks)
    this.dpopProofsCol = db.collection<DpopProofDoc>('dpop_proofs')
    this.dpopProofs = new MongoDpopProofs(this.dpopProofsCol, wc)
  }

  async init (): Promise<void> {
    // createIndex is a no-op when an identical index (same name, keys, options)
    // already exists, so init() can run on every start-up.
    await guard(async () => {
      await this.usersCol.createIndex({ username: 1 }, { name: 'username_unique', unique: true })
      await this.sessionsCol.createIndex({ userId: 1 }, { name: 'userId' })
      await this.sessionsCol.createIndex({ clientId: 1 }, { name: 'clientId' })
      await this.sessionsCol.createIndex({ expiresAt: 1 }, { name: 'expiresAt_ttl', expireAfterSeconds: 0 })
      await this.revocationsCol.createIndex({ seq: 1 }, { name: 'seq_unique', unique: true })
      await this.revocationsCol.createIndex({ expiresAt: 1 }, { name: 'expiresAt_ttl', expireAfterSeconds: 0 })
      await this.clientsCol.createIndex({ createdAt: 1 }, { name: 'createdAt' })
      await this.keysCol.createIndex({ activatesAt: 1 }, { name: 'activatesAt' })
      await this.keysCol.createIndex({ expiresAt: 1 }, { name: 'expiresAt_ttl', expireAfterSeconds: 0 })
      await this.dpopProofsCol.createIndex({ expiresAt: 1 }, { name: 'expiresAt_ttl', expireAfterSeconds: 0 })
      // Create the counter up front so concurrent first add()s do not race on the upsert.
      await this.countersCol.updateOne(
        { _id: REVOCATION_COUNTER },
        { $setOnInsert: { seq: 0 } },
        { upsert: true, writeConcern: this.wc }
      )
    })
  }

  async ping (): Promise<void> {
    await guard(() => this.db.command({ ping: 1 }))
  }

  async close (): Promise<void> {
    // Nothing to release: the MongoClient is owned (and closed) by @fastify/mongodb.
  }
}
