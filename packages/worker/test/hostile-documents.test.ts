/**
 * Documents that try to read the host or run commands while they are
 * converted: a LaTeX \input{/etc/passwd} and \write18, an office document
 * with a load macro and sections linked to host files, an ODT whose image
 * links to a host file, a Typst read() or image() of a host file. The LaTeX
 * attacks, the linked image and the Typst reads are first shown to work with
 * the host's own pdflatex, LibreOffice and typst compiler (a control run
 * without the sandbox and its settings); as jobs they must come out without
 * the host's data and without the command having run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob, scratch, startServer, type TestServer } from './support.js';

let server: TestServer;
const files = scratch();
const SLOW = { timeout: 600_000 };

/** A host file the sandbox must never show, with a word that cannot appear otherwise. */
const secretWord = `HOSTSECRET${process.pid}X${Date.now()}`;
const secretPath = files.path('host-secret.txt');
/** A file a command run by the document would create on the host (or in its sandbox). */
const pwned = `/tmp/bsubio-pwned-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  writeFileSync(secretPath, `${secretWord}\n`);
  server = await startServer({ env: { BSUBIO_WORKERS: '2' } });
});
afterAll(async () => {
  await server?.cleanup();
  rmSync(pwned, { force: true });
  files.cleanup();
});

function pdfText(pdf: Buffer, name: string): string {
  writeFileSync(files.path(name), pdf);
  return execFileSync('pdftotext', [files.path(name), '-'], { encoding: 'utf8' });
}

describe('LaTeX', () => {
  const readsHost = [
    '\\documentclass{article}',
    '\\begin{document}',
    'Before.',
    `\\input{${secretPath}}`,
    '\\input{/etc/passwd}',
    'After.',
    '\\end{document}',
  ].join('\n');
  const runsCommand = [
    '\\documentclass{article}',
    '\\begin{document}',
    `\\immediate\\write18{echo PWNED > ${pwned}; echo SHELLRAN > shell-out.tex}`,
    '\\IfFileExists{shell-out.tex}{\\input{shell-out.tex}}{NOSHELL}',
    '\\end{document}',
  ].join('\n');

  /** pdflatex on the host; /etc/passwd's underscores are TeX errors, so its exit code is not the point. */
  const hostPdflatex = (args: string[], cwd: string) => {
    try {
      execFileSync('pdflatex', ['-interaction=nonstopmode', ...args], { cwd, stdio: 'ignore' });
    } catch {
      // The PDF is what counts.
    }
  };

  it('the attacks work on an unprotected host pdflatex (control)', SLOW, () => {
    const dir = files.path('control');
    mkdirSync(dir);
    writeFileSync(`${dir}/reads.tex`, readsHost);
    writeFileSync(`${dir}/runs.tex`, runsCommand);
    hostPdflatex(['reads.tex'], dir);
    expect(pdfText(readFileSync(`${dir}/reads.pdf`), 'control-reads.pdf')).toContain(secretWord);
    execFileSync('pdflatex', ['-interaction=nonstopmode', '-shell-escape', 'runs.tex'], {
      cwd: dir,
      stdio: 'ignore',
    });
    expect(pdfText(readFileSync(`${dir}/runs.pdf`), 'control-runs.pdf')).toContain('SHELLRAN');
    expect(existsSync(pwned)).toBe(true);
    rmSync(pwned);
  });

  it('\\input of host files reads nothing: the job fails naming the file', SLOW, async () => {
    const job = await runJob(server, 'latex/pdf', readsHost, { fileName: 'reads.tex', waitSeconds: 600 });
    expect(job.status).toBe('failed');
    expect(job.output.length).toBe(0);
    expect(job.logs).toMatch(/host-secret\.txt/);
    expect(job.logs).not.toContain(secretWord);
    expect(job.logs).not.toMatch(/root:x:0/);
  });

  it('\\write18 runs nothing', SLOW, async () => {
    const job = await runJob(server, 'latex/pdf', runsCommand, { fileName: 'runs.tex', waitSeconds: 600 });
    expect(job.status, job.logs).toBe('finished');
    const text = pdfText(job.output, 'runs.pdf');
    expect(text).toContain('NOSHELL');
    expect(text).not.toContain('SHELLRAN');
    expect(existsSync(pwned)).toBe(false);
  });
});

describe('office documents', () => {
  it(
    'an ODT whose image links to a host file: LibreOffice on the host embeds it, the job does not',
    SLOW,
    async () => {
      execFileSync('/usr/bin/convert', ['-size', '120x80', 'xc:red', files.path('host-image.png')]);
      execFileSync('python3', [
        '-c',
        LINKED_IMAGE_ODT,
        files.path('linked.odt'),
        files.path('host-image.png'),
      ]);
      const images = (pdf: string) =>
        execFileSync('pdfimages', ['-list', pdf], { encoding: 'utf8' })
          .split('\n')
          .filter((line) => /^\s+\d+\s+\d+\s+image\s/.test(line));
      // Control: the host's LibreOffice, in a fresh default profile, follows the link.
      const control = files.path('lo-control');
      execFileSync(
        'soffice',
        [
          '--headless',
          '--norestore',
          `-env:UserInstallation=file://${control}/profile`,
          '--convert-to',
          'pdf',
          '--outdir',
          control,
          files.path('linked.odt'),
        ],
        { stdio: 'ignore', env: { ...process.env, HOME: control } },
      );
      expect(images(`${control}/linked.pdf`).join('\n')).toMatch(/\s120\s+80\s/);
      const job = await runJob(server, 'office/pdf', files.read('linked.odt'), {
        fileName: 'linked.odt',
        waitSeconds: 600,
      });
      expect(job.status, job.logs).toBe('finished');
      writeFileSync(files.path('linked-job.pdf'), job.output);
      expect(pdfText(job.output, 'linked-text.pdf')).toContain('Visible body text');
      expect(images(files.path('linked-job.pdf'))).toEqual([]);
    },
  );

  // No control run here: LibreOffice 7.4's headless conversion on the host
  // ran neither this macro nor the link updates even with macros allowed and
  // links set to always update, so this is a guard against a LibreOffice that
  // starts to, behind the profile's settings and the sandbox, not a proof
  // that either is needed.
  it('an ODT with a load macro and sections linked to host files shows only its own text', SLOW, async () => {
    // The macro would append MACRO RAN; the sections would pull in the
    // host's secret file and /etc/passwd if links were updated on load.
    execFileSync('python3', ['-c', HOSTILE_ODT, files.path('hostile.odt'), secretPath]);
    const job = await runJob(server, 'office/pdf', files.read('hostile.odt'), {
      fileName: 'hostile.odt',
      waitSeconds: 600,
    });
    expect(job.status, job.logs).toBe('finished');
    const text = pdfText(job.output, 'hostile.pdf');
    expect(text).toContain('Visible body text');
    expect(text).not.toContain('MACRO RAN');
    expect(text).not.toContain(secretWord);
    expect(text).not.toMatch(/root:x:0/);
  });
});

describe('Typst', () => {
  /** The host's name, looked for in the logs when it is long enough not to turn up by chance. */
  const hostname = readFileSync('/etc/hostname', 'utf8').trim();
  const hostImage = files.path('typst-host.png');
  const attacks: Record<string, string> = {
    'read("/etc/hostname")': '#read("/etc/hostname")',
    'read() of a host file by its absolute path': `#read("${secretPath}")`,
    'read("../../etc/passwd")': '#read("../../etc/passwd")',
    'read() climbing out with ../ to a host file': `#read("${'../'.repeat(12)}${secretPath.slice(1)}")`,
    'image() of a host image by its absolute path': `#image("${hostImage}")`,
    'image() climbing out with ../ to a host image': `#image("${'../'.repeat(12)}${hostImage.slice(1)}")`,
  };

  beforeAll(() => {
    execFileSync('/usr/bin/convert', ['-size', '90x60', 'xc:blue', hostImage]);
  });

  it('the attacks work with the project root at / (control: the same tool on the host)', SLOW, () => {
    const dir = files.path('typst-control');
    mkdirSync(dir);
    writeFileSync(`${dir}/reads.typ`, `#read("${secretPath}")\n#image("${hostImage}")\n`);
    const pdf = execFileSync(
      process.execPath,
      [new URL('../tools/typst-pdf.mjs', import.meta.url).pathname, '/', `${dir.slice(1)}/reads.typ`],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    expect(pdfText(pdf, 'typst-control.pdf')).toContain(secretWord);
    writeFileSync(files.path('typst-control.pdf'), pdf);
    expect(
      execFileSync('pdfimages', ['-list', files.path('typst-control.pdf')], { encoding: 'utf8' }),
    ).toMatch(/\s90\s+60\s/);
  });

  it(
    'as jobs, none reads a host file: each fails naming the path, with no host data anywhere',
    SLOW,
    async () => {
      const jobs = await Promise.all(
        Object.values(attacks).map((source) =>
          runJob(server, 'typst/pdf', `= Title\n${source}\n`, { fileName: 'reads.typ', waitSeconds: 600 }),
        ),
      );
      Object.keys(attacks).forEach((name, i) => {
        const job = jobs[i]!;
        expect(job.status, `${name}: ${job.logs}`).toBe('failed');
        expect(job.output.length, name).toBe(0);
        // The compiler's own words: the path is looked up inside the project, or refused.
        expect(job.logs, name).toMatch(
          /input\.typ:2:\d+: error: (file not found \(searched at \/in\/files\/|failed to load file \(access denied\), hints: cannot read file outside of project root)/,
        );
        expect(job.logs, name).not.toContain(secretWord);
        expect(job.logs, name).not.toMatch(/root:x:0/);
        if (hostname.length >= 4) expect(job.logs, name).not.toContain(hostname);
      });
    },
  );

  it('an @preview import downloads nothing and says why', SLOW, async () => {
    const job = await runJob(server, 'typst/pdf', '#import "@preview/example:0.1.0": add\n', {
      fileName: 'pkg.typ',
      waitSeconds: 600,
    });
    expect(job.status).toBe('failed');
    expect(job.logs).toMatch(/@preview\/example:0\.1\.0 cannot be downloaded: jobs run without network/);
  });
});

/** Python that writes an ODT whose only image is a link to a file (argv[2]). */
const LINKED_IMAGE_ODT = `
import sys, zipfile
out, target = sys.argv[1], sys.argv[2]
content = '''<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.2">
<office:body><office:text>
<text:p>Visible body text</text:p>
<text:p><draw:frame draw:name="Linked" text:anchor-type="as-char" svg:width="4cm" svg:height="3cm"><draw:image xlink:href="file://%s" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame></text:p>
</office:text></office:body></office:document-content>''' % target
manifest = '''<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>'''
with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr(zipfile.ZipInfo('mimetype'), 'application/vnd.oasis.opendocument.text')
    z.writestr('META-INF/manifest.xml', manifest)
    z.writestr('content.xml', content)
`;

/** Python that writes an ODT with a Basic macro bound to load and two linked sections. */
const HOSTILE_ODT = `
import sys, zipfile
out, secret = sys.argv[1], sys.argv[2]
content = '''<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.2">
<office:scripts><office:event-listeners><script:event-listener script:language="ooo:script" script:event-name="dom:load" xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document"/></office:event-listeners></office:scripts>
<office:body><office:text>
<text:p>Visible body text</text:p>
<text:section text:name="Linked"><text:section-source xlink:href="file://%s" xlink:type="simple" text:filter-name="Text"/><text:p>cached one</text:p></text:section>
<text:section text:name="Passwd"><text:section-source xlink:href="file:///etc/passwd" xlink:type="simple" text:filter-name="Text"/><text:p>cached two</text:p></text:section>
</office:text></office:body></office:document-content>''' % secret
libraries = '''<?xml version="1.0" encoding="UTF-8"?>
<library:libraries xmlns:library="http://openoffice.org/2000/library" xmlns:xlink="http://www.w3.org/1999/xlink"><library:library library:name="Standard" library:link="false"/></library:libraries>'''
library = '''<?xml version="1.0" encoding="UTF-8"?>
<library:library xmlns:library="http://openoffice.org/2000/library" library:name="Standard" library:readonly="false" library:passwordprotected="false"><library:element library:name="Module1"/></library:library>'''
module = '''<?xml version="1.0" encoding="UTF-8"?>
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">Sub Main
ThisComponent.getText().getEnd().setString(&quot;MACRO RAN&quot;)
Shell(&quot;sh -c &apos;echo pwned &gt; /tmp/macro-ran&apos;&quot;)
End Sub
</script:module>'''
manifest = '''<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="Basic/script-lc.xml" manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="Basic/Standard/script-lb.xml" manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="Basic/Standard/Module1.xml" manifest:media-type="text/xml"/>
</manifest:manifest>'''
with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr(zipfile.ZipInfo('mimetype'), 'application/vnd.oasis.opendocument.text')
    z.writestr('META-INF/manifest.xml', manifest)
    z.writestr('content.xml', content)
    z.writestr('Basic/script-lc.xml', libraries)
    z.writestr('Basic/Standard/script-lb.xml', library)
    z.writestr('Basic/Standard/Module1.xml', module)
`;
