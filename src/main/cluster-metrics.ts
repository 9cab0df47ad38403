// GET /metrics when several workers serve one port (WORKERS > 1): the worker
// that receives the scrape asks the primary (scrapeThroughPrimary), which
// collects every listening worker's registry over IPC and answers their
// aggregate, each metric by its prom-client aggregator (AggregatorRegistry.aggregate):
// counters and histograms summed, gauges as each one states (our own: the
// largest, see plugins/metrics). Only scrapes cross processes; the hot path never does.
//
// Counters and histograms stay monotonic when a worker dies: the primary keeps
// the values it last collected from each worker, and when one exits, adds them
// to what the exited workers have counted. Without that the sum would drop by
// the dead worker's counts, and Prometheus would read the drop as a reset of
// the whole service's counter (rate() jumping by the total). A worker that
// does not answer a collection in time is counted with its last values, for
// the same reason.
import type { Serializable } from 'node:child_process'
import { AggregatorRegistry, type Registry } from 'prom-client'

/** One metric as `registry.getMetricsAsJSON()` gives it (and IPC carries it). */
export interface MetricJson {
  name: string
  help: string
  type: string
  aggregator?: string
  values: Array<{ value: number, labels: Record<string, string | number>, metricName?: string }>
}

const COLLECT = 'token-orchestrator:metrics-collect'
const COLLECTED = 'token-orchestrator:metrics-collected'
const SCRAPE = 'token-orchestrator:metrics-scrape'
const SCRAPED = 'token-orchestrator:metrics-scraped'

interface Message { type?: unknown, id?: unknown, metrics?: unknown, text?: unknown }

const isMessage = (value: unknown): value is Message => typeof value === 'object' && value !== null

// ---------------------------------------------------------------------------
// In a worker

/** Answers the primary's collections with `registry`'s metrics; returns the function that stops it. */
export function serveCollections (registry: Registry, proc: NodeJS.Process = process): () => void {
  const listener = (message: unknown): void => {
    if (!isMessage(message) || message.type !== COLLECT) return
    // A failed collection answers null (the primary then uses this worker's last values).
    registry.getMetricsAsJSON().then((metrics) => metrics, () => null).then((metrics) => {
      // The callback takes a send error (the primary is gone) instead of an 'error' event.
      if (proc.connected) proc.send?.({ type: COLLECTED, id: message.id, metrics }, undefined, undefined, () => {})
    }, () => {})
  }
  proc.on('message', listener)
  return () => { proc.off('message', listener) }
}

let scrapes = 0
/** The whole service's metrics in Prometheus text, from the primary; rejects after `timeoutMs`. */
export function scrapeThroughPrimary (timeoutMs = 5000, proc: NodeJS.Process = process): Promise<string> {
  const id = ++scrapes
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer)
      proc.off('message', listener)
    }
    const listener = (message: unknown): void => {
      if (!isMessage(message) || message.type !== SCRAPED || message.id !== id) return
      done()
      resolve(String(message.text))
    }
    const fail = (why: string): void => { done(); reject(new Error(why)) }
    const timer = setTimeout(() => fail('the primary process did not answer the scrape'), timeoutMs)
    proc.on('message', listener)
    if (!proc.connected || proc.send === undefined) return fail('no primary process to ask')
    proc.send({ type: SCRAPE, id }, undefined, undefined, (err) => { if (err instanceof Error) fail('no primary process to ask') })
  })
}

// ---------------------------------------------------------------------------
// In the primary

/** What the primary needs of a worker (node:cluster's Worker has it). */
export interface MetricsWorker {
  readonly id: number
  send: (message: Serializable, callback: (error: Error | null) => void) => unknown
}

const sums = (metric: MetricJson): boolean =>
  (metric.type === 'counter' || metric.type === 'histogram') && (metric.aggregator ?? 'sum') === 'sum'

const valueKey = (value: MetricJson['values'][number]): string =>
  `${value.metricName ?? ''}\u0000${JSON.stringify(Object.keys(value.labels).sort().map((k) => [k, value.labels[k]]))}`

export class ClusterMetrics {
  private readonly lastSeen = new Map<number, MetricJson[]>()
  /** The counts of exited workers, by metric name, then by series. */
  private readonly retired = new Map<string, { metric: MetricJson, values: Map<string, MetricJson['values'][number]> }>()
  private readonly pending = new Map<number, (metrics: MetricJson[] | null) => void>()
  private collections = 0

  /**
   * `own`: the primary's registry (workers, restarts); `workers`: those that
   * listen now; `timeoutMs`: how long a collection waits for a worker.
   */
  constructor (
    private readonly own: Registry,
    private readonly workers: () => readonly MetricsWorker[],
    private readonly timeoutMs = 2000
  ) {}

  get contentType (): string {
    return this.own.contentType
  }

  /** cluster.on('message'): a worker's collection answer, or its request for a scrape. */
  readonly onMessage = (worker: MetricsWorker, message: unknown): void => {
    if (!isMessage(message)) return
    if (message.type === COLLECTED && typeof message.id === 'number') {
      this.pending.get(message.id)?.(Array.isArray(message.metrics) ? message.metrics as MetricJson[] : null)
    } else if (message.type === SCRAPE) {
      // A worker gone meanwhile: nobody waits for the answer.
      const answer = (text: string): void => { worker.send({ type: SCRAPED, id: message.id, text }, () => {}) }
      this.metrics().then(answer, () => answer(''))
    }
  }

  /** A worker has exited: its counters and histograms join the retired counts. */
  workerExited (id: number): void {
    const last = this.lastSeen.get(id)
    this.lastSeen.delete(id)
    for (const metric of last ?? []) {
      if (!sums(metric)) continue
      let kept = this.retired.get(metric.name)
      if (kept === undefined) {
        kept = { metric: { ...metric, values: [] }, values: new Map() }
        this.retired.set(metric.name, kept)
      }
      for (const value of metric.values) {
        const key = valueKey(value)
        const sum = kept.values.get(key)
        kept.values.set(key, { ...value, value: (sum?.value ?? 0) + value.value })
      }
    }
  }

  /** The whole service's metrics, in Prometheus text. */
  async metrics (): Promise<string> {
    const answers = await Promise.all(this.workers().map(async (worker) => {
      const fresh = await this.collect(worker)
      if (fresh !== null) this.lastSeen.set(worker.id, fresh)
      return fresh ?? this.lastSeen.get(worker.id)
    }))
    const retired = [...this.retired.values()].map(({ metric, values }) => ({ ...metric, values: [...values.values()] }))
    const all = [...answers.filter((a): a is MetricJson[] => a !== undefined), retired, await this.own.getMetricsAsJSON()]
    return AggregatorRegistry.aggregate(all).metrics()
  }

  private async collect (worker: MetricsWorker): Promise<MetricJson[] | null> {
    const id = ++this.collections
    return new Promise((resolve) => {
      const finish = (metrics: MetricJson[] | null): void => {
        clearTimeout(timer)
        this.pending.delete(id)
        resolve(metrics)
      }
      const timer = setTimeout(() => finish(null), this.timeoutMs)
      this.pending.set(id, finish)
      // An error: the worker's channel closed between the listing and the send.
      worker.send({ type: COLLECT, id }, (err) => { if (err instanceof Error) finish(null) })
    })
  }
}
