// A store wrapper for fault tests: while `down` is true every store call fails
// the way an unreachable database does (StoreUnavailableError), and nothing
// reaches the wrapped store.
import { StoreUnavailableError } from '../../src/errors.js'
import type { Store } from '../../src/store/types.js'

export interface FaultyStore extends Store {
  down: boolean
  /** Store calls attempted while down. */
  refused: number
}

function guard<T extends object> (target: T, state: { down: boolean, refused: number }): T {
  return new Proxy(target, {
    get (obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (state.down) {
          state.refused += 1
          return Promise.reject(new StoreUnavailableError(new Error('connection refused (simulated)')))
        }
        return (value as (...a: unknown[]) => unknown).apply(obj, args)
      }
    }
  })
}

export function faultyStore (inner: Store): FaultyStore {
  const state = { down: false, refused: 0 }
  const wrapped: FaultyStore = {
    get kind () { return inner.kind },
    users: guard(inner.users, state),
    sessions: guard(inner.sessions, state),
    revocations: guard(inner.revocations, state),
    clients: guard(inner.clients, state),
    keys: guard(inner.keys, state),
    lifetimes: guard(inner.lifetimes, state),
    ssfStreams: guard(inner.ssfStreams, state),
    ssfEvents: guard(inner.ssfEvents, state),
    init: () => inner.init(),
    ping: () => state.down ? Promise.reject(new StoreUnavailableError()) : inner.ping(),
    sweep: (now: Date) => state.down ? Promise.reject(new StoreUnavailableError()) : inner.sweep(now),
    close: () => inner.close(),
    get down () { return state.down },
    set down (value: boolean) { state.down = value },
    get refused () { return state.refused }
  }
  return wrapped
}
