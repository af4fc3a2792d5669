/**
 * The job cgroups on this machine's kernel (skipped, saying why, where no
 * memory and pids cgroup is writable), and the reading of /proc's cgroup
 * files for v1, v2 and a cgroup namespace.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCgroups, JobCgroup, parseCgroupMounts, parseProcCgroup } from '../src/cgroup.js';

const cgroups = detectCgroups();
if (!cgroups.support) console.warn(`cgroup.test.ts: job cgroup tests skipped: ${cgroups.description}`);

describe('reading /proc/self/cgroup and mountinfo', () => {
  it('reads a v1 + v2 hybrid host, as this one may be', () => {
    const paths = parseProcCgroup(
      '9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/user.slice\n0::/\n',
    );
    expect(paths.get('memory')).toBe('/process_api/abc');
    expect(paths.get('pids')).toBe('/');
    expect(paths.get('cpu')).toBe('/user.slice');
    expect(paths.get('cpuacct')).toBe('/user.slice');
    expect(paths.get('')).toBe('/');
    const mounts = parseCgroupMounts(
      [
        '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
        '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
        '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
        '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
        '22 1 0:21 / /proc rw - proc proc rw',
      ].join('\n'),
    );
    expect(mounts).toEqual([
      { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', version: 1, controllers: ['cpu', 'cpuacct'] },
      { mountPoint: '/sys/fs/cgroup/memory', root: '/', version: 1, controllers: ['memory'] },
      { mountPoint: '/sys/fs/cgroup/systemd', root: '/', version: 1, controllers: [] },
      { mountPoint: '/sys/fs/cgroup/unified', root: '/', version: 2, controllers: [] },
    ]);
  });

  it('reads a unified (v2) host under systemd, and a mount that shows only part of the tree', () => {
    const paths = parseProcCgroup('0::/system.slice/bsubio.service\n');
    expect([...paths]).toEqual([['', '/system.slice/bsubio.service']]);
    const [mount] = parseCgroupMounts(
      '30 25 0:26 /system.slice /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot',
    );
    expect(mount).toEqual({
      mountPoint: '/sys/fs/cgroup',
      root: '/system.slice',
      version: 2,
      controllers: [],
    });
  });

  it("reads this machine's own files", () => {
    const paths = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
    expect(paths.size).toBeGreaterThan(0);
    const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    for (const m of mounts) expect(existsSync(m.mountPoint), m.mountPoint).toBe(true);
    // What the server will say at start.
    console.log(`cgroups here: ${cgroups.description}`);
  });
});

/** Start `argv` inside the cgroup (behind the same kind of gate the sandbox uses). */
function runIn(cg: JobCgroup, argv: string[]) {
  const child = spawn('/bin/sh', ['-c', 'read -r go && exec "$@"', 'gate', ...argv], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  cg.enter(child.pid as number);
  child.stdin.end('go\n');
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, out })),
  );
  return { child, exited };
}

describe.skipIf(!cgroups.support)('a job cgroup on this kernel', () => {
  const support = cgroups.support!;
  let n = 0;
  const make = (limits: { memoryBytes: number; maxTasks: number; cpus?: number }) =>
    JobCgroup.create(support, `job-test-${process.pid}-${n++}`, limits);

  it('holds memory at its limit: the OOM killer acts inside it and it counts the kill', async () => {
    const cg = make({ memoryBytes: 48 << 20, maxTasks: 64 });
    try {
      const { exited } = runIn(cg, ['python3', '-c', 'b = b"x" * (200 << 20); print(len(b))']);
      const end = await exited;
      expect(end.signal).toBe('SIGKILL');
      const stats = cg.stats();
      expect(stats.oomKills).toBeGreaterThan(0);
      expect(stats.peakMemoryBytes).toBeLessThanOrEqual(48 << 20);
      expect(stats.peakMemoryBytes).toBeGreaterThan(30 << 20);
    } finally {
      cg.killAll();
      cg.remove();
    }
  });

  it('holds tasks at its limit (threads count) and counts the refusals', async () => {
    const cg = make({ memoryBytes: 512 << 20, maxTasks: 20 });
    try {
      const { exited } = runIn(cg, [
        'python3',
        '-c',
        'import threading, time\nthreading.stack_size(32768)\nn = 0\ntry:\n    while n < 100:\n        threading.Thread(target=time.sleep, args=(2,), daemon=True).start(); n += 1\nexcept RuntimeError:\n    pass\nprint(n)',
      ]);
      const end = await exited;
      expect(Number(end.out.trim())).toBeLessThan(20);
      const stats = cg.stats();
      expect(stats.pidsMaxHits).toBeGreaterThan(0);
      if (stats.peakTasks !== null) expect(stats.peakTasks).toBeLessThanOrEqual(20);
    } finally {
      cg.killAll();
      cg.remove();
    }
  });

  it.skipIf(!support?.cpuLimit || !support?.cpuAccounting)(
    'sets a CPU quota and measures CPU time',
    async () => {
      const cg = make({ memoryBytes: 256 << 20, maxTasks: 16, cpus: 0.25 });
      try {
        const quota =
          support.version === 2
            ? readFileSync(join(support.parents.memory, cg.name, 'cpu.max'), 'utf8').trim()
            : readFileSync(join(support.parents.cpu!, cg.name, 'cpu.cfs_quota_us'), 'utf8').trim();
        expect(quota).toMatch(/^25000\b/);
        // Two seconds of wall time spinning: a quarter of a core is at most about half a second.
        const started = Date.now();
        const { exited } = runIn(cg, [
          'python3',
          '-c',
          'import time\nt = time.time()\nwhile time.time() - t < 2: pass',
        ]);
        await exited;
        const wall = (Date.now() - started) / 1000;
        const cpu = cg.stats().cpuSeconds as number;
        expect(cpu).toBeGreaterThan(0);
        expect(cpu).toBeLessThanOrEqual(0.25 * wall + 0.15);
      } finally {
        cg.killAll();
        cg.remove();
      }
    },
  );

  it('shows the watch fresh counts from the files it keeps open, and closes them when removed', async () => {
    const openFds = () => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const cg = make({ memoryBytes: 256 << 20, maxTasks: 4 });
    try {
      expect(cg.events().pidsMaxHits).toBe(0);
      expect(openFds()).toBeGreaterThan(before);
      // Forks past pids.max: the same open file, read again, must show the refusals.
      const { exited } = runIn(cg, ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait']);
      await exited;
      expect(cg.events().pidsMaxHits).toBeGreaterThan(0);
    } finally {
      cg.killAll();
      cg.remove();
    }
    expect(openFds()).toBe(before);
  });

  it('kills everything in it and is removed after', async () => {
    const cg = make({ memoryBytes: 64 << 20, maxTasks: 16 });
    const dir = join(support.parents.pids, cg.name);
    const { exited } = runIn(cg, ['sh', '-c', 'sleep 60 & sleep 60 & setsid sleep 60 & wait']);
    await new Promise((r) => setTimeout(r, 300));
    expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(
      3,
    );
    cg.killAll();
    await exited;
    cg.remove();
    for (let i = 0; i < 50 && existsSync(dir); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(dir)).toBe(false);
  });
});
