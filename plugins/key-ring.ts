// The signing key ring (`fastify.keyRing`) when JWT_ALGORITHM is asymmetric:
// loaded from the store at start (a first key is created when none can sign),
// then re-read every KEY_RING_SYNC_INTERVAL_MS so rotations made by another
// instance, the admin API or the CLI take effect without a restart.
// A key revoked in an emergency (a `key` entry of the revocation view, written
// here or read from the log) is dropped at once, and the ring read again so
// that its replacement signs.
// With HS256 there is no ring: `fastify.keyRing` is null and the JWKS is empty.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { isAsymmetric, KeyRing } from '../src/keys/key-ring.js'
import { accessRules } from '@token-orchestrator/verifier/rules'
import { previousIssuers } from '../src/main/config.js'
import { Ticker } from '../src/ticker.js'

declare module 'fastify' {
  interface FastifyInstance {
    keyRing: KeyRing | null
  }
}

async function keyRingPlugin (fastify: FastifyInstance): Promise<void> {
  const { config } = fastify
  const algorithm = config.JWT_ALGORITHM
  if (!isAsymmetric(algorithm)) {
    fastify.decorate('keyRing', null)
    return
  }
  const ring = new KeyRing(fastify.store.keys, {
    algorithm,
    secret: config.JWT_SECRET,
    overlapSeconds: config.KEY_ROTATION_OVERLAP,
    // Read at each rotation: a retired key stays published as long as any token it signed may live.
    get maxAccessTtl () { return fastify.accessLifetime.seconds },
    now: fastify.clockMs,
    verify: accessRules(config.JWT_ISSUER, config.JWT_AUDIENCE, previousIssuers(config)),
    isRevoked: (kid) => fastify.revocations.isKeyRevoked(kid),
    revocations: { store: fastify.store.revocations, apply: (record) => fastify.revocationFollower.applyLocal(record) }
  })
  if (await ring.ensureSigningKey()) {
    fastify.log.info({ kid: ring.currentKid, alg: algorithm }, 'no usable signing key in the store: created one')
  }
  fastify.decorate('keyRing', ring)

  // Verification goes on with the keys already loaded while the store fails.
  const sync = new Ticker(async () => { await ring.load() }, {
    intervalMs: config.KEY_RING_SYNC_INTERVAL_MS,
    onError: (err) => { fastify.log.error({ err }, 'key ring sync failed; using the keys loaded last') },
    onRecover: () => { fastify.log.info('key ring sync recovered') }
  })
  fastify.revocations.onKeyRevoked((kid) => {
    ring.drop(kid)
    // Another instance revoked it: its replacement is in the store already. A
    // load in flight may have read the store before the replacement was added,
    // so a fresh one follows it.
    sync.fresh().catch(() => {})
  })
  sync.start()
  fastify.addHook('onClose', async () => { await sync.stop() })
}

export default fp(keyRingPlugin, { name: 'key-ring', fastify: '5.x', dependencies: ['config', 'store', 'access-lifetime', 'revocation'] })
