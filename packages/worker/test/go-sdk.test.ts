/**
 * The official bsub.io Go SDK's own tests, unchanged, in their live mode
 * (BSUB_TEST_MODE=production) against a local server: they create jobs of
 * type test/linecount and read the result straight after submit.
 *
 * Needs the SDK prepared by `scripts/go-sdk-setup.sh` (Go 1.19 from Debian,
 * GOPATH mode, offline); BSUBIO_GO_SDK_GOPATH names it when not the default.
 * Without it this file is skipped, saying how to get it; the wire requests
 * the SDK makes are also replayed by sdk-requests.test.ts, which always runs.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratch, startServer, type TestServer } from './support.js';

const GOPATH = process.env.BSUBIO_GO_SDK_GOPATH ?? '/tmp/bsubio-go-sdk/gopath';
const SDK_DIR = join(GOPATH, 'src', 'github.com', 'bsubio', 'bsubio-go');
const GO_ROOT_BIN = '/usr/lib/go-1.19/bin';
const ready = existsSync(join(SDK_DIR, 'client_test.go')) && existsSync(join(GO_ROOT_BIN, 'go'));

/** The SDK's tests that reach the server (the rest test the client alone). */
const LIVE_TESTS = [
  'TestNewBsubClient_AuthInterceptor',
  'TestCreateAndSubmitJob',
  'TestGetJobResult',
  'TestProcess',
  'TestCreateAndSubmitJobFromFile',
  'TestProcessFile',
  'TestIntegration_RealJobTypes',
];

describe.skipIf(!ready)('the official Go SDK (run scripts/go-sdk-setup.sh to enable)', () => {
  let server: TestServer;
  const files = scratch();

  beforeAll(async () => {
    server = await startServer({ env: { BSUBIO_WORKERS: '2' } });
  });
  afterAll(async () => {
    await server?.cleanup();
    files.cleanup();
  });

  it('passes its live tests, unchanged, against bsubio', { timeout: 600_000 }, async () => {
    // The SDK reads its key and server from ~/.config/bsubio/config.json.
    const home = files.path('home');
    mkdirSync(join(home, '.config', 'bsubio'), { recursive: true });
    writeFileSync(
      join(home, '.config', 'bsubio', 'config.json'),
      JSON.stringify({ api_key: server.apiKey, base_url: server.url }),
    );
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(
        join(GO_ROOT_BIN, 'go'),
        ['test', '-count=1', '-v', '.'],
        {
          cwd: SDK_DIR,
          maxBuffer: 64 * 1024 * 1024,
          env: {
            PATH: `${GO_ROOT_BIN}:/usr/bin:/bin`,
            HOME: home,
            GO111MODULE: 'off',
            GOPATH: `${GOPATH}:/usr/share/gocode`,
            GOCACHE: join(GOPATH, '..', 'cache'),
            GOFLAGS: '',
            BSUB_TEST_MODE: 'production',
          },
        },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
      );
    });
    expect(output, output).not.toMatch(/^--- FAIL/m);
    expect(code, output).toBe(0);
    for (const name of LIVE_TESTS) {
      // Passed, not skipped: a skip would mean the config was not found.
      expect(output, `${name}\n${output}`).toMatch(new RegExp(`^--- PASS: ${name} `, 'm'));
    }
    // Every linecount job ran through the real tool and counted right.
    expect(output).toMatch(/Line count output: 5\b/);
  });
});
