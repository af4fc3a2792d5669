/**
 * The dashboard in a real browser (Debian's headless Chromium) against a
 * real bsubio server, as a person uses it: sign in, upload, watch jobs live,
 * preview, download, cancel, keys, and approving `bsubio register`.
 * One server and one browser for the file.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf } from '../../../test/support/pdf.js';
import {
  type Dashboard,
  EMAIL,
  horizontalOverflow,
  PASSWORD,
  ROOT,
  shot,
  startDashboard,
  UI_TIMEOUT,
} from './support.js';

const run = promisify(execFile);
const CLI_BIN = join(ROOT, 'packages', 'cli', 'bin', 'bsubio.js');

let dash: Dashboard;
let page: Page;
let cliHome: string;
const children: ChildProcess[] = [];
const consoleErrors: string[] = [];

/** Drops files on the drop zone the way a browser does: a drop event carrying a DataTransfer. */
async function dropFiles(files: { name: string; type: string; base64: string }[]): Promise<void> {
  await page.evaluate((list) => {
    const transfer = new DataTransfer();
    for (const file of list) {
      const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], file.name, { type: file.type }));
    }
    const zone = document.getElementById('drop')!;
    zone.dispatchEvent(
      new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }),
    );
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, files);
}

beforeAll(async () => {
  cliHome = mkdtempSync(join(tmpdir(), 'bsubio-cli-home-'));
  dash = await startDashboard();
  page = await dash.newPage({ width: 1280, height: 800 });
  page.on('console', (message) => {
    // Answers such as a 404 for an unknown job are expected; script errors are not.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      consoleErrors.push(message.text());
    }
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await dash?.close();
  if (cliHome) rmSync(cliHome, { recursive: true, force: true });
});

describe('dashboard', () => {
  it('asks to sign in, then signs in with email and password and goes where it was asked', async () => {
    await page.goto(`${dash.server.url}/upload?type=test/chatty`);
    await page.waitForURL(/\/login\?next=/);
    await page.getByRole('heading', { name: 'Sign in to bsubio' }).waitFor();
    const icon = await fetch(
      new URL((await page.locator('link[rel="icon"]').getAttribute('href'))!, dash.server.url),
    );
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    // Both forms alike: each button under its last field, not beside it when it happens to fit.
    for (const [field, button] of [
      ['Password', 'Sign in'],
      ['API key', 'Sign in with key'],
    ]) {
      const input = (await page.getByLabel(field!, { exact: true }).boundingBox())!;
      const submit = (await page.getByRole('button', { name: button, exact: true }).boundingBox())!;
      expect(submit.y, `${button} is below ${field}`).toBeGreaterThanOrEqual(input.y + input.height);
    }
    await page.getByLabel('Email', { exact: true }).fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill('dashboard password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Upload files' }).waitFor();
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/upload?type=test/chatty');
    expect(await page.locator('#who').textContent()).toBe(EMAIL);
    const session = (await page.context().cookies()).find((c) => c.name === 'bsubio_session')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Strict');
  });

  it('sends /login onwards when signed in, and never off-site whatever ?next= says', async () => {
    await page.goto(`${dash.server.url}/login`);
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    for (const next of ['/%5Cevil.example', '/\\evil.example', '//evil.example', 'https://evil.example/']) {
      await page.goto(`${dash.server.url}/login?next=${encodeURIComponent(next)}`);
      await page.waitForURL((url) => url.pathname !== '/login');
      await page.getByRole('heading', { name: 'Jobs' }).waitFor();
      expect(page.url()).toBe(`${dash.server.url}/`);
    }
    expect(consoleErrors).toEqual([]);
  });

  it('shows its own page for an unknown address or job id, and JSON to the API', async () => {
    const nope = await page.goto(`${dash.server.url}/nope`);
    expect(nope!.status()).toBe(404);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    await page.goto(`${dash.server.url}/jobs/abc`);
    await page.getByRole('heading', { name: 'No such job' }).waitFor();
    await page.goto(`${dash.server.url}/jobs/01900000-0000-7000-8000-000000000000`);
    await page.getByRole('heading', { name: 'No such job' }).waitFor();
    const api = await fetch(`${dash.server.url}/v1/nope`, { headers: { accept: 'text/html' } });
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toContain('application/json');
  });

  it("takes /jobs, where a job page's address leads without its id, to the jobs list with its filter", async () => {
    for (const path of ['/jobs', '/jobs/']) {
      await page.goto(`${dash.server.url}${path}?state=failed`);
      await page.getByRole('heading', { name: 'Jobs' }).waitFor();
      expect(page.url()).toBe(`${dash.server.url}/?state=failed`);
    }
    const api = await fetch(`${dash.server.url}/jobs`, { redirect: 'manual' });
    expect(api.status).toBe(302);
    expect(api.headers.get('location')).toBe('/');
  });

  it('signed in with an API key, keys and devices say why they need a password and lead to it, then back', async () => {
    const keyPage = await dash.newPage({ width: 390, height: 844 });
    try {
      await keyPage.goto(`${dash.server.url}/login`);
      await keyPage.getByLabel('API key', { exact: true }).fill(dash.key);
      await keyPage.getByRole('button', { name: 'Sign in with key' }).click();
      await keyPage.getByRole('heading', { name: 'Jobs' }).waitFor();
      for (const [path, title] of [
        ['/device?code=ABCD-EFGH', 'Approve a device'],
        ['/keys', 'API keys'],
      ] as const) {
        await keyPage.goto(`${dash.server.url}${path}`);
        await keyPage.getByRole('heading', { name: title }).waitFor();
        await keyPage.getByRole('heading', { name: 'Sign in with your password for this' }).waitFor();
        // No form that could only fail, no list left "Loading…".
        expect(await keyPage.getByRole('button', { name: /Create key|Look up/ }).count()).toBe(0);
        expect(await keyPage.getByText('Loading keys…').count()).toBe(0);
        expect(await keyPage.getByText(`bsubio-server user password ${EMAIL}`).count()).toBe(1);
        expect(await horizontalOverflow(keyPage)).toBe(0);
      }
      await keyPage.getByRole('button', { name: 'Sign in with a password' }).click();
      await keyPage.waitForURL(/\/login\?next=%2Fkeys$/);
      await keyPage.getByLabel('Email', { exact: true }).fill(EMAIL);
      await keyPage.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await keyPage.getByRole('button', { name: 'Sign in', exact: true }).click();
      await keyPage.getByRole('button', { name: 'Create key' }).waitFor();
      expect(new URL(keyPage.url()).pathname).toBe('/keys');
    } finally {
      await keyPage.close();
    }
  });

  it('uploads a dropped PDF with its type proposed from its bytes, and submits it', async () => {
    await page.getByRole('link', { name: 'Upload', exact: true }).first().click();
    await page.getByRole('heading', { name: 'Upload files' }).waitFor();
    await page.getByLabel('Processing type').selectOption('');
    await dropFiles([
      {
        name: 'hello.pdf',
        type: 'application/pdf',
        base64: makePdf('Hello from the dashboard').toString('base64'),
      },
    ]);
    await page.getByText('a PDF document').waitFor();
    await expect
      .poll(() => page.getByLabel('Type for hello.pdf').inputValue(), { timeout: UI_TIMEOUT })
      .toBe('pdf/extract');
    await page.getByRole('button', { name: 'Upload and submit' }).click();
    const link = page.getByRole('link', { name: 'submitted — view job' });
    await link.waitFor();
    await shot(page, 'upload');
    await link.click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  });

  it('shows the job finish live and previews its text output', async () => {
    await page.locator('.title-row .state-finished').waitFor();
    await page.locator('pre.output', { hasText: 'Hello from the dashboard' }).waitFor();
    await page.locator('.timeline .step-finished.reached').waitFor();
    // The command line it offers works in the real CLI.
    const command = (await page
      .locator('.details dd', { hasText: /^bsubio / })
      .locator('code')
      .textContent())!;
    expect(command).toMatch(/^bsubio cat [0-9a-f-]{36}$/);
    const { stdout } = await run(process.execPath, [CLI_BIN, ...command.split(' ').slice(1)], {
      env: { ...process.env, HOME: cliHome, BSUBIO_API_KEY: dash.key, BSUBIO_BASE_URL: dash.server.url },
    });
    expect(stdout).toContain('Hello from the dashboard');
  });

  it('downloads the output', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download output' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('hello.txt');
    expect(readFileSync(await download.path(), 'utf8')).toContain('Hello from the dashboard');
  });

  it('cancels a long job while its logs stream in, and shows it as cancelled', async () => {
    const id = await dash.submit('test/long', 'slow\n', 'long.txt');
    await page.goto(`${dash.server.url}/jobs/${id}`);
    await page.locator('#logs', { hasText: 'started' }).waitFor();
    await page.locator('.title-row .state-processing').waitFor();
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.locator('.title-row .state-cancelled').waitFor();
    await page.locator('.details .error-text', { hasText: 'ECANCELED' }).waitFor();
    await page.getByLabel('Search the logs').fill('start');
    await page.getByText(/^1 of \d+ lines match\.$/).waitFor();
    await page.getByLabel('Search the logs').fill('nothing like this');
    await page.locator('#logs', { hasText: 'no line contains' }).waitFor();
    await shot(page, 'job-cancelled');
  });

  it('creates a key shown once, which works, then revokes it', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await page.getByLabel('Label').fill('laptop');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.locator('#new-key-value').inputValue();
    expect(key).toMatch(/^bsub_[0-9a-f]{12}_/);
    const withKey = () =>
      fetch(`${dash.server.url}/v1/jobs`, { headers: { authorization: `Bearer ${key}` } });
    expect((await withKey()).status).toBe(200);
    const prefix = key.split('_')[1]!;
    await page.locator(`tr[data-key="${prefix}"]`).waitFor();
    await page.getByRole('button', { name: `Revoke key bsub_${prefix}` }).click();
    await page.locator(`tr[data-key="${prefix}"]`).waitFor({ state: 'detached' });
    expect((await withKey()).status).toBe(401);
  });

  it('approves bsubio register from a second process, with focus kept off Approve', async () => {
    const cli = spawn(process.execPath, [CLI_BIN, 'register', '--base-url', dash.server.url], {
      env: {
        ...process.env,
        HOME: cliHome,
        DISPLAY: '',
        WAYLAND_DISPLAY: '',
        BSUBIO_API_KEY: '',
        BSUBIO_BASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(cli);
    let stderr = '';
    const code = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no code from register:\n${stderr}`)), UI_TIMEOUT);
      cli.stderr!.on('data', (d: Buffer) => {
        stderr += d;
        const match = /code: ([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    expect(stderr).toContain(`${dash.server.url}/device`);
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));

    await page.goto(`${dash.server.url}/device?code=${code}`);
    await page.getByRole('button', { name: 'Approve' }).waitFor();
    // A stray Enter right after the lookup must not approve anything.
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.className), { timeout: UI_TIMEOUT })
      .toBe('device-question');
    await page.keyboard.press('Enter');
    expect(await page.getByRole('button', { name: 'Approve' }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('#device-result').getByText('Approved.').waitFor();

    expect(await exited).toBe(0);
    expect(stderr).toContain(`Signed in as ${EMAIL}`);
    const configPath = join(cliHome, '.config', 'bsubio', 'config.json');
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    const { stdout } = await run(process.execPath, [CLI_BIN, 'jobs', '--json'], {
      env: { ...process.env, HOME: cliHome, BSUBIO_API_KEY: '', BSUBIO_BASE_URL: '' },
    });
    expect(stdout).toContain('pdf/extract');
  });

  it('knows office documents from plain ZIP files by what is inside, and proposes a type for each', async () => {
    // Real documents, made by the real tools.
    const work = mkdtempSync(join(tmpdir(), 'bsubio-office-'));
    try {
      writeFileSync(join(work, 'note.md'), '# Note\n\nA *real* document.\n');
      await run('pandoc', [join(work, 'note.md'), '-o', join(work, 'note.docx')]);
      await run('pandoc', [join(work, 'note.md'), '-o', join(work, 'note.odt')]);
      await run('python3', [
        '-c',
        `import zipfile; zipfile.ZipFile('${join(work, 'pages.zip')}', 'w').writestr('a.txt', 'x')`,
      ]);
      const { types } = (await (await dash.api('/v1/types')).json()) as {
        types: { type: string; input: { mime_in: string[] }; available?: boolean }[];
      };
      const firstTaking = (mime: string) =>
        types.find((t) => t.available !== false && t.input.mime_in.includes(mime))!.type;
      await page.goto(`${dash.server.url}/upload`);
      await page.getByRole('heading', { name: 'Upload files' }).waitFor();
      await page.getByLabel('Processing type').selectOption('');
      await dropFiles(
        ['note.docx', 'note.odt', 'pages.zip'].map((name) => ({
          name,
          type: '',
          base64: readFileSync(join(work, name)).toString('base64'),
        })),
      );
      const expected = [
        [
          'note.docx',
          'a Word (.docx) document',
          'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        ],
        ['note.odt', 'an OpenDocument text', 'application/vnd.oasis.opendocument.text'],
        ['pages.zip', 'a ZIP archive', 'application/zip'],
      ];
      for (const [name, label, mime] of expected) {
        await page.locator('.file-entry', { hasText: name! }).getByText(label!).waitFor();
        expect(await page.getByLabel(`Type for ${name}`).inputValue()).toBe(firstTaking(mime!));
      }
      expect(firstTaking(expected[0]![2]!)).not.toBe(firstTaking('application/zip'));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('has logged no script error on any of these pages', () => {
    expect(consoleErrors).toEqual([]);
  });
});
