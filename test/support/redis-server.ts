// A real Redis for the tests: Debian's redis-server (.ci/run installs it),
// started on a free loopback port with no persistence, in a temp folder, and
// stopped in teardown. `kill()` and `restart()` (on the same port) let a test
// take it away mid-run and bring it back; `pause()`/`resume()` make it hang
// (SIGSTOP), as a Redis too slow to answer. Tests that need it call
// `redisUnavailable()` first and skip with that reason only when no
// redis-server can start.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { freePort } from './server-process.js'

export interface RedisServer {
  port: number
  /** redis://127.0.0.1:PORT */
  url: string
  /** SIGKILL: gone at once, connections reset. */
  kill: () => Promise<void>
  /** Starts it again on the same port (empty: no persistence). */
  restart: () => Promise<void>
  /** SIGSTOP: connections stay open, nothing answers. */
  pause: () => void
  resume: () => void
}

export function findRedisServer (): string | null {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const found = which.stdout.trim()
  if (which.status === 0 && found !== '') return found
  for (const candidate of ['/usr/bin/redis-server', '/usr/sbin/redis-server', '/usr/local/bin/redis-server']) {
    if (existsSync(candidate)) return candidate
  }
  return null
}

let probed: string | false | undefined

/** Why no redis-server can run here (a skip reason), or false when one can. Probed once per file. */
export async function redisUnavailable (): Promise<string | false> {
  if (probed !== undefined) return probed
  const binary = findRedisServer()
  if (binary === null) {
    probed = 'redis-server not found on PATH or in /usr/bin: install redis-server (.ci/run does) to run the Redis tests'
    return probed
  }
  const dir = mkdtempSync(join(tmpdir(), 'token-orchestrator-redis-probe-'))
  try {
    const port = await freePort()
    const child = spawnRedis(binary, port, dir)
    try {
      await waitForRedis(port, child)
      probed = false
    } catch (err) {
      probed = `redis-server did not start: ${(err as Error).message}`
    } finally {
      child.kill('SIGKILL')
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return probed
}

function spawnRedis (binary: string, port: number, dir: string): ChildProcess {
  return spawn(binary, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--logfile', join(dir, 'redis.log'), '--daemonize', 'no'
  ], { stdio: 'ignore' })
}

/** One inline command over a fresh connection (PING, for the start check); resolves with the first reply line. */
function send (port: number, args: string[], timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let reply = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer')) }, timeoutMs)
    socket.once('error', (err) => { clearTimeout(timer); reject(err) })
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (!reply.includes('\r\n')) return
      clearTimeout(timer)
      socket.end()
      resolve(reply.trimEnd())
    })
    socket.write(`${args.join(' ')}\r\n`)
  })
}

async function waitForRedis (port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`)
    try {
      if (await send(port, ['PING'], 500) === '+PONG') return
    } catch {}
    if (Date.now() > deadline) throw new Error('redis-server did not answer PING in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Starts a redis-server for this test (call redisUnavailable() first); stopped in teardown. */
export async function startRedis (t: Test): Promise<RedisServer> {
  const binary = findRedisServer()
  if (binary === null) throw new Error('redis-server not found')
  const dir = mkdtempSync(join(tmpdir(), 'token-orchestrator-redis-'))
  const port = await freePort()
  let child = spawnRedis(binary, port, dir)
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGCONT')
    child.kill('SIGKILL')
    await exited
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  await waitForRedis(port, child)
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: stop,
    restart: async () => {
      await stop()
      child = spawnRedis(binary, port, dir)
      await waitForRedis(port, child)
    },
    pause: () => { child.kill('SIGSTOP') },
    resume: () => { child.kill('SIGCONT') }
  }
}
