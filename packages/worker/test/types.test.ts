/**
 * Every built-in processing type, run by a real server on a real file made
 * at test time, with the content of the output checked.
 */
import { writeFileSync } from 'node:fs';
import type { ProcessingType } from '@bsubio/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createJob,
  imageSize,
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

/** Words OCR must find, with no letter pairs tesseract tends to confuse. */
const normalise = (text: string) => text.replace(/\s+/g, ' ').toUpperCase();

describe('GET /v1/types', () => {
  it('lists every built-in type, available, with what to send and what comes back', async () => {
    const res = await fetch(`${server.url}/v1/types`);
    expect(res.status).toBe(200);
    const { types } = (await res.json()) as { types: ProcessingType[] };
    const byName = new Map(types.map((t) => [t.type, t]));
    for (const name of [
      'passthru',
      'json_format',
      'pdf/extract',
      'pdf/extract/ocr',
      'pdf/info',
      'image/ocr',
      'image/resize',
      'image/thumbnail',
      'image/convert',
      'doc/md',
      'doc/html',
      'doc/pdf',
      'html/pdf',
      'media/probe',
      'video/mp4',
      'audio/transcribe',
    ]) {
      const t = byName.get(name);
      expect(t, name).toBeDefined();
      expect(t?.available, `${name}: ${t?.install_hint}`).toBe(true);
      expect(t?.description.length).toBeGreaterThan(30);
      expect(t?.input.mime_in.length).toBeGreaterThan(0);
      expect(t?.output.ext).toMatch(/^\.[a-z0-9]+$/);
      expect(t?.example.cmd).toMatch(new RegExp(`^bsubio submit ${name.replace(/\//g, '\\/')} `));
    }
    expect(byName.get('image/resize')?.params?.map((p: { name: string }) => p.name)).toEqual([
      'width',
      'height',
    ]);
  });

  it('answers the older bsub.io names as aliases of the new types', async () => {
    const { types } = (await (await fetch(`${server.url}/v1/types`)).json()) as {
      types: ProcessingType[];
    };
    const aliasOf = new Map<string, string>();
    for (const t of types) for (const a of t.aliases ?? []) aliasOf.set(a, t.type);
    expect(Object.fromEntries(aliasOf)).toMatchObject({
      pdf_extract: 'pdf/extract',
      pdf_text: 'pdf/extract',
      pandoc_md: 'doc/md',
      pandoc_html: 'doc/html',
      pandoc_pdf: 'doc/pdf',
      ffprobe: 'media/probe',
      ffmpeg_mp4: 'video/mp4',
      imagemagick_resize: 'image/resize',
      imagemagick_thumbnail: 'image/thumbnail',
      ocr_tesseract: 'image/ocr',
      wkhtmltopdf: 'html/pdf',
      passthrough: 'passthru',
    });
    for (const alias of aliasOf.keys()) {
      const created = await createJob(server, alias);
      expect(created.status, alias).toBe(201);
    }
  });

  it('rejects a wrong parameter at creation with 400 naming it', async () => {
    const tooWide = await createJob(server, 'image/resize', { width: 0 });
    expect(tooWide.status).toBe(400);
    expect(tooWide.body.error).toMatch(/width/);
    const badFormat = await createJob(server, 'image/convert', { format: 'exe' });
    expect(badFormat.status).toBe(400);
    expect(badFormat.body.error).toMatch(/format.*png/);
  });
});

describe('PDF types', () => {
  it('pdf/extract keeps the text and its layout, page by page', async () => {
    const pdf = await makePdf(files.dir, [
      ['Quarterly report', 'Revenue grew by twelve percent.'],
      ['Second page of the report'],
    ]);
    const job = await runJob(server, 'pdf/extract', pdf, { fileName: 'report.pdf' });
    expect(job.status, job.error_message ?? '').toBe('finished');
    const text = job.output.toString('utf8');
    expect(text).toContain('Quarterly report');
    expect(text).toContain('Revenue grew by twelve percent.');
    const pages = text.split('\f');
    expect(pages[1]).toContain('Second page of the report');
    expect(job.outputType).toMatch(/^text\/plain/);
  });

  it('the old name pdf_text runs pdf/extract and the job keeps the name', async () => {
    const pdf = await makePdf(files.dir, [['Alias works']], 'alias.pdf');
    const job = await runJob(server, 'pdf_text', pdf);
    expect(job.status, job.error_message ?? '').toBe('finished');
    expect(job.job.type).toBe('pdf_text');
    expect(job.output.toString()).toContain('Alias works');
  });

  it('pdf/extract/ocr reads a scanned PDF with no text layer, every page in order', async () => {
    const pdf = await makeScannedPdf(files.dir, [
      ['INVOICE NUMBER 4711'],
      ['SECOND PAGE KANGAROO'],
      ['THIRD PAGE ELEPHANT'],
    ]);
    writeFileSync(files.path('scan-check.pdf'), pdf);
    // The fixture really has no text: pdftotext finds none.
    expect((await sh('pdftotext', [files.path('scan-check.pdf'), '-'])).trim()).toBe('');
    const job = await runJob(server, 'pdf/extract/ocr', pdf, { params: { dpi: 200 }, waitSeconds: 180 });
    expect(job.status, job.error_message ?? '').toBe('finished');
    const text = normalise(job.output.toString());
    expect(text).toContain('INVOICE NUMBER 4711');
    const first = text.indexOf('INVOICE');
    const second = text.indexOf('KANGAROO');
    const third = text.indexOf('ELEPHANT');
    expect(first).toBeGreaterThanOrEqual(0);
    expect(second).toBeGreaterThan(first);
    expect(third).toBeGreaterThan(second);
  }, 240_000);

  it('pdf/info reports the page count, page size and metadata as JSON', async () => {
    const pdf = await makePdf(files.dir, [['one'], ['two'], ['three']], 'three.pdf');
    const job = await runJob(server, 'pdf/info', pdf);
    expect(job.status, job.error_message ?? '').toBe('finished');
    const info = JSON.parse(job.output.toString());
    expect(info.pages).toBe(3);
    expect(info.page_width_pts).toBe(612);
    expect(info.page_height_pts).toBe(792);
    expect(info.encrypted).toBe(false);
    expect(info.producer).toMatch(/Ghostscript/i);
    expect(job.outputType).toMatch(/^application\/json/);
  });

  it('a PDF cut short fails fast with EINPUT saying it is damaged', async () => {
    const pdf = await makePdf(files.dir, [['Complete document']], 'whole.pdf');
    const started = Date.now();
    const job = await runJob(server, 'pdf/extract', pdf.subarray(0, Math.floor(pdf.length / 2)));
    expect(job.status).toBe('failed');
    expect(job.error_code).toBe('EINPUT');
    expect(job.error_message).toMatch(/PDF.*cut short|damaged/);
    expect(Date.now() - started).toBeLessThan(120_000);
  });

  it('rejects an input whose real format is not what the type accepts, whatever its name', async () => {
    const png = await makeTextImage(files.dir, 'not a pdf', '400x200', 'notpdf.png');
    const job = await runJob(server, 'pdf/extract', png, { fileName: 'report.pdf' });
    expect(job.status).toBe('failed');
    expect(job.error_code).toBe('EINPUT');
    expect(job.error_message).toContain('PNG image (image/png)');
    expect(job.error_message).toContain('"pdf/extract" accepts .pdf files.');
  });
});

describe('image types', () => {
  it('image/ocr reads the text of an image', async () => {
    const png = await makeTextImage(files.dir, 'HELLO BSUBIO 2026');
    const job = await runJob(server, 'ocr_tesseract', png);
    expect(job.status, job.error_message ?? '').toBe('finished');
    expect(normalise(job.output.toString())).toContain('HELLO BSUBIO 2026');
  });

  it('image/resize fits 800x600 by default and the given box otherwise', async () => {
    await sh('/usr/bin/convert', ['-size', '1600x1200', 'gradient:red-blue', 'big.jpg'], files.dir);
    const jpg = files.read('big.jpg');
    const byDefault = await runJob(server, 'image/resize', jpg);
    expect(byDefault.status, byDefault.error_message ?? '').toBe('finished');
    expect(await imageSize(files.dir, byDefault.output)).toEqual({ width: 800, height: 600, format: 'PNG' });
    const boxed = await runJob(server, 'imagemagick_resize', jpg, { params: { width: 400, height: 400 } });
    expect(boxed.status, boxed.error_message ?? '').toBe('finished');
    expect(await imageSize(files.dir, boxed.output)).toEqual({ width: 400, height: 300, format: 'PNG' });
  });

  it('image/thumbnail fits 200x200', async () => {
    await sh('/usr/bin/convert', ['-size', '300x900', 'plasma:', 'tall.png'], files.dir);
    const job = await runJob(server, 'image/thumbnail', files.read('tall.png'));
    expect(job.status, job.error_message ?? '').toBe('finished');
    expect(await imageSize(files.dir, job.output)).toEqual({ width: 67, height: 200, format: 'PNG' });
  });

  it('image/convert writes the format asked for', async () => {
    const png = await makeTextImage(files.dir, 'convert me', '320x240', 'small.png');
    const job = await runJob(server, 'image/convert', png, { params: { format: 'jpeg' } });
    expect(job.status, job.error_message ?? '').toBe('finished');
    expect(job.output.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect(await imageSize(files.dir, job.output)).toEqual({ width: 320, height: 240, format: 'JPEG' });
  });

  it('ImageMagick refuses what its policy forbids (an SVG/MVG-style input is not even accepted)', async () => {
    const mvg =
      'push graphic-context\nviewbox 0 0 640 480\nimage over 0,0 0,0 "https://example.com/x.png"\npop graphic-context\n';
    const job = await runJob(server, 'image/resize', mvg, { fileName: 'exploit.png' });
    expect(job.status).toBe('failed');
    expect(job.error_code).toBe('EINPUT');
  });
});

describe('document types', () => {
  const markdown =
    '# Shopping list\n\nBuy **apples** and *pears*.\n\n| fruit | count |\n|---|---|\n| apple | 3 |\n';

  it('doc/html turns Markdown into a standalone HTML page', async () => {
    const job = await runJob(server, 'doc/html', markdown, { fileName: 'list.txt' });
    expect(job.status, job.error_message ?? '').toBe('finished');
    const html = job.output.toString();
    expect(html).toMatch(/<html/);
    expect(html).toMatch(/<h1[^>]*>Shopping list<\/h1>/);
    expect(html).toContain('<strong>apples</strong>');
    expect(html).toContain('<table>');
  });

  it('doc/md turns HTML and docx into GitHub Markdown', async () => {
    const html =
      '<!DOCTYPE html><html><body><h2>Title here</h2><p>Some <b>bold</b> text.</p><ul><li>first</li></ul></body></html>';
    const fromHtml = await runJob(server, 'pandoc_md', html, { fileName: 'page.bin' });
    expect(fromHtml.status, fromHtml.error_message ?? '').toBe('finished');
    expect(fromHtml.output.toString()).toContain('## Title here');
    expect(fromHtml.output.toString()).toContain('**bold**');
    expect(fromHtml.output.toString()).toMatch(/^-\s+first$/m);

    writeFileSync(files.path('in.md'), '# From Word\n\nA *docx* paragraph.\n');
    await sh('pandoc', ['in.md', '-o', 'in.docx'], files.dir);
    const fromDocx = await runJob(server, 'doc/md', files.read('in.docx'), { fileName: 'noext' });
    expect(fromDocx.status, fromDocx.error_message ?? '').toBe('finished');
    expect(fromDocx.output.toString()).toContain('# From Word');
    expect(fromDocx.output.toString()).toContain('*docx*');
  });

  it('doc/pdf typesets Markdown as a PDF that holds the text', async () => {
    const job = await runJob(server, 'doc/pdf', markdown, { waitSeconds: 240 });
    expect(job.status, `${job.error_message} ${job.logs}`).toBe('finished');
    expect(job.output.subarray(0, 5).toString()).toBe('%PDF-');
    writeFileSync(files.path('doc-pdf.pdf'), job.output);
    const text = await sh('pdftotext', ['doc-pdf.pdf', '-'], files.dir);
    expect(text).toContain('Shopping list');
    expect(text).toContain('apples');
  }, 300_000);

  it('html/pdf renders an HTML page to PDF', async () => {
    const html =
      '<!doctype html><html><head><style>@page{size:A5}</style></head><body><p>Invoice for Alice Example</p></body></html>';
    const job = await runJob(server, 'wkhtmltopdf', html, { waitSeconds: 240 });
    expect(job.status, `${job.error_message} ${job.logs}`).toBe('finished');
    writeFileSync(files.path('html-pdf.pdf'), job.output);
    expect(await sh('pdftotext', ['html-pdf.pdf', '-'], files.dir)).toContain('Invoice for Alice Example');
    expect(await sh('pdfinfo', ['html-pdf.pdf'], files.dir)).toMatch(/Page size:\s+419\.\d+ x 595\.\d+ pts/);
  }, 300_000);
});

describe('media types', () => {
  /** A 2 s, 320x240 test picture with a 440 Hz tone (MPEG-4 + Vorbis), in the container `name` implies. */
  const makeClip = (name: string) =>
    sh(
      'ffmpeg',
      [
        ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=2'],
        ...['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2'],
        ...['-c:v', 'mpeg4', '-c:a', 'libvorbis', '-shortest', '-y', name],
      ],
      files.dir,
    );

  it('media/probe describes the streams of a clip as JSON', async () => {
    await makeClip('clip.mkv');
    const job = await runJob(server, 'ffprobe', files.read('clip.mkv'));
    expect(job.status, job.error_message ?? '').toBe('finished');
    const info = JSON.parse(job.output.toString());
    expect(info.format.format_name).toMatch(/matroska/);
    const video = info.streams.find((s: { codec_type: string }) => s.codec_type === 'video');
    expect(video).toMatchObject({ codec_name: 'mpeg4', width: 320, height: 240 });
    expect(info.streams.some((s: { codec_name: string }) => s.codec_name === 'vorbis')).toBe(true);
  });

  it('video/mp4 re-encodes to H.264 and AAC', async () => {
    await makeClip('clip2.avi');
    const job = await runJob(server, 'ffmpeg_mp4', files.read('clip2.avi'), { waitSeconds: 180 });
    expect(job.status, `${job.error_message} ${job.logs}`).toBe('finished');
    const info = await probe(files.dir, job.output, 'out.mp4');
    expect(String(info.format.format_name)).toContain('mp4');
    const video = info.streams.find((s) => s.codec_type === 'video');
    expect(video).toMatchObject({ codec_name: 'h264', width: 320, height: 240, pix_fmt: 'yuv420p' });
    expect(info.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
    expect(Number(info.format.duration)).toBeGreaterThan(1.5);
  }, 240_000);

  it('audio/transcribe turns speech into words', async () => {
    // espeak-ng's Klatt voice is the one pocketsphinx's model hears best.
    const said = 'the weather is nice today. please call me tomorrow morning.';
    await sh('espeak-ng', ['-v', 'en-us+klatt', '-s', '130', '-w', 'speech.wav', said], files.dir);
    const job = await runJob(server, 'audio/transcribe', files.read('speech.wav'), { waitSeconds: 240 });
    expect(job.status, `${job.error_message} ${job.logs}`).toBe('finished');
    const words = job.output.toString().toLowerCase();
    const heard = ['weather', 'nice', 'today', 'please', 'call', 'tomorrow', 'morning'].filter((w) =>
      new RegExp(`\\b${w}\\b`).test(words),
    );
    expect(heard.length, words).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
