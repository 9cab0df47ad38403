// SQLite store (better-sqlite3): the embedded default when MONGODB_URL is unset,
// on a file (durable, shared by the processes of one machine) or on `:memory:`
// (throw-away, one process; what most tests run on).
//
// Durability: WAL journal with synchronous=FULL, so a commit is fsynced before
// the statement returns and therefore before any answer that depends on it
// leaves. A kill -9 loses nothing that was acknowledged.
//
// Several processes on one file: SQLite serialises writers with a file lock
// (waiting up to busy_timeout), so every rule that must hold across processes
// is one statement or one IMMEDIATE transaction (which takes the write lock
// before it reads):
//   - usernames are unique by constraint (stored lower-cased);
//   - rotation is one UPDATE … WHERE sid = ? AND current_jti = ? AND revoked_at
//     IS NULL: of concurrent rotations exactly one changes a row;
//   - a login attempt is reserved (refused while locked, else counted, and the
//     account locked at the threshold) in one IMMEDIATE transaction;
//   - revocations get their seq from INTEGER PRIMARY KEY AUTOINCREMENT: a number
//     is never reused (even after the sweep deleted the newest rows), and since
//     writers are serialised, entry N is committed before N+1 exists, so a
//     follower reading by seq never skips one;
//   - the sweep raises the revocation log's `pruned_through` watermark (the
//     highest seq it deleted) in the same transaction as the delete, so a reader
//     of bounds() never sees a deleted entry above the watermark.
//   - the SSF outbox is numbered like the revocation log; a stream's create
//     counts the client's streams in its insert's transaction, and stream
//     updates, leases and cursor moves are single compare-and-set statements.
//
// Schema: versioned by PRAGMA user_version; MIGRATIONS[i] takes version i to
// i + 1 and runs, with the version bump, in one IMMEDIATE transaction at open
// (so two processes starting together migrate once). A database newer than this
// code is refused. Dates are integer milliseconds; lists are JSON arrays.
//
// DPoP replay entries are written on a second connection with
// synchronous=NORMAL: in WAL mode that commit is atomic and visible to every
// process at once but is not fsynced (22 µs instead of 240 µs here, on the
// event loop of every DPoP request). A power cut can lose the last entries,
// which matter for one proof window only (DPOP_PROOF_WINDOW).
//
// SQLite has no TTL index: a sweep (every `sweepIntervalMs`, unref'd, stopped by
// close) deletes expired sessions, revocations and retired keys.
//
// Errors: a locked database past busy_timeout, an I/O error, a full disk or a
// closed connection become StoreUnavailableError (503 store_unavailable); the
// driver's message survives only as `cause`, for the log. A UNIQUE violation
// becomes the domain error the interface names.
import { randomUUID } from 'node:crypto'
import { closeSync, openSync, rmSync } from 'node:fs'
import Database from 'better-sqlite3'
import { AppError, StoreUnavailableError } from '../errors.js'
import { MEMORY } from './location.js'
import type {
  AccessLifetimeStore, ClientRecord, ClientStore, DpopProofStore, GrantType, KeyStore, LockoutPolicy, NewClient, NewRevocation,
  NewSession, NewSsfEvent, NewSsfStream, NewUser, RevocationBounds, RevocationKind, RevocationRecord, RevocationStore, Rotation,
  SessionRecord, SessionStore, SigningAlgorithm, SigningKeyRecord, SsfDeliveryMethod, SsfEventRecord, SsfEventStore, SsfStreamChanges,
  SsfStreamRecord, SsfStreamStatus, SsfStreamStore, Store, StoreHooks, UserRecord, UserStore
} from './types.js'

type Db = Database.Database
type Statement = Database.Statement

export interface SqliteStoreOptions {
  /** How long a statement waits for another process's write lock, ms (default 5000). */
  busyTimeoutMs?: number
  /** How often expired rows are deleted, ms (default 60 000). */
  sweepIntervalMs?: number
  /** PRAGMA synchronous (default FULL: every commit is on disk before it returns). */
  synchronous?: 'FULL' | 'NORMAL'
  /** Test-only pauses (see StoreHooks); each runs after the statement it follows. */
  hooks?: StoreHooks
}

// ---------------------------------------------------------------------------
// Schema

/** MIGRATIONS[i] takes the schema from user_version i to i + 1. Append only. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER
  ) STRICT;

  CREATE TABLE sessions (
    sid                 TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL,
    client_id           TEXT NOT NULL,
    current_jti         TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    revoked_at          INTEGER,
    revoked_reason      TEXT,
    previous_jti        TEXT,
    previous_rotated_at INTEGER,
    previous_successor  TEXT
  ) STRICT;
  CREATE INDEX sessions_user ON sessions (user_id, created_at);
  CREATE INDEX sessions_expires ON sessions (expires_at);

  CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('jti', 'sid', 'client')),
    value      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX revocations_expires ON revocations (expires_at);

  CREATE TABLE clients (
    client_id         TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    secret_hash       TEXT,
    grants            TEXT NOT NULL,
    audiences         TEXT NOT NULL,
    scopes            TEXT NOT NULL,
    access_token_ttl  INTEGER,
    refresh_token_ttl INTEGER,
    disabled          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    private_key  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER NOT NULL,
    expires_at   INTEGER
  ) STRICT;
  CREATE INDEX signing_keys_expires ON signing_keys (expires_at);
  `,
  // 1 -> 2: the revocation log's watermark (one row). A database whose sweep already
  // deleted entries starts just below its lowest entry (or at the last seq when
  // none is left): every live entry is above it.
  `
  CREATE TABLE revocation_log (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through INTEGER NOT NULL
  ) STRICT;
  INSERT INTO revocation_log (id, pruned_through) VALUES (1, COALESCE(
    (SELECT MIN(seq) - 1 FROM revocations),
    (SELECT seq FROM sqlite_sequence WHERE name = 'revocations'),
    0));
  `,
  // 2 -> 3: client secret rotation with a grace period; a disable ends the client's sessions.
  `
  ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
  ALTER TABLE clients ADD COLUMN previous_secret_expires_at INTEGER;
  CREATE INDEX sessions_client ON sessions (client_id);
  `,
  // 3 -> 4: users' security version; failed logins per (account, address);
  // user-wide revocations (a new kind, and the session an entry spares: the
  // CHECK is rebuilt with the table, keeping every seq and the AUTOINCREMENT
  // counter, so no number is ever handed out twice); the access-token
  // lifetimes instances have issued under.
  `
  ALTER TABLE users ADD COLUMN security_version INTEGER NOT NULL DEFAULT 0;

  CREATE TABLE login_failures (
    user_id      TEXT NOT NULL,
    address      TEXT NOT NULL,
    failed       INTEGER NOT NULL,
    locked_until INTEGER,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, address)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX login_failures_expires ON login_failures (expires_at);

  CREATE TABLE revocations_v4 (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('jti', 'sid', 'client', 'user')),
    value      TEXT NOT NULL,
    issued_before INTEGER,
    except_sid TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  INSERT INTO revocations_v4 (seq, kind, value, expires_at, created_at)
    SELECT seq, kind, value, expires_at, created_at FROM revocations;
  DELETE FROM sqlite_sequence WHERE name = 'revocations_v4';
  INSERT INTO sqlite_sequence (name, seq) SELECT 'revocations_v4', seq FROM sqlite_sequence WHERE name = 'revocations';
  DROP TABLE revocations;
  ALTER TABLE revocations_v4 RENAME TO revocations;
  CREATE INDEX revocations_expires ON revocations (expires_at);

  CREATE TABLE access_lifetimes (
    ttl          INTEGER PRIMARY KEY,
    issued_until INTEGER NOT NULL
  ) STRICT;
  `,
  // 4 -> 5: the account-wide failure count covers a window of lockSeconds from
  // its first failure: one address, locked out again and again, never adds up
  // to the account-wide lock.
  `
  ALTER TABLE users ADD COLUMN failures_until INTEGER;
  `,
  // 5 -> 6: Shared Signals: the streams receivers manage, and the outbox of
  // security events they are delivered from (seq as the revocation log's).
  `
  CREATE TABLE ssf_streams (
    stream_id                 TEXT PRIMARY KEY,
    client_id                 TEXT NOT NULL,
    audience                  TEXT NOT NULL,
    description               TEXT,
    events_requested          TEXT NOT NULL,
    events_delivered          TEXT NOT NULL,
    method                    TEXT NOT NULL CHECK (method IN ('push', 'poll')),
    endpoint_url              TEXT,
    authorization_header      TEXT,
    status                    TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    status_reason             TEXT,
    cursor                    INTEGER NOT NULL,
    acked                     TEXT NOT NULL,
    version                   INTEGER NOT NULL,
    lease_owner               TEXT,
    lease_until               INTEGER,
    verification_requested_at INTEGER,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX ssf_streams_client ON ssf_streams (client_id, created_at);

  CREATE TABLE ssf_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL,
    txn        TEXT NOT NULL,
    type       TEXT NOT NULL,
    stream_id  TEXT,
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX ssf_events_created ON ssf_events (created_at);
  `,
  // 6 -> 7: DPoP. A session's refresh tokens bound to a key, a client that must
  // always use DPoP, and the proofs seen recently (the cross-process replay check).
  `
  ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
  ALTER TABLE clients ADD COLUMN dpop_bound INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE dpop_proofs (
    key        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX dpop_proofs_expires ON dpop_proofs (expires_at);
  `,
  // 7 -> 8: revocations of a signing key (a new kind: the CHECK is rebuilt with
  // the table as in 3 -> 4, keeping every seq and the AUTOINCREMENT counter).
  `
  CREATE TABLE revocations_v8 (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('jti', 'sid', 'client', 'user', 'key')),
    value      TEXT NOT NULL,
    issued_before INTEGER,
    except_sid TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  INSERT INTO revocations_v8 (seq, kind, value, issued_before, except_sid, expires_at, created_at)
    SELECT seq, kind, value, issued_before, except_sid, expires_at, created_at FROM revocations;
  DELETE FROM sqlite_sequence WHERE name = 'revocations_v8';
  INSERT INTO sqlite_sequence (name, seq) SELECT 'revocations_v8', seq FROM sqlite_sequence WHERE name = 'revocations';
  DROP TABLE revocations;
  ALTER TABLE revocations_v8 RENAME TO revocations;
  CREATE INDEX revocations_expires ON revocations (expires_at);
  `
]

export function migrate (db: Db, migrations: readonly string[]): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number
  if (version() === migrations.length) return
  // IMMEDIATE: a second process starting at the same time waits, then sees the
  // new version and applies nothing.
  db.transaction(() => {
    const from = version()
    if (from > migrations.length) {
      throw new Error(`the database schema is version ${from}, newer than this code knows (${migrations.length}); upgrade the service`)
    }
    for (let v = from; v < migrations.length; v++) db.exec(migrations[v]!)
    db.pragma(`user_version = ${migrations.length}`)
  }).immediate()
}

// ---------------------------------------------------------------------------
// Errors

// Result codes (and extended codes, which start with these) that mean "the
// database cannot serve this now", not "this request is wrong".
const UNAVAILABLE_CODES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN',
  'SQLITE_READONLY', 'SQLITE_PROTOCOL', 'SQLITE_NOMEM', 'SQLITE_CORRUPT', 'SQLITE_NOTADB']

export function isUnavailableSqliteError (err: unknown): boolean {
  if (err instanceof Database.SqliteError) return UNAVAILABLE_CODES.some((code) => err.code.startsWith(code))
  // better-sqlite3 raises a TypeError for any use of a closed connection.
  return err instanceof TypeError && /database connection is not open/.test(err.message)
}

function isUniqueViolation (err: unknown): boolean {
  return err instanceof Database.SqliteError &&
    (err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
}

/** The database, its -wal and -shm files and backups: they hold password hashes and signing keys. */
export const PRIVATE_FILE_MODE = 0o600

/** Bytes copied so far, of the total. */
export type CopyProgress = (doneBytes: number, totalBytes: number) => void

/**
 * SQLite's backup API from `db` into `destination`, in steps of about 4 MiB
 * (writers on `db` get their turn between steps), reporting each step.
 */
export async function copyDatabase (db: Db, destination: string, progress?: CopyProgress): Promise<void> {
  const pageSize = db.pragma('page_size', { simple: true }) as number
  const step = Math.max(1, Math.floor(4 * 1024 * 1024 / pageSize))
  const { totalPages } = await db.backup(destination, {
    progress: ({ totalPages, remainingPages }) => {
      progress?.((totalPages - remainingPages) * pageSize, totalPages * pageSize)
      return step
    }
  })
  // better-sqlite3 reports before each step, not after the last.
  progress?.(totalPages * pageSize, totalPages * pageSize)
}

/**
 * Creates a new database file 0600 before SQLite opens it (an empty file is an
 * empty database). SQLite gives the -wal and -shm files the mode of the database
 * file, so they are private too. An existing file keeps its mode; any other
 * failure is left for SQLite to report as it opens the file.
 */
function createPrivateFile (file: string): void {
  try {
    closeSync(openSync(file, 'wx', PRIVATE_FILE_MODE))
  } catch {
    // Exists already, or cannot be created: SQLite's open says which.
  }
}

/** A second connection to `file` for the DPoP replay entries (see the header); closes `main` if it cannot be opened. */
function replayConnection (file: string, busyTimeoutMs: number | undefined, main: Db): Db {
  try {
    const db = new Database(file)
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs ?? 5000))}`)
    db.pragma('synchronous = NORMAL')
    return db
  } catch (err) {
    main.close()
    if (isUnavailableSqliteError(err)) throw new StoreUnavailableError(err)
    throw err
  }
}

/** Runs a synchronous store operation; a database that cannot serve becomes StoreUnavailableError. */
function guard<T> (op: () => T, onDuplicate?: () => AppError): Promise<T> {
  try {
    return Promise.resolve(op())
  } catch (err) {
    if (err instanceof AppError) return Promise.reject(err)
    if (onDuplicate !== undefined && isUniqueViolation(err)) return Promise.reject(onDuplicate())
    if (isUnavailableSqliteError(err)) return Promise.reject(new StoreUnavailableError(err))
    return Promise.reject(err)
  }
}

// ---------------------------------------------------------------------------
// Rows

interface UserRow {
  id: string
  username: string
  password_hash: string
  roles: string
  disabled: number
  created_at: number
  failed_logins: number
  locked_until: number | null
  security_version: number
}

interface SessionRow {
  sid: string
  user_id: string
  client_id: string
  current_jti: string
  created_at: number
  expires_at: number
  absolute_expires_at: number
  revoked_at: number | null
  revoked_reason: string | null
  previous_jti: string | null
  previous_rotated_at: number | null
  previous_successor: string | null
  dpop_jkt: string | null
}

interface RevocationRow {
  seq: number
  kind: RevocationKind
  value: string
  issued_before: number | null
  except_sid: string | null
  expires_at: number
  created_at: number
}

interface ClientRow {
  client_id: string
  name: string
  secret_hash: string | null
  grants: string
  audiences: string
  scopes: string
  access_token_ttl: number | null
  refresh_token_ttl: number | null
  disabled: number
  created_at: number
  previous_secret_hash: string | null
  previous_secret_expires_at: number | null
  dpop_bound: number
}

interface KeyRow {
  kid: string
  alg: SigningAlgorithm
  public_key: string
  private_key: string
  created_at: number
  activates_at: number
  expires_at: number | null
}

const ms = (d: Date): number => d.getTime()
const dateOrNull = (v: number | null): Date | null => (v === null ? null : new Date(v))
const list = <T = string>(json: string): T[] => JSON.parse(json) as T[]

function toUser (row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    roles: list(row.roles),
    disabled: row.disabled !== 0,
    createdAt: new Date(row.created_at),
    failedLogins: row.failed_logins,
    lockedUntil: dateOrNull(row.locked_until),
    securityVersion: row.security_version
  }
}

function toSession (row: SessionRow): SessionRecord {
  return {
    sid: row.sid,
    userId: row.user_id,
    clientId: row.client_id,
    currentJti: row.current_jti,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    absoluteExpiresAt: new Date(row.absolute_expires_at),
    revokedAt: dateOrNull(row.revoked_at),
    revokedReason: row.revoked_reason,
    previous: row.previous_jti === null
      ? null
      : { jti: row.previous_jti, rotatedAt: new Date(row.previous_rotated_at ?? 0), successor: row.previous_successor },
    dpopJkt: row.dpop_jkt
  }
}

function toRevocation (row: RevocationRow): RevocationRecord {
  return {
    seq: row.seq,
    kind: row.kind,
    value: row.value,
    expiresAt: new Date(row.expires_at),
    createdAt: new Date(row.created_at),
    issuedBefore: row.issued_before,
    exceptSid: row.except_sid
  }
}

function toClient (row: ClientRow): ClientRecord {
  return {
    clientId: row.client_id,
    name: row.name,
    // Typed by the interface; a public client (no secret) is stored as NULL.
    secretHash: row.secret_hash as ClientRecord['secretHash'],
    grants: list<GrantType>(row.grants),
    audiences: list(row.audiences),
    scopes: list(row.scopes),
    accessTokenTtl: row.access_token_ttl,
    refreshTokenTtl: row.refresh_token_ttl,
    disabled: row.disabled !== 0,
    createdAt: new Date(row.created_at),
    previousSecret: row.previous_secret_hash === null || row.previous_secret_expires_at === null
      ? null
      : { hash: row.previous_secret_hash, expiresAt: new Date(row.previous_secret_expires_at) },
    dpopBoundAccessTokens: row.dpop_bound !== 0
  }
}

function toKey (row: KeyRow): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg,
    publicKey: row.public_key,
    privateKey: row.private_key,
    createdAt: new Date(row.created_at),
    activatesAt: new Date(row.activates_at),
    expiresAt: dateOrNull(row.expires_at)
  }
}

// ---------------------------------------------------------------------------
// Users

class SqliteUsers implements UserStore {
  private readonly insert: Statement
  private readonly byUsername: Statement
  private readonly byId: Statement
  private readonly page: Statement
  private readonly updatePassword: Statement
  private readonly upgradePassword: Statement
  private readonly updateDisabled: Statement
  private readonly updateRoles: Statement
  private readonly lockOf: Statement
  private readonly countAttempt: Statement
  private readonly clearFailures: Statement
  private readonly pairLockOf: Statement
  private readonly countPair: Statement
  private readonly clearPair: Statement
  private readonly clearPairs: Statement

  constructor (private readonly db: Db) {
    this.insert = db.prepare(`INSERT INTO users (id, username, password_hash, roles, disabled, created_at, failed_logins, locked_until, security_version)
      VALUES (@id, @username, @password_hash, @roles, @disabled, @created_at, @failed_logins, @locked_until, @security_version)`)
    this.byUsername = db.prepare('SELECT * FROM users WHERE username = ?')
    this.byId = db.prepare('SELECT * FROM users WHERE id = ?')
    this.page = db.prepare('SELECT * FROM users WHERE username > ? ORDER BY username LIMIT ?')
    this.updatePassword = db.prepare('UPDATE users SET password_hash = ?, security_version = security_version + 1 WHERE id = ?')
    this.upgradePassword = db.prepare('UPDATE users SET password_hash = @next WHERE id = @id AND password_hash = @expected')
    this.updateDisabled = db.prepare('UPDATE users SET disabled = ?, security_version = security_version + 1 WHERE id = ?')
    this.updateRoles = db.prepare('UPDATE users SET roles = ?, security_version = security_version + 1 WHERE id = ? RETURNING *')
    this.lockOf = db.prepare('SELECT locked_until FROM users WHERE id = ?')
    // In SET every column reads the row as it was, so the CASEs test the same
    // new count. A count whose window (failures_until) has passed starts again.
    const count = '(CASE WHEN failures_until > @now THEN failed_logins ELSE 0 END) + 1'
    this.countAttempt = db.prepare(`UPDATE users SET
        failed_logins = CASE WHEN ${count} >= @threshold THEN 0 ELSE ${count} END,
        locked_until = CASE WHEN ${count} >= @threshold THEN @lockedUntil ELSE locked_until END,
        failures_until = CASE WHEN ${count} >= @threshold THEN NULL WHEN failures_until > @now THEN failures_until ELSE @lockedUntil END
      WHERE id = @id`)
    this.clearFailures = db.prepare('UPDATE users SET failed_logins = 0, locked_until = NULL, failures_until = NULL WHERE id = ?')
    this.pairLockOf = db.prepare('SELECT locked_until FROM login_failures WHERE user_id = ? AND address = ? AND expires_at > ?')
    // A count older than lockSeconds (an expired row) starts again from 1.
    this.countPair = db.prepare(`INSERT INTO login_failures (user_id, address, failed, locked_until, expires_at)
      VALUES (@id, @address, CASE WHEN 1 >= @threshold THEN 0 ELSE 1 END, CASE WHEN 1 >= @threshold THEN @lockedUntil ELSE NULL END, @lockedUntil)
      ON CONFLICT (user_id, address) DO UPDATE SET
        failed = CASE WHEN (CASE WHEN expires_at > @now THEN failed ELSE 0 END) + 1 >= @threshold THEN 0
          ELSE (CASE WHEN expires_at > @now THEN failed ELSE 0 END) + 1 END,
        locked_until = CASE WHEN (CASE WHEN expires_at > @now THEN failed ELSE 0 END) + 1 >= @threshold THEN @lockedUntil ELSE NULL END,
        expires_at = @lockedUntil`)
    this.clearPair = db.prepare('DELETE FROM login_failures WHERE user_id = ? AND address = ?')
    this.clearPairs = db.prepare('DELETE FROM login_failures WHERE user_id = ?')
  }

  async create (user: NewUser): Promise<UserRecord> {
    const row: UserRow = {
      id: randomUUID(),
      username: user.username.toLowerCase(),
      password_hash: user.passwordHash,
      roles: JSON.stringify(user.roles ?? []),
      disabled: 0,
      created_at: Date.now(),
      failed_logins: 0,
      locked_until: null,
      security_version: 0
    }
    return guard(() => {
      this.insert.run(row)
      return toUser(row)
    }, () => new AppError('username_taken', 'that username is already taken'))
  }

  async findByUsername (username: string): Promise<UserRecord | null> {
    return guard(() => {
      const row = this.byUsername.get(username.toLowerCase()) as UserRow | undefined
      return row === undefined ? null : toUser(row)
    })
  }

  async findById (id: string): Promise<UserRecord | null> {
    return guard(() => {
      const row = this.byId.get(id) as UserRow | undefined
      return row === undefined ? null : toUser(row)
    })
  }

  async list (page: { after?: string, limit: number }): Promise<UserRecord[]> {
    return guard(() => (this.page.all((page.after ?? '').toLowerCase(), page.limit) as UserRow[]).map(toUser))
  }

  async setPasswordHash (id: string, passwordHash: string): Promise<void> {
    await guard(() => this.updatePassword.run(passwordHash, id))
  }

  async upgradePasswordHash (id: string, expectedHash: string, passwordHash: string): Promise<void> {
    await guard(() => this.upgradePassword.run({ id, expected: expectedHash, next: passwordHash }))
  }

  async setDisabled (id: string, disabled: boolean): Promise<void> {
    await guard(() => this.updateDisabled.run(disabled ? 1 : 0, id))
  }

  async setRoles (id: string, roles: string[]): Promise<UserRecord | null> {
    return guard(() => {
      const row = this.updateRoles.get(JSON.stringify(roles), id) as UserRow | undefined
      return row === undefined ? null : toUser(row)
    })
  }

  async beginLoginAttempt (id: string, policy: LockoutPolicy): Promise<Date | null> {
    const now = policy.now.getTime()
    // IMMEDIATE takes the write lock before the read: another process cannot
    // count or lock between this read of the lock and this count.
    const lockedUntil = now + policy.lockSeconds * 1000
    const address = policy.address
    return guard(() => this.db.transaction((): Date | null => {
      const row = this.lockOf.get(id) as { locked_until: number | null } | undefined
      if (row === undefined) return null
      const pair = address === undefined ? undefined : this.pairLockOf.get(id, address, now) as { locked_until: number | null } | undefined
      const until = Math.max(row.locked_until ?? 0, pair?.locked_until ?? 0)
      if (until > now) return new Date(until)
      if (address === undefined) {
        this.countAttempt.run({ id, threshold: policy.threshold, lockedUntil, now })
      } else {
        this.countPair.run({ id, address, threshold: policy.threshold, lockedUntil, now })
        this.countAttempt.run({ id, threshold: policy.accountThreshold ?? policy.threshold, lockedUntil, now })
      }
      return null
    }).immediate())
  }

  async clearAllLoginFailures (id: string): Promise<void> {
    await guard(() => this.db.transaction(() => {
      this.clearFailures.run(id)
      this.clearPairs.run(id)
    }).immediate())
  }

  async clearLoginFailures (id: string, address?: string): Promise<void> {
    await guard(() => this.db.transaction(() => {
      this.clearFailures.run(id)
      if (address !== undefined) this.clearPair.run(id, address)
    }).immediate())
  }
}

// ---------------------------------------------------------------------------
// Sessions

type NewSessionRow = Pick<SessionRow, 'sid' | 'user_id' | 'client_id' | 'current_jti' | 'created_at' | 'expires_at' | 'absolute_expires_at' | 'dpop_jkt'>

function sessionRow (session: NewSession): NewSessionRow {
  return {
    sid: session.sid,
    user_id: session.userId,
    client_id: session.clientId,
    current_jti: session.currentJti,
    created_at: ms(session.createdAt),
    expires_at: ms(session.expiresAt),
    absolute_expires_at: ms(session.absoluteExpiresAt),
    dpop_jkt: session.dpopJkt ?? null
  }
}

function newSessionRow (row: NewSessionRow): SessionRow {
  return { ...row, revoked_at: null, revoked_reason: null, previous_jti: null, previous_rotated_at: null, previous_successor: null }
}

class SqliteSessions implements SessionStore {
  private readonly insert: Statement
  private readonly bySid: Statement
  private readonly compareAndSet: Statement
  private readonly markRevoked: Statement
  private readonly revokeUser: Statement
  private readonly revokeClient: Statement
  private readonly liveForUser: Statement
  private readonly userState: Statement

  constructor (private readonly db: Db) {
    this.userState = db.prepare('SELECT security_version, disabled FROM users WHERE id = ?')
    this.insert = db.prepare(`INSERT INTO sessions (sid, user_id, client_id, current_jti, created_at, expires_at, absolute_expires_at, dpop_jkt)
      VALUES (@sid, @user_id, @client_id, @current_jti, @created_at, @expires_at, @absolute_expires_at, @dpop_jkt)`)
    this.bySid = db.prepare('SELECT * FROM sessions WHERE sid = ?')
    this.compareAndSet = db.prepare(`UPDATE sessions SET current_jti = @nextJti, expires_at = @expiresAt,
        previous_jti = @previousJti, previous_rotated_at = @rotatedAt, previous_successor = @successor
      WHERE sid = @sid AND current_jti = @expectedJti AND revoked_at IS NULL RETURNING *`)
    this.markRevoked = db.prepare('UPDATE sessions SET revoked_at = @now, revoked_reason = @reason WHERE sid = @sid AND revoked_at IS NULL')
    this.revokeUser = db.prepare(`UPDATE sessions SET revoked_at = @now, revoked_reason = @reason
      WHERE user_id = @userId AND revoked_at IS NULL AND sid IS NOT @keepSid RETURNING *`)
    this.revokeClient = db.prepare(`UPDATE sessions SET revoked_at = @now, revoked_reason = @reason
      WHERE client_id = @clientId AND revoked_at IS NULL RETURNING sid`)
    this.liveForUser = db.prepare(`SELECT * FROM sessions
      WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND absolute_expires_at > ?
      ORDER BY created_at DESC, sid`)
  }

  async create (session: NewSession): Promise<SessionRecord> {
    const row = sessionRow(session)
    return guard(() => {
      this.insert.run(row)
      return toSession(newSessionRow(row))
    })
  }

  async createIfCurrent (session: NewSession, securityVersion: number): Promise<SessionRecord | null> {
    const row = sessionRow(session)
    // IMMEDIATE: the write lock is held from the read of the user's state to the
    // insert, so no change to the user (each one a write) can land in between.
    return guard(() => this.db.transaction((): SessionRecord | null => {
      const user = this.userState.get(session.userId) as { security_version: number, disabled: number } | undefined
      if (user === undefined || user.disabled !== 0 || user.security_version !== securityVersion) return null
      this.insert.run(row)
      return toSession(newSessionRow(row))
    }).immediate())
  }

  async find (sid: string): Promise<SessionRecord | null> {
    return guard(() => {
      const row = this.bySid.get(sid) as SessionRow | undefined
      return row === undefined ? null : toSession(row)
    })
  }

  async rotate (sid: string, expectedJti: string, rotation: Rotation): Promise<SessionRecord | null> {
    return guard(() => {
      const row = this.compareAndSet.get({
        sid,
        expectedJti,
        nextJti: rotation.nextJti,
        expiresAt: ms(rotation.expiresAt),
        previousJti: rotation.previous.jti,
        rotatedAt: ms(rotation.previous.rotatedAt),
        successor: rotation.previous.successor
      }) as SessionRow | undefined
      return row === undefined ? null : toSession(row)
    })
  }

  async revoke (sid: string, reason: string, now: Date): Promise<SessionRecord | null> {
    // The session as it was, and the change, in one write transaction: no other
    // process can revoke it in between.
    return guard(() => this.db.transaction(() => {
      const before = this.bySid.get(sid) as SessionRow | undefined
      if (before === undefined) return null
      this.markRevoked.run({ sid, reason, now: ms(now) })
      return toSession(before)
    }).immediate())
  }

  async revokeAllForUser (userId: string, reason: string, now: Date, keepSid?: string): Promise<SessionRecord[]> {
    return guard(() => {
      // One statement: exactly the sessions this call revoked come back.
      const rows = this.revokeUser.all({ userId, reason, now: ms(now), keepSid: keepSid ?? null }) as SessionRow[]
      return rows.map(toSession).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
    })
  }

  async revokeAllForClient (clientId: string, reason: string, now: Date): Promise<string[]> {
    // One statement: exactly the sessions this call revoked come back.
    return guard(() => (this.revokeClient.all({ clientId, reason, now: ms(now) }) as Array<{ sid: string }>).map((row) => row.sid))
  }

  async listForUser (userId: string, now: Date): Promise<SessionRecord[]> {
    return guard(() => (this.liveForUser.all(userId, ms(now), ms(now)) as SessionRow[]).map(toSession))
  }
}

// ---------------------------------------------------------------------------
// Revocations

class SqliteRevocations implements RevocationStore {
  private readonly insert: Statement
  private readonly after: Statement
  private readonly span: Statement

  constructor (private readonly db: Db, private readonly hooks: StoreHooks) {
    this.insert = db.prepare(`INSERT INTO revocations (kind, value, issued_before, except_sid, expires_at, created_at)
      VALUES (?, ?, ?, ?, ?, ?) RETURNING *`)
    this.after = db.prepare('SELECT * FROM revocations WHERE seq > ? AND expires_at > ? ORDER BY seq LIMIT ?')
    // One statement, one snapshot. sqlite_sequence holds the highest seq AUTOINCREMENT
    // ever handed out, even when the sweep has deleted that row since.
    this.span = db.prepare(`SELECT
        (SELECT pruned_through FROM revocation_log WHERE id = 1) AS prunedThrough,
        COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0) AS lastSeq`)
  }

  async add (entry: NewRevocation): Promise<RevocationRecord> {
    return (await this.addMany([entry]))[0]!
  }

  async addMany (entries: readonly NewRevocation[]): Promise<RevocationRecord[]> {
    if (entries.length === 0) return []
    const records = await guard(() => this.db.transaction(() => {
      const createdAt = Date.now()
      return entries.map((entry) => toRevocation(this.insert.get(
        entry.kind, entry.value, entry.issuedBefore ?? null, entry.exceptSid ?? null, ms(entry.expiresAt), createdAt
      ) as RevocationRow))
    }).immediate())
    await this.hooks.revocationNumbered?.(records[0]!.seq)
    return records
  }

  async since (afterSeq: number, now: Date, limit: number): Promise<RevocationRecord[]> {
    if (!(limit >= 1)) return []
    return guard(() => (this.after.all(afterSeq, ms(now), Math.floor(limit)) as RevocationRow[]).map(toRevocation))
  }

  async bounds (): Promise<RevocationBounds> {
    return guard(() => {
      const row = this.span.get() as { prunedThrough: number, lastSeq: number }
      return { prunedThrough: row.prunedThrough, lastSeq: row.lastSeq }
    })
  }
}

// ---------------------------------------------------------------------------
// Clients

class SqliteClients implements ClientStore {
  private readonly insert: Statement
  private readonly byId: Statement
  private readonly all: Statement
  private readonly updateDisabled: Statement
  private readonly updateSecret: Statement
  private readonly updateDpopBound: Statement

  constructor (db: Db) {
    this.insert = db.prepare(`INSERT INTO clients (client_id, name, secret_hash, grants, audiences, scopes,
        access_token_ttl, refresh_token_ttl, disabled, created_at, previous_secret_hash, previous_secret_expires_at, dpop_bound)
      VALUES (@client_id, @name, @secret_hash, @grants, @audiences, @scopes, @access_token_ttl, @refresh_token_ttl, @disabled,
        @created_at, @previous_secret_hash, @previous_secret_expires_at, @dpop_bound)`)
    this.byId = db.prepare('SELECT * FROM clients WHERE client_id = ?')
    // rowid is insertion order: it breaks ties between clients made in the same millisecond.
    this.all = db.prepare('SELECT * FROM clients ORDER BY created_at, rowid')
    this.updateDisabled = db.prepare('UPDATE clients SET disabled = ? WHERE client_id = ? RETURNING *')
    this.updateSecret = db.prepare(`UPDATE clients SET secret_hash = @hash, previous_secret_hash = @previousHash,
        previous_secret_expires_at = @previousExpiresAt WHERE client_id = @clientId RETURNING *`)
    this.updateDpopBound = db.prepare('UPDATE clients SET dpop_bound = ? WHERE client_id = ? RETURNING *')
  }

  async create (client: NewClient): Promise<ClientRecord> {
    const row: ClientRow = {
      client_id: client.clientId,
      name: client.name,
      secret_hash: client.secretHash,
      grants: JSON.stringify(client.grants),
      audiences: JSON.stringify(client.audiences),
      scopes: JSON.stringify(client.scopes),
      access_token_ttl: client.accessTokenTtl,
      refresh_token_ttl: client.refreshTokenTtl,
      disabled: 0,
      created_at: Date.now(),
      previous_secret_hash: null,
      previous_secret_expires_at: null,
      dpop_bound: client.dpopBoundAccessTokens === true ? 1 : 0
    }
    return guard(() => {
      this.insert.run(row)
      return toClient(row)
    }, () => new AppError('conflict', 'that client_id already exists'))
  }

  async find (clientId: string): Promise<ClientRecord | null> {
    return guard(() => {
      const row = this.byId.get(clientId) as ClientRow | undefined
      return row === undefined ? null : toClient(row)
    })
  }

  async list (): Promise<ClientRecord[]> {
    return guard(() => (this.all.all() as ClientRow[]).map(toClient))
  }

  async setDisabled (clientId: string, disabled: boolean): Promise<ClientRecord | null> {
    return guard(() => {
      const row = this.updateDisabled.get(disabled ? 1 : 0, clientId) as ClientRow | undefined
      return row === undefined ? null : toClient(row)
    })
  }

  async setSecret (clientId: string, secretHash: string, previous: { hash: string, expiresAt: Date } | null): Promise<ClientRecord | null> {
    return guard(() => {
      const row = this.updateSecret.get({
        clientId, hash: secretHash, previousHash: previous?.hash ?? null, previousExpiresAt: previous === null ? null : ms(previous.expiresAt)
      }) as ClientRow | undefined
      return row === undefined ? null : toClient(row)
    })
  }

  async setDpopBound (clientId: string, bound: boolean): Promise<ClientRecord | null> {
    return guard(() => {
      const row = this.updateDpopBound.get(bound ? 1 : 0, clientId) as ClientRow | undefined
      return row === undefined ? null : toClient(row)
    })
  }
}

// ---------------------------------------------------------------------------
// DPoP proofs

class SqliteDpopProofs implements DpopProofStore {
  private readonly insert: Statement

  constructor (db: Db) {
    // One statement: a new key is inserted; an expired one (not swept yet) is taken over;
    // a live one is left alone and changes nothing. Exactly one of concurrent claims changes a row.
    this.insert = db.prepare(`INSERT INTO dpop_proofs (key, expires_at) VALUES (@key, @expiresAt)
      ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at <= @now`)
  }

  async claim (key: string, expiresAt: Date, now: Date): Promise<boolean> {
    return guard(() => this.insert.run({ key, expiresAt: ms(expiresAt), now: ms(now) }).changes === 1)
  }
}

// ---------------------------------------------------------------------------
// Signing keys

class SqliteKeys implements KeyStore {
  private readonly insert: Statement
  private readonly retireOlder: Statement
  private readonly retireSelf: Statement
  private readonly live: Statement
  private readonly deleteKey: Statement
  private readonly unretireNewest: Statement

  constructor (private readonly db: Db, private readonly hooks: StoreHooks) {
    this.insert = db.prepare(`INSERT INTO signing_keys (kid, alg, public_key, private_key, created_at, activates_at, expires_at)
      VALUES (@kid, @alg, @public_key, @private_key, @created_at, @activates_at, @expires_at)`)
    // Keys are ordered by (activates_at, kid): an add retires only older keys.
    this.retireOlder = db.prepare(`UPDATE signing_keys SET expires_at = @expiresAt
      WHERE expires_at IS NULL AND (activates_at < @activatesAt OR (activates_at = @activatesAt AND kid < @kid))`)
    // A newer key is already stored: this one is retired as that key's add would have.
    this.retireSelf = db.prepare(`UPDATE signing_keys SET expires_at = MAX(@expiresAt,
        (SELECT MAX(activates_at) FROM signing_keys WHERE activates_at > @activatesAt OR (activates_at = @activatesAt AND kid > @kid)) + @lifetime)
      WHERE kid = @kid AND EXISTS (SELECT 1 FROM signing_keys WHERE activates_at > @activatesAt OR (activates_at = @activatesAt AND kid > @kid))
      RETURNING *`)
    this.live = db.prepare('SELECT * FROM signing_keys WHERE expires_at IS NULL OR expires_at > ? ORDER BY activates_at, kid')
    this.deleteKey = db.prepare('DELETE FROM signing_keys WHERE kid = ? RETURNING *')
    this.unretireNewest = db.prepare(`UPDATE signing_keys SET expires_at = NULL WHERE kid =
      (SELECT kid FROM signing_keys WHERE expires_at IS NULL OR expires_at > ? ORDER BY activates_at DESC, kid DESC LIMIT 1)`)
  }

  async add (key: Omit<SigningKeyRecord, 'createdAt' | 'expiresAt'>, retireExpiresAt: Date): Promise<SigningKeyRecord> {
    const row: KeyRow = {
      kid: key.kid,
      alg: key.alg,
      public_key: key.publicKey,
      private_key: key.privateKey,
      created_at: Date.now(),
      activates_at: ms(key.activatesAt),
      expires_at: null
    }
    const order = { kid: key.kid, activatesAt: ms(key.activatesAt), expiresAt: ms(retireExpiresAt) }
    // One transaction: a refused insert (duplicate kid) retires nothing.
    const added = await guard(() => this.db.transaction(() => {
      this.insert.run(row)
      this.retireOlder.run(order)
      const retired = this.retireSelf.get({ ...order, lifetime: order.expiresAt - order.activatesAt }) as KeyRow | undefined
      return toKey(retired ?? row)
    }).immediate(), () => new AppError('conflict', 'that kid already exists'))
    await this.hooks.keyInserted?.(key.kid)
    return added
  }

  async list (now: Date): Promise<SigningKeyRecord[]> {
    return guard(() => (this.live.all(ms(now)) as KeyRow[]).map(toKey))
  }

  async remove (kid: string, now: Date): Promise<SigningKeyRecord | null> {
    // One transaction: no add can slip between the delete and the un-retire.
    return guard(() => this.db.transaction(() => {
      const removed = this.deleteKey.get(kid) as KeyRow | undefined
      if (removed === undefined) return null
      this.unretireNewest.run(ms(now))
      return toKey(removed)
    }).immediate())
  }
}

// ---------------------------------------------------------------------------
// Access-token lifetimes

class SqliteLifetimes implements AccessLifetimeStore {
  private readonly upsert: Statement
  private readonly longest: Statement

  constructor (db: Db) {
    this.upsert = db.prepare(`INSERT INTO access_lifetimes (ttl, issued_until) VALUES (?, ?)
      ON CONFLICT (ttl) DO UPDATE SET issued_until = MAX(issued_until, excluded.issued_until)`)
    this.longest = db.prepare('SELECT COALESCE(MAX(ttl), 0) AS ttl FROM access_lifetimes WHERE issued_until + ttl * 1000 > ?')
  }

  async record (ttlSeconds: number, until: Date): Promise<void> {
    await guard(() => this.upsert.run(ttlSeconds, ms(until)))
  }

  async longestLive (now: Date): Promise<number> {
    return guard(() => (this.longest.get(ms(now)) as { ttl: number }).ttl)
  }
}

// ---------------------------------------------------------------------------
// Shared Signals: streams and the outbox

interface SsfStreamRow {
  stream_id: string
  client_id: string
  audience: string
  description: string | null
  events_requested: string
  events_delivered: string
  method: SsfDeliveryMethod
  endpoint_url: string | null
  authorization_header: string | null
  status: SsfStreamStatus
  status_reason: string | null
  cursor: number
  acked: string
  version: number
  lease_owner: string | null
  lease_until: number | null
  verification_requested_at: number | null
  created_at: number
  updated_at: number
}

interface SsfEventRow {
  seq: number
  id: string
  txn: string
  type: string
  stream_id: string | null
  subject: string
  payload: string
  created_at: number
}

function toSsfStream (row: SsfStreamRow): SsfStreamRecord {
  return {
    streamId: row.stream_id,
    clientId: row.client_id,
    audience: row.audience,
    description: row.description,
    eventsRequested: list(row.events_requested),
    eventsDelivered: list(row.events_delivered),
    method: row.method,
    endpointUrl: row.endpoint_url,
    authorizationHeader: row.authorization_header,
    status: row.status,
    statusReason: row.status_reason,
    cursor: row.cursor,
    acked: list<number>(row.acked),
    version: row.version,
    leaseOwner: row.lease_owner,
    leaseUntil: dateOrNull(row.lease_until),
    verificationRequestedAt: dateOrNull(row.verification_requested_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at)
  }
}

function toSsfEvent (row: SsfEventRow): SsfEventRecord {
  return {
    seq: row.seq,
    id: row.id,
    txn: row.txn,
    type: row.type,
    streamId: row.stream_id,
    subject: JSON.parse(row.subject) as Record<string, unknown>,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    createdAt: new Date(row.created_at)
  }
}

/** The outbox's highest seq ever handed out (sqlite_sequence keeps it when the rows are gone). */
const SSF_LAST_SEQ = "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'ssf_events'), 0)"

class SqliteSsfStreams implements SsfStreamStore {
  private readonly insert: Statement
  private readonly countForClient: Statement
  private readonly byId: Statement
  private readonly forClient: Statement
  private readonly active: Statement
  private readonly write: Statement
  private readonly remove: Statement
  private readonly lease: Statement
  private readonly unlease: Statement
  private readonly move: Statement

  constructor (private readonly db: Db) {
    this.insert = db.prepare(`INSERT INTO ssf_streams (stream_id, client_id, audience, description, events_requested,
        events_delivered, method, endpoint_url, authorization_header, status, status_reason, cursor, acked, version,
        lease_owner, lease_until, verification_requested_at, created_at, updated_at)
      VALUES (@stream_id, @client_id, @audience, @description, @events_requested, @events_delivered, @method,
        @endpoint_url, @authorization_header, 'enabled', NULL, ${SSF_LAST_SEQ}, '[]', 1, NULL, NULL, NULL, @now, @now)
      RETURNING *`)
    this.countForClient = db.prepare('SELECT COUNT(*) AS n FROM ssf_streams WHERE client_id = ?')
    this.byId = db.prepare('SELECT * FROM ssf_streams WHERE stream_id = ?')
    // rowid is insertion order: it breaks ties between streams made in the same millisecond.
    this.forClient = db.prepare('SELECT * FROM ssf_streams WHERE client_id = ? ORDER BY created_at, rowid')
    this.active = db.prepare("SELECT * FROM ssf_streams WHERE status <> 'disabled' ORDER BY created_at, rowid")
    this.write = db.prepare(`UPDATE ssf_streams SET description = @description, events_requested = @events_requested,
        events_delivered = @events_delivered, method = @method, endpoint_url = @endpoint_url,
        authorization_header = @authorization_header, status = @status, status_reason = @status_reason,
        cursor = @cursor, acked = @acked, verification_requested_at = @verification_requested_at,
        version = version + 1, updated_at = @now
      WHERE stream_id = @stream_id AND version = @expected RETURNING *`)
    this.remove = db.prepare('DELETE FROM ssf_streams WHERE stream_id = ?')
    this.lease = db.prepare(`UPDATE ssf_streams SET lease_owner = @owner, lease_until = @until
      WHERE stream_id = @stream_id AND (lease_owner IS NULL OR lease_owner = @owner OR lease_until <= @now) RETURNING *`)
    this.unlease = db.prepare(`UPDATE ssf_streams SET lease_owner = NULL, lease_until = NULL
      WHERE stream_id = ? AND lease_owner = ?`)
    this.move = db.prepare(`UPDATE ssf_streams SET cursor = @to, version = version + 1, updated_at = @now
      WHERE stream_id = @stream_id AND lease_owner = @owner AND cursor = @from`)
  }

  async create (stream: NewSsfStream, maxPerClient: number, now: Date): Promise<SsfStreamRecord | null> {
    const row = {
      stream_id: stream.streamId,
      client_id: stream.clientId,
      audience: stream.audience,
      description: stream.description,
      events_requested: JSON.stringify(stream.eventsRequested),
      events_delivered: JSON.stringify(stream.eventsDelivered),
      method: stream.method,
      endpoint_url: stream.endpointUrl,
      authorization_header: stream.authorizationHeader,
      now: ms(now)
    }
    // The count and the insert in one write transaction: concurrent creates
    // (from any process) cannot both take the last place.
    return guard(() => this.db.transaction(() => {
      const { n } = this.countForClient.get(stream.clientId) as { n: number }
      if (n >= maxPerClient) return null
      return toSsfStream(this.insert.get(row) as SsfStreamRow)
    }).immediate(), () => new AppError('conflict', 'that stream_id already exists'))
  }

  async find (streamId: string): Promise<SsfStreamRecord | null> {
    return guard(() => {
      const row = this.byId.get(streamId) as SsfStreamRow | undefined
      return row === undefined ? null : toSsfStream(row)
    })
  }

  async listForClient (clientId: string): Promise<SsfStreamRecord[]> {
    return guard(() => (this.forClient.all(clientId) as SsfStreamRow[]).map(toSsfStream))
  }

  async listActive (): Promise<SsfStreamRecord[]> {
    return guard(() => (this.active.all() as SsfStreamRow[]).map(toSsfStream))
  }

  async update (streamId: string, expectedVersion: number, changes: SsfStreamChanges, now: Date): Promise<SsfStreamRecord | null> {
    return guard(() => this.db.transaction(() => {
      const current = this.byId.get(streamId) as SsfStreamRow | undefined
      if (current === undefined || current.version !== expectedVersion) return null
      const next = { ...toSsfStream(current), ...changes }
      const row = this.write.get({
        stream_id: streamId,
        expected: expectedVersion,
        description: next.description,
        events_requested: JSON.stringify(next.eventsRequested),
        events_delivered: JSON.stringify(next.eventsDelivered),
        method: next.method,
        endpoint_url: next.endpointUrl,
        authorization_header: next.authorizationHeader,
        status: next.status,
        status_reason: next.statusReason,
        cursor: next.cursor,
        acked: JSON.stringify(next.acked),
        verification_requested_at: next.verificationRequestedAt === null ? null : ms(next.verificationRequestedAt),
        now: ms(now)
      }) as SsfStreamRow | undefined
      return row === undefined ? null : toSsfStream(row)
    }).immediate())
  }

  async delete (streamId: string): Promise<boolean> {
    return guard(() => this.remove.run(streamId).changes > 0)
  }

  async takeLease (streamId: string, owner: string, now: Date, until: Date): Promise<SsfStreamRecord | null> {
    return guard(() => {
      const row = this.lease.get({ stream_id: streamId, owner, now: ms(now), until: ms(until) }) as SsfStreamRow | undefined
      return row === undefined ? null : toSsfStream(row)
    })
  }

  async releaseLease (streamId: string, owner: string): Promise<void> {
    await guard(() => this.unlease.run(streamId, owner))
  }

  async advance (streamId: string, owner: string, from: number, to: number, now: Date): Promise<boolean> {
    return guard(() => this.move.run({ stream_id: streamId, owner, from, to, now: ms(now) }).changes > 0)
  }
}

class SqliteSsfEvents implements SsfEventStore {
  private readonly insert: Statement
  private readonly after: Statement
  private readonly last: Statement
  private readonly prunable: Statement

  constructor (private readonly db: Db, private readonly hooks: StoreHooks) {
    this.insert = db.prepare(`INSERT INTO ssf_events (id, txn, type, stream_id, subject, payload, created_at)
      VALUES (@id, @txn, @type, @stream_id, @subject, @payload, @created_at) RETURNING *`)
    this.after = db.prepare('SELECT * FROM ssf_events WHERE seq > ? ORDER BY seq LIMIT ?')
    this.last = db.prepare(`SELECT ${SSF_LAST_SEQ} AS seq`)
    // One statement, one snapshot of the cursors: a stream created meanwhile
    // starts at the last seq, above anything this deletes.
    this.prunable = db.prepare(`DELETE FROM ssf_events WHERE created_at < @before OR seq <= COALESCE(
        (SELECT MIN(cursor) FROM ssf_streams WHERE status <> 'disabled'), ${SSF_LAST_SEQ})`)
  }

  async append (events: NewSsfEvent[], now: Date): Promise<SsfEventRecord[]> {
    if (events.length === 0) return []
    // One transaction: the batch is numbered in order and stored whole, with one fsync.
    const records = await guard(() => this.db.transaction(() => events.map((event) => toSsfEvent(this.insert.get({
      id: event.id,
      txn: event.txn,
      type: event.type,
      stream_id: event.streamId,
      subject: JSON.stringify(event.subject),
      payload: JSON.stringify(event.payload),
      created_at: ms(now)
    }) as SsfEventRow))).immediate())
    await this.hooks.ssfEventsNumbered?.(records[0]!.seq)
    return records
  }

  async since (afterSeq: number, limit: number): Promise<SsfEventRecord[]> {
    if (!(limit >= 1)) return []
    return guard(() => (this.after.all(afterSeq, Math.floor(limit)) as SsfEventRow[]).map(toSsfEvent))
  }

  async lastSeq (): Promise<number> {
    return guard(() => (this.last.get() as { seq: number }).seq)
  }

  async prune (before: Date): Promise<number> {
    return guard(() => this.prunable.run({ before: ms(before) }).changes)
  }
}

// ---------------------------------------------------------------------------
// Store

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  readonly users: SqliteUsers
  readonly sessions: SqliteSessions
  readonly revocations: SqliteRevocations
  readonly clients: SqliteClients
  readonly keys: SqliteKeys
  readonly lifetimes: SqliteLifetimes
  readonly ssfStreams: SqliteSsfStreams
  readonly ssfEvents: SqliteSsfEvents
  readonly dpopProofs: SqliteDpopProofs

  private readonly db: Db
  /** The DPoP replay entries' connection (synchronous=NORMAL); the main one for :memory:. */
  private readonly replayDb: Db
  private readonly sweepStatements: Statement[]
  private readonly advanceWatermark: Statement
  private readonly pingStatement: Statement
  private readonly sweepIntervalMs: number
  private sweeper: NodeJS.Timeout | undefined

  /**
   * Opens (creating if needed) the database and brings its schema up to date.
   * `file` is a path (its folder must exist) or ':memory:'.
   */
  constructor (readonly file: string, options: SqliteStoreOptions = {}) {
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000
    let db: Db | undefined
    try {
      if (file !== MEMORY) createPrivateFile(file)
      db = new Database(file)
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`)
      if (file !== MEMORY) db.pragma('journal_mode = WAL')
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`)
      migrate(db, MIGRATIONS)
    } catch (err) {
      db?.close()
      if (isUnavailableSqliteError(err)) throw new StoreUnavailableError(err)
      throw err
    }
    this.db = db
    this.users = new SqliteUsers(db)
    this.sessions = new SqliteSessions(db)
    this.revocations = new SqliteRevocations(db, options.hooks ?? {})
    this.clients = new SqliteClients(db)
    this.keys = new SqliteKeys(db, options.hooks ?? {})
    this.lifetimes = new SqliteLifetimes(db)
    this.ssfStreams = new SqliteSsfStreams(db)
    this.ssfEvents = new SqliteSsfEvents(db, options.hooks ?? {})
    this.replayDb = file === MEMORY ? db : replayConnection(file, options.busyTimeoutMs, db)
    this.dpopProofs = new SqliteDpopProofs(this.replayDb)
    // Runs before the delete, in its transaction: the watermark covers every entry that goes.
    this.advanceWatermark = db.prepare(`UPDATE revocation_log
      SET pruned_through = MAX(pruned_through, COALESCE((SELECT MAX(seq) FROM revocations WHERE expires_at <= @now), 0))
      WHERE id = 1`)
    this.sweepStatements = [
      db.prepare('DELETE FROM sessions WHERE expires_at <= @now OR absolute_expires_at <= @now'),
      db.prepare('DELETE FROM revocations WHERE expires_at <= @now'),
      db.prepare('DELETE FROM signing_keys WHERE expires_at <= @now'),
      db.prepare('DELETE FROM login_failures WHERE expires_at <= @now'),
      db.prepare('DELETE FROM access_lifetimes WHERE issued_until + ttl * 1000 <= @now'),
      db.prepare('DELETE FROM dpop_proofs WHERE expires_at <= @now')
    ]
    this.pingStatement = db.prepare('SELECT 1')
  }

  /** Starts the periodic sweep; idempotent. */
  async init (): Promise<void> {
    if (this.sweeper !== undefined || !this.db.open) return
    this.sweeper = setInterval(() => {
      // A sweep that meets a locked database simply runs again next time.
      this.sweep(new Date()).catch(() => {})
    }, this.sweepIntervalMs)
    this.sweeper.unref()
  }

  /**
   * Deletes sessions whose refresh token can no longer be used, revocations
   * whose tokens have all expired (raising the log's watermark past them) and
   * retired keys past their expiry. Returns how many rows went.
   */
  async sweep (now: Date): Promise<number> {
    return guard(() => this.db.transaction(() => {
      this.advanceWatermark.run({ now: ms(now) })
      return this.sweepStatements.reduce((n, stmt) => n + stmt.run({ now: ms(now) }).changes, 0)
    }).immediate())
  }

  async ping (): Promise<void> {
    await guard(() => this.pingStatement.get())
  }

  /**
   * An online, consistent copy of the database into `destination` (SQLite's
   * backup API): writers may go on meanwhile. `progress` hears the bytes copied
   * so far and the total after each step.
   */
  async backup (destination: string, progress?: CopyProgress): Promise<void> {
    // Created here, 0600 and only if new: the copy holds what the database holds,
    // and an existing file is never overwritten.
    try {
      closeSync(openSync(destination, 'wx', PRIVATE_FILE_MODE))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new AppError('conflict', `${destination} already exists`)
      throw err
    }
    try {
      await copyDatabase(this.db, destination, progress)
    } catch (err) {
      rmSync(destination, { force: true })
      if (isUnavailableSqliteError(err)) throw new StoreUnavailableError(err)
      throw err
    }
  }

  /** The schema version (PRAGMA user_version). */
  get schemaVersion (): number {
    return this.db.pragma('user_version', { simple: true }) as number
  }

  async close (): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    this.sweeper = undefined
    if (this.replayDb !== this.db && this.replayDb.open) this.replayDb.close()
    if (this.db.open) this.db.close()
  }
}
