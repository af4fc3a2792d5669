/**
 * Pipelines (create's `then`): each step runs the next type's tool on the
 * previous step's output, in a sandbox of its own; the job's output is the
 * last step's, its logs each step's stderr under a header line. Real tools,
 * a real server, real HTTP.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Job, JobResponseSchema } from '@bsubio/protocol';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api, expectError, expectShape } from './client.js';
import { openEvents } from './sse.js';
import { shellType, writeTypesFile } from './test-types.js';

const run = promisify(execFile);

/** Shell types whose stderr and timing the tests know. */
const typesFile = writeTypesFile([
  shellType('test/upper', 'Upper case', 'Upper-cases the input.', 'echo "upper ran" >&2; tr a-z A-Z < "$0"'),
  shellType(
    'test/fail',
    'Always fails',
    'Complains and exits 3.',
    'echo "cannot digest $(head -c 12 "$0")" >&2; exit 3',
  ),
  shellType('test/long', 'Long copy', 'Sleeps long, then copies.', 'echo started >&2; sleep 41.31; cat "$0"'),
  shellType('test/pause', 'Pause', 'Sleeps 4 s, then copies.', 'echo pausing >&2; sleep 4; cat "$0"'),
]);

type StepSpec = string | { type: string; params?: Record<string, string | number> };

/** The create body of a pipeline: the first step is the job's type, the rest its `then`. */
function chain(...specs: StepSpec[]): Record<string, unknown> {
  const [first, ...rest] = specs.map((s) => (typeof s === 'string' ? { type: s } : s));
  // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
  return { ...first, then: rest };
}

let server: TestServer;
let api: Api;
const files = mkdtempSync(join(tmpdir(), 'bsubio-pipeline-'));

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_TYPES_FILE: typesFile, BSUBIO_WORKERS: '2' } });
  api = new Api(server.url, server.apiKey);
});
afterAll(async () => {
  await server?.cleanup();
  rmSync(files, { recursive: true, force: true });
});

async function create(body: Record<string, unknown>) {
  return api.json<{ data: Job; error?: string }>('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Create a pipeline, upload, submit: the job as created. */
async function start(body: Record<string, unknown>, input: string | Uint8Array, fileName = 'input.bin') {
  const { status, body: created } = await create(body);
  expect(status, JSON.stringify(created)).toBe(201);
  expectShape(JobResponseSchema, created);
  expect((await api.upload(created.data, input, fileName)).status).toBe(200);
  expect((await api.submit(created.data.id)).status).toBe(200);
  return created.data;
}

async function text(path: string): Promise<string> {
  return (await api.request(path)).text();
}

async function until(check: () => Promise<boolean>, what: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Processes whose command line holds `marker`, from /proc (sandboxed ones included). */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ');
      if (cmdline.includes(marker)) found.push(Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** The blob keys a pipeline keeps of its finished steps, straight from the database. */
function keptStepsOf(id: string): string | null {
  const db = new Database(join(server.dataDir, 'bsubio.db'), { readonly: true });
  try {
    const row = db.prepare('select step_outputs from jobs where id = ?').get(id) as {
      step_outputs: string | null;
    };
    return row.step_outputs;
  } finally {
    db.close();
  }
}

/** Width and height from a PNG's IHDR. */
function pngSize(bytes: Buffer): { width: number; height: number } {
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('an impossible chain is refused at create', () => {
  it('names the step whose input the previous step cannot give', async () => {
    const body = await expectError(
      api.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(chain('pdf/extract', 'pdf/thumbnail')),
      }),
      400,
    );
    expect(body.error).toBe(
      'Step 2 (pdf/thumbnail) does not accept plain text (text/plain), which step 1 (pdf/extract) produces; it accepts .pdf files.',
    );
  });

  it('checks each step by the format its params pick, and names bad steps', async () => {
    const post = (body: unknown) =>
      api.request('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // The output of image/convert is what its format param picks: a JPEG feeds image/thumbnail.
    expect(
      (await create(chain({ type: 'image/convert', params: { format: 'jpeg' } }, 'image/thumbnail'))).status,
    ).toBe(201);
    await expectError(
      post(chain('office/pdf', 'pdf/thumbnail', 'pdf/extract')),
      400,
      /^Step 3 \(pdf\/extract\) does not accept a PNG image \(image\/png\), which step 2 \(pdf\/thumbnail\) produces/,
    );
    await expectError(post(chain('office/pdf', 'no/such')), 400, /"no\/such" in step 2/);
    await expectError(
      post(chain('office/pdf', { type: 'pdf/thumbnail', params: { width: 1 } })),
      400,
      /^In step 2 \(pdf\/thumbnail\): .*width/,
    );
    // Not an array: refused (by the route's schema or by create's own check).
    await expectError(
      post({
        type: 'office/pdf',
        // biome-ignore lint/suspicious/noThenProperty: the API's field, sent wrong on purpose
        then: 'pdf/thumbnail',
      }),
      400,
    );
    await expectError(post(chain(...Array.from({ length: 9 }, () => 'passthru'))), 400, /at most 8 steps/);
  });

  it('an empty then is an ordinary job, with no pipeline fields', async () => {
    const { status, body } = await create(chain('passthru'));
    expect(status).toBe(201);
    expect(body.data).not.toHaveProperty('steps');
    expect(body.data).not.toHaveProperty('step');
  });
});

describe('pipelines on real tools', () => {
  it('docx → office/pdf → pdf/thumbnail gives a PNG of page 1, the text went through the PDF, and a third step in between turns it', async () => {
    const md = join(files, 'report.md');
    await run('sh', ['-c', `printf '# Quarterly report\\n\\nPipelines keep zebras happy.\\n' > ${md}`]);
    await run('pandoc', [md, '-o', join(files, 'report.docx')]);
    const docx = readFileSync(join(files, 'report.docx'));

    const [thumb, extract, turned] = await Promise.all([
      start(chain('office/pdf', { type: 'pdf/thumbnail', params: { width: 240 } }), docx, 'report.docx'),
      start(chain('office/pdf', 'pdf/extract'), docx, 'report.docx'),
      // Three steps: the page turned a quarter before its thumbnail is taken.
      start(
        chain(
          'office/pdf',
          { type: 'pdf/rotate', params: { angle: '90' } },
          { type: 'pdf/thumbnail', params: { width: 240 } },
        ),
        docx,
        'report.docx',
      ),
    ]);
    expect(thumb).toMatchObject({
      type: 'office/pdf',
      step: 1,
      steps: [
        { type: 'office/pdf', status: 'waiting' },
        { type: 'pdf/thumbnail', params: { width: 240, page: 1 }, status: 'waiting' },
      ],
    });

    const done = await api.waitTerminal(thumb.id, 300);
    expect(done.status, `${done.error_message}`).toBe('finished');
    expect(done).toMatchObject({
      type: 'office/pdf',
      step: 2,
      failed_step: null,
      steps: [
        { type: 'office/pdf', status: 'done' },
        { type: 'pdf/thumbnail', status: 'done' },
      ],
    });
    const res = await api.request(`/v1/jobs/${thumb.id}/output`);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toMatch(/\.png"/);
    const png = Buffer.from(await res.arrayBuffer());
    expect(pngSize(png).width).toBe(240);
    expect(done.output_size).toBe(png.length);
    const logs = await text(`/v1/jobs/${thumb.id}/logs`);
    expect(logs).toMatch(/^== step 1\/2: office\/pdf ==\n/);
    expect(logs).toContain('== step 2/2: pdf/thumbnail ==\n');

    const words = await api.waitTerminal(extract.id, 300);
    expect(words.status, `${words.error_message}`).toBe('finished');
    const extracted = await text(`/v1/jobs/${extract.id}/output`);
    expect(extracted).toContain('Quarterly report');
    expect(extracted).toContain('Pipelines keep zebras happy.');

    const threeSteps = await api.waitTerminal(turned.id, 300);
    expect(threeSteps.status, `${threeSteps.error_message}`).toBe('finished');
    expect(threeSteps.steps?.map((s) => `${s.type} ${s.status}`)).toEqual([
      'office/pdf done',
      'pdf/rotate done',
      'pdf/thumbnail done',
    ]);
    const landscape = pngSize(
      Buffer.from(await (await api.request(`/v1/jobs/${turned.id}/output`)).arrayBuffer()),
    );
    // The portrait page (taller than wide), turned: wider than tall.
    expect(pngSize(png).height).toBeGreaterThan(pngSize(png).width);
    expect(landscape.width).toBeGreaterThan(landscape.height);

    // The same file through the same steps again: the result cache answers it
    // (its key covers every step), and the job reads as a finished pipeline.
    const again = await start(
      chain('office/pdf', { type: 'pdf/thumbnail', params: { width: 240 } }),
      docx,
      'report.docx',
    );
    const cached = await api.waitTerminal(again.id, 60);
    expect(cached).toMatchObject({ status: 'finished', cached: true, cached_from: thumb.id, step: 2 });
    expect(cached.steps?.map((s) => s.status)).toEqual(['done', 'done']);
    const same = Buffer.from(await (await api.request(`/v1/jobs/${again.id}/output`)).arrayBuffer());
    expect(same.equals(png)).toBe(true);
  }, 600_000);

  it('wav → audio/convert → audio/transcribe gives the spoken words', async () => {
    const said = 'the weather is nice today. please call me tomorrow morning.';
    await run('espeak-ng', ['-v', 'en-us+klatt', '-s', '130', '-w', join(files, 'speech.wav'), said]);
    const job = await start(
      chain({ type: 'audio/convert', params: { format: 'flac' } }, 'audio/transcribe'),
      readFileSync(join(files, 'speech.wav')),
      'speech.wav',
    );
    const done = await api.waitTerminal(job.id, 300);
    expect(done.status, `${done.error_message}`).toBe('finished');
    const words = (await text(`/v1/jobs/${job.id}/output`)).toLowerCase();
    const heard = ['weather', 'nice', 'today', 'please', 'call', 'tomorrow', 'morning'].filter((w) =>
      new RegExp(`\\b${w}\\b`).test(words),
    );
    expect(heard.length, words).toBeGreaterThanOrEqual(3);
  }, 400_000);
});

describe('live events', () => {
  it('the user event stream carries each step change, so followers see the step move on', async () => {
    const stream = await openEvents(`${server.url}/v1/events`, { authorization: `Bearer ${server.apiKey}` });
    try {
      expect((await stream.next())?.event).toBe('ready');
      const job = await start(chain('test/upper', 'test/pause', 'test/upper'), 'go\n');
      const seen: string[] = [];
      for (;;) {
        const event = await stream.next();
        if (!event) throw new Error(`the stream ended; seen ${seen.join(', ')}`);
        if (event.event !== 'job') continue;
        const data = JSON.parse(event.data) as Job;
        if (data.id !== job.id) continue;
        const now = `${data.status} ${data.step}/${data.steps?.map((s) => s.status).join(',')}`;
        if (seen.at(-1) !== now) seen.push(now);
        if (data.status === 'finished' || data.status === 'failed') break;
      }
      expect(seen).toContain('processing 1/running,waiting,waiting');
      expect(seen).toContain('processing 2/done,running,waiting');
      expect(seen).toContain('processing 3/done,done,running');
      expect(seen.at(-1)).toBe('finished 3/done,done,done');
    } finally {
      stream.close();
    }
  });
});

describe('failure, cancel and crash in the middle', () => {
  it('a failing middle step fails the job, naming the step; later steps are skipped', async () => {
    const job = await start(chain('test/upper', 'test/fail', 'test/upper'), 'abc\n');
    const done = await api.waitTerminal(job.id, 60);
    expect(done).toMatchObject({
      status: 'failed',
      error_code: 'EEXIT',
      error_message: 'Step 2 (test/fail) failed: The tool exited with code 3: cannot digest ABC',
      step: 2,
      failed_step: 2,
      steps: [
        { type: 'test/upper', status: 'done' },
        { type: 'test/fail', status: 'failed' },
        { type: 'test/upper', status: 'skipped' },
      ],
    });
    expect(await text(`/v1/jobs/${job.id}/logs`)).toBe(
      '== step 1/3: test/upper ==\nupper ran\n== step 2/3: test/fail ==\ncannot digest ABC\n',
    );
    expect((await api.request(`/v1/jobs/${job.id}/output`)).status).toBe(409);
    // The finished step's kept output and logs went with the job's end.
    expect(keptStepsOf(job.id)).toBeNull();
  });

  it('cancel during step 2 stops its tool at once', async () => {
    const job = await start(chain('test/upper', 'test/long'), 'abc\n');
    await until(async () => {
      const now = await api.get(job.id);
      return now.step === 2 && now.status === 'processing';
    }, 'step 2');
    await until(async () => processesWith('sleep 41.31').length > 0, 'the tool of step 2 to start');
    expect((await api.cancel(job.id)).status).toBe(200);
    const done = await api.get(job.id);
    expect(done).toMatchObject({
      status: 'failed',
      error_code: 'ECANCELED',
      step: 2,
      failed_step: 2,
      steps: [
        { type: 'test/upper', status: 'done' },
        { type: 'test/long', status: 'failed' },
      ],
    });
    await until(async () => processesWith('sleep 41.31').length === 0, 'the tool to be gone', 10_000);
  });
});

it('kill -9 of the server during step 2 resumes at step 2 and finishes once', async () => {
  const env = { BSUBIO_TYPES_FILE: typesFile, BSUBIO_WORKERS: '1' };
  let crashing = await startServer({ env });
  try {
    const crashApi = new Api(crashing.url, crashing.apiKey);
    const { body } = await crashApi.json<{ data: Job }>('/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chain('test/upper', 'test/pause')),
    });
    const job = body.data;
    await crashApi.upload(job, 'hello pipeline\n');
    await crashApi.submit(job.id);
    await until(async () => {
      const now = await crashApi.get(job.id);
      return now.step === 2 && now.status === 'processing';
    }, 'step 2');
    await crashing.kill();

    crashing = await crashing.restart(env);
    const after = new Api(crashing.url, crashing.apiKey);
    const done = await after.waitTerminal(job.id, 90);
    expect(done).toMatchObject({ status: 'finished', attempts: 2, step: 2 });
    expect(await (await after.request(`/v1/jobs/${job.id}/output`)).text()).toBe('HELLO PIPELINE\n');
    // Step 1 ran once (in the first attempt), step 2 again in the second.
    expect(await (await after.request(`/v1/jobs/${job.id}/logs`)).text()).toBe(
      '== step 1/2: test/upper ==\nupper ran\n== step 2/2: test/pause (attempt 2) ==\npausing\n',
    );
    const finished = (await after.list('?status=finished')).jobs.filter((j) => j.id === job.id);
    expect(finished).toHaveLength(1);
  } finally {
    await crashing.cleanup();
  }
}, 240_000);
