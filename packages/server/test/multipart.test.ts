/**
 * The multipart parser on its own (no server): a body cut into chunks at
 * every awkward place (inside the boundary, inside the part headers, one
 * byte at a time) gives back exactly the file part, and a broken body is a
 * 400, not a hang.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { consumeFilePart } from '../src/http/multipart.js';

const BOUNDARY = 'xYz-0123456789';

function request(body: Buffer, chunkSizes: number[], boundary = BOUNDARY): IncomingMessage {
  const chunks: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const size = chunkSizes[i % chunkSizes.length]!;
    chunks.push(body.subarray(at, at + size));
    at += size;
  }
  const req = Readable.from(chunks) as unknown as IncomingMessage;
  req.headers = { 'content-type': `multipart/form-data; boundary="${boundary}"` };
  req.on('end', () => {
    (req as { complete: boolean }).complete = true;
  });
  return req;
}

function form(file: Buffer, fileHeaders: string): Buffer {
  return Buffer.concat([
    Buffer.from('preamble to ignore\r\n'),
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nnot the file\r\n`),
    Buffer.from(`--${BOUNDARY}\r\n${fileHeaders}\r\n\r\n`),
    file,
    Buffer.from(
      `\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="second.txt"\r\n\r\nignored`,
    ),
    Buffer.from(`\r\n--${BOUNDARY}--\r\nepilogue`),
  ]);
}

const read = (req: IncomingMessage) =>
  consumeFilePart(req, async (part) => ({
    bytes: await buffer(part.stream),
    fileName: part.fileName,
    contentType: part.contentType,
  }));

describe('consumeFilePart', () => {
  // Bytes that look like the start of the delimiter, CRs and dashes included.
  const file = Buffer.concat([
    Buffer.from(`\r\n--${BOUNDARY.slice(0, 5)}\r\r\n-\r\n--`),
    Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256)),
    Buffer.from(`\r\n--${BOUNDARY.slice(0, -1)}`),
  ]);
  const headers =
    'Content-Disposition: form-data; name="file"; filename="C:\\\\dir\\\\a \\"b\\".pdf"\r\nContent-Type: Application/PDF';

  for (const sizes of [[1], [2, 3], [17], [BOUNDARY.length + 3], [4096], [1_000_000]]) {
    it(`returns exactly the file part when the body comes in chunks of ${sizes.join(', ')} bytes`, async () => {
      const got = await read(request(form(file, headers), sizes));
      expect(got).toBeDefined();
      expect(got!.bytes.equals(file)).toBe(true);
      expect(got!.fileName).toBe('a "b".pdf');
      expect(got!.contentType).toBe('application/pdf');
    });
  }

  it('decodes filename* and takes a nameless-type file part as text/plain', async () => {
    const got = await read(
      request(
        form(
          Buffer.from('x'),
          `Content-Disposition: form-data; name="file"; filename="plain.txt"; filename*=UTF-8''na%C3%AFve.txt`,
        ),
        [5],
      ),
    );
    expect(got!.fileName).toBe('naïve.txt');
    expect(got!.contentType).toBe('text/plain');
    expect(got!.bytes.toString()).toBe('x');
  });

  it('resolves undefined when no part named file is a file', async () => {
    const body = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"\r\n\r\na field, not a file\r\n--${BOUNDARY}--\r\n`,
    );
    expect(await read(request(body, [7]))).toBeUndefined();
  });

  it('answers a body cut off before its closing boundary, or without a boundary, with a 400', async () => {
    const whole = form(file, headers);
    for (const end of [200, 1000, whole.length - 12]) {
      // Before the file part, inside it, and inside the part after it.
      await expect(read(request(whole.subarray(0, end), [64]))).rejects.toMatchObject({
        code: 'bad_request',
      });
    }
    const noBoundary = request(Buffer.from('x'), [1]);
    noBoundary.headers = { 'content-type': 'multipart/form-data' };
    await expect(read(noBoundary)).rejects.toMatchObject({ code: 'bad_request' });
  });
});
