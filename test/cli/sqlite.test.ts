// The CLI on the embedded SQLite store: it opens the service's file (the
// default one under the working directory), and `backup FILE` copies it.
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { SqliteStore } from '../../src/store/sqlite-store.js'
import { build, login } from '../helper.js'
import { cli, ENV, FILE_ENV } from '../support/cli.js'
import { scratchDir } from '../support/stores.js'

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
  t.same(JSON.parse(ok.stdout), { database: join(dir, 'data', 'token-orchestrator.sqlite'), backup: join(dir, 'copy.sqlite') })
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
  t.match(noFile.stderr, /expected 1 argument/)
})
