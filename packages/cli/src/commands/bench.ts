import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BsubError } from 'bsubio';
import { type Command, expectArgs } from '../command.js';
import type { Context } from '../context.js';
import { CliError, errorLine } from '../errors.js';
import { formatBytes, json, table } from '../format.js';

/** One file's figures; field names are the bsub.io CLI's, so `bench diff` reads either's files. */
export interface BenchResult {
  file: string;
  size: number;
  job_id?: string;
  submit_ms: number;
  total_ms: number;
  status: string;
  error?: string;
}

export interface BenchOutput {
  job_type: string;
  total_files: number;
  successful: number;
  avg_submit_ms: number;
  avg_total_ms: number;
  results: BenchResult[];
}

export const bench: Command = {
  name: 'bench',
  summary: 'Benchmark job processing with test files',
  usage: 'bench [flags] | bench diff <a.json> <b.json>',
  description: `
Process every file in a directory that matches a pattern, one at a time, and
report per file the submit time (create, upload, submit) and the total time
until the job ended, then the averages. Progress goes to stderr, the report to
stdout. With -json the report is JSON, in the bsub.io CLI's format.

'bench diff a.json b.json' compares two such reports file by file: the total
time of each, and the change from a to b in percent.`,
  flags: [
    {
      name: 'type',
      type: 'string',
      value: '<type>',
      description: 'Job type to benchmark (default pdf/extract)',
    },
    {
      name: 'dir',
      type: 'string',
      value: '<dir>',
      description: 'Directory of test files (default tests/data)',
    },
    { name: 'pattern', type: 'string', value: '<glob>', description: 'File name pattern (default *.pdf)' },
    { name: 'json', type: 'boolean', description: 'Print the report as JSON' },
  ],
  examples: [
    'bsubio bench -dir ./pdfs',
    'bsubio bench -type pdf/extract -dir ./pdfs -json > before.json',
    'bsubio bench diff before.json after.json',
  ],
  async run(ctx, { flags, args }) {
    if (args[0] === 'diff') {
      // Counted without the word "diff" itself, as the user thinks of it.
      if (args.length !== 3) {
        throw new CliError(
          `'bsubio bench diff' takes 2 reports (bench diff <a.json> <b.json>), got ${args.length - 1}`,
          "Write them with 'bsubio bench -json > a.json'.",
        );
      }
      ctx.print(benchDiff(args[1]!, args[2]!));
      return;
    }
    expectArgs(this, args, 0);
    const type = flags.type === undefined ? 'pdf/extract' : String(flags.type);
    const dir = flags.dir === undefined ? 'tests/data' : String(flags.dir);
    const pattern = flags.pattern === undefined ? '*.pdf' : String(flags.pattern);
    const files = matchingFiles(dir, pattern);
    const report = await runBench(ctx, type, files);
    ctx.print(flags.json ? json(report) : benchText(report));
  },
};

function matchingFiles(dir: string, pattern: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new CliError(`data directory not found: ${dir}`, 'Give one with -dir <dir>.');
  }
  const matcher = globToRegExp(pattern);
  const files = names
    .filter((name) => matcher.test(name))
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
  if (files.length === 0) {
    throw new CliError(`no test files found in ${dir} matching ${pattern}`, 'Change -dir or -pattern.');
  }
  return files;
}

/** `*`, `?` and `[...]`, as Go's filepath.Match, within one directory. */
export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) source += '\\[';
      else {
        source += `[${pattern
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

async function runBench(ctx: Context, type: string, files: string[]): Promise<BenchOutput> {
  const client = ctx.client();
  ctx.say(`Benchmarking ${files.length} file(s) with job type: ${type}`);
  const results: BenchResult[] = [];
  for (const path of files) {
    const file = basename(path);
    const size = statSync(path).size;
    ctx.say(`Processing: ${file} (${size} bytes)`);
    const started = performance.now();
    let jobId: string;
    let submitMs: number;
    try {
      const job = await client.createAndSubmit(type, path, { signal: ctx.signal });
      jobId = job.id;
      submitMs = Math.round(performance.now() - started);
    } catch (error) {
      if (error instanceof BsubError && (error.kind === 'auth' || error.kind === 'aborted')) throw error;
      const message = errorLine(error);
      ctx.say(`  Submit failed: ${message}`);
      results.push({ file, size, submit_ms: 0, total_ms: 0, status: 'submit_failed', error: message });
      continue;
    }
    try {
      const job = await client.waitForJob(jobId, { signal: ctx.signal });
      const totalMs = Math.round(performance.now() - started);
      const result: BenchResult = {
        file,
        size,
        job_id: jobId,
        submit_ms: submitMs,
        total_ms: totalMs,
        status: job.status,
      };
      if (job.status === 'failed') result.error = `${job.error_code ?? ''} ${job.error_message ?? ''}`.trim();
      results.push(result);
      ctx.say(
        `  ${job.status} in ${(totalMs / 1000).toFixed(2)}s (submit ${(submitMs / 1000).toFixed(2)}s)${result.error ? `: ${result.error}` : ''}`,
      );
    } catch (error) {
      if (error instanceof BsubError && error.kind === 'aborted') throw error;
      const message = errorLine(error, { jobId });
      ctx.say(`  Wait failed: ${message}`);
      results.push({
        file,
        size,
        job_id: jobId,
        submit_ms: submitMs,
        total_ms: 0,
        status: 'wait_failed',
        error: message,
      });
    }
  }
  const n = results.length;
  const sum = (pick: (r: BenchResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  return {
    job_type: type,
    total_files: n,
    successful: results.filter(succeeded).length,
    avg_submit_ms: n ? Math.trunc(sum((r) => r.submit_ms) / n) : 0,
    avg_total_ms: n ? Math.trunc(sum((r) => r.total_ms) / n) : 0,
    results,
  };
}

const succeeded = (r: BenchResult) => r.status === 'finished' || r.status === 'completed';
const seconds = (ms: number) => (ms / 1000).toFixed(2);

function benchText(report: BenchOutput): string {
  const rows = [
    ['FILE', 'SIZE', 'SUBMIT (s)', 'TOTAL (s)', 'STATUS'],
    ...report.results.map((r) => [
      r.file,
      formatBytes(r.size),
      r.error && !r.job_id ? '-' : seconds(r.submit_ms),
      r.total_ms ? seconds(r.total_ms) : '-',
      r.error ? `${r.status}: ${r.error}` : r.status,
    ]),
  ];
  const totals = report.results
    .filter(succeeded)
    .map((r) => r.total_ms)
    .sort((a, b) => a - b);
  const median = totals.length ? totals[Math.floor((totals.length - 1) / 2)]! : 0;
  return [
    table(rows),
    `Successful: ${report.successful}/${report.total_files}\n`,
    `Avg Submit: ${seconds(report.avg_submit_ms)}s\n`,
    `Avg Total:  ${seconds(report.avg_total_ms)}s\n`,
    totals.length ? `Median Total: ${seconds(median)}s, max ${seconds(totals.at(-1)!)}s\n` : '',
  ].join('');
}

function readReport(path: string): BenchOutput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      `cannot read ${path}: ${code ?? (error as Error).message}`,
      "Give two files written by 'bsubio bench -json'.",
    );
  }
  const report = parsed as Partial<BenchOutput>;
  if (!report || !Array.isArray(report.results) || typeof report.job_type !== 'string') {
    throw new CliError(`${path} is not a bench report`, "Give two files written by 'bsubio bench -json'.");
  }
  return report as BenchOutput;
}

const percent = (from: number, to: number) => {
  if (from <= 0) return '-';
  const change = ((to - from) / from) * 100;
  return `${change > 0 ? '+' : ''}${change.toFixed(1)}%`;
};

export function benchDiff(pathA: string, pathB: string): string {
  const a = readReport(pathA);
  const b = readReport(pathB);
  const inB = new Map(b.results.map((r) => [r.file, r]));
  const rows = [['FILENAME', `${a.job_type} (s)`, `${b.job_type} (s)`, 'DIFF (%)']];
  for (const r1 of a.results) {
    const r2 = inB.get(r1.file);
    if (!r2) {
      rows.push([r1.file, seconds(r1.total_ms), '-', '-']);
      continue;
    }
    // A failed job's time says nothing about speed.
    if (!succeeded(r1) || !succeeded(r2)) continue;
    rows.push([r1.file, seconds(r1.total_ms), seconds(r2.total_ms), percent(r1.total_ms, r2.total_ms)]);
  }
  rows.push([
    'Average',
    seconds(a.avg_total_ms),
    seconds(b.avg_total_ms),
    percent(a.avg_total_ms, b.avg_total_ms),
  ]);
  return `Comparing: ${basename(pathA)} vs ${basename(pathB)}\nJob types: ${a.job_type} vs ${b.job_type}\n\n${table(rows)}`;
}
