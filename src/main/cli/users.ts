// CLI commands on users: create, look up, list, disable, enable, set roles.
// The rules are the domain's (accounts.ts, admin-password.ts, AccountService).
import { AccountService } from '../../auth/account-service.js'
import { ADMIN_ROLE, createUser, MAX_ROLES, PASSWORD_RULE, ROLE_NAME_PATTERN, USERNAME_RULE } from '../../auth/accounts.js'
import { ADMIN_PASSWORD_RULE, adminPasswordProblem } from '../../auth/admin-password.js'
import { AppError } from '../../errors.js'
import type { UserRecord } from '../../store/types.js'
import { passwordHasher } from '../policies.js'
import { positiveInteger, repeatable, type CliCommand, type CliContext, UsageError } from './command.js'
import { accountsFor } from './context.js'

async function userNamed (ctx: CliContext, username: unknown): Promise<UserRecord> {
  const name = typeof username === 'string' ? username : ''
  const user = await ctx.store.users.findByUsername(name)
  if (user === null) throw new AppError('not_found', `no user named ${JSON.stringify(name).slice(0, 80)}`)
  return user
}

const accounts = async (ctx: CliContext): Promise<AccountService> => accountsFor(ctx)

export const userCommands: CliCommand[] = [
  {
    name: 'user create',
    summary: 'Create a user (optionally an admin)',
    details: `Usernames are ${USERNAME_RULE}, stored lower-cased. Passwords are
${PASSWORD_RULE}; prefer --password-stdin (a password in the arguments can be
seen by other users of the machine). An admin's password (--admin or --role
admin) must be ${ADMIN_PASSWORD_RULE}.`,
    options: [
      { flags: '--username <name>', description: 'the username', required: true },
      { flags: '--password <pw>', description: 'the password', conflicts: ['passwordStdin'] },
      { flags: '--password-stdin', description: 'read the password from the first line of standard input' },
      { flags: '--admin', description: 'give the user the admin role (the /admin API)' },
      { flags: '--role <role>', description: 'another role (repeatable)', parse: repeatable() }
    ],
    writes: true,
    check: (options) => {
      if (options.password === undefined && options.passwordStdin !== true) throw new UsageError('give --password or --password-stdin')
    },
    run: async (ctx) => {
      const { options } = ctx
      const username = options.username as string
      const password = options.passwordStdin === true ? await ctx.readLine() : options.password as string
      const roles = [...new Set([...(options.admin === true ? [ADMIN_ROLE] : []), ...((options.role as string[] | undefined) ?? [])])]
      const problem = roles.includes(ADMIN_ROLE) ? adminPasswordProblem(password, username) : null
      if (problem !== null) throw new AppError('invalid_request', `an admin's password must be ${ADMIN_PASSWORD_RULE}; this one is ${problem}`)
      const user = await createUser({ store: ctx.store, hasher: passwordHasher(ctx.config) }, { username, password, roles })
      return { id: user.id, username: user.username, roles: user.roles }
    }
  },

  {
    name: 'user get',
    args: ['<username>'],
    summary: 'Show a user: roles, disabled flag, any lockout',
    details: 'The username is matched case-insensitively. Never shows the password hash.',
    run: async (ctx) => (await accounts(ctx)).get((await userNamed(ctx, ctx.args[0])).id)
  },

  {
    name: 'user list',
    summary: 'List users, by username, a page at a time',
    details: `Prints {users, next_after}: pass next_after as --after to read the next
page; it is null on the last page.`,
    options: [
      { flags: '--after <username>', description: 'start after this username (exclusive)' },
      { flags: '--limit <n>', description: 'users per page, at most 1000 (default 100)', parse: positiveInteger(1000) }
    ],
    run: async (ctx) => {
      const limit = (ctx.options.limit as number | undefined) ?? 100
      const after = ctx.options.after as string | undefined
      const users = await (await accounts(ctx)).list({ ...(after !== undefined ? { after } : {}), limit })
      return { users, next_after: users.length === limit ? users[users.length - 1]?.username ?? null : null }
    }
  },

  {
    name: 'user disable',
    args: ['<username>'],
    summary: 'Disable a user and end every session of theirs',
    details: `Login then answers as for a wrong password, refresh and the admin API
refuse the account, and every session ends (its tokens are refused by every
instance within about a second). Idempotent.`,
    writes: true,
    run: async (ctx) => (await accounts(ctx)).disable((await userNamed(ctx, ctx.args[0])).id)
  },

  {
    name: 'user enable',
    args: ['<username>'],
    summary: 'Let a disabled user log in again',
    details: 'Sessions ended by the disable stay ended.',
    writes: true,
    run: async (ctx) => (await accounts(ctx)).enable((await userNamed(ctx, ctx.args[0])).id)
  },

  {
    name: 'user unlock',
    args: ['<username>'],
    summary: 'Lift a lockout after failed logins',
    details: `Clears the account-wide lockout (failed logins from many addresses
together, LOCKOUT_ACCOUNT_THRESHOLD) and that of every single address
(LOCKOUT_THRESHOLD): the way back in when guessing has locked an account, an
admin's above all. Sessions are not touched.`,
    writes: true,
    run: async (ctx) => (await accounts(ctx)).unlock((await userNamed(ctx, ctx.args[0])).id)
  },

  {
    name: 'user roles',
    args: ['<username>', '[role...]'],
    summary: 'Set a user\'s roles (exactly those given)',
    details: `Sets the user's roles to exactly the ones given (none: no roles). Role
names match ${ROLE_NAME_PATTERN}, at most ${MAX_ROLES}. Taking a role away ends
every session of the user, since tokens carry the roles they were issued with;
adding roles ends nothing (they appear from the next login or refresh). The
admin API reads roles from the store at once.`,
    writes: true,
    run: async (ctx) => (await accounts(ctx)).setRoles((await userNamed(ctx, ctx.args[0])).id, (ctx.args[1] as string[] | undefined) ?? [])
  }
]
