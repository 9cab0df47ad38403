// How many cores this process may use, for WORKERS=auto: the CPUs it may run
// on (os.availableParallelism(), which follows the affinity mask: taskset,
// cpusets) and, below that, the CPU quota of its cgroup (a container's
// `--cpus`, a Kubernetes CPU limit). Node 20 does not read the quota itself,
// and a container limited to 2 CPUs on a 64-core host would otherwise start
// 64 workers that share 2 cores' worth of time.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { posix } from 'node:path'

type Read = (file: string) => string | undefined

const readOrUndefined: Read = (file) => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** `quota / period` as whole cores (at least 1), or undefined when there is no quota. */
function coresOf (quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined
  return Math.max(1, Math.floor(quota / period))
}

/** The cgroup path and its ancestors, deepest first: a quota may be set on any of them. */
function lineage (path: string): string[] {
  const out: string[] = []
  for (let p = posix.normalize(path); ; p = posix.dirname(p)) {
    out.push(p)
    if (p === '/' || p === '.') return out
  }
}

/**
 * The smallest CPU quota, in whole cores, of the cgroup this process is in
 * and of its ancestors (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` /
 * `cpu.cfs_period_us`); undefined when none is set or none can be read.
 */
export function cgroupCpuLimit (read: Read = readOrUndefined, root = '/sys/fs/cgroup'): number | undefined {
  const membership = read('/proc/self/cgroup')
  if (membership === undefined) return undefined
  const limits: number[] = []
  for (const line of membership.split('\n')) {
    const [, controllers, path] = line.match(/^\d+:([^:]*):(.+)$/) ?? []
    if (path === undefined) continue
    if (controllers === '') {
      for (const p of lineage(path)) {
        const [quota, period] = (read(posix.join(root, p, 'cpu.max')) ?? '').trim().split(/\s+/)
        const cores = quota === 'max' ? undefined : coresOf(Number(quota), Number(period))
        if (cores !== undefined) limits.push(cores)
      }
    } else if (controllers!.split(',').includes('cpu')) {
      for (const p of lineage(path)) {
        const dir = posix.join(root, 'cpu', p)
        const cores = coresOf(Number(read(posix.join(dir, 'cpu.cfs_quota_us'))), Number(read(posix.join(dir, 'cpu.cfs_period_us'))))
        if (cores !== undefined) limits.push(cores)
      }
    }
  }
  return limits.length === 0 ? undefined : Math.min(...limits)
}

/** The cores WORKERS=auto uses: the CPUs available to the process, capped by its cgroup's CPU quota. */
export function availableCores (parallelism = availableParallelism(), limit = cgroupCpuLimit()): number {
  return Math.max(1, limit === undefined ? parallelism : Math.min(parallelism, limit))
}
