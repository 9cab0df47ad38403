// The background rounds (revocation follower, outbox, key ring, access
// lifetime): never two at once, a fresh round after the running one when asked,
// failures reported once per streak, stop waits for the round in flight.
import t from 'tap'
import { Ticker } from '../../src/ticker.js'

/** A round that waits until released, counting how many run at once. */
function heldRounds (): { round: () => Promise<void>, release: () => void, started: number, maxConcurrent: number } {
  const state = {
    started: 0,
    maxConcurrent: 0,
    active: 0,
    gates: [] as Array<() => void>,
    round: async (): Promise<void> => {
      state.started += 1
      state.active += 1
      state.maxConcurrent = Math.max(state.maxConcurrent, state.active)
      await new Promise<void>((resolve) => { state.gates.push(resolve) })
      state.active -= 1
    },
    release: (): void => { for (const gate of state.gates.splice(0)) gate() }
  }
  return state
}

t.test('kick joins the round in flight; fresh queues one after it', async (t) => {
  const rounds = heldRounds()
  const ticker = new Ticker(rounds.round, { intervalMs: 60_000 })
  const first = ticker.kick()
  const joined = ticker.kick()
  t.equal(rounds.started, 1, 'a second kick while a round runs starts nothing')
  const fresh = ticker.fresh()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(rounds.started, 1, 'the fresh round waits for the running one')
  rounds.release()
  await Promise.all([first, joined])
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(rounds.started, 2, 'then it runs')
  t.equal(ticker.kick(), ticker.kick(), 'a kick during the fresh round joins it')
  rounds.release()
  await fresh
  t.equal(rounds.maxConcurrent, 1, 'never two rounds at once')
  const after = ticker.kick()
  t.equal(rounds.started, 3, 'once idle, a kick starts a round')
  rounds.release()
  await after
})

t.test('failures are reported once per streak, recovery once', async (t) => {
  const errors: unknown[] = []
  let recovered = 0
  let fail = true
  const ticker = new Ticker(async () => { if (fail) throw new Error('store down') }, {
    intervalMs: 60_000,
    onError: (err) => { errors.push(err) },
    onRecover: () => { recovered += 1 }
  })
  await ticker.tick()
  await ticker.tick()
  await ticker.kick()
  t.equal(errors.length, 1, 'three failing rounds, one report')
  t.equal((errors[0] as Error).message, 'store down')
  fail = false
  await ticker.tick()
  await ticker.tick()
  t.equal(recovered, 1, 'one recovery')
  fail = true
  await ticker.tick()
  t.equal(errors.length, 2, 'a new streak is reported again')
})

t.test('start runs rounds on the interval; stop waits for the one in flight', async (t) => {
  const rounds = heldRounds()
  const ticker = new Ticker(rounds.round, { intervalMs: 5 })
  ticker.start()
  ticker.start()
  while (rounds.started === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(rounds.started, 1, 'a held round is not doubled by later ticks (nor by a second start)')
  let stopped = false
  const stopping = ticker.stop().then(() => { stopped = true })
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(stopped, 'stop waits for the round in flight')
  rounds.release()
  await stopping
  const count = rounds.started
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(rounds.started, count, 'no round after stop')
})
