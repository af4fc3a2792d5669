/**
 * Every ```ts example of the README type-checks against the built package
 * (as a Node user without the DOM lib would compile it) and runs to
 * completion against a real bsubio server, configured the way a user's
 * would be: through BSUBIO_BASE_URL and BSUBIO_API_KEY.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { STARTUP_MS } from './helpers/startup.js';

const run = promisify(execFile);
const PACKAGE_DIR = join(import.meta.dirname, '..');
const TSC = join(PACKAGE_DIR, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc');

const examples = [
  ...readFileSync(join(PACKAGE_DIR, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g),
].map((m) => m[1]!);

/** Misuse the types must reject (each `@ts-expect-error` fails the check if the line compiles). */
const MISUSE = `
import { BsubClient, type BsubError, JobsApi, Configuration } from 'bsubio';
const client = new BsubClient();
const jobs = new JobsApi(new Configuration({ host: 'http://127.0.0.1:9986' }));
// @ts-expect-error: there is no "cancelled" state on the wire
await jobs.listJobs({ status: 'cancelled' });
// @ts-expect-error: input must be bytes, a Blob, a stream or a path
await client.processFile('passthru', 42);
const saved = await client.processFile('passthru', 'in.txt', { outputTo: 'out.txt' });
// @ts-expect-error: output went to the file, there are no bytes to read
saved.output;
const kept = await client.processFile('passthru', 'in.txt');
kept.output satisfies Uint8Array;
declare const error: BsubError;
// @ts-expect-error: not an error kind
if (error.kind === 'not-found') {}
// @ts-expect-error: createJob takes the request object, as in the official SDKs
await jobs.createJob('passthru');
`;

let server: TestServer;
let dir: string;

beforeAll(async () => {
  server = await startServer({ startTimeoutMs: STARTUP_MS });
  // Inside the package, so that `import 'bsubio'` resolves to it as it would from node_modules.
  dir = mkdtempSync(join(PACKAGE_DIR, 'test', '.readme-'));
  mkdirSync(join(dir, 'home'));
  for (const [i, code] of examples.entries()) writeFileSync(join(dir, `example-${i}.mts`), code);
  writeFileSync(join(dir, 'misuse.mts'), MISUSE);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2023'],
        types: ['node'],
        strict: true,
        // The misuse file's @ts-expect-error lines fail if the declarations
        // did not resolve (types silently turning into any), so the library
        // files need not be checked one by one (slow on a 2-core machine).
        skipLibCheck: true,
        rootDir: '.',
        outDir: 'out',
      },
      include: ['*.mts'],
    }),
  );
}, STARTUP_MS + 30_000);
afterAll(async () => {
  await server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('README examples', () => {
  it('has an example for every method', () => {
    const all = examples.join('\n');
    for (const method of [
      'processFile',
      'createAndSubmit',
      'waitForJob',
      'listAllJobs',
      'downloadOutput',
      'createJob',
      'uploadJobData',
      'submitJob',
      'getJob',
      'listJobs',
      'cancelJob',
      'deleteJob',
      'getJobOutput',
      'streamJobOutput',
      'getJobLogs',
      'getTypes',
      'getVersion',
    ]) {
      expect(all, method).toMatch(new RegExp(`\\.${method}\\(`));
    }
  });

  it('type-check with the published declarations, and misuse does not', async () => {
    const result = await run(process.execPath, [TSC, '-p', dir]).catch((e) => e);
    expect(result.stdout).toBe('');
  }, 240_000);

  it('run against a real server', async () => {
    const env = {
      ...process.env,
      HOME: join(dir, 'home'),
      BSUBIO_BASE_URL: server.url,
      BSUBIO_API_KEY: server.apiKey,
    };
    for (let i = 0; i < examples.length; i++) {
      const { stdout } = await run(process.execPath, [join(dir, 'out', `example-${i}.mjs`)], {
        env,
        cwd: dir,
      });
      expect(stdout.length, `example ${i}:\n${examples[i]}`).toBeGreaterThan(0);
    }
  }, 600_000);
});
