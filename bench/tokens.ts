// Access tokens minted for the benchmark with the service's secret and the
// exact claims and header the service issues (typ at+jwt, iss, aud, sub, sid,
// jti, client_id, scope, roles), so validate treats them as its own. Minting
// 10,000 by logging in would cost 10,000 argon2 verifications.
import { createSigner, type SignerOptions } from 'fast-jwt'
import { ACCESS_TOKEN_TYPE, newId } from '../src/tokens/tokens.js'

export interface MintOptions {
  secret: string
  issuer: string
  audience: string
  ttl: number
}

export function accessTokenMinter (opts: MintOptions): (sub?: string) => string {
  // fast-jwt takes `typ` as an option; it is missing from its type definitions (as in plugins/jwt.ts).
  const sign = createSigner({ key: opts.secret, algorithm: 'HS256', typ: ACCESS_TOKEN_TYPE } as Partial<SignerOptions> & { key: string })
  return (sub = `bench-user-${newId()}`) => {
    const iat = Math.floor(Date.now() / 1000)
    return sign({
      iss: opts.issuer,
      sub,
      aud: opts.audience,
      iat,
      exp: iat + opts.ttl,
      jti: newId(),
      sid: newId(),
      client_id: 'default',
      scope: 'orders:read orders:write',
      roles: []
    })
  }
}
