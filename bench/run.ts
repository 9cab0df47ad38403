// `npm run bench`: the service against the ceiling and its peers, in one run on
// one machine. Five servers run as child processes, so none shares its event
// loop with autocannon (which runs here):
//   ceiling   bench/ceiling.ts: bare Fastify, same routes and schemas, constant answers
//   floor     bench/floor.ts: the same constant answers served with the service's
//             per-answer obligations (its server options and logger, request ids,
//             response headers, latency histogram); a reference, not a target
//   service   dist/src/main/server.js with its defaults (LOG_LEVEL info, metrics on,
//             the embedded store in a fresh temporary directory)
//   peers     bench/peer-fastify-jwt.ts (a minimal @fastify/jwt route) and
//             bench/peer-express.ts (Express + jsonwebtoken), each answering
//             the same validate request
// Each case drives the servers in turn, round after round (interleaved), so that
// drift and the other load on the machine hit all of them alike; a ratio is
// the median over rounds of each round's service rate divided by the
// neighbouring round's rate of the other server. Prints req/s, p50/p99 and
// CPU per request for each server, the ratios, and PASS/MISS per target.
// A benchmark, not a test: nothing here fails a build.
//
// Knobs (environment): BENCH_DURATION (s per round, 4), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (50), BENCH_ONLY (e.g. "hot,verify": only the cases whose
// name contains one of the words; the login and memory cases are "login" and
// "memory"; "DPoP" is the bound-token validate case and proofs/s, compared with
// "hot"), BENCH_PROFILE=1 (the service runs with --cpu-prof into
// bench-profiles/; summarize with dist/bench/profile-summary.js),
// BENCH_SERVICE_ROOT (another checkout's root, built, to compare before and
// after), BENCH_OUT (also write the results as JSON to that file), BENCH_PIN=0
// (do not pin; see `pinning` below), BENCH_WARM (200: every server first gets
// 200 rounds of a mix of other requests, as a service in production has
// answered for hours: see `warmMix`; 0 measures the servers unwarmed). The
// machine-level case ("workers") runs the service with WORKERS = 1 … cores,
// unpinned, after the others.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { arch, cpus, loadavg, platform, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { es256Prover } from './dpop.js'
import { accessTokenMinter } from './tokens.js'

const distBench = dirname(fileURLToPath(import.meta.url))
const root = join(distBench, '..', '..')
const serviceRoot = resolve(process.env.BENCH_SERVICE_ROOT ?? root)
const DURATION = Number(process.env.BENCH_DURATION ?? 4)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const ONLY = process.env.BENCH_ONLY?.split(',').map((w) => w.trim()).filter((w) => w !== '')
const wanted = (name: string): boolean => ONLY === undefined || ONLY.some((w) => name.includes(w))
const WARM = Number(process.env.BENCH_WARM ?? 200)
const DISTINCT = 10_000
const BATCH = 100

// Random per run: production (NODE_ENV=production, as the servers run) refuses secrets that are not.
const SECRET = randomBytes(48).toString('base64url')
const REFRESH_SECRET = randomBytes(48).toString('base64url')
const ISSUER = 'token-orchestrator'
const AUDIENCE = 'token-orchestrator'

/**
 * With two cores or more and `taskset` (Linux), every server runs on the last
 * core and autocannon (this process) on the first. Unpinned, the scheduler
 * moves the four processes between cores from one round to the next, and a
 * server's rate then swings by a third between rounds on a 2-core machine;
 * pinned, each server has the same one core to itself in its turn, so a ratio
 * compares the servers' own costs.
 */
function pinning (): { server: string[], label: string } {
  const cores = cpus().length
  if (process.env.BENCH_PIN === '0' || cores < 2 || platform() !== 'linux') return { server: [], label: 'none' }
  const serverCore = String(cores - 1)
  const self = spawnSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' })
  if (self.status !== 0) return { server: [], label: 'none (taskset unavailable)' }
  return { server: ['taskset', '-c', serverCore], label: `each server on core ${serverCore}, autocannon on core 0` }
}
const PIN = pinning()

/** Runs `node args` under the servers' pinning. */
function spawnNode (args: string[], options: Parameters<typeof spawn>[2]): ChildProcess {
  const [command, ...prefix] = [...PIN.server, process.execPath]
  return spawn(command!, [...prefix, ...args], options)
}

type ServerName = 'ceiling' | 'floor' | 'service' | 'fastifyJwt' | 'express'
const LABEL: Record<ServerName, string> = {
  ceiling: 'ceiling (bare Fastify)',
  floor: 'floor (ceiling + logger, ids, headers, histogram)',
  service: 'service',
  fastifyJwt: '@fastify/jwt route',
  express: 'Express + jsonwebtoken'
}
const ORDER: ServerName[] = ['ceiling', 'floor', 'service', 'fastifyJwt', 'express']

interface Sample {
  rps: number
  p50: number
  p99: number
  /** Server CPU time (user + system) per request, in µs: less sensitive than req/s to other load on the machine. */
  cpuUs: number
}
const NONE: Sample = { rps: NaN, p50: NaN, p99: NaN, cpuUs: NaN }

const CLOCK_TICKS = 100
/** utime + stime of a process, in seconds (Linux /proc; NaN elsewhere). */
function cpuSeconds (pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return NaN
  }
}

async function freePort (): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  srv.close()
  await once(srv, 'close')
  return port
}

/** What every server is told: where to listen, and the token secret and claims. Nothing else from our own environment. */
function serverEnv (port: number): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    // One process, as the single-process targets are stated (production's default is auto).
    WORKERS: '1',
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET: SECRET,
    REFRESH_TOKEN_SECRET: REFRESH_SECRET,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    // The login case sends thousands of logins from one address: the per-IP
    // limit of the credential routes would answer most of them 429.
    RATE_LIMIT_AUTH: '1000000000',
    // ... on one account, 8 at a time: each login in flight holds a lockout
    // reservation, so the default threshold (5) would refuse some of them.
    LOCKOUT_THRESHOLD: '1000'
  }
}

interface Running { url: string, child: ChildProcess }

async function waitReady (url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`)
    try {
      const res = await fetch(`${url}/health`)
      if (res.ok) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not start`)
}

async function start (name: string, script: string, cwd: string, extraArgs: string[] = []): Promise<Running> {
  const port = await freePort()
  // Logs go to /dev/null: the service pays for writing them, nobody reads them.
  const child = spawnNode([...extraArgs, script], { cwd, env: serverEnv(port), stdio: ['ignore', 'ignore', 'inherit'] })
  const url = `http://127.0.0.1:${port}`
  await waitReady(url, child)
  process.stderr.write(`bench: ${name} listening on ${url} (pid ${child.pid})\n`)
  return { url, child }
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await once(child, 'exit')
  clearTimeout(timer)
}

function runNode (args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // The raw argon2 figure is taken on the service's core, like the logins it is compared with.
    const child = spawnNode(args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
    child.on('exit', (code) => code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited with ${code}`)))
  })
}

/**
 * A service in production also answers health checks, scrapes, key fetches,
 * logins, refreshes, admin and OAuth calls, and errors. Those answers (other
 * status codes, header sets and body types) reach the same shared code as the
 * hot routes and leave it less specialised. With BENCH_WARM=N every server
 * gets N rounds of this mix first, the same requests for all (the others
 * answer most of them 404), so the cases measure a service in that state.
 */
function warmMix (token: string): Array<{ path: string, init: RequestInit }> {
  const post = (path: string, body: string, type = 'application/json'): { path: string, init: RequestInit } =>
    ({ path, init: { method: 'POST', headers: { 'content-type': type }, body } })
  const get = (path: string, headers: Record<string, string> = {}): { path: string, init: RequestInit } => ({ path, init: { headers } })
  return [
    get('/health'), get('/ready'), get('/metrics'), get('/.well-known/jwks.json'),
    get('/.well-known/oauth-authorization-server'), get('/no/such/route'), get('/admin/clients'),
    get('/admin/clients', { authorization: `Bearer ${token}` }), get('/auth/verify'), get('/auth/verify', { authorization: 'Bearer x.y.z' }),
    post('/auth/login', JSON.stringify({ username: 'nobody.here', password: 'not the password' })),
    post('/auth/refresh', JSON.stringify({ refresh_token: 'not-a-token' })),
    post('/auth/refresh', '{"refresh_token":'),
    post('/token/validate', JSON.stringify({ token: 'not-a-token' })),
    post('/token/validate', JSON.stringify({ nothing: true })),
    post('/token/validate/batch', JSON.stringify({ tokens: ['a', token] })),
    post('/oauth/token', 'grant_type=client_credentials&client_id=nobody&client_secret=wrong', 'application/x-www-form-urlencoded'),
    post('/oauth/introspect', 'token=x', 'application/x-www-form-urlencoded')
  ]
}

async function warm (url: string, mix: ReturnType<typeof warmMix>, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await Promise.all(mix.map(async (m) => { await (await fetch(url + m.path, m.init)).arrayBuffer() }))
  }
}

type Load = Omit<autocannon.Options, 'url'>

async function cannon (url: string, load: Load, duration = DURATION, pid?: number): Promise<Sample> {
  const cpuBefore = cpuSeconds(pid)
  const result = await autocannon({ url, connections: CONNECTIONS, duration, ...load })
  const cpu = cpuSeconds(pid) - cpuBefore
  const bad = result.non2xx + result.errors + result.timeouts
  if (bad > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`)
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpuUs: (cpu * 1e6) / result.requests.total }
}

const json = (body: unknown): Pick<autocannon.Request, 'method' | 'headers' | 'body'> => ({
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body)
})

/** autocannon setupRequest: the next of `tokens` in turn, across all connections. */
function nextToken (tokens: string[]): (req: autocannon.Request) => autocannon.Request {
  const bodies = tokens.map((token) => JSON.stringify({ token }))
  let i = 0
  return (req) => {
    i = (i + 1) % bodies.length
    return { ...req, body: bodies[i]! }
  }
}

function postJson (url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

function median (values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function summarize (samples: Sample[]): Sample {
  if (samples.length === 0) return NONE
  return {
    rps: samples.reduce((s, x) => s + x.rps, 0) / samples.length,
    p50: median(samples.map((s) => s.p50)),
    p99: median(samples.map((s) => s.p99)),
    cpuUs: median(samples.map((s) => s.cpuUs))
  }
}

/** The median over rounds of (service units/s) / (other's units/s) in the same round. */
function pairedRatio (service: Sample[], other: Sample[], serviceUnits: number, otherUnits: number): number {
  return median(service.map((s, i) => other[i] === undefined ? NaN : (s.rps * serviceUnits) / (other[i]!.rps * otherUnits)))
}

/** What one server is asked in a case. */
interface Drive { path: string, load: Load, units: number, note?: string }

interface Case {
  name: string
  unitLabel: string
  drives: Partial<Record<ServerName, Drive>>
}

interface CaseResult {
  name: string
  unitLabel: string
  samples: Partial<Record<ServerName, Sample>>
  /** units/s of each server (req/s × units per request). */
  rates: Partial<Record<ServerName, number>>
  notes: Partial<Record<ServerName, string>>
  ratios: Partial<Record<ServerName, number>>
}

interface Target { name: string, measured: number, target: number, atMost?: boolean, unit: string }

/** One service run for the machine-level table: WORKERS=n, on every core. */
interface MachineRow { workers: number, validate: number, verify: number, loadCores: number }

/**
 * The machine-level table: the service with WORKERS = 1, 2, … up to the
 * cores, each on every core (unpinned), driven by this process in turn, round
 * after round, with the validate and the gateway-verify requests. On a small
 * machine autocannon competes with the workers for the same cores: the
 * table says how many cores it took (its CPU time over the wall time).
 */
async function machineTable (): Promise<MachineRow[]> {
  const cores = cpus().length
  const all = `0-${cores - 1}`
  const unpin = (pid: number): void => { spawnSync('taskset', ['-a', '-cp', all, String(pid)], { stdio: 'ignore' }) }
  if (PIN.server.length > 0) unpin(process.pid)
  const counts = Array.from({ length: cores }, (_, i) => i + 1)
  const runs: Array<{ workers: number, url: string, child: ChildProcess, cwd: string, token: string }> = []
  try {
    for (const workers of counts) {
      const cwd = mkdtempSync(join(tmpdir(), 'token-orchestrator-bench-workers-'))
      const port = await freePort()
      const args = [join(serviceRoot, 'dist', 'src', 'main', 'server.js')]
      const env = { ...serverEnv(port), WORKERS: String(workers) }
      const child = PIN.server.length > 0
        ? spawn('taskset', ['-c', all, process.execPath, ...args], { cwd, env, stdio: ['ignore', 'ignore', 'inherit'] })
        : spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'ignore', 'inherit'] })
      const url = `http://127.0.0.1:${port}`
      runs.push({ workers, url, child, cwd, token: '' })
      await waitReady(url, child)
      const username = `bench.workers.${workers}`
      const password = 'correct horse battery staple'
      await postJson(`${url}/auth/register`, { username, password })
      const res = await postJson(`${url}/auth/login`, { username, password })
      runs.at(-1)!.token = (await res.json() as { access_token: string }).access_token
      if (WARM > 0) await warm(url, warmMix(runs.at(-1)!.token), WARM)
      process.stderr.write(`bench: service with WORKERS=${workers} listening on ${url}\n`)
    }
    const rates = new Map<number, { validate: number[], verify: number[], load: number[] }>()
    const drive = async (run: typeof runs[number], kind: 'validate' | 'verify', duration: number): Promise<void> => {
      const load: Load = kind === 'validate' ? json({ token: run.token }) : { method: 'GET', headers: { authorization: `Bearer ${run.token}` } }
      const before = process.cpuUsage()
      const wall = performance.now()
      const s = await cannon(`${run.url}${kind === 'validate' ? '/token/validate' : '/auth/verify'}`, load, duration)
      const used = process.cpuUsage(before)
      const row = rates.get(run.workers) ?? { validate: [], verify: [], load: [] }
      rates.set(run.workers, row)
      row[kind].push(s.rps)
      row.load.push((used.user + used.system) / 1000 / (performance.now() - wall))
    }
    for (const run of runs) for (const kind of ['validate', 'verify'] as const) await drive(run, kind, 1)
    rates.clear()
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of ['validate', 'verify'] as const) for (const run of runs) await drive(run, kind, DURATION)
    }
    return counts.map((workers) => {
      const r = rates.get(workers)!
      return { workers, validate: median(r.validate), verify: median(r.verify), loadCores: median(r.load) }
    })
  } finally {
    for (const run of runs) {
      await stop(run.child)
      rmSync(run.cwd, { recursive: true, force: true })
    }
  }
}

async function main (): Promise<void> {
  const started = new Date()
  const loadAtStart = loadavg()
  const profile = process.env.BENCH_PROFILE === '1'
  const profileArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench-profiles')}`] : []
  // The service's own working directory: its embedded store (and nothing of ours, like a .env) lives there.
  const serviceCwd = mkdtempSync(join(tmpdir(), 'token-orchestrator-bench-'))
  const servers: Partial<Record<ServerName, Running>> = {}
  const results: CaseResult[] = []
  let login: { service: Sample, rawArgon2: number } | undefined
  let bytesPerJti = NaN
  try {
    servers.ceiling = await start('ceiling', join(distBench, 'ceiling.js'), root)
    servers.floor = await start('floor', join(distBench, 'floor.js'), root)
    servers.service = await start('service', join(serviceRoot, 'dist', 'src', 'main', 'server.js'), serviceCwd, profileArgs)
    servers.fastifyJwt = await start('@fastify/jwt peer', join(distBench, 'peer-fastify-jwt.js'), root)
    servers.express = await start('Express peer', join(distBench, 'peer-express.js'), root)
    const service = servers.service

    // A real user and a token from a real login: the hot token.
    const username = `bench.${process.pid}`
    const password = 'correct horse battery staple'
    const reg = await postJson(`${service.url}/auth/register`, { username, password })
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`)
    const loginRes = await postJson(`${service.url}/auth/login`, { username, password })
    if (loginRes.status !== 200) throw new Error(`login: ${loginRes.status} ${await loginRes.text()}`)
    const hot = (await loginRes.json() as { access_token: string }).access_token

    // A DPoP-bound token from a login with a proof (htu: the service's PUBLIC_URL, its default here),
    // validated with a fresh proof per request, as a resource server forwards it.
    const prover = es256Prover()
    const publicUrl = `http://localhost:${new URL(service.url).port}`
    const boundRes = await fetch(`${service.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', dpop: prover.proof('POST', `${publicUrl}/auth/login`) },
      body: JSON.stringify({ username, password })
    })
    if (boundRes.status !== 200) throw new Error(`DPoP login: ${boundRes.status} ${await boundRes.text()}`)
    const bound = (await boundRes.json() as { access_token: string }).access_token
    const resource = { method: 'GET', url: 'https://api.example.com/orders' }
    const boundBody = (): string => JSON.stringify({ token: bound, dpop: { proof: prover.proof(resource.method, resource.url, bound), ...resource } })
    const boundCheck = async (): Promise<void> => {
      const res = await fetch(`${service.url}/token/validate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: boundBody() })
      const body = await res.json() as { valid: boolean }
      if (!body.valid) throw new Error(`a DPoP-bound bench token does not validate: ${JSON.stringify(body)}`)
    }
    await boundCheck()

    const mint = accessTokenMinter({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE, ttl: 900 })
    const distinct = Array.from({ length: DISTINCT }, () => mint())
    // Every server must really accept the tokens, or the numbers measure a failure path.
    for (const name of ['service', 'fastifyJwt', 'express'] as const) {
      for (const token of [hot, distinct[0]!, distinct[DISTINCT - 1]!]) {
        const res = await postJson(`${servers[name]!.url}/token/validate`, { token })
        const body = await res.json() as { valid: boolean }
        if (!body.valid) throw new Error(`${name}: a bench token does not validate: ${JSON.stringify(body)}`)
      }
    }
    const verifyCheck = await fetch(`${service.url}/auth/verify`, { headers: { authorization: `Bearer ${hot}` } })
    if (verifyCheck.status !== 200) throw new Error(`gateway verify answers ${verifyCheck.status}`)
    if (WARM > 0) {
      const mix = warmMix(hot)
      for (const name of ORDER) await warm(servers[name]!.url, mix, WARM)
    }

    const hotValidate: Drive = { path: '/token/validate', load: json({ token: hot }), units: 1 }
    // One request whose body changes each time: a `requests` array of 10,000 would be
    // rebuilt by every connection before the first round starts.
    const distinctValidate = (): Drive => ({
      path: '/token/validate',
      load: { requests: [{ path: '/token/validate', ...json({ token: hot }), setupRequest: nextToken(distinct) }] },
      units: 1
    })
    const onlyValidate = (note: string): Partial<Record<ServerName, Drive>> =>
      ({ fastifyJwt: { ...hotValidate, note }, express: { ...hotValidate, note } })
    const verifyDrive: Drive = { path: '/auth/verify', load: { method: 'GET', headers: { authorization: `Bearer ${hot}` } }, units: 1 }
    const cases: Case[] = [
      {
        name: 'validate, one hot token',
        unitLabel: 'req/s',
        drives: { ceiling: hotValidate, floor: hotValidate, service: hotValidate, fastifyJwt: hotValidate, express: hotValidate }
      },
      {
        name: `validate, ${DISTINCT.toLocaleString('en')} distinct tokens in turn`,
        unitLabel: 'req/s',
        drives: { ceiling: distinctValidate(), service: distinctValidate(), fastifyJwt: distinctValidate(), express: distinctValidate() }
      },
      {
        name: 'gateway verify',
        unitLabel: 'req/s',
        drives: { ceiling: verifyDrive, floor: verifyDrive, service: verifyDrive, ...onlyValidate('validate, one hot token') }
      },
      {
        // Compared with the service's own 'validate, one hot token' (the same token path, unbound).
        name: 'validate, DPoP-bound token, a fresh proof each request',
        unitLabel: 'req/s',
        drives: {
          service: {
            path: '/token/validate',
            load: { requests: [{ path: '/token/validate', ...json({}), setupRequest: (req) => ({ ...req, body: boundBody() }) }] },
            units: 1
          }
        }
      },
      {
        name: `batch validate, ${BATCH} distinct tokens a request`,
        unitLabel: 'tokens/s',
        drives: {
          // Compared, in tokens/s, with validating one token a request.
          ceiling: { ...hotValidate, note: 'validate, one token a request' },
          service: {
            path: '/token/validate/batch',
            load: {
              requests: Array.from({ length: DISTINCT / BATCH }, (_, i) => ({
                path: '/token/validate/batch', ...json({ tokens: distinct.slice(i * BATCH, (i + 1) * BATCH) })
              }))
            },
            units: BATCH
          },
          ...onlyValidate('validate, one token a request')
        }
      }
    ]

    for (const c of cases.filter((c) => wanted(c.name))) {
      const names = ORDER.filter((n) => c.drives[n] !== undefined)
      const samples: Partial<Record<ServerName, Sample[]>> = {}
      const drive = async (name: ServerName, duration: number): Promise<Sample> => {
        const d = c.drives[name]!
        return cannon(servers[name]!.url + d.path, d.load, duration, servers[name]!.child.pid)
      }
      try {
        for (const name of names) await drive(name, 1) // warm-up: JIT and caches
        for (let round = 0; round < ROUNDS; round++) {
          for (const name of names) (samples[name] ??= []).push(await drive(name, DURATION))
        }
      } catch (err) {
        // An older build under BENCH_SERVICE_ROOT may lack a route: report it, go on.
        process.stderr.write(`bench: ${c.name}: ${(err as Error).message}\n`)
        continue
      }
      const r: CaseResult = { name: c.name, unitLabel: c.unitLabel, samples: {}, rates: {}, notes: {}, ratios: {} }
      const own = c.drives.service!
      for (const name of names) {
        const d = c.drives[name]!
        r.samples[name] = summarize(samples[name]!)
        r.rates[name] = r.samples[name].rps * d.units
        if (d.note !== undefined) r.notes[name] = d.note
        if (name !== 'service') r.ratios[name] = pairedRatio(samples.service!, samples[name]!, own.units, d.units)
      }
      results.push(r)
      process.stderr.write(`bench: ${c.name}: service ${r.rates.service!.toFixed(0)} ${c.unitLabel}, ` +
        names.filter((n) => n !== 'service').map((n) => `${(r.ratios[n] ?? NaN).toFixed(2)} × ${LABEL[n]}`).join(', ') + '\n')
    }

    // validate answers 200 either way: a bound token refused during the case would have measured a failure.
    if (results.some((r) => r.name.startsWith('validate, DPoP-bound'))) await boundCheck()

    // Login against raw argon2 verifications with the same parameters, on the same cores.
    if (wanted('login')) {
      const s = await cannon(`${service.url}/auth/login`, { ...json({ username, password }), connections: 8 }, 8, service.child.pid)
      const raw = JSON.parse(await runNode([join(distBench, 'argon2-raw.js'), '6', '8'])) as { verifiesPerSecond: number }
      login = { service: s, rawArgon2: raw.verifiesPerSecond }
    }
  } finally {
    for (const running of Object.values(servers)) await stop(running.child)
    rmSync(serviceCwd, { recursive: true, force: true })
  }
  let proofsPerSecond = NaN
  if (wanted('DPoP')) {
    proofsPerSecond = (JSON.parse(await runNode([join(distBench, 'dpop-proofs.js'), '20000'])) as { proofsPerSecond: number }).proofsPerSecond
  }
  if (wanted('memory')) {
    const mem = JSON.parse(await runNode(['--expose-gc', join(distBench, 'memory.js'), '200000'])) as { bytesPerJti: number }
    bytesPerJti = mem.bytesPerJti
  }
  const machine = wanted('workers') ? await machineTable() : []

  const fmt = (n: number | undefined, d = 0): string => n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d)
  const out: string[] = []
  const cpu = cpus()
  out.push(`Token Orchestrator benchmark, ${started.toISOString()}`)
  out.push(`machine: ${cpu.length} cores, ${cpu[0]?.model ?? 'unknown CPU'}, ${platform()} ${arch()}, Node ${process.version}; ` +
    `load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at end`)
  out.push(`load: autocannon, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${DURATION} s per case and server; pinning: ${PIN.label}`)
  out.push(WARM > 0
    ? `warm-up: every server first got ${WARM} rounds of a mix of ${warmMix('').length} other requests (BENCH_WARM)`
    : 'warm-up: none beyond each case\'s own (BENCH_WARM=N sends every server a mix of other requests first)')
  out.push('service: its defaults (LOG_LEVEL info, metrics on, embedded store), NODE_ENV=production, RATE_LIMIT_AUTH and LOCKOUT_THRESHOLD raised for the login case')
  out.push('')
  out.push('| case | server | rate | p50 / p99 ms | CPU µs/req |')
  out.push('|---|---|---|---|---|')
  for (const r of results) {
    for (const name of ORDER) {
      const s = r.samples[name]
      if (s === undefined) continue
      const unit = name === 'service' ? r.unitLabel : 'req/s'
      const note = r.notes[name] !== undefined ? ` (${r.notes[name]})` : ''
      out.push(`| ${r.name} | ${LABEL[name]}${note} | ${fmt(r.rates[name])} ${unit} | ${fmt(s.p50, 1)} / ${fmt(s.p99, 1)} | ${fmt(s.cpuUs)} |`)
    }
  }
  if (login !== undefined) {
    out.push(`| login | service (8 connections) | ${fmt(login.service.rps)} req/s | ${fmt(login.service.p50, 1)} / ${fmt(login.service.p99, 1)} | ${fmt(login.service.cpuUs)} |`)
    out.push(`| login | raw argon2 verify (8 at a time) | ${fmt(login.rawArgon2)} /s | | |`)
  }
  const others = ORDER.filter((n) => n !== 'service')
  const ratioHeader = `| case | × ${others.map((n) => LABEL[n]).join(' | × ')} |\n|---|${others.map(() => '---').join('|')}|`
  out.push('')
  out.push('Ratios (service rate ÷ other server\'s rate, median of the rounds):')
  out.push('')
  out.push(ratioHeader)
  for (const r of results) {
    out.push(`| ${r.name} | ${others.map((n) => fmt(r.ratios[n], 2)).join(' | ')} |`)
  }

  // On a machine shared with other work, req/s follows whatever else runs;
  // the CPU time each server spends per request follows it much less.
  out.push('')
  out.push('The same by server CPU time per unit (other server\'s µs per request or token ÷ the service\'s), a check on a busy machine:')
  out.push('')
  out.push(ratioHeader)
  for (const r of results) {
    const perUnit = (n: ServerName): number => r.samples[n]!.cpuUs * r.samples[n]!.rps / r.rates[n]!
    const own = perUnit('service')
    out.push(`| ${r.name} | ${others.map((n) => {
      return r.samples[n] === undefined ? '-' : fmt(perUnit(n) / own, 2)
    }).join(' | ')} |`)
  }

  if (machine.length > 0) {
    const one = machine[0]!
    out.push('')
    out.push(`The machine: the service with WORKERS = 1 … ${machine.length}, every process free to run on any core, the same ` +
      'load generator (this process, one core at most) on the same machine:')
    out.push('')
    out.push('| WORKERS | validate req/s | × WORKERS=1 | gateway verify req/s | × WORKERS=1 | load generator, cores used |')
    out.push('|---|---|---|---|---|---|')
    for (const m of machine) {
      out.push(`| ${m.workers} | ${fmt(m.validate)} | ${fmt(m.validate / one.validate, 2)} | ${fmt(m.verify)} | ${fmt(m.verify / one.verify, 2)} | ${fmt(m.loadCores, 2)} |`)
    }
    out.push('')
    out.push('Per worker, the scaling factor is (× WORKERS=1) ÷ WORKERS. The load generator takes its cores from the same ' +
      'machine: on a machine with few cores the workers share what it leaves.')
  }

  const dpopCase = results.find((r) => r.name.startsWith('validate, DPoP-bound'))
  const unboundCase = results.find((r) => r.name.startsWith('validate, one hot token'))
  if (dpopCase !== undefined || !Number.isNaN(proofsPerSecond)) {
    out.push('')
    out.push('DPoP (one ES256 proof verification and one replay claim in the store per bound token; nothing for an unbound one):')
    out.push('')
    out.push('| measure | value |')
    out.push('|---|---|')
    if (unboundCase !== undefined) out.push(`| validate, unbound token | ${fmt(unboundCase.rates.service)} req/s |`)
    if (dpopCase !== undefined) out.push(`| validate, DPoP-bound token with a fresh proof | ${fmt(dpopCase.rates.service)} req/s |`)
    if (dpopCase !== undefined && unboundCase !== undefined) {
      out.push(`| bound ÷ unbound (medians of their rounds, not paired) | ${fmt(dpopCase.rates.service! / unboundCase.rates.service!, 2)} × |`)
    }
    if (!Number.isNaN(proofsPerSecond)) out.push(`| proofs verified per second, one process, no HTTP | ${fmt(proofsPerSecond)} /s |`)
  }

  const targets: Target[] = []
  const byName = (prefix: string): CaseResult | undefined => results.find((r) => r.name.startsWith(prefix))
  const hotCase = byName('validate, one hot token')
  if (hotCase !== undefined) {
    targets.push({ name: 'validate, one hot token vs ceiling', measured: hotCase.ratios.ceiling ?? NaN, target: 0.9, unit: '×' })
    targets.push({ name: 'validate, one hot token vs @fastify/jwt route', measured: hotCase.ratios.fastifyJwt ?? NaN, target: 0.9, unit: '×' })
    targets.push({ name: 'validate vs Express + jsonwebtoken', measured: hotCase.ratios.express ?? NaN, target: 20, unit: '×' })
  }
  const distinctCase = byName('validate, 10,000')
  if (distinctCase !== undefined) targets.push({ name: 'validate, 10,000 distinct tokens vs ceiling', measured: distinctCase.ratios.ceiling ?? NaN, target: 0.8, unit: '×' })
  const verifyCase = byName('gateway verify')
  if (verifyCase !== undefined) targets.push({ name: 'gateway verify vs ceiling', measured: verifyCase.ratios.ceiling ?? NaN, target: 0.9, unit: '×' })
  const batchCase = byName('batch validate')
  if (batchCase !== undefined) targets.push({ name: 'batch validate vs ceiling, tokens/s', measured: batchCase.ratios.ceiling ?? NaN, target: 5, unit: '×' })
  if (login !== undefined) targets.push({ name: 'login vs raw argon2', measured: login.service.rps / login.rawArgon2, target: 0.8, unit: '×' })
  if (!Number.isNaN(bytesPerJti)) targets.push({ name: 'memory per revoked jti (200,000 held)', measured: bytesPerJti, target: 150, atMost: true, unit: 'B' })

  out.push('')
  out.push('| target | measured | wanted | |')
  out.push('|---|---|---|---|')
  let passed = 0
  for (const t of targets) {
    const ok = t.atMost === true ? t.measured <= t.target : t.measured >= t.target
    if (ok) passed += 1
    const shown = t.unit === '×' ? `${fmt(t.measured, 2)} ×` : `${fmt(t.measured)} ${t.unit}`
    out.push(`| ${t.name} | ${shown} | ${t.atMost === true ? '≤' : '≥'} ${t.target} ${t.unit} | ${ok ? 'PASS' : 'MISS'} |`)
  }
  out.push('')
  out.push(`${passed} of ${targets.length} targets met. Took ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s.`)
  if (profile) out.push(`CPU profile of the service written to ${join(root, 'bench-profiles')}`)
  process.stdout.write(out.join('\n') + '\n')
  if (process.env.BENCH_OUT !== undefined) {
    writeFileSync(process.env.BENCH_OUT, JSON.stringify({
      started: started.toISOString(),
      machine: { cores: cpu.length, model: cpu[0]?.model, node: process.version },
      connections: CONNECTIONS,
      rounds: ROUNDS,
      duration: DURATION,
      warm: WARM,
      workers: machine,
      cases: results,
      login,
      bytesPerJti,
      proofsPerSecond,
      targets
    }, null, 2))
  }
}

await main()
