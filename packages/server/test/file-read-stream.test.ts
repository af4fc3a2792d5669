/**
 * The local blob reader that reuses its buffers once the response has
 * written their bytes: through a real HTTP server to a real client, fast
 * and slow, every byte arrives intact; buffers are reused only when the
 * stream is piped into that response alone; ranges and a shrunk file end
 * where they should.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReadStream, READ_CHUNK_BYTES, reuseBuffersFor } from '../src/blobs/file-read-stream.js';

let dir: string;
let file: string;
let content: Buffer;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bsubio-file-read-'));
  file = join(dir, 'blob');
  content = randomBytes(24 * 1024 * 1024 + 12345);
  writeFileSync(file, content);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A server that sends the file with a FileReadStream, told of its response when `reuse`; `extraReader` adds a second reader. */
async function serve(options: { reuse: boolean; extraReader?: boolean; deepResponse?: boolean }) {
  // deepResponse: a response that takes up to 8 MiB before it pushes back,
  // so many chunks wait in it at once: the case where reusing a buffer too
  // early would overwrite bytes not yet sent (by default one or two wait).
  const highWaterMark = options.deepResponse ? 8 * 1024 * 1024 : undefined;
  const server: Server = createServer({ highWaterMark }, async (_req, res) => {
    const stream = new FileReadStream(await open(file, 'r'), 0, content.length - 1);
    if (options.extraReader) stream.on('data', () => {});
    if (options.reuse) reuseBuffersFor(stream, res);
    res.setHeader('content-length', content.length);
    stream.pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, server };
}

/** Fetch the body with node:http, stopping now and then when `slow`. */
function download(port: number, slow: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      const parts: Buffer[] = [];
      let sinceStop = 0;
      res.on('data', (part: Buffer) => {
        parts.push(part);
        sinceStop += part.length;
        // Long enough stops that the kernel's socket buffers fill and the
        // server's writes wait in the response, where a buffer reused too
        // early would be overwritten before it is sent.
        if (slow && sinceStop > 2 * 1024 * 1024) {
          sinceStop = 0;
          res.pause();
          setTimeout(() => res.resume(), 60);
        }
      });
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/**
 * One download through serve(options), checked byte for byte, counting the
 * chunks the stream pushed and the distinct buffers under them (by wrapping
 * push: a 'data' listener would itself be a second reader).
 */
async function downloadCountingBuffers(options: Parameters<typeof serve>[0], slow: boolean) {
  const seen = new Set<ArrayBufferLike>();
  let pushes = 0;
  const push = FileReadStream.prototype.push;
  FileReadStream.prototype.push = function (this: FileReadStream, chunk: unknown) {
    if (Buffer.isBuffer(chunk)) {
      pushes++;
      seen.add(chunk.buffer);
    }
    return push.call(this, chunk);
  };
  const { port, server } = await serve(options);
  try {
    expect(sha(await download(port, slow))).toBe(sha(content));
  } finally {
    FileReadStream.prototype.push = push;
    server.close();
  }
  return { pushes, buffers: seen.size };
}

describe('FileReadStream', () => {
  it('serves every byte intact to a fast and to a slow client while reusing its buffers', async () => {
    for (const deepResponse of [false, true]) {
      const { port, server } = await serve({ reuse: true, deepResponse });
      try {
        for (const slow of [false, true]) expect(sha(await download(port, slow))).toBe(sha(content));
      } finally {
        server.close();
      }
    }
  });

  it('reuses a handful of buffers for a whole download piped into the response alone', async () => {
    const { pushes, buffers } = await downloadCountingBuffers({ reuse: true }, true);
    expect(pushes).toBeGreaterThanOrEqual(content.length / READ_CHUNK_BYTES);
    // Fresh buffers only while the oldest is still being written: far fewer than reads.
    expect(buffers).toBeLessThan(pushes / 4);
  });

  it('takes a fresh buffer per read when it is not told where it goes, or has a second reader', async () => {
    for (const options of [{ reuse: false }, { reuse: true, extraReader: true }]) {
      const { pushes, buffers } = await downloadCountingBuffers(options, false);
      expect(buffers).toBe(pushes);
    }
  });

  it('reads exactly a range, and ends early on a file that shrank', async () => {
    const read = async (start: number, end: number) => {
      const stream = new FileReadStream(await open(file, 'r'), start, end);
      const parts: Buffer[] = [];
      for await (const part of stream) parts.push(Buffer.from(part as Buffer));
      return Buffer.concat(parts);
    };
    expect((await read(5, 5)).equals(content.subarray(5, 6))).toBe(true);
    expect((await read(1000, 3_000_000)).equals(content.subarray(1000, 3_000_001))).toBe(true);
    const shrunk = join(dir, 'shrunk');
    writeFileSync(shrunk, content.subarray(0, 1_000_000));
    const stream = new FileReadStream(await open(shrunk, 'r'), 0, 999_999);
    truncateSync(shrunk, 300_000);
    let got = 0;
    for await (const part of stream) got += (part as Buffer).length;
    expect(got).toBe(300_000);
  });
});
