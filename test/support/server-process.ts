// End-to-end tests run the real server: `node dist/src/server.js`, listening
// on 127.0.0.1 on a port the kernel picks (PORT=0), with the test secrets and
// cheap argon2 of test/helper.ts. The JSON log is collected line by line; the
// listening address is read from it, so there is no free-port race.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { TEST_ENV } from '../helper.js'

const SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'server.js')

export interface ServerProcess {
  child: ChildProcess
  /** http://127.0.0.1:PORT */
  url: string
  port: number
  /** Parsed JSON log lines so far (stdout). */
  logs: Array<Record<string, unknown>>
  /** stdout lines that were not JSON (there should be none). */
  otherOutput: string[]
  stderr: string[]
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface StartOptions {
  env?: Record<string, string>
  /** How long to wait for the listening line before giving up (ms). */
  startTimeout?: number
}

export async function startServer (t: Test, opts: StartOptions = {}): Promise<ServerProcess> {
  // A scratch working directory: server.ts reads .env from its cwd, and a
  // developer's .env must not change what the tests run.
  const cwd = mkdtempSync(join(tmpdir(), 'token-orchestrator-e2e-'))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    ...TEST_ENV,
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: '0',
    ...opts.env
  }
  const child = spawn(process.execPath, [SERVER], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const logs: Array<Record<string, unknown>> = []
  const otherOutput: string[] = []
  const stderr: string[] = []
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    rmSync(cwd, { recursive: true, force: true })
  })

  let listening: (url: string) => void = () => {}
  const url = new Promise<string>((resolve) => { listening = resolve })
  let pending = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      if (line === '') continue
      try {
        const entry = JSON.parse(line) as Record<string, unknown>
        logs.push(entry)
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg))
        if (match?.[1] !== undefined) listening(match[1])
      } catch {
        otherOutput.push(line)
      }
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr.push(chunk) })

  const timeout = opts.startTimeout ?? 20_000
  let timer: NodeJS.Timeout | undefined
  const address = await Promise.race([
    url,
    exited.then(({ code }) => { throw new Error(`server exited (${code}) before listening: ${stderr.join('')}`) }),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`server not listening after ${timeout} ms: ${stderr.join('')}`)), timeout)
    })
  ]).finally(() => clearTimeout(timer))
  return { child, url: address, port: Number(new URL(address).port), logs, otherOutput, stderr, exited }
}
