// Starts the real entry point (dist/src/main/server.js) as a child process on a free
// loopback port, for end-to-end tests; stops it in teardown. The JSON log on
// stdout is also kept parsed, line by line, for tests that follow the server
// through it.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { TEST_ENV } from '../helper.js'

const serverEntry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'main', 'server.js')

/**
 * For processes that act as one service (sharing a store, or one restarted on
 * another port): the same PUBLIC_URL, hence the same default `iss`, as
 * instances behind one load balancer have.
 */
export const ONE_SERVICE = { PUBLIC_URL: 'http://127.0.0.1:4000' }

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => resolve(port))
    })
  })
}

export interface RunningServer {
  url: string
  port: number
  child: ChildProcess
  /** Everything the process wrote to stdout and stderr so far. */
  output: () => string
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>
  /** Resolves with the exit code and the signal, if a signal ended it. */
  ended: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** The JSON log lines of stdout so far, parsed. */
  logs: Array<Record<string, unknown>>
  /** stdout lines that were not JSON (there should be none). */
  otherOutput: string[]
}

/**
 * `env.PORT`, when given, is the port to listen on (to restart a server where it was); else a free one.
 * `unset` names variables of the test environment to leave out (e.g. the secrets, to have them generated).
 */
export async function startServer (t: Test, env: Record<string, string> = {}, opts: { unset?: readonly string[] } = {}): Promise<RunningServer> {
  const port = env.PORT !== undefined ? Number(env.PORT) : await freePort()
  // A scratch working directory: server.ts reads .env from its cwd, and a
  // developer's .env must not change what the tests run.
  const cwd = mkdtempSync(join(tmpdir(), 'token-orchestrator-e2e-'))
  const childEnv: Record<string, string> = { PATH: process.env.PATH ?? '', ...TEST_ENV, LOG_LEVEL: 'info', ...env, PORT: String(port), HOST: '127.0.0.1' }
  for (const name of opts.unset ?? []) delete childEnv[name]
  const child = spawn(process.execPath, [serverEntry], {
    cwd,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let pending = ''
  const logs: Array<Record<string, unknown>> = []
  const otherOutput: string[] = []
  child.stdout!.on('data', (d: Buffer) => {
    const text = d.toString()
    out += text
    pending += text
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      if (line === '') continue
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        otherOutput.push(line)
      }
    }
  })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const ended = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const exited = ended.then(({ code }) => code)
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    rmSync(cwd, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  // Generous: a loaded CI machine can take many seconds to load the modules.
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}): ${out}`)
    try {
      const res = await fetch(`${url}/health`)
      if (res.ok) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`server did not start in time: ${out}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { url, port, child, output: () => out, exited, ended, logs, otherOutput }
}
