// Starts the real entry point (dist/src/server.js) as a child process on a free
// loopback port, for end-to-end tests; stops it in teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { TEST_ENV } from '../helper.js'

const serverEntry = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'server.js')

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
}

export async function startServer (t: Test, env: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freePort()
  const child = spawn(process.execPath, [serverEntry], {
    env: { PATH: process.env.PATH ?? '', ...TEST_ENV, LOG_LEVEL: 'info', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}): ${out}`)
    try {
      const res = await fetch(`${url}/health`)
      if (res.ok) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`server did not start in time: ${out}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { url, port, child, output: () => out, exited }
}
