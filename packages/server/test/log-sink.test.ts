/**
 * The log sink: lines gathered and written in batches, and still every line
 * in the file, in order: at close, within the interval on a quiet server, at
 * an exit an uncaught error causes, and in the server's log at a SIGTERM.
 */
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../../../test/support/server.js';
import { openLogSink } from '../src/log-sink.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function logFile(): { path: string; fd: number } {
  const dir = mkdtempSync(join(tmpdir(), 'bsubio-log-sink-'));
  dirs.push(dir);
  const path = join(dir, 'log');
  return { path, fd: openSync(path, 'w') };
}

/** Lines of many lengths, some not ASCII, so that batches end mid-line and bytes are not characters. */
function lines(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `{"n":${i},"text":"${'é—x'.repeat(i % 97)}"}\n`);
}

describe('openLogSink', () => {
  it('has written every line, in order, once closed', () => {
    const { path, fd } = logFile();
    const sink = openLogSink(fd, { batch: 4096, intervalMs: 60_000 });
    const sent = lines(20_000);
    for (const line of sent) sink.write(line);
    sink.close();
    expect(readFileSync(path, 'utf8')).toBe(sent.join(''));
    closeSync(fd);
  });

  it('writes a quiet log within its interval, without a close', async () => {
    const { path, fd } = logFile();
    const sink = openLogSink(fd, { intervalMs: 50 });
    sink.write('one line\n');
    expect(readFileSync(path, 'utf8')).toBe('');
    const deadline = Date.now() + 5000;
    while (readFileSync(path, 'utf8') === '' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(readFileSync(path, 'utf8')).toBe('one line\n');
    sink.close();
    closeSync(fd);
  });

  it('writes out every line at an exit caused by an uncaught error', async () => {
    const { path } = logFile();
    // A process that logs, then crashes before any interval or close could write.
    const script = `
      const { openSync } = await import('node:fs');
      const { openLogSink } = await import(${JSON.stringify(join(import.meta.dirname, '..', 'dist', 'log-sink.js'))});
      const sink = openLogSink(openSync(${JSON.stringify(path)}, 'w'), { intervalMs: 60_000 });
      for (let i = 0; i < 5000; i++) sink.write('line ' + i + '\\n');
      setImmediate(() => { throw new Error('crash'); });
    `;
    const crashed = await run(process.execPath, ['--input-type=module', '-e', script]).then(
      () => 0,
      (err: { code: number }) => err.code,
    );
    expect(crashed).toBe(1);
    const expected = Array.from({ length: 5000 }, (_, i) => `line ${i}\n`).join('');
    expect(readFileSync(path, 'utf8')).toBe(expected);
  });

  it("leaves in the server's log the access line of every request answered before a SIGTERM", async () => {
    const server = await startServer({ env: { BSUBIO_LOG_LEVEL: 'info' } });
    try {
      const headers = { authorization: `Bearer ${server.apiKey}` };
      const ids: string[] = [];
      // Fewer lines than a batch in the last part: only the shutdown writes them.
      for (let i = 0; i < 120; i++) {
        const id = `shutdown-test-${i}`;
        const answer = await fetch(`${server.url}/v1/jobs?limit=1`, {
          headers: { ...headers, 'x-request-id': id },
        });
        expect(answer.status).toBe(200);
        ids.push(id);
      }
      expect(await server.stop()).toBe(0);
      const logged = server
        .stderr()
        .split('\n')
        .filter((line) => line.includes('"msg":"request completed"'))
        .map((line) => JSON.parse(line).reqId);
      expect(logged.filter((id) => id.startsWith('shutdown-test-'))).toEqual(ids);
    } finally {
      await server.cleanup();
    }
  });
});
