// Lint: neostandard (the Fastify team's choice), with its TypeScript support.
import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['dist/**', 'packages/*/dist/**', 'coverage/**', 'node_modules/**', '.tap/**', 'bench-profiles/**']
})
