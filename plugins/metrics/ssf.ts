// The Shared Signals series (src/ssf/ reports through an SsfObserver):
// events queued in the outbox by type, SETs delivered and failed deliveries
// per stream, and each stream's delivery lag as seen by the instance that
// delivers it. Stream labels are bounded: SSF_MAX_STREAMS_PER_CLIENT per client.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { SsfObserver } from '../../src/ssf/events.js'
import { METRICS_PREFIX } from './index.js'

/** `session-revoked` for its CAEP URI: the type's last path segment. */
const shortType = (uri: string): string => uri.slice(uri.lastIndexOf('/') + 1)

export function ssfObserver (registry: Registry): SsfObserver {
  const queued = new Counter({
    name: `${METRICS_PREFIX}ssf_events_queued_total`,
    help: 'Security events written to the Shared Signals outbox by this instance, by type',
    labelNames: ['type'],
    registers: [registry]
  })
  const delivered = new Counter({
    name: `${METRICS_PREFIX}ssf_events_delivered_total`,
    help: 'SETs a receiver accepted (push: 2xx; poll: acknowledged), by stream and delivery method',
    labelNames: ['stream', 'method'],
    registers: [registry]
  })
  const failed = new Counter({
    name: `${METRICS_PREFIX}ssf_delivery_failures_total`,
    help: 'Failed SET deliveries by stream and reason (timeout, connection, http_5xx, invalid_request, ...); most are tried again',
    labelNames: ['stream', 'reason'],
    registers: [registry]
  })
  const lag = new Gauge({
    name: `${METRICS_PREFIX}ssf_delivery_lag_seconds`,
    help: 'Age of the oldest event a stream still waits for (0: caught up), on the instance delivering it',
    labelNames: ['stream'],
    registers: [registry]
  })
  return {
    queued: (type) => { queued.inc({ type: shortType(type) }) },
    delivered: (stream, method, count) => { delivered.inc({ stream, method }, count) },
    failed: (stream, reason) => { failed.inc({ stream, reason }) },
    lag: (stream, seconds) => { lag.set({ stream }, seconds) },
    forget: (stream) => { lag.remove({ stream }) }
  }
}
