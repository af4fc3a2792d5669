/**
 * The SDK in a real browser (Chromium through playwright-core): a page loads
 * the built browser entry as plain ES modules, a user picks a file, and
 * `processFile` runs it through the bsubio server and shows the output.
 * A tiny test server serves the page and the SDK and reverse-proxies `/v1/*`
 * to bsubio on the same origin (bsubio has no CORS).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { type FaultProxy, type Route, startFaultProxy } from './helpers/fault-proxy.js';
import { STARTUP_MS } from './helpers/startup.js';

const DIST = join(import.meta.dirname, '..', 'dist');
const CHROMIUM = '/usr/bin/chromium';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>bsubio in a browser</title>
<input type="file" id="file">
<button id="run">Format JSON</button>
<ol id="stages"></ol>
<pre id="output"></pre>
<p id="error"></p>
<script type="module">
  import { BsubClient } from '/sdk/browser.js';
  const apiKey = new URLSearchParams(location.search).get('key');
  const client = new BsubClient({ baseUrl: location.origin, apiKey });
  document.querySelector('#run').addEventListener('click', async () => {
    const file = document.querySelector('#file').files[0];
    try {
      const { job, output } = await client.processFile('json_format', file, {
        onProgress: (e) => {
          const last = document.querySelector('#stages').lastElementChild;
          if (last?.textContent !== e.stage) {
            document.querySelector('#stages').insertAdjacentHTML('beforeend', '<li>' + e.stage + '</li>');
          }
        },
      });
      document.querySelector('#output').dataset.job = job.id + ' ' + job.status + ' ' + job.input_name;
      document.querySelector('#output').textContent = new TextDecoder().decode(output);
    } catch (error) {
      document.querySelector('#error').textContent = error.kind + ': ' + error.message;
    }
  });
</script>`;

/** Serves the page at `/` and the built SDK under `/sdk/`. */
const site: Route = (req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    return true;
  }
  if (path.startsWith('/sdk/')) {
    const file = normalize(join(DIST, path.slice('/sdk/'.length)));
    if (!file.startsWith(DIST) || !file.endsWith('.js') || !existsSync(file)) {
      res.writeHead(404).end();
    } else {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
    }
    return true;
  }
  return false;
};

let server: TestServer;
let web: FaultProxy;
let browser: Browser;

beforeAll(async () => {
  server = await startServer({ startTimeoutMs: STARTUP_MS });
  web = await startFaultProxy(server.url, [site]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, STARTUP_MS + 30_000);
afterAll(async () => {
  await browser?.close();
  await web?.close();
  await server?.cleanup();
});

describe.skipIf(!existsSync(CHROMIUM))('in Chromium', () => {
  it('processFile runs a picked file through the server and the page shows the output', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${web.url}/?key=${encodeURIComponent(server.apiKey)}`);
    await page.setInputFiles('#file', {
      name: 'data.json',
      mimeType: 'application/json',
      buffer: Buffer.from('{"b":[1,2],"a":null}'),
    });
    await page.click('#run');
    await page.waitForFunction(
      () => document.querySelector('#output')?.textContent || document.querySelector('#error')?.textContent,
      undefined,
      { timeout: 30_000 },
    );
    expect(await page.textContent('#error')).toBe('');
    expect(JSON.parse((await page.textContent('#output')) ?? '')).toEqual({ b: [1, 2], a: null });
    expect(await page.getAttribute('#output', 'data-job')).toMatch(/ finished data\.json$/);
    expect(await page.locator('#stages li').allTextContents()).toEqual([
      'uploading',
      'waiting',
      'downloading',
    ]);
    expect(problems).toEqual([]);
    // Only the browser entry and its modules were loaded: no Node module reached the page.
    expect(web.seen.filter((r) => r.includes('platform-node'))).toEqual([]);
    await page.close();
  }, 180_000);
});
