// CLI commands on clients: create, look up, list, rotate the secret. The
// rules are ClientService's.
import { clientView, GRANT_TYPES } from '../../clients/clients.js'
import type { GrantType } from '../../store/types.js'
import { oneOf, positiveInteger, repeatable, type CliCommand } from './command.js'
import { clientsFor } from './context.js'

export const clientCommands: CliCommand[] = [
  {
    name: 'client create',
    summary: 'Create a client; prints its secret once (none for --public)',
    details: `Prints the client with its client_secret. The secret is shown this once:
only its argon2id hash is stored. A public client (--public: a first-party app
that cannot keep a secret) has none (client_secret null) and may not have the
client_credentials grant. Default grants: client_credentials, or password and
refresh_token with --public.`,
    options: [
      { flags: '--name <name>', description: 'a name for people', required: true },
      { flags: '--public', description: 'a public client, without a secret' },
      { flags: '--grant <grant>', description: `${GRANT_TYPES.join(', ')} (repeatable)`, parse: repeatable(oneOf(GRANT_TYPES)) },
      { flags: '--audience <aud>', description: 'added to the aud of the client\'s tokens (repeatable)', parse: repeatable() },
      { flags: '--scope <scope>', description: 'a scope the client may be granted (repeatable)', parse: repeatable() },
      { flags: '--access-token-ttl <seconds>', description: 'at most ACCESS_TOKEN_TTL (default: that)', parse: positiveInteger() },
      { flags: '--refresh-token-ttl <seconds>', description: 'at most SESSION_MAX_LIFETIME (default: REFRESH_TOKEN_TTL)', parse: positiveInteger() }
    ],
    writes: true,
    run: async (ctx) => {
      const o = ctx.options
      const { client, secret } = await clientsFor(ctx).create({
        name: o.name as string,
        public: o.public === true,
        ...(o.grant !== undefined ? { grants: o.grant as GrantType[] } : {}),
        ...(o.audience !== undefined ? { audiences: o.audience as string[] } : {}),
        ...(o.scope !== undefined ? { scopes: o.scope as string[] } : {}),
        ...(o.accessTokenTtl !== undefined ? { accessTokenTtl: o.accessTokenTtl as number } : {}),
        ...(o.refreshTokenTtl !== undefined ? { refreshTokenTtl: o.refreshTokenTtl as number } : {})
      })
      return { ...clientView(client), client_secret: secret }
    }
  },

  {
    name: 'client get',
    args: ['<client_id>'],
    summary: 'Show a client (never its secret)',
    run: async (ctx) => clientView(await clientsFor(ctx).get(ctx.args[0] as string))
  },

  {
    name: 'client list',
    summary: 'List every client (never their secrets)',
    details: 'Prints {clients}, as GET /admin/clients does.',
    run: async (ctx) => ({ clients: (await clientsFor(ctx).list()).map(clientView) })
  },

  {
    name: 'client secret',
    args: ['<client_id>'],
    summary: 'Rotate a client\'s secret; prints the new one once',
    details: `Prints the client with the new client_secret, shown this once (only its
argon2id hash is stored). The old secret is refused from now on, or for
CLIENT_SECRET_GRACE more seconds when that is set. Tokens already issued are
not affected.`,
    writes: true,
    run: async (ctx) => {
      const { client, secret } = await clientsFor(ctx).rotateSecret(ctx.args[0] as string)
      return {
        ...clientView(client),
        client_secret: secret,
        previous_secret_expires_at: client.previousSecret?.expiresAt.toISOString() ?? null
      }
    }
  }
]
