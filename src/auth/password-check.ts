// The one check of a user's password, with the account lockout. Every place
// that accepts a user's password (login today; a password change or a
// re-authentication later) must call checkUserPassword, never the hasher alone:
// the lockout only holds if each check is reserved in the store first.
import { AppError } from '../errors.js'
import type { PasswordHasher } from './passwords.js'
import type { Store, UserRecord } from '../store/types.js'

export interface LockoutRule {
  /** Password checks in a row without a success that lock the account. */
  threshold: number
  /** How long a lock lasts. */
  lockSeconds: number
}

export interface PasswordCheckDeps {
  store: Store
  hasher: PasswordHasher
  lockout: LockoutRule
}

/**
 * True when `password` is `user`'s. The attempt is reserved in the store
 * before the (slow) argon2 check, in one atomic step that refuses a locked
 * account, so concurrent wrong passwords cannot outrun the lock: at most
 * `threshold` of them are ever checked. A success clears the count.
 *
 * A locked account throws too_many_requests (with retryAfter). An unknown user
 * (null) is checked against the dummy hash, costs the same time, is never
 * locked and returns false. Disabled accounts are the caller's rule.
 */
export async function checkUserPassword (deps: PasswordCheckDeps, user: UserRecord | null, password: string, now: Date): Promise<boolean> {
  if (user === null) return deps.hasher.verify(null, password)
  const lockedUntil = await deps.store.users.beginLoginAttempt(user.id, {
    threshold: deps.lockout.threshold, lockSeconds: deps.lockout.lockSeconds, now
  })
  if (lockedUntil !== null) throw tooManyAttempts(lockedUntil, now)
  const ok = await deps.hasher.verify(user.passwordHash, password)
  if (ok) await deps.store.users.clearLoginFailures(user.id)
  return ok
}

function tooManyAttempts (lockedUntil: Date, now: Date): AppError {
  const retryAfter = Math.max(1, Math.ceil((lockedUntil.getTime() - now.getTime()) / 1000))
  return new AppError('too_many_requests', 'too many failed logins for this account, try again later', { retryAfter })
}
