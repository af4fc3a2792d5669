/**
 * Temporary directories named after their process: those of processes that
 * are gone are removed, those of live ones (and the caller's own) stay.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { removeDirsOfGoneProcesses } from '../src/stale-dirs.js';

const live = spawn('sleep', ['60']);
const made: string[] = [];
afterAll(() => {
  live.kill();
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function dirOf(pid: number): string {
  const dir = join(tmpdir(), `bsubio-stale-test-${pid}`);
  mkdirSync(dir, { recursive: true });
  made.push(dir);
  return dir;
}

it('removes the directories of processes that are gone, and only those', () => {
  const gonePid = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
  const gone = dirOf(Number(gonePid));
  const alive = dirOf(live.pid!);
  const own = dirOf(process.pid);
  removeDirsOfGoneProcesses(/^bsubio-stale-test-(\d+)$/);
  expect(existsSync(gone)).toBe(false);
  expect(existsSync(alive)).toBe(true);
  expect(existsSync(own)).toBe(true);
});
