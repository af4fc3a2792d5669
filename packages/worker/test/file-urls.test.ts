/**
 * A page or document that names files of the host (security round 2,
 * finding 9): WeasyPrint read any file: URL, so html/pdf embedded
 * /proc/self/mountinfo (host paths, the sandbox's command line) as a PDF
 * attachment. html/pdf and doc/pdf now read only data: URLs and the job's
 * own files; the page still renders.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob, scratch, sh, startServer, type TestServer } from './support.js';

const files = scratch();
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ env: { BSUBIO_WORKERS: '2' } });
});

afterAll(async () => {
  await server?.cleanup();
  files.cleanup();
});

describe('file: URLs in pages and documents', () => {
  it('html/pdf attaches and shows no host file, and still renders the page', async () => {
    const html = [
      '<!doctype html><html><head>',
      '<link rel="attachment" href="file:///proc/self/mountinfo" title="mounts">',
      '<link rel="stylesheet" href="file:///etc/hostname">',
      '</head><body><p>Page still here</p>',
      '<img src="file:///proc/1/cmdline" alt="cmdline">',
      '<img src="data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSIxMCIgaGVpZ2h0PSIxMCIvPg==" alt="inline">',
      '</body></html>',
    ].join('\n');
    const job = await runJob(server, 'html/pdf', html, { fileName: 'page.html', waitSeconds: 240 });
    expect(job.status, `${job.error_message} ${job.logs}`).toBe('finished');
    writeFileSync(files.path('page.pdf'), job.output);
    expect(await sh('pdftotext', ['page.pdf', '-'], files.dir)).toContain('Page still here');
    // No attachment at all, and none of the host files' bytes anywhere in the PDF.
    expect(await sh('pdfdetach', ['-list', 'page.pdf'], files.dir)).toMatch(/^0 embedded files/);
    expect(job.output.toString('latin1')).not.toMatch(/bwrap|mountinfo|\/proc\/self/);
    expect(job.logs).toMatch(/not fetched: file:\/\/\/proc\/self\/mountinfo/);
  }, 300_000);

  it('doc/pdf (pandoc, then WeasyPrint) reads no host file named by a Markdown image', async () => {
    const markdown = '# Report\n\nText of the report.\n\n![host](file:///proc/self/mountinfo)\n';
    const job = await runJob(server, 'doc/pdf', markdown, { fileName: 'report.md', waitSeconds: 240 });
    expect(job.status, `${job.error_message} ${job.logs}`).toBe('finished');
    writeFileSync(files.path('report.pdf'), job.output);
    expect(await sh('pdftotext', ['report.pdf', '-'], files.dir)).toContain('Text of the report');
    expect(job.logs).toMatch(/not fetched: file:\/\/\/proc\/self\/mountinfo/);
  }, 300_000);
});
