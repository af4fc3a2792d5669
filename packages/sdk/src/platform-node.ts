/** The Node side of `Platform`: files, environment and the shared config file. */
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BsubError } from './errors.js';
import type { ConfigFile, Platform } from './platform.js';

export const nodePlatform: Platform = {
  name: 'node',
  streamingUploads: true,

  async openFile(path) {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      throw new BsubError(
        'bad_request',
        `Cannot read the input file "${path}" (${error.code ?? error.message}). A string input is a file path; to send text, pass new TextEncoder().encode(text) or a Blob.`,
        { cause: error },
      );
    });
    if (!info.isFile()) {
      throw new BsubError('bad_request', `The input "${path}" is not a regular file.`);
    }
    // Opened once now, so that a file we may not read (EACCES) is reported as
    // such before any job exists, not as a broken connection mid-upload.
    await open(path, 'r').then(
      (handle) => handle.close(),
      (error: NodeJS.ErrnoException) => {
        throw new BsubError(
          'bad_request',
          `Cannot read the input file "${path}" (${error.code ?? error.message}).`,
          { cause: error },
        );
      },
    );
    return {
      name: basename(path),
      size: info.size,
      // 1 MiB reads: few syscalls, and at most a couple of chunks in flight.
      chunks: () => createReadStream(path, { highWaterMark: 1024 * 1024 }),
    };
  },

  env(name) {
    const value = process.env[name];
    return value === undefined || value === '' ? undefined : value;
  },

  readConfigFile() {
    const home = process.env.HOME || homedir();
    let text: string;
    try {
      text = readFileSync(join(home, '.config', 'bsubio', 'config.json'), 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object') return undefined;
      const { api_key, base_url } = parsed as Record<string, unknown>;
      const config: ConfigFile = {};
      if (typeof api_key === 'string' && api_key !== '') config.api_key = api_key;
      if (typeof base_url === 'string' && base_url !== '') config.base_url = base_url;
      return config;
    } catch {
      return undefined;
    }
  },

  async writeTo(destination, chunks) {
    const target =
      typeof destination === 'string' ? createWriteStream(destination) : (destination as unknown as Writable);
    // `end: false` for a caller's writable such as process.stdout: they own it.
    await pipeline(Readable.from(chunks, { objectMode: false }), target, {
      end: typeof destination === 'string',
    });
  },
};
