/**
 * The dashboard in a real browser (Debian's headless Chromium) against a real
 * bsubio server: sign in, drop a PDF, watch it finish live, preview and
 * download the output, cancel a long job, create and revoke a key, and
 * approve `bsubio register` started from a second process. One server and
 * one browser for the whole file; each step leaves a screenshot in
 * docs/screenshots/ for people to look at.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf } from '../../../test/support/pdf.js';
import { SERVER_BIN, startServer, type TestServer } from '../../../test/support/server.js';
import { writeLiveTypesFile } from '../../server/test/test-types.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const SHOTS = join(ROOT, 'docs', 'screenshots');
const CLI_BIN = join(ROOT, 'packages', 'cli', 'bin', 'bsubio.js');
const EMAIL = 'web@example.com';
const PASSWORD = 'dashboard password';
/** Generous: a slow VM with other builds running. */
const UI_TIMEOUT = 60_000;

let server: TestServer;
let browser: Browser;
let page: Page;
let cliHome: string;
const children: ChildProcess[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

function addUserWithPassword(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER_BIN, 'user', 'add', EMAIL, '--password'], {
      env: { ...process.env, HOME: server.home, BSUBIO_DATA_DIR: server.dataDir },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`user add: ${code} ${err}`))));
    child.stdin!.end(`${PASSWORD}\n`);
  });
}

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
  mkdirSync(SHOTS, { recursive: true });
  cliHome = mkdtempSync(join(tmpdir(), 'bsubio-cli-home-'));
  const [started, launched] = await Promise.all([
    startServer({ env: { BSUBIO_TYPES_FILE: writeLiveTypesFile(0.6, 120) } }),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    }),
  ]);
  server = started;
  browser = launched;
  await addUserWithPassword();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 760 } });
  context.setDefaultTimeout(UI_TIMEOUT);
  page = await context.newPage();
  page.on('dialog', (dialog) => void dialog.accept());
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await browser?.close();
  await server?.cleanup();
  if (cliHome) rmSync(cliHome, { recursive: true, force: true });
});

describe('dashboard', () => {
  let pdfJobUrl = '';

  it('asks to sign in, then signs in with email and password', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForURL(/\/login/);
    await page.getByRole('heading', { name: 'Sign in to bsubio' }).waitFor();
    await shot('login');
    await page.getByLabel('Email', { exact: true }).fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    expect(await page.locator('#who').textContent()).toBe(EMAIL);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'bsubio_session')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Strict');
  });

  it('uploads a dropped PDF with progress and submits it', async () => {
    await page.getByRole('link', { name: 'Upload', exact: true }).first().click();
    await page.getByRole('heading', { name: 'Upload files' }).waitFor();
    await page.locator('#upload-type option[value="pdf/extract"]').waitFor({ state: 'attached' });
    await page.getByLabel('Processing type').selectOption('pdf/extract');
    await dropFiles([
      {
        name: 'hello.pdf',
        type: 'application/pdf',
        base64: makePdf('Hello from the dashboard').toString('base64'),
      },
    ]);
    await page.getByText('hello.pdf').waitFor();
    await page.getByRole('button', { name: 'Upload and submit' }).click();
    const link = page.getByRole('link', { name: 'submitted — view job' });
    await link.waitFor();
    expect(await page.locator('progress').evaluate((p: HTMLProgressElement) => p.value === p.max)).toBe(true);
    await shot('upload');
    await link.click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    pdfJobUrl = page.url();
  });

  it('shows the job finish live and previews its text output', async () => {
    await page.locator('.details .state-finished').waitFor();
    await page.locator('pre.output', { hasText: 'Hello from the dashboard' }).waitFor();
    await shot('job');
  });

  it('downloads the output', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download output' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('hello.txt');
    const path = await download.path();
    expect(readFileSync(path, 'utf8')).toContain('Hello from the dashboard');
  });

  it('cancels a long job while its logs stream in', async () => {
    await page.goto(`${server.url}/upload`);
    await page.locator('#upload-type option[value="test/long"]').waitFor({ state: 'attached' });
    await page.getByLabel('Processing type').selectOption('test/long');
    await page
      .locator('#files')
      .setInputFiles({ name: 'long.txt', mimeType: 'text/plain', buffer: Buffer.from('slow\n') });
    await page.getByRole('button', { name: 'Upload and submit' }).click();
    await page.getByRole('link', { name: 'submitted — view job' }).click();
    await page.locator('#logs', { hasText: 'started' }).waitFor();
    await page.locator('.details .state-processing').waitFor();
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.locator('.details .state-failed').waitFor();
    await page.getByText('ECANCELED', { exact: false }).waitFor();
    await shot('job-cancelled');
  });

  it('lists jobs newest first with their state, filters them, and fits a phone', async () => {
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.locator('tr[data-job]').nth(1).waitFor();
    const types = await page.locator('tr[data-job] td[data-label="Type"]').allTextContents();
    expect(types).toEqual(['test/long', 'pdf/extract']);
    await page.getByLabel('State', { exact: true }).selectOption('finished');
    await page.waitForURL(/status=finished/);
    await expect.poll(() => page.locator('tr[data-job]').count(), { timeout: UI_TIMEOUT }).toBe(1);
    await page.getByLabel('State', { exact: true }).selectOption('');
    await expect.poll(() => page.locator('tr[data-job]').count(), { timeout: UI_TIMEOUT }).toBe(2);
    await shot('jobs');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot('jobs-phone');
    await page.goto(pdfJobUrl);
    await page.locator('pre.output').waitFor();
    await shot('job-phone');
    await page.setViewportSize({ width: 1100, height: 760 });
  });

  it('creates a key shown once, which works, then revokes it', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await page.getByLabel('Label').fill('laptop');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.locator('#new-key-value').inputValue();
    expect(key).toMatch(/^bsub_[0-9a-f]{12}_/);
    const withKey = () => fetch(`${server.url}/v1/jobs`, { headers: { authorization: `Bearer ${key}` } });
    expect((await withKey()).status).toBe(200);
    const prefix = key.split('_')[1]!;
    await page.locator(`tr[data-key="${prefix}"]`).waitFor();
    await shot('keys');
    await page.getByRole('button', { name: `Revoke key bsub_${prefix}` }).click();
    await page.locator(`tr[data-key="${prefix}"]`).waitFor({ state: 'detached' });
    expect((await withKey()).status).toBe(401);
  });

  it('approves bsubio register from a second process, which then works with the saved key', async () => {
    const cli = spawn(process.execPath, [CLI_BIN, 'register', '--base-url', server.url], {
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
    expect(stderr).toContain(`${server.url}/device`);
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));

    await page.goto(`${server.url}/device?code=${code}`);
    await page.getByRole('button', { name: 'Approve' }).waitFor();
    await shot('device');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('#device-result').getByText('Approved.').waitFor();
    await shot('device-approved');

    expect(await exited).toBe(0);
    expect(stderr).toContain(`Signed in as ${EMAIL}`);
    const configPath = join(cliHome, '.config', 'bsubio', 'config.json');
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as { api_key: string; base_url: string };
    expect(config.base_url).toBe(server.url);
    expect(config.api_key).toMatch(/^bsub_/);

    const { stdout } = await run(process.execPath, [CLI_BIN, 'jobs', '--json'], {
      env: { ...process.env, HOME: cliHome, BSUBIO_API_KEY: '', BSUBIO_BASE_URL: '' },
    });
    const listed = JSON.parse(stdout) as unknown;
    expect(JSON.stringify(listed)).toContain('pdf/extract');
  });
});
