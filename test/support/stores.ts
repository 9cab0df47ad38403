// Stores for tests: a fresh SQLite database in memory (the embedded store the
// service runs on, without a file), or on a file in a scratch folder that the
// test removes when it ends.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite-store.js'

/** A throw-away in-memory SQLite store. */
export function memoryStore (options: SqliteStoreOptions = {}): SqliteStore {
  return new SqliteStore(':memory:', options)
}

/** A scratch folder removed in teardown. */
export function scratchDir (t: Test, prefix = 'token-orchestrator-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A SQLite store on a new file in a scratch folder, closed and removed in teardown. */
export function fileStore (t: Test, options: SqliteStoreOptions = {}): SqliteStore {
  const store = new SqliteStore(join(scratchDir(t), 'store.sqlite'), options)
  t.teardown(() => store.close())
  return store
}
