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
  const feed = new RevocationFeed({ store: fastify.store.revocations, follower: fastify.revocationFollower })
  fastify.decorate('revocationFeed', feed)
  fastify.decorate('feedReaders', new FeedReaders(fastify.clients))
  fastify.addHook('preClose', async () => feed.close())
}

export default fp(revocationFeedPlugin, {
  name: 'revocation-feed',
  fastify: '5.x',
  dependencies: ['store', 'revocation', 'auth']
})
