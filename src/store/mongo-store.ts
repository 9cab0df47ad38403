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
  ClientRecord, ClientStore, KeyStore, LockoutPolicy, NewClient, NewUser, RevocationKind,
  RevocationBounds, RevocationRecord, RevocationStore, RotatedFrom, Rotation, SessionRecord, SessionStore,
  SigningKeyRecord, Store, UserRecord, UserStore
} from './types.js'

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

// Revocations must survive a primary fail-over. The timeout keeps add() from
// hanging forever when a majority is not reachable; the error it raises (code
// 64) is reported as StoreUnavailableError.
const MAJORITY: WriteConcernSettings = { w: 'majority', wtimeoutMS: 10_000 }

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
    previous: toRotatedFrom(doc.previous)
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
      : { hash: doc.previousSecret.hash, expiresAt: date(doc.previousSecret.expiresAt) }
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
  constructor (private readonly users: Collection<UserDoc>) {}

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
      await insertUnique(this.users, doc, () => new AppError('username_taken', 'that username is already taken'))
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
    await guard(() => this.users.updateOne({ _id: id }, { $set: { passwordHash } }))
  }

  async setDisabled (id: string, disabled: boolean): Promise<void> {
    await guard(() => this.users.updateOne({ _id: id }, { $set: { disabled } }))
  }

  async setRoles (id: string, roles: string[]): Promise<UserRecord | null> {
    return guard(async () => {
      const doc = await this.users.findOneAndUpdate({ _id: id }, { $set: { roles: [...roles] } }, { returnDocument: 'after' })
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
      // the update and the read: then try again (bounded; a lock that keeps
      // coming and going under a burst of logins is answered as locked).
      for (let tries = 0; tries < 3; tries++) {
        const before = await this.users.findOneAndUpdate(unlocked, pipeline, { returnDocument: 'before' })
        if (before !== null) return null
        const doc = await this.users.findOne({ _id: id }, { projection: { lockedUntil: 1 } })
        if (doc === null) return null
        const until = dateOrNull(doc.lockedUntil)
        if (until !== null && until > now) return until
      }
      return lockedUntil
    })
  }

  async clearLoginFailures (id: string): Promise<void> {
    await guard(() => this.users.updateOne({ _id: id }, { $set: { failedLogins: 0, lockedUntil: null } }))
  }
}

// ---------------------------------------------------------------------------
// Sessions

class MongoSessions implements SessionStore {
  constructor (private readonly sessions: Collection<SessionDoc>) {}

  async create (session: Omit<SessionRecord, 'revokedAt' | 'revokedReason' | 'previous'>): Promise<SessionRecord> {
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
      previous: null
    }
    return guard(async () => {
      await this.sessions.insertOne(doc)
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
        { returnDocument: 'after', writeConcern: MAJORITY }
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
      const before = await this.sessions.findOneAndUpdate({ _id: sid }, pipeline, { returnDocument: 'before', writeConcern: MAJORITY })
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
        { writeConcern: MAJORITY }
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
        { writeConcern: MAJORITY }
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

class MongoRevocations implements RevocationStore {
  constructor (
    private readonly revocations: Collection<RevocationDoc>,
    private readonly counters: Collection<CounterDoc>
  ) {}

  async add (entry: { kind: RevocationKind, value: string, expiresAt: Date }): Promise<RevocationRecord> {
    return guard(async () => {
      const counter = await this.counters.findOneAndUpdate(
        { _id: REVOCATION_COUNTER },
        { $inc: { seq: 1 } },
        { upsert: true, returnDocument: 'after', writeConcern: MAJORITY }
      )
      // With upsert and returnDocument 'after' the driver always returns a document.
      if (counter === null) throw new Error('revocation counter upsert returned no document')
      const doc: RevocationDoc = {
        seq: counter.seq,
        kind: entry.kind,
        value: entry.value,
        expiresAt: date(entry.expiresAt),
        createdAt: new Date()
      }
      // insertOne would add an ObjectId `_id` to the object it is given; keep ours clean.
      await this.revocations.insertOne({ ...doc }, { writeConcern: MAJORITY })
      return toRevocation(doc)
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

  async bounds (): Promise<RevocationBounds> {
    return guard(async () => {
      const counter = await this.counters.findOne({ _id: REVOCATION_COUNTER })
      const lastSeq = counter?.seq ?? 0
      // The TTL index deletes expired entries in any order and leaves no mark, so the
      // lowest entry still held is the watermark: entries above it that the TTL monitor
      // deleted had expired, and cover only tokens that fail their exp check anyway.
      const lowest = await this.revocations.find({}, { projection: { seq: 1 } }).sort({ seq: 1 }).limit(1).next()
      return { prunedThrough: lowest === null ? lastSeq : lowest.seq - 1, lastSeq }
    })
  }
}

// ---------------------------------------------------------------------------
// Clients

class MongoClients implements ClientStore {
  constructor (private readonly clients: Collection<ClientDoc>) {}

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
      previousSecret: null
    }
    return guard(async () => {
      await insertUnique(this.clients, doc, () => new AppError('conflict', 'that client_id already exists'),
        { writeConcern: MAJORITY })
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
        { returnDocument: 'after', writeConcern: MAJORITY }
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
        { returnDocument: 'after', writeConcern: MAJORITY }
      )
      return doc === null ? null : toClient(doc)
    })
  }
}

// ---------------------------------------------------------------------------
// Signing keys

class MongoKeys implements KeyStore {
  constructor (private readonly keys: Collection<SigningKeyDoc>) {}

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
    return guard(async () => {
      // Insert first, then retire the others: if the second step fails, the older
      // keys merely stay published longer (until the next rotation retires them);
      // no key that signed a live token is ever dropped early.
      await insertUnique(this.keys, { ...doc }, () => new AppError('conflict', 'that kid already exists'),
        { writeConcern: MAJORITY })
      await this.keys.updateMany(
        { _id: { $ne: key.kid }, expiresAt: null },
        { $set: { expiresAt: date(retireExpiresAt) } },
        { writeConcern: MAJORITY }
      )
      return toSigningKey(doc)
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
// Store

export class MongoStore implements Store {
  readonly kind = 'mongodb' as const
  readonly users: UserStore
  readonly sessions: SessionStore
  readonly revocations: RevocationStore
  readonly clients: ClientStore
  readonly keys: KeyStore

  private readonly usersCol: Collection<UserDoc>
  private readonly sessionsCol: Collection<SessionDoc>
  private readonly revocationsCol: Collection<RevocationDoc>
  private readonly countersCol: Collection<CounterDoc>
  private readonly clientsCol: Collection<ClientDoc>
  private readonly keysCol: Collection<SigningKeyDoc>

  /** The Db belongs to whoever connected it (@fastify/mongodb); close() leaves it open. */
  constructor (private readonly db: Db) {
    this.usersCol = db.collection<UserDoc>('users')
    this.sessionsCol = db.collection<SessionDoc>('sessions')
    this.revocationsCol = db.collection<RevocationDoc>('revocations')
    this.countersCol = db.collection<CounterDoc>('counters')
    this.clientsCol = db.collection<ClientDoc>('clients')
    this.keysCol = db.collection<SigningKeyDoc>('signing_keys')
    this.users = new MongoUsers(this.usersCol)
    this.sessions = new MongoSessions(this.sessionsCol)
    this.revocations = new MongoRevocations(this.revocationsCol, this.countersCol)
    this.clients = new MongoClients(this.clientsCol)
    this.keys = new MongoKeys(this.keysCol)
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
      // Create the counter up front so concurrent first add()s do not race on the upsert.
      await this.countersCol.updateOne(
        { _id: REVOCATION_COUNTER },
        { $setOnInsert: { seq: 0 } },
        { upsert: true, writeConcern: MAJORITY }
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
