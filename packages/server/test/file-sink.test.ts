/**
 * The file sink a local blob store writes uploads with: every byte lands in
 * order, a chunk's memory is given back once it is on disk only when the
 * caller said the chunks are the sink's alone and the chunk spans its whole
 * buffer, and a destroy in the middle of a write closes the file only after
 * that write.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSink, FLUSH_EVERY_BYTES } from '../src/blobs/file-sink.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bsubio-file-sink-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Chunks of varied sizes with varied bytes, each its own ArrayBuffer (as an upload's socket reads are). */
function ownedChunks(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const chunk = Buffer.allocUnsafeSlow(1000 + ((i * 7919) % 70_000));
    for (let j = 0; j < chunk.length; j += 997) chunk[j] = (i + j) & 0xff;
    return chunk.fill(i & 0xff, 0, 16);
  });
}

const sha = (data: Buffer | Buffer[]) =>
  createHash('sha256')
    .update(Buffer.concat(Array.isArray(data) ? data : [data]))
    .digest('hex');

describe('FileSink', () => {
  it('writes every byte in order across batched writes, past a background flush', async () => {
    const chunks = ownedChunks(200); // about 7 MiB, flushed every MiB on the way
    const expected = sha(chunks);
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const flushEveryBytes = 1024 * 1024;
    expect(total).toBeGreaterThan(4 * flushEveryBytes);
    expect(FLUSH_EVERY_BYTES).toBeGreaterThan(flushEveryBytes);
    const path = join(dir, 'out');
    await pipeline(Readable.from(chunks), new FileSink(path, { highWaterMark: 256 * 1024, flushEveryBytes }));
    const written = readFileSync(path);
    expect(written.length).toBe(total);
    expect(sha(written)).toBe(expected);
    // Without releaseWritten the caller's chunks are untouched.
    expect(sha(chunks)).toBe(expected);
  });

  it("frees a written chunk's memory only when it is the sink's and spans its buffer", async () => {
    const whole = ownedChunks(40);
    const backing = Buffer.allocUnsafeSlow(64 * 1024).fill(7);
    const pieces = [backing.subarray(0, 30_000), backing.subarray(30_000)];
    const pooled = Buffer.from('a pooled small buffer');
    const path = join(dir, 'out');
    const expected = sha([...whole, ...pieces, pooled]);
    await pipeline(
      Readable.from([...whole, ...pieces, pooled]),
      new FileSink(path, { highWaterMark: 256 * 1024, releaseWritten: true }),
    );
    expect(sha(readFileSync(path))).toBe(expected);
    // Whole-buffer chunks were detached once on disk: their memory is gone.
    for (const chunk of whole) expect(chunk.length).toBe(0);
    // Pieces of a larger buffer and pooled buffers are left alone.
    expect(pieces[0]!.length).toBe(30_000);
    expect(backing.every((b) => b === 7)).toBe(true);
    expect(pooled.toString()).toBe('a pooled small buffer');
  });

  it('a destroy while a write is in flight closes the file after it, and the caller can remove it', async () => {
    const path = join(dir, 'out');
    const sink = new FileSink(path, { highWaterMark: 1024 });
    sink.on('error', () => {});
    // Once the file is open, a write goes to the disk at once: this one is in flight when destroy comes.
    await new Promise((resolve) => sink.write(Buffer.from('open'), resolve));
    sink.write(Buffer.alloc(8 * 1024 * 1024, 1));
    const closed = new Promise((resolve) => sink.once('close', resolve));
    sink.destroy(new Error('the client went away'));
    await closed;
    // The 8 MiB write was let finish (a closed fd under it would have failed it, or hit a reused fd).
    expect(readFileSync(path).length).toBe(4 + 8 * 1024 * 1024);
    expect(sink.destroyed).toBe(true);
    rmSync(path);
    expect(existsSync(path)).toBe(false);
  });

  it('refuses to overwrite an existing file', async () => {
    const path = join(dir, 'out');
    await pipeline(Readable.from([Buffer.from('first')]), new FileSink(path, { highWaterMark: 1024 }));
    await expect(
      pipeline(Readable.from([Buffer.from('second')]), new FileSink(path, { highWaterMark: 1024 })),
    ).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(path, 'utf8')).toBe('first');
  });
});
