/**
 * One control group per sandbox, created beneath the server's own cgroup, so
 * that the kernel enforces a job's limits instead of a watch that polls:
 *
 * - memory: `memory.max` (v2) / `memory.limit_in_bytes` (v1) counts every page
 *   the job's processes own or touched first: heap, shared memory, memfd and
 *   tmpfs (the job's /work and /tmp). Past it the kernel's OOM killer acts
 *   inside the job only; the job is then stopped whole and fails ENOMEM.
 * - pids: `pids.max` counts tasks, threads included. A fork or thread bomb
 *   gets EAGAIN at the limit, the job is stopped at once and fails.
 * - cpu (optional): `cpu.max` (v2) / CFS quota (v1) when the type sets `cpus`;
 *   CPU seconds come from `cpu.stat` (v2) / `cpuacct.usage` (v1).
 *
 * Only directories under the server's own cgroup are created or written
 * (`<own>/bsubio-<server pid>/job-…`); nothing else on the machine is moved or
 * changed. On cgroup v2 the server's own cgroup must be delegated to it
 * (systemd `Delegate=yes`): if its controllers are not enabled for children
 * and the server is the only process in it, the server moves itself into a
 * leaf `<own>/bsubio-server-<pid>` first (the "no internal processes" rule).
 * On a v1 or hybrid host, the v1 memory and pids hierarchies are used (cpu
 * and cpuacct too when writable). Without either, `detectCgroups` says why
 * and the sandbox keeps to its /proc watch.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export type CgroupVersion = 1 | 2;

export interface CgroupSupport {
  version: CgroupVersion;
  /** The directory per controller where job cgroups are made (v2: one for all). */
  parents: { memory: string; pids: string; cpu?: string; cpuacct?: string };
  /** True when cpu quotas can be set (per-type `cpus`). */
  cpuLimit: boolean;
  /** True when CPU time per job can be read. */
  cpuAccounting: boolean;
}

export interface CgroupDetection {
  support: CgroupSupport | null;
  /** One sentence for the start-up log: what is used, or why nothing is. */
  description: string;
}

export interface JobCgroupLimits {
  memoryBytes: number;
  /** Tasks (processes and threads) at once. */
  maxTasks: number;
  /** CPU cores the job may use (quota), or undefined for no cap. */
  cpus?: number;
}

export interface JobCgroupStats {
  /** Largest memory charged to the job, tmpfs and page cache included, in bytes. */
  peakMemoryBytes: number;
  /** CPU time of all its tasks, user + system, in seconds (null when not measured). */
  cpuSeconds: number | null;
  /** Times the OOM killer killed one of its processes. */
  oomKills: number;
  /** Times a fork or thread creation failed at pids.max. */
  pidsMaxHits: number;
  /** Most tasks at once (null when the kernel does not tell). */
  peakTasks: number | null;
}

const CPU_PERIOD_US = 100_000;

/** Parse /proc/self/cgroup: v1 controller name → path, and the v2 path under "". */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === '') paths.set('', path);
    else for (const c of controllers.split(',')) paths.set(c, path);
  }
  return paths;
}

export interface CgroupMount {
  /** Where it is mounted. */
  mountPoint: string;
  /** The cgroup this mount shows at its top (a cgroup namespace or a bind mount). */
  root: string;
  /** v1: the controllers of this hierarchy; v2: empty. */
  controllers: string[];
  version: CgroupVersion;
}

/** Super options of a v1 mount that are not controllers. */
const V1_OPTIONS = new Set([
  'rw',
  'ro',
  'xattr',
  'noprefix',
  'clone_children',
  'cpuset_v2_mode',
  'favordynmods',
]);

/** Parse /proc/self/mountinfo for cgroup and cgroup2 mounts. */
export function parseCgroupMounts(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(' ');
    const after = line.slice(sep + 3).split(' ');
    const fsType = after[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const root = unescapeMount(before[3] ?? '/');
    const mountPoint = unescapeMount(before[4] ?? '');
    const superOptions = (after[2] ?? '').split(',');
    mounts.push({
      mountPoint,
      root,
      version: fsType === 'cgroup2' ? 2 : 1,
      controllers:
        fsType === 'cgroup2' ? [] : superOptions.filter((o) => !V1_OPTIONS.has(o) && !o.includes('=')),
    });
  }
  return mounts;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** The directory of a cgroup path as seen through a mount, or null when the mount does not show it. */
function dirThrough(mount: CgroupMount, cgroupPath: string): string | null {
  const root = mount.root === '/' ? '' : mount.root.replace(/\/$/, '');
  if (root && cgroupPath !== root && !cgroupPath.startsWith(`${root}/`)) return null;
  const rest = cgroupPath.slice(root.length);
  return join(mount.mountPoint, rest);
}

function read(path: string): string {
  return readFileSync(path, 'latin1');
}

function tryRead(path: string): string | null {
  try {
    return read(path);
  } catch {
    return null;
  }
}

function write(path: string, value: string): void {
  writeFileSync(path, value);
}

/**
 * The files the watch reads on every tick, kept open: a cgroup file read
 * again from offset 0 gives its current content, one pread instead of
 * readFileSync's open, fstat, reads and close (32 jobs watched every 100 ms
 * made those a visible part of the server's CPU).
 */
class HeldFiles {
  private readonly fds = new Map<string, number | null>();
  private readonly buffer = Buffer.alloc(4096);

  private closed = false;

  read(path: string): string | null {
    // After close (the cgroup is going): read once, hold nothing.
    if (this.closed) return tryRead(path);
    let fd = this.fds.get(path);
    if (fd === undefined) {
      try {
        fd = openSync(path, 'r');
      } catch {
        fd = null;
      }
      this.fds.set(path, fd);
    }
    if (fd === null) return null;
    try {
      const n = readSync(fd, this.buffer, 0, this.buffer.length, 0);
      return this.buffer.toString('latin1', 0, n);
    } catch {
      return null;
    }
  }

  close(): void {
    this.closed = true;
    for (const fd of this.fds.values()) if (fd !== null) closeSync(fd);
    this.fds.clear();
  }
}

/** Make (or reuse) a directory and check that a cgroup file in it can be written. */
function makeWritable(dir: string, probeFile: string, probeValue: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    write(join(dir, probeFile), probeValue);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process runs (EPERM: it does, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove what an earlier server process (dead now) left: its empty job
 * cgroups and its own directory. rmdir only ever succeeds on a cgroup with
 * no task and no child, so nothing that runs is touched.
 */
function sweepStale(ownDir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(ownDir);
  } catch {
    return;
  }
  for (const name of entries) {
    const match = /^bsubio-(?:server-)?(\d+)$/.exec(name);
    if (!match || Number(match[1]) === process.pid || isAlive(Number(match[1]))) continue;
    const dir = join(ownDir, name);
    try {
      for (const job of readdirSync(dir)) if (job.startsWith('job-')) tryRmdir(join(dir, job));
      tryRmdir(dir);
    } catch {
      // Not ours to worry about further.
    }
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** Controllers enabled for the children of a v2 cgroup. */
function subtreeControl(dir: string): string[] {
  return (tryRead(join(dir, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/).filter(Boolean);
}

function enableControllers(dir: string, wanted: string[]): boolean {
  const missing = wanted.filter((c) => !subtreeControl(dir).includes(c));
  if (missing.length === 0) return true;
  try {
    write(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
    return true;
  } catch {
    return false;
  }
}

function detectV2(mount: CgroupMount, ownPath: string): CgroupDetection {
  const own = dirThrough(mount, ownPath);
  if (!own)
    return {
      support: null,
      description: `cgroup v2 at ${mount.mountPoint} does not show the server's cgroup ${ownPath}`,
    };
  const available = (tryRead(join(own, 'cgroup.controllers')) ?? '').trim().split(/\s+/);
  if (!available.includes('memory') || !available.includes('pids'))
    return {
      support: null,
      description: `cgroup v2: the server's cgroup ${ownPath} has no memory and pids controllers (it has: ${available.filter(Boolean).join(' ') || 'none'}); give the service Delegate=yes`,
    };
  const wanted = ['memory', 'pids', ...(available.includes('cpu') ? ['cpu'] : [])];
  if (!enableControllers(own, wanted)) {
    // "No internal processes": a cgroup with processes cannot pass controllers
    // down. If the server is alone in its cgroup, it moves into a leaf of its own.
    const procs = (tryRead(join(own, 'cgroup.procs')) ?? '').trim().split('\n').filter(Boolean).map(Number);
    if (procs.some((p) => p !== process.pid))
      return {
        support: null,
        description: `cgroup v2: cannot enable memory and pids for children of ${ownPath}: other processes share the server's cgroup`,
      };
    const leaf = join(own, `bsubio-server-${process.pid}`);
    try {
      mkdirSync(leaf, { recursive: true });
      write(join(leaf, 'cgroup.procs'), String(process.pid));
    } catch (err) {
      return {
        support: null,
        description: `cgroup v2: cannot move the server into ${leaf}: ${(err as Error).message}`,
      };
    }
    if (!enableControllers(own, wanted)) {
      try {
        write(join(own, 'cgroup.procs'), String(process.pid));
        tryRmdir(leaf);
      } catch {
        // It stays in its leaf, which is harmless.
      }
      return {
        support: null,
        description: `cgroup v2: cannot enable ${wanted.join(' ')} for children of ${ownPath}`,
      };
    }
  }
  sweepStale(own);
  const parent = join(own, `bsubio-${process.pid}`);
  try {
    mkdirSync(parent, { recursive: true });
  } catch (err) {
    return { support: null, description: `cgroup v2: cannot create ${parent}: ${(err as Error).message}` };
  }
  if (!enableControllers(parent, wanted))
    return { support: null, description: `cgroup v2: cannot enable ${wanted.join(' ')} in ${parent}` };
  const cpu = wanted.includes('cpu');
  return {
    support: {
      version: 2,
      parents: { memory: parent, pids: parent, ...(cpu ? { cpu: parent } : {}), cpuacct: parent },
      cpuLimit: cpu,
      cpuAccounting: true,
    },
    description: `cgroup v2 under ${parent}: memory.max, pids.max${cpu ? ', cpu.max' : ''} per job`,
  };
}

function detectV1(mounts: CgroupMount[], paths: Map<string, string>): CgroupDetection {
  const parentFor = (controller: string, probeFile: string, probeValue: string): string | null => {
    const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    const own = paths.get(controller);
    if (!mount || own === undefined) return null;
    const ownDir = dirThrough(mount, own);
    if (!ownDir) return null;
    sweepStale(ownDir);
    const parent = join(ownDir, `bsubio-${process.pid}`);
    return makeWritable(parent, probeFile, probeValue) ? parent : null;
  };
  const memory =
    parentFor('memory', 'memory.use_hierarchy', '1') ?? parentFor('memory', 'notify_on_release', '0');
  const pids = parentFor('pids', 'notify_on_release', '0');
  if (!memory || !pids)
    return {
      support: null,
      description: `cgroup v1: the ${[!memory && 'memory', !pids && 'pids'].filter(Boolean).join(' and ')} hierarchy is missing or not writable beneath the server's cgroup`,
    };
  const cpu = parentFor('cpu', 'notify_on_release', '0') ?? undefined;
  const cpuacct = parentFor('cpuacct', 'notify_on_release', '0') ?? undefined;
  return {
    support: {
      version: 1,
      parents: { memory, pids, ...(cpu ? { cpu } : {}), ...(cpuacct ? { cpuacct } : {}) },
      cpuLimit: cpu !== undefined,
      cpuAccounting: cpuacct !== undefined,
    },
    description: `cgroup v1 (memory ${memory}, pids ${pids}${cpu ? ', cpu' : ''}${cpuacct ? ', cpuacct' : ''}): memory and task limits per job${cpu ? ', CPU quota' : ''}${cpuacct ? ', CPU time' : ''}`,
  };
}

let detected: CgroupDetection | undefined;
let mode: 'auto' | 'off' | undefined;

/** The server's `cgroups` setting; before the first sandbox starts. Without it, BSUBIO_CGROUPS decides. */
export function setCgroupMode(value: 'auto' | 'off'): void {
  if (detected && value !== mode) detected = undefined;
  mode = value;
}

/**
 * Find out once per process which cgroups the sandboxes can use, making the
 * server's parent directories for its jobs. The `cgroups` setting (or
 * BSUBIO_CGROUPS=off) turns them off.
 */
export function detectCgroups(): CgroupDetection {
  if (detected) return detected;
  detected = detectUncached();
  return detected;
}

/** The server's own job directories go when it exits (rmdir: only if empty; the next start sweeps the rest). */
function removeOnExit(dirs: (string | undefined)[]): void {
  const unique = [...new Set(dirs.filter((d): d is string => d !== undefined))];
  process.once('exit', () => {
    for (const dir of unique) tryRmdir(dir);
  });
}

function detectUncached(): CgroupDetection {
  const found = detectAny();
  if (found.support) removeOnExit(Object.values(found.support.parents));
  return found;
}

function detectAny(): CgroupDetection {
  const setting = mode ?? (process.env.BSUBIO_CGROUPS ?? 'auto').toLowerCase();
  if (setting === 'off' || setting === '0' || setting === 'false' || setting === 'no')
    return { support: null, description: 'cgroups are turned off (BSUBIO_CGROUPS=off)' };
  if (process.platform !== 'linux') return { support: null, description: 'cgroups need Linux' };
  let paths: Map<string, string>;
  let mounts: CgroupMount[];
  try {
    paths = parseProcCgroup(read('/proc/self/cgroup'));
    mounts = parseCgroupMounts(read('/proc/self/mountinfo'));
  } catch (err) {
    return { support: null, description: `cannot read /proc/self/cgroup: ${(err as Error).message}` };
  }
  const reasons: string[] = [];
  const v2 = mounts.find((m) => m.version === 2);
  const v2Path = paths.get('');
  if (v2 && v2Path !== undefined) {
    const found = detectV2(v2, v2Path);
    if (found.support) return found;
    reasons.push(found.description);
  }
  if (mounts.some((m) => m.version === 1)) {
    const found = detectV1(mounts, paths);
    if (found.support) return found;
    reasons.push(found.description);
  }
  if (reasons.length === 0) reasons.push('no cgroup file system is mounted');
  return { support: null, description: reasons.join('; ') };
}

/** The cgroups of one job: made before its sandbox starts, removed after. */
export class JobCgroup {
  private readonly dirs: { memory: string; pids: string; cpu?: string; cpuacct?: string };
  private sampledPeak = 0;
  private readonly held = new HeldFiles();

  private constructor(
    private readonly support: CgroupSupport,
    /** Its directory's name under each parent. */
    readonly name: string,
  ) {
    const p = support.parents;
    this.dirs = {
      memory: join(p.memory, name),
      pids: join(p.pids, name),
      ...(p.cpu ? { cpu: join(p.cpu, name) } : {}),
      ...(p.cpuacct ? { cpuacct: join(p.cpuacct, name) } : {}),
    };
  }

  /** Create and limit the job's cgroups; throws when the kernel refuses. */
  static create(support: CgroupSupport, name: string, limits: JobCgroupLimits): JobCgroup {
    const cg = new JobCgroup(support, name);
    try {
      cg.setUp(limits);
    } catch (err) {
      cg.remove();
      throw err;
    }
    return cg;
  }

  private unique(): string[] {
    return [...new Set(Object.values(this.dirs) as string[])];
  }

  private setUp(limits: JobCgroupLimits): void {
    for (const dir of this.unique()) mkdirSync(dir);
    const bytes = String(Math.floor(limits.memoryBytes));
    const tasks = String(Math.max(1, Math.floor(limits.maxTasks)));
    if (this.support.version === 2) {
      const dir = this.dirs.memory;
      write(join(dir, 'memory.max'), bytes);
      // No swap: what is over the limit is over it (ignored where there is no swap file).
      if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), '0');
      // Kill the whole job's processes together on OOM, not one of them.
      if (existsSync(join(dir, 'memory.oom.group'))) write(join(dir, 'memory.oom.group'), '1');
      write(join(dir, 'pids.max'), tasks);
      if (limits.cpus !== undefined && this.dirs.cpu)
        write(
          join(dir, 'cpu.max'),
          `${Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US))} ${CPU_PERIOD_US}`,
        );
    } else {
      write(join(this.dirs.memory, 'memory.limit_in_bytes'), bytes);
      const memsw = join(this.dirs.memory, 'memory.memsw.limit_in_bytes');
      if (existsSync(memsw)) write(memsw, bytes);
      write(join(this.dirs.pids, 'pids.max'), tasks);
      if (limits.cpus !== undefined && this.dirs.cpu) {
        write(join(this.dirs.cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        write(
          join(this.dirs.cpu, 'cpu.cfs_quota_us'),
          String(Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US))),
        );
      }
    }
  }

  /** The files a process writes its pid to, to enter the job's cgroups itself (the launcher's child). */
  procsFiles(): string[] {
    return this.unique().map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Put a process (not yet forked: the sandbox's start gate) in the job's cgroups. */
  enter(pid: number): void {
    for (const dir of this.unique()) write(join(dir, 'cgroup.procs'), String(pid));
  }

  /** Memory charged now, in bytes. */
  private memoryNow(): number {
    const file = this.support.version === 2 ? 'memory.current' : 'memory.usage_in_bytes';
    return Number(tryRead(join(this.dirs.memory, file)) ?? 0) || 0;
  }

  /** Whether the kernel keeps the peak itself (v1 always; v2 from Linux 5.19); else it is sampled. */
  private peakKept: boolean | undefined;

  /**
   * What the watch reads on each tick: OOM kills and refused forks (two
   * small files), and memory.current where the kernel keeps no peak.
   */
  events(): { oomKills: number; pidsMaxHits: number; peakMemoryBytes: number } {
    const v2 = this.support.version === 2;
    const oomKills = keyed(
      this.held.read(join(this.dirs.memory, v2 ? 'memory.events' : 'memory.oom_control')),
      'oom_kill',
    );
    const pidsMaxHits = keyed(this.held.read(join(this.dirs.pids, 'pids.events')), 'max');
    this.peakKept ??= !v2 || existsSync(join(this.dirs.memory, 'memory.peak'));
    if (!this.peakKept) this.sampledPeak = Math.max(this.sampledPeak, this.memoryNow());
    return { oomKills, pidsMaxHits, peakMemoryBytes: this.sampledPeak };
  }

  /** Everything, once the job is over: its events, peak memory, CPU time and peak tasks. */
  stats(): JobCgroupStats {
    const v2 = this.support.version === 2;
    const { oomKills, pidsMaxHits } = this.events();
    const peakFile = v2 ? 'memory.peak' : 'memory.max_usage_in_bytes';
    const peakText = tryRead(join(this.dirs.memory, peakFile));
    const peak = peakText === null ? this.memoryNow() : Number(peakText) || 0;
    this.sampledPeak = Math.max(this.sampledPeak, peak);
    let cpuSeconds: number | null = null;
    if (v2) {
      const usec = keyed(tryRead(join(this.dirs.memory, 'cpu.stat')), 'usage_usec');
      cpuSeconds = usec / 1e6;
    } else if (this.dirs.cpuacct) {
      const ns = Number(tryRead(join(this.dirs.cpuacct, 'cpuacct.usage')) ?? Number.NaN);
      cpuSeconds = Number.isFinite(ns) ? ns / 1e9 : null;
    }
    const peakTasksText = tryRead(join(this.dirs.pids, 'pids.peak'));
    return {
      peakMemoryBytes: this.sampledPeak,
      cpuSeconds,
      oomKills,
      pidsMaxHits,
      peakTasks: peakTasksText === null ? null : Number(peakTasksText) || 0,
    };
  }

  /** SIGKILL every task of the job (cgroup.kill on v2, each pid on v1). */
  killAll(): void {
    if (this.support.version === 2 && existsSync(join(this.dirs.pids, 'cgroup.kill'))) {
      try {
        write(join(this.dirs.pids, 'cgroup.kill'), '1');
        return;
      } catch {
        // Fall through to killing each.
      }
    }
    for (let round = 0; round < 3; round++) {
      const pids = (tryRead(join(this.dirs.pids, 'cgroup.procs')) ?? '').split('\n').filter(Boolean);
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    }
  }

  /**
   * Remove the job's cgroups once their last task is gone. The tasks of a
   * sandbox that just closed may take a moment to be reaped, so this retries
   * for a while in the background; a cgroup left behind is swept by the next
   * server start.
   */
  remove(): void {
    this.held.close();
    let left = this.unique();
    let attempts = 0;
    const tryAll = () => {
      left = left.filter((dir) => existsSync(dir) && !tryRmdir(dir));
      if (left.length > 0 && attempts++ < 50) setTimeout(tryAll, 20 * Math.min(attempts, 10)).unref();
    };
    tryAll();
  }
}

/** The number after `key ` in a "key value" per line file (0 when absent). */
function keyed(text: string | null, key: string): number {
  if (!text) return 0;
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && line.slice(0, space) === key) return Number(line.slice(space + 1)) || 0;
  }
  return 0;
}
