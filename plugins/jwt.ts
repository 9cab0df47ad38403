// Token signing and verification. @fastify/jwt is registered twice, once per
// token kind with its own key and `typ`, so an access token can never pass as
// a refresh token or the other way round. Verification calls fast-jwt
// verifiers built once at start from the same options (algorithm pinned, typ,
// iss, aud, required claims): @fastify/jwt's `verify()` copies and merges its
// options on every call, which the hot path does not need. Verified access
// tokens are remembered by TokenService (src/tokens/verified-token-cache.ts), never
// past their exp. The domain-facing TokenService is decorated as `fastify.tokens`.
import fp from 'fastify-plugin'
import fastifyJwt, { type FastifyJWTOptions, type SignOptions } from '@fastify/jwt'
import { createVerifier } from 'fast-jwt'
import { accessRules, refreshRules, verifierOptions, type TokenRules } from '@token-orchestrator/verifier/rules'
import type { FastifyInstance } from 'fastify'
import { ACCESS_CACHE_SIZE, TokenService, type JwtCodec } from '../src/tokens/tokens.js'
import { symmetricKid } from '../src/keys/key-ring.js'
import { previousIssuers } from '../src/main/config.js'

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

/** Verified access tokens remembered; sized for the hot path's working set (≥ 10,000 distinct tokens). */
export const VERIFY_CACHE_SIZE = ACCESS_CACHE_SIZE

/** @fastify/jwt's options for one token kind: HS256 signing, and the shared verification rules. */
function jwtOptions (namespace: 'access' | 'refresh', secret: string, rules: TokenRules, kid?: string): FastifyJWTOptions {
  const { key: _key, ...verify } = verifierOptions(rules, secret, 'HS256')
  return {
    namespace,
    secret,
    decoratorName: `${namespace}Claims`,
    // fast-jwt writes `typ` into the header; its option is missing from the type definitions.
    sign: { algorithm: 'HS256', typ: rules.typ, ...(kid !== undefined ? { kid } : {}) } as Partial<SignOptions>,
    verify
  }
}

async function jwtPlugin (fastify: FastifyInstance): Promise<void> {
  const { config } = fastify
  const previous = previousIssuers(config)
  const accessTokenRules = accessRules(config.JWT_ISSUER, config.JWT_AUDIENCE, previous)
  const refreshTokenRules = refreshRules(config.JWT_ISSUER, previous)
  const access = jwtOptions('access', config.JWT_SECRET, accessTokenRules, symmetricKid(config.JWT_SECRET))
  const refresh = jwtOptions('refresh', config.REFRESH_TOKEN_SECRET, refreshTokenRules)
  await fastify.register(fastifyJwt, access)
  await fastify.register(fastifyJwt, refresh)

  // Direct fast-jwt verifiers from the shared rules: @fastify/jwt's verify() merges its options on every call.
  const codec = (ns: 'access' | 'refresh', rules: TokenRules, secret: string): JwtCodec => {
    const jwt = fastify.jwt[ns]
    const verifier = createVerifier(verifierOptions(rules, secret, 'HS256'))
    return {
      sign: (payload) => jwt.sign(payload),
      verify: (token) => verifier(token) as Record<string, unknown>
    }
  }
  // JWT_ALGORITHM ES256 / EdDSA / RS256: access tokens are signed and verified by the key ring.
  // Either way TokenService keeps its verified-token cache in front of the codec.
  fastify.decorate('tokens', new TokenService(
    fastify.keyRing?.codec ?? codec('access', accessTokenRules, config.JWT_SECRET),
    codec('refresh', refreshTokenRules, config.REFRESH_TOKEN_SECRET),
    {
      issuer: config.JWT_ISSUER,
      ...(previous !== undefined ? { previousIssuers: previous } : {}),
      accessCacheSize: VERIFY_CACHE_SIZE,
      now: fastify.clock
    }
  ))
  // A revoked signing key: tokens verified before must meet the key ring's refusal, not a cached success.
  fastify.revocations.onKeyRevoked(() => fastify.tokens.forgetVerified())
}

export default fp(jwtPlugin, { name: 'jwt', fastify: '5.x', dependencies: ['config', 'key-ring', 'revocation'] })
