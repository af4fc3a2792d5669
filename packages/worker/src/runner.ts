/**
 * Runs one claimed job from `claimed` to a terminal state: prepare a private
 * scratch directory, fetch the input, run the type's command in the sandbox
 * while renewing the lease, then hand output and logs to the backend.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import type { JobErrorCode } from '@bsubio/protocol';
import { describeAccepted } from '@bsubio/protocol/file-kinds';
import { ARCHIVE_TYPES, ArchiveError, unpackArchive } from './archive.js';
import type { ClaimedJob, JobOutcome, PipelineStep, WorkerBackend } from './backend.js';
import { type Catalog, TOOLS_DIR, type TypeDefinition, type TypeLimits } from './catalog.js';
import { resolveCommand, resolveEnv } from './command.js';
import { hostDirForNobody, SANDBOX_NODE_MODULES } from './node-packages.js';
import { checkParams } from './params.js';
import { moveFile, runPipeline } from './pipeline.js';
import {
  MAX_PROCESSES,
  MAX_TASKS,
  runSandboxed,
  SANDBOX_HOST_ID,
  type SandboxResult,
  sandboxDropsPrivileges,
} from './sandbox.js';
import { extensionFor, matchAccepted, sniffFile } from './sniff.js';
import { removeDirsOfGoneProcesses } from './stale-dirs.js';

export interface RunnerOptions {
  backend: WorkerBackend;
  catalog: Catalog;
  workerId: string;
  /** Host directory for per-job scratch space. */
  scratchDir: string;
  leaseMs: number;
}

const SANDBOX_TOOLS = '/opt/bsubio/tools';
/** Where a type with archive_in finds its unpacked input files. */
const SANDBOX_FILES = '/in/files';
const SANDBOX_NODE_DIR = '/opt/bsubio/node';

/** Node.js as seen from the sandbox: under /usr it is already visible. */
function nodeMount(): { path: string; bind?: { host: string; sandbox: string } } {
  const exec = process.execPath;
  if (exec.startsWith('/usr/')) return { path: exec };
  return {
    path: `${SANDBOX_NODE_DIR}/node`,
    bind: { host: dirname(exec), sandbox: SANDBOX_NODE_DIR },
  };
}

// The job's own file-system steps (make and remove its scratch directories,
// rename, chmod, stat) are synchronous on purpose: each takes microseconds on
// a local disk, while its promise form is a round trip through libuv's
// thread pool whose wake-ups measured 0.8 ms on average and up to 200 ms on a
// busy VM, a dozen of them per job. Bulk data (inputs, outputs) stays async.

/**
 * Where the files the sandbox sees (input, /work) live. When sandboxes run as
 * the host's `nobody`, the server's data directory is usually closed to that
 * user, so these go under a directory of their own in the system temp dir
 * that `nobody` may traverse but not list; stdout and stderr stay in the
 * server's scratch directory, out of the sandbox's reach.
 */
let sandboxBase: Promise<string> | undefined;
function sandboxBaseDir(scratchDir: string): Promise<string> {
  if (!sandboxDropsPrivileges()) return Promise.resolve(scratchDir);
  sandboxBase ??= (async () => {
    removeDirsOfGoneProcesses(new RegExp(`^${SANDBOX_BASE_PREFIX}(\\d+)-`));
    const dir = await mkdtemp(join(tmpdir(), `${SANDBOX_BASE_PREFIX}${process.pid}-`));
    chmodSync(dir, 0o711);
    // It may hold a copy of Node.js (hostDirForNobody): 170 MiB a process
    // start, which filled a disk when every test server left its own.
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  })();
  return sandboxBase;
}

const SANDBOX_BASE_PREFIX = 'bsubio-sandbox-';

/**
 * The helper scripts as the sandbox's user can read them. The package may be
 * installed where `nobody` cannot traverse (under /root, or any 0700
 * directory), so when sandboxes drop to it the scripts are copied once into
 * the sandbox base directory; otherwise they are used in place.
 */
let sandboxTools: Promise<string> | undefined;
function toolsHostDir(scratchDir: string): Promise<string> {
  if (!sandboxDropsPrivileges()) return Promise.resolve(TOOLS_DIR);
  sandboxTools ??= (async () => {
    const dir = join(await sandboxBaseDir(scratchDir), 'tools');
    await cp(TOOLS_DIR, dir, { recursive: true, force: true });
    return dir;
  })();
  return sandboxTools;
}

/** Why the job failed, in one sentence a person can act on. */
export function describeFailure(
  result: SandboxResult,
  limits: TypeLimits,
): { code: JobErrorCode; message: string } | null {
  switch (result.outcome) {
    case 'timeout':
      return {
        code: 'ETIMEDOUT',
        message: `The tool ran longer than its limit of ${limits.wall_seconds} seconds and was stopped.`,
      };
    case 'memory':
      return {
        code: 'ENOMEM',
        message: `The tool needed more memory than its limit of ${limits.memory_mb} MiB and was stopped.`,
      };
    case 'process_limit':
      // No code of its own: API.md's list is closed, and running out of tasks
      // is running out of a resource the job was given, like memory.
      return {
        code: 'ENOMEM',
        message:
          result.limitsBy === 'cgroup'
            ? `The tool started more processes or threads than its limit of ${MAX_TASKS} tasks and was stopped.`
            : `The tool started more processes than its limit of ${MAX_PROCESSES} (or more than ${MAX_TASKS} threads) and was stopped.`,
      };
    case 'output_limit':
      return {
        code: 'EFBIG',
        message: `The output (or a file the tool wrote) grew past its limit of ${limits.output_mb} MiB, so the tool was stopped.`,
      };
    case 'scratch_limit':
      return {
        code: 'EFBIG',
        message: `The files the tool wrote in /work and /tmp grew past their limit of ${limits.scratch_mb ?? limits.output_mb} MiB, so the tool failed.`,
      };
    case 'canceled':
      return { code: 'ECANCELED', message: 'The job was cancelled.' };
    case 'spawn_error':
      return { code: 'EINTERNAL', message: 'The sandbox could not start the tool; see the logs.' };
    case 'write_error':
      return {
        code: 'EINTERNAL',
        message:
          result.writeError === 'ENOSPC' || result.writeError === 'EDQUOT'
            ? `The server ran out of disk space (${result.writeError}: no space left on device) while storing the output, so the tool was stopped and nothing was kept; retry once space is freed.`
            : `The server could not store the output (${result.writeError ?? 'write error'}), so the tool was stopped and nothing was kept.`,
      };
    case 'exited': {
      if (result.exitCode === 0) return null;
      const how =
        result.exitCode === null
          ? `was killed by ${result.termSignal ?? 'a signal'}`
          : `exited with code ${result.exitCode}`;
      const line = result.lastStderrLine ? `: ${result.lastStderrLine.slice(0, 300)}` : '.';
      return { code: 'EEXIT', message: `The tool ${how}${line}` };
    }
  }
}

/**
 * The input files of a type that takes several: an archive is unpacked into
 * `dir` (see archive.ts for the guards), a single file is linked there alone.
 * Returns the reason when the archive is refused.
 */
async function prepareFiles(
  definition: TypeDefinition,
  inputHost: string,
  mime: string,
  ext: string,
  dir: string,
): Promise<string | undefined> {
  mkdirSync(dir);
  // The sandbox's user lists it, whatever the worker's umask.
  chmodSync(dir, 0o755);
  if (!ARCHIVE_TYPES.includes(mime)) {
    linkSync(inputHost, join(dir, `input${ext}`));
    return undefined;
  }
  try {
    const { files } = await unpackArchive(inputHost, mime, dir, definition.archive_in);
    if (files.length === 0) return 'The archive holds no files.';
    return undefined;
  } catch (err) {
    if (err instanceof ArchiveError) return `The archive ${err.message}`;
    throw err;
  }
}

/** A failure the runner itself found: no output, and the reason in the logs. */
async function failedOutcome(
  code: JobErrorCode,
  message: string,
  log: string,
  outputPath: string,
  logPath: string,
): Promise<JobOutcome> {
  writeFileSync(outputPath, '');
  writeFileSync(logPath, `bsubio: ${log}\n`);
  return { status: 'failed', errorCode: code, errorMessage: message, outputPath, logPath };
}

export class JobRunner {
  constructor(readonly options: RunnerOptions) {}

  /**
   * Run the job to the end. `abort` fires on cancel (the job is already failed
   * by the service) or on shutdown (the job is handed back to `pending`).
   */
  async run(job: ClaimedJob, abort: AbortSignal): Promise<void> {
    const { backend, workerId, leaseMs } = this.options;
    const scratch = join(this.options.scratchDir, `${job.id}-${job.attempt}`);
    const visible = join(await sandboxBaseDir(this.options.scratchDir), `${job.id}-${job.attempt}-in`);
    const lost = new AbortController();
    const heartbeat = setInterval(
      () => {
        backend.renewLease(job.id, workerId, leaseMs).then(
          (ok) => {
            if (!ok) lost.abort(new Error('lease lost'));
          },
          () => {
            // A failed renewal is retried on the next beat; the lease has slack for it.
          },
        );
      },
      Math.max(250, Math.floor(leaseMs / 3)),
    );
    const signal = AbortSignal.any([abort, lost.signal]);
    try {
      const outcome = await this.execute(job, scratch, visible, signal);
      if (abort.aborted && abort.reason === 'shutdown') {
        await backend.release(job.id, workerId);
      } else if (outcome) {
        await backend.complete(job.id, workerId, outcome);
      }
    } finally {
      clearInterval(heartbeat);
      rmSync(scratch, { recursive: true, force: true });
      if (visible !== scratch) rmSync(visible, { recursive: true, force: true });
    }
  }

  /** Returns the outcome to report, or null when the job is no longer ours. */
  private async execute(
    job: ClaimedJob,
    scratch: string,
    visible: string,
    signal: AbortSignal,
  ): Promise<JobOutcome | null> {
    mkdirSync(scratch, { recursive: true });
    if (!(await this.options.backend.advance(job.id, this.options.workerId, 'preparing'))) return null;
    if (job.steps) return runPipeline(this, job, job.steps, scratch, visible, signal);
    const tool = { type: job.type, params: job.params };
    return this.runTool(job, tool, join(scratch, 'stdout'), join(scratch, 'stderr'), visible, signal);
  }

  /**
   * Run one tool of the job on its input, or with `input` on that local file
   * (a pipeline's step after the first of this attempt, whose job is already
   * processing). Returns the outcome, or null when the job is no longer ours.
   */
  async runTool(
    job: ClaimedJob,
    tool: PipelineStep,
    outputPath: string,
    logPath: string,
    visible: string,
    signal: AbortSignal,
    input?: string,
  ): Promise<JobOutcome | null> {
    const { backend, catalog, workerId } = this.options;
    const fail = (code: JobErrorCode, message: string, log: string) =>
      failedOutcome(code, message, log, outputPath, logPath);

    const entry = catalog.resolve(tool.type);
    if (!entry) {
      const message = `The processing type "${tool.type}" is not known to this worker.`;
      return fail('EINTERNAL', message, message);
    }
    if (!entry.available) {
      const message = `The tool for "${tool.type}" is not installed on this worker (missing ${entry.missing.join(', ')}).`;
      return fail('EINTERNAL', message, message);
    }
    const params = checkParams(entry.definition, tool.params);
    if (!params.ok) return fail('EINPUT', params.error, params.error);
    if (entry.definition.builtin === 'identity') {
      return this.identity(job, entry.definition.limits, outputPath, logPath, signal, input);
    }

    // /work is the sandbox's own tmpfs: here only the input, which its user must reach.
    mkdirSync(visible, { recursive: true, mode: 0o700 });
    if (sandboxDropsPrivileges()) chmodSync(visible, 0o711);
    const fetched = join(visible, 'input.fetch');
    if (input) moveFile(input, fetched);
    else await backend.fetchInput(job.id, fetched, workerId);
    if (signal.aborted) return null;

    // Check the real format against what the type accepts, and name the file
    // by it: tools that pick a reader by extension (pandoc) then read it right.
    const { mime_in } = entry.definition;
    const sniffed = await sniffFile(fetched);
    const accepted = matchAccepted(sniffed.mime, mime_in);
    if (!accepted) {
      const message = `The input is ${sniffed.label} (${sniffed.mime}), but "${tool.type}" accepts ${describeAccepted(mime_in)}.`;
      return fail('EINPUT', message, message);
    }
    if (sniffed.damage && accepted !== '*/*') {
      const message = `The input is ${sniffed.label}, but ${sniffed.damage}.`;
      return fail('EINPUT', message, message);
    }
    // A pipeline's later step reads the step before's output, not the user's file.
    const original = job.steps && tool !== job.steps[0] ? '' : extname(job.inputName ?? '').slice(0, 16);
    // The name follows what the bytes are, not what the user called them:
    // tools that choose a reader by extension (ffmpeg picks its HLS reader
    // for .m3u8, pandoc its format) must not be steered by the file name.
    // Only bytes of no known kind keep the user's extension.
    const knownKind = sniffed.mime !== 'application/octet-stream';
    const ext = accepted.includes('*')
      ? (knownKind && sniffed.ext) || original || sniffed.ext
      : extensionFor(accepted) || sniffed.ext || original;
    const inputHost = join(visible, `input${ext}`);
    renameSync(fetched, inputHost);
    // For a local store this file is a hard link of the stored input: make it
    // readable by the sandbox's user through its group, never by every local
    // user (it was 0444, which opened the stored input to all).
    if (sandboxDropsPrivileges()) {
      chownSync(inputHost, 0, SANDBOX_HOST_ID);
      chmodSync(inputHost, 0o440);
    } else {
      chmodSync(inputHost, 0o400);
    }

    const node = nodeMount();
    const sandboxInput = `/in/input${ext}`;
    const context = {
      input: sandboxInput,
      files: SANDBOX_FILES,
      tools: SANDBOX_TOOLS,
      node: node.path,
      params: params.values,
    };
    const argv = resolveCommand(entry.definition, context);
    const env = resolveEnv(entry.definition, context);
    const readOnly = [
      { host: inputHost, sandbox: sandboxInput },
      { host: await toolsHostDir(this.options.scratchDir), sandbox: SANDBOX_TOOLS },
    ];
    // Directories from the server's install (the Node binary, npm packages)
    // may sit where `nobody` cannot traverse (/root, a 0700 checkout).
    const reachable = (dir: string, copyAs: string) =>
      sandboxDropsPrivileges()
        ? hostDirForNobody(dir, copyAs, () => sandboxBaseDir(this.options.scratchDir))
        : Promise.resolve(dir);
    if (node.bind) readOnly.push({ ...node.bind, host: await reachable(node.bind.host, 'node-bin') });
    if (entry.definition.archive_in) {
      const filesHost = join(visible, 'files');
      const problem = await prepareFiles(entry.definition, inputHost, sniffed.mime, ext, filesHost);
      if (problem) return fail('EINPUT', problem, problem);
      readOnly.push({ host: filesHost, sandbox: SANDBOX_FILES });
    }
    for (const path of entry.definition.binds ?? []) {
      if (existsSync(path)) readOnly.push({ host: path, sandbox: path });
    }
    for (const pkg of entry.nodePackages) {
      const host = await reachable(pkg.dir, join('node_modules', pkg.name));
      readOnly.push({ host, sandbox: `${SANDBOX_NODE_MODULES}/${pkg.name}` });
    }

    if (!input && !(await backend.advance(job.id, workerId, 'processing'))) return null;
    const result = await runSandboxed({
      argv,
      readOnly,
      limits: entry.definition.limits,
      env,
      stdoutPath: outputPath,
      stderrPath: logPath,
      signal,
      onStderr: backend.appendLog && ((chunk) => backend.appendLog?.(job.id, workerId, chunk)),
    });
    if (result.outcome === 'canceled') return null;
    // The partial output goes at once: on a full disk, its space is what the
    // store needs to record the failure.
    if (result.outcome === 'write_error') {
      try {
        truncateSync(outputPath, 0);
      } catch {
        // Already gone or unwritable: nothing more to free.
      }
    }
    const failure = describeFailure(result, entry.definition.limits);
    const usage = { peakMemoryBytes: result.peakMemoryBytes, cpuSeconds: result.cpuSeconds };
    if (!failure)
      return { status: 'finished', errorCode: null, errorMessage: null, outputPath, logPath, ...usage };
    return {
      status: 'failed',
      errorCode: failure.code,
      errorMessage: failure.message,
      outputPath,
      logPath,
      ...usage,
    };
  }

  /**
   * The input is the output (passthru): fetched straight to where the output
   * goes, which for a local store is a hard link, with no tool to run and so
   * nothing to sandbox. The states are walked all the same, so that a job
   * looks alike to its owner whichever type it has.
   */
  private async identity(
    job: ClaimedJob,
    limits: TypeLimits,
    outputPath: string,
    logPath: string,
    signal: AbortSignal,
    input?: string,
  ): Promise<JobOutcome | null> {
    const { backend, workerId } = this.options;
    if (input) moveFile(input, outputPath);
    else await backend.fetchInput(job.id, outputPath, workerId);
    if (signal.aborted) return null;
    if (!input && !(await backend.advance(job.id, workerId, 'processing'))) return null;
    const { size } = statSync(outputPath);
    if (size > limits.output_mb * 1024 * 1024) {
      // Unlinked, not truncated: the file may share its bytes with the stored input.
      rmSync(outputPath);
      const message = `The output grew past its limit of ${limits.output_mb} MiB.`;
      return failedOutcome('EFBIG', message, message, outputPath, logPath);
    }
    writeFileSync(logPath, '');
    return { status: 'finished', errorCode: null, errorMessage: null, outputPath, logPath };
  }
}
