// CLI commands on the embedded SQLite file as a whole: backup and restore.
// On MongoDB these are mongodump's and mongorestore's job.
import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { AppError } from '../../errors.js'
import { ensureSqliteFolder, MEMORY, sqliteFile } from '../../store/location.js'
import { restoreDatabase } from '../../store/sqlite-files.js'
import { SqliteStore } from '../../store/sqlite-store.js'
import type { Config } from '../config.js'
import type { CliCommand } from './command.js'
import { progressLine } from './progress.js'

function databaseFile (config: Config, command: string, tool: string): string {
  if (config.MONGODB_URL !== undefined) {
    throw new AppError('conflict', `${command} works on the embedded SQLite database; the store is MongoDB (MONGODB_URL is set): use ${tool}`)
  }
  const file = sqliteFile(config.SQLITE_PATH)
  if (file === MEMORY) throw new AppError('conflict', `SQLITE_PATH is :memory:: there is no database file to ${command === 'backup' ? 'back up' : 'restore'}`)
  return file
}

export const databaseCommands: CliCommand[] = [
  {
    name: 'backup',
    args: ['<file>'],
    summary: 'Copy the embedded SQLite database to FILE while the service runs',
    details: `Writes an online, consistent copy of the embedded SQLite database
(SQLITE_PATH) to FILE (mode 0600), which must not exist yet. The service may
keep running and writing meanwhile. Restore it with "restore FILE". On MongoDB
use mongodump instead. On a terminal, a large database shows a progress line.`,
    store: 'none',
    run: async (ctx) => {
      const source = databaseFile(ctx.config, 'backup', 'mongodump')
      if (!existsSync(source)) throw new AppError('not_found', `there is no database at ${source}`)
      const destination = resolve(ctx.args[0] as string)
      if (existsSync(destination)) throw new AppError('conflict', `${destination} already exists; give a new file name`)
      const store = new SqliteStore(source)
      const progress = progressLine('backup', ctx.stderr)
      try {
        await store.backup(destination, progress.update)
      } finally {
        progress.end()
        await store.close()
      }
      return { database: source, backup: destination, bytes: statSync(destination).size }
    }
  },

  {
    name: 'restore',
    args: ['<file>'],
    summary: 'Replace the embedded SQLite database with the backup FILE',
    details: `Copies the backup FILE (checked first: a sound SQLite database of this
service, of a schema this release can migrate) to SQLITE_PATH. Refused while
any process has the database open: stop every service and CLI process on it
first. The database that was there is not deleted: it is moved beside it, to
<SQLITE_PATH>.before-restore-<time>. Keep the secrets that go with the backup
(JWT_SECRET and REFRESH_TOKEN_SECRET, or the development secrets.json): without
them the restored sessions and signing keys are useless. On MongoDB use
mongorestore instead. On a terminal, a large backup shows a progress line.`,
    store: 'none',
    writes: true,
    run: async (ctx) => {
      const target = databaseFile(ctx.config, 'restore', 'mongorestore')
      const source = resolve(ctx.args[0] as string)
      if (!existsSync(source)) throw new AppError('not_found', `there is no backup at ${source}`)
      if (source === target) throw new AppError('conflict', `${source} is the database itself`)
      ensureSqliteFolder(target)
      const progress = progressLine('restore', ctx.stderr)
      try {
        return { ...(await restoreDatabase(source, target, progress.update)), restored_from: source }
      } finally {
        progress.end()
      }
    }
  }
]
