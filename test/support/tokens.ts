// Tokens crafted for tests with fast-jwt, signed with the test secrets (or
// others), so every validation failure can be reached on purpose.
import { randomBytes } from 'node:crypto'
import { createSigner, type SignerOptions } from 'fast-jwt'
import { TEST_ENV, TEST_ISSUER } from '../helper.js'

export const nowSec = (): number => Math.floor(Date.now() / 1000)
const id = (): string => randomBytes(16).toString('base64url')

/** Claims of a valid access token as the service issues them. */
export function accessClaims (overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = nowSec()
  return {
    iss: TEST_ISSUER,
    sub: `user-${id()}`,
    aud: 'token-orchestrator',
    iat,
    exp: iat + 900,
    jti: id(),
    sid: id(),
    client_id: 'default',
    scope: 'orders:read orders:write',
    roles: [],
    ...overrides
  }
}

export interface CraftOptions {
  secret?: string
  typ?: string
  algorithm?: 'HS256' | 'HS384' | 'HS512'
}

/** Signs claims as given (undefined values are dropped): nothing is added. */
export function craft (claims: Record<string, unknown>, opts: CraftOptions = {}): string {
  const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined))
  // fast-jwt takes `typ` as an option; its type definitions miss it.
  const sign = createSigner({
    key: opts.secret ?? TEST_ENV.JWT_SECRET!,
    algorithm: opts.algorithm ?? 'HS256',
    typ: opts.typ ?? 'at+jwt'
  } as Partial<SignerOptions> & { key: string })
  return sign(payload)
}

/** A valid access token (test secret, service claims) with the given claim overrides. */
export function accessToken (overrides: Record<string, unknown> = {}, opts: CraftOptions = {}): string {
  return craft(accessClaims(overrides), opts)
}
