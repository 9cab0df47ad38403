// The in-memory revocation view consulted by validate, kept in step with the
// store by polling it by sequence number. Validate never waits on the store.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { RevocationFollower, RevocationList } from '../src/revocation/revocation-list.js'

declare module 'fastify' {
  interface FastifyInstance {
    revocations: RevocationList
    revocationFollower: RevocationFollower
  }
}

function clockDate (clock: (() => number) | undefined): (() => Date) | undefined {
  return clock === undefined ? undefined : () => new Date(clock() * 1000)
}

async function revocationPlugin (fastify: FastifyInstance): Promise<void> {
  const list = new RevocationList()
  const follower = new RevocationFollower(list, fastify.store.revocations, {
    intervalMs: fastify.config.REVOCATION_SYNC_INTERVAL_MS,
    now: clockDate(fastify.clock),
    onError: (err) => fastify.log.error({ err }, 'revocation sync failed; validate answers from the last synced state'),
    onRecover: () => fastify.log.info('revocation sync recovered')
  })
  fastify.decorate('revocations', list)
  fastify.decorate('revocationFollower', follower)
  fastify.addHook('onReady', async () => {
    // Start from the store's current state, then follow it.
    await follower.tick()
    follower.start()
  })
  fastify.addHook('onClose', async () => follower.stop())
}

export default fp(revocationPlugin, { name: 'revocation', fastify: '5.x', dependencies: ['config', 'store'] })
