// The Shared Signals transmitter (`fastify.ssf`, src/ssf/transmitter.ts):
// stream management and poll delivery for routes/ssf, and, in the
// background, push delivery and the outbox's retention. Null with HS256
// (see plugins/security-events.ts): the routes then answer 404.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { allowedPushHosts } from '../src/main/config.js'
import type { EndpointPolicy } from '../src/ssf/endpoint.js'
import { PollService } from '../src/ssf/poll.js'
import { pushSet } from '../src/ssf/push-client.js'
import { PushWorker } from '../src/ssf/push.js'
import { SET_TYPE } from '../src/ssf/set.js'
import { StreamService } from '../src/ssf/streams.js'
import { SSF_PATHS, Transmitter } from '../src/ssf/transmitter.js'

declare module 'fastify' {
  interface FastifyInstance {
    ssf: Transmitter | null
  }
}

async function ssfPlugin (fastify: FastifyInstance): Promise<void> {
  const { config, keyRing, ssfOutbox: outbox, store } = fastify
  if (keyRing === null || outbox === null) {
    fastify.decorate('ssf', null)
    return
  }
  const issuer = config.PUBLIC_URL
  const policy: EndpointPolicy = { production: config.NODE_ENV === 'production', allowedHosts: allowedPushHosts(config) }
  const sign = (claims: Record<string, unknown>): string => keyRing.signAs(SET_TYPE, claims)
  const observer = fastify.ssfObserver
  const streams = new StreamService({
    streams: store.ssfStreams,
    events: store.ssfEvents,
    outbox,
    issuer,
    pollUrl: (streamId) => `${issuer}${SSF_PATHS.poll}/${streamId}`,
    policy,
    maxStreamsPerClient: config.SSF_MAX_STREAMS_PER_CLIENT,
    minVerificationInterval: config.SSF_MIN_VERIFICATION_INTERVAL,
    secret: config.JWT_SECRET,
    now: fastify.clockMs
  })
  const poll = new PollService({
    streams,
    events: store.ssfEvents,
    outbox,
    sign,
    issuer,
    observer,
    now: fastify.clockMs,
    onSetError: (streamId, jti, err) => {
      // The receiver's words: only a bounded, plain code reaches the log and the metric.
      const code = /^[a-z_]{1,32}$/.test(err) ? err : 'other'
      observer.failed(streamId, `set_error:${code}`)
      fastify.log.warn({ streamId, jti: jti.slice(0, 64), err: code }, 'a poll receiver reported an error for a SET')
    }
  })
  const push = new PushWorker({
    streams: store.ssfStreams,
    events: store.ssfEvents,
    outbox,
    authorization: (stream) => streams.authorization(stream),
    ownerActive: async (clientId) => {
      const client = await store.clients.find(clientId)
      return client !== null && !client.disabled
    },
    sign,
    issuer,
    send: pushSet,
    policy,
    timeoutMs: config.SSF_PUSH_TIMEOUT_MS,
    leaseMs: config.SSF_LEASE_SECONDS * 1000,
    retryMinMs: config.SSF_RETRY_MIN_MS,
    retryMaxMs: config.SSF_RETRY_MAX_MS,
    scanIntervalMs: Math.max(config.SSF_SYNC_INTERVAL_MS, 1000),
    observer,
    log: fastify.log
  })
  const transmitter = new Transmitter({
    issuer,
    clients: store.clients,
    streams,
    poll,
    push,
    events: store.ssfEvents,
    retentionSeconds: config.SSF_EVENT_RETENTION,
    now: fastify.clockMs,
    onPruneError: (err) => fastify.log.error({ err }, 'security event retention sweep failed; it runs again later')
  })
  fastify.decorate('ssf', transmitter)
  fastify.addHook('onReady', async () => transmitter.start())
  // Before the server stops listening for good: waiting polls answer, leases are given up.
  fastify.addHook('preClose', async () => transmitter.stop())
}

export default fp(ssfPlugin, {
  name: 'ssf',
  fastify: '5.x',
  dependencies: ['config', 'store', 'key-ring', 'security-events', 'metrics']
})
