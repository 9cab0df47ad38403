// Development secrets that survive a restart: outside production, a JWT_SECRET
// or REFRESH_TOKEN_SECRET left unset is generated once and kept in
// `secrets.json` (mode 0600) beside the SQLite database, so sessions and sealed
// signing keys stay usable across restarts, and the CLI and every process on
// that database use the same ones. With SQLITE_PATH=:memory: or MongoDB there
// is no local data folder to share: they stay ephemeral.
import { randomBytes, randomUUID } from 'node:crypto'
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { MEMORY, sqliteFile } from '../store/location.js'

type Secrets = Record<string, string>

const NAMES = ['JWT_SECRET', 'REFRESH_TOKEN_SECRET'] as const

/** The file that keeps generated secrets, or undefined when they stay ephemeral. */
export function devSecretsFile (config: { MONGODB_URL?: string | undefined, SQLITE_PATH: string }): string | undefined {
  if (config.MONGODB_URL !== undefined) return undefined
  const database = sqliteFile(config.SQLITE_PATH)
  return database === MEMORY ? undefined : join(dirname(database), 'secrets.json')
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
  mkdirSync(dirname(file), { recursive: true })
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
