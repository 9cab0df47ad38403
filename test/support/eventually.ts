// Waiting for something another instance does on its own schedule (a
// revocation sync, a poll): polls `check` every 25 ms until it holds.

/** Generous bound for "about a second": the poll interval in tests is 100 ms. */
export const WITHIN_MS = 5000

/** Polls until `check` holds, or throws after `withinMs` (WITHIN_MS); returns the time it took, in ms. */
export async function eventually (check: () => Promise<boolean>, withinMs = WITHIN_MS): Promise<number> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > withinMs) throw new Error(`condition not met within ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return Date.now() - start
}
