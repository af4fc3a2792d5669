/**
 * Starts sandboxes through the sandbox launcher, a small long-lived process,
 * instead of forking the server for each one: launcher/sandbox-launcher (C,
 * built by launcher/build.mjs when a compiler is at hand) or else
 * launcher/sandbox-launcher.pl (Perl, always at hand on Debian). Both speak
 * the same protocol; the C one starts each sandbox the way vfork does,
 * which saves the fork's page faults (see its header).
 *
 * Why: starting a process from Node forks Node, and a fork copies the
 * parent's page tables. On a VM with paravirtualised page tables that is
 * 7 ms of the server's CPU per sandbox at 150 MiB, blocking its event loop,
 * against 0.7 ms from the launcher's few MiB. The launcher's child also
 * enters the job's cgroups and sets the limits itself before it executes
 * bwrap, which saves the gate shell's exec (sandbox.ts) as well.
 *
 * One launcher serves the whole process; it is started on first use. When
 * neither can run (no build and no perl, an architecture the Perl one has
 * no syscall table for) the caller falls back to spawning from Node, as
 * before. When it dies, the
 * sandboxes it started die with it (bwrap's --die-with-parent), their runs
 * end as failures to start, and the next sandbox starts a new launcher.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';

/** The launchers, beside dist/ and src/ in the package. */
const NATIVE = join(import.meta.dirname, '..', 'launcher', 'sandbox-launcher');
const SCRIPT = join(import.meta.dirname, '..', 'launcher', 'sandbox-launcher.pl');
const PERL = '/usr/bin/perl';

export type LauncherKind = 'c' | 'perl';

/** Whether the C launcher was built: looked at once (a build does not appear under a running server). */
let nativeBuilt: boolean | undefined;
function nativeLauncherBuilt(): boolean {
  if (nativeBuilt === undefined) {
    try {
      accessSync(NATIVE, constants.X_OK);
      nativeBuilt = true;
    } catch {
      nativeBuilt = false;
    }
  }
  return nativeBuilt;
}

/** Which launcher a new SandboxLauncher runs: the C build when there is one, unless BSUBIO_SANDBOX_LAUNCHER=perl. */
export function preferredLauncher(): LauncherKind {
  return process.env.BSUBIO_SANDBOX_LAUNCHER !== 'perl' && nativeLauncherBuilt() ? 'c' : 'perl';
}

export interface LaunchRequest {
  argv: string[];
  env: Record<string, string>;
  /** Opened (created, truncated, 0600) by the sandbox's first process as its stdout. */
  stdoutPath: string;
  /** The seccomp program, handed to bwrap on fd 3 (--seccomp 3). */
  seccomp?: Buffer;
  /** Drop to these ids before bwrap (the server runs as root). */
  uid?: number;
  gid?: number;
  /** The job's cgroup.procs files, entered before bwrap starts. */
  cgroupProcs: string[];
  /** Soft and hard limits both. nproc only when there is no pids cgroup. */
  rlimits: { data: number; fsize: number; nofile: number; core: number; nproc?: number };
}

export interface LaunchedSandbox {
  pid: number;
  /** True when the process entered every cgroup.procs file before bwrap started. */
  inCgroup: boolean;
  /** Called with each piece of the sandbox's stderr, in order. */
  onStderr(listener: (chunk: Buffer) => void): void;
  /** Resolves once the sandbox's first process has exited and its stderr is closed. */
  closed: Promise<{ exitCode: number | null; termSignal: string | null; launcherLost: boolean }>;
}

interface Pending {
  started?: { resolve: (s: LaunchedSandbox) => void; reject: (err: Error) => void };
  stderr: ((chunk: Buffer) => void)[];
  buffered: Buffer[];
  close?: (result: { exitCode: number | null; termSignal: string | null; launcherLost: boolean }) => void;
}

const SIGNAL_NAMES = new Map(Object.entries(osConstants.signals).map(([name, n]) => [n as number, name]));

export class SandboxLauncher {
  private readonly child: ChildProcess;
  private readonly jobs = new Map<string, Pending>();
  private nextId = 1;
  private input: Buffer = Buffer.alloc(0);
  private dead = false;
  private started = false;
  private retiring = false;
  readonly ready: Promise<void>;

  constructor(readonly kind: LauncherKind = preferredLauncher()) {
    const [command, args] = kind === 'c' ? [NATIVE, []] : [PERL, [SCRIPT]];
    this.child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    // It keeps this process alive only while it starts or runs sandboxes
    // (busy()): an idle launcher must not hold a worker's exit.
    this.child.unref();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
    let markReady: () => void = () => {};
    let failStart: (err: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
      this.parse(markReady);
      this.busy();
    });
    this.child.stdin?.on('error', () => {});
    const lost = (reason: string) => {
      if (this.dead) return;
      this.dead = true;
      failStart(new Error(reason));
      for (const [id, job] of this.jobs) {
        job.started?.reject(new Error(reason));
        job.close?.({ exitCode: null, termSignal: null, launcherLost: true });
        this.jobs.delete(id);
      }
      if (current === this) current = undefined;
    };
    this.child.once('error', (err) => lost(`the sandbox launcher could not start: ${err.message}`));
    this.child.once('exit', (code, signal) =>
      lost(`the sandbox launcher stopped (${signal ?? `exit code ${code}`})`),
    );
  }

  /** Keep this process alive while the launcher has work (or is starting), not when idle. */
  private busy(): void {
    const stdout = this.child.stdout as unknown as { ref?: () => void; unref?: () => void } | null;
    if (this.jobs.size > 0 || !this.started) stdout?.ref?.();
    else stdout?.unref?.();
  }

  /** Start one sandbox; rejects (nothing runs) when its first process could not execute bwrap. */
  start(req: LaunchRequest): Promise<LaunchedSandbox> {
    if (this.dead) return Promise.reject(new Error('the sandbox launcher stopped'));
    const id = String(this.nextId++);
    const limits = Object.entries(req.rlimits)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `${name}=${Math.floor(value as number)}`)
      .join(',');
    const fields = [
      'spawn',
      id,
      req.stdoutPath,
      req.seccomp ? req.seccomp.toString('hex') : '',
      req.uid === undefined ? '' : String(req.uid),
      req.gid === undefined ? '' : String(req.gid),
      req.cgroupProcs.join(':'),
      limits,
      String(req.argv.length),
      ...req.argv,
      ...Object.entries(req.env).map(([name, value]) => `${name}=${value}`),
    ];
    for (const field of fields) {
      // Neither execve nor the frame can carry these.
      if (field.includes('\0')) return Promise.reject(new Error('an argument holds a NUL byte'));
    }
    const joined = req.cgroupProcs.find((path) => path.includes(':'));
    if (joined) return Promise.reject(new Error(`a cgroup path holds ":", the list's separator: ${joined}`));
    const payload = Buffer.from(fields.join('\0'));
    return new Promise<LaunchedSandbox>((resolve, reject) => {
      this.jobs.set(id, { started: { resolve, reject }, stderr: [], buffered: [] });
      this.busy();
      this.child.stdin?.write(Buffer.concat([Buffer.from(`${payload.length}\n`), payload]));
    });
  }

  /** Take every complete reply out of the input. */
  private parse(markReady: () => void): void {
    for (;;) {
      const nl = this.input.indexOf(10);
      if (nl < 0) return;
      const head = this.input.subarray(0, nl).toString('latin1').split(' ');
      const [kind, id] = head;
      let rest = nl + 1;
      let body: Buffer | undefined;
      if (kind === 'E' || kind === 'F') {
        const length = Number(head[2]);
        if (this.input.length < rest + length) return;
        body = this.input.subarray(rest, rest + length);
        rest += length;
      }
      // A copy: the relayed stderr outlives this buffer's reuse.
      this.input = this.input.subarray(rest);
      if (kind === 'ready') {
        this.started = true;
        markReady();
      } else if (id !== undefined) this.onReply(kind as string, id, head, body);
    }
  }

  private onReply(kind: string, id: string, head: string[], body: Buffer | undefined): void {
    const job = this.jobs.get(id);
    if (!job) return;
    if (kind === 'S') {
      const closed = new Promise<{
        exitCode: number | null;
        termSignal: string | null;
        launcherLost: boolean;
      }>((resolve) => {
        job.close = resolve;
      });
      const started = job.started;
      job.started = undefined;
      started?.resolve({
        pid: Number(head[2]),
        inCgroup: head[3] === '1',
        onStderr: (listener) => {
          job.stderr.push(listener);
          for (const chunk of job.buffered.splice(0)) listener(chunk);
        },
        closed,
      });
    } else if (kind === 'F') {
      this.forget(id);
      job.started?.reject(new Error(body?.toString('utf8') ?? 'the sandbox could not start'));
    } else if (kind === 'E' && body) {
      const chunk = Buffer.from(body);
      if (job.stderr.length === 0) job.buffered.push(chunk);
      for (const listener of job.stderr) listener(chunk);
    } else if (kind === 'X') {
      this.forget(id);
      const code = Number(head[2]);
      const signal = Number(head[3]);
      job.close?.({
        exitCode: signal ? null : code,
        termSignal: signal ? (SIGNAL_NAMES.get(signal) ?? `signal ${signal}`) : null,
        launcherLost: false,
      });
    }
  }

  /** A job's last reply has come: a retiring launcher stops after its last one. */
  private forget(id: string): void {
    this.jobs.delete(id);
    if (this.retiring && this.jobs.size === 0) this.stop();
  }

  /** Stop the launcher (tests; a server's exit does this by closing its stdin). */
  stop(): void {
    this.child.stdin?.end();
  }

  /** Stop it once no sandbox of its own runs any more. */
  stopWhenIdle(): void {
    this.retiring = true;
    if (this.jobs.size === 0) this.stop();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
}

let current: SandboxLauncher | undefined;
/** Why the launcher failed to come up, once it has: it is not tried again. */
let unusable: string | undefined;

/** Why this process may not use the launcher at all (before trying it), or undefined. */
function whyNotLauncher(): string | undefined {
  if (process.env.BSUBIO_SANDBOX_LAUNCHER === '0') return 'BSUBIO_SANDBOX_LAUNCHER=0';
  if (preferredLauncher() === 'c') return undefined;
  if (!existsSync(PERL)) return `no C build of the sandbox launcher and no ${PERL} for the Perl one`;
  if (!existsSync(SCRIPT)) return `the sandbox launcher ${SCRIPT} is missing`;
  return undefined;
}

/**
 * The process's launcher, started on first use; undefined when sandboxes
 * must be spawned from Node: no perl, the launcher refused this machine,
 * or BSUBIO_SANDBOX_LAUNCHER=0.
 */
export async function sandboxLauncher(): Promise<SandboxLauncher | undefined> {
  if (unusable !== undefined || whyNotLauncher() !== undefined) return undefined;
  // The setting changed (tests do that): the next sandbox starts from the
  // other kind, and the old launcher stops once its sandboxes have ended.
  if (current && current.kind !== preferredLauncher()) {
    current.stopWhenIdle();
    current = undefined;
  }
  const launcher = current ?? new SandboxLauncher();
  current = launcher;
  try {
    await launcher.ready;
    return launcher;
  } catch (err) {
    // It never came up (as opposed to dying later): do not try again.
    if (current === launcher) current = undefined;
    unusable = (err as Error).message;
    return undefined;
  }
}

/** How sandboxes will start, for the start-up log (the launcher itself starts on first use). */
export function launcherPlan(): string {
  const whyNot = whyNotLauncher();
  if (whyNot !== undefined) return `sandboxes start from this process (${whyNot})`;
  return preferredLauncher() === 'c'
    ? 'sandboxes start from the sandbox launcher (C)'
    : 'sandboxes start from the sandbox launcher (Perl: no C build, or BSUBIO_SANDBOX_LAUNCHER=perl)';
}
