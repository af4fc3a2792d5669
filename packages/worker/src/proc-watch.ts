/**
 * Watches running sandboxes. With a cgroup per job (cgroup.ts) the kernel
 * enforces the limits and this only reads the job's counters, to stop the
 * whole job at once after an OOM kill or a refused fork. Without one (the
 * fallback), it watches the process trees through /proc: their resident
 * memory and their number of processes and threads. RLIMIT_DATA alone misses
 * memory that is not a private data mapping (shared anonymous memory, many
 * small processes each under the limit), and RLIMIT_NPROC is not enforced for
 * root, so a second, outside view is needed; /proc always is readable. It is
 * blind to memory that no process maps (a memfd or tmpfs file nobody has
 * mapped) and acts only on its next tick.
 *
 * One timer serves every sandbox of the process: each tick walks each
 * registered tree down from its root and measures it. Ticks are frequent
 * while a tree is young (a fork bomb or a runaway allocation shows in its
 * first moments) and sparse after: a tick wakes the server and reads a few
 * /proc files per process, which on a loaded host is time taken from the
 * tools themselves, and RLIMIT_DATA and RLIMIT_NPROC (set by the sandbox)
 * bound what can happen between two ticks.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface TreeLimits {
  /** Resident anonymous + shared-memory bytes of the whole tree. */
  maxMemoryBytes: number;
  /** Processes (not threads) in the tree, the sandbox itself included. */
  maxProcesses: number;
  /** Threads of all those processes together. */
  maxTasks?: number;
}

/** What the watch reads of a job's cgroup on each tick. */
export interface CgroupCounters {
  events(): { oomKills: number; pidsMaxHits: number; peakMemoryBytes: number };
}

export type TreeViolation = 'memory' | 'processes';

interface Watched {
  rootPid: number;
  /** When set, the job's cgroup is read instead of its process tree. */
  cgroup?: CgroupCounters;
  limits: TreeLimits;
  onViolation: (kind: TreeViolation, measured: number) => void;
  /** Largest memory seen, for the logs. */
  peakBytes: number;
  /** When the watch began (performance.now()). */
  since: number;
}

/** Tick interval while some tree is younger than YOUNG_MS, and after. */
const YOUNG_INTERVAL_MS = 100;
const SETTLED_INTERVAL_MS = 500;
const YOUNG_MS = 2000;

const watched = new Set<Watched>();
let timer: NodeJS.Timeout | undefined;
/** When the scheduled tick is due (performance.now()). */
let dueAt = 0;

/**
 * The kernel lists each task's children in /proc/<pid>/task/<tid>/children
 * (CONFIG_PROC_CHILDREN, on in Debian's kernels). Walking down from the
 * sandbox costs a few reads per process of the tree; the fallback, reading
 * the parent of every process on the machine, cost a busy host 1-14 ms of
 * CPU per tick, ten ticks a second, taken from the tools it watches.
 */
const CHILDREN_FILES = existsSync(`/proc/self/task/${process.pid}/children`);

/** The pids of the tree under rootPid (itself included), at most `cap` of them. */
function treeFromChildrenFiles(rootPid: number, cap: number): number[] {
  const tree: number[] = [];
  const queue = [rootPid];
  while (queue.length > 0 && tree.length <= cap) {
    const pid = queue.pop() as number;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // exited meanwhile
    }
    tree.push(pid);
    for (const tid of tasks) {
      let list: string;
      try {
        list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1');
      } catch {
        continue;
      }
      for (const child of list.split(' ')) if (child) queue.push(Number(child));
    }
  }
  return tree;
}

/** Parent pid of every process, from /proc/<pid>/stat. */
function readParents(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return children;
  }
  for (const name of entries) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ', 2);
    const ppid = Number(fields[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(name));
    else children.set(ppid, [Number(name)]);
  }
  return children;
}

function treeFromParents(children: Map<number, number[]>, rootPid: number): number[] {
  const tree: number[] = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    tree.push(pid);
    for (const child of children.get(pid) ?? []) queue.push(child);
  }
  return tree;
}

/** Anonymous and shared-memory pages a process holds in RAM, in bytes, and its threads. */
function residentPrivateBytes(pid: number): { bytes: number; threads: number } {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return { bytes: 0, threads: 0 };
  }
  let kib = 0;
  for (const key of ['RssAnon:', 'RssShmem:']) {
    const at = status.indexOf(key);
    if (at >= 0) kib += Number.parseInt(status.slice(at + key.length), 10) || 0;
  }
  const at = status.indexOf('Threads:');
  const threads = at >= 0 ? Number.parseInt(status.slice(at + 8), 10) || 1 : 1;
  return { bytes: kib * 1024, threads };
}

/** Schedule the next tick, or none when nothing is watched. */
function schedule(): void {
  clearTimeout(timer);
  timer = undefined;
  if (watched.size === 0) return;
  const now = performance.now();
  let young = false;
  for (const w of watched) if (now - w.since < YOUNG_MS) young = true;
  const delay = young ? YOUNG_INTERVAL_MS : SETTLED_INTERVAL_MS;
  dueAt = now + delay;
  timer = setTimeout(tick, delay);
  timer.unref();
}

function tick(): void {
  measure();
  schedule();
}

function measure(): void {
  const parents = CHILDREN_FILES ? undefined : readParents();
  for (const w of watched) {
    if (w.cgroup) {
      const s = w.cgroup.events();
      w.peakBytes = Math.max(w.peakBytes, s.peakMemoryBytes);
      if (s.oomKills > 0) w.onViolation('memory', s.peakMemoryBytes);
      else if (s.pidsMaxHits > 0) w.onViolation('processes', s.pidsMaxHits);
      continue;
    }
    const tree = parents
      ? treeFromParents(parents, w.rootPid)
      : treeFromChildrenFiles(w.rootPid, w.limits.maxProcesses);
    if (tree.length > w.limits.maxProcesses) {
      w.onViolation('processes', tree.length);
      continue;
    }
    let bytes = 0;
    let threads = 0;
    for (const pid of tree) {
      const m = residentPrivateBytes(pid);
      bytes += m.bytes;
      threads += m.threads;
    }
    w.peakBytes = Math.max(w.peakBytes, bytes);
    if (bytes > w.limits.maxMemoryBytes) w.onViolation('memory', bytes);
    else if (w.limits.maxTasks !== undefined && threads > w.limits.maxTasks)
      w.onViolation('processes', threads);
  }
}

/** Watch the tree under rootPid until the returned function is called. */
export function watchTree(
  rootPid: number,
  limits: TreeLimits,
  onViolation: (kind: TreeViolation, measured: number) => void,
): { stop: () => { peakBytes: number } } {
  return add({ rootPid, limits, onViolation, peakBytes: 0, since: performance.now() });
}

/**
 * Watch a job's cgroup: the kernel holds its limits, this stops the rest of
 * the job after an OOM kill (`memory`) or a fork refused at pids.max
 * (`processes`), on the same ticks as the tree watch.
 */
export function watchCgroup(
  cgroup: CgroupCounters,
  onViolation: (kind: TreeViolation, measured: number) => void,
): { stop: () => { peakBytes: number } } {
  return add({
    rootPid: 0,
    cgroup,
    limits: { maxMemoryBytes: Number.POSITIVE_INFINITY, maxProcesses: Number.POSITIVE_INFINITY },
    onViolation,
    peakBytes: 0,
    since: performance.now(),
  });
}

function add(entry: Watched): { stop: () => { peakBytes: number } } {
  watched.add(entry);
  // A new tree is young: the next tick must come within the young interval.
  if (!timer || dueAt - performance.now() > YOUNG_INTERVAL_MS) schedule();
  return {
    stop: () => {
      watched.delete(entry);
      if (watched.size === 0) schedule();
      return { peakBytes: entry.peakBytes };
    },
  };
}
