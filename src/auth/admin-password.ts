// The one password policy for admin accounts, applied wherever an admin gets a
// password: the bootstrap admin at start-up (ADMIN_PASSWORD), the CLI's
// `user create --admin`, and the admin API when it grants the role or sets an
// admin's password. An admin password opens every client, session and key, so it
// must be long and must not be one that guessing tools try first.
import { COMMON_PASSWORDS } from './common-passwords.js'

export const MIN_ADMIN_PASSWORD_LENGTH = 16

/** The rule in words, for error messages and docs. */
export const ADMIN_PASSWORD_RULE = `at least ${MIN_ADMIN_PASSWORD_LENGTH} characters, at least 6 distinct, ` +
  'not the username, and not a common password (repeated or with digits appended)'

/**
 * Why `password` is not acceptable for an admin, or null when it is. Common
 * passwords are matched case-insensitively, also repeated ("rootroot" from
 * "root") and with digits appended ("rootroot12345678").
 */
export function adminPasswordProblem (password: string, username?: string): string | null {
  if (password.length < MIN_ADMIN_PASSWORD_LENGTH) return `shorter than ${MIN_ADMIN_PASSWORD_LENGTH} characters`
  const lower = password.toLowerCase()
  if (username !== undefined && lower === username.toLowerCase()) return 'the same as the username'
  if (new Set(password).size < 6) return 'fewer than 6 distinct characters'
  const stem = lower.replace(/[0-9]+$/, '')
  if (stem === '') return 'only digits'
  if (COMMON_PASSWORDS.has(lower) || isCommonRepeated(stem)) return 'a common password'
  return null
}

/** `stem` is a listed password, once or repeated ("passwordpassword"). */
function isCommonRepeated (stem: string): boolean {
  if (COMMON_PASSWORDS.has(stem)) return true
  for (let size = 1; size <= stem.length / 2; size++) {
    if (stem.length % size !== 0) continue
    const unit = stem.slice(0, size)
    if (COMMON_PASSWORDS.has(unit) && unit.repeat(stem.length / size) === stem) return true
  }
  return false
}
