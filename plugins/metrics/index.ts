// Prometheus metrics, in one registry per app instance (tests run several
// instances in one process, and the global registry would mix them);
// routes/metrics.ts serves it.
//
// Request count and latency by route, method and status
// (http_request_duration_seconds): each route gets one route-level onSend hook
// that feeds its RouteLatency (route-latency.ts) from reply.elapsedTime, the
// time from the request's arrival until its answer is handed to Node to send.
// For the service's answers (small JSON bodies or none, written at once) that
// is the whole latency. onSend rather than onResponse: the answer's headers
// are set in an onSend hook already (plugins/response-headers.ts), and one
// hook stage less per request shows on the hot routes. No app-wide hook: a
// route pays for its own series only, a few array writes. Validation results
// are plain numbers copied into their counter at scrape time. Auth events are
// rare and use prom-client counters directly. Process metrics are
// prom-client's defaults.
//
// With several workers (WORKERS > 1) a scrape shows the whole service: the
// worker asks the primary, which aggregates every worker's registry
// (src/main/cluster-metrics.ts). Each metric states how: counters and
// histograms are summed, our gauges take the largest worker's value.
import cluster from 'node:cluster'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client'
import type { FastifyInstance, RouteOptions } from 'fastify'
import type { AuthEvent } from '../../src/auth/auth-service.js'
import { addLatencyHook, RouteLatency } from './route-latency.js'
import { scrapeThroughPrimary, serveCollections } from '../../src/main/cluster-metrics.js'
import { redisAnswers } from '../redis.js'
import type { TokenErrorCode } from '../../src/tokens/tokens.js'

export type ValidationOutcome = 'valid' | TokenErrorCode | 'dpop_proof_required' | 'invalid_dpop_proof' | 'not_verified' | 'too_many_requests'

export const VALIDATION_OUTCOMES: readonly ValidationOutcome[] = [
  'valid', 'malformed', 'invalid_signature', 'expired', 'not_yet_valid', 'invalid_claims', 'wrong_token_type', 'revoked',
  'dpop_proof_required', 'invalid_dpop_proof', 'not_verified', 'too_many_requests'
]

/** Latency buckets (seconds) reaching down to the sub-millisecond answers of the hot path. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export const METRICS_PREFIX = 'token_orchestrator_'
export const ROUTE_HISTOGRAM = 'http_request_duration_seconds'
const ROUTE_HISTOGRAM_HELP = 'request duration in seconds'

export interface ServiceMetrics {
  /** This process's registry. */
  readonly registry: Registry
  /** The service's metrics in Prometheus text: this registry's, or every worker's when several serve. */
  exposition: () => Promise<string>
  /** Counts one validation result (validate, batch, gateway verify). Costs one property increment. */
  validation: (outcome: ValidationOutcome) => void
  /** Records an AuthService event (login, refresh, reuse, revocation). */
  authEvent: (event: AuthEvent) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    serviceMetrics: ServiceMetrics
  }
}

async function metricsPlugin (fastify: FastifyInstance): Promise<void> {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const routes = new Map<string, RouteLatency>()
  fastify.addHook('onRoute', (route: RouteOptions) => {
    // /metrics (and any route that opts out) is not counted: scrapes would dominate the series.
    if (route.url === undefined || (route.config as { disableMetrics?: boolean } | undefined)?.disableMetrics === true) return
    let latency = routes.get(route.url)
    if (latency === undefined) {
      latency = new RouteLatency(route.url, LATENCY_BUCKETS)
      routes.set(route.url, latency)
    }
    addLatencyHook(route, latency)
  })
  registry.registerMetric({
    name: ROUTE_HISTOGRAM,
    help: ROUTE_HISTOGRAM_HELP,
    type: 'histogram',
    aggregator: 'sum',
    async get () {
      return { name: ROUTE_HISTOGRAM, help: ROUTE_HISTOGRAM_HELP, type: 'histogram', aggregator: 'sum', values: [...routes.values()].flatMap((r) => r.values(ROUTE_HISTOGRAM)) }
    }
  } as unknown as Metric)

  const validationCounts = Object.fromEntries(VALIDATION_OUTCOMES.map((o) => [o, 0])) as Record<ValidationOutcome, number>
  // eslint-disable-next-line no-new
  new Counter({
    name: `${METRICS_PREFIX}validations_total`,
    help: 'Token validations (validate, batch validate, gateway verify) by result',
    labelNames: ['result'],
    registers: [registry],
    collect () {
      this.reset()
      for (const outcome of VALIDATION_OUTCOMES) this.inc({ result: outcome }, validationCounts[outcome])
    }
  })

  const logins = new Counter({
    name: `${METRICS_PREFIX}logins_total`,
    help: 'Logins by result (success, invalid_credentials, locked)',
    labelNames: ['result'],
    registers: [registry]
  })
  const refreshes = new Counter({
    name: `${METRICS_PREFIX}refreshes_total`,
    help: 'Refresh token rotations by result (success, invalid_grant)',
    labelNames: ['result'],
    registers: [registry]
  })
  const reuse = new Counter({
    name: `${METRICS_PREFIX}refresh_reuse_detected_total`,
    help: 'Refresh tokens presented again after rotation (the session was revoked)',
    registers: [registry]
  })
  const revocations = new Counter({
    name: `${METRICS_PREFIX}revocations_total`,
    help: 'Revocations written by this instance, by kind (jti: one access token, sid: a session) and reason',
    labelNames: ['kind', 'reason'],
    registers: [registry]
  })
  for (const result of ['success', 'invalid_credentials', 'locked']) logins.inc({ result }, 0)
  for (const result of ['success', 'invalid_grant']) refreshes.inc({ result }, 0)
  reuse.inc(0)

  const { revocations: list, revocationFollower: follower } = fastify
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${METRICS_PREFIX}revocation_cache_size`,
    help: 'Revoked jtis, ended sids, disabled clients and revoked signing keys held in memory by this instance (the largest of its workers)',
    labelNames: ['kind'],
    registers: [registry],
    // Every worker holds the same view; one that lags holds less.
    aggregator: 'max',
    collect () {
      this.set({ kind: 'jti' }, list.jtiCount)
      this.set({ kind: 'sid' }, list.sidCount)
      this.set({ kind: 'client' }, list.clientCount)
      this.set({ kind: 'key' }, list.keyCount)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${METRICS_PREFIX}revocation_sync_lag_seconds`,
    help: 'Seconds since this instance last synced revocations from the store (grows while the store is unreachable; the stalest of its workers)',
    registers: [registry],
    // The instance is as stale as its stalest worker.
    aggregator: 'max',
    collect () {
      this.set(follower.lagSeconds)
    }
  })

  const { redis } = fastify
  if (redis !== null) {
    // eslint-disable-next-line no-new
    new Gauge({
      name: `${METRICS_PREFIX}redis_up`,
      help: 'Whether Redis, where the rate limits and the client throttle count, answers a PING (1) or not (0: credential routes answer 503)',
      // Over several processes, down if any is.
      aggregator: 'min',
      registers: [registry],
      async collect () {
        this.set(await redisAnswers(redis) ? 1 : 0)
      }
    })
  }

  let exposition = async (): Promise<string> => registry.metrics()
  if (cluster.isWorker) {
    const stop = serveCollections(registry)
    fastify.addHook('onClose', async () => stop())
    exposition = async () => scrapeThroughPrimary()
  }

  fastify.decorate('serviceMetrics', {
    registry,
    exposition,
    validation: (outcome: ValidationOutcome) => { validationCounts[outcome] += 1 },
    authEvent: (event: AuthEvent) => {
      switch (event.type) {
        case 'login': logins.inc({ result: event.result }); break
        case 'refresh': refreshes.inc({ result: event.result }); break
        case 'refresh_reuse': reuse.inc(); break
        case 'revocation': revocations.inc({ kind: event.kind, reason: event.reason }); break
      }
    }
  } satisfies ServiceMetrics)
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x', dependencies: ['revocation', 'redis'] })
