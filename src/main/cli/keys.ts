// CLI commands on the signing key ring (ES256, EdDSA, RS256): rotate, revoke, list.
import { AppError } from '../../errors.js'
import { isAsymmetric, keyRevocationView, keyViews, revokeSigningKey, rotateKeys } from '../../keys/key-ring.js'
import type { SigningAlgorithm } from '../../store/types.js'
import type { Config } from '../config.js'
import { keepsDevSecrets } from '../dev-secrets.js'
import type { CliCommand } from './command.js'
import { accessLifetime } from './context.js'

function ringAlgorithm (config: Config, command: string): SigningAlgorithm {
  const algorithm = config.JWT_ALGORITHM
  if (!isAsymmetric(algorithm)) {
    throw new AppError('conflict', `${command} needs JWT_ALGORITHM ES256, EdDSA or RS256 (it is ${algorithm}); HS256 has no key ring`)
  }
  return algorithm
}

export const keyCommands: CliCommand[] = [
  {
    name: 'keys rotate',
    summary: 'Publish the next signing key',
    details: `Publishes the next signing key of JWT_ALGORITHM (ES256, EdDSA or RS256).
Every instance serves it in /.well-known/jwks.json within
KEY_RING_SYNC_INTERVAL_MS and signs with it KEY_ROTATION_OVERLAP seconds from
now; the previous key stays published until every token it signed has expired.
Needs the service's JWT_SECRET (the private key is sealed with it: set, or in
development the one kept with the data) and its store.`,
    secrets: ['JWT_SECRET'],
    writes: true,
    run: async (ctx) => {
      const { config } = ctx
      const algorithm = ringAlgorithm(config, 'keys rotate')
      if (ctx.env.JWT_SECRET === undefined && !keepsDevSecrets(config)) {
        throw new AppError('invalid_request', 'JWT_SECRET must be set to the service\'s value: the new private key is sealed with it')
      }
      const key = await rotateKeys(ctx.store.keys, {
        algorithm,
        secret: config.JWT_SECRET,
        overlapSeconds: config.KEY_ROTATION_OVERLAP,
        // The retired key stays published as long as any token it signed may live.
        maxAccessTtl: await accessLifetime(ctx)
      })
      return { kid: key.kid, alg: key.alg, published_at: key.createdAt.toISOString(), activates_at: key.activatesAt.toISOString() }
    }
  },

  {
    name: 'keys revoke',
    args: ['<kid>'],
    summary: 'Revoke a signing key at once (a leaked private key)',
    details: `Removes the key from the store and writes a revocation of kind key to the
revocation log: every instance drops it from /.well-known/jwks.json and
refuses every access token it signed (error revoked) within
REVOCATION_SYNC_INTERVAL_MS, and so does every verifier that follows the
revocation feed. When it was the key that signed, a new key of JWT_ALGORITHM
is added that signs at once (no overlap). Access tokens it signed stop
working, admins' included: log in again. Prints {kid, alg, revoked_at,
revocation_seq, replacement}. A kid that is unknown, expired or revoked
already is refused (exit 1). Needs the service's JWT_SECRET (a new private
key is sealed with it) and its store.`,
    secrets: ['JWT_SECRET'],
    writes: true,
    run: async (ctx) => {
      const { config } = ctx
      const algorithm = ringAlgorithm(config, 'keys revoke')
      if (ctx.env.JWT_SECRET === undefined && !keepsDevSecrets(config)) {
        throw new AppError('invalid_request', 'JWT_SECRET must be set to the service\'s value: a new private key may be sealed with it')
      }
      return keyRevocationView(await revokeSigningKey(ctx.store.keys, ctx.store.revocations, {
        algorithm,
        secret: config.JWT_SECRET,
        overlapSeconds: config.KEY_ROTATION_OVERLAP,
        // The revocation is kept as long as any token the key signed may live.
        maxAccessTtl: await accessLifetime(ctx)
      }, ctx.args[0] as string))
    }
  },

  {
    name: 'keys list',
    summary: 'List the published signing keys and which one signs',
    details: `Prints {algorithm, keys}: every key still published, oldest first, with its
state: next (published, signs from activates_at), signing (signs now, provided
its private key opens with the service's JWT_SECRET), retired (only verifies
tokens it signed, until expires_at). Needs no secret.`,
    run: async (ctx) => {
      const algorithm = ringAlgorithm(ctx.config, 'keys list')
      const now = Date.now()
      return { algorithm, keys: keyViews(await ctx.store.keys.list(new Date(now)), algorithm, now) }
    }
  }
]
