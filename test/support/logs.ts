// Log capture for tests: a pino destination that keeps every line, with a mark
// to read only what came after a point.
import { Writable } from 'node:stream'

export interface LogCapture {
  stream: Writable
  text: () => string
  /** Every line as written (JSON text). */
  lines: () => string[]
  /** Every line parsed. */
  records: () => Array<Record<string, unknown>>
  mark: () => void
  /** The lines written since the last mark(). */
  sinceMark: () => string[]
}

export function captureLogs (): LogCapture {
  const chunks: string[] = []
  let marked = 0
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString())
      callback()
    }
  })
  const lines = (): string[] => chunks.join('').split('\n').filter((l) => l.trim() !== '')
  return {
    stream,
    text: () => chunks.join(''),
    lines,
    records: () => lines().map((l) => JSON.parse(l) as Record<string, unknown>),
    mark: () => { marked = lines().length },
    sinceMark: () => lines().slice(marked)
  }
}
