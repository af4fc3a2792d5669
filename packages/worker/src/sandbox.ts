/**
 * Runs one command under bubblewrap: no network (all namespaces unshared), a
 * read-only view of the system, the input read-only at /in, a private
 * writable /work, a size-capped /tmp, resource limits (prlimit: stdout and
 * every file the tool writes stop at the output limit), a watch on the
 * process tree's memory and size, and a kill of the whole sandbox on
 * timeout, cancel, or when memory or the process count pass their limits.
 *
 * When the server runs as root, the sandbox also runs as the host's `nobody`
 * (the spawn drops to it before prlimit and bwrap run): inside a user namespace uid 65534 would otherwise
 * map to host root, for which the kernel does not enforce RLIMIT_NPROC, and a
 * file the sandbox could reach would be reached with root's rights.
 */
import { spawn } from 'node:child_process';
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
import { watchTree } from './proc-watch.js';

export type SandboxOutcome =
  | 'exited'
  | 'timeout'
  | 'memory'
  | 'process_limit'
  | 'output_limit'
  | 'canceled'
  | 'spawn_error'
  /** The host could not write stdout or stderr (disk full): see `writeError`. */
  | 'write_error';

export interface SandboxRequest {
  argv: string[];
  /** Host directory mounted writable at /work, the tool's working directory. */
  workDir: string;
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
  /** Largest resident memory of the process tree seen by the watch, in bytes. */
  peakMemoryBytes: number;
  /** With `write_error`: the host's error code, e.g. ENOSPC. */
  writeError?: string;
}

/** The host uid and gid the sandbox runs as when the server is root. */
export const SANDBOX_HOST_ID = 65534;
/** Processes one sandbox may hold at once; more is a fork bomb. */
export const MAX_PROCESSES = 128;
/**
 * RLIMIT_NPROC for the sandbox's host user. The kernel counts every process
 * and thread of that user, all sandboxes together, so this is the host's
 * backstop; MAX_PROCESSES, enforced by the watch, is the per-job limit.
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

/**
 * The whole command line: prlimit sets the resource limits and execs bwrap,
 * which builds the sandbox and starts the tool in it. The limits are
 * inherited by everything bwrap starts; setting them outside the sandbox
 * rather than inside saves an exec per job.
 */
export function buildSandboxCommand(req: SandboxRequest): string[] {
  cachedSystemMounts ??= systemMounts();
  const mib = 1024 * 1024;
  const command = [
    '/usr/bin/prlimit',
    `--data=${Math.floor(req.limits.memory_mb * mib)}`,
    // Files the tool writes in /work are bounded like its stdout.
    `--fsize=${Math.floor(req.limits.output_mb * mib)}`,
    `--nproc=${NPROC_LIMIT}`,
    '--nofile=1024',
    '--core=0',
    '--',
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
    // /tmp lives in memory: cap it like the process's own memory.
    '--size',
    String(Math.floor(req.limits.memory_mb * mib)),
    '--tmpfs',
    '/tmp',
    '--bind',
    req.workDir,
    '/work',
  ];
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
  // The log is on the server's disk, which may fill up (ENOSPC): the tool is
  // stopped, and the job fails saying so, instead of the error going
  // unhandled and taking the whole process down.
  stderrFile.on('error', (err: NodeJS.ErrnoException) => {
    writeError ??= err.code ?? err.message;
    kill('write_error');
  });

  const [command, ...args] = buildSandboxCommand(req);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(command as string, args, {
      stdio: ['ignore', stdoutFd, 'pipe'],
      // Not the server's environment: bwrap's own process stays in the sandbox
      // as its pid 1, where the tool can read /proc/1/environ (database URL,
      // storage credentials). bwrap and prlimit need nothing but PATH.
      env: SANDBOX_SPAWN_ENV,
      // Its own process group, so one kill reaches bwrap and everything under it.
      detached: true,
      // As root, the host's nobody (the child drops its groups too, before the exec).
      ...(sandboxDropsPrivileges() ? { uid: SANDBOX_HOST_ID, gid: SANDBOX_HOST_ID } : {}),
    });
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(stdoutFd);
  }

  const kill = (reason: SandboxOutcome) => {
    killedFor ??= reason;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };

  const timer = setTimeout(() => kill('timeout'), req.limits.wall_seconds * 1000);
  const watch =
    child.pid === undefined
      ? undefined
      : watchTree(
          child.pid,
          { maxMemoryBytes: req.limits.memory_mb * 1024 * 1024, maxProcesses: MAX_PROCESSES },
          (kind) => kill(kind === 'memory' ? 'memory' : 'process_limit'),
        );
  const onAbort = () => kill('canceled');
  if (req.signal?.aborted) onAbort();
  req.signal?.addEventListener('abort', onAbort, { once: true });

  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096);
    if (stderrBytes >= STDERR_CAP_BYTES) return;
    const room = STDERR_CAP_BYTES - stderrBytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    stderrBytes += part.length;
    if (!stderrFile.destroyed) stderrFile.write(part);
    req.onStderr?.(part);
  });

  let spawnError: Error | undefined;
  const [exitCode, termSignal] = await new Promise<[number | null, string | null]>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      resolve([null, null]);
    });
    child.once('close', (code, sig) => resolve([code, sig]));
  });
  clearTimeout(timer);
  const peakMemoryBytes = watch?.stop().peakBytes ?? 0;
  req.signal?.removeEventListener('abort', onAbort);

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
    } else if (MEMORY_MESSAGES.test(stderrTail)) outcome = 'memory';
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
    peakMemoryBytes,
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
