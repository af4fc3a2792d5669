/**
 * As root, the runner keeps the files a sandbox sees (inputs, helper
 * scripts, a copy of Node.js when the install is closed to `nobody`) in a
 * directory of its own under the system temp dir. Each process's directory
 * goes when the process does, and one left by a killed process goes at the
 * next start: every test server once left its own, 170 MiB each, until the
 * disk was full.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sandboxDropsPrivileges } from '../src/sandbox.js';
import { type Api, runJob, startServer, type TestServer } from './support.js';

const asRoot = sandboxDropsPrivileges();
const basesOf = (pid: number) => readdirSync(tmpdir()).filter((n) => n.startsWith(`bsubio-sandbox-${pid}-`));

let server: TestServer;
let api: Api;
// A directory as a killed server would leave it: its pid is no longer running.
const deadPid = spawnSync('true').pid as number;
const stale = join(tmpdir(), `bsubio-sandbox-${deadPid}-left`);

beforeAll(async () => {
  mkdirSync(join(stale, 'tools'), { recursive: true });
  writeFileSync(join(stale, 'tools', 'x'), 'left behind');
  server = await startServer();
  api = { url: server.url, apiKey: server.apiKey };
});
afterAll(() => server?.cleanup());

it.skipIf(!asRoot)(
  "removes its sandbox directory at exit, and a killed process's at the next start",
  async () => {
    const result = await runJob(api, 'test/linecount', 'one\ntwo\n');
    expect(result.status).toBe('finished');
    const pid = server.process.pid as number;
    expect(basesOf(pid)).toHaveLength(1);
    expect(existsSync(stale)).toBe(false);
    await server.stop();
    expect(basesOf(pid)).toEqual([]);
  },
);
