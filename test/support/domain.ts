// The domain wired without HTTP, as plugins/ wire it, on an in-memory SQLite
// store and an injected clock: for unit tests of the services.
import { createSigner, createVerifier, type SignerOptions } from 'fast-jwt'
import type { Test } from 'tap'
import { AuthService } from '../../src/auth/auth-service.js'
import { AppError } from '../../src/errors.js'
import { PasswordHasher } from '../../src/auth/passwords.js'
import { ClientService } from '../../src/clients/clients.js'
import { OAuthError } from '../../src/oauth/errors.js'
import { OAuthService } from '../../src/oauth/oauth-service.js'
import { RevocationFollower, RevocationList } from '../../src/revocation/revocation-list.js'
import { ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, TokenService, type JwtCodec } from '../../src/tokens/tokens.js'
import { TEST_ENV, TEST_ISSUER } from '../helper.js'
import { testClock } from './clock.js'
import { memoryStore } from './stores.js'

const ISSUER = TEST_ISSUER

function codec (secret: string, typ: string, audience?: string): JwtCodec {
  // fast-jwt takes `typ` as an option; its type definitions miss it.
  const sign = createSigner({ key: secret, algorithm: 'HS256', typ } as Partial<SignerOptions> & { key: string })
  const verify = createVerifier({ key: secret, algorithms: ['HS256'], allowedIss: ISSUER, ...(audience !== undefined ? { allowedAud: audience } : {}), cache: false })
  return { sign: (payload) => sign(payload), verify: (token) => verify(token) as Record<string, unknown> }
}

export interface DomainOptions {
  reuseInterval?: number
  lockoutThreshold?: number
  lockoutSeconds?: number
  lockoutAccountThreshold?: number
}

export function domain (t: Test, opts: DomainOptions = {}) {
  const clock = testClock()
  const store = memoryStore()
  t.teardown(() => store.close())
  const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 })
  const revocations = new RevocationList()
  const follower = new RevocationFollower(revocations, store.revocations, {
    intervalMs: 100, now: () => new Date(clock.now() * 1000)
  })
  const tokens = new TokenService(
    codec(TEST_ENV.JWT_SECRET!, ACCESS_TOKEN_TYPE, 'token-orchestrator'),
    codec(TEST_ENV.REFRESH_TOKEN_SECRET!, REFRESH_TOKEN_TYPE),
    { issuer: ISSUER, now: clock.now, accessCacheSize: 0 }
  )
  const clients = new ClientService({
    store,
    hasher,
    follower,
    now: clock.now,
    policy: { defaultAudience: 'token-orchestrator', accessTtl: 900, maxAccessTtl: 900, refreshTtl: 3600, sessionMaxLifetime: 7200 }
  })
  const auth = new AuthService({
    store,
    tokens,
    hasher,
    revocations,
    follower,
    now: clock.now,
    policy: {
      allowRegistration: true,
      sessionMaxLifetime: 7200,
      reuseInterval: opts.reuseInterval ?? 0,
      lockoutThreshold: opts.lockoutThreshold ?? 5,
      lockoutAccountThreshold: opts.lockoutAccountThreshold ?? 50,
      lockoutSeconds: opts.lockoutSeconds ?? 600,
      maxAccessTtl: 900
    },
    resolvePublicClient: async (clientId) => clients.resolvePublic(clientId),
    resolveClient: async (clientId) => clients.resolve(clientId)
  })
  const oauth = new OAuthService({ auth, clients, tokens, revocations, store, now: clock.now })
  return { clock, store, hasher, revocations, follower, tokens, clients, auth, oauth }
}

/** The domain error code a promise rejects with ('resolved' when it does not). */
export async function codeOf (work: Promise<unknown>): Promise<string> {
  try {
    await work
    return 'resolved'
  } catch (err) {
    return err instanceof AppError || err instanceof OAuthError ? err.code : String(err)
  }
}
