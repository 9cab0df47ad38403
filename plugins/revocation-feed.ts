// The revocation feed for resource servers (`fastify.revocationFeed`, served at
// GET /token/revocations) and who may read it (`fastify.feedReaders`). Waiting
// reads are ended when the server closes, so long-polls never hold up a shutdown.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { FeedReaders, RevocationFeed } from '../src/revocation/revocation-feed.js'

declare module 'fastify' {
  interface FastifyInstance {
    revocationFeed: RevocationFeed
    feedReaders: FeedReaders
  }
}

async function revocationFeedPlugin (fastify: FastifyInstance): Promise<void> {
  const { clock } = fastify
  // The injected clock (AppOptions.now) is in seconds; the feed counts milliseconds.
  const now = clock === undefined ? undefined : () => clock() * 1000
  const feed = new RevocationFeed({ store: fastify.store.revocations, follower: fastify.revocationFollower, now })
  fastify.decorate('revocationFeed', feed)
  fastify.decorate('feedReaders', new FeedReaders(fastify.clients, fastify.clientThrottle, now))
  fastify.addHook('preClose', async () => feed.close())
}

export default fp(revocationFeedPlugin, {
  name: 'revocation-feed',
  fastify: '5.x',
  dependencies: ['config', 'store', 'revocation', 'auth', 'oauth']
})
