/**
 * Escape attempts from inside a job, and hostile inputs for the real tools:
 * other processes through /proc, privilege gain through setuid, ptrace,
 * rewriting its own input; ImageMagick MVG/SVG that read files or URLs, a PDF
 * bomb, a decompression-bomb PNG. Each is contained, and the server is fine.
 * (Network, files outside the work directory and the resource limits are in
 * sandbox.test.ts.)
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob, scratch, startServer, type TestServer } from './support.js';

const files = scratch();
let server: TestServer;
/** A value only the server's own environment holds. */
const CANARY = `canary-${process.pid}-${Date.now()}`;
/** A local HTTP listener that hostile images try to reach; it counts every connection. */
let listener: Server;
let listenerPort = 0;
let listenerHits = 0;

const catalog = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'catalog', 'builtin.json'), 'utf8'),
) as { types: Record<string, unknown>[] };
const builtin = (type: string) => catalog.types.find((t) => t.type === type)!;

const probe = (type: string, code: string, extra: Record<string, unknown> = {}) => ({
  type,
  name: type,
  description: `Escape test: ${type}`,
  mime_in: ['*/*'],
  mime_out: ['application/json'],
  ext: '.json',
  display: 'download',
  command: ['python3', '-c', code, '{input}'],
  requires: [],
  limits: { wall_seconds: 30, memory_mb: 256, output_mb: 8 },
  ...extra,
});

/** Every process the job can see, with what /proc tells about it. */
const PROC_PROBE = `
import json, os
seen = []
for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):
    entry = {'pid': pid}
    for name in ('cmdline', 'environ'):
        try:
            entry[name] = open(f'/proc/{pid}/{name}', 'rb').read().decode('latin1')
        except OSError as e:
            entry[name] = f'ERR {e.errno}'
    seen.append(entry)
print(json.dumps({'self': os.getpid(), 'processes': seen}))
`;

/** What privileges the job has, and whether it can gain any. */
const PRIVS_PROBE = `
import json, os, stat, subprocess
status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
out = {k: status[k].strip() for k in ('Uid', 'Gid', 'NoNewPrivs', 'CapEff', 'CapPrm', 'CapBnd')}
try:
    os.setuid(0); out['setuid0'] = 'ok'
except OSError as e:
    out['setuid0'] = e.errno
out['nosuid'] = {p: bool(os.statvfs(p).f_flag & os.ST_NOSUID) for p in ('/usr/bin', '/work', '/tmp', '/in')}
# A setuid-root program (su) starts, but with no_new_privs and nosuid mounts
# it runs with the caller's ids, never root's.
import shutil
su = shutil.which('su')
out['su'] = su and subprocess.run([su, '-c', 'id -u', 'root'], capture_output=True, timeout=10, stdin=subprocess.DEVNULL).stdout.decode()
print(json.dumps(out))
`;

/** PTRACE_ATTACH every pid given, and every pid the job can see but its own. */
const PTRACE_PROBE = `
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
targets = [int(x) for x in sys.argv[2].split(',')]
out = {}
for pid in targets:
    r = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
    out[str(pid)] = 'attached' if r == 0 else ctypes.get_errno()
    if r == 0:
        os.waitpid(pid, 0x40000000)  # __WALL
        libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
print(json.dumps(out))
`;

/** Try every way to change the input, then print what it holds. */
const OVERWRITE_PROBE = `
import json, os, sys
path = sys.argv[1]
tries = {}
def attempt(name, f):
    try:
        f(); tries[name] = 'ok'
    except OSError as e:
        tries[name] = e.errno
attempt('write', lambda: open(path, 'w').write('pwned'))
attempt('append', lambda: open(path, 'a').write('pwned'))
attempt('chmod', lambda: os.chmod(path, 0o666))
attempt('unlink', lambda: os.unlink(path))
attempt('rename', lambda: os.rename(path, path + '.x'))
print(json.dumps({'tries': tries, 'content': open(path).read()}))
`;

beforeAll(async () => {
  listener = createServer((_req, res) => res.end('reached'));
  listener.on('connection', () => {
    listenerHits++;
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerPort = (listener.address() as { port: number }).port;

  const extract = builtin('pdf/extract');
  const convert = builtin('image/convert');
  const typesFile = join(files.dir, 'types.json');
  writeFileSync(
    typesFile,
    JSON.stringify({
      types: [
        probe('escape/proc', PROC_PROBE),
        probe('escape/privs', PRIVS_PROBE),
        probe('escape/ptrace', `${PTRACE_PROBE}`, {
          command: ['python3', '-c', PTRACE_PROBE, '{input}', '{param:pids}'],
          params: [{ name: 'pids', type: 'string', description: 'pids', pattern: '[0-9,]+' }],
        }),
        probe('escape/overwrite', OVERWRITE_PROBE),
        // ImageMagick exactly as image/convert runs it, but without the
        // format check in front: the policy alone must stop MVG and SVG.
        {
          ...convert,
          type: 'escape/magick',
          name: 'escape/magick',
          aliases: [],
          mime_in: ['*/*'],
          // The coder named outright: the input's own name no longer says MVG
          // or SVG (the runner names it by its sniffed kind, plain text).
          params: [
            {
              name: 'coder',
              type: 'enum',
              description: 'ImageMagick coder',
              values: ['mvg', 'svg'],
              default: 'mvg',
            },
          ],
          command: ['/usr/bin/convert', '{param:coder}:{input}', 'png:-'],
          limits: { wall_seconds: 30, memory_mb: 512, output_mb: 16 },
        },
        // pdf/extract's tool and arguments, with limits a test can wait for.
        {
          ...extract,
          type: 'escape/pdf-extract',
          name: 'escape/pdf-extract',
          aliases: [],
          limits: { wall_seconds: 8, memory_mb: 512, output_mb: 16 },
        },
      ],
    }),
  );
  server = await startServer({
    env: { BSUBIO_TYPES_FILE: typesFile, BSUBIO_WORKERS: '2', BSUBIO_ESCAPE_CANARY: CANARY },
  });
});

afterAll(async () => {
  await server?.cleanup();
  listener?.close();
  files.cleanup();
});

async function healthy(): Promise<void> {
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  const echo = await runJob(server, 'passthru', 'still alive');
  expect(echo.output.toString()).toBe('still alive');
}

function json(job: { status: string; output: Buffer; logs: string }): Record<string, unknown> {
  expect(job.status, job.logs).toBe('finished');
  return JSON.parse(job.output.toString());
}

describe('escape attempts from a job', () => {
  it('sees only its own sandbox in /proc: no host process, no server environment', async () => {
    const seen = json(await runJob(server, 'escape/proc', 'x')) as {
      processes: { pid: number; cmdline: string; environ: string }[];
    };
    const all = JSON.stringify(seen);
    expect(all).not.toContain(CANARY);
    expect(all).not.toContain('bsubio-server');
    expect(all).not.toContain('BSUBIO_');
    // A pid namespace of its own: bwrap's init and the probe, nothing else.
    expect(seen.processes.length).toBeLessThanOrEqual(3);
    expect(seen.processes.every((p) => p.pid < 10)).toBe(true);
    expect(seen.processes.some((p) => p.pid === server.process.pid)).toBe(false);
  });

  it('runs as nobody with no capabilities and no way to gain any (no_new_privs, nosuid)', async () => {
    const privs = json(await runJob(server, 'escape/privs', 'x')) as Record<string, unknown>;
    expect(String(privs.Uid).split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(String(privs.Gid).split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(privs.NoNewPrivs).toBe('1');
    expect(privs.CapEff).toBe('0000000000000000');
    expect(privs.CapPrm).toBe('0000000000000000');
    expect(privs.setuid0).not.toBe('ok'); // EPERM, or EINVAL: no uid 0 exists in its namespace
    expect(privs.nosuid).toEqual({ '/usr/bin': true, '/work': true, '/tmp': true, '/in': true });
    // su cannot become root: it fails, so prints no uid at all (never 0).
    expect(String(privs.su ?? '')).not.toMatch(/^0/);
  });

  it('cannot ptrace the server, the test runner or any host process', async () => {
    const pids = [server.process.pid!, process.pid, 1];
    const traced = json(
      await runJob(server, 'escape/ptrace', 'x', { params: { pids: pids.join(',') } }),
    ) as Record<string, unknown>;
    // The seccomp filter refuses ptrace itself (EPERM) before the kernel even
    // looks for the pid; without it, host pids would not exist in the job's
    // pid namespace (ESRCH), and its pid 1 is bwrap's own init.
    for (const pid of pids) expect(traced[String(pid)], `pid ${pid}`).toBe(1);
    expect(server.process.exitCode).toBeNull();
    await healthy();
  });

  it('cannot change its own input, in the sandbox or in storage', async () => {
    const original = `the original input ${Date.now()}`;
    const job = await runJob(server, 'escape/overwrite', original);
    const result = json(job) as { tries: Record<string, unknown>; content: string };
    expect(result.content).toBe(original);
    for (const [name, outcome] of Object.entries(result.tries)) expect(outcome, name).not.toBe('ok');
    // The stored input (under its SHA-256) is byte for byte what was uploaded.
    const digest = createHash('sha256').update(original).digest('hex');
    const stored = join(server.dataDir, 'blobs', 'cas', digest.slice(0, 2), digest);
    expect(readFileSync(stored, 'utf8')).toBe(original);
  });
});

describe('hostile inputs for the real tools', () => {
  const target = () => `http://127.0.0.1:${listenerPort}`;
  const mvg = () =>
    [
      'push graphic-context',
      'viewbox 0 0 64 64',
      `image over 0,0 0,0 '${target()}/mvg.png'`,
      "image over 0,0 0,0 'text:/etc/ld.so.conf'",
      "image over 0,0 0,0 '@/etc/ld.so.conf'",
      'pop graphic-context',
    ].join('\n');
  const svg = () =>
    `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64">` +
    `<image xlink:href="${target()}/svg.png" width="64" height="64"/>` +
    `<image xlink:href="text:/etc/ld.so.conf" width="64" height="64"/>` +
    `<image xlink:href="file:///etc/ld.so.conf" width="64" height="64"/></svg>`;

  it('refuses MVG and SVG that read files or URLs, through image/convert and through ImageMagick alone', async () => {
    for (const [name, input, coder] of [
      ['evil.mvg', mvg(), 'mvg'],
      ['evil.svg', svg(), 'svg'],
    ] as const) {
      // The catalog type: the format check turns them away before ImageMagick runs.
      const real = await runJob(server, 'image/convert', input, { fileName: name });
      expect(real.status, name).toBe('failed');
      expect(real.error_code, name).toBe('EINPUT');
      // ImageMagick itself, handed the file: its policy refuses the coder.
      const bare = await runJob(server, 'escape/magick', input, { fileName: name, params: { coder } });
      expect(bare.status, `${name}: ${bare.logs}`).toBe('failed');
      expect(bare.error_code, name).toBe('EEXIT');
      expect(bare.logs, name).toMatch(/not allowed by the security policy|no decode delegate/);
      expect(bare.output.length).toBe(0);
    }
    expect(listenerHits).toBe(0);
    await healthy();
  });

  it('fails a decompression-bomb PNG (100000 x 100000 pixels in 1 KiB) cleanly and at once', async () => {
    const started = Date.now();
    for (const type of ['image/thumbnail', 'image/convert']) {
      const job = await runJob(server, type, pngBomb(100_000, 100_000), { fileName: 'bomb.png' });
      expect(job.status, type).toBe('failed');
      expect(['EEXIT', 'EINPUT', 'ENOMEM'], `${type}: ${job.error_message}`).toContain(job.error_code);
    }
    // The policy refuses the size before any pixel is decoded: far below the types' time limits.
    expect(Date.now() - started).toBeLessThan(60_000);
    await healthy();
  });

  it('stops a PDF bomb (a few KiB asking for 10^12 drawing operations) at its limits', async () => {
    const bomb = pdfFormBomb(12);
    expect(bomb.length).toBeLessThan(8 * 1024);
    const job = await runJob(server, 'escape/pdf-extract', bomb, { fileName: 'bomb.pdf', waitSeconds: 90 });
    expect(job.status, job.logs).toBe('failed');
    expect(['ETIMEDOUT', 'ENOMEM', 'EFBIG'], String(job.error_message)).toContain(job.error_code);
    await healthy();
  });
});

// ---- hostile files, made here -------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A valid PNG header declaring width x height grey pixels, with 1 MiB of zeros deflated as its data. */
function pngBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (grey), no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(1 << 20), { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A "billion laughs" PDF of a few KiB: the page draws form A ten times, each
 * A draws B ten times, and so on `depth` levels down to one line of text, so
 * that extracting the text means 10^depth drawing operations.
 */
function pdfFormBomb(depth: number): Buffer {
  const stream = (dict: string, content: string) =>
    `<< ${dict} /Length ${Buffer.byteLength(content)} >>\nstream\n${content}\nendstream`;
  const font = '/Font << /F1 5 0 R >>';
  const tenTimes = (name: string) => `q /${name} Do Q\n`.repeat(10);
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << ${font} /XObject << /X 6 0 R >> >> >>`,
    stream('', tenTimes('X')),
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  for (let level = 0; level < depth; level++) {
    const last = level === depth - 1;
    const resources = last ? `<< ${font} >>` : `<< ${font} /XObject << /X ${7 + level} 0 R >> >>`;
    const content = last ? 'BT /F1 12 Tf 72 700 Td (laugh) Tj ET' : tenTimes('X');
    objects.push(
      stream(`/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources ${resources}`, content),
    );
  }
  let pdf = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(pdf));
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xrefAt = Buffer.byteLength(pdf);
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) pdf += `${String(o).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}
