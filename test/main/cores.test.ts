// WORKERS=auto: the CPUs the process may run on, capped by its cgroup's CPU
// quota (cgroup v2 cpu.max, or v1 cfs quota and period), read on the cgroup
// and each of its ancestors.
import t from 'tap'
import { availableCores, cgroupCpuLimit } from '../../src/main/cores.js'

const files = (entries: Record<string, string>) => (file: string): string | undefined => entries[file]

t.test('cgroup v2: the smallest quota of the cgroup and its ancestors, in whole cores', async (t) => {
  t.equal(cgroupCpuLimit(files({
    '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
    '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': 'max 100000\n',
    '/sys/fs/cgroup/kubepods/pod1/cpu.max': '250000 100000\n',
    '/sys/fs/cgroup/kubepods/cpu.max': '800000 100000\n',
    '/sys/fs/cgroup/cpu.max': 'max 100000\n'
  })), 2, '2.5 CPUs give 2 workers')
  t.equal(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '50000 100000\n' })), 1, 'half a CPU is still one worker')
  t.equal(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), undefined, 'no quota')
})

t.test('cgroup v1: cfs_quota_us / cfs_period_us of the cpu controller', async (t) => {
  t.equal(cgroupCpuLimit(files({
    '/proc/self/cgroup': '4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n',
    '/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us': '300000\n',
    '/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us': '100000\n'
  })), 3)
  t.equal(cgroupCpuLimit(files({
    '/proc/self/cgroup': '3:cpu,cpuacct:/\n',
    '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
    '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n'
  })), undefined, '-1 is no quota')
  t.equal(cgroupCpuLimit(files({})), undefined, 'nothing readable (not Linux)')
})

t.test('availableCores: the CPUs, capped by the quota, at least one', async (t) => {
  t.equal(availableCores(16, 4), 4)
  t.equal(availableCores(2, 8), 2)
  t.equal(availableCores(8, undefined), 8)
  t.ok(availableCores() >= 1, 'this machine')
})
