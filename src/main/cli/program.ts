// The token-orchestrator command line, on commander: every command of the
// lists below becomes a command with its own --help; the outcome becomes the
// exit code (0 done, 1 refused, 2 usage) and one message on stderr.
import { readFileSync } from 'node:fs'
import { Command, CommanderError, Option } from 'commander'
import { AppError } from '../../errors.js'
import { isUnavailableError } from '../../store/mongo-store.js'
import type { Store } from '../../store/types.js'
import { ConfigError, type Config } from '../config.js'
import { clientCommands } from './clients.js'
import { UsageError, type CliCommand } from './command.js'
import { configFor, openStore } from './context.js'
import { databaseCommands } from './database.js'
import { keyCommands } from './keys.js'
import { userCommands } from './users.js'

export const NAME = 'token-orchestrator'

/** Every command, in the order of the main help. A new command is one more entry in one of these lists. */
export const COMMANDS: readonly CliCommand[] = [...userCommands, ...clientCommands, ...keyCommands, ...databaseCommands]

/** The groups commands are filed under ('user create' is 'create' in 'user'). */
const GROUPS: Record<string, string> = {
  user: 'Users: create, look up, list, disable, enable, set roles',
  client: 'Clients: create, look up, list, rotate a secret',
  keys: 'The signing key ring (ES256, EdDSA, RS256): rotate, list'
}

export const EXIT = { ok: 0, refused: 1, usage: 2 } as const

const FOOTER = `
Configuration comes from the environment and .env, as for the service:
MONGODB_URL selects MongoDB, otherwise the SQLite file SQLITE_PATH (default
data/token-orchestrator.sqlite under the working directory).
Results are JSON on stdout; messages on stderr. Exit status: 0 done,
1 refused (a rule, the configuration or the store said no), 2 usage error.`

export function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export interface CliIo {
  stdout: { write: (text: string) => unknown }
  stderr: { write: (text: string) => unknown, isTTY?: boolean }
  stdin: AsyncIterable<Buffer | string>
}

async function firstLine (stdin: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stdin) {
    chunks.push(Buffer.from(chunk))
    if (Buffer.concat(chunks).includes(10)) break
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? ''
}

function describe (err: unknown, config: Config | undefined): string {
  if ((err instanceof AppError && err.code === 'store_unavailable') || isUnavailableError(err)) {
    return `the store (${config?.MONGODB_URL !== undefined ? 'MONGODB_URL' : 'SQLITE_PATH'}) is unreachable`
  }
  if (err instanceof ConfigError) return err.message
  if (err instanceof AppError) return `${err.code}: ${err.message}`
  return `failed: ${(err as Error).message}`
}

/** Runs one command line; resolves with the exit code. */
export async function runCli (argv: string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const say = (msg: string): void => { io.stderr.write(`${NAME}: ${msg}\n`) }
  let code: number = EXIT.ok

  const program = new Command(NAME)
    .description('Operate a Token Orchestrator store: users, clients, signing keys, backups.')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', 'show the help of a command')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`${NAME}: ${text.replace(/^error: /, '')}`)
    })
    .showHelpAfterError()
    .showSuggestionAfterError()
    .addHelpText('after', FOOTER)

  const groups = new Map<string, Command>()
  for (const def of COMMANDS) {
    const words = def.name.split(' ')
    let parent = program
    if (words.length === 2) {
      const group = words[0] ?? ''
      parent = groups.get(group) ?? program.command(group).description(GROUPS[group] ?? '').addHelpText('after', FOOTER)
      groups.set(group, parent)
    }
    const command = parent.command(words[words.length - 1] ?? '').summary(def.summary).description(def.summary)
    for (const arg of def.args ?? []) command.argument(arg)
    for (const spec of def.options ?? []) {
      const option = new Option(spec.flags, spec.required === true ? `${spec.description} (required)` : spec.description)
      if (spec.parse !== undefined) option.argParser(spec.parse)
      if (spec.conflicts !== undefined) option.conflicts(spec.conflicts)
      command.addOption(option)
    }
    if (def.details !== undefined) command.addHelpText('after', `\n${def.details}`)
    command.action(async (...received: unknown[]) => {
      // commander passes the arguments, then the options, then the command.
      const args = received.slice(0, -2)
      const options = received[received.length - 2] as Record<string, unknown>
      code = await execute(def, args, options)
    })
  }

  async function execute (def: CliCommand, args: unknown[], options: Record<string, unknown>): Promise<number> {
    const warn = (msg: string): void => say(`warning: ${msg}`)
    let config: Config | undefined
    let opened: Awaited<ReturnType<typeof openStore>> | undefined
    try {
      // Checked here rather than by commander, which would report a missing
      // option before a mistyped one (--nmae), hiding the real mistake.
      for (const spec of def.options ?? []) {
        const key = new Option(spec.flags).attributeName()
        if (spec.required === true && options[key] === undefined) throw new UsageError(`required option '${spec.flags}' not specified`)
      }
      def.check?.(options)
      config = await configFor(def, env, warn)
      if (def.store !== 'none') opened = await openStore(config, def, warn)
      const result = await def.run({
        config,
        // Commands with store: 'none' never read it.
        store: opened?.store as Store,
        env,
        args,
        options,
        readLine: async () => firstLine(io.stdin),
        stderr: io.stderr,
        warn
      })
      io.stdout.write(JSON.stringify(result, null, 2) + '\n')
      return EXIT.ok
    } catch (err) {
      if (err instanceof UsageError) {
        say(`${err.message} (see ${NAME} ${def.name} --help)`)
        return EXIT.usage
      }
      say(describe(err, config))
      return EXIT.refused
    } finally {
      await opened?.close().catch(() => {})
    }
  }

  try {
    await program.parseAsync(argv, { from: 'user' })
    return code
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and the version asked for exit 0; help shown for a command line that says nothing exits 1 in commander.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage
    }
    throw err
  }
}
