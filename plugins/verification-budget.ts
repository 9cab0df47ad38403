// `fastify.liveAccess`: access-token verification for the unauthenticated hot
// path (validate, batch validate, /auth/verify), within the per-address budget
// of failed verifications (RATE_LIMIT_FAILED_VERIFICATIONS a second; see
// src/tokens/verification-budget.ts). The address is the one every per-address
// rule counts (fastify.clientAddress).
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { BudgetedAccessVerifier, VerificationBudget } from '../src/tokens/verification-budget.js'

declare module 'fastify' {
  interface FastifyInstance {
    liveAccess: BudgetedAccessVerifier<FastifyRequest>
  }
}

async function verificationBudgetPlugin (fastify: FastifyInstance): Promise<void> {
  const budget = new VerificationBudget({
    perSecond: fastify.config.RATE_LIMIT_FAILED_VERIFICATIONS,
    ...(fastify.clockMs !== undefined ? { now: fastify.clockMs } : {})
  })
  const refused = (): void => fastify.serviceMetrics.validation('too_many_requests')
  fastify.decorate('liveAccess', new BudgetedAccessVerifier(fastify.tokens, fastify.revocations, budget, fastify.clientAddress, refused))
}

export default fp(verificationBudgetPlugin, {
  name: 'verification-budget',
  fastify: '5.x',
  dependencies: ['config', 'jwt', 'revocation', 'rate-limit', 'metrics']
})
