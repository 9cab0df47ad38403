// .env.sample lists every variable of the config schema, in the schema's
// order, each with its schema default (commented out when it has none) and a
// comment saying what it means; and it loads as a valid configuration.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ConfigSchema, loadConfig } from '../src/main/config.js'

const SAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.env.sample')
const VARIABLE = /^(# )?([A-Z][A-Z0-9_]*)=(.*)$/

t.test('.env.sample matches the config schema', async (t) => {
  const lines = readFileSync(SAMPLE, 'utf8').split('\n')
  const entries: Array<{ name: string, value: string, commented: boolean, comment: string | undefined }> = []
  lines.forEach((line, i) => {
    const match = VARIABLE.exec(line)
    if (match === null) return
    const previous = lines[i - 1]
    entries.push({
      name: match[2]!,
      value: match[3]!,
      commented: match[1] !== undefined,
      comment: previous !== undefined && previous.startsWith('# ') && !VARIABLE.test(previous) ? previous : undefined
    })
  })
  const schemaNames = Object.keys(ConfigSchema.properties)
  t.same(entries.map((e) => e.name), schemaNames, 'every variable, once, in the schema\'s order')

  for (const entry of entries) {
    const schema = (ConfigSchema.properties as Record<string, { default?: unknown }>)[entry.name]
    t.ok(entry.comment, `${entry.name} has a comment line above it`)
    if (schema?.default === undefined) {
      t.ok(entry.commented, `${entry.name} has no default, so it is commented out`)
    } else {
      t.notOk(entry.commented, `${entry.name} is set`)
      t.equal(entry.value, String(schema.default), `${entry.name} shows its default`)
    }
  }

  const env = Object.fromEntries(entries.filter((e) => !e.commented).map((e) => [e.name, e.value]))
  const config = loadConfig(env)
  t.equal(config.PORT, 4000, 'it loads as a configuration')
})
