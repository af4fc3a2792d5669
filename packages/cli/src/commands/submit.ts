import { mkdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { BsubError, type Job, type ProcessingType } from 'bsubio';
import { type Command, expectArgs } from '../command.js';
import type { Context } from '../context.js';
import { CliError, errorLine } from '../errors.js';
import { json } from '../format.js';
import { createProgress } from '../progress.js';

/** Uploads at once; waiting costs nothing (one held request a job), so it is not limited. */
const UPLOADS_AT_ONCE = 4;

export const submit: Command = {
  name: 'submit',
  summary: 'Submit jobs for processing',
  usage: 'submit [flags] <type> <file>...',
  description: `
Upload each file as a job of the given type and print the job ids on stdout,
one per line, in the order of the files. Several files are uploaded at once.
A file named - is read from stdin.

With -w, wait for the jobs (there is no polling delay: the server answers the
moment a job ends) and write their output to stdout instead of the ids, in
the order of the files, with an empty line between outputs. Progress goes to
stderr, so the output can be piped:

  bsubio submit -w pdf/extract a.pdf | grep word

-o writes the output to a file instead (and implies -w); with several files
-o names a directory, created if needed, where each output is named after its
input with the type's extension (a.pdf → a.txt). A failed job makes the exit
status 1 and says why on stderr.

On a terminal, stderr shows an upload bar and the live state of each job.`,
  flags: [
    { name: 'wait', short: 'w', type: 'boolean', description: 'Wait for the jobs and write their output' },
    {
      name: 'output',
      short: 'o',
      type: 'string',
      value: '<file|dir>',
      description: 'Write the output to this file (a directory with several files); implies -w',
    },
    {
      name: 'json',
      type: 'boolean',
      description: 'Print the jobs as JSON on stdout instead of ids (with -w, needs -o)',
    },
  ],
  examples: [
    'bsubio submit json_format data.json',
    'bsubio submit -w pdf/extract report.pdf | grep total',
    'bsubio submit -w -o result.txt pdf/extract report.pdf',
    'bsubio submit -o texts/ pdf/extract *.pdf',
    'cat data.json | bsubio submit -w json_format -',
  ],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 2, Number.POSITIVE_INFINITY);
    const [type, ...files] = args as [string, ...string[]];
    const output = flags.output === undefined ? undefined : String(flags.output);
    const wait = Boolean(flags.wait) || output !== undefined;
    if (flags.json && wait && output === undefined) {
      throw new CliError(
        '-json and -w would both write to stdout',
        'Add -o <file|dir> for the output, or drop one of them.',
      );
    }
    checkInputs(files);
    const client = ctx.client();
    const known = await client.system.getTypes({ signal: ctx.signal });
    const spec = findType(type, known.types);

    const targets = output === undefined ? undefined : outputPaths(output, files, spec);
    await new SubmitRun(ctx, type, files, { wait, targets, asJson: Boolean(flags.json) }).run();
  },
};

/** Every input must exist before anything is uploaded. */
function checkInputs(files: string[]): void {
  if (files.filter((f) => f === '-').length > 1) {
    throw new CliError('stdin (-) can be given only once', 'Name each other input by its path.');
  }
  for (const file of files) {
    if (file === '-') continue;
    let isFile: boolean;
    try {
      isFile = statSync(file).isFile();
    } catch {
      throw new CliError(`input file not found: ${file}`, 'Check the path and try again.');
    }
    if (!isFile) throw new CliError(`input is not a regular file: ${file}`, 'Give the path of a file.');
  }
}

/** The type as the server lists it (by name or alias), or a "did you mean" error. */
function findType(name: string, list: ProcessingType[]): ProcessingType {
  const found = list.find((t) => t.type === name || t.aliases?.includes(name));
  if (found) return found;
  const names = list.map((t) => t.type);
  const closest = names
    .map((n) => ({ n, d: distance(name.toLowerCase(), n.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)[0];
  throw new CliError(
    `unknown job type "${name}"${closest && closest.d <= Math.max(2, name.length / 3) ? `; did you mean ${closest.n}?` : ''}`,
    "Run 'bsubio types' to list them.",
  );
}

/** Levenshtein distance, for the suggestion. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        current[j - 1]! + 1,
        previous[j]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** One path per file: `-o` itself for one file, else `<dir>/<input name><type's ext>`. */
function outputPaths(output: string, files: string[], spec: ProcessingType): string[] {
  if (files.length === 1) return [output];
  try {
    mkdirSync(output, { recursive: true });
  } catch (error) {
    throw new CliError(
      `cannot use ${output} as the output directory (${(error as NodeJS.ErrnoException).code})`,
      'With several files, -o names a directory.',
    );
  }
  const paths = files.map((file) => {
    const name = file === '-' ? 'stdin' : basename(file, extname(file));
    return join(output, `${name}${spec.output.ext}`);
  });
  const twice = paths.find((path, i) => paths.indexOf(path) !== i);
  if (twice) {
    throw new CliError(
      `two inputs would both be written to ${twice}`,
      'Give inputs with different names, or submit them separately.',
    );
  }
  return paths;
}

interface RunOptions {
  wait: boolean;
  targets: string[] | undefined;
  asJson: boolean;
}

/** One `bsubio submit`: uploads, waits and writes outputs, keeping stdout in the order of the files. */
class SubmitRun {
  private readonly progress;
  private readonly jobs: (Job | undefined)[] = [];
  private readonly failures: { index: number; error: unknown }[] = [];
  /** stdout is written in file order: each write waits for the one before. */
  private stdoutTurn: Promise<void> = Promise.resolve();
  private uploadsRunning = 0;
  private printedOutput = false;
  private readonly uploadQueue: (() => void)[] = [];

  constructor(
    private readonly ctx: Context,
    private readonly type: string,
    private readonly files: string[],
    private readonly options: RunOptions,
  ) {
    const labels = files.map((f) => (f === '-' ? 'stdin' : f));
    this.progress = createProgress(ctx.stderr, ctx.err, labels, ctx.interactive);
  }

  async run(): Promise<void> {
    const { wait, targets, asJson } = this.options;
    // Outputs go to stdout; if that is the terminal the live table is on,
    // write them once the table is done rather than through it.
    const deferStdout = wait && !targets && Boolean(this.ctx.stdout.isTTY) && this.ctx.interactive;
    const writes: (() => Promise<void>)[] = [];
    try {
      await Promise.all(
        this.files.map((file, index) =>
          this.one(file, index, (write) => {
            if (deferStdout) writes[index] = write;
            else this.inOrder(index, write);
          }),
        ),
      );
    } finally {
      this.progress.stop();
    }
    if (this.ctx.signal.aborted) await this.cancelUnfinished();
    for (const write of writes) if (write) await write();
    await this.stdoutTurn;
    if (asJson) this.ctx.print(json(this.jobs.filter((job): job is Job => job !== undefined)));
    this.reportFailures();
  }

  /** Upload, submit, and with -w wait and deliver one file. */
  private async one(
    file: string,
    index: number,
    toStdout: (write: () => Promise<void>) => void,
  ): Promise<void> {
    const { ctx } = this;
    const client = ctx.client();
    const signal = ctx.signal;
    let job: Job | undefined;
    try {
      await this.uploadSlot();
      try {
        this.progress.update(index, { status: 'uploading' });
        job = await client.createAndSubmit(this.type, file === '-' ? ctx.stdin : file, {
          signal,
          fileName: file === '-' ? 'stdin' : undefined,
          onProgress: (event) => {
            if (event.stage === 'uploading') {
              this.progress.update(index, { id: event.job.id, sent: event.sent, total: event.total });
              this.jobs[index] = event.job;
            }
          },
        });
      } finally {
        this.releaseUpload();
      }
      this.jobs[index] = job;
      this.progress.update(index, { id: job.id, status: 'submitted' });
      if (!this.options.wait) {
        if (!this.options.asJson) this.inOrder(index, async () => ctx.print(`${job!.id}\n`));
        return;
      }
      const id = job.id;
      job = await client.waitForJob(id, {
        signal,
        onStatus: (seen) => this.progress.update(index, { status: seen.status }),
      });
      this.jobs[index] = job;
      if (job.status === 'failed') {
        this.progress.update(index, {
          status: 'failed',
          detail: `${job.error_code ?? ''} ${job.error_message ?? ''}`.trim(),
        });
        throw new CliError(
          `job ${id} (${file}) failed with ${job.error_code ?? 'no code'}: ${job.error_message ?? 'no message'}`,
          `Run 'bsubio logs ${id}' to see its stderr.`,
        );
      }
      this.progress.update(index, { status: 'finished' });
      const target = this.options.targets?.[index];
      if (target !== undefined) {
        await client.downloadOutput(id, target, { signal });
        if (!ctx.interactive) ctx.say(`Output saved to ${target}`);
        return;
      }
      toStdout(async () => {
        // The original CLI's separator between outputs.
        if (this.printedOutput) ctx.print('\n');
        this.printedOutput = true;
        await client.downloadOutput(id, ctx.stdout, { signal });
      });
    } catch (error) {
      const shown = error instanceof CliError ? error.message : errorLine(error, { jobId: job?.id });
      if (this.jobs[index]?.status !== 'failed')
        this.progress.update(index, { status: 'error', detail: shown });
      this.failures.push({ index, error });
      this.flush();
    }
  }

  /** Run `write` after every earlier file's stdout write. */
  private inOrder(index: number, write: () => Promise<void>): void {
    // Files finish in any order; a slot per index keeps stdout in file order.
    this.pending[index] = write;
    this.flush();
  }

  private readonly pending: ((() => Promise<void>) | undefined)[] = [];
  private next = 0;

  private flush(): void {
    for (;;) {
      const write = this.pending[this.next];
      const skipped = this.failures.some((f) => f.index === this.next);
      if (!write && !skipped) return;
      this.next++;
      if (write) this.stdoutTurn = this.stdoutTurn.then(write);
    }
  }

  private async uploadSlot(): Promise<void> {
    if (this.uploadsRunning < UPLOADS_AT_ONCE) {
      this.uploadsRunning++;
      return;
    }
    await new Promise<void>((resolve) => this.uploadQueue.push(resolve));
  }

  private releaseUpload(): void {
    const next = this.uploadQueue.shift();
    if (next) next();
    else this.uploadsRunning--;
  }

  /** After Ctrl-C: jobs that were created are cancelled, so no tool keeps running for nobody. */
  private async cancelUnfinished(): Promise<void> {
    const client = this.ctx.client();
    for (const job of this.jobs) {
      if (!job || job.status === 'finished' || job.status === 'failed') continue;
      await client.jobs.cancelJob(job.id, { timeoutMs: 5_000 }).catch(() => {});
      this.ctx.say(`Cancelled job ${job.id}`);
    }
  }

  private reportFailures(): void {
    if (this.ctx.signal.aborted) throw new CliError('interrupted', 'The unfinished jobs were cancelled.');
    if (this.failures.length === 0) return;
    const sorted = this.failures.sort((a, b) => a.index - b.index);
    if (this.files.length === 1) throw sorted[0]!.error;
    for (const { index, error } of sorted) {
      this.ctx.say(`${this.files[index]}: ${errorLine(error, { jobId: this.jobs[index]?.id })}`);
    }
    throw new CliError(
      `${sorted.length} of ${this.files.length} files failed`,
      sorted.some((f) => f.error instanceof BsubError && f.error.kind === 'auth')
        ? "Run 'bsubio config' to set a valid key."
        : 'See the lines above.',
    );
  }
}
