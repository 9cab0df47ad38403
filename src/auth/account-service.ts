// Account lifecycle: a user's own password change, and what an operator does
// to a user (look up, disable, enable, set roles, reset the password). Every
// operation that must cut access ends sessions through AuthService, so the
// revocations are published exactly as logout-all publishes them. HTTP-free:
// routes/auth, routes/admin and the CLI call this.
import { AppError } from '../errors.js'
import { NO_SECURITY_EVENTS, type SecurityEventSink } from '../ssf/events.js'
import type { Store, UserRecord } from '../store/types.js'
import type { AccessClaims } from '../tokens/tokens.js'
import { ADMIN_ROLE, isFirstPartyLogin, isValidPassword, isValidRoles, MAX_ROLES, PASSWORD_RULE, ROLE_NAME_PATTERN } from './accounts.js'
import { ADMIN_PASSWORD_RULE, adminPasswordProblem } from './admin-password.js'
import type { AuthService } from './auth-service.js'
import { checkUserPassword } from './password-check.js'
import type { PasswordHasher } from './passwords.js'

/** A user as the admin API and the CLI show it: never the hash or the failure counter. */
export interface UserView {
  id: string
  username: string
  roles: string[]
  disabled: boolean
  created_at: string
  /** When a lockout after failed logins ends; null when the account is not locked. */
  locked_until: string | null
}

export function userView (user: UserRecord, now: Date): UserView {
  return {
    id: user.id,
    username: user.username,
    roles: [...user.roles],
    disabled: user.disabled,
    created_at: user.createdAt.toISOString(),
    locked_until: user.lockedUntil !== null && user.lockedUntil > now ? user.lockedUntil.toISOString() : null
  }
}

export interface AccountPolicy {
  lockoutThreshold: number
  lockoutAccountThreshold: number
  lockoutSeconds: number
}

export interface AccountServiceDeps {
  store: Store
  hasher: PasswordHasher
  auth: AuthService
  policy: AccountPolicy
  now?: () => number
  /** The Shared Signals outbox: credential changes and account disables/enables are written there before the answer. */
  events?: SecurityEventSink
}

export class AccountService {
  private readonly now: () => number
  private readonly events: SecurityEventSink

  constructor (private readonly deps: AccountServiceDeps) {
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000))
    this.events = deps.events ?? NO_SECURITY_EVENTS
  }

  private nowDate (): Date {
    return new Date(this.now() * 1000)
  }

  /**
   * The user's own password change, from session `sid`. A wrong current
   * password counts toward the lockout like a failed login. Every other session
   * ends; `sid` continues. Sessions are ended before the new hash is written
   * and again after it: if the store fails between the steps, what is left is
   * either no change or the change with every other session already ended,
   * never a new password with the old sessions still live.
   */
  async changePassword (userId: string, sid: string, currentPassword: string, newPassword: string, from: string): Promise<void> {
    const { store, hasher, policy, auth } = this.deps
    const user = await store.users.findById(userId)
    // The same reserved check as login: concurrent wrong current passwords cannot outrun the lockout.
    const lockout = { threshold: policy.lockoutThreshold, accountThreshold: policy.lockoutAccountThreshold, lockSeconds: policy.lockoutSeconds }
    const ok = await checkUserPassword({ store, hasher, lockout }, user, currentPassword, this.nowDate(), from)
    if (user === null || user.disabled || !ok) throw new AppError('invalid_credentials', 'the current password is wrong')
    checkNewPassword(user, newPassword)
    const passwordHash = await hasher.hash(newPassword)
    await auth.logoutOthers(user.id, sid, 'password_changed')
    await this.events.record([{ type: 'credential-change', userId: user.id, reason: 'password_changed' }])
    await store.users.setPasswordHash(user.id, passwordHash)
    // Sessions a login with the old password started while the hash was being written.
    await auth.logoutOthers(user.id, sid, 'password_changed')
  }

  /**
   * Whether an (already verified, unrevoked) access token opens the admin API.
   * Only a first-party login's token (isFirstPartyLogin). Then the user's
   * CURRENT record: disabled is invalid_token (401), no admin role now is
   * forbidden (403) -- the token's roles are a snapshot and are not trusted here.
   */
  async authorizeAdmin (claims: AccessClaims): Promise<void> {
    if (!isFirstPartyLogin(claims)) {
      throw new AppError('forbidden', 'the admin API takes only a first-party login\'s token (client default)')
    }
    const user = await this.deps.store.users.findById(claims.sub)
    if (user !== null && user.disabled) throw new AppError('invalid_token', 'the account is disabled')
    if (user?.roles.includes(ADMIN_ROLE) !== true) throw new AppError('forbidden', 'the admin role is required')
  }

  /** Exact, case-insensitive username lookup: zero or one user. */
  async findByUsername (username: string): Promise<UserView[]> {
    const user = await this.deps.store.users.findByUsername(username)
    return user === null ? [] : [userView(user, this.nowDate())]
  }

  /** A page of users ordered by username, after `after` (exclusive) when given. */
  async list (page: { after?: string, limit: number }): Promise<UserView[]> {
    const now = this.nowDate()
    return (await this.deps.store.users.list(page)).map((user) => userView(user, now))
  }

  async get (id: string): Promise<UserView> {
    return userView(await this.find(id), this.nowDate())
  }

  /**
   * Disables a user: the flag first (login, refresh and the admin API refuse the
   * account from then on), then every session ends. A failure between the two
   * leaves the account disabled with its access tokens running out; repeating
   * the call (it is idempotent) ends them.
   */
  async disable (id: string, actorId?: string): Promise<UserView> {
    if (id === actorId) throw new AppError('conflict', 'an admin cannot disable their own account')
    await this.find(id)
    await this.events.record([{ type: 'account-disabled', userId: id, reason: 'user_disabled' }])
    await this.deps.store.users.setDisabled(id, true)
    await this.deps.auth.logoutAll(id, 'user_disabled')
    return this.get(id)
  }

  /**
   * Lifts a lockout: the account-wide one (many addresses guessing) and every
   * address's count. The operator's way in when guessing has locked an account
   * (the CLI's `user unlock`).
   */
  async unlock (id: string): Promise<UserView> {
    await this.find(id)
    await this.deps.store.users.clearAllLoginFailures(id)
    return this.get(id)
  }

  /** Lets the user log in again; it ended no session, and none comes back. */
  async enable (id: string): Promise<UserView> {
    await this.find(id)
    await this.deps.store.users.setDisabled(id, false)
    await this.events.record([{ type: 'account-enabled', userId: id, reason: 'user_enabled' }])
    return this.get(id)
  }

  /**
   * Replaces the user's roles. Tokens carry the roles they were issued with, so
   * taking a role away ends every session (the old claims stop within the
   * revocation lag); adding roles ends nothing, and the new ones appear in the
   * tokens of the next login or refresh. The admin API itself reads roles from
   * the store, so a demoted admin loses it at once either way.
   */
  async setRoles (id: string, roles: string[], actorId?: string): Promise<UserView> {
    const wanted = [...new Set(roles)]
    if (!isValidRoles(wanted)) {
      throw new AppError('invalid_request', `roles must be at most ${MAX_ROLES} names matching ${ROLE_NAME_PATTERN}`)
    }
    if (id === actorId && !wanted.includes(ADMIN_ROLE)) {
      throw new AppError('conflict', 'an admin cannot take the admin role from their own account')
    }
    const before = await this.find(id)
    const updated = await this.deps.store.users.setRoles(id, wanted)
    if (updated === null) throw new AppError('not_found', 'no such user')
    if (before.roles.some((r) => !wanted.includes(r))) await this.deps.auth.logoutAll(id, 'roles_changed')
    return userView(updated, this.nowDate())
  }

  /**
   * An operator sets a new password (the user forgot theirs, or it leaked).
   * Every session ends, before and after the hash is written, as in changePassword;
   * a lockout in force is lifted.
   */
  async resetPassword (id: string, newPassword: string): Promise<void> {
    const user = await this.find(id)
    checkNewPassword(user, newPassword)
    const passwordHash = await this.deps.hasher.hash(newPassword)
    await this.deps.auth.logoutAll(id, 'password_reset')
    await this.events.record([{ type: 'credential-change', userId: id, reason: 'password_reset' }])
    await this.deps.store.users.setPasswordHash(id, passwordHash)
    await this.deps.store.users.clearAllLoginFailures(id)
    await this.deps.auth.logoutAll(id, 'password_reset')
  }

  private async find (id: string): Promise<UserRecord> {
    const user = await this.deps.store.users.findById(id)
    if (user === null) throw new AppError('not_found', 'no such user')
    return user
  }
}

/** A new password follows the account rules, and an admin's the admin password policy, whoever sets it. */
function checkNewPassword (user: UserRecord, password: string): void {
  if (!isValidPassword(password)) throw new AppError('invalid_request', `the password must be ${PASSWORD_RULE}`)
  if (!user.roles.includes(ADMIN_ROLE)) return
  const problem = adminPasswordProblem(password, user.username)
  if (problem !== null) throw new AppError('invalid_request', `an admin's password is refused (${problem}): it needs ${ADMIN_PASSWORD_RULE}`)
}
