/**
 * The processing types of issue 22, each run by a real server on a real file
 * made here, with the content of the output checked: the words of a document
 * in its PDF, the pages of a split in their order, the codec and length of
 * converted audio.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ProcessingType } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  imageSize,
  type JobResult,
  makePdf,
  makeScannedPdf,
  makeTextImage,
  probe,
  runJob,
  scratch,
  sh,
  startServer,
  type TestServer,
} from './support.js';

let server: TestServer;
const files = scratch();

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_WORKERS: '2' } });
});
afterAll(async () => {
  await server?.cleanup();
  files.cleanup();
});

/** LibreOffice's first start in a fresh profile takes a while on a busy machine. */
const SLOW = { timeout: 600_000 };

function finished(job: JobResult): Buffer {
  expect(job.status, `${job.error_message}\n${job.logs}`).toBe('finished');
  return job.output;
}

let n = 0;
/** Write bytes to a fresh scratch file; returns its path. */
function save(bytes: Buffer, ext: string): string {
  const path = files.path(`out-${++n}${ext}`);
  writeFileSync(path, bytes);
  return path;
}

/** The text of a PDF (pdftotext), pages separated by form feeds. */
function pdfText(pdf: Buffer): string {
  return execFileSync('pdftotext', ['-enc', 'UTF-8', save(pdf, '.pdf'), '-'], { encoding: 'utf8' });
}

function pdfPages(pdf: Buffer): string[] {
  return pdfText(pdf)
    .split('\f')
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
}

function pdfInfo(pdf: Buffer, extra: string[] = []): string {
  return execFileSync('pdfinfo', [...extra, save(pdf, '.pdf')], { encoding: 'utf8' });
}

/** The entries of a ZIP, name → bytes (Python's zipfile, an independent reader). */
function unzip(zip: Buffer): Map<string, Buffer> {
  const out = execFileSync(
    'python3',
    [
      '-c',
      'import sys, zipfile, json, base64; z = zipfile.ZipFile(sys.argv[1]); print(json.dumps([[i.filename, base64.b64encode(z.read(i)).decode()] for i in z.infolist()]))',
      save(zip, '.zip'),
    ],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  return new Map((JSON.parse(out) as [string, string][]).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

/** Build a ZIP of name → file in the scratch dir with Python. */
function zipOf(name: string, entries: Record<string, string>): Buffer {
  execFileSync(
    'python3',
    [
      '-c',
      'import sys, zipfile, json\nwith zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:\n    for k, v in json.loads(sys.argv[2]).items(): z.write(v, k)',
      name,
      JSON.stringify(entries),
    ],
    { cwd: files.dir },
  );
  return files.read(name);
}

describe('GET /v1/types', () => {
  it('lists every new type with what it takes and gives, available', async () => {
    const { types } = (await (await fetch(`${server.url}/v1/types`)).json()) as { types: ProcessingType[] };
    const byName = new Map(types.map((t) => [t.type, t]));
    const always = [
      'test/linecount',
      'office/pdf',
      'pdf/ocr',
      'pdf/merge',
      'pdf/split',
      'pdf/compress',
      'pdf/thumbnail',
      'pdf/rotate',
      'pdf/images',
      'latex/pdf',
      // The typst compiler is @bsubio/worker's optional dependency: npm installs it with the worker.
      'typst/pdf',
      'doc/docx',
      'doc/epub',
      'image/pdf',
      'image/svg',
      'audio/convert',
      'video/webm',
      'video/gif',
      'video/thumbnail',
      'audio/waveform',
    ];
    for (const name of always) {
      const t = byName.get(name);
      expect(t?.available, `${name}: ${t?.install_hint}`).toBe(true);
      expect(t?.description.length, name).toBeGreaterThan(40);
      expect(t?.example.cmd, name).toMatch(new RegExp(`^bsubio submit ${name.replace(/\//g, '\\/')} `));
    }
    // Types that take several files say so by accepting archives; split and images answer a ZIP.
    expect(byName.get('pdf/merge')?.input.mime_in).toEqual(
      expect.arrayContaining(['application/zip', 'application/x-tar']),
    );
    expect(byName.get('pdf/split')?.output.mime_out).toEqual(['application/zip']);
  });
});

describe('the README', () => {
  it('type table lists every built-in type with its tool, input, output, params and limits', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const catalog = JSON.parse(readFileSync(new URL('../catalog/builtin.json', import.meta.url), 'utf8')) as {
      types: {
        type: string;
        params?: { name: string }[];
        limits: { memory_mb: number; output_mb: number };
      }[];
    };
    for (const t of catalog.types) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${t.type}\``));
      expect(row, t.type).toBeDefined();
      const cells = (row as string).split('|').map((c) => c.trim());
      // type, tool, input, output, params, limits
      expect(cells.slice(1, 5).every(Boolean), `${t.type}: ${row}`).toBe(true);
      for (const p of t.params ?? []) expect(cells[5], `${t.type} ${p.name}`).toContain(`\`${p.name}\``);
      expect(cells[6], t.type).toContain(`${t.limits.memory_mb} MiB, ${t.limits.output_mb} MiB out`);
    }
  });
});

describe('office/pdf (LibreOffice)', () => {
  it('a docx: its words appear in the PDF, as PDF and as PDF/A', SLOW, async () => {
    writeFileSync(
      files.path('report.md'),
      '# Quarterly Report\n\nRevenue grew by twelve percent.\n\n\\newpage\n\n# Second Section\n\nMargins held steady.\n',
    );
    await sh('pandoc', ['report.md', '-o', 'report.docx'], files.dir);
    const docx = files.read('report.docx');
    const [all, pdfa] = await Promise.all([
      runJob(server, 'office/pdf', docx, { fileName: 'report.docx', waitSeconds: 600 }),
      runJob(server, 'office/pdf', docx, {
        fileName: 'report.docx',
        params: { pdfa: '2b' },
        waitSeconds: 600,
      }),
    ]);
    const text = pdfText(finished(all)).replace(/\s+/g, ' ');
    expect(text).toContain('Quarterly Report');
    expect(text).toContain('Revenue grew by twelve percent.');
    expect(text).toContain('Margins held steady.');
    expect(all.outputType).toBe('application/pdf');
    const [, width, height] = /Page size:\s+([0-9.]+) x ([0-9.]+)/.exec(pdfInfo(finished(all))) ?? [];
    expect(Number(width)).toBeLessThan(Number(height));
    // PDF/A-2b is declared in the XMP metadata LibreOffice writes.
    const archived = finished(pdfa);
    expect(archived.toString('latin1')).toMatch(/pdfaid:part(>|=")2/);
    expect(pdfText(archived)).toContain('Revenue grew');
  });

  it('a portrait docx comes out landscape when asked, its words kept', SLOW, async () => {
    const job = await runJob(server, 'office/pdf', files.read('report.docx'), {
      fileName: 'report.docx',
      params: { landscape: 'yes' },
      waitSeconds: 600,
    });
    const pdf = finished(job);
    const [, width, height] = /Page size:\s+([0-9.]+) x ([0-9.]+)/.exec(pdfInfo(pdf)) ?? [];
    expect(Number(width)).toBeGreaterThan(Number(height));
    expect(pdfText(pdf)).toContain('Revenue grew by twelve percent.');
  });

  it('an xlsx: its cell values appear', SLOW, async () => {
    // A minimal SpreadsheetML workbook with inline strings, written by hand.
    execFileSync(
      'python3',
      [
        '-c',
        `
import zipfile
rows = [('Region', 'Sales'), ('Northwind', 4711), ('Contoso', 1234)]
def cell(ref, v):
    if isinstance(v, str): return '<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (ref, v)
    return '<c r="%s"><v>%d</v></c>' % (ref, v)
sheet = ''.join('<row r="%d">%s</row>' % (i + 1, ''.join(cell('AB'[j] + str(i + 1), v) for j, v in enumerate(r))) for i, r in enumerate(rows))
ns = 'http://schemas.openxmlformats.org/'
with zipfile.ZipFile('sales.xlsx', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="%spackage/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>' % ns)
    z.writestr('_rels/.rels', '<?xml version="1.0"?><Relationships xmlns="%spackage/2006/relationships"><Relationship Id="r1" Type="%sofficeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>' % (ns, ns))
    z.writestr('xl/workbook.xml', '<?xml version="1.0"?><workbook xmlns="%sspreadsheetml/2006/main" xmlns:r="%sofficeDocument/2006/relationships"><sheets><sheet name="Sales" sheetId="1" r:id="r1"/></sheets></workbook>' % (ns, ns))
    z.writestr('xl/_rels/workbook.xml.rels', '<?xml version="1.0"?><Relationships xmlns="%spackage/2006/relationships"><Relationship Id="r1" Type="%sofficeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>' % (ns, ns))
    z.writestr('xl/worksheets/sheet1.xml', '<?xml version="1.0"?><worksheet xmlns="%sspreadsheetml/2006/main"><sheetData>%s</sheetData></worksheet>' % (ns, sheet))
`,
      ],
      { cwd: files.dir },
    );
    const job = await runJob(server, 'office/pdf', files.read('sales.xlsx'), {
      fileName: 'sales.xlsx',
      waitSeconds: 600,
    });
    const text = pdfText(finished(job)).replace(/\s+/g, ' ');
    for (const value of ['Region', 'Sales', 'Northwind', '4711', 'Contoso', '1234'])
      expect(text).toContain(value);
  });

  it('a pptx: its slide titles appear, one page per slide, and only the pages asked for', SLOW, async () => {
    writeFileSync(
      files.path('deck.md'),
      '# Opening Slide\n\nWelcome everyone\n\n# Closing Slide\n\nThanks for listening\n',
    );
    await sh('pandoc', ['deck.md', '-o', 'deck.pptx'], files.dir);
    const job = await runJob(server, 'office/pdf', files.read('deck.pptx'), {
      fileName: 'deck.pptx',
      waitSeconds: 600,
    });
    const pages = pdfPages(finished(job));
    expect(pages.length).toBe(2);
    expect(pages[0]).toContain('Opening Slide');
    expect(pages[1]).toContain('Closing Slide');
    const second = await runJob(server, 'office/pdf', files.read('deck.pptx'), {
      fileName: 'deck.pptx',
      params: { pages: '2' },
      waitSeconds: 600,
    });
    const only = pdfPages(finished(second));
    expect(only).toHaveLength(1);
    expect(only[0]).toContain('Closing Slide');
  });

  it('a CSV: its rows appear', SLOW, async () => {
    writeFileSync(files.path('cities.csv'), 'City,Population\nReykjavik,139875\nTromso,77544\n');
    const job = await runJob(server, 'office/pdf', files.read('cities.csv'), {
      fileName: 'cities.csv',
      waitSeconds: 600,
    });
    const text = pdfText(finished(job));
    expect(text).toContain('Reykjavik');
    expect(text).toContain('139875');
  });

  it('refuses a file that is not an office document, naming what it takes', async () => {
    const png = await makeTextImage(files.dir, 'not a document');
    const job = await runJob(server, 'office/pdf', png, { fileName: 'x.docx' });
    expect(job.error_code).toBe('EINPUT');
    expect(job.error_message).toMatch(/PNG image.*office\/pdf.*accepts/);
  });
});

describe('pdf/ocr (OCRmyPDF)', () => {
  it('gives a scanned PDF a text layer that holds the scanned words, as PDF and as PDF/A', SLOW, async () => {
    const scan = await makeScannedPdf(files.dir, [['QUARTERLY REVENUE GREW'], ['SECOND PAGE HERE']]);
    expect(pdfText(scan).trim()).toBe('');
    const [plain, pdfa] = await Promise.all([
      runJob(server, 'pdf/ocr', scan, { fileName: 'scan.pdf', waitSeconds: 600 }),
      runJob(server, 'pdf/ocr', scan, { fileName: 'scan.pdf', params: { output: 'pdfa' }, waitSeconds: 600 }),
    ]);
    for (const job of [plain, pdfa]) {
      const pages = pdfPages(finished(job));
      // Whole words, in order: not the scrambled layer Ghostscript gives without its configuration.
      expect(pages).toHaveLength(2);
      expect(pages[0]).toContain('QUARTERLY REVENUE GREW');
      expect(pages[1]).toContain('SECOND PAGE HERE');
    }
    expect(finished(pdfa).toString('latin1')).toMatch(/pdfaid:part(>|=")2/);
  });
});

describe('PDF tools', () => {
  let threePages: Buffer;
  beforeAll(async () => {
    threePages = await makePdf(
      files.dir,
      [['First page words'], ['Second page words'], ['Third page words']],
      'three.pdf',
    );
  });

  it('pdf/split: one PDF per page, or per range, in a ZIP', async () => {
    const each = await runJob(server, 'pdf/split', threePages, { fileName: 'three.pdf' });
    expect(each.outputType).toBe('application/zip');
    const pages = unzip(finished(each));
    expect([...pages.keys()]).toEqual(['page-1.pdf', 'page-2.pdf', 'page-3.pdf']);
    expect(pdfPages(pages.get('page-2.pdf') as Buffer)).toEqual(['Second page words']);
    const ranges = await runJob(server, 'pdf/split', threePages, { params: { ranges: '2-z,1' } });
    const parts = unzip(finished(ranges));
    expect([...parts.keys()]).toEqual(['part-01.pdf', 'part-02.pdf']);
    expect(pdfPages(parts.get('part-01.pdf') as Buffer)).toEqual(['Second page words', 'Third page words']);
    expect(pdfPages(parts.get('part-02.pdf') as Buffer)).toEqual(['First page words']);
  });

  it('pdf/rotate: the pages asked for turn, the text stays', async () => {
    const job = await runJob(server, 'pdf/rotate', threePages, { params: { angle: '180', pages: '2' } });
    const out = finished(job);
    const info = pdfInfo(out, ['-f', '1', '-l', '3']);
    expect(info).toMatch(/Page\s+1 rot:\s+0\b/);
    expect(info).toMatch(/Page\s+2 rot:\s+180\b/);
    expect(info).toMatch(/Page\s+3 rot:\s+0\b/);
    expect(pdfPages(out)).toHaveLength(3);
  });

  it('pdf/thumbnail: the page asked for, as a PNG of the width asked for', async () => {
    const job = await runJob(server, 'pdf/thumbnail', threePages, { params: { page: 3, width: 300 } });
    const png = finished(job);
    const size = await imageSize(files.dir, png);
    expect(size).toMatchObject({ width: 300, format: 'PNG' });
    // Letter paper: 8.5 x 11.
    expect(Math.abs(size.height - (300 * 11) / 8.5)).toBeLessThanOrEqual(1);
    const big = await runJob(server, 'pdf/thumbnail', threePages, { params: { page: 3, width: 1200 } });
    const text = await sh('tesseract', [save(finished(big), '.png'), 'stdout']);
    expect(text).toMatch(/Third page/);
  });

  it('pdf/compress: a PDF with a photo gets smaller, pages and text kept', async () => {
    // A large noisy image compresses badly, so resampling shows.
    await sh(
      '/usr/bin/convert',
      ['-size', '2400x3000', 'plasma:fractal', '-seed', '7', 'photo.jpg'],
      files.dir,
    );
    // On A4 the photo is about 280 dpi, well past what the screen preset keeps (72 dpi).
    await sh('img2pdf', ['--pagesize', 'A4', 'photo.jpg', '-o', 'photo.pdf'], files.dir);
    const original = files.read('photo.pdf');
    const job = await runJob(server, 'pdf/compress', original, { params: { preset: 'screen' } });
    const smaller = finished(job);
    expect(smaller.subarray(0, 5).toString()).toBe('%PDF-');
    expect(smaller.length).toBeLessThan(original.length / 4);
    expect(pdfInfo(smaller)).toMatch(/Pages:\s+1\b/);
  });

  it('pdf/images: the embedded images in a ZIP, a JPEG byte for byte', async () => {
    await sh('/usr/bin/convert', ['-size', '320x200', 'gradient:red-blue', 'a.jpg'], files.dir);
    await sh('/usr/bin/convert', ['-size', '100x100', 'xc:green', 'b.png'], files.dir);
    await sh('img2pdf', ['a.jpg', 'b.png', '-o', 'two-images.pdf'], files.dir);
    const job = await runJob(server, 'pdf/images', files.read('two-images.pdf'));
    const images = unzip(finished(job));
    expect(images.size).toBe(2);
    const jpg = [...images.entries()].find(([name]) => name.endsWith('.jpg'));
    expect(jpg?.[1].equals(files.read('a.jpg'))).toBe(true);
    const png = [...images.entries()].find(([name]) => name.endsWith('.png'));
    expect(await imageSize(files.dir, png?.[1] as Buffer)).toMatchObject({ width: 100, height: 100 });
  });
});

describe('latex/pdf (latexmk, pdflatex)', () => {
  it('compiles a project with an include, an image and a bibliography', SLOW, async () => {
    writeFileSync(
      files.path('main.tex'),
      [
        '\\documentclass{article}',
        '\\usepackage{graphicx}',
        '\\begin{document}',
        'Thesis opening words \\cite{knuth}.',
        '\\input{chapters/one}',
        '\\includegraphics[width=3cm]{figures/plot.png}',
        '\\bibliographystyle{plain}',
        '\\bibliography{refs}',
        '\\end{document}',
      ].join('\n'),
    );
    writeFileSync(files.path('one.tex'), 'Chapter one comes from an include.\n');
    writeFileSync(
      files.path('refs.bib'),
      '@book{knuth, author={Donald Knuth}, title={The TeXbook}, year=1984, publisher={Addison-Wesley}}\n',
    );
    await sh('/usr/bin/convert', ['-size', '200x120', 'xc:orange', 'plot.png'], files.dir);
    const zip = zipOf('thesis.zip', {
      'main.tex': 'main.tex',
      'chapters/one.tex': 'one.tex',
      'refs.bib': 'refs.bib',
      'figures/plot.png': 'plot.png',
    });
    const job = await runJob(server, 'latex/pdf', zip, { fileName: 'thesis.zip', waitSeconds: 600 });
    const pdf = finished(job);
    const text = pdfText(pdf).replace(/\s+/g, ' ');
    expect(text).toContain('Thesis opening words [1].');
    expect(text).toContain('Chapter one comes from an include.');
    expect(text).toContain('Donald Knuth. The TeXbook. Addison-Wesley, 1984.');
    const list = execFileSync('pdfimages', ['-list', save(pdf, '.pdf')], { encoding: 'utf8' });
    expect(list).toMatch(/\n\s+1\s+\d+\s+image\s+200\s+120\b/);
  });

  it(
    'finds the main file by the main parameter, or asks for it when the rule cannot tell',
    SLOW,
    async () => {
      writeFileSync(
        files.path('article.tex'),
        '\\documentclass{article}\\begin{document}\\input{sec}\\end{document}\n',
      );
      writeFileSync(files.path('sec.tex'), 'Section from the same folder.\n');
      writeFileSync(
        files.path('other.tex'),
        '\\documentclass{article}\\begin{document}Other.\\end{document}\n',
      );
      const zip = zipOf('two-mains.zip', {
        'paper/article.tex': 'article.tex',
        'paper/sec.tex': 'sec.tex',
        'notes.tex': 'other.tex',
        'draft.tex': 'other.tex',
      });
      const named = await runJob(server, 'latex/pdf', zip, {
        fileName: 'two-mains.zip',
        params: { main: 'paper/article.tex' },
        waitSeconds: 600,
      });
      expect(pdfText(finished(named))).toContain('Section from the same folder.');
      const unnamed = await runJob(server, 'latex/pdf', zip, { fileName: 'two-mains.zip', waitSeconds: 600 });
      expect(unnamed.status).toBe('failed');
      expect(unnamed.logs).toMatch(/several \.tex files have \\documentclass.*main parameter/);
    },
  );

  it('compiles a single .tex file, and names a LaTeX error in the failure', SLOW, async () => {
    const ok = await runJob(
      server,
      'latex/pdf',
      '\\documentclass{article}\\begin{document}Single file works.\\end{document}\n',
      { fileName: 'one.tex', waitSeconds: 600 },
    );
    expect(pdfText(finished(ok))).toContain('Single file works.');
    const broken = await runJob(
      server,
      'latex/pdf',
      '\\documentclass{article}\\begin{document}\\undefinedcommand\\end{document}\n',
      { fileName: 'bad.tex', waitSeconds: 600 },
    );
    expect(broken.status).toBe('failed');
    expect(broken.logs).toMatch(/Undefined control sequence/);
  });
});

describe('typst/pdf (the typst compiler from npm)', () => {
  it('compiles a project with an include, an image and a bibliography', SLOW, async () => {
    writeFileSync(
      files.path('paper.typ'),
      [
        '= Typst Paper',
        'Typst opening words @knuth.',
        '#include "chapters/one.typ"',
        '#image("figures/plot.png", width: 3cm)',
        '#bibliography("refs.bib")',
      ].join('\n'),
    );
    writeFileSync(files.path('typst-one.typ'), 'Typst chapter one comes from an include.\n');
    writeFileSync(
      files.path('refs.bib'),
      '@book{knuth, author={Donald Knuth}, title={The TeXbook}, year=1984, publisher={Addison-Wesley}}\n',
    );
    await sh('/usr/bin/convert', ['-size', '200x120', 'xc:orange', 'plot.png'], files.dir);
    const zip = zipOf('typst-paper.zip', {
      'main.typ': 'paper.typ',
      'chapters/one.typ': 'typst-one.typ',
      'refs.bib': 'refs.bib',
      'figures/plot.png': 'plot.png',
    });
    const job = await runJob(server, 'typst/pdf', zip, { fileName: 'paper.zip', waitSeconds: 600 });
    const pdf = finished(job);
    expect(job.outputType).toBe('application/pdf');
    const text = pdfText(pdf).replace(/\s+/g, ' ');
    expect(text).toContain('Typst Paper');
    expect(text).toContain('Typst opening words [1].');
    expect(text).toContain('Typst chapter one comes from an include.');
    expect(text).toContain('D. Knuth, The TeXbook. Addison-Wesley, 1984.');
    const list = execFileSync('pdfimages', ['-list', save(pdf, '.pdf')], { encoding: 'utf8' });
    expect(list).toMatch(/\n\s+1\s+\d+\s+image\s+200\s+120\b/);
  });

  it(
    'finds the main file by the main parameter, or asks for it when the rule cannot tell',
    SLOW,
    async () => {
      writeFileSync(files.path('article.typ'), '#include "sec.typ"\n');
      writeFileSync(files.path('sec.typ'), 'Typst section from the same folder.\n');
      writeFileSync(files.path('draft.typ'), 'Draft.\n');
      const zip = zipOf('typst-two.zip', {
        'paper/article.typ': 'article.typ',
        'paper/sec.typ': 'sec.typ',
        'notes.typ': 'draft.typ',
        'draft.typ': 'draft.typ',
      });
      const named = await runJob(server, 'typst/pdf', zip, {
        fileName: 'two.zip',
        params: { main: 'paper/article.typ' },
        waitSeconds: 600,
      });
      expect(pdfText(finished(named))).toContain('Typst section from the same folder.');
      const unnamed = await runJob(server, 'typst/pdf', zip, { fileName: 'two.zip', waitSeconds: 600 });
      expect(unnamed.status).toBe('failed');
      expect(unnamed.logs).toMatch(/several \.typ files \(draft\.typ, notes\.typ\).*main parameter/);
      const absent = await runJob(server, 'typst/pdf', zip, {
        fileName: 'two.zip',
        params: { main: 'paper/missing.typ' },
        waitSeconds: 600,
      });
      expect(absent.logs).toContain('the main file paper/missing.typ is not in the project');
    },
  );

  it('compiles a single .typ file, and names an error by file, line and column', SLOW, async () => {
    const ok = await runJob(server, 'typst/pdf', '= Single\nSingle typst file works.\n', {
      fileName: 'one.typ',
      waitSeconds: 600,
    });
    expect(pdfText(finished(ok))).toContain('Single typst file works.');
    const broken = await runJob(server, 'typst/pdf', 'Fine line.\n#undefined-thing\n', {
      fileName: 'bad.typ',
      waitSeconds: 600,
    });
    expect(broken.status).toBe('failed');
    expect(broken.logs).toMatch(/^input\.typ:2:2: error: unknown variable: undefined-thing/m);
  });

  it('an @preview package import fails saying packages are not downloaded', SLOW, async () => {
    const job = await runJob(server, 'typst/pdf', '#import "@preview/cetz:0.3.1": canvas\nText.\n', {
      fileName: 'pkg.typ',
      waitSeconds: 600,
    });
    expect(job.status).toBe('failed');
    expect(job.logs).toMatch(
      /input\.typ:1:9: error: the package @preview\/cetz:0\.3\.1 cannot be downloaded: jobs run without network/,
    );
  });
});

describe('limits that fit real documents', () => {
  /** Paragraphs of distinct, countable words: about 400 words a page. */
  const paragraphs = (count: number, prefix: string) =>
    Array.from(
      { length: count },
      (_, i) =>
        `${prefix} ${i + 1}. ${'The committee reviewed the findings and agreed on the next steps. '.repeat(12)}`,
    );

  it('a 50-page LaTeX thesis with chapters and a bibliography', SLOW, async () => {
    const chapters = Array.from({ length: 10 }, (_, c) =>
      [`\\chapter{Chapter ${c + 1}}`, ...paragraphs(20, `Paragraph ${c + 1}.`), `See \\cite{knuth}.`].join(
        '\n\n',
      ),
    );
    writeFileSync(
      files.path('thesis.tex'),
      [
        '\\documentclass{report}',
        '\\begin{document}',
        '\\tableofcontents',
        ...chapters,
        '\\bibliographystyle{plain}',
        '\\bibliography{refs}',
        '\\end{document}',
      ].join('\n'),
    );
    writeFileSync(
      files.path('refs.bib'),
      '@book{knuth, author={Donald Knuth}, title={The TeXbook}, year=1984, publisher={Addison-Wesley}}\n',
    );
    const zip = zipOf('big-thesis.zip', { 'thesis.tex': 'thesis.tex', 'refs.bib': 'refs.bib' });
    const job = await runJob(server, 'latex/pdf', zip, { fileName: 'thesis.zip', waitSeconds: 900 });
    const pdf = finished(job);
    const pages = Number(/Pages:\s+(\d+)/.exec(pdfInfo(pdf))?.[1]);
    expect(pages).toBeGreaterThanOrEqual(50);
    expect(pdfText(pdf).replace(/\s+/g, ' ')).toContain('Paragraph 10. 20.');
  });

  it('a 200-page Typst book with an outline', SLOW, async () => {
    const chapters = Array.from({ length: 30 }, (_, c) =>
      [`= Chapter ${c + 1}`, ...paragraphs(40, `Paragraph ${c + 1}.`)].join('\n\n'),
    );
    const book = ['#set heading(numbering: "1.")', '#outline()', ...chapters].join('\n\n');
    const job = await runJob(server, 'typst/pdf', book, { fileName: 'book.typ', waitSeconds: 600 });
    const pdf = finished(job);
    const pages = Number(/Pages:\s+(\d+)/.exec(pdfInfo(pdf))?.[1]);
    expect(pages).toBeGreaterThanOrEqual(200);
    expect(pdfText(pdf).replace(/\s+/g, ' ')).toContain('Paragraph 30. 40.');
  });

  it('a 300-page docx', SLOW, async () => {
    writeFileSync(files.path('long.md'), paragraphs(1500, 'Section').join('\n\n'));
    await sh('pandoc', ['long.md', '-o', 'long.docx'], files.dir);
    const job = await runJob(server, 'office/pdf', files.read('long.docx'), {
      fileName: 'long.docx',
      waitSeconds: 900,
    });
    const pdf = finished(job);
    const pages = Number(/Pages:\s+(\d+)/.exec(pdfInfo(pdf))?.[1]);
    expect(pages).toBeGreaterThanOrEqual(300);
    const lastPage = execFileSync(
      'pdftotext',
      ['-f', String(pages), '-l', String(pages), save(pdf, '.pdf'), '-'],
      {
        encoding: 'utf8',
      },
    );
    expect(lastPage.replace(/\s+/g, ' ')).toContain('Section 1500.');
  });
});

describe('conversions', () => {
  it('doc/docx and doc/epub: the Markdown text is in the Word file and the e-book', async () => {
    const md = '# Harbour Log\n\nThe ferry left at dawn.\n\n## Evening\n\nLights on the pier.\n';
    const docx = finished(await runJob(server, 'doc/docx', md, { fileName: 'log.md' }));
    const back = await sh('pandoc', [save(docx, '.docx'), '--to', 'plain']);
    expect(back).toContain('The ferry left at dawn.');
    expect(back).toContain('Lights on the pier.');
    const epub = finished(await runJob(server, 'doc/epub', md, { fileName: 'log.md' }));
    const entries = unzip(epub);
    expect(entries.get('mimetype')?.toString()).toBe('application/epub+zip');
    const xhtml = [...entries.entries()]
      .filter(([name]) => name.endsWith('.xhtml'))
      .map(([, b]) => b.toString('utf8'))
      .join('');
    expect(xhtml).toContain('The ferry left at dawn.');
    expect(xhtml).toContain('Harbour Log');
  });

  it('image/pdf: images in a ZIP become pages in natural order, each at its size', async () => {
    await sh('/usr/bin/convert', ['-size', '300x200', 'xc:red', 'p2.png'], files.dir);
    await sh('/usr/bin/convert', ['-size', '400x100', 'xc:blue', 'p10.png'], files.dir);
    await sh('/usr/bin/convert', ['-size', '200x200', 'xc:green', '-alpha', 'set', 'p1.png'], files.dir);
    const zip = zipOf('pages.zip', {
      'page-10.png': 'p10.png',
      'page-2.png': 'p2.png',
      'page-1.png': 'p1.png',
    });
    const pdf = finished(await runJob(server, 'image/pdf', zip, { fileName: 'pages.zip' }));
    const list = execFileSync('pdfimages', ['-list', save(pdf, '.pdf')], { encoding: 'utf8' });
    const sizes = [...list.matchAll(/^\s+(\d+)\s+\d+\s+image\s+(\d+)\s+(\d+)/gm)].map(
      (m) => `${m[1]}:${m[2]}x${m[3]}`,
    );
    expect(sizes).toEqual(['1:200x200', '2:300x200', '3:400x100']);
    // A single image works too.
    const one = finished(await runJob(server, 'image/pdf', files.read('p2.png')));
    expect(pdfInfo(one)).toMatch(/Pages:\s+1\b/);
  });

  it('image/svg: drawn at the width asked for, in its colours', async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50"><rect width="50" height="50" fill="#ff0000"/><rect x="50" width="50" height="50" fill="#0000ff"/></svg>';
    const png = finished(
      await runJob(server, 'image/svg', svg, { fileName: 'flag.svg', params: { width: 400 } }),
    );
    expect(await imageSize(files.dir, png)).toMatchObject({ width: 400, height: 200, format: 'PNG' });
    const path = save(png, '.png');
    const pixel = (x: number, y: number) =>
      execFileSync('/usr/bin/convert', [path, '-format', `%[pixel:p{${x},${y}}]`, 'info:'], {
        encoding: 'utf8',
      });
    expect(pixel(100, 100)).toMatch(/red|rgba?\(255,0,0/);
    expect(pixel(300, 100)).toMatch(/blue|rgba?\(0,0,255/);
  });

  it('image/convert reads HEIC and AVIF', async () => {
    await sh('/usr/bin/convert', ['-size', '120x80', 'xc:orange', 'photo.avif'], files.dir);
    await sh('/usr/bin/convert', ['-size', '90x60', 'xc:orange', 'photo.heic'], files.dir);
    for (const [name, width, height] of [
      ['photo.avif', 120, 80],
      ['photo.heic', 90, 60],
    ] as const) {
      const job = await runJob(server, 'image/convert', files.read(name), {
        fileName: name,
        params: { format: 'png' },
      });
      expect(await imageSize(files.dir, finished(job)), name).toMatchObject({ width, height, format: 'PNG' });
    }
  });

  it('audio/convert: the codec asked for, the same duration', async () => {
    await sh('espeak-ng', ['-w', 'speech.wav', 'The quick brown fox jumps over the lazy dog.'], files.dir);
    const wav = files.read('speech.wav');
    const source = Number((await probe(files.dir, wav, 'speech-probe.wav')).format.duration);
    expect(source).toBeGreaterThan(1);
    for (const [format, codec, mime] of [
      ['mp3', 'mp3', 'audio/mpeg'],
      ['opus', 'opus', 'audio/opus'],
      ['ogg', 'vorbis', 'audio/ogg'],
      ['flac', 'flac', 'audio/flac'],
    ] as const) {
      const job = await runJob(server, 'audio/convert', wav, {
        fileName: 'speech.wav',
        params: { format, bitrate: 64 },
      });
      const info = await probe(files.dir, finished(job), `converted.${format}`);
      expect(info.streams[0]?.codec_name, format).toBe(codec);
      expect(Math.abs(Number(info.format.duration) - source), format).toBeLessThan(0.15);
      expect(job.outputType, format).toBe(mime);
    }
  });

  describe('video', () => {
    let clip: Buffer;
    beforeAll(async () => {
      // Two seconds: red for one, blue for the next, with a tone.
      await sh(
        'ffmpeg',
        [
          '-v',
          'error',
          '-y',
          '-f',
          'lavfi',
          '-i',
          'color=c=red:s=320x240:d=1:r=25',
          '-f',
          'lavfi',
          '-i',
          'color=c=blue:s=320x240:d=1:r=25',
          '-f',
          'lavfi',
          '-i',
          'sine=frequency=440:duration=2',
          '-filter_complex',
          '[0:v][1:v]concat=n=2:v=1:a=0[v]',
          '-map',
          '[v]',
          '-map',
          '2:a',
          '-c:v',
          'libx264',
          '-pix_fmt',
          'yuv420p',
          '-c:a',
          'aac',
          '-shortest',
          'clip.mp4',
        ],
        files.dir,
      );
      clip = files.read('clip.mp4');
    });

    it('video/webm: VP9 and Opus, same length', async () => {
      const job = await runJob(server, 'video/webm', clip, { fileName: 'clip.mp4' });
      const info = await probe(files.dir, finished(job), 'out.webm');
      expect(info.streams.map((s) => s.codec_name).sort()).toEqual(['opus', 'vp9']);
      expect(Number(info.format.duration)).toBeGreaterThan(1.8);
      expect(Number(info.format.duration)).toBeLessThan(2.2);
    });

    it('video/gif: animated, at the width and frame rate asked for', async () => {
      const job = await runJob(server, 'video/gif', clip, {
        fileName: 'clip.mp4',
        params: { width: 160, fps: 5 },
      });
      const gif = finished(job);
      expect(gif.subarray(0, 6).toString()).toBe('GIF89a');
      const frames = execFileSync('/usr/bin/identify', ['-format', '%w %h\n', save(gif, '.gif')], {
        encoding: 'utf8',
      })
        .trim()
        .split('\n');
      expect(frames[0]).toBe('160 120');
      expect(frames.length).toBeGreaterThanOrEqual(8);
      expect(frames.length).toBeLessThanOrEqual(11);
    });

    it('video/thumbnail: the frame at the time asked for', async () => {
      const colour = async (at: string) => {
        const job = await runJob(server, 'video/thumbnail', clip, {
          fileName: 'clip.mp4',
          params: { at, width: 160 },
        });
        const path = save(finished(job), '.png');
        expect(await imageSize(files.dir, readFileSync(path))).toMatchObject({ width: 160, height: 120 });
        return execFileSync(
          '/usr/bin/convert',
          [path, '-format', '%[fx:int(255*r)],%[fx:int(255*b)]', '-resize', '1x1!', 'info:'],
          {
            encoding: 'utf8',
          },
        );
      };
      const [r1, b1] = (await colour('0.5')).split(',').map(Number);
      const [r2, b2] = (await colour('00:00:01.5')).split(',').map(Number);
      expect(r1).toBeGreaterThan(200);
      expect(b1).toBeLessThan(60);
      expect(b2).toBeGreaterThan(200);
      expect(r2).toBeLessThan(60);
      const late = await runJob(server, 'video/thumbnail', clip, {
        fileName: 'clip.mp4',
        params: { at: '30' },
      });
      expect(late.status).toBe('failed');
      expect(late.logs).toMatch(/shorter than that/);
    });

    it('audio/waveform: a PNG of the size asked for, with the wave drawn', async () => {
      const coverage = async (media: Buffer, name: string) => {
        const job = await runJob(server, 'audio/waveform', media, {
          fileName: name,
          params: { width: 600, height: 120 },
        });
        const png = finished(job);
        expect(await imageSize(files.dir, png)).toMatchObject({ width: 600, height: 120, format: 'PNG' });
        // The share of the picture the wave covers (its opaque pixels).
        return Number(
          execFileSync(
            '/usr/bin/convert',
            [save(png, '.png'), '-alpha', 'extract', '-format', '%[fx:mean]', 'info:'],
            {
              encoding: 'utf8',
            },
          ),
        );
      };
      await sh(
        'ffmpeg',
        ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=d=2', 'silence.wav'],
        files.dir,
      );
      const tone = await coverage(clip, 'clip.mp4');
      const silence = await coverage(files.read('silence.wav'), 'silence.wav');
      expect(tone).toBeGreaterThan(0.05);
      expect(silence).toBeLessThan(0.02);
    });
  });
});
