// Where the data lives, decided one way for the service and the CLI: the SQLite
// file (SQLITE_PATH, relative to the working directory) when MONGODB_URL is
// unset, else the MongoDB database the URL names, or DEFAULT_MONGODB_DATABASE
// when it names none.
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

/** SQLITE_PATH for a throw-away database. */
export const MEMORY = ':memory:'
export const DEFAULT_SQLITE_PATH = 'data/token-orchestrator.sqlite'
export const DEFAULT_MONGODB_DATABASE = 'token-orchestrator'

/** The absolute path of the SQLite database, or ':memory:'. */
export function sqliteFile (path: string, cwd = process.cwd()): string {
  return path === MEMORY ? MEMORY : resolve(cwd, path)
}

/**
 * Creates the folder of a SQLite file (nothing for ':memory:'), readable by the
 * service's user only: it holds password hashes and signing keys. A folder that
 * already exists keeps the mode its owner gave it.
 */
export function ensureSqliteFolder (file: string): void {
  if (file !== MEMORY) mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
}

/**
 * The database a MongoDB connection string names (`mongodb://host/NAME?...`,
 * also with several hosts, credentials or mongodb+srv), else the default.
 * Parsed by hand: a host list `a:1,b:2` is not a URL the WHATWG parser accepts.
 */
export function mongoDatabaseName (url: string, fallback = DEFAULT_MONGODB_DATABASE): string {
  const withoutScheme = url.replace(/^mongodb(\+srv)?:\/\//, '')
  const query = withoutScheme.indexOf('?')
  const main = query === -1 ? withoutScheme : withoutScheme.slice(0, query)
  // Credentials end at the last '@' ('@' and '/' inside them are percent-encoded).
  const hostsAndPath = main.slice(main.lastIndexOf('@') + 1)
  const slash = hostsAndPath.indexOf('/')
  const name = slash === -1 ? '' : decodeURIComponent(hostsAndPath.slice(slash + 1))
  return name === '' ? fallback : name
}
