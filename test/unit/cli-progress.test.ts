// The CLI's progress line: drawn only on a terminal and for a large copy, at
// most every interval, always at 100 %, ended by one newline.
import t from 'tap'
import { progressLine } from '../../src/main/cli/progress.js'

const MIB = 1024 * 1024

function terminal (isTTY: boolean): { write: (s: string) => void, isTTY: boolean, text: () => string } {
  let text = ''
  return { write: (s) => { text += s }, isTTY, text: () => text }
}

t.test('on a terminal, a large copy: throttled updates, the last at 100 %, then a newline', async (t) => {
  const out = terminal(true)
  let clock = 0
  const line = progressLine('backup', out, { minBytes: 10 * MIB, intervalMs: 200, now: () => clock })
  line.update(0, 40 * MIB)
  clock = 100
  line.update(10 * MIB, 40 * MIB) // within the interval: skipped
  clock = 250
  line.update(20 * MIB, 40 * MIB)
  clock = 260
  line.update(40 * MIB, 40 * MIB) // the end is always drawn
  line.end()
  t.equal(out.text(), '\rbackup: 0% (0.0 of 40.0 MiB)\rbackup: 50% (20.0 of 40.0 MiB)\rbackup: 100% (40.0 of 40.0 MiB)\n')
  line.end()
  t.equal(out.text().endsWith('MiB)\n'), true, 'a second end adds nothing')
})

t.test('nothing when stderr is not a terminal, or the copy is small', async (t) => {
  const pipe = terminal(false)
  const piped = progressLine('backup', pipe, { minBytes: 1 })
  piped.update(5 * MIB, 10 * MIB)
  piped.update(10 * MIB, 10 * MIB)
  piped.end()
  t.equal(pipe.text(), '')
  const tty = terminal(true)
  const small = progressLine('restore', tty)
  small.update(MIB, 2 * MIB)
  small.update(2 * MIB, 2 * MIB)
  small.end()
  t.equal(tty.text(), '', 'under 16 MiB by default')
})
