// What a CLI command runs against: the service's configuration (loadConfig,
// with only the secrets the command uses), the service's store, and the domain
// services built the way the server builds them (policies.ts).
import { randomBytes } from 'node:crypto'
import { MongoClient } from 'mongodb'
import { AccountService } from '../../auth/account-service.js'
import { AuthService } from '../../auth/auth-service.js'
import { ClientService } from '../../clients/clients.js'
import { AppError } from '../../errors.js'
import { isAsymmetric } from '../../keys/key-ring.js'
import { RevocationFollower, RevocationList } from '../../revocation/revocation-list.js'
import { NO_SECURITY_EVENTS, type SecurityEventSink } from '../../ssf/events.js'
import { Outbox } from '../../ssf/outbox.js'
import { ensureSqliteFolder, MEMORY, mongoDatabaseName, sqliteFile } from '../../store/location.js'
import { MongoStore, writeConcernFor } from '../../store/mongo-store.js'
import { SqliteStore } from '../../store/sqlite-store.js'
import type { Store } from '../../store/types.js'
import { TokenService, type JwtCodec } from '../../tokens/tokens.js'
import { loadConfig, type Config, type SecretName } from '../config.js'
import { loadServiceConfig } from '../dev-secrets.js'
import { accountPolicy, authPolicy, clientPolicy, passwordHasher } from '../policies.js'
import type { CliCommand, CliContext } from './command.js'

const SECRET_NAMES: readonly SecretName[] = ['JWT_SECRET', 'REFRESH_TOKEN_SECRET']

/**
 * The configuration for `command`. A secret it does not use is replaced by a
 * random stand-in before validation, so nothing checks, generates, keeps or
 * warns about it; a secret it uses is loaded as the service loads it (the
 * development secrets kept with the data included). Of the warnings, only
 * those about the variables it uses are passed on: the others concern the
 * running service (its admin bootstrap, its /metrics), not this command.
 */
export async function configFor (command: CliCommand, env: Record<string, string | undefined>, warn: (msg: string) => void): Promise<Config> {
  const used = command.secrets ?? []
  const standIns = Object.fromEntries(SECRET_NAMES.filter((n) => !used.includes(n)).map((n) => [n, randomBytes(48).toString('base64url')]))
  const effective = { ...env, ...standIns }
  if (used.length === 0) return loadConfig(effective)
  return loadServiceConfig(effective, (msg) => {
    if (used.some((name) => msg.startsWith(`${name} `))) warn(msg)
  })
}

export async function openStore (config: Config, command: CliCommand, warn: (msg: string) => void): Promise<{ store: Store, close: () => Promise<void> }> {
  if (config.MONGODB_URL === undefined) {
    const file = sqliteFile(config.SQLITE_PATH)
    if (file === MEMORY) {
      warn(command.writes === true
        ? 'SQLITE_PATH is :memory:: what this command creates VANISHES when it exits and is NOT seen by a running ' +
          'service; use the service\'s SQLITE_PATH or MONGODB_URL.'
        : 'SQLITE_PATH is :memory:: this reads a new, empty database, not a running service\'s; use the service\'s ' +
          'SQLITE_PATH or MONGODB_URL.')
    }
    ensureSqliteFolder(file)
    // No init(): a one-shot command needs no periodic sweep.
    const store = new SqliteStore(file)
    return { store, close: async () => store.close() }
  }
  const client = new MongoClient(config.MONGODB_URL, { serverSelectionTimeoutMS: 5000 })
  try {
    await client.connect()
    const store = new MongoStore(client.db(mongoDatabaseName(config.MONGODB_URL)), { writeConcern: writeConcernFor(config.MONGODB_WRITE_CONCERN) })
    await store.init()
    return { store, close: async () => { await store.close(); await client.close() } }
  } catch (err) {
    await client.close().catch(() => {})
    throw err
  }
}

/**
 * The revocation writer the account and client commands share: what they end
 * is published in the store's revocation log exactly as the service publishes
 * it, and every running instance applies it within a sync interval.
 */
function followerFor (store: Store): { list: RevocationList, follower: RevocationFollower } {
  const list = new RevocationList()
  return { list, follower: new RevocationFollower(list, store.revocations, { intervalMs: 1000 }) }
}

export function clientsFor (ctx: CliContext): ClientService {
  const { config, store } = ctx
  return new ClientService({
    store,
    hasher: passwordHasher(config),
    follower: followerFor(store).follower,
    policy: clientPolicy(config)
  })
}

/**
 * Where the CLI's account commands write security events: the store's Shared
 * Signals outbox when SSF is on (an asymmetric JWT_ALGORITHM), so a user
 * disabled here reaches every receiver as one disabled through the API does;
 * the running instances deliver it.
 */
function eventsFor (ctx: CliContext): SecurityEventSink {
  const { config, store } = ctx
  if (!isAsymmetric(config.JWT_ALGORITHM)) return NO_SECURITY_EVENTS
  return new Outbox({
    events: store.ssfEvents,
    users: store.users,
    tokenIssuer: config.JWT_ISSUER,
    emailSubjects: config.SSF_EMAIL_SUBJECTS,
    intervalMs: config.SSF_SYNC_INTERVAL_MS
  })
}

/** The longest access-token lifetime any live token may have (see src/tokens/access-lifetime.ts), as the service reads it. */
export async function accessLifetime (ctx: CliContext): Promise<number> {
  return Math.max(ctx.config.ACCESS_TOKEN_TTL, await ctx.store.lifetimes.longestLive(new Date()))
}

export async function accountsFor (ctx: CliContext): Promise<AccountService> {
  const { config, store } = ctx
  // Revocations written here are kept as long as any live token may last.
  const lifetime = { seconds: await accessLifetime(ctx) }
  const hasher = passwordHasher(config)
  const { list, follower } = followerFor(store)
  const events = eventsFor(ctx)
  // Ending sessions issues no token: the token codecs are never called here.
  const noTokens: JwtCodec = {
    sign: () => { throw new Error('the CLI issues no tokens') },
    verify: () => { throw new Error('the CLI verifies no tokens') }
  }
  const noClients = async (): Promise<never> => { throw new AppError('invalid_request', 'the CLI starts no sessions') }
  const auth = new AuthService({
    store,
    tokens: new TokenService(noTokens, noTokens, { issuer: config.JWT_ISSUER, accessCacheSize: 0 }),
    hasher,
    revocations: list,
    follower,
    policy: { ...authPolicy(config, lifetime), allowRegistration: false },
    resolvePublicClient: noClients,
    resolveClient: noClients,
    events
  })
  return new AccountService({ store, hasher, auth, policy: accountPolicy(config), events })
}
