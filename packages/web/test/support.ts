/**
 * What the dashboard's browser tests share: a real bsubio server with test
 * types, Debian's Chromium, a user who signs in with a password, API calls
 * as that user, and checks every page must pass (no sideways scrolling, no
 * serious axe-core finding).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { shellType, writeTypesFile } from '../../server/test/test-types.js';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const SHOTS = join(ROOT, 'docs', 'screenshots');
export const EMAIL = 'web@example.com';
export const PASSWORD = 'dashboard password';
/** Generous: a slow VM shared with other builds. */
export const UI_TIMEOUT = 60_000;
export const MIB = 1024 * 1024;

/** The CSP of every dashboard page; an HTML preview must work without changing it. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; object-src 'self' blob:; frame-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Types the tests need: slow ones to watch, an HTML page with its own CSS, a 200 MiB text, a PDF-only one. */
export function writeDashboardTypes(): string {
  const html =
    '<!doctype html><html><head><title>styled</title><style>h1{color:rgb(200, 30, 40);font-family:serif}</style></head><body><h1 id=styled>Styled by its own CSS</h1></body></html>';
  return writeTypesFile([
    shellType(
      'test/long',
      'Long copy',
      'Logs a start line, sleeps 120 s, then copies the input.',
      'echo started >&2; sleep 120; cat "$0"',
    ),
    shellType(
      'test/chatty',
      'Chatty copy',
      'Three log lines over time, then the input.',
      'for i in 1 2 3; do echo "line $i" >&2; sleep 0.7; done; cat "$0"',
    ),
    {
      ...shellType('test/html', 'HTML page', 'An HTML page with a style sheet.', `printf '%s' '${html}'`),
      mime_out: ['text/html'],
      ext: '.html',
      display: 'html',
    },
    {
      ...shellType(
        'test/big',
        'Big text',
        '200 MiB of text.',
        'head -c 209715200 /dev/zero | tr "\\000" "a"',
      ),
      limits: { wall_seconds: 120, memory_mb: 256, output_mb: 256 },
      requires: ['sh', 'head', 'tr'],
    },
    {
      ...shellType('test/pdf-only', 'PDF only', 'Takes PDF documents only.', 'cat "$0"'),
      mime_in: ['application/pdf'],
    },
    shellType(
      'test/fail',
      'Failing',
      'Complains and exits 3.',
      'echo "the input is not a recipe" >&2; exit 3',
    ),
    {
      ...shellType(
        'test/json',
        'JSON',
        'Writes a JSON document.',
        `printf '{"ok":true,"items":[1,2,3],"nested":{"name":"deep"}}'`,
      ),
      mime_out: ['application/json'],
      ext: '.json',
      display: 'json',
    },
    {
      ...shellType(
        'test/params',
        'With a parameter',
        'Repeats the input N times.',
        'for i in $(seq {param:times}); do cat "$0"; done',
      ),
      params: [
        {
          name: 'times',
          type: 'integer',
          description: 'How many copies.',
          minimum: 1,
          maximum: 5,
          default: 2,
        },
      ],
      requires: ['sh', 'seq', 'cat'],
    },
  ]);
}

export interface Dashboard {
  server: TestServer;
  browser: Browser;
  /** The API key of the password user, for calls "from the API". */
  key: string;
  newPage(options?: { width?: number; height?: number; dark?: boolean }): Promise<Page>;
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Create, upload and submit a job from the API (several types: a pipeline); returns its id. */
  submit(type: string | string[], content?: string | Buffer, name?: string): Promise<string>;
  close(): Promise<void>;
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function startDashboard(env: Record<string, string> = {}): Promise<Dashboard> {
  mkdirSync(SHOTS, { recursive: true });
  const [server, browser] = await Promise.all([
    startServer({ env: { BSUBIO_TYPES_FILE: writeDashboardTypes(), ...env } }),
    chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
  ]);
  const key = await server.addUser(EMAIL, PASSWORD);
  const contexts: BrowserContext[] = [];
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) },
    });
  return {
    server,
    browser,
    key,
    api,
    async newPage({ width = 1280, height = 800, dark = false } = {}) {
      const context = await browser.newContext({
        acceptDownloads: true,
        viewport: { width, height },
        colorScheme: dark ? 'dark' : 'light',
      });
      context.setDefaultTimeout(UI_TIMEOUT);
      contexts.push(context);
      const page = await context.newPage();
      page.on('dialog', (dialog) => void dialog.accept());
      return page;
    },
    async submit(type, content = 'input\n', name = 'input.txt') {
      const [first, ...rest] = [type].flat();
      const body: Record<string, unknown> = { type: first };
      // biome-ignore lint/suspicious/noThenProperty: the API's field (an array, never a thenable's method)
      if (rest.length > 0) body.then = rest.map((t) => ({ type: t }));
      const created = await api('/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const job = ((await created.json()) as { data: { id: string; upload_token: string } }).data;
      const form = new FormData();
      form.append('file', new Blob([typeof content === 'string' ? content : new Uint8Array(content)]), name);
      const uploaded = await fetch(`${server.url}/v1/upload/${job.id}?token=${job.upload_token}`, {
        method: 'POST',
        body: form,
      });
      if (uploaded.status !== 200) throw new Error(`upload: ${uploaded.status} ${await uploaded.text()}`);
      const submitted = await api(`/v1/jobs/${job.id}/submit`, { method: 'POST' });
      if (submitted.status !== 200) throw new Error(`submit: ${submitted.status}`);
      return job.id;
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await browser.close();
      await server.cleanup();
    },
  };
}

/** Sign in with the password form (from any page: it sends to /login). */
export async function signIn(page: Page, url: string, next = '/'): Promise<void> {
  await page.goto(`${url}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email', { exact: true }).fill(EMAIL);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#who').waitFor();
}

/** How far the page scrolls sideways (0 when it fits). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  const source = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  // Injected through the DevTools protocol, so the page's CSP (script-src 'self') does not block it.
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run(ctx: Document, options: object): Promise<{ violations: AxeViolation[] }> };
      }
    ).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
