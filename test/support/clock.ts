// A clock for tests: starts at the real time and moves only when told, so a
// test ages sessions, locks and revocations without touching stored state.
export interface TestClock {
  /** Seconds since the epoch. */
  now: () => number
  advance: (seconds: number) => void
}

export function testClock (start = Math.floor(Date.now() / 1000)): TestClock {
  let current = start
  return {
    now: () => current,
    advance: (seconds) => { current += seconds }
  }
}
