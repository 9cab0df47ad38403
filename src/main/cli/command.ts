// What a CLI command is: a name, its arguments and options, what it needs
// (the store, a secret) and a run function that calls the domain services.
// Adding a command is one entry in one of the command lists (users.ts,
// clients.ts, keys.ts, database.ts); program.ts turns each entry into a
// commander command with its --help, and maps outcomes to exit codes.
import { InvalidArgumentError } from 'commander'
import type { Config, SecretName } from '../config.js'
import type { Store } from '../../store/types.js'

export interface CliOption {
  /** commander flags: '--name <name>', '--public', '-f, --force'. */
  flags: string
  description: string
  /** Parses (and checks the form of) a value; throw InvalidArgumentError for a usage error. */
  parse?: (value: string, previous: unknown) => unknown
  /** Refused unless given. */
  required?: boolean
  /** Options that may not be given with this one (their long names without dashes). */
  conflicts?: string[]
}

export interface CliCommand {
  /** The words that name it: 'user create', 'backup'. */
  name: string
  /** commander argument syntax, in order: '<username>', '[role...]', '<file>'. */
  args?: string[]
  /** One line, for the list of commands. */
  summary: string
  /** Paragraphs shown under the options in its --help. */
  details?: string
  options?: CliOption[]
  /**
   * The secrets it uses. The others are neither loaded, nor generated, nor
   * warned about: a command that needs none works without them, in production too.
   */
  secrets?: SecretName[]
  /** 'open' (default): ctx.store is opened for it; 'none': it opens what it needs itself. */
  store?: 'open' | 'none'
  /** Whether it changes the store (a :memory: store is then worth a louder warning). */
  writes?: boolean
  /** Checks the command line before anything is loaded or opened; throw UsageError when it does not say what it means. */
  check?: (options: Record<string, unknown>) => void
  /** The result, printed as JSON on stdout. Throw AppError to refuse (exit 1), UsageError for a usage error (exit 2). */
  run: (ctx: CliContext) => Promise<unknown>
}

export interface CliContext {
  config: Config
  /** The store (commands with store: 'none' must not read it). */
  store: Store
  env: Record<string, string | undefined>
  /** The arguments, as commander parsed them (a variadic one is an array). */
  args: unknown[]
  options: Record<string, unknown>
  /** The first line of standard input. */
  readLine: () => Promise<string>
  /** Where messages and progress go. */
  stderr: { write: (text: string) => unknown, isTTY?: boolean }
  warn: (message: string) => void
}

/** A command line that does not say what it means: exit 2, with the command's help. */
export class UsageError extends Error {}

/** For a repeatable option: collects every value. */
export function repeatable (parse: (value: string) => string = (v) => v): (value: string, previous: unknown) => string[] {
  return (value, previous) => [...(Array.isArray(previous) ? previous as string[] : []), parse(value)]
}

/** A whole number of at least 1 (at most `max`), for counts and lifetimes. */
export function positiveInteger (max = 9_999_999_999): (value: string) => number {
  return (value) => {
    if (!/^[1-9][0-9]{0,9}$/.test(value) || Number(value) > max) {
      throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`)
    }
    return Number(value)
  }
}

/** One of a fixed list of values. */
export function oneOf (allowed: readonly string[]): (value: string) => string {
  return (value) => {
    if (!allowed.includes(value)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`)
    return value
  }
}
