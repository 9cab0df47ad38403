// One push delivery (RFC 8935): POST the SET as application/secevent+jwt,
// with the stream's Authorization header, within a deadline, to an address
// the SSRF rules allow (./endpoint.ts), following no redirect. The answer
// says whether the receiver took it, refused it for good, or should be asked
// again later. Written on node:http(s) rather than fetch: the connection's
// DNS lookup has to be ours, so that the address checked is the one used.
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { EndpointRefused, guardedLookup, literalAllowed, type EndpointPolicy } from './endpoint.js'

/** RFC 8935 §2.4 error codes (and SSF's invalid_state): the only `err` values a failure reason may carry. */
const SET_ERRORS = new Set([
  'invalid_request', 'invalid_key', 'invalid_issuer', 'invalid_audience', 'authentication_failed', 'access_denied', 'invalid_state'
])

/** Bounded labels for the failure metric and the log. */
export type PushFailure =
  | 'timeout' | 'connection' | 'address_refused' | 'redirect' | 'http_4xx' | 'http_5xx' | 'http_429'
  | 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed' | 'access_denied'
  | 'invalid_state'

export type PushResult =
  | { ok: true }
  /** permanent: the receiver refused this SET as malformed; asking again would not change that. */
  | { ok: false, permanent: boolean, reason: PushFailure }

/** How much of an answer is read (an error body is small); the rest is dropped. */
const MAX_ANSWER_BYTES = 4096

export interface PushOptions {
  timeoutMs: number
  policy: EndpointPolicy
  signal?: AbortSignal
}

export type PushSender = (endpoint: string, set: string, authorization: string | null, options: PushOptions) => Promise<PushResult>

export const pushSet: PushSender = async (endpoint, set, authorization, options) => {
  const url = new URL(endpoint)
  if (!literalAllowed(url, options.policy)) return { ok: false, permanent: false, reason: 'address_refused' }
  const body = Buffer.from(set, 'ascii')
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<PushResult>((resolve) => {
    let settled = false
    const finish = (result: PushResult): void => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      options.signal?.removeEventListener('abort', onAbort)
      resolve(result)
    }
    const request = send(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/secevent+jwt',
        accept: 'application/json',
        'content-length': body.length,
        ...(authorization !== null ? { authorization } : {})
      },
      lookup: guardedLookup(url, options.policy),
      // A connection per SET: nothing pooled outlives the check of its address.
      agent: false
    }, (response) => {
      readAnswer(response).then((text) => finish(classify(response.statusCode ?? 0, text)), () => finish({ ok: false, permanent: false, reason: 'connection' }))
    })
    const deadline = setTimeout(() => {
      request.destroy()
      finish({ ok: false, permanent: false, reason: 'timeout' })
    }, options.timeoutMs)
    const onAbort = (): void => {
      request.destroy()
      finish({ ok: false, permanent: false, reason: 'timeout' })
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    request.on('error', (err) => {
      finish({ ok: false, permanent: false, reason: err instanceof EndpointRefused ? 'address_refused' : 'connection' })
    })
    request.end(body)
  })
}

async function readAnswer (response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of response) {
    const buffer = chunk as Buffer
    if (size < MAX_ANSWER_BYTES) chunks.push(buffer.subarray(0, MAX_ANSWER_BYTES - size))
    size += buffer.length
    if (size >= MAX_ANSWER_BYTES) {
      response.destroy()
      break
    }
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * 2xx: taken (RFC 8935 asks for 202; any 2xx is read as success). 400
 * `invalid_request`, or a 400 or 413 that names no known error: the SET itself
 * was refused, for good. Everything else, 400s naming a key, issuer, audience
 * or authentication problem included, is asked again with backoff: those are
 * the receiver's configuration, and once it is fixed the events are still due.
 */
export function classify (status: number, text: string): PushResult {
  if (status >= 200 && status < 300) return { ok: true }
  if (status >= 300 && status < 400) return { ok: false, permanent: false, reason: 'redirect' }
  if (status === 429) return { ok: false, permanent: false, reason: 'http_429' }
  if (status === 400) {
    const err = errorCode(text)
    if (err === undefined || err === 'invalid_request') return { ok: false, permanent: true, reason: 'invalid_request' }
    return { ok: false, permanent: false, reason: err }
  }
  if (status === 413) return { ok: false, permanent: true, reason: 'invalid_request' }
  if (status >= 400 && status < 500) return { ok: false, permanent: false, reason: 'http_4xx' }
  return { ok: false, permanent: false, reason: 'http_5xx' }
}

function errorCode (text: string): Exclude<PushFailure, 'timeout'> | undefined {
  try {
    const err = (JSON.parse(text) as { err?: unknown }).err
    return typeof err === 'string' && SET_ERRORS.has(err) ? err as Exclude<PushFailure, 'timeout'> : undefined
  } catch {
    return undefined
  }
}
