// HTTP requests from a chosen loopback source address (127.0.0.0/8): the
// per-IP counters key on the address, so a test can act as several clients.
import { request as httpRequest } from 'node:http'

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** The body parsed as JSON, or its text when it is not JSON. */
  body: any
}

export interface SendOptions {
  json?: unknown
  form?: string
  headers?: Record<string, string>
}

/** One request to 127.0.0.1:`port` from `from`, on a connection of its own. */
export function sendFrom (port: number, from: string, method: string, path: string, opts: SendOptions = {}): Promise<Answer> {
  const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.form
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.json !== undefined) headers['content-type'] = 'application/json'
  if (opts.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, localAddress: from, method, path, headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => {
        let parsed: unknown = text
        try { parsed = text === '' ? undefined : JSON.parse(text) } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

let addresses = 0
/** A loopback address no request of this process came from yet: a fresh per-IP budget. */
export function freshAddress (): string {
  const n = addresses++
  return `127.0.${Math.floor(n / 250) + 1}.${(n % 250) + 1}`
}
