// The config's settings as the domain services take them. One mapping, used by
// the server (plugins/auth.ts, plugins/accounts.ts) and by the CLI, so a
// setting means the same in both.
import type { AccountPolicy } from '../auth/account-service.js'
import type { AuthPolicy } from '../auth/auth-service.js'
import { PasswordHasher } from '../auth/passwords.js'
import type { ClientPolicy } from '../clients/clients.js'
import type { Config } from './config.js'

export function passwordHasher (config: Config): PasswordHasher {
  return new PasswordHasher({
    memoryCost: config.ARGON2_MEMORY_KIB,
    timeCost: config.ARGON2_TIME_COST,
    parallelism: config.ARGON2_PARALLELISM
  })
}

/** `lifetime`: as for authPolicy. */
export function clientPolicy (config: Config, lifetime?: { readonly seconds: number }): ClientPolicy {
  return {
    defaultAudience: config.JWT_AUDIENCE,
    accessTtl: config.ACCESS_TOKEN_TTL,
    get maxAccessTtl () { return lifetime?.seconds ?? config.ACCESS_TOKEN_TTL },
    refreshTtl: config.REFRESH_TOKEN_TTL,
    sessionMaxLifetime: config.SESSION_MAX_LIFETIME,
    secretGrace: config.CLIENT_SECRET_GRACE
  }
}

/** `lifetime`: the longest live access-token lifetime (see src/tokens/access-lifetime.ts); ACCESS_TOKEN_TTL without one. */
export function authPolicy (config: Config, lifetime?: { readonly seconds: number }): AuthPolicy {
  return {
    allowRegistration: config.ALLOW_REGISTRATION,
    sessionMaxLifetime: config.SESSION_MAX_LIFETIME,
    reuseInterval: config.REFRESH_REUSE_INTERVAL,
    ...lockoutRule(config),
    // Read at each use: the figure follows the store.
    get maxAccessTtl () { return lifetime?.seconds ?? config.ACCESS_TOKEN_TTL }
  }
}

export function accountPolicy (config: Config): AccountPolicy {
  return lockoutRule(config)
}

function lockoutRule (config: Config): { lockoutThreshold: number, lockoutAccountThreshold: number, lockoutSeconds: number } {
  return {
    lockoutThreshold: config.LOCKOUT_THRESHOLD,
    // Never below the per-address threshold, which would then mean nothing.
    lockoutAccountThreshold: Math.max(config.LOCKOUT_ACCOUNT_THRESHOLD, config.LOCKOUT_THRESHOLD),
    lockoutSeconds: config.LOCKOUT_SECONDS
  }
}
