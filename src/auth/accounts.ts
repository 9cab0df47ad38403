// Accounts: the rules a username and a password must meet, the admin role, and
// the one way a user is created (registration, the bootstrap admin and the CLI
// all go through createUser). The request schemas, the config schema and the
// CLI read their limits from here.
import { AppError } from '../errors.js'
import { MAX_PASSWORD_LENGTH, type PasswordHasher } from './passwords.js'
import type { Store, UserRecord } from '../store/types.js'

/** The role that opens the /admin API. */
export const ADMIN_ROLE = 'admin'

export const USERNAME_MIN_LENGTH = 3
export const USERNAME_MAX_LENGTH = 64
/** Characters a username may hold (it is stored lower-cased). */
export const USERNAME_PATTERN = '^[A-Za-z0-9._@-]+$'
export const USERNAME_RULE = `${USERNAME_MIN_LENGTH}-${USERNAME_MAX_LENGTH} characters of [A-Za-z0-9._@-]`

export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = MAX_PASSWORD_LENGTH
export const PASSWORD_RULE = `${PASSWORD_MIN_LENGTH}-${PASSWORD_MAX_LENGTH} characters`

const USERNAME = new RegExp(USERNAME_PATTERN)

export function isValidUsername (username: string): boolean {
  return username.length >= USERNAME_MIN_LENGTH && username.length <= USERNAME_MAX_LENGTH && USERNAME.test(username)
}

/** Lengths count characters (code points), as the request schemas do, not UTF-16 units. */
export function isValidPassword (password: string): boolean {
  const length = [...password].length
  return length >= PASSWORD_MIN_LENGTH && length <= PASSWORD_MAX_LENGTH
}

export interface NewUser {
  username: string
  password: string
  roles?: string[]
}

/**
 * Creates a user after checking the rules (invalid_request otherwise). A taken
 * username is `username_taken`, from the store's unique index, so two callers
 * racing for one name get one user.
 */
export async function createUser (deps: { store: Store, hasher: PasswordHasher }, user: NewUser): Promise<UserRecord> {
  if (!isValidUsername(user.username)) throw new AppError('invalid_request', `the username must be ${USERNAME_RULE}`)
  if (!isValidPassword(user.password)) throw new AppError('invalid_request', `the password must be ${PASSWORD_RULE}`)
  const roles = [...new Set(user.roles ?? [])]
  const passwordHash = await deps.hasher.hash(user.password)
  return deps.store.users.create({ username: user.username, passwordHash, roles })
}
