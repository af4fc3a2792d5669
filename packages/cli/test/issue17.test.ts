/**
 * What went wrong for a new user (issue 17), each checked through the built
 * `bsubio` against a real server with a small upload limit and a slow type:
 * failed uploads leave no job, -o and the inputs are checked before a job
 * exists, --param reaches every parameter, job ids may be shortened, the
 * server may restart under `submit -w`, and the smaller wording fixes.
 * (What needs a real terminal is in terminal.test.ts.)
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BsubClient, type Job } from 'bsubio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf } from '../../../test/support/pdf.js';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { writeSlowTypesFile } from '../../server/test/test-types.js';
import { BIN, bsubio, envFor, errorOf, homeWith, type RunOptions } from './helpers/run.js';

const UPLOAD_LIMIT = 256 * 1024;
let server: TestServer;
let client: BsubClient;
let dir: string;
let home: string;
let run: (args: string[], options?: Partial<RunOptions>) => ReturnType<typeof bsubio>;

beforeAll(async () => {
  server = await startServer({
    env: {
      BSUBIO_MAX_UPLOAD_BYTES: String(UPLOAD_LIMIT),
      BSUBIO_TYPES_FILE: writeSlowTypesFile(3),
      // A restart hands the running job back at once, to be run again.
      BSUBIO_SHUTDOWN_GRACE_SECONDS: '0',
    },
  });
  client = new BsubClient({ baseUrl: server.url, apiKey: server.apiKey });
  dir = mkdtempSync(join(tmpdir(), 'bsubio-issue17-'));
  home = homeWith({ api_key: server.apiKey, base_url: server.url });
  run = (args, options = {}) => bsubio(args, { home, cwd: dir, ...options });
  writeFileSync(join(dir, 'in.txt'), 'some input\n');
  writeFileSync(join(dir, 'big.bin'), Buffer.alloc(UPLOAD_LIMIT * 2, 7));
  writeFileSync(join(dir, 'doc.pdf'), makePdf('hello'));
  execFileSync('convert', ['-size', '64x48', 'xc:blue', join(dir, 'blue.png')]);
}, 150_000);

afterAll(async () => {
  await server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every job id of this key. */
async function allIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const job of client.listAllJobs()) ids.push(job.id);
  return ids.sort();
}

describe('a failed upload leaves no job behind (5)', () => {
  it('413: an input over the server limit is refused and no job stays in created', async () => {
    const before = await allIds();
    const result = await run(['submit', 'passthru', 'big.bin']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /Error: The file is larger than this server's upload limit of 262144 bytes/,
    );
    expect(await allIds()).toEqual(before);
    expect((await run(['jobs'])).stdout).not.toContain('created');
  });

  it('an unreadable input (mode 000) is said as such, before any job exists (4)', async () => {
    const path = join(dir, 'secret.txt');
    writeFileSync(path, 'secret');
    chmodSync(path, 0o000);
    const before = await allIds();
    expect(errorOf(await run(['submit', 'passthru', 'in.txt', 'secret.txt'], { unprivileged: true }))).toBe(
      'Error: cannot read the input file secret.txt (EACCES). Check its permissions (ls -l) and try again.',
    );
    expect(await allIds()).toEqual(before);
  });

  it('Ctrl-C in the middle of an upload exits 130 quietly and leaves no job', async () => {
    const before = await allIds();
    const child = spawn(process.execPath, [BIN, 'submit', 'passthru', '-'], {
      env: envFor(home),
      cwd: dir,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.on('error', () => {}); // written to after it exited: EPIPE, expected
    // The upload never ends by itself: stdin stays open, a little at a time.
    const feeder = setInterval(() => child.stdin.write(Buffer.alloc(1024, 1)), 50);
    try {
      const deadline = Date.now() + 30_000;
      while ((await client.jobs.listJobs({ status: 'created', limit: 5 })).data.jobs.length === 0) {
        if (Date.now() > deadline) throw new Error(`no job was created; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      child.kill('SIGINT');
      expect(await exited).toBe(130);
    } finally {
      clearInterval(feeder);
    }
    expect(stderr).not.toMatch(/Error|aborted/);
    expect(await allIds()).toEqual(before);
  });
});

describe('-o is checked before a job is created (3)', () => {
  it('one input with -o texts/ or an existing directory writes into it, named after the input', async () => {
    const slash = await run(['submit', '-o', 'texts/', 'pdf/extract', 'doc.pdf']);
    expect(slash.code).toBe(0);
    expect(readFileSync(join(dir, 'texts', 'doc.txt'), 'utf8')).toMatch(/hello/);
    mkdirSync(join(dir, 'existing'));
    const existing = await run(['submit', '-o', 'existing', 'pdf/extract', 'doc.pdf']);
    expect(existing.code).toBe(0);
    expect(existing.stderr).toContain(`Output saved to ${join('existing', 'doc.txt')}`);
    expect(readFileSync(join(dir, 'existing', 'doc.txt'), 'utf8')).toMatch(/hello/);
  });

  it('an -o that cannot be written is refused at once, and no job runs', async () => {
    mkdirSync(join(dir, 'locked'));
    chmodSync(join(dir, 'locked'), 0o555);
    const before = await allIds();
    expect(
      errorOf(await run(['submit', '-o', 'locked/out.txt', 'passthru', 'in.txt'], { unprivileged: true })),
    ).toBe('Error: cannot write locked/out.txt (EACCES). Choose a place you may write to.');
    expect(
      errorOf(await run(['submit', '-o', 'locked/', 'passthru', 'in.txt'], { unprivileged: true })),
    ).toBe(
      'Error: cannot write to the output directory locked/ (EACCES). Choose a directory you may write to.',
    );
    expect(errorOf(await run(['submit', '-o', 'nowhere/out.txt', 'passthru', 'in.txt']))).toBe(
      'Error: cannot write nowhere/out.txt: the directory nowhere does not exist. Create it first, or choose another -o.',
    );
    expect(await allIds()).toEqual(before);
  });
});

describe('--param reaches the type parameters (6)', () => {
  it('image/convert --param format=jpeg -o y.jpg writes a JPEG', async () => {
    const result = await run([
      'submit',
      'image/convert',
      'blue.png',
      '--param',
      'format=jpeg',
      '-o',
      'y.jpg',
    ]);
    expect(result.code).toBe(0);
    const bytes = readFileSync(join(dir, 'y.jpg'));
    expect([...bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
  });

  it('image/resize -p width=32 gives a 32 pixel wide PNG (the value reaches the tool)', async () => {
    const result = await run(['submit', '-o', 'small.png', 'image/resize', 'blue.png', '-p', 'width=32']);
    expect(result.code).toBe(0);
    const png = readFileSync(join(dir, 'small.png'));
    // IHDR: width and height, big-endian, at bytes 16 and 20.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([32, 24]);
  });

  it('every parameter of every built-in type is taken, and a bad value gets the server’s sentence', async () => {
    const { types } = await client.system.getTypes();
    // A type whose tool is not installed here is refused whatever its parameters.
    const withParams = types.filter((t) => (t.params ?? []).length > 0 && t.available !== false);
    // The ones the issue named, among however many the catalog has now.
    expect(withParams.map((t) => t.type)).toEqual(
      expect.arrayContaining(['image/convert', 'image/ocr', 'image/resize', 'pdf/extract/ocr', 'video/mp4']),
    );
    for (const type of withParams) {
      for (const p of type.params!) {
        const good =
          p.type === 'enum'
            ? p.values!.at(-1)!
            : p.type === 'integer'
              ? String(p.maximum ?? p.default)
              : String(p.default ?? 'x');
        const accepted = await run(['submit', type.type, 'blue.png', '--param', `${p.name}=${good}`]);
        expect({ type: type.type, param: p.name, code: accepted.code, err: accepted.stderr }).toMatchObject({
          code: 0,
        });
        expect(accepted.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);

        const bad = p.type === 'integer' ? String((p.maximum ?? 0) + 1) : 'NOT valid!';
        const refused = await run(['submit', type.type, 'blue.png', '--param', `${p.name}=${bad}`]);
        expect(refused.code).toBe(1);
        expect(refused.stdout).toBe('');
        expect(refused.stderr.trimEnd().split('\n').at(-1)).toMatch(
          new RegExp(`^Error: Parameter "${p.name}" must (be at most ${p.maximum}|be one of|match)`),
        );
      }
    }
    const unknown = await run(['submit', 'passthru', 'in.txt', '--param', 'format=png']);
    expect(unknown.code).toBe(1);
    // The progress line for the file comes first; the server's sentence is the error.
    expect(unknown.stderr).toBe(
      'Submitting job for in.txt...\nError: Type "passthru" has no parameter "format"; it accepts: none.\n',
    );
    expect(errorOf(await run(['submit', 'image/convert', 'blue.png', '--param', 'format']))).toBe(
      `Error: --param takes key=value, not "format". Run 'bsubio types image/convert' to see its parameters.`,
    );
  }, 300_000);
});

describe('job ids (1, compatibility)', () => {
  let job: Job;
  beforeAll(async () => {
    job = await client.processFile('passthru', Buffer.from('by prefix\n')).then((r) => r.job);
  });

  it('the start of an id, as jobs shows it on a narrow terminal, works in every command', async () => {
    const start = job.id.slice(0, 23);
    expect((await run(['status', start])).stdout).toContain(`ID:          ${job.id}`);
    expect((await run(['cat', start])).stdout).toBe('by prefix\n');
    expect((await run(['wait', start])).code).toBe(0);
    expect((await run(['logs', start])).code).toBe(0);
    expect((await run(['rm', start])).stderr).toBe(`Job deleted: ${job.id}\n`);
  });

  it('an ambiguous start and a malformed id are refused with a sentence', async () => {
    const a = (await client.jobs.createJob({ type: 'passthru' })).data;
    const b = (await client.jobs.createJob({ type: 'passthru' })).data;
    let common = 0;
    while (a.id[common] === b.id[common]) common++;
    const start = a.id.slice(0, common);
    expect(errorOf(await run(['status', start]))).toMatch(
      new RegExp(
        `^Error: ${start} is the start of several jobs \\(.*${b.id}.*\\)\\. Give more of the id\\.$`,
      ),
    );
    expect(errorOf(await run(['cancel', 'not-an-id']))).toBe(
      "Error: not a job id: not-an-id. A job id looks like 019a3256-26b4-7f1f-b1aa-0b45ab7b371d (or its start, as 'bsubio jobs' shows it).",
    );
    expect(errorOf(await run(['status', 'ffffffff-ffff']))).toBe(
      "Error: no job of this API key starts with ffffffff-ffff. Run 'bsubio jobs' to list your jobs.",
    );
    for (const id of [a.id, b.id]) await client.jobs.cancelJob(id);
  });

  it('rm -a deletes what has ended and says which jobs it skipped and why', async () => {
    const open = (await client.jobs.createJob({ type: 'passthru' })).data;
    const done = (await client.processFile('passthru', Buffer.from('x'))).job;
    const result = await run(['rm', '-a']);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).toContain(done.id);
    expect(result.stderr).toContain(
      `Skipped job ${open.id}: it is created; cancel it first ('bsubio cancel ${open.id}')\n`,
    );
    expect(result.stderr).toMatch(/^Deleted \d+ job\(s\), skipped 1 that had not ended$/m);
    await client.jobs.cancelJob(open.id);
  });
});

describe('smaller things (11)', () => {
  it('the failure sentence of a job has no stray full stop; status keeps the input type', async () => {
    const submitted = await run(['submit', '-w', 'pdf/extract', 'in.txt']);
    expect(submitted.code).toBe(1);
    const id = /job (\S+) \(in\.txt\) failed/.exec(submitted.stderr)?.[1];
    const cat = errorOf(await run(['cat', id!]));
    expect(cat).toMatch(/failed with EINPUT: .*accepts \.pdf files; it has no output\. Run 'bsubio logs /);
    expect(cat).not.toContain('.;');

    const pdf = (await run(['submit', 'pdf/extract', 'doc.pdf'])).stdout.trim();
    expect((await run(['status', pdf])).stdout).toMatch(/^Input: +doc\.pdf \(application\/pdf\)$/m);
  });

  it('bench diff with one report counts what the user gave; a base URL without http:// says to add it', async () => {
    expect(errorOf(await run(['bench', 'diff', 'a.json']))).toBe(
      "Error: 'bsubio bench diff' takes 2 reports (bench diff <a.json> <b.json>), got 1. Write them with 'bsubio bench -json > a.json'.",
    );
    const port = new URL(server.url).port;
    expect(errorOf(await run(['jobs'], { env: { BSUBIO_BASE_URL: `127.0.0.1:${port}` } }))).toBe(
      `Error: the base URL "127.0.0.1:${port}" (from BSUBIO_BASE_URL) does not start with http:// or https://. Add it: BSUBIO_BASE_URL=http://127.0.0.1:${port}`,
    );
  });
});

describe('the server restarts under submit -w (8)', () => {
  /** Start `bsubio submit -w test/slow in.txt` and resolve once it follows its job, which is processing. */
  async function submitSlow(env: Record<string, string>) {
    const child = spawn(process.execPath, [BIN, 'submit', '-w', 'test/slow', 'in.txt'], {
      env: { ...envFor(home), ...env },
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [job] = (await client.jobs.listJobs({ status: 'processing', limit: 1 })).data.jobs;
      if (job?.type === 'test/slow' && stderr.includes('Job submitted:')) {
        // Submitted, so it is following the job's event stream (opened right after).
        await new Promise((resolve) => setTimeout(resolve, 500));
        return { job, exited, out: () => stdout, err: () => stderr };
      }
      if (Date.now() > deadline) throw new Error(`the job never ran; stderr: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('reconnects with backoff and ends with the output', async () => {
    const cli = await submitSlow({ BSUBIO_RECONNECT_SECONDS: '120' });
    server = await server.restart();
    expect(await cli.exited).toBe(0);
    expect(cli.out()).toBe('some input\n');
    expect(cli.err()).toMatch(/Lost the connection to the server \(.+\); reconnecting\.\.\./);
  }, 180_000);

  it('gives up after BSUBIO_RECONNECT_SECONDS and says the job id and how to pick it up', async () => {
    const cli = await submitSlow({ BSUBIO_RECONNECT_SECONDS: '2' });
    await server.stop();
    expect(await cli.exited).toBe(1);
    const id = cli.job.id;
    const last = cli.err().trimEnd().split('\n').at(-1);
    expect(last).toMatch(
      new RegExp(
        `^Error: lost the connection to http://127\\.0\\.0\\.1:\\d+ while waiting for job ${id} \\(\\w+\\); gave up after 2 s\\. The job stays on the server( \\(last seen \\w+\\))?: run 'bsubio wait ${id}' to pick it up again, then 'bsubio cat ${id}' for its output\\.$`,
      ),
    );
    server = await server.restart();
    // And it can be picked up.
    expect((await run(['wait', id])).code).toBe(0);
    expect((await run(['cat', id])).stdout).toBe('some input\n');
  }, 180_000);
});
