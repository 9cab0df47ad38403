// The one check of a user's password, with the account lockout. Every place
// that accepts a user's password (login today; a password change or a
// re-authentication later) must call checkUserPassword, never the hasher alone:
// the lockout only holds if each check is reserved in the store first.
import { AppError } from '../errors.js'
import type { PasswordHasher } from './passwords.js'
import type { Store, UserRecord } from '../store/types.js'

export interface LockoutRule {
  /** Password checks in a row without a success, from one client address, that lock the account for that address. */
  threshold: number
  /** The same from every address together: they lock the account for everyone. */
  accountThreshold: number
  /** How long a lock lasts. */
  lockSeconds: number
}

export interface PasswordCheckDeps {
  store: Store
  hasher: PasswordHasher
  lockout: LockoutRule
}

/**
 * True when `password` is `user`'s, tried from client address `from`. The
 * attempt is reserved in the store before the (slow) argon2 check, in one
 * atomic step that refuses a lock in force, so concurrent wrong passwords
 * cannot outrun it: at most `threshold` of them from one address are ever
 * checked, and `accountThreshold` from all addresses together. A success
 * clears both counts.
 *
 * Counting per address first means that someone guessing from one address
 * locks out that address only: the account's owner (an admin during an
 * incident above all) still gets in from elsewhere. Guesses spread over many
 * addresses reach the account-wide ceiling and lock everyone out; an operator
 * lifts that with `user unlock` or a password reset.
 *
 * A lock throws too_many_requests (with retryAfter). An unknown user (null) is
 * checked against the dummy hash, costs the same time, is never locked and
 * returns false. Disabled accounts are the caller's rule.
 */
export async function checkUserPassword (deps: PasswordCheckDeps, user: UserRecord | null, password: string, now: Date, from: string): Promise<boolean> {
  if (user === null) return deps.hasher.verify(null, password)
  const lockedUntil = await deps.store.users.beginLoginAttempt(user.id, {
    threshold: deps.lockout.threshold,
    accountThreshold: deps.lockout.accountThreshold,
    lockSeconds: deps.lockout.lockSeconds,
    now,
    address: from
  })
  if (lockedUntil !== null) throw tooManyAttempts(lockedUntil, now)
  const ok = await deps.hasher.verify(user.passwordHash, password)
  if (ok) await deps.store.users.clearLoginFailures(user.id, from)
  return ok
}

function tooManyAttempts (lockedUntil: Date, now: Date): AppError {
  const retryAfter = Math.max(1, Math.ceil((lockedUntil.getTime() - now.getTime()) / 1000))
  return new AppError('too_many_requests', 'too many failed logins for this account, try again later', { retryAfter })
}
