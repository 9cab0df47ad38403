// Development secrets that survive a restart: outside production, a JWT_SECRET
// or REFRESH_TOKEN_SECRET left unset is generated once and kept with the data,
// so sessions and sealed signing keys stay usable across restarts, and the CLI
// and every process on that store use the same ones:
//   - SQLite: `secrets.json` (mode 0600) beside the database file;
//   - MongoDB: the `settings` collection of the database, created once
//     atomically (instances starting together agree on one pair).
// With SQLITE_PATH=:memory: there is nothing to share: they stay ephemeral.
import { randomBytes, randomUUID } from 'node:crypto'
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { MongoClient } from 'mongodb'
import { ephemeralSecrets, loadConfig, type Config } from './config.js'
import { MEMORY, mongoDatabaseName, sqliteFile } from '../store/location.js'
import { keptSettings, MAJORITY, writeConcernFor } from '../store/mongo-store.js'

type Secrets = Record<string, string>

const NAMES = ['JWT_SECRET', 'REFRESH_TOKEN_SECRET'] as const

/** The file that keeps generated secrets on SQLite, or undefined when there is none (MongoDB, :memory:). */
export function devSecretsFile (config: { MONGODB_URL?: string | undefined, SQLITE_PATH: string }): string | undefined {
  if (config.MONGODB_URL !== undefined) return undefined
  const database = sqliteFile(config.SQLITE_PATH)
  return database === MEMORY ? undefined : join(dirname(database), 'secrets.json')
}

/** Whether unset secrets are kept with the data (not generated anew per process). */
export function keepsDevSecrets (config: { MONGODB_URL?: string | undefined, SQLITE_PATH: string }): boolean {
  return config.MONGODB_URL !== undefined || devSecretsFile(config) !== undefined
}

/** The secret source for loadConfig: the secrets file when there is one. */
export function devSecrets (config: { MONGODB_URL?: string | undefined, SQLITE_PATH: string }): { secret: (name: string) => string, note: string } | undefined {
  const file = devSecretsFile(config)
  if (file === undefined) return undefined
  return {
    secret: (name) => keptSecret(file, name),
    note: `using a generated secret kept in ${file} (development only; delete the file to change it)`
  }
}

function read (file: string): Secrets | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Secrets
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

const fresh = (): string => randomBytes(48).toString('base64url')

/** The secret `name` from `file`, generating the file (or the entry) when missing. */
export function keptSecret (file: string, name: string): string {
  const existing = read(file)
  const kept = existing?.[name]
  if (typeof kept === 'string' && kept !== '') return kept
  const next: Secrets = existing ?? Object.fromEntries(NAMES.map((n) => [n, fresh()]))
  const secret = next[name] !== undefined && next[name] !== '' ? next[name] : fresh()
  next[name] = secret
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  // Written whole to a temporary file first: a reader never sees half a file.
  const tmp = `${file}.${randomUUID()}.tmp`
  writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 })
  try {
    if (existing === undefined) {
      // link() fails when the file exists: of two processes starting together
      // on a fresh folder, one creates it and the other reads that one.
      try {
        linkSync(tmp, file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        return keptSecret(file, name)
      }
    } else {
      renameSync(tmp, file)
    }
  } finally {
    rmSync(tmp, { force: true })
  }
  return secret
}

/** The settings document that keeps development secrets on MongoDB. */
export const MONGO_SECRETS_ID = 'development_secrets'

/**
 * loadConfig with development secrets kept where the data is (see above): the
 * server and the CLI load their configuration through this. On MongoDB the
 * secrets are read from (or first written to) the database before the
 * configuration is final; production never generates secrets, so it never
 * connects here.
 */
export async function loadServiceConfig (env: Record<string, string | undefined>, warn: (msg: string) => void): Promise<Config> {
  // A first pass validates the environment, with no side effect.
  const probe = loadConfig(env, () => {}, () => ephemeralSecrets)
  const needed = env.JWT_SECRET === undefined || env.REFRESH_TOKEN_SECRET === undefined
  if (probe.MONGODB_URL === undefined || probe.NODE_ENV === 'production' || !needed) return loadConfig(env, warn, devSecrets)
  const url = probe.MONGODB_URL
  const kept = await mongoSecrets(url, writeConcernFor(probe.MONGODB_WRITE_CONCERN))
  return loadConfig(env, warn, () => ({
    secret: (name) => kept[name] ?? fresh(),
    note: `using a generated secret kept in the database's settings collection (${mongoDatabaseName(url)}; development only; delete that document to change it)`
  }))
}

async function mongoSecrets (url: string, writeConcern = MAJORITY): Promise<Secrets> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 })
  try {
    await client.connect()
    return await keptSettings(client.db(mongoDatabaseName(url)), MONGO_SECRETS_ID,
      Object.fromEntries(NAMES.map((n) => [n, fresh()])), writeConcern)
  } finally {
    await client.close()
  }
}
