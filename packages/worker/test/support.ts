/**
 * Helpers for the worker's tests: run jobs through a real server over HTTP,
 * and make real input files with real tools at test time.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export { startServer, type TestServer } from '../../../test/support/server.js';

const execFileP = promisify(execFile);

export interface JobResult {
  id: string;
  status: string;
  error_code: string | null;
  error_message: string | null;
  output: Buffer;
  logs: string;
  /** The whole job object as the API returned it. */
  job: Record<string, unknown>;
  outputType: string | null;
}

export interface Api {
  url: string;
  apiKey: string;
}

function auth(api: Api): Record<string, string> {
  return { authorization: `Bearer ${api.apiKey}` };
}

/** POST /v1/jobs; returns the status and body. `then`: more types, making a pipeline. */
export async function createJob(
  api: Api,
  type: string,
  params?: Record<string, string | number>,
  then?: string[],
): Promise<{ status: number; body: { data?: { id: string; upload_token: string }; error?: string } }> {
  const body: Record<string, unknown> = params ? { type, params } : { type };
  // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
  if (then) body.then = then.map((t) => ({ type: t }));
  const res = await fetch(`${api.url}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth(api), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as never };
}

/** Create, upload, submit and wait for one job; then fetch its output and logs. */
export async function runJob(
  api: Api,
  type: string,
  input: Buffer | string,
  options: {
    params?: Record<string, string | number>;
    fileName?: string;
    waitSeconds?: number;
    /** More types after `type`: one pipeline job. */
    andThen?: string[];
  } = {},
): Promise<JobResult> {
  const created = await createJob(api, type, options.params, options.andThen);
  if (created.status !== 201 || !created.body.data)
    throw new Error(`create ${type}: ${created.status} ${JSON.stringify(created.body)}`);
  const { id, upload_token } = created.body.data;
  const form = new FormData();
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  form.append('file', new Blob([new Uint8Array(bytes)]), options.fileName ?? 'input.bin');
  const up = await fetch(`${api.url}/v1/upload/${id}?token=${upload_token}`, { method: 'POST', body: form });
  if (up.status !== 200) throw new Error(`upload: ${up.status} ${await up.text()}`);
  const sub = await fetch(`${api.url}/v1/jobs/${id}/submit`, { method: 'POST', headers: auth(api) });
  if (sub.status !== 200) throw new Error(`submit: ${sub.status} ${await sub.text()}`);
  const deadline = Date.now() + (options.waitSeconds ?? 120) * 1000;
  let job: Record<string, unknown> = {};
  while (Date.now() < deadline) {
    const wait = Math.min(60, Math.ceil((deadline - Date.now()) / 1000));
    const res = await fetch(`${api.url}/v1/jobs/${id}?wait=${wait}`, { headers: auth(api) });
    job = ((await res.json()) as { data: Record<string, unknown> }).data;
    if (job.status === 'finished' || job.status === 'failed') break;
  }
  const logs = await (await fetch(`${api.url}/v1/jobs/${id}/logs`, { headers: auth(api) })).text();
  let output = Buffer.alloc(0);
  let outputType: string | null = null;
  if (job.status === 'finished') {
    const res = await fetch(`${api.url}/v1/jobs/${id}/output`, { headers: auth(api) });
    outputType = res.headers.get('content-type');
    output = Buffer.from(await res.arrayBuffer());
  }
  return {
    id,
    status: String(job.status),
    error_code: (job.error_code as string | null) ?? null,
    error_message: (job.error_message as string | null) ?? null,
    output,
    logs,
    job,
    outputType,
  };
}

/** Run a command; reject with its stderr when it fails. */
export async function sh(file: string, args: string[], cwd?: string): Promise<string> {
  const { stdout } = await execFileP(file, args, { cwd, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
  return stdout;
}

/** A scratch directory for fixtures, removed by the returned function. */
export function scratch(): {
  dir: string;
  path: (name: string) => string;
  read: (name: string) => Buffer;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-fixtures-'));
  return {
    dir,
    path: (name) => join(dir, name),
    read: (name) => readFileSync(join(dir, name)),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A PDF made by Ghostscript from a small PostScript program: one string array
 * per page, one line per string, in 20 pt Helvetica.
 */
export async function makePdf(dir: string, pages: string[][], name = 'doc.pdf'): Promise<Buffer> {
  const esc = (t: string) => t.replace(/[\\()]/g, (c) => `\\${c}`);
  const ps = ['%!PS', '/Helvetica findfont 20 scalefont setfont'];
  for (const lines of pages) {
    lines.forEach((line, i) => {
      ps.push(`72 ${720 - i * 30} moveto (${esc(line)}) show`);
    });
    ps.push('showpage');
  }
  writeFileSync(join(dir, `${name}.ps`), `${ps.join('\n')}\n`);
  await ghostscript(dir, ['-sDEVICE=pdfwrite', '-sPAPERSIZE=letter', `-sOutputFile=${name}`, `${name}.ps`]);
  return readFileSync(join(dir, name));
}

/** Ghostscript in batch mode, quiet and safe, run in `dir`. */
function ghostscript(dir: string, args: string[]): Promise<unknown> {
  return sh('gs', ['-q', '-dNOPAUSE', '-dBATCH', '-dSAFER', ...args], dir);
}

/**
 * A PDF whose pages are only pictures of text, like a scan: Ghostscript
 * rasterises a text PDF into an image-only one (pdfimage8), so no text layer
 * survives and only OCR can read it.
 */
export async function makeScannedPdf(dir: string, pages: string[][]): Promise<Buffer> {
  await makePdf(dir, pages, 'text-for-scan.pdf');
  await ghostscript(dir, ['-sDEVICE=pdfimage8', '-r200', '-sOutputFile=scan.pdf', 'text-for-scan.pdf']);
  return readFileSync(join(dir, 'scan.pdf'));
}

/** A PNG with the text drawn large on white. */
export async function makeTextImage(
  dir: string,
  text: string,
  size = '1600x400',
  name = 'text.png',
): Promise<Buffer> {
  await sh(
    '/usr/bin/convert',
    [
      '-size',
      size,
      'xc:white',
      '-font',
      'DejaVu-Sans',
      '-pointsize',
      '80',
      '-fill',
      'black',
      '-annotate',
      '+60+240',
      text,
      name,
    ],
    dir,
  );
  return readFileSync(join(dir, name));
}

/** Width and height of an image, from ImageMagick's identify. */
export async function imageSize(
  dir: string,
  bytes: Buffer,
  name = 'probe.img',
): Promise<{ width: number; height: number; format: string }> {
  writeFileSync(join(dir, name), bytes);
  const out = await sh('/usr/bin/identify', ['-format', '%w %h %m\n', `${name}[0]`], dir);
  const [w, h, format] = out.trim().split(' ');
  return { width: Number(w), height: Number(h), format: String(format) };
}

/** ffprobe's JSON for a file's bytes. */
export async function probe(
  dir: string,
  bytes: Buffer,
  name = 'probe.media',
): Promise<{ streams: Record<string, unknown>[]; format: Record<string, unknown> }> {
  writeFileSync(join(dir, name), bytes);
  return JSON.parse(
    await sh('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', name], dir),
  );
}
