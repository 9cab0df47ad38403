// Token signing and verification. @fastify/jwt is registered twice, once per
// token kind with its own key and `typ`, so an access token can never pass as
// a refresh token or the other way round. Verifiers are built once at start
// with the algorithm pinned and a verified-token cache (fast-jwt's LRU, whose
// entries never outlive the token's exp). The domain-facing TokenService is
// decorated as `fastify.tokens`.
import fp from 'fastify-plugin'
import fastifyJwt, { type FastifyJWTOptions, type SignOptions } from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import { ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, TokenService, type JwtCodec } from '../src/tokens.js'
import { symmetricKid } from '../src/key-ring.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    namespaces: 'access' | 'refresh'
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService
  }
}

/** Verified tokens remembered by each verifier; sized for the hot path's working set. */
export const VERIFY_CACHE_SIZE = 20_000

function jwtOptions (namespace: 'access' | 'refresh', secret: string, typ: string, issuer: string,
  requiredClaims: string[], audience?: string, kid?: string): FastifyJWTOptions {
  return {
    namespace,
    secret,
    decoratorName: `${namespace}Claims`,
    // fast-jwt writes `typ` into the header; its option is missing from the type definitions.
    sign: { algorithm: 'HS256', typ, ...(kid !== undefined ? { kid } : {}) } as Partial<SignOptions>,
    verify: {
      algorithms: ['HS256'],
      checkTyp: typ,
      allowedIss: issuer,
      ...(audience !== undefined ? { allowedAud: audience } : {}),
      requiredClaims,
      clockTolerance: 0,
      cache: VERIFY_CACHE_SIZE,
      cacheTTL: 600_000,
      // Failures are cheap to recompute and some (nbf) change with time: do not cache them.
      errorCacheTTL: -1
    }
  }
}

async function jwtPlugin (fastify: FastifyInstance): Promise<void> {
  const { config } = fastify
  await fastify.register(fastifyJwt, jwtOptions('access', config.JWT_SECRET, ACCESS_TOKEN_TYPE, config.JWT_ISSUER,
    ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'], config.JWT_AUDIENCE, symmetricKid(config.JWT_SECRET)))
  await fastify.register(fastifyJwt, jwtOptions('refresh', config.REFRESH_TOKEN_SECRET, REFRESH_TOKEN_TYPE,
    config.JWT_ISSUER, ['iss', 'sub', 'sid', 'exp', 'iat', 'jti']))

  const codec = (ns: 'access' | 'refresh'): JwtCodec => {
    const jwt = fastify.jwt[ns]
    return {
      sign: (payload) => jwt.sign(payload),
      verify: (token) => jwt.verify<Record<string, unknown>>(token)
    }
  }
  // JWT_ALGORITHM ES256 / EdDSA / RS256: access tokens are signed and verified by the key ring.
  const access = fastify.keyRing?.codec ?? codec('access')
  fastify.decorate('tokens', new TokenService(access, codec('refresh'), { issuer: config.JWT_ISSUER }))
}

export default fp(jwtPlugin, { name: 'jwt', fastify: '5.x', dependencies: ['config', 'key-ring'] })
