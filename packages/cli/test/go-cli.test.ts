/**
 * The official bsub.io Go CLI (github.com/bsubio/cli), unchanged, against a
 * local bsubio: its commands, run as a user runs them, on real inputs, with a
 * pipeline job (finished and failed) and a job served from the result cache
 * in the user's list. Each command exits 0 and prints what the user expects.
 *
 * Needs the binary built by `scripts/go-cli-setup.sh` (Go 1.19 from Debian,
 * GOPATH mode, offline); BSUBIO_GO_CLI_BIN names it when not the default.
 * Without it this file is skipped, saying how to get it.
 *
 * The server has one worker, so a long job holds it and the next one waits
 * `pending`: the Go CLI's `cancel -a` cancels only pending and claimed jobs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BsubClient, type Job, pipeline } from 'bsubio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf } from '../../../test/support/pdf.js';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { writeLiveTypesFile } from '../../server/test/test-types.js';
import { envFor, homeWith } from './helpers/run.js';

const GO_CLI = process.env.BSUBIO_GO_CLI_BIN || '/tmp/bsubio-go-cli/bin/bsubio';
const ready = existsSync(GO_CLI);

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** The CREATED AT column of `bsubio jobs`. */
const MINUTE = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d';

describe.skipIf(!ready)('the official Go CLI (run scripts/go-cli-setup.sh to enable)', () => {
  let server: TestServer;
  let client: BsubClient;
  let typesFile: string;
  /** Where the inputs are and where the CLI runs. */
  let dir: string;
  /** A HOME whose ~/.config/bsubio/config.json points the Go CLI at the server. */
  let home: string;
  let finishedPipeline: Job;
  let failedPipeline: Job;

  const DOCUMENT = '{"name":"bsubio","tools":["pdftotext","pandoc"],"ok":true}\n';
  const PRETTY = `${JSON.stringify(JSON.parse(DOCUMENT), null, 2)}\n`;
  /** json_format jobs the Go CLI submitted: the first ran, the second came from the cache. */
  let ran: string;
  let cached: string;
  let chatty: string;

  beforeAll(async () => {
    typesFile = writeLiveTypesFile(0.2, 120);
    server = await startServer({ env: { BSUBIO_WORKERS: '1', BSUBIO_TYPES_FILE: typesFile } });
    client = new BsubClient({ baseUrl: server.url, apiKey: server.apiKey });
    dir = mkdtempSync(join(tmpdir(), 'bsubio-go-cli-'));
    home = homeWith({ api_key: server.apiKey, base_url: server.url });
    writeFileSync(join(dir, 'lines.txt'), 'one\ntwo\nthree\n');
    writeFileSync(join(dir, 'doc.json'), DOCUMENT);
    // Pipelines are a bsubio extension the Go CLI cannot create: our SDK makes them.
    finishedPipeline = (
      await client.processFile(pipeline('passthru').pipe('test/linecount'), Buffer.from('one\ntwo\n'))
    ).job;
    failedPipeline = await client.waitForJob(
      (await client.createAndSubmit(pipeline('passthru').pipe('json_format'), Buffer.from('{"not json'))).id,
    );
  });

  afterAll(async () => {
    await server?.cleanup();
    for (const path of [dir, home, typesFile && dirname(typesFile)]) {
      if (path) rmSync(path, { recursive: true, force: true });
    }
  });

  /** Run the Go CLI with the test's HOME in `dir`, as a shell would. */
  function bsubio(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(GO_CLI, args, { cwd: dir, env: envFor(home), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** The job id a `submit` printed ("Job submitted: <id>"). */
  function submitted(stderr: string): string {
    const match = new RegExp(`^Job submitted: (${UUID})$`, 'm').exec(stderr);
    if (!match) throw new Error(`no job id in:\n${stderr}`);
    return match[1]!;
  }

  it('version prints the server version', async () => {
    const { version } = (await (await fetch(`${server.url}/v1/version`)).json()) as { version: string };
    const result = await bsubio('version');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^CLI Version: {4}\S+\n/);
    expect(result.stdout).toContain(`Server Version: ${version}\n`);
  });

  it('types lists each type once per input and output MIME type, with its description', async () => {
    const result = await bsubio('types');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Worker Type {10}MIME in {14}MIME out {13}Description\n-{80}\n/);
    expect(result.stdout).toMatch(/^passthru {13}\*\/\* {18}application\/octet-stream Returns the uploaded/m);
    expect(result.stdout).toMatch(
      /^json_format {10}application\/json {5}application\/json {5}Pretty-prints/m,
    );
    expect(result.stdout).toMatch(/^json_format {10}text\/plain {11}application\/json {5}Pretty-prints/m);
    expect(result.stdout).toMatch(/^test\/chatty {10}\*\/\* {18}text\/plain {11}Writes three log lines/m);
  });

  it('submit -w writes the output to stdout; logs prints what the tool wrote to stderr', async () => {
    const result = await bsubio('submit', '-w', 'test/chatty', 'lines.txt');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('one\ntwo\nthree\n');
    chatty = submitted(result.stderr);
    expect(result.stderr).toContain('Job completed successfully\n');

    const logs = await bsubio('logs', chatty);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toBe('line 1\nline 2\nline 3\n');
  });

  it('submit, then wait and cat: the JSON comes back pretty-printed', async () => {
    const result = await bsubio('submit', 'json_format', 'doc.json');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    ran = submitted(result.stderr);

    const wait = await bsubio('wait', '-v', '-t', '1', ran);
    expect(wait.code, wait.stderr).toBe(0);
    expect(wait.stderr).toMatch(/^Status: finished$/m);
    expect(wait.stderr).toMatch(/Job completed successfully\n$/);

    const cat = await bsubio('cat', ran);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toBe(PRETTY);
  });

  it('the same file again is served from the cache, and the Go CLI reads it like any job', async () => {
    const result = await bsubio('submit', '-w', '-o', 'again.json', 'json_format', 'doc.json');
    expect(result.code, result.stderr).toBe(0);
    cached = submitted(result.stderr);
    expect(result.stderr).toContain('Output saved to again.json\n');
    expect(readFileSync(join(dir, 'again.json'), 'utf8')).toBe(PRETTY);
    const { data: job } = await client.jobs.getJob(cached);
    expect(job).toMatchObject({ status: 'finished', cached: true, cached_from: ran, attempts: 0 });

    const logs = await bsubio('logs', cached);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toBe(`served from cache: job ${ran}\n`);
    const status = await bsubio('status', cached);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(
      `ID:          ${cached}\nType:        json_format\nStatus:      finished\n`,
    );
    expect(status.stdout).toContain(`Data Size:   ${DOCUMENT.length} bytes\n`);
  });

  it('status, cat and logs of a pipeline job show it as an ordinary job of its first type', async () => {
    const status = await bsubio('status', finishedPipeline.id);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(
      new RegExp(
        `^ID: {10}${finishedPipeline.id}\nType: {8}passthru\nStatus: {6}finished\nData Size: {3}8 bytes\n` +
          'Created At: {2}[-0-9]+ [:0-9]+\nClaimed At: {2}[-0-9]+ [:0-9]+\nFinished At: [-0-9]+ [:0-9]+\n',
      ),
    );
    const cat = await bsubio('cat', finishedPipeline.id);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toBe('2\n');
    const logs = await bsubio('logs', finishedPipeline.id);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('== step 1/2: passthru ==\n');
    expect(logs.stdout).toContain('== step 2/2: test/linecount ==\n');

    const failed = await bsubio('status', failedPipeline.id);
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.stdout).toContain('Status:      failed\n');
    expect(failed.stdout).toMatch(/\nError: {7}Step 2 \(json_format\) failed: .+\n$/);
  });

  it('jobs lists every job, newest first, pipelines and cached jobs included; --status and --limit filter', async () => {
    const result = await bsubio('jobs');
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^JOB ID {35}TYPE {8}STATUS {10}CREATED AT$/);
    expect(lines[1]).toBe('-'.repeat(80));
    const rows = [
      [cached, 'json_format', 'finished'],
      [ran, 'json_format', 'finished'],
      [chatty, 'test/chatty', 'finished'],
      [failedPipeline.id, 'passthru', 'failed'],
      [finishedPipeline.id, 'passthru', 'finished'],
    ];
    expect(lines.slice(2)).toHaveLength(rows.length);
    for (const [i, [id, type, status]] of rows.entries()) {
      expect(lines[i + 2]).toMatch(new RegExp(`^${id} +${type} +${status} +${MINUTE}$`));
    }

    const failed = await bsubio('jobs', '--status', 'failed');
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.stdout.trimEnd().split('\n').slice(2)).toEqual([
      expect.stringMatching(new RegExp(`^${failedPipeline.id} +passthru +failed `)),
    ]);
    const two = await bsubio('jobs', '--limit', '2');
    expect(two.code, two.stderr).toBe(0);
    expect(
      two.stdout
        .trimEnd()
        .split('\n')
        .slice(2)
        .map((line) => line.split(' ')[0]),
    ).toEqual([cached, ran]);
  });

  it('cancel -a cancels the waiting job; cancel <id> stops the running one', async () => {
    const long = submitted((await bsubio('submit', 'test/long', 'lines.txt')).stderr);
    for (let i = 0; i < 200 && (await client.jobs.getJob(long)).data.status !== 'processing'; i++) {
      await sleep(100);
    }
    expect((await client.jobs.getJob(long)).data.status).toBe('processing');
    // The one worker is busy: this one waits.
    const waiting = submitted((await bsubio('submit', 'passthru', 'lines.txt')).stderr);
    expect((await client.jobs.getJob(waiting)).data.status).toBe('pending');

    const all = await bsubio('cancel', '-a');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toBe(`Canceled job: ${waiting}\nCanceled 1 job(s)\n`);
    expect((await client.jobs.getJob(waiting)).data).toMatchObject({
      status: 'failed',
      error_code: 'ECANCELED',
    });

    const one = await bsubio('cancel', long);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toBe(`Job canceled: ${long}\n`);
    const status = await bsubio('status', long);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('Status:      failed\n');
    expect(status.stdout).toMatch(/\nError: {7}.*cancel/i);
  });

  it('rm deletes a job; rm -a deletes the rest, and the list is empty', async () => {
    const rm = await bsubio('rm', cached);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stderr).toBe(`Job deleted: ${cached}\n`);
    const gone = await bsubio('status', cached);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('Error: failed to get job status: HTTP 404\n');
    // The first json_format job still reads: the output the cached one shared was not removed with it.
    expect((await bsubio('cat', ran)).stdout).toBe(PRETTY);

    const all = await bsubio('rm', '-a');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toMatch(/\nDeleted 6 job\(s\)\n$/);
    const jobs = await bsubio('jobs');
    expect(jobs.code, jobs.stderr).toBe(0);
    expect(jobs.stdout).toBe('No jobs found\n');
  });

  it('bench runs its default type (pdf_extract, an alias of pdf/extract) over a directory of PDFs', async () => {
    mkdirSync(join(dir, 'pdfs'));
    writeFileSync(join(dir, 'pdfs', 'a.pdf'), makePdf('first page of a'));
    writeFileSync(join(dir, 'pdfs', 'b.pdf'), makePdf('second file b'));
    const result = await bsubio('bench', '--dir', 'pdfs', '--json');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      job_type: string;
      total_files: number;
      successful: number;
      results: { file: string; job_id: string; status: string }[];
    };
    expect(report).toMatchObject({ job_type: 'pdf_extract', total_files: 2, successful: 2 });
    expect(report.results.map((r) => [r.file, r.status])).toEqual([
      ['a.pdf', 'finished'],
      ['b.pdf', 'finished'],
    ]);
    const text = await bsubio('cat', report.results[1]!.job_id);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.trim()).toBe('second file b');
  });
});
