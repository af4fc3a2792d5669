/**
 * The official bsub.io Go SDK's own tests, unchanged, in their live mode
 * (BSUB_TEST_MODE=production) against a local server: they create jobs of
 * type test/linecount and read the result straight after submit.
 *
 * Needs the SDK prepared by `scripts/go-sdk-setup.sh` (Go 1.19 from Debian,
 * GOPATH mode, offline); BSUBIO_GO_SDK_GOPATH names it when not the default.
 * Without it this file is skipped, saying how to get it; the wire requests
 * the SDK makes are also replayed by sdk-requests.test.ts, which always runs.
 * Pipeline jobs (a bsubio extension) sit in the user's list meanwhile, and a
 * small program of the SDK's own types lists and reads them.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobResult, runJob, scratch, startServer, type TestServer } from './support.js';

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
  // Made in beforeAll: the body of a skipped describe still runs (to collect
  // its tests), but its afterAll does not, so a directory made here was left.
  let files: ReturnType<typeof scratch>;

  /** Pipeline jobs in the user's list while the SDK works: it must see them as ordinary jobs. */
  let finished: JobResult;
  let failed: JobResult;

  beforeAll(async () => {
    files = scratch();
    server = await startServer({ env: { BSUBIO_WORKERS: '2' } });
    finished = await runJob(server, 'passthru', 'one\ntwo\nthree\n', { andThen: ['test/linecount'] });
    failed = await runJob(server, 'passthru', '{"not json', { andThen: ['json_format'] });
  });
  afterAll(async () => {
    await server?.cleanup();
    files?.cleanup();
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

  it('decodes pipeline jobs (finished and failed) as ordinary jobs, in the list and one by one', {
    timeout: 300_000,
  }, async () => {
    expect(finished.job).toMatchObject({ status: 'finished', type: 'passthru', step: 2 });
    expect(failed.job).toMatchObject({ status: 'failed', type: 'passthru', failed_step: 2 });
    // A program of the SDK's own: list the jobs, get each pipeline, fetch its result.
    const dir = files.path('pipelines');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'main.go'),
      `package main

import (
	"context"
	"fmt"
	"os"

	bsubio "github.com/bsubio/bsubio-go"
	openapi_types "github.com/oapi-codegen/runtime/types"
	"github.com/google/uuid"
)

func main() {
	ctx := context.Background()
	client, err := bsubio.NewBsubClient(bsubio.LoadConfig())
	if err != nil { fmt.Println("client:", err); os.Exit(1) }
	limit := 100
	list, err := client.ListJobsWithResponse(ctx, &bsubio.ListJobsParams{Limit: &limit})
	if err != nil || list.JSON200 == nil { fmt.Println("list:", err, list.StatusCode()); os.Exit(1) }
	for _, job := range *list.JSON200.Data.Jobs { fmt.Printf("listed %s %s %s\\n", job.Id, *job.Type, *job.Status) }
	for _, id := range os.Args[1:] {
		jobID := openapi_types.UUID(uuid.MustParse(id))
		got, err := client.GetJobWithResponse(ctx, jobID)
		if err != nil || got.JSON200 == nil { fmt.Println("get:", err); os.Exit(1) }
		job := got.JSON200.Data
		fmt.Printf("got %s %s %s\\n", job.Id, *job.Type, *job.Status)
		if *job.Status == bsubio.JobStatusFinished {
			result, err := client.GetJobResult(ctx, jobID)
			if err != nil { fmt.Println("result:", err); os.Exit(1) }
			fmt.Printf("output %s %q\\n", id, string(result.Output))
		}
	}
}
`,
    );
    const { code, output } = await goRun(dir, [finished.id, failed.id]);
    expect(code, output).toBe(0);
    expect(output).toContain(`listed ${finished.id} passthru finished`);
    expect(output).toContain(`listed ${failed.id} passthru failed`);
    expect(output).toContain(`got ${finished.id} passthru finished`);
    expect(output).toContain(`got ${failed.id} passthru failed`);
    expect(output).toContain(`output ${finished.id} "3\\n"`);
  });

  /** `go run .` in `dir` with the SDK on GOPATH and the test server in its config. */
  function goRun(dir: string, args: string[]): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
      execFile(
        join(GO_ROOT_BIN, 'go'),
        ['run', 'main.go', ...args],
        {
          cwd: dir,
          env: {
            PATH: `${GO_ROOT_BIN}:/usr/bin:/bin`,
            HOME: files.path('home'),
            GO111MODULE: 'off',
            GOPATH: `${GOPATH}:/usr/share/gocode`,
            GOCACHE: join(GOPATH, '..', 'cache'),
            GOFLAGS: '',
          },
        },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
      );
    });
  }
});
