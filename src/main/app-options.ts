// Options the app plugin accepts: the validated config (server.ts and the test
// helper both load it with loadConfig) and, for tests, a store to share.
import type { Config } from './config.js'
import type { Store } from '../store/types.js'

export interface AppOptions {
  config: Config
  /** A store to use instead of building one from MONGODB_URL (tests share one between instances). */
  store?: Store
  /**
   * The clock every service reads, in seconds since the epoch (tests move time
   * with it instead of editing stored state). Absent: the system clock. JWT
   * signature checks keep the system clock for exp and nbf.
   */
  now?: () => number
}
