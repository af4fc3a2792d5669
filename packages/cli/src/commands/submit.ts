import { closeSync, openSync, statSync } from 'node:fs';
import { BsubError, type Job, type Pipeline, type ProcessingType } from 'bsubio';
import { parseChain, stepLabel } from '../chain.js';
import { type Command, expectArgs } from '../command.js';
import type { Context } from '../context.js';
import { CliError, errorLine } from '../errors.js';
import { followJob } from '../follow.js';
import { json, wrapForTerminal } from '../format.js';
import { failedJob } from '../job-errors.js';
import { contentTypeOf } from '../mime.js';
import { binaryRefusal, typeWritesBinary, writeOutputToStdout } from '../output.js';
import { outputPaths } from '../output-paths.js';
import { createProgress } from '../progress.js';

/** Uploads at once; waiting costs nothing (one held request a job), so it is not limited. */
const UPLOADS_AT_ONCE = 4;

export const submit: Command = {
  name: 'submit',
  summary: 'Submit jobs for processing',
  usage: 'submit [flags] <type>[,<type>...] <file>...',
  description: `
Upload each file as a job of the given type and print the job ids on stdout,
one per line, in the order of the files. Several files are uploaded at once.
A file named - is read from stdin. --param sets one of the type's parameters
('bsubio types <type>' lists them with their defaults); repeat it for more.
Several types separated by commas make each file one pipeline job: each
step runs the next type on the previous step's output, and the output is the
last step's (bsubio submit -o thumbs/ office/pdf,pdf/thumbnail *.pptx). The
server refuses a chain whose step cannot read what the step before writes.
In a pipeline, --param goes to the step whose type takes it; when several do,
put the step's number first: --param 2:width=300.

A bsubio server answers a file it has already processed with the same type
and parameters from its result cache, at once; --no-cache runs it again.

With -w, wait for the jobs (there is no polling delay: the server reports
each change of state the moment it happens) and write their output to stdout
instead of the ids, in the order of the files, with an empty line between
outputs. Progress goes to stderr, so the output can be piped:

  bsubio submit -w pdf/extract a.pdf | grep word

Binary output (an image, a video) is not written to a terminal: use -o, or
pipe it.

-o writes the output to a file instead, and implies -w (the Go CLI asks for
-w -o). -o names a directory, created if needed, when there are several
files, when it ends in /, or when it is an existing directory: each output is
then named after its input with the type's extension (a.pdf → a.txt). Where
-o writes is checked before anything is uploaded. A failed job makes the exit
status 1 and says why on stderr.

On a terminal, stderr shows a live table: each file's job id, its upload and
then its state as it changes; the ids are printed below it when it is done.
If the server goes away while waiting (a restart), bsubio reconnects for up to
BSUBIO_RECONNECT_SECONDS (default 120), then says how to pick the job up
again. Ctrl-C cancels the jobs it started (and deletes those not yet
uploaded) and exits with status 130.`,
  flags: [
    { name: 'wait', short: 'w', type: 'boolean', description: 'Wait for the jobs and write their output' },
    {
      name: 'output',
      short: 'o',
      type: 'string',
      value: '<file|dir>',
      description: 'Write the output to this file (or into this directory); implies -w',
    },
    {
      name: 'param',
      short: 'p',
      type: 'string',
      value: '<key=value>',
      repeatable: true,
      description: "Set one of the type's parameters (repeatable): --param format=jpeg",
    },
    {
      name: 'json',
      type: 'boolean',
      description: 'Print the jobs as JSON on stdout instead of ids (with -w, needs -o)',
    },
    {
      name: 'no-cache',
      type: 'boolean',
      description: "Run the jobs even when the server's result cache holds their results",
    },
  ],
  examples: [
    'bsubio submit json_format data.json',
    'bsubio submit -w pdf/extract report.pdf | grep total',
    'bsubio submit -w -o result.txt pdf/extract report.pdf',
    'bsubio submit -o texts/ pdf/extract *.pdf',
    'bsubio submit image/convert photo.png --param format=jpeg -o photo.jpg',
    'bsubio submit -o small/ image/resize -p width=320 -p height=240 *.png',
    'cat data.json | bsubio submit -w json_format -',
    'bsubio submit -o deck.png office/pdf,pdf/thumbnail -p width=300 deck.pptx',
  ],
  async run(ctx, { flags, args }) {
    expectArgs(this, args, 2, Number.POSITIVE_INFINITY);
    const [type, ...files] = args as [string, ...string[]];
    const output = flags.output === undefined ? undefined : String(flags.output);
    const wait = Boolean(flags.wait) || output !== undefined;
    const asJson = Boolean(flags.json);
    if (asJson && wait && output === undefined) {
      throw new CliError(
        '-json and -w would both write to stdout',
        'Add -o <file|dir> for the output, or drop one of them.',
      );
    }
    checkInputs(files);
    const client = ctx.client();
    const known = await client.system.getTypes({ signal: ctx.signal });
    const chain = parseChain(
      type,
      known.types,
      flags.param === undefined ? [] : [flags.param].flat().map(String),
    );
    // What comes out is the last step's.
    const spec = chain.specs.at(-1)!;
    const params = chain.params.at(-1);

    const binary = typeWritesBinary(spec);
    if (wait && output === undefined && !asJson && ctx.stdout.isTTY && binary) {
      throw binaryRefusal(
        `the output of ${spec.type}`,
        binary,
        `Add -o <file> to save it, or pipe it: 'bsubio submit -w ${type} ${files.join(' ')} > out${spec.output.ext}'.`,
      );
    }
    const targets = output === undefined ? undefined : outputPaths(output, files, extensionFor(spec, params));
    const cache = flags['no-cache'] ? false : undefined;
    const first = typeof chain.request === 'string' ? chain.params[0] : undefined;
    await new SubmitRun(ctx, chain.request, files, { wait, targets, asJson, params: first, cache }).run();
  },
};

/** The output's extension: the type's, or the format asked for (image/convert --param format=jpeg → .jpg). */
function extensionFor(spec: ProcessingType, params: Record<string, string | number> | undefined): string {
  const format = params?.format;
  const declared = spec.params?.find((p) => p.name === 'format');
  if (typeof format !== 'string' || declared?.type !== 'enum' || !declared.values?.includes(format))
    return spec.output.ext;
  return format === 'jpeg' ? '.jpg' : format === 'tiff' ? '.tif' : `.${format}`;
}

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
    try {
      closeSync(openSync(file, 'r'));
    } catch (error) {
      throw new CliError(
        `cannot read the input file ${file} (${(error as NodeJS.ErrnoException).code})`,
        'Check its permissions (ls -l) and try again.',
      );
    }
  }
}

interface RunOptions {
  wait: boolean;
  targets: string[] | undefined;
  asJson: boolean;
  params: Record<string, string | number> | undefined;
  /** false: --no-cache. */
  cache: false | undefined;
}

/** One `bsubio submit`: uploads, waits and writes outputs, keeping stdout in the order of the files. */
class SubmitRun {
  private readonly progress;
  private readonly jobs: (Job | undefined)[] = [];
  private readonly failures: { index: number; error: unknown }[] = [];
  private readonly saved: (string | undefined)[] = [];
  /** stdout is written in file order: each write waits for the one before. */
  private stdoutTurn: Promise<void> = Promise.resolve();
  private uploadsRunning = 0;
  private printedOutput = false;
  private toldLost = false;
  private readonly uploadQueue: (() => void)[] = [];
  private readonly pending: ((() => Promise<void>) | undefined)[] = [];
  private next = 0;

  constructor(
    private readonly ctx: Context,
    private readonly type: string | Pipeline,
    private readonly files: string[],
    private readonly options: RunOptions,
  ) {
    const labels = files.map((f) => (f === '-' ? 'stdin' : f));
    // -verbose writes its own lines to stderr, which a table redrawn in place would garble.
    const live = ctx.interactive && !ctx.verbose && !ctx.debug;
    this.progress = createProgress(ctx.stderr, ctx.err, labels, live);
  }

  async run(): Promise<void> {
    const { ctx } = this;
    // Anything written to the terminal under the live table is drawn over by
    // its next redraw (it erased the ids it printed): when stdout is that
    // terminal, ids and outputs wait until the table is done.
    const hold = this.progress.live && Boolean(ctx.stdout.isTTY);
    const held: (() => Promise<void>)[] = [];
    try {
      await Promise.all(
        this.files.map((file, index) =>
          this.one(file, index, (write) => {
            if (hold) held[index] = write;
            else this.inOrder(index, write);
          }),
        ),
      );
    } finally {
      this.progress.stop();
    }
    if (ctx.signal.aborted) {
      await this.cancelUnfinished();
      throw ctx.signal.reason;
    }
    for (const [index, write] of held.entries()) {
      if (!write) continue;
      await write().catch((error: unknown) => this.failures.push({ index, error }));
    }
    await this.stdoutTurn;
    if (this.progress.live) {
      for (const path of this.saved) if (path !== undefined) ctx.say(`Output saved to ${path}`);
    }
    if (this.options.asJson) ctx.print(json(this.jobs.filter((job): job is Job => job !== undefined)));
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
        if (signal.aborted) throw signal.reason;
        this.progress.update(index, { status: 'uploading' });
        job = await client.createAndSubmit(this.type, file === '-' ? ctx.stdin : file, {
          signal,
          fileName: file === '-' ? 'stdin' : undefined,
          contentType: file === '-' ? undefined : contentTypeOf(file),
          params: this.options.params,
          cache: this.options.cache,
          onProgress: (event) => {
            if (event.stage === 'uploading') {
              this.progress.update(index, { id: event.job.id, sent: event.sent, total: event.total });
            }
          },
        });
      } finally {
        this.releaseUpload();
      }
      this.jobs[index] = job;
      const id = job.id;
      this.progress.update(index, { id, status: 'submitted' });
      if (!this.options.wait) {
        if (!this.options.asJson) toStdout(async () => ctx.print(`${id}\n`));
        return;
      }
      job = await followJob(ctx, id, {
        onStatus: (seen) => {
          this.jobs[index] = seen;
          this.progress.update(index, { status: seen.status, detail: undefined, step: stepLabel(seen) });
        },
        onConnection: (state, detail) => {
          this.progress.update(index, { detail: state === 'lost' ? `reconnecting (${detail})` : undefined });
          if (!this.progress.live && state === 'lost' && !this.toldLost) {
            this.toldLost = true;
            ctx.say(`Lost the connection to the server (${detail}); reconnecting...`);
          }
        },
      });
      this.jobs[index] = job;
      if (job.status === 'failed') {
        this.progress.update(index, {
          status: 'failed',
          detail: `${job.error_code ?? ''} ${job.error_message ?? ''}`.trim(),
        });
        // With several files, the report of failures names the file before it.
        throw failedJob(job, this.files.length === 1 ? file : undefined);
      }
      this.progress.update(index, { status: 'finished' });
      const target = this.options.targets?.[index];
      if (target !== undefined) {
        await client.downloadOutput(id, target, { signal });
        this.saved[index] = target;
        if (!this.progress.live) ctx.say(`Output saved to ${target}`);
        return;
      }
      toStdout(async () => {
        // The original CLI's separator between outputs.
        if (this.printedOutput) ctx.print('\n');
        this.printedOutput = true;
        await writeOutputToStdout(ctx, id, `Save it with: bsubio cat ${id} > file, or use -o <file>.`);
      });
    } catch (error) {
      if (signal.aborted) {
        this.progress.update(index, { status: 'cancelled', detail: undefined });
        return;
      }
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

  private flush(): void {
    for (;;) {
      const write = this.pending[this.next];
      const skipped = this.failures.some((f) => f.index === this.next);
      if (!write && !skipped) return;
      const index = this.next++;
      if (write) {
        this.stdoutTurn = this.stdoutTurn.then(() =>
          write().catch((error: unknown) => {
            this.failures.push({ index, error });
          }),
        );
      }
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

  /**
   * After Ctrl-C: jobs that were submitted are cancelled, so no tool keeps
   * running for nobody (those still uploading were deleted by the SDK).
   */
  private async cancelUnfinished(): Promise<void> {
    const client = this.ctx.client();
    for (const job of this.jobs) {
      if (!job || job.status === 'finished' || job.status === 'failed') continue;
      const done = await client.jobs.cancelJob(job.id, { timeoutMs: 5_000 }).then(
        () => true,
        () => false,
      );
      if (done) this.ctx.say(`Cancelled job ${job.id}`);
    }
  }

  private reportFailures(): void {
    if (this.failures.length === 0) return;
    const sorted = this.failures.sort((a, b) => a.index - b.index);
    if (this.files.length === 1) throw sorted[0]!.error;
    for (const { index, error } of sorted) {
      const line = `${this.files[index]}: ${errorLine(error, { jobId: this.jobs[index]?.id })}`;
      this.ctx.say(wrapForTerminal(line, this.ctx.stderr, 2));
    }
    throw new CliError(
      `${sorted.length} of ${this.files.length} files failed`,
      sorted.some((f) => f.error instanceof BsubError && f.error.kind === 'auth')
        ? "Run 'bsubio config' to set a valid key."
        : 'See the lines above.',
    );
  }
}
