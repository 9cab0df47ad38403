// The CLI on the embedded SQLite store: it opens the service's file (the
// default one under the working directory), `backup FILE` copies it and
// `restore FILE` puts a copy back, never under a running process.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import t from 'tap'
import { SqliteStore } from '../../src/store/sqlite-store.js'
import { build, login } from '../helper.js'
import { cli, ENV, FILE_ENV } from '../support/cli.js'
import { scratchDir } from '../support/stores.js'

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'main', 'cli.js')

// Every case spawns the CLI, a few seconds each on a busy machine.
t.setTimeout(300_000)

t.test('user create writes the service\'s SQLite file: the service logs the user in', async (t) => {
  const dir = scratchDir(t)
  const res = await cli(['user', 'create', '--username', 'Keeper', '--password-stdin'], FILE_ENV, 'a-long-keeper-password\n', dir)
  t.equal(res.code, 0, res.stderr)
  t.equal(res.stderr, '', 'no warning: nothing vanishes')
  const file = join(dir, 'data', 'token-orchestrator.sqlite')
  t.ok(existsSync(file), 'the default file under the working directory, folder created')
  const store = new SqliteStore(file)
  t.teardown(() => store.close())
  const app = await build(t, { store })
  const session = await login(app, 'keeper', 'a-long-keeper-password')
  t.type(session.access_token, 'string', 'a service on that file logs the user in')
})

t.test('backup FILE copies the SQLite database; refuses :memory:, MongoDB, a missing database and an existing FILE', async (t) => {
  const dir = scratchDir(t)
  const made = await cli(['user', 'create', '--username', 'saved', '--password', 'a-long-password'], FILE_ENV, undefined, dir)
  t.equal(made.code, 0, made.stderr)
  const ok = await cli(['backup', 'copy.sqlite'], FILE_ENV, undefined, dir)
  t.equal(ok.code, 0, ok.stderr)
  t.same(JSON.parse(ok.stdout), {
    database: join(dir, 'data', 'token-orchestrator.sqlite'), backup: join(dir, 'copy.sqlite'), bytes: statSync(join(dir, 'copy.sqlite')).size
  })
  t.equal(ok.stderr, '', 'no progress line when stderr is not a terminal, and no warning')
  const copy = new SqliteStore(join(dir, 'copy.sqlite'))
  t.teardown(() => copy.close())
  t.equal((await copy.users.findByUsername('saved'))?.username, 'saved', 'the copy holds the user')
  if (process.platform !== 'win32') {
    const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8)
    t.equal(mode(join(dir, 'data')), '700', 'the data folder the CLI created: 0700')
    t.equal(mode(join(dir, 'data', 'token-orchestrator.sqlite')), '600', 'the database: 0600')
    t.equal(mode(join(dir, 'copy.sqlite')), '600', 'the backup: 0600')
  }

  const again = await cli(['backup', 'copy.sqlite'], FILE_ENV, undefined, dir)
  t.equal(again.code, 1)
  t.match(again.stderr, /copy\.sqlite already exists/)
  const memory = await cli(['backup', 'x.sqlite'], ENV, undefined, dir)
  t.equal(memory.code, 1)
  t.match(memory.stderr, /SQLITE_PATH is :memory:/)
  const mongo = await cli(['backup', 'x.sqlite'], { ...FILE_ENV, MONGODB_URL: 'mongodb://127.0.0.1:1/x' }, undefined, dir)
  t.equal(mongo.code, 1)
  t.match(mongo.stderr, /use mongodump/)
  const missing = await cli(['backup', 'x.sqlite'], { ...FILE_ENV, SQLITE_PATH: 'nowhere/db.sqlite' }, undefined, dir)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /there is no database at/)
  t.notOk(existsSync(join(dir, 'nowhere')), 'nothing created')
  const noFile = await cli(['backup'], FILE_ENV, undefined, dir)
  t.equal(noFile.code, 2)
  t.match(noFile.stderr, /missing required argument 'file'/)
})

t.test('restore FILE replaces the database with the backup, and refuses while a process has it open', async (t) => {
  const dir = scratchDir(t)
  const database = join(dir, 'data', 'token-orchestrator.sqlite')
  t.equal((await cli(['user', 'create', '--username', 'saved', '--password', 'a-long-password'], FILE_ENV, undefined, dir)).code, 0)
  t.equal((await cli(['backup', 'copy.sqlite'], FILE_ENV, undefined, dir)).code, 0)
  t.equal((await cli(['user', 'create', '--username', 'later', '--password', 'a-long-password'], FILE_ENV, undefined, dir)).code, 0)

  // A service on the database (an open connection, idle between requests): refused, nothing changed.
  const service = new SqliteStore(database)
  const busy = await cli(['restore', 'copy.sqlite'], FILE_ENV, undefined, dir)
  t.equal(busy.code, 1)
  t.match(busy.stderr, /conflict: the database .*token-orchestrator\.sqlite is in use by another process: stop every service and CLI process on it/)
  t.ok(await service.users.findByUsername('later'), 'the database is untouched')
  t.same(readdirSync(join(dir, 'data')).filter((f) => /restore/.test(f)), [], 'nothing left beside it')
  await service.close()

  const done = await cli(['restore', 'copy.sqlite'], FILE_ENV, undefined, dir)
  t.equal(done.code, 0, done.stderr)
  const answer = JSON.parse(done.stdout)
  t.match(answer, { database, restored_from: join(dir, 'copy.sqlite'), schema_version: Number })
  t.match(answer.previous, /token-orchestrator\.sqlite\.before-restore-/)
  const after = new SqliteStore(database)
  t.teardown(() => after.close())
  t.ok(await after.users.findByUsername('saved'), 'the backup\'s user')
  t.equal(await after.users.findByUsername('later'), null, 'not the user created after the backup')
  const before = new SqliteStore(answer.previous)
  t.ok(await before.users.findByUsername('later'), 'the replaced database is kept, whole')
  await before.close()
  if (process.platform !== 'win32') t.equal((statSync(database).mode & 0o777).toString(8), '600', 'the restored database: 0600')
  const app = await build(t, { store: after })
  t.type((await login(app, 'saved', 'a-long-password')).access_token, 'string', 'a service on it logs the user in')
})

t.test('restore refuses what is not a backup of this service, MongoDB, :memory: and its own file', async (t) => {
  const dir = scratchDir(t)
  t.equal((await cli(['user', 'create', '--username', 'kept', '--password', 'a-long-password'], FILE_ENV, undefined, dir)).code, 0)
  writeFileSync(join(dir, 'garbage.sqlite'), 'not a database at all, just some text that is long enough')
  const other = new Database(join(dir, 'other.sqlite'))
  other.exec('CREATE TABLE things (id INTEGER)')
  other.close()
  t.equal((await cli(['backup', 'newer.sqlite'], FILE_ENV, undefined, dir)).code, 0)
  const newer = new Database(join(dir, 'newer.sqlite'))
  newer.pragma('user_version = 999')
  newer.close()
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['restore', 'missing.sqlite'], FILE_ENV, /not_found: there is no backup at/],
    [['restore', 'garbage.sqlite'], FILE_ENV, /invalid_request: .*garbage\.sqlite is not a readable SQLite database/],
    [['restore', 'other.sqlite'], FILE_ENV, /invalid_request: .*other\.sqlite is not a Token Orchestrator database/],
    [['restore', 'newer.sqlite'], FILE_ENV, /invalid_request: .*newer\.sqlite has schema version 999, newer than this code knows/],
    [['restore', 'data/token-orchestrator.sqlite'], FILE_ENV, /conflict: .* is the database itself/],
    [['restore', 'newer.sqlite'], { ...FILE_ENV, MONGODB_URL: 'mongodb://127.0.0.1:1/x' }, /use mongorestore/],
    [['restore', 'newer.sqlite'], ENV, /SQLITE_PATH is :memory:: there is no database file to restore/]
  ]
  for (const [argv, env, message] of cases) {
    const res = await cli(argv, env, undefined, dir)
    t.equal(res.code, 1, argv.join(' '))
    t.match(res.stderr, message)
  }
  const store = new SqliteStore(join(dir, 'data', 'token-orchestrator.sqlite'))
  t.teardown(() => store.close())
  t.ok(await store.users.findByUsername('kept'), 'the database is untouched by every refusal')
})

// `script` gives the CLI a terminal; without it (not util-linux) the line cannot be seen here.
const script = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p))
t.test('backup and restore of a large database draw a progress line on a terminal', { skip: script === undefined ? 'no script(1) to give the CLI a terminal' : false }, async (t) => {
  const dir = scratchDir(t)
  t.equal((await cli(['user', 'create', '--username', 'big', '--password', 'a-long-password'], FILE_ENV, undefined, dir)).code, 0)
  const db = new Database(join(dir, 'data', 'token-orchestrator.sqlite'))
  db.exec('CREATE TABLE padding (b BLOB); INSERT INTO padding VALUES (zeroblob(24 * 1024 * 1024))')
  db.close()
  const onTerminal = (argv: string[]): ReturnType<typeof spawnSync> => spawnSync(script ?? '', ['-qec', [process.execPath, CLI, ...argv].join(' '), '/dev/null'], {
    cwd: dir, env: { PATH: process.env.PATH ?? '', ...FILE_ENV }, encoding: 'utf8', timeout: 60_000
  })
  const backup = onTerminal(['backup', 'big.sqlite'])
  t.equal(backup.status, 0, String(backup.stdout))
  t.match(String(backup.stdout), /\rbackup: \d+% \([\d.]+ of 2[4-9]\.\d MiB\)/, 'the line, rewritten in place')
  t.match(String(backup.stdout), /\rbackup: 100% \(([\d.]+) of \1 MiB\)\r?\n/, 'ends at 100 % with a newline')
  const restore = onTerminal(['restore', 'big.sqlite'])
  t.equal(restore.status, 0, String(restore.stdout))
  t.match(String(restore.stdout), /\rrestore: 100% \(([\d.]+) of \1 MiB\)\r?\n/)
})
