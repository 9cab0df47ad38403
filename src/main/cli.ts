#!/usr/bin/env node
// The operator's command line (the package's `bin`): create users and clients,
// rotate signing keys and back up the embedded database, against the same
// configuration (environment and .env, read by loadConfig, with the same
// development secrets) and the same store (MONGODB_URL, else the SQLite file
// SQLITE_PATH) as the service.
// Results go to stdout as JSON; messages to stderr. Exit 0 on success, 1 when
// the command failed, 2 on a usage error.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { MongoClient } from 'mongodb'
import { AccountService } from '../auth/account-service.js'
import { ADMIN_PASSWORD_RULE, adminPasswordProblem } from '../auth/admin-password.js'
import { AuthService } from '../auth/auth-service.js'
import { ClientService, clientView, GRANT_TYPES } from '../clients/clients.js'
import { ConfigError, type Config } from './config.js'
import { AppError } from '../errors.js'
import { isAsymmetric, rotateKeys } from '../keys/key-ring.js'
import {
  ADMIN_ROLE, createUser, isValidPassword, isValidRoles, isValidUsername, MAX_ROLES, PASSWORD_RULE, ROLE_NAME_PATTERN, USERNAME_RULE
} from '../auth/accounts.js'
import { RevocationFollower, RevocationList } from '../revocation/revocation-list.js'
import { keepsDevSecrets, loadServiceConfig } from './dev-secrets.js'
import { accountPolicy, authPolicy, clientPolicy, passwordHasher } from './policies.js'
import { ensureSqliteFolder, MEMORY, mongoDatabaseName, sqliteFile } from '../store/location.js'
import { isUnavailableError, MongoStore, writeConcernFor } from '../store/mongo-store.js'
import { SqliteStore } from '../store/sqlite-store.js'
import type { GrantType, Store, UserRecord } from '../store/types.js'
import { TokenService, type JwtCodec } from '../tokens/tokens.js'

const NAME = 'token-orchestrator'

const MAIN_HELP = `Usage: ${NAME} <command> [options]

Commands:
  user create     Create a user (optionally an admin)
  user disable    Disable a user and end every session of theirs
  user enable     Let a disabled user log in again
  user roles      Set a user's roles
  client create   Create a client; prints its secret once (none for --public)
  client secret   Rotate a client's secret; prints the new one once
  keys rotate     Publish the next signing key (ES256, EdDSA, RS256)
  backup FILE     Copy the embedded SQLite database to FILE while the service runs

Run "${NAME} <command> --help" for a command's options.
Configuration comes from the environment and .env, as for the service:
MONGODB_URL selects MongoDB, otherwise the SQLite file SQLITE_PATH
(default data/token-orchestrator.sqlite under the working directory).`

class UsageError extends Error {}

interface Command {
  help: string
  options: NonNullable<ParseArgsConfig['options']>
  /** How many positional arguments it takes (default none), or at least how many. */
  positionals?: number | { min: number }
  /** Opens the store itself (default: main opens it before run). */
  ownStore?: boolean
  run: (values: Record<string, string | boolean | string[] | undefined>, ctx: Context) => Promise<unknown>
}

interface Context {
  config: Config
  /** The store; unset for commands that open their own. */
  store: Store
  env: Record<string, string | undefined>
  positionals: string[]
  readStdin: () => Promise<string>
}

const commands: Record<string, Command> = {
  'user create': {
    help: `Usage: ${NAME} user create --username <name> (--password <pw> | --password-stdin) [--admin] [--role <role>]...

Creates a user. Usernames are ${USERNAME_RULE}, stored lower-cased.
Passwords are ${PASSWORD_RULE}; prefer --password-stdin (a password in
the arguments can be seen by other users of the machine). An admin's password
(--admin or --role admin) must be ${ADMIN_PASSWORD_RULE}.

Options:
  --username <name>    the username (required)
  --password <pw>      the password
  --password-stdin     read the password from the first line of standard input
  --admin              give the user the admin role (the /admin API)
  --role <role>        another role (repeatable)
  -h, --help           show this help`,
    options: {
      username: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      admin: { type: 'boolean' },
      role: { type: 'string', multiple: true }
    },
    run: async (values, ctx) => {
      const username = values.username
      if (typeof username !== 'string') throw new UsageError('--username is required')
      if (!isValidUsername(username)) throw new UsageError(`--username must be ${USERNAME_RULE}`)
      let password = values.password
      if (values['password-stdin'] === true) {
        if (password !== undefined) throw new UsageError('give --password or --password-stdin, not both')
        password = (await ctx.readStdin()).split(/\r?\n/)[0]
      }
      if (typeof password !== 'string') throw new UsageError('--password or --password-stdin is required')
      if (!isValidPassword(password)) throw new UsageError(`the password must be ${PASSWORD_RULE}`)
      const roles = [...new Set([...(values.admin === true ? [ADMIN_ROLE] : []), ...((values.role as string[] | undefined) ?? [])])]
      const problem = roles.includes(ADMIN_ROLE) ? adminPasswordProblem(password, username) : null
      if (problem !== null) throw new UsageError(`an admin's password must be ${ADMIN_PASSWORD_RULE}; this one is ${problem}`)
      const user = await createUser({ store: ctx.store, hasher: passwordHasher(ctx.config) }, { username, password, roles })
      return { id: user.id, username: user.username, roles: user.roles }
    }
  },

  'client create': {
    help: `Usage: ${NAME} client create --name <name> [--public] [--grant <grant>]... [--audience <aud>]...
       [--scope <scope>]... [--access-token-ttl <seconds>] [--refresh-token-ttl <seconds>] [--dpop-bound]

Creates a client and prints it with its client_secret. The secret is shown this
once: only its argon2id hash is stored. A public client (--public: a first-party
app that cannot keep a secret) has none (client_secret null) and may not have
the client_credentials grant.

Options:
  --name <name>                  a name for people (required)
  --public                       a public client, without a secret
  --grant <grant>                ${GRANT_TYPES.join(', ')} (repeatable; default client_credentials,
                                 or password and refresh_token with --public)
  --audience <aud>               added to the aud of the client's tokens (repeatable)
  --scope <scope>                a scope the client may be granted (repeatable)
  --access-token-ttl <seconds>   at most ACCESS_TOKEN_TTL (default: that)
  --refresh-token-ttl <seconds>  at most SESSION_MAX_LIFETIME (default: REFRESH_TOKEN_TTL)
  --dpop-bound                   every token request of the client must carry a DPoP proof
  -h, --help                     show this help`,
    options: {
      name: { type: 'string' },
      public: { type: 'boolean' },
      grant: { type: 'string', multiple: true },
      audience: { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      'access-token-ttl': { type: 'string' },
      'refresh-token-ttl': { type: 'string' },
      'dpop-bound': { type: 'boolean' }
    },
    run: async (values, ctx) => {
      if (typeof values.name !== 'string') throw new UsageError('--name is required')
      const grants = values.grant as string[] | undefined
      const unknown = grants?.filter((g) => !(GRANT_TYPES as readonly string[]).includes(g)) ?? []
      if (unknown.length > 0) throw new UsageError(`unknown grant ${unknown.join(', ')}: use ${GRANT_TYPES.join(', ')}`)
      const ttl = (flag: string): number | undefined => {
        const raw = values[flag]
        if (raw === undefined) return undefined
        if (typeof raw !== 'string' || !/^[1-9][0-9]{0,9}$/.test(raw)) throw new UsageError(`--${flag} must be a positive whole number of seconds`)
        return Number(raw)
      }
      const accessTokenTtl = ttl('access-token-ttl')
      const refreshTokenTtl = ttl('refresh-token-ttl')
      const { client, secret } = await clientsFor(ctx).create({
        name: values.name,
        public: values.public === true,
        ...(grants !== undefined ? { grants: grants as GrantType[] } : {}),
        ...(values.audience !== undefined ? { audiences: values.audience as string[] } : {}),
        ...(values.scope !== undefined ? { scopes: values.scope as string[] } : {}),
        ...(accessTokenTtl !== undefined ? { accessTokenTtl } : {}),
        ...(refreshTokenTtl !== undefined ? { refreshTokenTtl } : {}),
        dpopBoundAccessTokens: values['dpop-bound'] === true
      })
      return { ...clientView(client), client_secret: secret }
    }
  },

  'user disable': {
    help: `Usage: ${NAME} user disable <username>

Disables the user: login then answers as for a wrong password, refresh and the
admin API refuse the account, and every session ends (its tokens are refused by
every instance within about a second). Idempotent.

Options:
  -h, --help   show this help`,
    options: {},
    positionals: 1,
    run: async (_values, ctx) => accountsFor(ctx).disable((await userNamed(ctx, ctx.positionals[0])).id)
  },

  'user enable': {
    help: `Usage: ${NAME} user enable <username>

Lets a disabled user log in again. Sessions ended by the disable stay ended.

Options:
  -h, --help   show this help`,
    options: {},
    positionals: 1,
    run: async (_values, ctx) => accountsFor(ctx).enable((await userNamed(ctx, ctx.positionals[0])).id)
  },

  'user roles': {
    help: `Usage: ${NAME} user roles <username> [role...]

Sets the user's roles to exactly the ones given (none: no roles). Role names are
lower-case letters, digits and ._:- starting with a letter, at most ${MAX_ROLES}.
Taking a role away ends every session of the user, since tokens carry the roles
they were issued with; adding roles ends nothing (they appear from the next
login or refresh). The admin API reads roles from the store at once.

Options:
  -h, --help   show this help`,
    options: {},
    positionals: { min: 1 },
    run: async (_values, ctx) => {
      const roles = ctx.positionals.slice(1)
      const bad = roles.filter((r) => !isValidRoles([r]))
      if (bad.length > 0) throw new UsageError(`invalid role name ${bad.join(', ')}: use ${ROLE_NAME_PATTERN}`)
      if (!isValidRoles(roles)) throw new UsageError(`at most ${MAX_ROLES} roles`)
      return accountsFor(ctx).setRoles((await userNamed(ctx, ctx.positionals[0])).id, roles)
    }
  },

  'client secret': {
    help: `Usage: ${NAME} client secret <client_id>

Rotates a confidential client's secret and prints the client with the new
client_secret, shown this once (only its argon2id hash is stored). The old
secret is refused from now on, or for CLIENT_SECRET_GRACE more seconds when that
is set. Tokens already issued are not affected.

Options:
  -h, --help   show this help`,
    options: {},
    positionals: 1,
    run: async (_values, ctx) => {
      const { client, secret } = await clientsFor(ctx).rotateSecret(ctx.positionals[0] ?? '')
      return {
        ...clientView(client),
        client_secret: secret,
        previous_secret_expires_at: client.previousSecret?.expiresAt.toISOString() ?? null
      }
    }
  },

  'keys rotate': {
    help: `Usage: ${NAME} keys rotate

Publishes the next signing key of JWT_ALGORITHM (ES256, EdDSA or RS256). Every
instance serves it in /.well-known/jwks.json within KEY_RING_SYNC_INTERVAL_MS and
signs with it KEY_ROTATION_OVERLAP seconds from now; the previous key stays
published until every token it signed has expired. Needs the service's
JWT_SECRET (the private key is sealed with it: set, or in development the one
generated beside the database) and its store (MONGODB_URL or SQLITE_PATH).

Options:
  -h, --help   show this help`,
    options: {},
    run: async (_values, ctx) => {
      const { config } = ctx
      const algorithm = config.JWT_ALGORITHM
      if (!isAsymmetric(algorithm)) {
        throw new AppError('conflict', `keys rotate needs JWT_ALGORITHM ES256, EdDSA or RS256 (it is ${algorithm}); HS256 has no key ring`)
      }
      if (ctx.env.JWT_SECRET === undefined && !keepsDevSecrets(config)) {
        throw new AppError('invalid_request', 'JWT_SECRET must be set to the service\'s value: the new private key is sealed with it')
      }
      const key = await rotateKeys(ctx.store.keys, {
        algorithm,
        secret: config.JWT_SECRET,
        overlapSeconds: config.KEY_ROTATION_OVERLAP,
        maxAccessTtl: config.ACCESS_TOKEN_TTL
      })
      return { kid: key.kid, alg: key.alg, published_at: key.createdAt.toISOString(), activates_at: key.activatesAt.toISOString() }
    }
  },

  backup: {
    help: `Usage: ${NAME} backup FILE

Writes an online, consistent copy of the embedded SQLite database (SQLITE_PATH)
to FILE, which must not exist yet. The service may keep running and writing
meanwhile. To restore: stop the service, remove the database file and its -wal
and -shm files, copy FILE to SQLITE_PATH, start the service. On MongoDB use
mongodump instead.

Options:
  -h, --help   show this help`,
    options: {},
    positionals: 1,
    ownStore: true,
    run: async (_values, ctx) => {
      const { config } = ctx
      if (config.MONGODB_URL !== undefined) {
        throw new AppError('conflict', 'backup copies the embedded SQLite database; the store is MongoDB (MONGODB_URL is set): use mongodump')
      }
      const source = sqliteFile(config.SQLITE_PATH)
      if (source === MEMORY) throw new AppError('conflict', 'SQLITE_PATH is :memory:: there is no database file to back up')
      if (!existsSync(source)) throw new AppError('not_found', `there is no database at ${source}`)
      const destination = resolve(ctx.positionals[0] ?? '')
      if (existsSync(destination)) throw new AppError('conflict', `${destination} already exists; give a new file name`)
      const store = new SqliteStore(source)
      try {
        await store.backup(destination)
      } finally {
        await store.close()
      }
      return { database: source, backup: destination }
    }
  }
}

async function userNamed (ctx: Context, username: string | undefined): Promise<UserRecord> {
  const user = await ctx.store.users.findByUsername(username ?? '')
  if (user === null) throw new AppError('not_found', `no user named ${JSON.stringify(username ?? '').slice(0, 80)}`)
  return user
}

/**
 * The revocation writer the CLI's account and client commands share: what
 * they end is published in the store's revocation log exactly as the service
 * publishes it, and every running instance applies it within a sync interval.
 */
function followerFor (store: Store): { list: RevocationList, follower: RevocationFollower } {
  const list = new RevocationList()
  return { list, follower: new RevocationFollower(list, store.revocations, { intervalMs: 1000 }) }
}

function clientsFor (ctx: Context): ClientService {
  const { config, store } = ctx
  return new ClientService({
    store,
    hasher: passwordHasher(config),
    follower: followerFor(store).follower,
    policy: clientPolicy(config)
  })
}

function accountsFor (ctx: Context): AccountService {
  const { config, store } = ctx
  const hasher = passwordHasher(config)
  const { list, follower } = followerFor(store)
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
    policy: { ...authPolicy(config), allowRegistration: false },
    resolvePublicClient: noClients,
    resolveClient: noClients
  })
  return new AccountService({
    store, hasher, auth, policy: accountPolicy(config)
  })
}

async function readStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer)
    if (Buffer.concat(chunks).includes(10)) break
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function openStore (config: Config, warn: (msg: string) => void): Promise<{ store: Store, close: () => Promise<void> }> {
  if (config.MONGODB_URL === undefined) {
    const file = sqliteFile(config.SQLITE_PATH)
    if (file === MEMORY) {
      warn('SQLITE_PATH is :memory:: what this command creates VANISHES when it exits and is NOT seen by a running ' +
        'service; use the service\'s SQLITE_PATH or MONGODB_URL.')
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

async function main (argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const out = (value: unknown): void => { process.stdout.write(JSON.stringify(value, null, 2) + '\n') }
  const err = (msg: string): void => { process.stderr.write(`${NAME}: ${msg}\n`) }
  const [first, second, ...rest] = argv
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(MAIN_HELP + '\n')
    return first === undefined ? 2 : 0
  }
  // Two-word commands ("user create") first, then one-word ones ("backup FILE").
  const twoWords = commands[`${first} ${second ?? ''}`]
  const command = twoWords ?? commands[first]
  if (command === undefined) {
    err(`unknown command "${[first, second].filter((s) => s !== undefined).join(' ')}"\n\n${MAIN_HELP}`)
    return 2
  }
  const args = twoWords !== undefined ? rest : argv.slice(1)
  let values: Record<string, string | boolean | string[] | undefined>
  let positionals: string[]
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true
    }))
  } catch (e) {
    err(`${(e as Error).message}\n\n${command.help}`)
    return 2
  }
  if (values.help === true) {
    process.stdout.write(command.help + '\n')
    return 0
  }
  const wanted = command.positionals ?? 0
  if (typeof wanted !== 'number') {
    if (positionals.length < wanted.min) {
      err(`expected at least ${wanted.min} argument${wanted.min === 1 ? '' : 's'}\n\n${command.help}`)
      return 2
    }
  } else if (positionals.length !== wanted) {
    err(`${wanted === 0 ? `unexpected argument "${positionals[0] ?? ''}"` : `expected ${wanted} argument${wanted === 1 ? '' : 's'}`}\n\n${command.help}`)
    return 2
  }

  let config: Config
  try {
    config = await loadServiceConfig(env, (msg) => err(`warning: ${msg}`))
  } catch (e) {
    if (e instanceof ConfigError) {
      err(e.message)
      return 1
    }
    if ((e instanceof AppError && e.code === 'store_unavailable') || isUnavailableError(e)) {
      err('the store (MONGODB_URL) is unreachable')
      return 1
    }
    throw e
  }
  let opened: Awaited<ReturnType<typeof openStore>> | undefined
  try {
    if (command.ownStore !== true) opened = await openStore(config, (msg) => err(`warning: ${msg}`))
    // Commands with ownStore never read ctx.store.
    const store = opened?.store as Store
    out(await command.run(values, { config, store, env, positionals, readStdin }))
    return 0
  } catch (e) {
    if (e instanceof UsageError) {
      err(`${e.message}\n\n${command.help}`)
      return 2
    }
    if ((e instanceof AppError && e.code === 'store_unavailable') || isUnavailableError(e)) {
      err(`the store (${config.MONGODB_URL !== undefined ? 'MONGODB_URL' : 'SQLITE_PATH'}) is unreachable`)
      return 1
    }
    if (e instanceof AppError) {
      err(`${e.code}: ${e.message}`)
      return 1
    }
    err(`failed: ${(e as Error).message}`)
    return 1
  } finally {
    await opened?.close()
  }
}

if (existsSync('.env')) process.loadEnvFile('.env')
process.exitCode = await main(process.argv.slice(2), process.env)
