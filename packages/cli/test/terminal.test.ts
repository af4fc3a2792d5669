/**
 * The CLI as people use it: the built `bsubio` in a real terminal (tmux, at
 * 120×40 and at 80×24) against a real server, asserting on the screen as
 * tmux shows it — what a user would see and copy — not on pipes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BsubClient } from 'bsubio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf } from '../../../test/support/pdf.js';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { writeSlowTypesFile } from '../../server/test/test-types.js';
import { BIN, hasTmux, homeWith } from './helpers/run.js';
import { Terminal } from './helpers/tmux.js';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const UUIDS = new RegExp(UUID.source, 'g');
const SIZES = [
  { columns: 120, rows: 40 },
  { columns: 80, rows: 24 },
];

let server: TestServer;
let client: BsubClient;
let dir: string;
let home: string;

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_TYPES_FILE: writeSlowTypesFile(4) } });
  client = new BsubClient({ baseUrl: server.url, apiKey: server.apiKey });
  dir = mkdtempSync(join(tmpdir(), 'bsubio-terminal-'));
  home = homeWith({ api_key: server.apiKey, base_url: server.url });
  for (const n of [1, 2, 3]) writeFileSync(join(dir, `f${n}.txt`), `file ${n}\n`);
  writeFileSync(join(dir, 'scan.pdf'), makePdf('Read me by OCR 42'));
  // A real PNG, made by the real tool.
  execFileSync('convert', ['-size', '64x48', 'xc:red', join(dir, 'red.png')]);
}, 150_000);

afterAll(async () => {
  await server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let sessions = 0;
/** Run a shell line in a fresh terminal of `size`; the pane stays after it exits (with "exit=N"). */
function open(line: string, size: { columns: number; rows: number }): Terminal {
  const env = `env -u NO_COLOR -u BSUBIO_API_KEY -u BSUBIO_BASE_URL HOME='${home}' TERM=xterm-256color`;
  const command = line.replaceAll('bsubio ', `${env} "${process.execPath}" "${BIN}" `);
  // The shell catches Ctrl-C (its children get the default back) so that it lives to print exit=.
  return Terminal.start(
    `t${process.pid}-${sessions++}`,
    `trap true INT; cd '${dir}' && ${command}; echo "exit=$?"; sleep 120`,
    size,
  );
}

/** Open, wait for the command to end, close; returns the screen's lines (and, joined, what wrapped). */
async function screenOf(line: string, size: { columns: number; rows: number }): Promise<string[]> {
  return (await ended(line, size)).lines;
}

async function ended(line: string, size: { columns: number; rows: number }) {
  const term = open(line, size);
  try {
    await term.waitFor(/exit=\d+/, 120_000);
    return { lines: term.lines(), joined: term.joined(), history: term.history() };
  } finally {
    term.kill();
  }
}

/** The ids of the newest jobs made from these inputs, in the order of the inputs (uploads run at once, so creation order is not theirs). */
async function idsOf(...inputs: string[]): Promise<string[]> {
  const { jobs } = (await client.jobs.listJobs({ limit: inputs.length })).data;
  return inputs.map((input) => jobs.find((job) => job.input_name === input)?.id ?? `no job for ${input}`);
}

/** The screen with each error's lines (the CLI breaks it between words, under its first word) joined again. */
function unwrapErrors(lines: string[]): string {
  const out: string[] = [];
  for (const line of lines) {
    if (/^ {7}\S/.test(line) && out.at(-1)?.startsWith('Error: ')) out[out.length - 1] += ` ${line.slice(7)}`;
    else out.push(line);
  }
  return out.join('\n');
}

/** The lines after lines[at] that go on in column `indent` (what the CLI broke to the width), without the indent. */
function goingOn(lines: string[], at: number, indent: number): string[] {
  const under: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (!line.startsWith(' '.repeat(indent)) || line[indent] === ' ' || line.length === indent) break;
    under.push(line.slice(indent));
  }
  return under;
}

/** Nothing on screen is wider than the terminal (tmux would have wrapped it onto the next line). */
function expectNoWrap(lines: string[], columns: number) {
  for (const line of lines) expect(line.length, line).toBeLessThan(columns);
}

describe.skipIf(!hasTmux).each(SIZES)('in a $columns×$rows terminal', (size) => {
  it('submit of one file leaves its full job id on screen, on a line of its own', async () => {
    const lines = await screenOf('bsubio submit passthru f1.txt', size);
    const [id] = await idsOf('f1.txt');
    expect(lines).toContain(id);
    expect(lines).toContain('exit=0');
    expectNoWrap(lines, size.columns);
  });

  it('submit of three files leaves all three full ids on screen, in file order', async () => {
    const lines = await screenOf('bsubio submit passthru f1.txt f2.txt f3.txt', size);
    const ids = await idsOf('f1.txt', 'f2.txt', 'f3.txt');
    const shown = lines.filter((line) => UUID.test(line) && line === line.match(UUID)![0]);
    expect(shown).toEqual(ids);
    // And each row of the table keeps its file next to its full id.
    for (const [i, id] of ids.entries()) {
      expect(lines.find((line) => line.startsWith(`f${i + 1}.txt `))).toContain(id);
    }
    expectNoWrap(lines, size.columns);
  });

  it('submit -w writes the outputs below the finished table, where no redraw reaches them', async () => {
    const lines = await screenOf('bsubio submit -w passthru f1.txt f2.txt', size);
    const [a, b] = await idsOf('f1.txt', 'f2.txt');
    const table = lines.findIndex((line) => line.startsWith('f1.txt '));
    expect(lines[table]).toMatch(new RegExp(`^f1\\.txt +${a} +finished +\\d`));
    expect(lines[table + 1]).toMatch(new RegExp(`^f2\\.txt +${b} +finished +\\d`));
    expect(lines.slice(table + 2, table + 6)).toEqual(['file 1', '', 'file 2', 'exit=0']);
  });

  it('a 300 MiB upload leaves one row per file and no stray bar, with the ids below', async () => {
    const big = join(dir, 'big.bin');
    execFileSync('truncate', ['-s', '300M', big]);
    try {
      const lines = await screenOf('bsubio submit pdf/info big.bin f1.txt', size);
      expect(lines.filter((line) => line.startsWith('big.bin ')).length).toBe(1);
      expect(lines.filter((line) => line.startsWith('f1.txt ')).length).toBe(1);
      // No bar left behind anywhere once it is done.
      expect(lines.join('\n')).not.toMatch(/[█░]/);
      const ids = await idsOf('big.bin', 'f1.txt');
      expect(lines.filter((line) => UUID.test(line) && line.length === 36)).toEqual(ids);
      expectNoWrap(lines, size.columns);
    } finally {
      rmSync(big, { force: true });
    }
  }, 180_000);

  it('a running pdf/extract/ocr job changes state on screen while it runs, then says where -o wrote', async () => {
    const out = `ocr-${size.columns}`;
    // --no-cache: at the second terminal size the same scan would be answered
    // from the result cache at submit, and no running state would show.
    const term = open(`bsubio submit --no-cache -o ${out}/ pdf/extract/ocr scan.pdf --param dpi=600`, size);
    const seen: string[] = [];
    try {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const screen = term.screen();
        const row = screen.split('\n').find((line) => line.startsWith('scan.pdf '));
        const cell = row?.replace(UUIDS, '').split(/\s+/)[1];
        // An upload bar (█░) is the uploading state.
        const state = cell && /^[█░]/.test(cell) ? 'uploading' : cell;
        if (state && seen.at(-1) !== state) seen.push(state);
        if (/exit=\d+/.test(screen)) break;
        if (Date.now() > deadline) throw new Error(`never ended; states seen: ${seen.join(' → ')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const lines = term.lines();
      expect(lines).toContain('exit=0');
      expect(lines).toContain(`Output saved to ${out}/scan.txt`);
      expectNoWrap(lines, size.columns);
    } finally {
      term.kill();
    }
    expect(readFileSync(join(dir, out, 'scan.txt'), 'utf8')).toMatch(/OCR/);
    // Seen in order, with at least one running state between the upload and the end.
    const order = [
      'queued',
      'uploading',
      'submitted',
      'pending',
      'claimed',
      'preparing',
      'processing',
      'finished',
    ];
    const rank = (state: string) => order.findIndex((o) => state.startsWith(o));
    expect(seen.map(rank)).toEqual([...seen.map(rank)].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe('finished');
    expect(seen.some((state) => ['pending', 'claimed', 'preparing', 'processing'].includes(state))).toBe(
      true,
    );
  });

  it("a pipeline shows the step it is on while it runs, and -o gets the last step's output", async () => {
    const out = `chain-${size.columns}`;
    const term = open(`bsubio submit -o ${out}/ passthru,test/slow f2.txt`, size);
    try {
      const running = await term.waitFor(/ step 2\/2 test\/slow /, 60_000);
      const row = running.split('\n').find((line) => line.startsWith('f2.txt '));
      // With room for both, the state and the step; else the step alone.
      expect(row).toMatch(
        size.columns >= 100 ? / processing: step 2\/2 test\/slow / : / step 2\/2 test\/slow /,
      );
      await term.waitFor(/exit=\d+/, 60_000);
      const lines = term.lines();
      expect(lines).toContain('exit=0');
      expect(lines).toContain(`Output saved to ${out}/f2.txt`);
      expectNoWrap(lines, size.columns);
    } finally {
      term.kill();
    }
    expect(readFileSync(join(dir, out, 'f2.txt'), 'utf8')).toBe('file 2\n');
  });

  it('an impossible chain is refused before any upload, naming the step', async () => {
    const { lines } = await ended('bsubio submit test/slow,pdf/info f1.txt', size);
    expectNoWrap(lines, size.columns);
    expect(unwrapErrors(lines)).toContain(
      'Step 2 (pdf/info) does not accept plain text (text/plain), which step 1 (test/slow) produces; it accepts .pdf files.',
    );
    expect(lines).toContain('exit=1');
  });

  it('wait -v prints each change of state as it happens', async () => {
    const job = await client.createAndSubmit('test/slow', Buffer.from('slow\n'));
    const term = open(`bsubio wait -v ${job.id}`, size);
    try {
      // Seen while the job still runs: the line comes when the state does, not at the end.
      await term.waitFor(/Status: (pending|claimed|preparing|processing)/, 60_000);
      expect(['pending', 'claimed', 'preparing', 'processing']).toContain(
        (await client.jobs.getJob(job.id)).data.status,
      );
      const screen = await term.waitFor(/exit=\d+/, 60_000);
      const statuses = screen.split('\n').filter((line) => line.startsWith('Status: '));
      expect(statuses.length).toBeGreaterThanOrEqual(2);
      expect(statuses.at(-1)).toBe('Status: finished');
      expect(screen).toMatch(/Job completed successfully/);
      expect(screen).toContain('exit=0');
    } finally {
      term.kill();
    }
  });

  it('Ctrl-C during wait and cat -wait exits 130, with no stack and no "aborted"', async () => {
    for (const command of ['wait -v', 'cat -wait']) {
      const job = await client.createAndSubmit('test/slow', Buffer.from('slow\n'));
      // cat takes the start of the id, as jobs shows it on a narrow terminal.
      const term = open(`bsubio ${command} ${command === 'wait -v' ? job.id : job.id.slice(0, 18)}`, size);
      try {
        if (command === 'wait -v') await term.waitFor(/Status: /, 60_000);
        else await new Promise((resolve) => setTimeout(resolve, 1_500));
        term.key('C-c');
        const screen = await term.waitFor(/exit=\d+/, 30_000);
        expect(screen).toContain('exit=130');
        expect(screen).not.toMatch(/aborted|Error|^\s+at /im);
      } finally {
        term.kill();
      }
      // Waiting stopped; the job went on.
      expect((await client.waitForJob(job.id)).status).toBe('finished');
    }
  });

  it('Ctrl-C during submit -w cancels the job it started, says so, and exits 130', async () => {
    const term = open('bsubio submit -w test/slow f1.txt', size);
    try {
      await term.waitFor(/ (pending|claimed|preparing|processing) /, 60_000);
      term.key('C-c');
      const screen = await term.waitFor(/exit=\d+/, 30_000);
      expect(screen).toContain('exit=130');
      expect(screen).not.toMatch(/aborted|Error|^\s+at /im);
      const id = /Cancelled job (\S+)/.exec(screen)?.[1];
      expect(id).toMatch(UUID);
      const { data } = await client.jobs.getJob(id!);
      expect([data.status, data.error_code]).toEqual(['failed', 'ECANCELED']);
    } finally {
      term.kill();
    }
  });

  it('types fits the width with every column readable; types <name> shows parameters and defaults', async () => {
    const { types } = await client.system.getTypes();
    // Longer than the screen: read what scrolled off the top too.
    const lines = (await ended('bsubio types', size)).history.filter((line) => line !== '');
    expectNoWrap(lines, size.columns);
    expect(lines[0]).toMatch(/^TYPE +INPUT +OUTPUT +PARAMETERS/);
    const start = lines[0]!.indexOf('PARAMETERS');
    for (const type of types) {
      const at = lines.findIndex((line) => line.startsWith(`${type.type} `));
      expect(at, type.type).toBeGreaterThan(0);
      // The row and its continuation lines (a folded last column), which start blank.
      let row = lines[at]!;
      for (let i = at + 1; lines[i]?.startsWith(' '.repeat(start)); i++) row += ` ${lines[i]!.trim()}`;
      expect(row).not.toContain('…');
      for (const p of type.params ?? []) expect(row).toContain(p.name);
      if (size.columns >= 120) expect(row).toContain(type.name);
    }
    if (size.columns >= 120) expect(lines[0]).toMatch(/ DESCRIPTION$/);

    const resize = await screenOf('bsubio types image/resize', size);
    expectNoWrap(resize, size.columns);
    expect(resize).toContain('  width  integer 1..8000, default 800');
    expect(resize).toContain('  height  integer 1..8000, default 600');
    const ocr = await screenOf('bsubio types pdf/extract/ocr', size);
    expect(ocr.find((line) => line.startsWith('  dpi '))).toBe('  dpi  integer 100..600, default 300');
    expect(ocr.find((line) => line.startsWith('  lang '))).toMatch(/, default eng$/);
    // Eleven long MIME types and a long pattern: the files as people name them, all within the width.
    const office = await screenOf('bsubio types office/pdf', size);
    expectNoWrap(office, size.columns);
    const input = office.findIndex((line) => line.startsWith('Input: '));
    expect([office[input]!.slice(8), ...goingOn(office, input, 8)].join(' ')).toBe(
      '.docx, .doc, .odt, .rtf, .xlsx, .xls, .ods, .csv, .pptx, .ppt or .odp files',
    );
    expect(office.join('\n')).not.toContain('…');
  });

  it('binary output is not dumped on the terminal: cat and submit -w refuse it with a hint', async () => {
    const png = await client.processFile('image/thumbnail', join(dir, 'red.png'));
    const cat = await ended(`bsubio cat ${png.job.id}`, size);
    expectNoWrap(cat.lines, size.columns);
    expect(unwrapErrors(cat.lines)).toContain(
      `Error: the output of job ${png.job.id} is binary (image/png); not writing it to the terminal. Redirect it to a file (bsubio cat ${png.job.id} > file) or pipe it.`,
    );
    expect(cat.lines).toContain('exit=1');
    expect(cat.joined).not.toMatch(/PNG|IHDR/);

    const before = (await client.jobs.listJobs({ limit: 1 })).data.total;
    const submit = await ended('bsubio submit -w image/thumbnail red.png', size);
    expectNoWrap(submit.lines, size.columns);
    expect(unwrapErrors(submit.lines)).toContain(
      'Error: the output of image/thumbnail is binary (image/png); not writing it to the terminal. Add -o <file> to save it, or pipe it:',
    );
    expect(submit.lines).toContain('exit=1');
    // Refused before anything was created.
    expect((await client.jobs.listJobs({ limit: 1 })).data.total).toBe(before);
  });

  it('jobs fits the width; the id start it shows is taken by status', async () => {
    const lines = await screenOf('bsubio jobs --limit 8', size);
    expectNoWrap(lines, size.columns);
    // The input, how people tell their jobs apart, stays even at 80 columns (the ids shorten first).
    expect(lines[0]).toMatch(/^JOB ID +TYPE +STATUS +CREATED +INPUT$/);
    expect(lines[1]).toMatch(/^-+$/);
    const shownId = lines[2]!.split(' ')[0]!;
    const [newest] = (await client.jobs.listJobs({ limit: 1 })).data.jobs;
    expect(newest!.id.startsWith(shownId)).toBe(true);
    expect(newest!.input_name).toBeTruthy();
    expect(lines[2]!.endsWith(` ${newest!.input_name}`), lines[2]).toBe(true);
    const status = await screenOf(`bsubio status ${shownId}`, size);
    expect(status).toContain(`ID:          ${newest!.id}`);
  });

  it('several files with long names that differ at the end: each row shows its own end and extension', async () => {
    // Longer than the name column at either width, and alike up to the page number.
    const names = [1, 2, 3].map((n) => `quarterly-report-of-the-northern-region-page-00${n}.txt`);
    for (const [i, name] of names.entries()) writeFileSync(join(dir, name), `page ${i + 1}\n`);
    const lines = await screenOf(`bsubio submit -w passthru ${names.join(' ')}`, size);
    const ids = await idsOf(...names);
    for (const [i, id] of ids.entries()) {
      const row = lines.find((line) => line.includes(id));
      expect(row, `row of ${names[i]}`).toMatch(new RegExp(`^quar\\S*…\\S*${i + 1}\\.txt `));
    }
    expectNoWrap(lines, size.columns);
  });

  it('a long error wraps between words under its first word, and the command it suggests stays whole', async () => {
    const job = await client.createAndSubmit('pdf/extract', Buffer.from('%PDF-1.7\nthis PDF was cut short'));
    await client.waitForJob(job.id);
    // In a pipe: one line, for scripts.
    const { BSUBIO_API_KEY, BSUBIO_BASE_URL, ...env } = process.env;
    const piped = spawnSync(process.execPath, [BIN, 'cat', job.id], {
      env: { ...env, HOME: home, NO_COLOR: '1' },
      encoding: 'utf8',
    }).stderr;
    expect(piped).toMatch(/^Error: job .*'bsubio logs \S+' to see its stderr\.\n$/);
    expect(piped.length).toBeGreaterThan(size.columns + 1);
    // On the screen: the same words, broken between them, each further line
    // under the first word of the message; the id whole within its command.
    const lines = await screenOf(`bsubio cat ${job.id}`, size);
    expectNoWrap(lines, size.columns);
    const at = lines.findIndex((line) => line.startsWith('Error: job '));
    const under = goingOn(lines, at, 7);
    expect(under.length).toBeGreaterThan(0);
    expect([lines[at], ...under].join(' ')).toBe(piped.trimEnd());
    expect(lines.some((line) => line.includes(`'bsubio logs ${job.id}'`))).toBe(true);
  });

  it("status keeps a failed job's long error under its value, within the width", async () => {
    const job = await client.createAndSubmit('pdf/extract', Buffer.from('%PDF-1.7\nthis PDF was cut short'));
    const failed = await client.waitForJob(job.id);
    const error = `${failed.error_code} ${failed.error_message}`;
    expect(error.length).toBeGreaterThan(80);
    const lines = await screenOf(`bsubio status ${job.id}`, size);
    expectNoWrap(lines, size.columns);
    const at = lines.findIndex((line) => line.startsWith('Error:       '));
    const under = goingOn(lines, at, 13);
    expect([lines[at]!.slice(13), ...under].join(' ')).toBe(error);
    expect(under.length).toBeGreaterThan(0);
  });
});
