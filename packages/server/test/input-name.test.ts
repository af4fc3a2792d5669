/**
 * A job's input is named by what its bytes are, not by what the user called
 * the file (security round 2, finding 9): tools that choose a reader by the
 * extension (ffmpeg's HLS reader for .m3u8, pandoc's formats) cannot be
 * steered by the name. Bytes of no known kind keep the user's extension.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../../test/support/server.js';
import { Api } from './client.js';
import { shellType, writeTypesFile } from './test-types.js';

/** The smallest WAV file: a RIFF/WAVE header and no samples. */
function wav(): Uint8Array {
  const b = Buffer.alloc(44);
  b.write('RIFF', 0);
  b.writeUInt32LE(36, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  return new Uint8Array(b);
}

describe('the name a tool sees for its input', () => {
  let server: TestServer;
  let api: Api;

  beforeAll(async () => {
    const types = writeTypesFile([
      shellType('test/name', 'test/name', 'Prints the input file name', 'basename "$0"'),
    ]);
    server = await startServer({ env: { BSUBIO_TYPES_FILE: types } });
    api = new Api(server.url, server.apiKey);
  });

  afterAll(async () => {
    await server?.cleanup();
  });

  it('is the extension of the sniffed kind, whatever the user named the file', async () => {
    const job = await api.run('test/name', wav(), 'playlist.m3u8');
    expect(job.status).toBe('finished');
    expect((await (await api.request(`/v1/jobs/${job.id}/output`)).text()).trim()).toBe('input.wav');
  });

  it("keeps the user's extension for bytes of no known kind", async () => {
    const job = await api.run('test/name', new Uint8Array([0, 1, 2, 3, 250, 251]), 'data.xyz');
    expect(job.status).toBe('finished');
    expect((await (await api.request(`/v1/jobs/${job.id}/output`)).text()).trim()).toBe('input.xyz');
  });
});
