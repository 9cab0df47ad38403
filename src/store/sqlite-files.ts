// Whole-file operations on the embedded database that must not run under a
// service: restoring a backup over it, and the check that no process has it
// open.
//
// "In use" is decided by SQLite itself. Every connection of this service runs
// the database in WAL mode, and SQLite leaves WAL mode (PRAGMA journal_mode =
// DELETE) only when no other connection has the file open; a reader or writer
// in another process makes it answer "wal" (or SQLITE_BUSY) instead. Once it
// is out of WAL mode, an EXCLUSIVE transaction keeps any process that starts
// meanwhile from using the old file while it is swapped.
import { randomUUID } from 'node:crypto'
import { closeSync, existsSync, openSync, renameSync, rmSync } from 'node:fs'
import Database from 'better-sqlite3'
import { AppError } from '../errors.js'
import { copyDatabase, MIGRATIONS, PRIVATE_FILE_MODE, type CopyProgress } from './sqlite-store.js'

const isBusy = (err: unknown): boolean =>
  err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_LOCKED'))

/**
 * Opens `file` and takes it for this process alone, or returns null when
 * another connection has it open. The caller closes the returned connection.
 */
export function takeIdleDatabase (file: string): Database.Database | null {
  const db = new Database(file, { fileMustExist: true })
  try {
    db.pragma('busy_timeout = 0')
    const mode = db.pragma('journal_mode = DELETE', { simple: true })
    if (mode !== 'delete') {
      db.close()
      return null
    }
    db.exec('BEGIN EXCLUSIVE')
    return db
  } catch (err) {
    db.close()
    if (isBusy(err)) return null
    throw err
  }
}

/** Checks that `file` is a sound database of this service that this code can open (migrating it forward). */
function checkBackup (file: string): number {
  let db: Database.Database
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch (err) {
    throw new AppError('invalid_request', `cannot open ${file}: ${(err as Error).message}`)
  }
  try {
    const check = db.pragma('quick_check', { simple: true })
    if (check !== 'ok') throw new AppError('invalid_request', `${file} is damaged (quick_check: ${String(check)})`)
    const version = db.pragma('user_version', { simple: true }) as number
    const users = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'users'").get()
    if (version === 0 || users === undefined) throw new AppError('invalid_request', `${file} is not a Token Orchestrator database`)
    if (version > MIGRATIONS.length) {
      throw new AppError('invalid_request', `${file} has schema version ${version}, newer than this code knows (${MIGRATIONS.length}); restore it with a newer release`)
    }
    return version
  } catch (err) {
    if (err instanceof AppError) throw err
    throw new AppError('invalid_request', `${file} is not a readable SQLite database: ${(err as Error).message}`)
  } finally {
    db.close()
  }
}

export interface Restored {
  /** The database file now holding the backup's data. */
  database: string
  /** Where the database that was there before was moved, or null when there was none. */
  previous: string | null
  /** The backup's schema version (the service migrates it forward at start). */
  schema_version: number
}

/**
 * Replaces the database `target` with a copy of the backup `source`. Refused
 * (conflict) while any process has `target` open; the database that was there
 * is kept beside it as `<target>.before-restore-<time>`, never deleted.
 */
export async function restoreDatabase (source: string, target: string, progress?: CopyProgress): Promise<Restored> {
  const version = checkBackup(source)
  const held = existsSync(target) ? takeIdleDatabase(target) : undefined
  if (held === null) {
    throw new AppError('conflict', `the database ${target} is in use by another process: stop every service and CLI process on it, then restore`)
  }
  const temporary = `${target}.restore-${randomUUID()}.tmp`
  try {
    closeSync(openSync(temporary, 'wx', PRIVATE_FILE_MODE))
    const from = new Database(source, { readonly: true, fileMustExist: true })
    try {
      await copyDatabase(from, temporary, progress)
    } finally {
      from.close()
    }
    let previous: string | null = null
    if (held !== undefined) {
      previous = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`
      renameSync(target, previous)
      // Out of WAL mode the old database has no -wal or -shm left that holds data.
      for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${target}${suffix}`, { force: true })
    }
    renameSync(temporary, target)
    return { database: target, previous, schema_version: version }
  } finally {
    rmSync(temporary, { force: true })
    held?.close()
  }
}
