// Debian's nginx for the gateway and load-balancer tests (.ci/run installs
// nginx-light): where it is, and a foreground nginx with everything in a temp
// folder, given the inside of its `http { }` block, stopped in teardown.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

export function findNginx (): string | null {
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' })
  const found = which.stdout.trim()
  if (which.status === 0 && found !== '') return found
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    if (existsSync(candidate)) return candidate
  }
  return null
}

export async function stopProcess (proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = once(proc, 'exit')
  proc.kill(signal)
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

/**
 * Starts `nginx` in the foreground with `http` as the inside of its http
 * block (server blocks, upstreams), after `nginx -t` accepts it; resolves once
 * `url` answers. Temp paths, pid and error log live in a temp folder.
 */
export async function startNginx (t: Test, nginx: string, http: string, url: string): Promise<ChildProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'token-orchestrator-nginx-'))
  await chmod(dir, 0o755)
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const asRoot = process.getuid?.() === 0
  const conf = join(dir, 'nginx.conf')
  const errorLog = join(dir, 'error.log')
  await writeFile(conf, `${asRoot ? 'user root;\n' : ''}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${errorLog} warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}
}
`)
  const check = spawnSync(nginx, ['-t', '-p', dir, '-e', errorLog, '-c', conf], { encoding: 'utf8' })
  if (check.status !== 0) throw new Error(`nginx -t refused the config: ${check.stderr}`)
  const proc = spawn(nginx, ['-p', dir, '-e', errorLog, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] })
  t.teardown(() => stopProcess(proc, 'SIGQUIT'))
  const deadline = Date.now() + 20_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}: ${existsSync(errorLog) ? await readFile(errorLog, 'utf8') : ''}`)
    try {
      await fetch(url)
      return proc
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not come up`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
