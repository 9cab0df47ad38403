// The reuse grace (REFRESH_REUSE_INTERVAL) hands a repeated refresh the same
// successor pair. The store keeps that pair sealed with AES-256-GCM under a key
// derived (HKDF-SHA256) from the presented refresh token itself, so reading the
// store alone never reveals a usable token.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

export interface SealedPair {
  accessToken: string
  refreshToken: string
  /** Epoch seconds. */
  accessExp: number
  refreshExp: number
  /** The access token is DPoP-bound (absent on pairs sealed before DPoP existed: those are not). */
  dpop?: boolean
}

function keyFor (presentedToken: string, sid: string): Buffer {
  return Buffer.from(hkdfSync('sha256', presentedToken, sid, 'token-orchestrator refresh successor', 32))
}

export function sealSuccessor (presentedToken: string, sid: string, pair: SealedPair): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keyFor(presentedToken, sid), iv)
  const body = Buffer.concat([cipher.update(JSON.stringify(pair), 'utf8'), cipher.final()])
  return [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url')).join('.')
}

/** Returns null when the sealed value was not made from this token (or was tampered with). */
export function openSuccessor (presentedToken: string, sid: string, sealed: string): SealedPair | null {
  const [iv, tag, body] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'))
  if (iv === undefined || tag === undefined || body === undefined) return null
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFor(presentedToken, sid), iv)
    decipher.setAuthTag(tag)
    const plain = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')
    return JSON.parse(plain) as SealedPair
  } catch {
    return null
  }
}
