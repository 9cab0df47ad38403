// DPoP proofs for tests, made with jose (an independent JOSE implementation):
// a client key pair, and proofs for a request, honest or tampered with.
import { createHash, randomUUID } from 'node:crypto'
import { base64url, calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose'

export interface ProofOptions {
  method?: string
  url: string
  accessToken?: string
  nonce?: string
  /** Seconds since the epoch (default: now). */
  iat?: number
  jti?: string
  /** Header members to add or replace (typ, alg, jwk, crit, …). */
  header?: Record<string, unknown>
  /** Payload members to add or replace; `undefined` removes one. */
  claims?: Record<string, unknown>
}

export interface DpopKey {
  alg: string
  publicJwk: JWK
  privateKey: CryptoKey
  /** RFC 7638 thumbprint, as jose computes it. */
  jkt: string
  proof: (options: ProofOptions) => Promise<string>
  keyPair: CryptoKeyPair
}

export function ath (accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url')
}

export async function dpopKey (alg = 'ES256'): Promise<DpopKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = await exportJWK(publicKey)
  const jkt = await calculateJwkThumbprint(publicJwk, 'sha256')
  const proof = async (o: ProofOptions): Promise<string> => {
    const payload: Record<string, unknown> = {
      jti: o.jti ?? randomUUID(),
      htm: o.method ?? 'POST',
      htu: o.url,
      iat: o.iat ?? Math.floor(Date.now() / 1000),
      ...(o.accessToken !== undefined ? { ath: ath(o.accessToken) } : {}),
      ...(o.nonce !== undefined ? { nonce: o.nonce } : {})
    }
    for (const [name, value] of Object.entries(o.claims ?? {})) {
      if (value === undefined) delete payload[name]
      else payload[name] = value
    }
    const header = { typ: 'dpop+jwt', alg, jwk: publicJwk, ...o.header }
    return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(privateKey)
  }
  return { alg, publicJwk, privateKey, jkt, proof, keyPair: { publicKey, privateKey } as CryptoKeyPair }
}

/** A proof with its payload replaced after signing (the signature no longer matches). */
export function tamperPayload (proof: string, change: (payload: Record<string, unknown>) => void): string {
  const [header, payload, signature] = proof.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
  change(claims)
  return `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`
}
