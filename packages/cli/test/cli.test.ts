/**
 * The built `bsubio`, run as a subprocess the way a shell runs it, against a
 * real bsubio server: every command and flag, stdout carrying only data, and
 * the one-line errors for the usual mistakes. The interactive parts (the
 * config prompt, the live progress table) run in a real terminal (tmux).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BsubClient, type Job } from 'bsubio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf } from '../../../test/support/pdf.js';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { BIN, bsubio, envFor, errorOf, hasTmux, homeWith, type RunOptions } from './helpers/run.js';
import { Terminal } from './helpers/tmux.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: TestServer;
let client: BsubClient;
/** Where the inputs are and where the CLI runs. */
let dir: string;
/** A HOME whose config file points at the test server with a good key. */
let home: string;
let run: (args: string[], options?: Partial<RunOptions>) => ReturnType<typeof bsubio>;
/** Jobs made through the SDK, for the commands that look at jobs. */
let finished: Job;
let failed: Job;

beforeAll(async () => {
  server = await startServer();
  client = new BsubClient({ baseUrl: server.url, apiKey: server.apiKey });
  dir = mkdtempSync(join(tmpdir(), 'bsubio-cli-'));
  home = homeWith({ api_key: server.apiKey, base_url: server.url });
  run = (args, options = {}) => bsubio(args, { home, cwd: dir, ...options });
  for (const n of [1, 2, 3]) writeFileSync(join(dir, `f${n}.txt`), `file ${n}\n`);
  writeFileSync(join(dir, 'report.pdf'), makePdf('total revenue 42 words'));
  finished = (await client.processFile('passthru', Buffer.from([0, 1, 2, 255, 10]))).job;
  failed = (await client.createAndSubmit('json_format', Buffer.from('{"not json'))) as Job;
  failed = await client.waitForJob(failed.id);
});

afterAll(async () => {
  await server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('submit', () => {
  it('prints one job id per line on stdout, in the order of the files, and progress on stderr', async () => {
    const result = await run(['submit', 'passthru', 'f1.txt', 'f2.txt', 'f3.txt']);
    expect(result.code).toBe(0);
    const ids = result.stdout.trim().split('\n');
    expect(ids).toHaveLength(3);
    for (const id of ids) expect(id).toMatch(UUID);
    for (const [i, id] of ids.entries()) {
      const { data } = await client.jobs.getJob(id);
      expect(data.input_name).toBe(`f${i + 1}.txt`);
    }
    expect(result.stderr).toContain('Submitting job for f2.txt...');
    expect(result.stderr).toContain(`Job submitted: ${ids[0]}`);
  });

  it('-w writes the output to stdout, so it can be piped into grep', () => {
    const stdout = execFileSync(
      'sh',
      ['-c', `"${process.execPath}" "${BIN}" submit -w pdf/extract report.pdf | grep revenue`],
      {
        cwd: dir,
        env: envFor(home),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    expect(stdout.trim()).toBe('total revenue 42 words');
  });

  it('-w with several files writes each output in file order, an empty line between them', async () => {
    const result = await run(['submit', '-w', 'passthru', 'f1.txt', 'f2.txt', 'f3.txt']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('file 1\n\nfile 2\n\nfile 3\n');
    expect(result.stderr).toMatch(/Job \S+ completed successfully/);
  });

  it('-o writes the output to a file and implies -w; nothing goes to stdout', async () => {
    const result = await run(['submit', '--output', 'single.txt', 'passthru', 'f2.txt']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(readFileSync(join(dir, 'single.txt'), 'utf8')).toBe('file 2\n');
  });

  it('-o names a directory with several files: each output named after its input with the type extension', async () => {
    const result = await run(['submit', '-o', 'texts', 'json_format', 'a.json', 'b.json'], {
      cwd: (() => {
        writeFileSync(join(dir, 'a.json'), '{"a":1}');
        writeFileSync(join(dir, 'b.json'), '[2]');
        return dir;
      })(),
    });
    expect(result.code).toBe(0);
    expect(readdirSync(join(dir, 'texts')).sort()).toEqual(['a.json', 'b.json']);
    expect(JSON.parse(readFileSync(join(dir, 'texts', 'a.json'), 'utf8'))).toEqual({ a: 1 });
    expect(result.stderr).toContain(`Output saved to ${join('texts', 'b.json')}`);
  });

  it('reads the input from stdin when the file is -', async () => {
    const result = await run(['submit', '-w', 'json_format', '-'], { input: '{"z":[1,2]}' });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ z: [1, 2] });
  });

  it('--json prints the submitted jobs instead of ids, and refuses to share stdout with -w', async () => {
    const result = await run(['submit', '--json', 'passthru', 'f1.txt']);
    expect(result.code).toBe(0);
    const jobs = JSON.parse(result.stdout) as Job[];
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.id).toMatch(UUID);
    expect(jobs[0]!.type).toBe('passthru');

    expect(errorOf(await run(['submit', '-json', '-w', 'passthru', 'f1.txt']))).toBe(
      'Error: -json and -w would both write to stdout. Add -o <file|dir> for the output, or drop one of them.',
    );
  });

  it('a job that fails makes -w exit 1 with its error and how to see its logs', async () => {
    writeFileSync(join(dir, 'broken.json'), '{"a": ');
    const result = await run(['submit', '-w', 'json_format', 'broken.json']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    // Progress lines come first; the error is the last line.
    const line = result.stderr.trimEnd().split('\n').at(-1);
    expect(result.stderr.match(/Error:/g)).toHaveLength(1);
    expect(line).toMatch(
      /^Error: job (\S+) \(broken\.json\) failed with EEXIT: .+ Run 'bsubio logs \1' to see its stderr\.$/,
    );
  });

  it('of several files, each failed one gets a line naming it once, then one error line counts them', async () => {
    writeFileSync(join(dir, 'broken.json'), '{"a": ');
    writeFileSync(join(dir, 'fine.json'), '{"a": 1}');
    const result = await run(['submit', '-w', 'json_format', 'broken.json', 'fine.json']);
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    const failure = lines.filter((line) => line.startsWith('broken.json: '));
    expect(failure).toHaveLength(1);
    // In a pipe, one line each; the file is named before it, not again inside.
    expect(failure[0]).toMatch(
      /^broken\.json: job (\S+) failed with EEXIT: .+ Run 'bsubio logs \1' to see its stderr\.$/,
    );
    expect(lines.at(-1)).toBe('Error: 1 of 2 files failed. See the lines above.');
    expect(result.stdout).toContain('"a": 1');
  });

  it('an unknown type is one line that suggests the nearest type', async () => {
    expect(errorOf(await run(['submit', 'pdf/extrct', 'report.pdf']))).toBe(
      'Error: unknown job type "pdf/extrct"; did you mean pdf/extract? Run \'bsubio types\' to list them.',
    );
  });

  it('a chain of types is one pipeline job; --param goes to the step that takes it', async () => {
    const result = await run(['submit', '-w', 'pdf/rotate,pdf/extract', '-p', 'angle=90', 'report.pdf']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('total revenue 42 words');
    const [job] = (await client.jobs.listJobs({ limit: 1 })).data.jobs;
    expect(job).toMatchObject({
      type: 'pdf/rotate',
      step: 2,
      steps: [
        { type: 'pdf/rotate', params: { angle: '90' }, status: 'done' },
        { type: 'pdf/extract', params: {}, status: 'done' },
      ],
    });
    const status = await run(['status', job!.id]);
    expect(status.stdout).toContain('Steps:       pdf/rotate (done) → pdf/extract (done)\n');
  });

  it('a --param that several steps take needs the step number, and a bad one says so', async () => {
    expect(errorOf(await run(['submit', 'pdf/thumbnail,image/resize', '-p', 'width=90', 'f1.txt']))).toBe(
      'Error: several steps of the pipeline take the parameter "width". Say which with the step\'s number: --param 1:width=... or 2:width=...',
    );
    expect(errorOf(await run(['submit', 'pdf/rotate,pdf/extract', '-p', 'dpi=3', 'f1.txt']))).toBe(
      "Error: no step of the pipeline takes the parameter \"dpi\" (pdf/rotate, pdf/extract). Run 'bsubio types <type>' to see each type's parameters.",
    );
    expect(errorOf(await run(['submit', 'pdf/rotate,pdf/extract', '-p', '3:x=1', 'f1.txt']))).toBe(
      'Error: --param 3:x=1 names step 3, but the chain has 2 steps. Number the steps from 1, in the order of the types.',
    );
  });

  it('answers a file the server has processed before from its result cache; --no-cache runs it again', async () => {
    expect((await run(['submit', '-w', 'pdf/extract', 'report.pdf'])).code).toBe(0);
    const again = await run(['submit', '--json', 'pdf/extract', 'report.pdf']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)[0]).toMatchObject({ status: 'finished', cached: true, attempts: 0 });
    const forced = await run(['submit', '--json', '--no-cache', 'pdf/extract', 'report.pdf']);
    expect(forced.code, forced.stderr).toBe(0);
    const job = JSON.parse(forced.stdout)[0] as Job;
    expect(job.cached).toBe(false);
    expect((await client.waitForJob(job.id)).attempts).toBe(1);
  });

  it('a missing file is one line, and no job is created', async () => {
    const before = (await client.jobs.listJobs({ limit: 1 })).data.total;
    expect(errorOf(await run(['submit', 'passthru', 'f1.txt', 'missing.pdf']))).toBe(
      'Error: input file not found: missing.pdf. Check the path and try again.',
    );
    expect((await client.jobs.listJobs({ limit: 1 })).data.total).toBe(before);
  });
});

describe('jobs, status, wait, cat, logs', () => {
  it("jobs, piped, keeps the Go CLI's table: header, dashed line, fixed columns, absolute times", async () => {
    const result = await run(['jobs']);
    const { data: newest } = await client.jobs.listJobs({ limit: 20 });
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      `${'JOB ID'.padEnd(40)} ${'TYPE'.padEnd(12)} ${'STATUS'.padEnd(15)} CREATED AT        INPUT`,
    );
    expect(lines[1]).toBe('-'.repeat(80));
    expect(lines.slice(2).map((line) => line.slice(0, 36))).toEqual(newest.jobs.map((j) => j.id));
    for (const [i, line] of lines.slice(2).entries()) {
      const job = newest.jobs[i]!;
      // The Go CLI's "%-40s %-12s %-15s %s": scripts cut and awk these columns.
      expect(line.slice(0, 41)).toBe(`${job.id.padEnd(40)} `);
      expect(line.split(/\s+/).slice(0, 3)).toEqual([job.id, job.type, job.status]);
      expect(line).toMatch(/ \d{4}-\d{2}-\d{2} \d{2}:\d{2}( |$)/);
    }
    if (newest.total > 20)
      expect(result.stderr).toBe(
        `Showing 20 of ${newest.total} jobs; use --limit ${newest.total} to see more.\n`,
      );
    else expect(result.stderr).toBe('');
  });

  it('jobs -status and -limit filter, with one dash as in the Go CLI', async () => {
    const result = await run(['jobs', '-status', 'failed', '-limit', '1']);
    expect(result.code).toBe(0);
    const rows = result.stdout.trimEnd().split('\n').slice(2);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain(' failed ');
    const { total } = (await client.jobs.listJobs({ status: 'failed', limit: 1 })).data;
    expect(total).toBeGreaterThan(1);
    expect(result.stderr).toBe(`Showing 1 of ${total} jobs; use --limit ${total} to see more.\n`);
  });

  it('jobs --json prints the job objects; past 100 it pages', async () => {
    const result = await run(['jobs', '--json', '--status', 'failed', '--limit', '150']);
    expect(result.code).toBe(0);
    const jobs = JSON.parse(result.stdout) as Job[];
    expect(jobs.map((j) => j.id)).toContain(failed.id);
    expect(new Set(jobs.map((j) => j.status))).toEqual(new Set(['failed']));
  });

  it('jobs refuses a status that does not exist and a limit that is not a number', async () => {
    expect(errorOf(await run(['jobs', '--status', 'done']))).toBe(
      'Error: unknown status "done". Use one of: created, loaded, pending, claimed, preparing, processing, finished, failed.',
    );
    expect(errorOf(await run(['jobs', '--limit', 'ten']))).toBe(
      'Error: --limit takes a whole number of at least 1, not "ten".',
    );
  });

  it('status shows the job; --json prints it as the API has it', async () => {
    const text = await run(['status', failed.id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`ID:          ${failed.id}`);
    expect(text.stdout).toContain('Type:        json_format');
    expect(text.stdout).toContain('Status:      failed');
    expect(text.stdout).toMatch(/Error: +EEXIT /);
    const asJson = await run(['status', '--json', finished.id]);
    expect(JSON.parse(asJson.stdout)).toEqual((await client.jobs.getJob(finished.id)).data);
  });

  it('an unknown job id is one line that points to bsubio jobs', async () => {
    const id = '01a22341-0000-7000-8000-000000000000';
    expect(errorOf(await run(['status', id]))).toBe(
      `Error: no job ${id} for this API key. Run 'bsubio jobs' to list your jobs.`,
    );
  });

  it('wait exits 0 for a finished job and 1 with the error for a failed one; -v and --json', async () => {
    const ok = await run(['wait', '-v', '-t', '5', finished.id]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('Status: finished');
    expect(ok.stderr).toContain('Job completed successfully');
    const bad = await run(['wait', '--json', failed.id]);
    expect(bad.code).toBe(1);
    expect((JSON.parse(bad.stdout) as Job).error_code).toBe('EEXIT');
    expect(bad.stderr).toMatch(
      new RegExp(`^Error: job ${failed.id} failed with EEXIT: .*Run 'bsubio logs ${failed.id}'`),
    );
  });

  it('cat writes the output byte for byte; -wait waits for a job still running', async () => {
    const raw = await run(['cat', finished.id]);
    expect(raw.code).toBe(0);
    expect([...raw.bytes]).toEqual([0, 1, 2, 255, 10]);

    const job = await client.createAndSubmit('passthru', Buffer.from('later\n'));
    const waited = await run(['cat', '-wait', job.id]);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toBe('later\n');
  });

  it('cat of an unfinished job says to wait; of a failed job says to read the logs', async () => {
    const { data: created } = await client.jobs.createJob({ type: 'passthru' });
    expect(errorOf(await run(['cat', created.id]))).toBe(
      `Error: job ${created.id} is not complete (status: created). Use 'bsubio wait ${created.id}' first, or 'bsubio cat -wait ${created.id}'.`,
    );
    expect(errorOf(await run(['cat', failed.id]))).toMatch(/it has no output\. Run 'bsubio logs /);
  });

  it("logs prints the tool's stderr", async () => {
    const result = await run(['logs', failed.id]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(await client.output.getJobLogs(failed.id));
    expect(result.stdout.length).toBeGreaterThan(0);
  });
});

describe('cancel and rm', () => {
  it('cancel stops a job (failed, ECANCELED); a second cancel says it has ended', async () => {
    const { data: job } = await client.jobs.createJob({ type: 'passthru' });
    const result = await run(['cancel', job.id]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`Job canceled: ${job.id}\n`);
    const { data: after } = await client.jobs.getJob(job.id);
    expect([after.status, after.error_code]).toEqual(['failed', 'ECANCELED']);
    expect(errorOf(await run(['cancel', job.id]))).toBe(
      `Error: job ${job.id} has already ended (failed); there is nothing to cancel.`,
    );
  });

  it('cancel -a cancels every job that has not ended and says each on stderr, as the Go CLI does', async () => {
    const a = (await client.jobs.createJob({ type: 'passthru' })).data;
    const b = (await client.jobs.createJob({ type: 'passthru' })).data;
    const result = await run(['cancel', '-a']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`Canceled job: ${a.id}\n`);
    expect(result.stderr).toContain(`Canceled job: ${b.id}\n`);
    expect(result.stderr).toMatch(/^Canceled \d+ job\(s\)$/m);
    for (const id of [a.id, b.id]) expect((await client.jobs.getJob(id)).data.error_code).toBe('ECANCELED');
  });

  it('rm deletes a finished job; rm of a running one says to cancel it first', async () => {
    const job = (await client.processFile('passthru', Buffer.from('x'))).job;
    const result = await run(['rm', job.id]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`Job deleted: ${job.id}\n`);
    await expect(client.jobs.getJob(job.id)).rejects.toMatchObject({ kind: 'not_found' });

    const { data: open } = await client.jobs.createJob({ type: 'passthru' });
    expect(errorOf(await run(['rm', open.id]))).toBe(
      `Error: job ${open.id} is created; only finished or failed jobs can be deleted. Run 'bsubio cancel ${open.id}' first, or wait for it.`,
    );
    await client.jobs.cancelJob(open.id);
  });
});

describe('types, version, configuration and errors', () => {
  it('types lists the types without a key; --json gives the full entries', async () => {
    const keyless = homeWith(undefined);
    const text = await run(['types'], { home: keyless, env: { BSUBIO_BASE_URL: server.url } });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^TYPE\s+INPUT\s+OUTPUT\s+PARAMETERS\s+DESCRIPTION\n/);
    expect(text.stdout).toMatch(/^pdf\/extract\s+pdf\s+text \.txt\s+-\s+PDF to text$/m);
    expect(text.stdout).toMatch(/^pdf\/extract\/ocr\s+pdf\s+text \.txt\s+dpi, lang\s+PDF to text by OCR$/m);
    const asJson = await run(['types', '--json'], { home: keyless, env: { BSUBIO_BASE_URL: server.url } });
    const list = JSON.parse(asJson.stdout) as { type: string; output: { ext: string } }[];
    expect(list.find((t) => t.type === 'passthru')?.output.ext).toBe('.bin');
  });

  it('version shows the CLI and the server; --json for scripts', async () => {
    const text = await run(['version']);
    expect(text.stdout).toMatch(
      /^CLI Version: {4}0\.1\.0\nServer Version: \S+ \(bsubio, built .+\)\nServer URL: +http/,
    );
    const asJson = JSON.parse((await run(['version', '--json'])).stdout);
    expect(asJson).toMatchObject({ cli: '0.1.0', server: { server: 'bsubio' } });
  });

  it('a bad key is one line that says to run bsubio config; BSUBIO_API_KEY overrides the file', async () => {
    expect(errorOf(await run(['jobs'], { env: { BSUBIO_API_KEY: 'bsub_wrong' } }))).toMatch(
      /^Error: the server at http:\/\/127\.0\.0\.1:\d+ rejected the API key \(.+\)\. Run 'bsubio config' to set a valid key, or set BSUBIO_API_KEY\.$/,
    );
  });

  it('BSUBIO_API_KEY and BSUBIO_BASE_URL override a config file that is wrong', async () => {
    const wrong = homeWith({ api_key: 'bsub_wrong', base_url: 'http://127.0.0.1:9' });
    const result = await run(['status', finished.id], {
      home: wrong,
      env: { BSUBIO_API_KEY: server.apiKey, BSUBIO_BASE_URL: server.url },
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(finished.id);
  });

  it('no key at all, and a server that is not there, are one line each', async () => {
    expect(errorOf(await run(['jobs'], { home: homeWith(undefined) }))).toMatch(
      /^Error: no API key is configured \(.+config\.json has none and BSUBIO_API_KEY is not set\)\. Run 'bsubio config' to set one\.$/,
    );
    const nobody = `http://127.0.0.1:${await closedPort()}`;
    expect(errorOf(await run(['jobs'], { env: { BSUBIO_BASE_URL: nobody } }))).toBe(
      `Error: cannot reach ${nobody} (ECONNREFUSED). Is the server running? Check the URL with 'bsubio config' or BSUBIO_BASE_URL.`,
    );
  });

  it('-verbose echoes each request on stderr; -debug adds headers without revealing the key', async () => {
    const verbose = await run(['-verbose', 'jobs', '--limit', '1']);
    expect(verbose.code).toBe(0);
    expect(verbose.stderr).toContain(`> GET ${server.url}/v1/jobs?limit=1`);
    expect(verbose.stderr).toMatch(/< 200 GET \/v1\/jobs \(\d+ ms\)/);
    const debug = await run(['status', finished.id, '--debug']);
    expect(debug.code).toBe(0);
    expect(debug.stderr).toMatch(/> authorization: Bearer bsub_\S*…/);
    expect(debug.stderr).toMatch(/< content-type: application\/json/);
    expect(debug.stderr).not.toContain(server.apiKey);
    expect(debug.stdout).toContain(`ID:          ${finished.id}`);
  });
});

describe('bench', () => {
  it('bench times each matching file and -json writes the bsub.io CLI report; bench diff compares two', async () => {
    const data = join(dir, 'bench');
    mkdirSync(data);
    writeFileSync(join(data, 'one.txt'), 'one');
    writeFileSync(join(data, 'two.txt'), 'two two');
    writeFileSync(join(data, 'skip.md'), 'not matched');
    const result = await run(['bench', '-type', 'passthru', '-dir', data, '-pattern', '*.txt', '-json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ job_type: 'passthru', total_files: 2, successful: 2 });
    expect(report.results.map((r: { file: string }) => r.file)).toEqual(['one.txt', 'two.txt']);
    for (const r of report.results) {
      expect(r).toMatchObject({ status: 'finished', job_id: expect.stringMatching(UUID) });
      expect(r.total_ms).toBeGreaterThanOrEqual(r.submit_ms);
    }
    expect(result.stderr).toContain('Benchmarking 2 file(s) with job type: passthru');

    // The same run, twice as slow: the diff says +100%.
    const slower = {
      ...report,
      avg_total_ms: report.avg_total_ms * 2,
      results: report.results.map((r: { total_ms: number }) => ({ ...r, total_ms: r.total_ms * 2 })),
    };
    writeFileSync(join(dir, 'a.json'), result.stdout);
    writeFileSync(join(dir, 'b.json'), JSON.stringify(slower));
    const diff = await run(['bench', 'diff', 'a.json', 'b.json']);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/^Comparing: a\.json vs b\.json\nJob types: passthru vs passthru\n/);
    expect(diff.stdout).toMatch(/^one\.txt\s+\d+\.\d\d\s+\d+\.\d\d\s+\+100\.0%$/m);
    expect(diff.stdout).toMatch(/^Average\s+\d+\.\d\d\s+\d+\.\d\d\s+\+100\.0%$/m);
  });

  it('bench prints a summary table by default', async () => {
    const result = await run([
      'bench',
      '--type',
      'passthru',
      '--dir',
      join(dir, 'bench'),
      '--pattern',
      'one.*',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^FILE\s+SIZE\s+SUBMIT \(s\)\s+TOTAL \(s\)\s+STATUS\none\.txt\s+3 B\s+\d+\.\d\d\s+\d+\.\d\d\s+finished\n/,
    );
    expect(result.stdout).toContain('Successful: 1/1');
    expect(errorOf(await run(['bench', '-dir', join(dir, 'bench'), '-pattern', '*.none']))).toMatch(
      /^Error: no test files found in .+ matching \*\.none\. Change -dir or -pattern\.$/,
    );
  });
});

describe('shell completion', () => {
  it('the bash script completes commands, flags, states and the server types', async () => {
    const script = (await run(['completion', 'bash'])).stdout;
    writeFileSync(join(dir, 'completion.bash'), script);
    const complete = (words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `bsubio() { "${process.execPath}" "${BIN}" "$@"; }; source completion.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _bsubio; echo "\${COMPREPLY[*]}"`,
        ],
        { cwd: dir, env: envFor(home), encoding: 'utf8' },
      ).trim();
    expect(complete(['bsubio', 'su'])).toBe('submit');
    expect(complete(['bsubio', 'submit', '--w'])).toBe('--wait');
    expect(complete(['bsubio', 'jobs', '--status', 'f'])).toBe('finished failed');
    expect(complete(['bsubio', 'submit', 'pdf/ext'])).toBe('pdf/extract pdf/extract/ocr');
    expect(complete(['bsubio', 'submit', 'pdf/extract', 'f1.t'])).toBe('f1.txt');
  });

  it('zsh and fish scripts name every command', async () => {
    const zsh = (await run(['completion', 'zsh'])).stdout;
    expect(zsh).toContain('bashcompinit');
    const fish = (await run(['completion', 'fish'])).stdout;
    for (const name of ['submit', 'jobs', 'bench', 'completion']) {
      expect(fish).toContain(`-n __fish_use_subcommand -a ${name} `);
    }
    expect(fish).toContain("-n '__fish_seen_subcommand_from jobs' -l status -o status -r -a ");
  });
});

describe.skipIf(!hasTmux)('in a terminal (tmux)', () => {
  const shellEnv = (vars: Record<string, string>) =>
    `env -u NO_COLOR -u BSUBIO_API_KEY -u BSUBIO_BASE_URL ${Object.entries(vars)
      .map(([k, v]) => `${k}='${v}'`)
      .join(' ')}`;

  it('config prompts for the key without echoing it and writes the file with mode 0600', async () => {
    const fresh = homeWith(undefined);
    const term = Terminal.start(
      'config',
      `${shellEnv({ HOME: fresh, TERM: 'xterm' })} "${process.execPath}" "${BIN}" config; echo "exit=$?"; sleep 60`,
    );
    try {
      await term.waitFor(/Enter your BSUB\.IO API key:\s*$/m);
      term.type(server.apiKey);
      term.enter();
      await term.waitFor(/Enter base URL \[https:\/\/app\.bsub\.io\]:\s*$/m);
      term.type(server.url);
      term.enter();
      const screen = await term.waitFor(/exit=\d/);
      expect(screen).toContain('Configuration saved to');
      expect(screen).toContain('exit=0');
      expect(screen).not.toContain(server.apiKey);
    } finally {
      term.kill();
    }
    const path = join(fresh, '.config', 'bsubio', 'config.json');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ api_key: server.apiKey, base_url: server.url });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('config keeps the old values on Enter, and refuses a key the server rejects without writing', async () => {
    const configured = homeWith({ api_key: server.apiKey, base_url: server.url });
    const path = join(configured, '.config', 'bsubio', 'config.json');
    const before = readFileSync(path, 'utf8');
    const term = Terminal.start(
      'reconfig',
      `${shellEnv({ HOME: configured, TERM: 'xterm' })} "${process.execPath}" "${BIN}" config; echo "exit=$?"; sleep 60`,
    );
    try {
      await term.waitFor(/API key \[keep bsub_.{5}…\]:\s*$/m);
      term.type('bsub_not_a_real_key');
      term.enter();
      await term.waitFor(/Enter base URL \[http:\/\/127\.0\.0\.1:\d+\]:\s*$/m);
      term.enter();
      const screen = await term.waitFor(/exit=\d/);
      expect(screen).toMatch(/Error: the server at http:\/\/127\.0\.0\.1:\d+ rejected this API key/);
      expect(screen).toContain('exit=1');
    } finally {
      term.kill();
    }
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('a multi-file submit shows a live table of the jobs on the terminal', async () => {
    const term = Terminal.start(
      'table',
      `cd '${dir}' && ${shellEnv({ HOME: home, TERM: 'xterm' })} "${process.execPath}" "${BIN}" submit -w passthru f1.txt f2.txt > out.txt; echo "exit=$?"; sleep 60`,
    );
    let screen: string;
    try {
      screen = await term.waitFor(/exit=\d/, 120_000);
    } finally {
      term.kill();
    }
    expect(screen).toMatch(
      /^f1\.txt +[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} +finished +\d+\.\d+s$/m,
    );
    expect(screen).toMatch(
      /^f2\.txt +[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} +finished +\d+\.\d+s$/m,
    );
    expect(screen).not.toContain('Submitting job for');
    expect(screen).toContain('exit=0');
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('file 1\n\nfile 2\n');
  });
});

/** A loopback port nothing listens on (fetch refuses some, such as 9, outright). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
