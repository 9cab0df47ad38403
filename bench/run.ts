// `npm run bench`: SPEC section 6. Starts the ceiling (bench/ceiling.ts) and the
// service (dist/src/server.js on the embedded store) as child processes, so
// neither shares its event loop with autocannon, and drives them in turn,
// interleaving ceiling and service rounds so that drift (thermal, noisy
// neighbours) hits both. Prints req/s, p50/p99 and the ratio to the ceiling,
// then which targets are met. A benchmark, not a test: nothing here fails a build.
//
// Knobs (environment): BENCH_DURATION (s per round, 4), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (50), BENCH_PROFILE=1 (service runs with --cpu-prof into
// bench-profiles/), BENCH_SERVICE_ROOT (another checkout's root, built, to
// compare before/after), BENCH_OUT (write the results as JSON to that file),
// BENCH_ONLY (e.g. "hot,verify": only the cases whose name contains one).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { accessTokenMinter } from './tokens.js'

const distBench = dirname(fileURLToPath(import.meta.url))
const root = join(distBench, '..', '..')
const serviceRoot = resolve(process.env.BENCH_SERVICE_ROOT ?? root)
const DURATION = Number(process.env.BENCH_DURATION ?? 4)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
/** Comma-separated words: run only the cases whose name contains one (e.g. "hot,verify,login,memory"). */
const ONLY = process.env.BENCH_ONLY?.split(',').map((w) => w.trim()).filter((w) => w !== '')
const wanted = (name: string): boolean => ONLY === undefined || ONLY.some((w) => name.includes(w))
const DISTINCT = 10_000
const BATCH = 100

const SECRET = 'bench-access-secret-0123456789-abcdefghijklmnopqrstuvwxyz'
const REFRESH_SECRET = 'bench-refresh-secret-0123456789-abcdefghijklmnopqrstuvwxyz'
const ISSUER = 'token-orchestrator'
const AUDIENCE = 'token-orchestrator'

interface Sample {
  rps: number
  p50: number
  p99: number
  /** Server CPU time (user + system) per request, in µs: robust to other load on the machine. */
  cpuUs: number
}

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
const CLOCK_TICKS = 100

async function freePort (): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  srv.close()
  await once(srv, 'close')
  return port
}

function baseEnv (port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    JWT_SECRET: SECRET,
    REFRESH_TOKEN_SECRET: REFRESH_SECRET,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    RATE_LIMIT_AUTH: '1000000000'
  }
  delete env.MONGODB_URL
  return env
}

async function waitReady (url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000
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

async function start (name: string, script: string, cwd: string, extraArgs: string[] = []): Promise<{ url: string, child: ChildProcess }> {
  const port = await freePort()
  // Logs go to /dev/null for both servers: same cost of writing, nothing to read.
  const child = spawn(process.execPath, [...extraArgs, script], { cwd, env: baseEnv(port), stdio: ['ignore', 'ignore', 'inherit'] })
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

function runNode (args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.on('exit', (code) => code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited with ${code}`)))
  })
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
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function summarize (samples: Sample[]): Sample {
  return {
    rps: samples.reduce((s, x) => s + x.rps, 0) / samples.length,
    p50: median(samples.map((s) => s.p50)),
    p99: median(samples.map((s) => s.p99)),
    cpuUs: median(samples.map((s) => s.cpuUs))
  }
}

/**
 * The ratio of each round to the ceiling round just before it, then the median:
 * neighbouring rounds share the machine's background load, so pairing them
 * cancels most of it.
 */
function pairedRatio (service: Sample[], ceiling: Sample[], units: number): number {
  return median(service.map((s, i) => (s.rps * units) / ceiling[i]!.rps))
}

interface Case {
  name: string
  path: string
  load: Load
  /** Ceiling load when it differs (batch is compared with the one-token ceiling). */
  ceilingPath?: string
  ceilingLoad?: Load
  /** Tokens per request, for tokens/s. */
  units: number
  target: number
  unitLabel: string
}

interface Row { name: string, service: Sample, ceiling: Sample, ratio: number, target: number, units: number, unitLabel: string }

async function main (): Promise<void> {
  const started = Date.now()
  const profile = process.env.BENCH_PROFILE === '1'
  const profileArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench-profiles')}`] : []
  const ceiling = await start('ceiling', join(distBench, 'ceiling.js'), root)
  const service = await start('service', join(serviceRoot, 'dist', 'src', 'main', 'server.js'), serviceRoot, profileArgs)
  const children = [ceiling.child, service.child]
  const rows: Row[] = []
  const extra: Record<string, number> = {}
  try {
    // A real user and a token from a real login: the hot token.
    const username = `bench.${process.pid}`
    const password = 'correct horse battery staple'
    const reg = await postJson(`${service.url}/auth/register`, { username, password })
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`)
    const loginRes = await postJson(`${service.url}/auth/login`, { username, password })
    if (loginRes.status !== 200) throw new Error(`login: ${loginRes.status} ${await loginRes.text()}`)
    const hot = (await loginRes.json() as { access_token: string }).access_token

    const mint = accessTokenMinter({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE, ttl: 900 })
    const distinct = Array.from({ length: DISTINCT }, () => mint())
    // Every token must really validate, or the numbers measure a failure path.
    for (const token of [hot, distinct[0]!, distinct[DISTINCT - 1]!]) {
      const res = await postJson(`${service.url}/token/validate`, { token })
      const body = await res.json() as { valid: boolean }
      if (!body.valid) throw new Error(`bench token does not validate: ${JSON.stringify(body)}`)
    }
    const verifyCheck = await fetch(`${service.url}/auth/verify`, { headers: { authorization: `Bearer ${hot}` } })
    if (verifyCheck.status !== 200) process.stderr.write(`bench: gateway verify answers ${verifyCheck.status}\n`)

    const validateOne = json({ token: hot })
    const cases: Case[] = [
      { name: 'validate, one hot token', path: '/token/validate', load: { ...validateOne }, units: 1, target: 0.85, unitLabel: 'req/s' },
      {
        name: `validate, ${DISTINCT} distinct tokens`,
        path: '/token/validate',
        // One request whose body changes each time: a `requests` array of 10,000 would be
        // rebuilt by every connection before the first round starts (10 s of client time).
        load: { requests: [{ path: '/token/validate', ...json({ token: hot }), setupRequest: nextToken(distinct) }] },
        units: 1,
        target: 0.6,
        unitLabel: 'req/s'
      },
      {
        name: 'gateway verify',
        path: '/auth/verify',
        load: { method: 'GET', headers: { authorization: `Bearer ${hot}` } },
        units: 1,
        target: 0.85,
        unitLabel: 'req/s'
      },
      {
        name: `batch validate, ${BATCH} distinct tokens`,
        path: '/token/validate/batch',
        load: {
          requests: Array.from({ length: DISTINCT / BATCH }, (_, i) => ({
            path: '/token/validate/batch', ...json({ tokens: distinct.slice(i * BATCH, (i + 1) * BATCH) })
          }))
        },
        ceilingPath: '/token/validate',
        ceilingLoad: { ...validateOne },
        units: BATCH,
        target: 3,
        unitLabel: 'tokens/s'
      }
    ]

    for (const c of cases.filter((c) => wanted(c.name))) {
      const ceilingPath = c.ceilingPath ?? c.path
      const ceilingLoad = c.ceilingLoad ?? c.load
      const ceilingSamples: Sample[] = []
      const serviceSamples: Sample[] = []
      try {
        await cannon(ceiling.url + ceilingPath, ceilingLoad, 1)
        await cannon(service.url + c.path, c.load, 1)
        for (let round = 0; round < ROUNDS; round++) {
          ceilingSamples.push(await cannon(ceiling.url + ceilingPath, ceilingLoad, DURATION, ceiling.child.pid))
          serviceSamples.push(await cannon(service.url + c.path, c.load, DURATION, service.child.pid))
        }
      } catch (err) {
        // An older build under BENCH_SERVICE_ROOT may lack a route: report it, go on.
        process.stderr.write(`bench: ${c.name}: ${(err as Error).message}\n`)
        const none = { rps: NaN, p50: NaN, p99: NaN, cpuUs: NaN }
        rows.push({ name: `${c.name} (failed)`, service: none, ceiling: none, ratio: NaN, target: c.target, units: c.units, unitLabel: c.unitLabel })
        continue
      }
      const s = summarize(serviceSamples)
      const ce = summarize(ceilingSamples)
      const row: Row = { name: c.name, service: s, ceiling: ce, ratio: pairedRatio(serviceSamples, ceilingSamples, c.units), target: c.target, units: c.units, unitLabel: c.unitLabel }
      rows.push(row)
      process.stderr.write(`bench: ${c.name}: ${(s.rps * c.units).toFixed(0)} ${c.unitLabel} vs ceiling ${ce.rps.toFixed(0)} req/s → ${row.ratio.toFixed(2)}\n`)
    }

    // Login against raw argon2 verifications with the same parameters.
    if (wanted('login')) {
      const login = await cannon(`${service.url}/auth/login`, { ...json({ username, password }), connections: 8 }, 8, service.child.pid)
      const raw = JSON.parse(await runNode([join(distBench, 'argon2-raw.js'), '6', '8'])) as { verifiesPerSecond: number }
      rows.push({
        name: 'login (vs raw argon2 verifies/s)',
        service: login,
        ceiling: { rps: raw.verifiesPerSecond, p50: NaN, p99: NaN, cpuUs: NaN },
        ratio: login.rps / raw.verifiesPerSecond,
        target: 0.8,
        units: 1,
        unitLabel: 'req/s'
      })
    }

    if (wanted('memory')) {
      const mem = JSON.parse(await runNode(['--expose-gc', join(distBench, 'memory.js'), '200000'])) as { bytesPerJti: number }
      extra.bytesPerJti = mem.bytesPerJti
    }
  } finally {
    for (const child of children) await stop(child)
  }

  const fmt = (n: number, d = 0): string => Number.isNaN(n) ? '-' : n.toFixed(d)
  const lines = [
    '| case | service | p50 / p99 ms | CPU µs/req | ceiling req/s | ceiling p50 / p99 ms | ceiling CPU µs/req | ratio | target | met |',
    '|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const r of rows) {
    lines.push(`| ${r.name} | ${fmt(r.service.rps * r.units)} ${r.unitLabel} | ${fmt(r.service.p50, 1)} / ${fmt(r.service.p99, 1)} | ${fmt(r.service.cpuUs)} | ` +
      `${fmt(r.ceiling.rps)} | ${fmt(r.ceiling.p50, 1)} / ${fmt(r.ceiling.p99, 1)} | ${fmt(r.ceiling.cpuUs)} | ${fmt(r.ratio, 2)} | ≥ ${r.target} | ${r.ratio >= r.target ? 'yes' : 'NO'} |`)
  }
  const bytes = extra.bytesPerJti ?? NaN
  lines.push(`| memory per revoked jti (200,000 held) | ${fmt(bytes, 0)} bytes | | | | | | | ≤ 150 | ${bytes <= 150 ? 'yes' : 'NO'} |`)
  const met = rows.filter((r) => r.ratio >= r.target).length + (bytes <= 150 ? 1 : 0)
  process.stdout.write(`\nToken Orchestrator benchmark: node ${process.version}, ${CONNECTIONS} connections, ` +
    `${ROUNDS} interleaved rounds of ${DURATION} s per case, LOG_LEVEL=${process.env.LOG_LEVEL ?? 'info'}\n\n`)
  process.stdout.write(lines.join('\n') + '\n\n')
  process.stdout.write(`SPEC section 6 targets met: ${met} of ${rows.length + 1}. Took ${((Date.now() - started) / 1000).toFixed(0)} s.\n`)
  if (profile) process.stdout.write(`CPU profile of the service written to ${join(root, 'bench-profiles')}\n`)
  if (process.env.BENCH_OUT !== undefined) {
    writeFileSync(process.env.BENCH_OUT, JSON.stringify({ rows, bytesPerJti: bytes }, null, 2))
  }
}

await main()
