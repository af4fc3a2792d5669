/**
 * Archive inputs: what a type with archive_in unpacks into /in/files, and
 * each guard, first on unpackArchive itself, then end to end through a real
 * server (pdf/merge), where a hostile archive must end the job `failed` with
 * EINPUT and a sentence naming the problem, with nothing written outside.
 * The archives are made here with Python's zipfile and tarfile, which can
 * write the entries ordinary tools refuse to (devices, absolute names).
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveError, unpackArchive } from '../src/archive.js';
import { sniffFile } from '../src/sniff.js';
import { makePdf, runJob, scratch, startServer, type TestServer } from './support.js';

const files = scratch();
afterAll(() => files.cleanup());

/** A unique name that must never appear on the host outside the job. */
const marker = `bsubio-escape-${process.pid}-${Date.now()}`;

/** Run a Python program in the scratch directory (archives are built with it). */
function py(program: string): void {
  execFileSync('python3', ['-c', program], { cwd: files.dir, stdio: ['ignore', 'ignore', 'inherit'] });
}

let counter = 0;
/** Unpack into a fresh directory; returns it, or throws the ArchiveError. */
async function unpack(name: string): Promise<string> {
  const dest = files.path(`out-${++counter}`);
  mkdirSync(dest);
  const { mime } = await sniffFile(files.path(name));
  await unpackArchive(files.path(name), mime, dest);
  return dest;
}

async function refusal(name: string): Promise<string> {
  try {
    await unpack(name);
  } catch (err) {
    expect(err).toBeInstanceOf(ArchiveError);
    return (err as Error).message;
  }
  throw new Error(`${name} was unpacked`);
}

/** Nothing named with the marker anywhere under the temp dir or the scratch dir's parent. */
function escaped(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (name.includes(marker)) found.push(path);
      try {
        if (lstatSync(path).isDirectory()) walk(path, depth + 1);
      } catch {
        // Gone meanwhile (another test's scratch).
      }
    }
  };
  walk(tmpdir(), 0);
  return found;
}

// The hostile archives, shared by the unit and the end-to-end tests.
beforeAll(() => {
  py(`
import tarfile, zipfile, io
m = ${JSON.stringify(marker)}
def tar(name, infos):
    with tarfile.open(name, 'w') as t:
        for info, data in infos:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
def info(name, type=tarfile.REGTYPE, size=0, linkname=''):
    i = tarfile.TarInfo(name); i.type = type; i.size = size; i.linkname = linkname; return i
tar('absolute.tar', [(info('/tmp/' + m + '.pdf', size=3), b'abc')])
with zipfile.ZipFile('dotdot.zip', 'w') as z:
    z.writestr('ok.pdf', b'x')
    z.writestr('../../' + m + '.pdf', b'abc')
tar('symlink-out.tar', [(info('a.pdf', tarfile.SYMTYPE, linkname='/etc/passwd'), None)])
tar('symlink-up.tar', [(info('d/a.pdf', tarfile.SYMTYPE, linkname='../../' + m), None)])
tar('hardlink.tar', [(info('h.pdf', tarfile.LNKTYPE, linkname='/etc/passwd'), None)])
tar('device.tar', [(info('null', tarfile.CHRTYPE), None)])
tar('fifo.tar', [(info('pipe', tarfile.FIFOTYPE), None)])
with zipfile.ZipFile('many.zip', 'w') as z:
    for n in range(10001):
        z.writestr('f%05d.txt' % n, b'')
# 1 GiB of zeros in 1024 entries of 1 MiB: each deflates to about 1 KiB.
mib = bytes(1024 * 1024)
with zipfile.ZipFile('bomb.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    for n in range(1024):
        z.writestr('zeros%04d.pdf' % n, mib)
`);
});

describe('unpackArchive', () => {
  it('unpacks zip and tar, plain, gzip and zstd, with folders and names in any encoding', async () => {
    py(`
import tarfile, zipfile, io, subprocess
files = {'chapters/1.pdf': b'one', 'chapters/2.pdf': b'two', 'caf\\u00e9 \\u65e5\\u672c.txt': b'utf8 name'}
with zipfile.ZipFile('good.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    for n, d in files.items(): z.writestr(n, d)
for mode, name in (('w', 'good.tar'), ('w:gz', 'good.tar.gz')):
    with tarfile.open(name, mode, format=tarfile.PAX_FORMAT) as t:
        for n, d in files.items():
            i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
subprocess.run(['zstd', '-q', '-f', 'good.tar', '-o', 'good.tar.zst'], check=False)
# A name in CP437 without the UTF-8 flag, as old Windows zip tools write it.
class Cp437(zipfile.ZipInfo):
    def _encodeFilenameFlags(self): return self.filename.encode('cp437'), self.flag_bits
with zipfile.ZipFile('cp437.zip', 'w') as z: z.writestr(Cp437('r\\u00e9sum\\u00e9.txt'), b'cp437')
# A tar name in Latin-1 bytes (not UTF-8).
with tarfile.open('latin1.tar', 'w', format=tarfile.GNU_FORMAT, encoding='latin-1') as t:
    i = tarfile.TarInfo('na\\u00efve.txt'); i.size = 6; t.addfile(i, io.BytesIO(b'latin1'))
`);
    const archives = ['good.zip', 'good.tar', 'good.tar.gz'];
    if (existsSync(files.path('good.tar.zst'))) archives.push('good.tar.zst');
    for (const name of archives) {
      const dest = await unpack(name);
      expect(readFileSync(join(dest, 'chapters', '2.pdf'), 'utf8'), name).toBe('two');
      expect(readFileSync(join(dest, 'café 日本.txt'), 'utf8'), name).toBe('utf8 name');
    }
    expect(readFileSync(join(await unpack('cp437.zip'), 'résumé.txt'), 'utf8')).toBe('cp437');
    expect(readFileSync(join(await unpack('latin1.tar'), 'naïve.txt'), 'utf8')).toBe('latin1');
  });

  it('keeps a symbolic link that stays inside the tree', async () => {
    py(`
import tarfile, io
with tarfile.open('inner-link.tar', 'w') as t:
    i = tarfile.TarInfo('img/logo.png'); i.size = 4; t.addfile(i, io.BytesIO(b'logo'))
    l = tarfile.TarInfo('logo.png'); l.type = tarfile.SYMTYPE; l.linkname = 'img/logo.png'; t.addfile(l)
`);
    const dest = await unpack('inner-link.tar');
    expect(readlinkSync(join(dest, 'logo.png'))).toBe('img/logo.png');
    expect(readFileSync(join(dest, 'logo.png'), 'utf8')).toBe('logo');
  });

  it('refuses an absolute path', async () => {
    expect(await refusal('absolute.tar')).toMatch(/absolute path.*relative/);
  });

  it('refuses a path with ..', async () => {
    expect(await refusal('dotdot.zip')).toMatch(/climbs out with "\.\."/);
  });

  it('refuses symbolic links leaving the tree, directly or through other links', async () => {
    expect(await refusal('symlink-out.tar')).toMatch(/symbolic link to an absolute path.*\/etc\/passwd/);
    expect(await refusal('symlink-up.tar')).toMatch(/symbolic link leaving the archive/);
    py(`
import tarfile
with tarfile.open('symlink-chain.tar', 'w') as t:
    for name, target in (('a', 'sub/b'), ('sub/b', '..'), ('c', 'a/..')):
        i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
`);
    // a → sub/b → .. is the root itself; a/.. is then the root's parent.
    expect(await refusal('symlink-chain.tar')).toMatch(/leaving the archive through other links/);
  });

  it('refuses hard links, devices and FIFOs', async () => {
    expect(await refusal('hardlink.tar')).toMatch(/hard link.*pack the file itself/);
    expect(await refusal('device.tar')).toMatch(/device file/);
    expect(await refusal('fifo.tar')).toMatch(/device file, FIFO or socket/);
  });

  it('refuses more than 10,000 entries', async () => {
    expect(await refusal('many.zip')).toMatch(/more than 10000 entries/);
  });

  it('stops a zip bomb by its ratio, counting the bytes really inflated', async () => {
    const size = statSync(files.path('bomb.zip')).size;
    expect(size).toBeLessThan(2 * 1024 * 1024);
    expect(await refusal('bomb.zip')).toMatch(/expands more than 100 times its size.*zip bomb/);
  });

  it("refuses more bytes than the type's max_mb, whatever the ratio", async () => {
    py(`
import os, zipfile
with zipfile.ZipFile('big.zip', 'w') as z: z.writestr('noise.bin', os.urandom(3 * 1024 * 1024))
`);
    const dest = files.path('out-big');
    mkdirSync(dest);
    const limits = { maxEntries: 10, maxBytes: 2 * 1024 * 1024, maxRatio: 100 };
    await expect(unpackArchive(files.path('big.zip'), 'application/zip', dest, limits)).rejects.toThrow(
      /unpacks to more than 2 MiB/,
    );
  });

  it('refuses a zip whose declared sizes lie, by its checksum', async () => {
    py(`
import zipfile
with zipfile.ZipFile('crc.zip', 'w') as z: z.writestr('a.txt', b'hello world')
data = bytearray(open('crc.zip', 'rb').read())
data[data.index(b'hello')] = ord('j')
open('crc.zip', 'wb').write(bytes(data))
`);
    expect(await refusal('crc.zip')).toMatch(/checksum does not match/);
  });

  it("a refused archive closes its own files and no one else's", async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (const name of ['bomb.zip', 'dotdot.zip', 'crc.zip']) await refusal(name);
    // A descriptor opened right after must stay open: a stream that shared
    // the archive's descriptor closed it later, when it was someone else's.
    const other = openSync(files.path('crc.zip'), 'r');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(() => fstatSync(other)).not.toThrow();
    closeSync(other);
    expect(fds()).toBeLessThanOrEqual(before);
  });

  it('wrote nothing outside its directories', () => {
    expect(escaped()).toEqual([]);
  });
});

describe('archive inputs through the server (pdf/merge)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ env: { BSUBIO_WORKERS: '2' } });
  });
  afterAll(async () => {
    await server?.cleanup();
  });

  const cases: [string, RegExp][] = [
    ['absolute.tar', /absolute path/],
    ['dotdot.zip', /"\.\."/],
    ['symlink-out.tar', /symbolic link to an absolute path/],
    ['symlink-up.tar', /symbolic link leaving the archive/],
    ['hardlink.tar', /hard link/],
    ['device.tar', /device file/],
    ['many.zip', /more than 10000 entries/],
    ['bomb.zip', /zip bomb/],
  ];
  for (const [name, message] of cases) {
    it(`${name}: failed, EINPUT, saying why`, async () => {
      const job = await runJob(server, 'pdf/merge', files.read(name), { fileName: name });
      expect(job.status).toBe('failed');
      expect(job.error_code).toBe('EINPUT');
      expect(job.error_message).toMatch(/^The archive /);
      expect(job.error_message).toMatch(message);
      expect(job.logs).toMatch(message);
    });
  }

  it('a .tar.xz is refused before the tool runs, saying which archives are taken', async () => {
    py(`
import tarfile, io
with tarfile.open('project.tar.xz', 'w:xz') as t:
    i = tarfile.TarInfo('a.pdf'); i.size = 1; t.addfile(i, io.BytesIO(b'x'))
`);
    const job = await runJob(server, 'pdf/merge', files.read('project.tar.xz'), {
      fileName: 'project.tar.xz',
    });
    expect(job.error_code).toBe('EINPUT');
    expect(job.error_message).toMatch(/an xz-compressed file.*accepts \.zip, \.tar/);
  });

  it('left nothing outside the sandbox', () => {
    expect(escaped()).toEqual([]);
  });

  it('merges the PDFs of a real archive, in name order or order.txt', async () => {
    for (const [i, words] of [
      ['1', 'Alpha page'],
      ['2', 'Bravo page'],
      ['10', 'Charlie page'],
    ] as const) {
      await makePdf(files.dir, [[words]], `merge-${i}.pdf`);
    }
    py(`
import zipfile
with zipfile.ZipFile('merge.zip', 'w') as z:
    for n in ('10', '1', '2'): z.write('merge-%s.pdf' % n, 'part-%s.pdf' % n)
with zipfile.ZipFile('merge-ordered.zip', 'w') as z:
    for n in ('10', '1', '2'): z.write('merge-%s.pdf' % n, 'part-%s.pdf' % n)
    z.writestr('order.txt', 'part-2.pdf\\n# the cover last\\npart-10.pdf\\npart-1.pdf\\n')
`);
    const byName = await runJob(server, 'pdf/merge', files.read('merge.zip'), { fileName: 'merge.zip' });
    expect(byName.status, byName.logs).toBe('finished');
    const text = await pdfText(byName.output);
    // Natural order: 1, 2, 10 — one page each, nothing lost.
    expect(
      text
        .split('\f')
        .filter((p) => p.trim())
        .map((p) => p.trim()),
    ).toEqual(['Alpha page', 'Bravo page', 'Charlie page']);
    const ordered = await runJob(server, 'pdf/merge', files.read('merge-ordered.zip'), { fileName: 'm.zip' });
    expect(ordered.status, ordered.logs).toBe('finished');
    expect(
      (await pdfText(ordered.output))
        .split('\f')
        .filter((p) => p.trim())
        .map((p) => p.trim()),
    ).toEqual(['Bravo page', 'Charlie page', 'Alpha page']);
  });
});

let pdfCounter = 0;
/** pdftotext of PDF bytes, pages separated by form feeds. */
async function pdfText(pdf: Buffer): Promise<string> {
  const name = files.path(`text-${++pdfCounter}.pdf`);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(name, pdf);
  return execFileSync('pdftotext', ['-enc', 'UTF-8', name, '-'], { encoding: 'utf8' });
}
