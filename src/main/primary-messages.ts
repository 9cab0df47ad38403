// The message the primary sends a worker to drain it (src/main/primary.ts to
// src/main/serve.ts), over node:cluster's IPC channel.
const SHUTDOWN = 'token-orchestrator:shutdown'

export const shutdownRequest = (signal: string): { type: string, signal: string } => ({ type: SHUTDOWN, signal })

export function isShutdownRequest (message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === SHUTDOWN
}
