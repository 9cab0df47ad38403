// The primary process when WORKERS > 1. It forks WORKERS workers of this same
// entry point (node:cluster: they share the one port, and the primary hands
// new connections to them in turn), keeps that many running, answers
// /metrics scrapes with the whole service's metrics (src/main/cluster-metrics.ts),
// and drains every worker on SIGTERM/SIGINT. It serves no HTTP and opens no
// store itself; server.ts has already loaded the configuration, so the
// development secrets exist before any worker reads them.
//
// Start: one worker first, the others once it listens. The first one runs
// whatever a fresh store needs once (schema migrations, the first signing key,
// the bootstrap admin) alone, so workers never race to create them: two
// first keys made at once would each be the signing key of one worker until
// the key ring's next sync, and the other worker would refuse its tokens.
//
// A worker that exits is replaced: at once, then, if its replacements keep
// exiting before a stable run, after a delay that doubles each time
// (restartDelay), so a worker that cannot start does not spin. Each exit is logged and counted
// (token_orchestrator_worker_restarts_total). If no worker ever listened, the
// start has failed: the primary stops and exits 1.
import cluster, { type Worker } from 'node:cluster'
import { pino, type Logger } from 'pino'
import { Counter, Gauge, Registry } from 'prom-client'
import { ClusterMetrics } from './cluster-metrics.js'
import type { Config } from './config.js'
import { METRICS_PREFIX } from '../../plugins/metrics/index.js'
import { shutdownRequest } from './primary-messages.js'
import { prettyLogs } from './server-options.js'

/** A worker that ran this long before it exited had a stable run: the next one starts at once. */
export const STABLE_RUN_MS = 30_000
const MAX_RESTART_DELAY_MS = 30_000
/** Past SHUTDOWN_TIMEOUT each worker exits by itself; the primary waits this much longer before it kills. */
const KILL_MARGIN_MS = 2000

/**
 * Milliseconds before replacing a worker, after `earlyExits` exits in a row
 * that each came before a stable run: the first is replaced at once, then
 * 0.5 s, 1 s, 2 s, … up to 30 s.
 */
export function restartDelay (earlyExits: number): number {
  return earlyExits <= 1 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 500 * 2 ** (earlyExits - 2))
}

function primaryLogger (config: Config): Logger {
  const pretty = prettyLogs(config.LOG_FORMAT, {
    isTTY: process.stdout.isTTY === true,
    ci: process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false',
    nodeEnv: config.NODE_ENV
  })
  const level = config.LOG_LEVEL
  return pretty
    ? pino({ level, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' } } })
    // Synchronous, like the workers' lines on the same stdout.
    : pino({ level }, pino.destination({ dest: 1, sync: true }))
}

interface Slot {
  worker: Worker | undefined
  startedAt: number
  earlyExits: number
  timer: NodeJS.Timeout | undefined
}

export function runPrimary (config: Config, warnings: readonly string[]): void {
  const log = primaryLogger(config)
  for (const warning of warnings) log.warn(warning)
  const count = config.WORKERS
  // Without Redis, the counters a refusal depends on are in each worker's memory.
  if (config.REDIS_URL === undefined) {
    log.warn({ workers: count },
      `rate limits are counted per worker: with ${count} workers a client IP gets up to ${count} × RATE_LIMIT_AUTH ` +
      `(${count * config.RATE_LIMIT_AUTH}) credential attempts a minute, and each worker throttles failing clients on its own; ` +
      'set REDIS_URL to share them')
  }

  const slots: Slot[] = Array.from({ length: count }, () => ({ worker: undefined, startedAt: 0, earlyExits: 0, timer: undefined }))
  const slotOf = new Map<number, number>()
  /** Forked and not yet exited (cluster.workers may still hold a worker at its 'exit'). */
  const alive = new Set<Worker>()
  const listening = new Set<Worker>()
  let started = false
  let stopping: { signal: string, failed: boolean } | undefined

  const registry = new Registry()
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${METRICS_PREFIX}workers`,
    help: 'Worker processes listening',
    registers: [registry],
    collect () { this.set(listening.size) }
  })
  const restarts = new Counter({
    name: `${METRICS_PREFIX}worker_restarts_total`,
    help: 'Worker processes that exited and were replaced',
    registers: [registry]
  })
  restarts.inc(0)
  const metrics = new ClusterMetrics(registry, () => [...listening])

  // Structured clone over IPC: metric values such as NaN survive it, JSON would make them null.
  cluster.setupPrimary({ serialization: 'advanced' })
  cluster.on('message', metrics.onMessage)

  const fork = (index: number): void => {
    const slot = slots[index]!
    slot.timer = undefined
    const worker = cluster.fork()
    alive.add(worker)
    slot.worker = worker
    slot.startedAt = Date.now()
    slotOf.set(worker.id, index)
  }

  cluster.on('listening', (worker) => {
    listening.add(worker)
    log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker listening')
    if (stopping !== undefined) {
      // Asked to stop while it was starting, before it could hear the request.
      worker.send(shutdownRequest(stopping.signal), () => {})
      return
    }
    if (!started) {
      started = true
      for (let i = 1; i < count; i++) fork(i)
    }
    if (listening.size === count) log.info({ workers: count }, 'workers listening')
  })

  cluster.on('exit', (worker, code, signal) => {
    alive.delete(worker)
    listening.delete(worker)
    metrics.workerExited(worker.id)
    const index = slotOf.get(worker.id)
    slotOf.delete(worker.id)
    const slot = index === undefined ? undefined : slots[index]
    if (slot !== undefined) slot.worker = undefined
    const about = { worker: worker.id, workerPid: worker.process.pid, code, signal }
    if (stopping !== undefined) {
      if (code !== 0) stopping.failed = true
      log.info(about, 'worker closed')
      if (alive.size === 0) finish()
      return
    }
    if (!started) {
      log.error(about, 'a worker could not start; stopping')
      shutdown('start failed', true)
      return
    }
    if (slot === undefined || index === undefined) return
    slot.earlyExits = Date.now() - slot.startedAt >= STABLE_RUN_MS ? 0 : slot.earlyExits + 1
    const delay = restartDelay(slot.earlyExits)
    restarts.inc()
    log.error({ ...about, restartInMs: delay }, 'worker exited; starting another')
    slot.timer = setTimeout(() => fork(index), delay)
  })

  let killTimer: NodeJS.Timeout | undefined
  const finish = (): void => {
    if (killTimer !== undefined) clearTimeout(killTimer)
    const failed = stopping?.failed ?? true
    log.info({ code: failed ? 1 : 0 }, 'closed')
    process.exit(failed ? 1 : 0)
  }

  const shutdown = (signal: string, failed = false): void => {
    if (stopping !== undefined) {
      // A second signal: the workers get it too, and exit at once (close-with-grace).
      log.error(`second ${signal}, exiting`)
      stopping.failed = true
      for (const worker of alive) worker.process.kill('SIGTERM')
      return
    }
    stopping = { signal, failed }
    for (const slot of slots) if (slot.timer !== undefined) clearTimeout(slot.timer)
    log.info({ signal, workers: alive.size }, 'closing: draining the workers')
    if (alive.size === 0) return finish()
    for (const worker of alive) worker.send(shutdownRequest(signal), () => {})
    killTimer = setTimeout(() => {
      log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT * 1000 }, 'workers still running after SHUTDOWN_TIMEOUT; killing them')
      stopping!.failed = true
      for (const worker of alive) worker.process.kill('SIGKILL')
    }, config.SHUTDOWN_TIMEOUT * 1000 + KILL_MARGIN_MS)
    killTimer.unref()
  }

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal))
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'the primary process failed; draining the workers')
    shutdown('uncaughtException', true)
  })

  log.info({ workers: count }, `starting ${count} workers`)
  fork(0)
}
