// DPoP proofs for the benchmark, made with node:crypto (ES256, as most
// clients sign them): a fresh proof per call, so none is a replay, with the
// `ath` of the token it goes with. Synchronous, for autocannon's setupRequest.
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto'

export interface Prover {
  /** A new proof for `method` and `url`, and `accessToken` when given. */
  proof: (method: string, url: string, accessToken?: string) => string
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

export function es256Prover (): Prover {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  const header = b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } })
  const athOf = new Map<string, string>()
  return {
    proof (method, url, accessToken) {
      let ath: string | undefined
      if (accessToken !== undefined) {
        ath = athOf.get(accessToken)
        if (ath === undefined) {
          ath = createHash('sha256').update(accessToken).digest('base64url')
          athOf.set(accessToken, ath)
        }
      }
      const payload = b64({ jti: randomUUID(), htm: method, htu: url, iat: Math.floor(Date.now() / 1000), ...(ath !== undefined ? { ath } : {}) })
      const input = `${header}.${payload}`
      return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
    }
  }
}
