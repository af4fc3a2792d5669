/**
 * The live copies of running jobs' stderr: always a prefix of the real log,
 * within a cap per job and a cap for all jobs together (in a cluster every
 * replica keeps a copy of every running job's log).
 */
import { describe, expect, it } from 'vitest';
import { LiveLogs } from '../src/services/live-logs.js';

const KIB = 1024;
const bytes = (n: number, fill: string) => Buffer.alloc(n, fill);

describe('LiveLogs', () => {
  it('keeps a prefix of the log up to the per-job cap, then takes nothing more', () => {
    const live = new LiveLogs(10 * KIB, 1024 * KIB);
    live.reset('a', 'u');
    live.append('a', bytes(6 * KIB, 'x'));
    live.append('a', bytes(6 * KIB, 'y'));
    live.append('a', bytes(1, 'z'));
    expect(live.size('a')).toBe(10 * KIB);
    expect(live.read('a', 0).toString()).toBe('x'.repeat(6 * KIB) + 'y'.repeat(4 * KIB));
  });

  it('holds all copies within the total, and a copy refused once takes nothing more', () => {
    const live = new LiveLogs(64 * KIB, 96 * KIB);
    live.reset('a', 'u');
    live.reset('b', 'u');
    live.append('a', bytes(64 * KIB, 'a'));
    live.append('b', bytes(20 * KIB, 'b'));
    live.append('b', bytes(20 * KIB, 'c'));
    expect(live.allocatedBytes()).toBeLessThanOrEqual(96 * KIB);
    const kept = live.size('b');
    expect(kept).toBeLessThan(40 * KIB);
    // Room again, but b lost bytes: more would no longer be a prefix of its log.
    live.drop('a');
    live.append('b', bytes(1 * KIB, 'd'));
    expect(live.size('b')).toBe(kept);
    expect(live.read('b', 0).toString()).toBe(('b'.repeat(20 * KIB) + 'c'.repeat(20 * KIB)).slice(0, kept));
    live.drop('b');
    expect(live.allocatedBytes()).toBe(0);
  });

  it('places bytes by their offset: repeats are skipped and gaps refused', () => {
    const live = new LiveLogs();
    live.reset('a', 'u');
    live.appendAt('a', 0, Buffer.from('line 1\n'));
    live.appendAt('a', 0, Buffer.from('line 1\n'));
    live.appendAt('a', 5, Buffer.from('1\nline 2\n'));
    live.appendAt('a', 40, Buffer.from('lost\n'));
    expect(live.read('a', 0).toString()).toBe('line 1\nline 2\n');
  });

  it('tells every growth with its job, owner and starting offset; a job not running takes nothing', () => {
    const live = new LiveLogs();
    const seen: [string, string, number][] = [];
    const stop = live.subscribeAll((job, user, start) => seen.push([job, user, start]));
    live.reset('a', 'alice');
    live.append('a', Buffer.from('one\n'));
    live.append('a', Buffer.from('two\n'));
    live.append('not-running', Buffer.from('x'));
    stop();
    live.append('a', Buffer.from('three\n'));
    expect(seen).toEqual([
      ['a', 'alice', 0],
      ['a', 'alice', 4],
    ]);
    expect(live.has('not-running')).toBe(false);
  });
});
