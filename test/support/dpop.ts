// DPoP proofs for tests, made with jose (an independent JOSE implementation):
// a client key pair, proofs for a request, honest or tampered with, and the
// refusals every surface that takes a DPoP-bound token must make.
import { createHash, randomUUID } from 'node:crypto'
import type { Test } from 'tap'
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

/** One way a resource request presents a token and a proof; true when it was accepted. */
export type Surface = (token: string, proof: string | undefined, request: { method: string, url: string }) => Promise<boolean>

/**
 * The same refusals on a surface: `request` is what the proof must name
 * (method and absolute URL), `other` a request it must not be valid for.
 */
export async function refusesWhatIsNotItsProof (
  t: Test, surface: Surface, token: string, otherToken: string, key: DpopKey, request: { method: string, url: string }
): Promise<void> {
  const thief = await dpopKey()
  const proof = async (o: { method?: string, url?: string, accessToken?: string } = {}): Promise<string> =>
    key.proof({ method: o.method ?? request.method, url: o.url ?? request.url, accessToken: o.accessToken ?? token })
  t.equal(await surface(token, undefined, request), false, 'no proof: refused')
  t.equal(await surface(token, await proof({ method: request.method === 'GET' ? 'DELETE' : 'GET' }), request), false, 'a proof for another method: refused')
  t.equal(await surface(token, await proof({ url: request.url + '/other' }), request), false, 'a proof for another URL: refused')
  t.equal(await surface(token, await proof({ accessToken: otherToken }), request), false, 'a proof for another token (ath): refused')
  t.equal(await surface(token, await thief.proof({ method: request.method, url: request.url, accessToken: token }), request), false,
    'a proof from another key: refused')
  const fresh = await proof()
  t.equal(await surface(token, fresh, request), true, 'a fresh proof from its key: accepted')
  t.equal(await surface(token, fresh, request), false, 'the same proof again (a replay): refused')
  t.equal(await surface(token, await proof({ url: request.url + '?page=2#top' }), request), true,
    'htu is compared without query and fragment')
}
