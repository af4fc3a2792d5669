/**
 * Runs one command under bubblewrap: no network (all namespaces unshared), a
 * read-only view of the system, the input read-only at /in, a private
 * writable /work and /tmp that share one size-capped tmpfs (the job's disk
 * quota: nothing it writes reaches the host's disk), a seccomp filter
 * (seccomp.ts), resource limits (prlimit: stdout and every file the tool
 * writes stop at the output limit), the job's own cgroup (cgroup.ts: memory,
 * tasks, CPU, enforced by the kernel) or, where there is none, a watch on the
 * process tree's memory and size; and a kill of the whole sandbox on timeout,
 * cancel, or when memory or the task count pass their limits.
 *
 * When the server runs as root, the sandbox also runs as the host's `nobody`
 * (the spawn drops to it before prlimit and bwrap run): inside a user namespace uid 65534 would otherwise
 * map to host root, for which the kernel does not enforce RLIMIT_NPROC, and a
 * file the sandbox could reach would be reached with root's rights.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  lstatSync,
  openSync,
  readlinkSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { TypeLimits } from './catalog.js';
import { type CgroupDetection, detectCgroups, JobCgroup, type JobCgroupStats } from './cgroup.js';
import { launcherPlan, type SandboxLauncher, sandboxLauncher } from './launcher.js';
import { watchCgroup, watchTree } from './proc-watch.js';
import { sandboxSeccompFilter } from './seccomp.js';

export type SandboxOutcome =
  | 'exited'
  | 'timeout'
  | 'memory'
  | 'process_limit'
  | 'output_limit'
  /** The files in /work and /tmp filled the job's scratch space. */
  | 'scratch_limit'
  | 'canceled'
  | 'spawn_error'
  /** The host could not write stdout or stderr (disk full): see `writeError`. */
  | 'write_error';

export interface SandboxRequest {
  argv: string[];
  /** Host paths mounted read-only at the given sandbox paths. */
  readOnly: { host: string; sandbox: string }[];
  limits: TypeLimits;
  /** Host files that receive stdout and stderr. */
  stdoutPath: string;
  stderrPath: string;
  /** Extra environment for the tool (the rest is cleared). */
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** Called with each piece of stderr as it is written to stderrPath (live logs). */
  onStderr?: (chunk: Buffer) => void;
}

export interface SandboxResult {
  outcome: SandboxOutcome;
  exitCode: number | null;
  termSignal: string | null;
  stdoutBytes: number;
  stderrBytes: number;
  /** The last non-empty stderr line, for error messages. */
  lastStderrLine: string;
  durationMs: number;
  /**
   * Largest memory of the job: from its cgroup (everything charged to it,
   * tmpfs and page cache included) or else the largest resident memory of the
   * process tree seen by the watch, in bytes.
   */
  peakMemoryBytes: number;
  /** CPU time of all the job's tasks in seconds, from its cgroup; null without one. */
  cpuSeconds: number | null;
  /** Who enforced memory and task limits: the job's cgroup, or the /proc watch. */
  limitsBy: 'cgroup' | 'watch';
  /** With `write_error`: the host's error code, e.g. ENOSPC. */
  writeError?: string;
}

/** The host uid and gid the sandbox runs as when the server is root. */
export const SANDBOX_HOST_ID = 65534;
/** Processes one sandbox may hold at once when the watch enforces it; more is a fork bomb. */
export const MAX_PROCESSES = 128;
/**
 * Tasks (processes and threads) one sandbox may hold at once: its cgroup's
 * pids.max, and the watch's thread count where there is no cgroup.
 */
export const MAX_TASKS = 512;
/**
 * RLIMIT_NPROC for the sandbox's host user when there is no pids cgroup. The
 * kernel counts every process and thread of that user, all sandboxes (and
 * anything else running as nobody) together, so this is only the host's
 * backstop. With a pids cgroup per job it is not set: a shared count lets one
 * job's thread bomb make another job's thread creation fail (and Node.js
 * hangs for good at start when it cannot create its platform threads).
 */
const NPROC_LIMIT = 2048;

/** True when sandboxes run as the host's `nobody` (the server is root). */
export function sandboxDropsPrivileges(): boolean {
  return process.getuid?.() === 0;
}

/** The whole environment prlimit and bwrap start with (the tool's is set by --setenv). */
const SANDBOX_SPAWN_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/** Stderr past this is dropped: logs are for people, not a second output. */
const STDERR_CAP_BYTES = 16 * 1024 * 1024;
const MEMORY_MESSAGES =
  /out of memory|cannot allocate memory|memoryerror|bad_alloc|allocation failed|memory exhausted|std::bad_alloc|insufficient memory|memory allocation failed/i;
const FORK_MESSAGES = /cannot fork|fork: (retry: )?resource temporarily unavailable|fork failed/i;
const FSIZE_MESSAGES = /file too large|file size limit exceeded/i;
/** ENOSPC inside the sandbox: its /work and /tmp (the host's disk is checked first). */
const SCRATCH_FULL_MESSAGES = /no space left on device|disk quota exceeded/i;
/** Exit status of a shell whose child died of SIGXFSZ (RLIMIT_FSIZE). */
const SIGXFSZ_STATUS = 128 + 25;

/** System directories visible read-only inside the sandbox. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];
/**
 * Only the parts of /etc that tools need: the whole of it would show the
 * host's secrets (the sandbox user owns what host root owns, read-only).
 */
const ETC_ENTRIES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'fonts',
  'ImageMagick-6',
  'ImageMagick-7',
  'localtime',
  'mime.types',
  'magic',
  'magic.mime',
  'ssl/openssl.cnf',
  'pandoc',
];

/** The job's writable space: one tmpfs, /work, with /tmp inside it (see buildSandboxCommand). */
const SCRATCH_TMP = '/work/.tmp';

/** The job's scratch quota (/work and /tmp together) in bytes. */
export function scratchBytes(limits: TypeLimits): number {
  return Math.floor((limits.scratch_mb ?? limits.output_mb) * 1024 * 1024);
}

/** How this process's sandboxes are limited, said once at start by the server and the worker. */
export interface SandboxMechanisms {
  cgroups: CgroupDetection;
  seccomp: boolean;
  /** One line for the log. */
  summary: string;
  /** True when limits rest on the /proc watch alone (the log should warn). */
  degraded: boolean;
}

export function sandboxMechanisms(): SandboxMechanisms {
  const cgroups = detectCgroups();
  const seccomp = sandboxSeccompFilter() !== null;
  const limits = cgroups.support
    ? `kernel limits per job: ${cgroups.description}`
    : `no usable cgroups (${cgroups.description}): memory and process limits rest on the /proc watch (polled, and blind to memfd and tmpfs)`;
  return {
    cgroups,
    seccomp,
    summary: `sandbox: ${limits}; seccomp filter ${seccomp ? 'on' : `off (no filter for ${process.arch})`}; /work and /tmp on a tmpfs per job; ${launcherPlan()}`,
    degraded: cgroups.support === null || !seccomp,
  };
}

/** The bwrap arguments for the system view; merged-/usr links stay links. */
function systemMounts(): string[] {
  const args: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    if (!existsSync(dir)) continue;
    const stat = lstatSync(dir);
    if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else args.push('--ro-bind', dir, dir);
  }
  for (const entry of ETC_ENTRIES) {
    const path = `/etc/${entry}`;
    if (existsSync(path)) args.push('--ro-bind', path, path);
  }
  // Without its cache fontconfig rescans every font at each start (seconds
  // for WeasyPrint and ImageMagick text).
  for (const path of ['/var/cache/fontconfig']) {
    if (existsSync(path)) args.push('--ro-bind', path, path);
  }
  return args;
}

let cachedSystemMounts: string[] | undefined;

/** How the sandbox's command is started: what changes with the host's support. */
export interface SandboxStart {
  /** A pids cgroup bounds the job's tasks, so no shared RLIMIT_NPROC is set. */
  pidsCgroup: boolean;
  /** The fd (in bwrap) from which bwrap reads the seccomp program, if any. */
  seccompFd?: number;
}

/**
 * The whole command line: prlimit sets the resource limits and execs bwrap,
 * which builds the sandbox and starts the tool in it. The limits are
 * inherited by everything bwrap starts; setting them outside the sandbox
 * rather than inside saves an exec per job.
 */
export function buildSandboxCommand(
  req: SandboxRequest,
  start: SandboxStart = { pidsCgroup: false },
): string[] {
  const mib = 1024 * 1024;
  return [
    '/usr/bin/prlimit',
    `--data=${Math.floor(req.limits.memory_mb * mib)}`,
    // Files the tool writes in /work are bounded like its stdout.
    `--fsize=${Math.floor(req.limits.output_mb * mib)}`,
    ...(start.pidsCgroup ? [] : [`--nproc=${NPROC_LIMIT}`]),
    '--nofile=1024',
    '--core=0',
    '--',
    ...bwrapCommand(req, start),
  ];
}

/**
 * The gate a sandbox starts behind when it gets a cgroup: a shell (as the
 * sandbox's user) that waits for one line on stdin, then sets the same
 * limits as prlimit in buildSandboxCommand with its own `ulimit` (no
 * process count: the pids cgroup bounds that) and executes bwrap. The
 * server moves the shell into the job's cgroup meanwhile, so that bwrap and
 * everything under it are born there: no task can fork before the move. An
 * empty stdin (the move failed and the server gave up) ends it. The shell
 * setting the limits itself saves the exec of prlimit, a few ms per job
 * where starting a process is dear.
 */
export function buildGatedSandboxCommand(req: SandboxRequest, start: SandboxStart): string[] {
  // dash's ulimit: -d in KiB, -f in 512-byte blocks; soft and hard limits both.
  const dataKib = Math.floor(req.limits.memory_mb * 1024);
  const fileBlocks = Math.floor(req.limits.output_mb * 2048);
  const limits = `ulimit -d ${dataKib} && ulimit -f ${fileBlocks} && ulimit -n 1024 && ulimit -c 0`;
  return [
    '/bin/sh',
    '-c',
    `read -r go && ${limits} && exec "$@" </dev/null`,
    'bsubio-gate',
    ...bwrapCommand(req, { ...start, pidsCgroup: true }),
  ];
}

/** bwrap's command line: it builds the sandbox and starts the tool in it. */
function bwrapCommand(req: SandboxRequest, start: SandboxStart): string[] {
  cachedSystemMounts ??= systemMounts();
  const command = [
    'bwrap',
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--uid',
    '65534',
    '--gid',
    '65534',
    '--hostname',
    'sandbox',
    ...cachedSystemMounts,
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    // /dev is a tmpfs of bwrap's with no size limit: its /dev/shm would be
    // writable room outside the quota. Read-only, the devices still work.
    '--remount-ro',
    '/dev',
    // The job's disk quota: /work and /tmp are one tmpfs of the scratch size
    // (ENOSPC past it), in memory and charged to the job's memory cgroup;
    // nothing the job writes reaches the host's disk but its stdout.
    '--size',
    String(scratchBytes(req.limits)),
    '--tmpfs',
    '/work',
    '--dir',
    SCRATCH_TMP,
    '--symlink',
    SCRATCH_TMP,
    '/tmp',
  ];
  if (start.seccompFd !== undefined) command.push('--seccomp', String(start.seccompFd));
  for (const { host, sandbox } of req.readOnly) command.push('--ro-bind', host, sandbox);
  command.push(
    '--chdir',
    '/work',
    '--clearenv',
    '--setenv',
    'PATH',
    '/usr/local/bin:/usr/bin:/bin',
    '--setenv',
    'HOME',
    '/work',
    '--setenv',
    'TMPDIR',
    '/tmp',
    '--setenv',
    'LANG',
    'C.UTF-8',
    // One thread per tool: jobs run side by side, and a type's limits should
    // not depend on the number of cores (tesseract, ImageMagick use OpenMP).
    '--setenv',
    'OMP_THREAD_LIMIT',
    '1',
  );
  for (const [name, value] of Object.entries(req.env ?? {})) command.push('--setenv', name, value);
  command.push('--', ...req.argv);
  return command;
}

/** The fd bwrap reads the seccomp program from (the spawn's fourth stdio entry). */
const SECCOMP_FD = 3;

/** Make the job's cgroup, or undefined (the watch takes over) when there is none or the kernel refuses. */
function jobCgroup(limits: TypeLimits): JobCgroup | undefined {
  const { support } = detectCgroups();
  if (!support) return undefined;
  try {
    return JobCgroup.create(support, `job-${randomUUID()}`, {
      // The scratch tmpfs is charged here too: it comes on top of the tool's memory.
      memoryBytes: limits.memory_mb * 1024 * 1024 + scratchBytes(limits),
      maxTasks: MAX_TASKS,
      ...(limits.cpus !== undefined ? { cpus: limits.cpus } : {}),
    });
  } catch {
    return undefined;
  }
}

/** A started sandbox, whichever way it was started. */
interface StartedSandbox {
  /** Its first process, the leader of its process group; undefined when it never started. */
  pid: number | undefined;
  /** Whether it was in the job's cgroups before bwrap started (else the watch keeps the limits). */
  inCgroup: boolean;
  onStderr(listener: (chunk: Buffer) => void): void;
  /** Once it exited and its stderr closed; spawnError when it never ran. */
  closed: Promise<{ exitCode: number | null; termSignal: string | null; spawnError?: Error }>;
}

/**
 * Through the launcher (launcher.ts): its child enters the cgroups, sets the
 * limits and drops privileges itself, then executes bwrap.
 */
async function startFromLauncher(
  launcher: SandboxLauncher,
  req: SandboxRequest,
  cgroup: JobCgroup | undefined,
  seccomp: Buffer | null,
  start: SandboxStart,
): Promise<StartedSandbox> {
  const mib = 1024 * 1024;
  const drop = sandboxDropsPrivileges();
  try {
    const launched = await launcher.start({
      argv: bwrapCommand(req, start),
      env: SANDBOX_SPAWN_ENV,
      stdoutPath: req.stdoutPath,
      ...(seccomp ? { seccomp } : {}),
      ...(drop ? { uid: SANDBOX_HOST_ID, gid: SANDBOX_HOST_ID } : {}),
      cgroupProcs: cgroup?.procsFiles() ?? [],
      rlimits: {
        data: Math.floor(req.limits.memory_mb * mib),
        fsize: Math.floor(req.limits.output_mb * mib),
        nofile: 1024,
        core: 0,
        ...(start.pidsCgroup ? {} : { nproc: NPROC_LIMIT }),
      },
    });
    return {
      pid: launched.pid,
      inCgroup: launched.inCgroup,
      onStderr: (listener) => launched.onStderr(listener),
      closed: launched.closed.then(({ exitCode, termSignal, launcherLost }) => ({
        exitCode,
        termSignal,
        ...(launcherLost ? { spawnError: new Error('the sandbox launcher stopped while the tool ran') } : {}),
      })),
    };
  } catch (err) {
    return {
      pid: undefined,
      inCgroup: false,
      onStderr: () => {},
      closed: Promise.resolve({ exitCode: null, termSignal: null, spawnError: err as Error }),
    };
  }
}

/**
 * From Node, where there is no launcher: prlimit and bwrap, or with a cgroup
 * the gate shell, which this process moves into it before letting it go on.
 */
function startFromNode(
  req: SandboxRequest,
  cgroup: JobCgroup | undefined,
  seccomp: Buffer | null,
  start: SandboxStart,
  stdoutFd: number,
): StartedSandbox {
  const [command, ...args] = cgroup ? buildGatedSandboxCommand(req, start) : buildSandboxCommand(req, start);
  const child = spawn(command as string, args, {
    // stdin: the gate's pipe, or nothing. fd 3: the seccomp program.
    stdio: [cgroup ? 'pipe' : 'ignore', stdoutFd, 'pipe', ...(seccomp ? (['pipe'] as const) : [])],
    // Not the server's environment: bwrap's own process stays in the sandbox
    // as its pid 1, where the tool can read /proc/1/environ (database URL,
    // storage credentials). bwrap and prlimit need nothing but PATH.
    env: SANDBOX_SPAWN_ENV,
    // Its own process group, so one kill reaches bwrap and everything under it.
    detached: true,
    // As root, the host's nobody (the child drops its groups too, before the exec).
    ...(sandboxDropsPrivileges() ? { uid: SANDBOX_HOST_ID, gid: SANDBOX_HOST_ID } : {}),
  });
  // Pipes to a child that died early fail with EPIPE: the outcome says why, not this.
  for (const stream of [child.stdin, child.stdio[SECCOMP_FD]]) stream?.on('error', () => {});
  if (seccomp) (child.stdio[SECCOMP_FD] as NodeJS.WritableStream | null)?.end(seccomp);

  let inCgroup = false;
  if (cgroup && child.pid !== undefined) {
    try {
      cgroup.enter(child.pid);
      inCgroup = true;
    } catch {
      // Not moved (or only partly): the watch keeps the limits.
    }
    child.stdin?.end('go\n');
  }
  const closed = new Promise<{ exitCode: number | null; termSignal: string | null; spawnError?: Error }>(
    (resolve) => {
      child.once('error', (spawnError) => resolve({ exitCode: null, termSignal: null, spawnError }));
      child.once('close', (exitCode, termSignal) => resolve({ exitCode, termSignal }));
    },
  );
  return {
    pid: child.pid,
    inCgroup,
    onStderr: (listener) => child.stderr?.on('data', listener),
    closed,
  };
}

export async function runSandboxed(req: SandboxRequest): Promise<SandboxResult> {
  const started = Date.now();
  const stdoutLimit = Math.floor(req.limits.output_mb * 1024 * 1024);
  // The tool writes its stdout straight into the output file: no pipe, no
  // hop through the server per 64 KiB, and RLIMIT_FSIZE (set by prlimit to
  // the output limit) stops it at the limit in the kernel. The file is the
  // server's (0600): the descriptor lets the tool write its own output and
  // nothing else.
  let stdoutFd: number;
  try {
    stdoutFd = openSync(req.stdoutPath, 'w', 0o600);
  } catch (err) {
    return notStarted(started, (err as NodeJS.ErrnoException).code ?? String(err));
  }
  const stderrFile = createWriteStream(req.stderrPath);
  let stderrBytes = 0;
  let stderrTail = '';
  let killedFor: SandboxOutcome | undefined;
  let writeError: string | undefined;
  let sandbox: StartedSandbox | undefined;
  let cgroup: JobCgroup | undefined;
  // Before the start too (a failed log write while the launcher answers):
  // the reason is kept, and the kill repeated once the sandbox is there.
  const kill = (reason: SandboxOutcome) => {
    killedFor ??= reason;
    try {
      if (sandbox?.pid !== undefined) process.kill(-sandbox.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    // Whatever left the process group (bwrap's --new-session) is still in the cgroup.
    cgroup?.killAll();
  };
  // The log is on the server's disk, which may fill up (ENOSPC): the tool is
  // stopped, and the job fails saying so, instead of the error going
  // unhandled and taking the whole process down.
  stderrFile.on('error', (err: NodeJS.ErrnoException) => {
    writeError ??= err.code ?? err.message;
    kill('write_error');
  });

  cgroup = jobCgroup(req.limits);
  const seccomp = sandboxSeccompFilter();
  const start: SandboxStart = {
    pidsCgroup: cgroup !== undefined,
    ...(seccomp ? { seccompFd: SECCOMP_FD } : {}),
  };
  const launcher = await sandboxLauncher();
  try {
    sandbox = launcher
      ? await startFromLauncher(launcher, req, cgroup, seccomp, start)
      : startFromNode(req, cgroup, seccomp, start, stdoutFd);
  } catch (err) {
    cgroup?.remove();
    throw err;
  } finally {
    // A child from Node has its own copy; the launcher's opened the file itself.
    closeSync(stdoutFd);
  }
  if (killedFor) kill(killedFor);
  const { inCgroup } = sandbox;

  const timer = setTimeout(() => kill('timeout'), req.limits.wall_seconds * 1000);
  const onViolation = (kind: 'memory' | 'processes') => kill(kind === 'memory' ? 'memory' : 'process_limit');
  const watch =
    sandbox.pid === undefined
      ? undefined
      : inCgroup && cgroup
        ? watchCgroup(cgroup, onViolation)
        : watchTree(
            sandbox.pid,
            {
              maxMemoryBytes: req.limits.memory_mb * 1024 * 1024,
              maxProcesses: MAX_PROCESSES,
              maxTasks: MAX_TASKS,
            },
            onViolation,
          );
  const onAbort = () => kill('canceled');
  if (req.signal?.aborted) onAbort();
  req.signal?.addEventListener('abort', onAbort, { once: true });

  sandbox.onStderr((chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096);
    if (stderrBytes >= STDERR_CAP_BYTES) return;
    const room = STDERR_CAP_BYTES - stderrBytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    stderrBytes += part.length;
    if (!stderrFile.destroyed) stderrFile.write(part);
    req.onStderr?.(part);
  });

  const { exitCode, termSignal, spawnError } = await sandbox.closed;
  clearTimeout(timer);
  const watchedPeak = watch?.stop().peakBytes ?? 0;
  req.signal?.removeEventListener('abort', onAbort);
  // The last word on what the kernel did: an OOM kill or a refused fork may
  // have come after the watch's last tick.
  let stats: JobCgroupStats | undefined;
  if (cgroup) {
    if (inCgroup) {
      stats = cgroup.stats();
      if (stats.oomKills > 0) killedFor ??= 'memory';
      else if (stats.pidsMaxHits > 0) killedFor ??= 'process_limit';
    }
    cgroup.killAll();
    cgroup.remove();
  }

  if (spawnError && !stderrFile.destroyed) {
    stderrFile.write(`bsubio: could not start the sandbox: ${spawnError.message}\n`);
  }
  // A stream that failed is closed already, and a late failure (the last
  // bytes flushed at end()) is caught by its error handler.
  await endAndClose(stderrFile);
  const stdoutBytes = fileSize(req.stdoutPath);

  const lastStderrLine =
    stderrTail
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? '';
  let outcome: SandboxOutcome = killedFor ?? (spawnError ? 'spawn_error' : 'exited');
  // A tool that ignores SIGXFSZ and its write errors runs on until its time
  // limit; what stopped its work was the output limit all the same.
  if (outcome === 'timeout' && stdoutBytes >= stdoutLimit) outcome = 'output_limit';
  if (outcome === 'exited' && exitCode !== 0) {
    // The tool gave up on its own after hitting a limit (RLIMIT_FSIZE,
    // RLIMIT_DATA, RLIMIT_NPROC), or on a full disk. A file cannot grow past
    // RLIMIT_FSIZE, so stdout at the limit means the tool was stopped there.
    if (stdoutBytes >= stdoutLimit || exitCode === SIGXFSZ_STATUS || termSignal === 'SIGXFSZ')
      outcome = 'output_limit';
    else if (diskFull(req.stdoutPath)) {
      outcome = 'write_error';
      writeError = 'ENOSPC';
    } else if (SCRATCH_FULL_MESSAGES.test(stderrTail)) outcome = 'scratch_limit';
    else if (MEMORY_MESSAGES.test(stderrTail)) outcome = 'memory';
    else if (FORK_MESSAGES.test(stderrTail)) outcome = 'process_limit';
    else if (FSIZE_MESSAGES.test(stderrTail)) outcome = 'output_limit';
  }

  return {
    outcome,
    exitCode,
    termSignal,
    stdoutBytes: Math.min(stdoutBytes, stdoutLimit),
    stderrBytes,
    lastStderrLine,
    durationMs: Date.now() - started,
    peakMemoryBytes: stats ? stats.peakMemoryBytes : watchedPeak,
    cpuSeconds: stats ? stats.cpuSeconds : null,
    limitsBy: stats ? 'cgroup' : 'watch',
    ...(writeError ? { writeError } : {}),
  };
}

/** The result of a sandbox that could not even open its output file (the disk). */
function notStarted(started: number, code: string): SandboxResult {
  return {
    outcome: 'write_error',
    exitCode: null,
    termSignal: null,
    stdoutBytes: 0,
    stderrBytes: 0,
    lastStderrLine: '',
    durationMs: Date.now() - started,
    peakMemoryBytes: 0,
    cpuSeconds: null,
    limitsBy: 'watch',
    writeError: code,
  };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * True when the file system of `path` has no room left for the sandbox's
 * user: a tool that failed then most likely failed writing its output (the
 * tool's own /tmp is a tmpfs of its own and does not count here).
 */
function diskFull(path: string): boolean {
  try {
    const { bavail, bsize } = statfsSync(dirname(path));
    return bavail * bsize < 1024 * 1024;
  } catch {
    return false;
  }
}

function endAndClose(file: ReturnType<typeof createWriteStream>): Promise<void> {
  if (file.closed) return Promise.resolve();
  const closed = new Promise<void>((resolve) => file.once('close', () => resolve()));
  if (!file.destroyed) file.end();
  return closed;
}
