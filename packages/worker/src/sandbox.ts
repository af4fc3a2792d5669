/**
 * Runs one command under bubblewrap: no network (all namespaces unshared), a
 * read-only view of the system, the input read-only at /in, a private
 * writable /work, resource limits (prlimit), and a kill of the whole sandbox
 * on timeout, cancel or when stdout passes its size limit.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, lstatSync, readlinkSync } from 'node:fs';
import type { TypeLimits } from './catalog.js';

export type SandboxOutcome = 'exited' | 'timeout' | 'memory' | 'output_limit' | 'canceled' | 'spawn_error';

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
  signal?: AbortSignal;
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
}

/** Stderr past this is dropped: logs are for people, not a second output. */
const STDERR_CAP_BYTES = 16 * 1024 * 1024;
const MEMORY_MESSAGES =
  /out of memory|cannot allocate memory|memoryerror|bad_alloc|allocation failed|memory exhausted|std::bad_alloc|insufficient memory/i;

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
  return args;
}

let cachedSystemMounts: string[] | undefined;

export function buildBwrapArgs(req: SandboxRequest): string[] {
  cachedSystemMounts ??= systemMounts();
  const mib = 1024 * 1024;
  const args = [
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
    '--tmpfs',
    '/tmp',
    '--bind',
    req.workDir,
    '/work',
  ];
  for (const { host, sandbox } of req.readOnly) args.push('--ro-bind', host, sandbox);
  args.push(
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
    '--',
    '/usr/bin/prlimit',
    `--data=${Math.floor(req.limits.memory_mb * mib)}`,
    // Files the tool writes in /work are bounded like its stdout.
    `--fsize=${Math.floor(req.limits.output_mb * mib)}`,
    '--nproc=256',
    '--nofile=1024',
    '--core=0',
    '--',
    ...req.argv,
  );
  return args;
}

export async function runSandboxed(req: SandboxRequest): Promise<SandboxResult> {
  const started = Date.now();
  const stdoutLimit = Math.floor(req.limits.output_mb * 1024 * 1024);
  const stdoutFile = createWriteStream(req.stdoutPath);
  const stderrFile = createWriteStream(req.stderrPath);
  let stdoutBytes = 0;
  let stderrBytes = 0;
  let stderrTail = '';
  let killedFor: SandboxOutcome | undefined;

  const child = spawn('bwrap', buildBwrapArgs(req), {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so one kill reaches bwrap and everything under it.
    detached: true,
  });

  const kill = (reason: SandboxOutcome) => {
    killedFor ??= reason;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };

  const timer = setTimeout(() => kill('timeout'), req.limits.wall_seconds * 1000);
  const onAbort = () => kill('canceled');
  if (req.signal?.aborted) onAbort();
  req.signal?.addEventListener('abort', onAbort, { once: true });

  child.stdout.on('data', (chunk: Buffer) => {
    if (killedFor) return;
    stdoutBytes += chunk.length;
    if (stdoutBytes > stdoutLimit) {
      kill('output_limit');
      return;
    }
    if (!stdoutFile.write(chunk)) {
      child.stdout.pause();
      stdoutFile.once('drain', () => child.stdout.resume());
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096);
    if (stderrBytes >= STDERR_CAP_BYTES) return;
    const room = STDERR_CAP_BYTES - stderrBytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    stderrBytes += part.length;
    stderrFile.write(part);
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
  req.signal?.removeEventListener('abort', onAbort);

  if (spawnError) stderrFile.write(`bsubio: could not start the sandbox: ${spawnError.message}\n`);
  stdoutFile.end();
  stderrFile.end();
  await Promise.all([once(stdoutFile, 'close'), once(stderrFile, 'close')]);

  const lastStderrLine =
    stderrTail
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? '';
  let outcome: SandboxOutcome = killedFor ?? (spawnError ? 'spawn_error' : 'exited');
  if (outcome === 'exited' && exitCode !== 0 && MEMORY_MESSAGES.test(stderrTail)) outcome = 'memory';

  return {
    outcome,
    exitCode,
    termSignal,
    stdoutBytes: Math.min(stdoutBytes, stdoutLimit),
    stderrBytes,
    lastStderrLine,
    durationMs: Date.now() - started,
  };
}
