// The latency histogram of one route, costing a few array writes per request:
// series are found by number (method index and status code), never by hashing
// a label object, and the buckets are only turned into Prometheus values when
// /metrics is scraped (http_request_duration_seconds, see plugins/metrics/index.ts).

import type { onSendHookHandler, RouteOptions } from 'fastify'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'QUERY']
const METHOD_INDEX = new Map(METHODS.map((m, i) => [m, i]))
const OTHER_METHOD = METHODS.length

interface Series {
  method: string
  status: number
  /** Per bucket (not cumulative); the last slot is +Inf. */
  counts: number[]
  sum: number
  count: number
}

export interface HistogramValue {
  labels: Record<string, string | number>
  value: number
  metricName: string
}

export class RouteLatency {
  private readonly series = new Map<number, Series>()

  constructor (readonly route: string, private readonly bounds: readonly number[]) {}

  observe (method: string, status: number, seconds: number): void {
    const m = METHOD_INDEX.get(method) ?? OTHER_METHOD
    const key = status * 16 + m
    let s = this.series.get(key)
    if (s === undefined) {
      s = { method: m === OTHER_METHOD ? 'OTHER' : method, status, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 }
      this.series.set(key, s)
    }
    let i = 0
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++
    s.counts[i]! += 1
    s.sum += seconds
    s.count += 1
  }

  /** Prometheus histogram values (cumulative buckets, _sum, _count) under `name`. */
  values (name: string): HistogramValue[] {
    const out: HistogramValue[] = []
    for (const s of this.series.values()) {
      const labels = { method: s.method, route: this.route, status_code: s.status }
      let acc = 0
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!
        out.push({ labels: { le, ...labels }, value: acc, metricName: `${name}_bucket` })
      })
      out.push({ labels: { le: '+Inf', ...labels }, value: s.count, metricName: `${name}_bucket` })
      out.push({ labels, value: s.sum, metricName: `${name}_sum` })
      out.push({ labels, value: s.count, metricName: `${name}_count` })
    }
    return out
  }
}

/** The route-level onSend hook that feeds `series`: the time from the request's arrival until its answer is handed to Node. */
function recordLatency (series: RouteLatency): onSendHookHandler {
  return (request, reply, payload, done) => {
    series.observe(request.method, reply.statusCode, reply.elapsedTime / 1000)
    done(null, payload)
  }
}

/** Adds the hook that feeds `series` after the route's own onSend hooks (from an onRoute hook). */
export function addLatencyHook (route: RouteOptions, series: RouteLatency): void {
  route.onSend = [...(route.onSend === undefined ? [] : [route.onSend].flat()), recordLatency(series)]
}
