// A progress line for long copies (backup, restore): rewritten in place on a
// terminal, at most a few times a second; nothing at all when stderr is not a
// terminal (a log or a pipe wants no carriage returns) or the copy is small.
import type { CopyProgress } from '../../store/sqlite-store.js'

/** Below this the copy is over before a line would help. */
export const PROGRESS_MIN_BYTES = 16 * 1024 * 1024

const MIB = 1024 * 1024

export interface ProgressLine {
  update: CopyProgress
  /** Ends the line (a newline after the last update), if one was drawn. */
  end: () => void
}

export function progressLine (
  label: string,
  stream: { write: (text: string) => unknown, isTTY?: boolean },
  options: { minBytes?: number, intervalMs?: number, now?: () => number } = {}
): ProgressLine {
  const minBytes = options.minBytes ?? PROGRESS_MIN_BYTES
  const intervalMs = options.intervalMs ?? 200
  const now = options.now ?? Date.now
  let drawn = false
  let last = -Infinity
  return {
    update: (done, total) => {
      if (stream.isTTY !== true || total < minBytes) return
      const t = now()
      if (done < total && t - last < intervalMs) return
      last = t
      const percent = total === 0 ? 100 : Math.floor(done * 100 / total)
      stream.write(`\r${label}: ${percent}% (${(done / MIB).toFixed(1)} of ${(total / MIB).toFixed(1)} MiB)`)
      drawn = true
    },
    end: () => {
      if (drawn) stream.write('\n')
      drawn = false
    }
  }
}
