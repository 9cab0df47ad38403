// The container image's runtime stage, without a Docker engine: this test
// reads the Dockerfile and performs the runtime stage's instructions in a
// clean folder that stands for the container's root (/app, /data, …), on the
// output of this run's `npm run build` (what the build stage makes), then
// starts CMD and checks that the service serves, that HEALTHCHECK passes and
// that the image's CLI works. An instruction it does not know fails the test,
// so a step added to the Dockerfile cannot go unchecked.
//
// What it cannot check: the base image itself, USER (the service runs as the
// user running the test; the stage's USER is checked to be non-root), and
// better-sqlite3's download of its prebuilt binary during `npm ci` (no
// network here): prebuild-install is given the binary this checkout compiled,
// in the place of the download (a .prebuild-installrc above /app), so the
// stage's steps run as written without compiling SQLite again.
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { TEST_ENV } from '../helper.js'
import { freePort } from '../support/server-process.js'
import { scratchDir } from '../support/stores.js'

t.setTimeout(600_000)

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface Instruction { keyword: string, args: string, line: number }
interface Stage { name: string, image: string, instructions: Instruction[] }

/** The Dockerfile's stages: continuation lines joined, comments and the parser directive dropped. */
function parseDockerfile (text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1
    let line = lines[i] ?? ''
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + (lines[++i] ?? '').trim()
    line = line.trim()
    if (line === '' || line.startsWith('#')) continue
    const [keyword = '', ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    if (keyword.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      stages.push({ image: m?.[1] ?? '', name: m?.[2] ?? String(stages.length), instructions: [] })
    } else {
      stages[stages.length - 1]?.instructions.push({ keyword: keyword.toUpperCase(), args, line: start })
    }
  }
  return stages
}

/** `--flag=value` options in front of an instruction's arguments. */
function flags (args: string): { flags: Record<string, string>, rest: string } {
  const out: Record<string, string> = {}
  let rest = args
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m !== null; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    out[m[1] ?? ''] = m[2] ?? ''
    rest = rest.slice(m[0].length)
  }
  return { flags: out, rest }
}

const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
const build = stages.find((s) => s.name === 'build')
const runtime = stages[stages.length - 1]

t.test('the Dockerfile: a build stage, then a runtime stage on the Node.js 20 image, non-root, with /data and a HEALTHCHECK on /ready', async (t) => {
  t.ok(build, 'a stage named build')
  t.match(build?.image, /^node:20(-|$)/)
  t.same(build?.instructions.map((i) => `${i.keyword} ${i.args}`), [
    'WORKDIR /app',
    'COPY package.json package-lock.json ./',
    'COPY packages/verifier/package.json packages/verifier/',
    'RUN npm ci --no-audit --no-fund',
    'COPY . .',
    'RUN npm run build'
  ], 'it is this checkout after npm ci and npm run build, which the test run did')
  t.equal(runtime?.name, 'runtime')
  t.match(runtime?.image, /^node:20-[a-z]+-slim$/, 'the runtime stage starts from the slim Node.js 20 image')
  const kinds = runtime?.instructions.map((i) => i.keyword) ?? []
  const user = runtime?.instructions.find((i) => i.keyword === 'USER')
  t.ok(user !== undefined && user.args !== 'root' && user.args !== '0', 'runs as a user other than root')
  t.ok(kinds.indexOf('USER') < kinds.indexOf('CMD'), 'before CMD')
  t.match(runtime?.instructions.find((i) => i.keyword === 'VOLUME')?.args, /"\/data"/)
  t.match(runtime?.instructions.find((i) => i.keyword === 'ENV')?.args, /SQLITE_PATH=\/data\//, 'the database in the volume')
  t.match(runtime?.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.args, /\/ready/)
  t.same(JSON.parse(runtime?.instructions.find((i) => i.keyword === 'CMD')?.args ?? '[]'), ['node', 'dist/src/main/server.js'],
    'starts the server directly: no npm, no build at start')
})

t.test('the runtime stage\'s steps in a clean folder give a service that serves', async (t) => {
  if (runtime === undefined) throw new Error('no runtime stage')
  const root = scratchDir(t, 'runtime-stage-')
  /** A container path in the stand-in root. */
  const at = (path: string, cwd: string): string => join(root, posix.isAbsolute(path) ? path : posix.join(cwd, path))
  const volumes: string[] = []
  const env: Record<string, string> = {}
  let workdir = '/'
  let healthcheck: string[] = []
  let cmd: string[] = []

  // better-sqlite3's prebuilt binary where prebuild-install looks before downloading (see the header).
  const prebuilds = scratchDir(t, 'prebuilds-')
  const sqlitePkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string }
  const archive = join(prebuilds, `better-sqlite3-v${sqlitePkg.version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`)
  const tar = spawnSync('tar', ['czf', archive, '-C', join(ROOT, 'node_modules', 'better-sqlite3'), 'build/Release/better_sqlite3.node'])
  t.equal(tar.status, 0, 'the binary packed for prebuild-install')
  // Read by prebuild-install (rc walks up from the package to the stand-in root, outside /app): not a file of the image.
  writeFileSync(join(root, '.prebuild-installrc'), `local-prebuilds=${prebuilds}\n`)

  for (const { keyword, args, line } of runtime.instructions) {
    const where = `Dockerfile line ${line}: ${keyword} ${args}`
    switch (keyword) {
      case 'ENV':
        for (const pair of args.split(/\s+/)) {
          const [name = '', value = ''] = pair.split(/=(.*)/s)
          env[name] = value
        }
        break
      case 'WORKDIR':
        workdir = posix.resolve(workdir, args)
        mkdirSync(at(workdir, '/'), { recursive: true })
        break
      case 'COPY': {
        const { flags: f, rest } = flags(args)
        t.equal(f.from, 'build', `${where}: copies only what the build stage made`)
        const parts = rest.split(/\s+/)
        const dest = parts.pop() ?? ''
        for (const src of parts) {
          t.ok(src.startsWith('/app/'), `${where}: from the build stage's /app`)
          const from = join(ROOT, src.slice('/app/'.length))
          const target = dest.endsWith('/') || parts.length > 1 ? join(at(dest, workdir), posix.basename(src)) : at(dest, workdir)
          if (statSync(from).isDirectory()) cpSync(from, at(dest, workdir), { recursive: true })
          else {
            mkdirSync(dirname(target), { recursive: true })
            cpSync(from, target)
          }
        }
        break
      }
      case 'RUN': {
        const { rest } = flags(args)
        for (const step of rest.split(/\s*&&\s*/)) {
          const [command = '', ...words] = step.split(/\s+/)
          const cwd = at(workdir, '/')
          if (command === 'npm') {
            const res = spawnSync('npm', words, {
              cwd,
              encoding: 'utf8',
              timeout: 420_000,
              env: { ...process.env, ...env }
            })
            t.equal(res.status, 0, `${where}: ${res.stderr.slice(-2000)}`)
            t.notMatch(res.stderr, /EBADENGINE/, 'no engine warning')
            t.notMatch(res.stderr, /gyp/, 'no native compilation: the prebuilt binary was used')
          } else if (command === 'mkdir' && words[0] === '-p' && words.length === 2) {
            mkdirSync(at(words[1] ?? '', workdir), { recursive: true })
          } else if (command === 'chmod' && words.length === 2) {
            spawnSync('chmod', [words[0] ?? '', at(words[1] ?? '', workdir)])
          } else if (command === 'chown' && words.length === 2) {
            // The owner is the image's user; here everything belongs to the user running the test.
            t.equal(words[0], `${runtime.instructions.find((i) => i.keyword === 'USER')?.args ?? ''}:${runtime.instructions.find((i) => i.keyword === 'USER')?.args ?? ''}`,
              `${where}: given to the USER the service runs as`)
          } else if (command === 'ln' && words[0] === '-s' && words.length === 3) {
            mkdirSync(dirname(at(words[2] ?? '', workdir)), { recursive: true })
            symlinkSync(at(words[1] ?? '', workdir), at(words[2] ?? '', workdir))
          } else {
            t.fail(`${where}: this test does not know the step "${step}"; teach it`)
          }
        }
        break
      }
      case 'VOLUME':
        for (const v of JSON.parse(args) as string[]) volumes.push(v)
        break
      case 'HEALTHCHECK':
        healthcheck = JSON.parse(flags(args).rest.replace(/^CMD\s+/, '')) as string[]
        break
      case 'CMD':
        cmd = JSON.parse(args) as string[]
        break
      case 'USER': case 'EXPOSE': case 'STOPSIGNAL':
        break
      default:
        t.fail(`${where}: this test does not know ${keyword}; teach it`)
    }
  }

  // Container paths in the environment point into the stand-in root.
  const containerEnv = Object.fromEntries(Object.entries(env).map(([k, v]) =>
    [k, isAbsolute(v) && volumes.some((vol) => v.startsWith(`${vol}/`)) ? join(root, v) : v]))
  const app = at(workdir, '/')
  t.same(readdirSync(join(app, 'dist')).sort(), ['plugins', 'routes', 'src'], 'the compiled service only: no tests, no bench')
  for (const dev of ['typescript', 'tap', 'eslint', 'c8', 'autocannon']) t.notOk(existsSync(join(app, 'node_modules', dev)), `no ${dev}`)
  for (const prod of ['fastify', 'commander', 'better-sqlite3', 'argon2', 'fast-jwt']) t.ok(existsSync(join(app, 'node_modules', prod)), `${prod} installed`)
  t.ok(existsSync(join(app, 'node_modules', '@token-orchestrator', 'verifier', 'dist', 'index.js')), 'the verifier workspace, built')
  t.equal((statSync(join(root, 'data')).mode & 0o777).toString(8), '700', '/data is 0700')

  // `docker run -e …`: production needs its secrets; the port and address of this test.
  const port = await freePort()
  const runEnv = {
    PATH: process.env.PATH ?? '',
    ...containerEnv,
    JWT_SECRET: TEST_ENV.JWT_SECRET ?? '',
    REFRESH_TOKEN_SECRET: TEST_ENV.REFRESH_TOKEN_SECRET ?? '',
    ARGON2_MEMORY_KIB: '8192',
    PORT: String(port),
    HOST: '127.0.0.1'
  }
  const [command, ...commandArgs] = cmd
  const child = spawn(command === 'node' ? process.execPath : command ?? '', commandArgs, { cwd: app, env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}): ${output}`)
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false)
    if (ok) break
    if (Date.now() > deadline) throw new Error(`the service did not start: ${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.same(await (await fetch(`${url}/health`)).json(), { status: 'ok' })
  t.equal((await fetch(`${url}/ready`)).status, 200, '/ready')
  const [probe, ...probeArgs] = healthcheck
  const health = spawnSync(probe === 'node' ? process.execPath : probe ?? '', probeArgs, { cwd: app, env: runEnv, encoding: 'utf8' })
  t.equal(health.status, 0, `the HEALTHCHECK command passes: ${health.stderr}`)

  const body = { username: 'container-user', password: 'a long enough password' }
  const json = { 'content-type': 'application/json' }
  t.equal((await fetch(`${url}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify(body) })).status, 201)
  const login = await fetch(`${url}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify(body) })
  t.equal(login.status, 200, 'argon2 and SQLite work from the production install')
  t.ok(existsSync(join(root, 'data', 'token-orchestrator.sqlite')), 'the database is in the volume')
  t.equal((await fetch(`${url}/docs`)).status, 200, 'Swagger UI is served')
  const logLine = output.split('\n').find((l) => l.startsWith('{'))
  t.ok(logLine !== undefined && JSON.parse(logLine).level !== undefined, 'logs are JSON (LOG_FORMAT=json)')

  // The image's CLI, on the service's database while it runs.
  const cli = spawnSync(process.execPath, [join(root, 'usr', 'local', 'bin', 'token-orchestrator'), 'user', 'get', 'container-user'], {
    cwd: app, env: runEnv, encoding: 'utf8'
  })
  t.equal(cli.status, 0, cli.stderr)
  t.equal(JSON.parse(cli.stdout).username, 'container-user')

  // docker stop: SIGTERM, a clean exit.
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM ends it with 0')
})
