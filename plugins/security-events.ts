// The Shared Signals outbox (src/ssf/outbox.ts) as `fastify.securityEvents`,
// the sink the auth, account and client services write security events to
// before they answer, and `fastify.ssfOutbox`, which follows the store for
// the events other instances write. Shared Signals need an asymmetric
// JWT_ALGORITHM (SETs are signed with the key ring and verified through the
// JWKS): with HS256 the sink writes nothing and `ssfOutbox` is null.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { NO_SECURITY_EVENTS, type SecurityEventSink, type SsfObserver } from '../src/ssf/events.js'
import { Outbox } from '../src/ssf/outbox.js'
import { ssfObserver } from './metrics/ssf.js'

declare module 'fastify' {
  interface FastifyInstance {
    securityEvents: SecurityEventSink
    ssfOutbox: Outbox | null
    ssfObserver: SsfObserver
  }
}

async function securityEventsPlugin (fastify: FastifyInstance): Promise<void> {
  const { config } = fastify
  const observer = ssfObserver(fastify.serviceMetrics.registry)
  fastify.decorate('ssfObserver', observer)
  if (fastify.keyRing === null) {
    fastify.log.info('Shared Signals are off: SETs are signed with an asymmetric key (JWT_ALGORITHM ES256, EdDSA or RS256)')
    fastify.decorate('securityEvents', NO_SECURITY_EVENTS)
    fastify.decorate('ssfOutbox', null)
    return
  }
  let failing = false
  const outbox = new Outbox({
    events: fastify.store.ssfEvents,
    users: fastify.store.users,
    tokenIssuer: config.JWT_ISSUER,
    emailSubjects: config.SSF_EMAIL_SUBJECTS,
    intervalMs: config.SSF_SYNC_INTERVAL_MS,
    observer,
    now: fastify.clockMs,
    onError: (err) => {
      if (!failing) fastify.log.error({ err }, 'security event sync failed; push delivery waits for the store')
      failing = true
    }
  })
  fastify.decorate('securityEvents', outbox)
  fastify.decorate('ssfOutbox', outbox)
  fastify.addHook('onReady', async () => {
    await outbox.tick()
    outbox.start()
  })
  fastify.addHook('onClose', async () => outbox.stop())
}

export default fp(securityEventsPlugin, {
  name: 'security-events',
  fastify: '5.x',
  dependencies: ['config', 'store', 'key-ring', 'metrics']
})
