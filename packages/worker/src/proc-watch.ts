/**
 * Watches the process trees of running sandboxes through /proc: their
 * resident memory and their number of processes. RLIMIT_DATA alone misses
 * memory that is not a private data mapping (shared anonymous memory, many
 * small processes each under the limit), and RLIMIT_NPROC is not enforced for
 * root, so a second, outside view is needed. cgroups would be exact but are
 * not writable everywhere; /proc always is readable.
 *
 * One timer serves every sandbox of the process: each tick reads /proc once,
 * builds the parent → children map and measures each registered tree.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface TreeLimits {
  /** Resident anonymous + shared-memory bytes of the whole tree. */
  maxMemoryBytes: number;
  /** Processes (not threads) in the tree, the sandbox itself included. */
  maxProcesses: number;
}

export type TreeViolation = 'memory' | 'processes';

interface Watched {
  rootPid: number;
  limits: TreeLimits;
  onViolation: (kind: TreeViolation, measured: number) => void;
  /** Largest memory seen, for the logs. */
  peakBytes: number;
}

const INTERVAL_MS = 100;

const watched = new Set<Watched>();
let timer: NodeJS.Timeout | undefined;

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

/** Anonymous and shared-memory pages a process holds in RAM, in bytes. */
function residentPrivateBytes(pid: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return 0;
  }
  let kib = 0;
  for (const key of ['RssAnon:', 'RssShmem:']) {
    const at = status.indexOf(key);
    if (at >= 0) kib += Number.parseInt(status.slice(at + key.length), 10) || 0;
  }
  return kib * 1024;
}

function tick(): void {
  const children = readParents();
  for (const w of watched) {
    const tree: number[] = [];
    const queue = [w.rootPid];
    while (queue.length > 0) {
      const pid = queue.pop() as number;
      tree.push(pid);
      for (const child of children.get(pid) ?? []) queue.push(child);
    }
    if (tree.length > w.limits.maxProcesses) {
      w.onViolation('processes', tree.length);
      continue;
    }
    let bytes = 0;
    for (const pid of tree) bytes += residentPrivateBytes(pid);
    w.peakBytes = Math.max(w.peakBytes, bytes);
    if (bytes > w.limits.maxMemoryBytes) w.onViolation('memory', bytes);
  }
}

/** Watch the tree under rootPid until the returned function is called. */
export function watchTree(
  rootPid: number,
  limits: TreeLimits,
  onViolation: (kind: TreeViolation, measured: number) => void,
): { stop: () => { peakBytes: number } } {
  const entry: Watched = { rootPid, limits, onViolation, peakBytes: 0 };
  watched.add(entry);
  timer ??= setInterval(tick, INTERVAL_MS);
  timer.unref();
  return {
    stop: () => {
      watched.delete(entry);
      if (watched.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
      return { peakBytes: entry.peakBytes };
    },
  };
}
