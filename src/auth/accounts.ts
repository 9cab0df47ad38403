// Accounts: the rules a username and a password must meet, the admin role, and
// the one way a user is created (registration, the bootstrap admin and the CLI
// all go through createUser). The request schemas, the config schema and the
// CLI read their limits from here.
import { DEFAULT_CLIENT_ID } from '../clients/clients.js'
import { AppError } from '../errors.js'
import { MAX_PASSWORD_LENGTH, type PasswordHasher } from './passwords.js'
import type { Store, UserRecord } from '../store/types.js'
import type { AccessClaims } from '../tokens/tokens.js'

/** The role that opens the /admin API. */
export const ADMIN_ROLE = 'admin'

/** A role name: lower-case letters, digits and `._:-`, starting with a letter. */
export const ROLE_NAME_PATTERN = '^[a-z][a-z0-9._:-]{0,63}$'
export const MAX_ROLES = 32
const ROLE_NAME = new RegExp(ROLE_NAME_PATTERN)

/** Roles an operator may give: at most MAX_ROLES names, each matching ROLE_NAME_PATTERN. */
export function isValidRoles (roles: readonly string[]): boolean {
  return roles.length <= MAX_ROLES && roles.every((r) => ROLE_NAME.test(r))
}

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

/**
 * Lengths are counted in characters (code points), as the request schemas count
 * them, not in UTF-16 units: 256 emoji are a valid password here as at the route.
 */
export function isValidPassword (password: string): boolean {
  // Over two units per character it is too long whatever it holds: no need to count.
  if (password.length > 2 * PASSWORD_MAX_LENGTH) return false
  // A surrogate pair is one character in two UTF-16 units.
  const characters = password.length - (password.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0)
  return characters >= PASSWORD_MIN_LENGTH && characters <= PASSWORD_MAX_LENGTH
}

export interface NewUser {
  username: string
  password: string
  roles?: string[]
}

/**
 * Creates a user after checking the rules for the username, the password and
 * the role names (invalid_request otherwise). A taken username is
 * `username_taken`, from the store's unique index, so two callers racing for
 * one name get one user.
 */
export async function createUser (deps: { store: Store, hasher: PasswordHasher }, user: NewUser): Promise<UserRecord> {
  if (!isValidUsername(user.username)) throw new AppError('invalid_request', `the username must be ${USERNAME_RULE}`)
  if (!isValidPassword(user.password)) throw new AppError('invalid_request', `the password must be ${PASSWORD_RULE}`)
  const roles = [...new Set(user.roles ?? [])]
  if (!isValidRoles(roles)) throw new AppError('invalid_request', `roles must be at most ${MAX_ROLES} names matching ${ROLE_NAME_PATTERN}`)
  const passwordHash = await deps.hasher.hash(user.password)
  return deps.store.users.create({ username: user.username, passwordHash, roles })
}

/**
 * A first-party login's token: issued to the built-in `default` client, with a
 * session, and not delegated. Only such a token may act on the account itself
 * (the admin API, logout-all): a token a third-party client (public or
 * confidential) obtained for the user, or one minted by exchange, could
 * otherwise be replayed by that client's backend to act as the user's own app.
 */
export function isFirstPartyLogin (claims: AccessClaims): boolean {
  return claims.act === undefined && claims.client_id === DEFAULT_CLIENT_ID && claims.sid !== undefined
}
