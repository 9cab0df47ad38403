// The CLI's surface: --version, --help for every command (each command of the
// list, so a new one is covered without editing this file), warnings only
// where they apply, and the list / get commands against a service's file.
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { COMMANDS, runCli } from '../../src/main/cli/program.js'
import { SqliteStore } from '../../src/store/sqlite-store.js'
import { build } from '../helper.js'
import { cli, ENV, FILE_ENV } from '../support/cli.js'
import { ADMIN_ENV, createClient } from '../support/clients.js'
import { scratchDir } from '../support/stores.js'

t.setTimeout(300_000)

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

/** The CLI in this process (same code as the bin, without a process per call). */
async function inProcess (argv: string[], env: Record<string, string> = ENV): Promise<{ code: number, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(argv, env, {
    stdout: { write: (s: string) => { stdout += s } },
    stderr: { write: (s: string) => { stderr += s }, isTTY: false },
    stdin: (async function * () {})()
  })
  return { code, stdout, stderr }
}

t.test('--version and -V print the package version', async (t) => {
  for (const flag of ['--version', '-V']) {
    const res = await cli([flag])
    t.equal(res.code, 0)
    t.equal(res.stdout, `${VERSION}\n`)
    t.equal(res.stderr, '')
  }
})

t.test('--help for the program, every group and every command', async (t) => {
  const main = await cli(['--help'])
  t.equal(main.code, 0)
  t.match(main.stdout, /^Usage: token-orchestrator \[options\] \[command\]/)
  t.match(main.stdout, /Exit status: 0 done,\s+1 refused \(a rule, the configuration or the store said no\), 2 usage error/)
  const groups = new Set(COMMANDS.map((c) => c.name.split(' ')).filter((w) => w.length === 2).map((w) => w[0] ?? ''))
  t.same([...groups], ['user', 'client', 'keys'])
  for (const group of groups) {
    t.match(main.stdout, new RegExp(`\\n  ${group} `), `${group} in the main help`)
    const res = await inProcess([group, '--help'])
    t.equal(res.code, 0, `${group} --help`)
    for (const c of COMMANDS.filter((c) => c.name.startsWith(`${group} `))) {
      t.match(res.stdout, new RegExp(`\\n  ${c.name.split(' ')[1] ?? ''} .*${c.summary.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), `${c.name} listed`)
    }
    const bare = await inProcess([group])
    t.equal(bare.code, 2, `${group} alone is a usage error`)
    t.match(bare.stderr, new RegExp(`^Usage: token-orchestrator ${group} `))
  }
  for (const c of COMMANDS) {
    const res = await inProcess([...c.name.split(' '), '--help'])
    t.equal(res.code, 0, `${c.name} --help`)
    t.match(res.stdout, new RegExp(`^Usage: token-orchestrator ${c.name}( |\\n)`), `${c.name}: its usage line`)
    t.match(res.stdout, c.summary.slice(0, 30))
    t.equal(res.stderr, '', `${c.name} --help does nothing else`)
    const word = c.name.split(' ')[0] ?? ''
    const helped = await inProcess(['help', word])
    t.equal(helped.code, 0, `help ${word}`)
    t.equal(helped.stdout, (await inProcess([word, '--help'])).stdout, 'help WORD is WORD --help')
  }
  // The bin itself, once per kind of command.
  for (const words of [['user', 'list'], ['restore']]) {
    const res = await cli([...words, '--help'])
    t.equal(res.code, 0)
    t.match(res.stdout, new RegExp(`^Usage: token-orchestrator ${words.join(' ')}`))
  }
})

t.test('warnings only where they apply', async (t) => {
  // No secrets set, on the default file: what needs no secret neither warns nor generates one.
  const dir = scratchDir(t)
  const env = { ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }
  const made = await cli(['user', 'create', '--username', 'quiet', '--password', 'a-long-password'], env, undefined, dir)
  t.equal(made.code, 0, made.stderr)
  t.equal(made.stderr, '', 'no development-secret warning for a command that uses no secret')
  t.notOk(existsSync(join(dir, 'data', 'secrets.json')), 'and no secret generated')
  for (const argv of [['user', 'list'], ['user', 'get', 'quiet'], ['client', 'list'], ['backup', 'copy.sqlite']]) {
    const res = await cli(argv, env, undefined, dir)
    t.equal(res.code, 0, `${argv.join(' ')}: ${res.stderr}`)
    t.equal(res.stderr, '', `${argv.join(' ')}: no warning`)
  }
  // Production without any secret: a command that needs none still works.
  const production = await cli(['user', 'list'], { ...env, NODE_ENV: 'production', METRICS_TOKEN: 'x'.repeat(16) }, undefined, dir)
  t.equal(production.code, 0, production.stderr)
  t.equal(production.stderr, '')
  // The service's own concerns are not the CLI's: a weak bootstrap password warns the service, not `user list`.
  const adminEnv = await cli(['user', 'list'], { ...env, ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'password' }, undefined, dir)
  t.equal(adminEnv.stderr, '')
  // A command that uses JWT_SECRET warns about it, and only about it.
  const rotate = await cli(['keys', 'rotate'], { ...env, JWT_ALGORITHM: 'ES256' }, undefined, dir)
  t.equal(rotate.code, 0, rotate.stderr)
  t.match(rotate.stderr, /^token-orchestrator: warning: JWT_SECRET is not set: using a generated secret kept in /)
  t.notMatch(rotate.stderr, /REFRESH_TOKEN_SECRET/)
  t.equal(rotate.stderr.split('\n').filter((l) => l !== '').length, 1, 'one warning')
  // A read on a throw-away database says what it reads.
  const memory = await cli(['user', 'list'], ENV)
  t.match(memory.stderr, /SQLITE_PATH is :memory:: this reads a new, empty database/)
  t.notMatch(memory.stderr, /VANISHES/)
})

t.test('user get / list, client get / list and keys list against a service\'s file', async (t) => {
  const dir = scratchDir(t)
  mkdirSync(join(dir, 'data'))
  const store = new SqliteStore(join(dir, 'data', 'token-orchestrator.sqlite'))
  t.teardown(() => store.close())
  const app = await build(t, { store, env: ADMIN_ENV })
  const client = await createClient(app, { name: 'orders', scopes: ['orders:read'] })
  for (const name of ['carol', 'alice', 'bob']) {
    const res = await cli(['user', 'create', '--username', name, '--password', 'a-long-password'], FILE_ENV, undefined, dir)
    t.equal(res.code, 0, res.stderr)
  }

  const got = await cli(['user', 'get', 'ALICE'], FILE_ENV, undefined, dir)
  t.equal(got.code, 0, got.stderr)
  const alice = JSON.parse(got.stdout)
  t.match(alice, { username: 'alice', roles: [], disabled: false, locked_until: null })
  t.equal(alice.id, (await store.users.findByUsername('alice'))?.id)
  t.notOk('password_hash' in alice || 'passwordHash' in alice, 'never the hash')
  const missing = await cli(['user', 'get', 'nobody'], FILE_ENV, undefined, dir)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /not_found: no user named "nobody"/)

  const page1 = JSON.parse((await cli(['user', 'list', '--limit', '2'], FILE_ENV, undefined, dir)).stdout)
  t.same(page1.users.map((u: { username: string }) => u.username), ['alice', 'bob'])
  t.equal(page1.next_after, 'bob')
  const page2 = JSON.parse((await cli(['user', 'list', '--limit', '2', '--after', page1.next_after], FILE_ENV, undefined, dir)).stdout)
  t.same(page2.users.map((u: { username: string }) => u.username), ['carol', 'root'], 'the bootstrap admin too')
  t.equal(page2.next_after, 'root', 'a full page: there may be more')
  const page3 = JSON.parse((await cli(['user', 'list', '--limit', '2', '--after', 'root'], FILE_ENV, undefined, dir)).stdout)
  t.same(page3, { users: [], next_after: null })
  const badLimit = await cli(['user', 'list', '--limit', '5000'], FILE_ENV, undefined, dir)
  t.equal(badLimit.code, 2)
  t.match(badLimit.stderr, /argument '5000' is invalid\. must be a whole number from 1 to 1000/)

  const one = await cli(['client', 'get', client.client_id], FILE_ENV, undefined, dir)
  t.equal(one.code, 0, one.stderr)
  t.match(JSON.parse(one.stdout), { client_id: client.client_id, name: 'orders', scopes: ['orders:read'], public: false })
  t.notMatch(one.stdout, /secret/, 'never a secret or its hash')
  const all = JSON.parse((await cli(['client', 'list'], FILE_ENV, undefined, dir)).stdout)
  t.same(all.clients.map((c: { client_id: string }) => c.client_id), [client.client_id])
  const noClient = await cli(['client', 'get', 'nope'], FILE_ENV, undefined, dir)
  t.equal(noClient.code, 1)
  t.match(noClient.stderr, /not_found: no such client/)

  const hs = await cli(['keys', 'list'], FILE_ENV, undefined, dir)
  t.equal(hs.code, 1)
  t.match(hs.stderr, /keys list needs JWT_ALGORITHM ES256, EdDSA or RS256 \(it is HS256\)/)
  // Keys that sign 1 s after they are published, so that one test sees every state.
  const es = { ...FILE_ENV, JWT_ALGORITHM: 'ES256', KEY_ROTATION_OVERLAP: '1', KEY_RING_SYNC_INTERVAL_MS: '100' }
  const rotate = async (env: Record<string, string>): Promise<{ kid: string, activates_at: string }> => {
    const res = await cli(['keys', 'rotate'], env, undefined, dir)
    t.equal(res.code, 0, res.stderr)
    return JSON.parse(res.stdout)
  }
  const a = await rotate(es)
  const b = await rotate(es)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const c = await rotate({ ...es, KEY_ROTATION_OVERLAP: '120' })
  // keys list needs no secret: JWT_SECRET left out.
  const noSecret = Object.fromEntries(Object.entries(es).filter(([name]) => name !== 'JWT_SECRET'))
  const listed = await cli(['keys', 'list'], noSecret, undefined, dir)
  t.equal(listed.code, 0, listed.stderr)
  t.equal(listed.stderr, '', 'no secret, no warning')
  const ring = JSON.parse(listed.stdout)
  t.equal(ring.algorithm, 'ES256')
  t.same(ring.keys.map((k: { kid: string, state: string }) => [k.kid, k.state]), [[a.kid, 'retired'], [b.kid, 'signing'], [c.kid, 'next']],
    'oldest first: the older active key only verifies, the newest active one signs, the one in its overlap is next')
  t.equal(ring.keys[2].activates_at, c.activates_at)
  t.type(ring.keys[0].expires_at, 'string', 'a retired key has an expiry')
  t.equal(ring.keys[2].expires_at, null, 'the newest key has none')
  t.notMatch(listed.stdout, /PRIVATE|privateKey|publicKey/, 'no key material')
})
