// The whole service's /metrics with several workers, without processes: fake
// workers answer the primary's collections from real prom-client registries
// over an in-memory channel (serveCollections and scrapeThroughPrimary on
// fake process objects). Counters and histograms are summed, gauges follow
// their aggregator, and the sum never goes down when a worker exits or misses
// a collection (Prometheus would read that as a counter reset).
import { EventEmitter } from 'node:events'
import t from 'tap'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { ClusterMetrics, scrapeThroughPrimary, serveCollections, type MetricsWorker } from '../../src/main/cluster-metrics.js'
import { restartDelay } from '../../src/main/primary.js'

/** A worker process: its registry, its side of the channel, and the primary's view of it. */
class FakeWorker {
  readonly registry = new Registry()
  readonly requests = new Counter({ name: 'requests_total', help: 'h', labelNames: ['route'], registers: [this.registry] })
  readonly lag = new Gauge({ name: 'lag_seconds', help: 'h', registers: [this.registry], aggregator: 'max' })
  readonly latency = new Histogram({ name: 'latency_seconds', help: 'h', buckets: [0.1, 1], registers: [this.registry] })
  /** What the worker's code sees as `process`. */
  readonly proc = Object.assign(new EventEmitter(), {
    connected: true,
    send: (message: unknown, _handle?: unknown, _options?: unknown, callback?: (err: Error | null) => void): boolean => {
      setImmediate(() => this.primary?.onMessage(this.handle, message))
      callback?.(null)
      return true
    }
  })

  /** Does not answer collections while true. */
  stalled = false
  primary: ClusterMetrics | undefined
  readonly handle: MetricsWorker

  constructor (readonly id: number) {
    serveCollections(this.registry, this.proc as unknown as NodeJS.Process)
    this.handle = {
      id,
      send: (message, callback) => {
        if (!this.stalled) setImmediate(() => this.proc.emit('message', message))
        callback(null)
        return true
      }
    }
  }
}

function value (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

function cluster (...workers: FakeWorker[]): { metrics: ClusterMetrics, live: Set<FakeWorker>, own: Registry, restarts: Counter } {
  const own = new Registry()
  const restarts = new Counter({ name: 'worker_restarts_total', help: 'h', registers: [own] })
  const live = new Set(workers)
  const metrics = new ClusterMetrics(own, () => [...live].map((w) => w.handle), 200)
  for (const w of workers) w.primary = metrics
  return { metrics, live, own, restarts }
}

t.test('a scrape through one worker shows every worker: counters summed, gauges by their aggregator', async (t) => {
  const a = new FakeWorker(1)
  const b = new FakeWorker(2)
  const { restarts } = cluster(a, b)
  a.requests.inc({ route: '/token/validate' }, 3)
  b.requests.inc({ route: '/token/validate' }, 4)
  b.requests.inc({ route: '/auth/login' }, 1)
  a.lag.set(0.2)
  b.lag.set(1.5)
  a.latency.observe(0.05)
  b.latency.observe(0.5)
  restarts.inc(2)

  const text = await scrapeThroughPrimary(2000, a.proc as unknown as NodeJS.Process)
  t.equal(value(text, 'requests_total{route="/token/validate"}'), 7, 'a counter is the sum of the workers')
  t.equal(value(text, 'requests_total{route="/auth/login"}'), 1, 'a series one worker has')
  t.equal(value(text, 'lag_seconds'), 1.5, 'a max gauge: the largest')
  t.equal(value(text, 'latency_seconds_bucket{le="0.1"}'), 1, 'histogram buckets summed')
  t.equal(value(text, 'latency_seconds_bucket{le="1"}'), 2)
  t.equal(value(text, 'latency_seconds_count'), 2)
  t.equal(value(text, 'worker_restarts_total'), 2, "the primary's own metrics")
})

t.test('counters never go down: an exited worker keeps its counts, a silent one its last values', async (t) => {
  const a = new FakeWorker(1)
  const b = new FakeWorker(2)
  const { metrics, live } = cluster(a, b)
  a.requests.inc({ route: '/x' }, 10)
  b.requests.inc({ route: '/x' }, 5)
  b.latency.observe(0.05)
  t.equal(value(await metrics.metrics(), 'requests_total{route="/x"}'), 15)

  // b is killed; its replacement starts from zero.
  live.delete(b)
  metrics.workerExited(b.id)
  const c = new FakeWorker(3)
  c.primary = metrics
  live.add(c)
  c.requests.inc({ route: '/x' }, 1)
  a.requests.inc({ route: '/x' }, 1)
  let text = await metrics.metrics()
  t.equal(value(text, 'requests_total{route="/x"}'), 17, "the dead worker's 5 stay counted, with the new counts")
  t.equal(value(text, 'latency_seconds_count'), 1, 'histograms too')
  t.equal(value(text, 'lag_seconds'), 0, "a gauge is not carried over: the dead worker's value is gone")

  // a stops answering (busy, or dying): its last values stand in.
  a.stalled = true
  c.requests.inc({ route: '/x' }, 1)
  text = await metrics.metrics()
  t.equal(value(text, 'requests_total{route="/x"}'), 18, 'a worker that misses the collection is counted with its last values')

  // A worker that exits before any scrape saw it took nothing the sum had shown.
  const d = new FakeWorker(4)
  d.primary = metrics
  d.requests.inc({ route: '/x' }, 100)
  metrics.workerExited(d.id)
  t.equal(value(await metrics.metrics(), 'requests_total{route="/x"}'), 18)
})

t.test('a worker without a primary to ask is told so, not left waiting', async (t) => {
  const proc = Object.assign(new EventEmitter(), { connected: false, send: () => true })
  await t.rejects(scrapeThroughPrimary(1000, proc as unknown as NodeJS.Process), /no primary process to ask/)
  const silent = Object.assign(new EventEmitter(), { connected: true, send: () => true })
  await t.rejects(scrapeThroughPrimary(50, silent as unknown as NodeJS.Process), /did not answer/)
  t.equal(silent.listenerCount('message'), 0, 'the listener is removed after the timeout')
})

t.test('restart delays: the first exit at once, then doubling with each early exit, bounded', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 10, 20].map(restartDelay), [0, 0, 500, 1000, 2000, 4000, 30_000, 30_000])
})
